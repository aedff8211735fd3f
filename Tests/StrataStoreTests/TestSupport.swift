@testable import StrataStore

/// The store's own sampling generator, seeded, so tests are reproducible.
typealias SeededGenerator = SplitMix64

/// A fixed origin for the keyspace clock; tests pass explicit times relative to it.
let t0: Int64 = 1_700_000_000_000

func makeKeyspace(databases: Int = 4, shards: Int = 4) -> Keyspace {
    Keyspace(databases: databases, shardCount: shards, hasher: KeyHasher(seed: 0xC0FFEE), now: t0)
}

/// Single-key operations the way commands perform them: hash, pick the shard, hold its lock.
extension Keyspace {
    func withShard<R>(_ key: String, _ body: (Shard, UnsafeRawBufferPointer, UInt64) -> R) -> R {
        var key = key
        return key.withUTF8 { utf8 in
            let bytes = UnsafeRawBufferPointer(utf8)
            let hash = hasher.hash(bytes)
            let shard = shard(for: hash)
            return shard.lock.withLock { body(shard, bytes, hash) }
        }
    }

    /// Inserts or replaces `key`; returns the stored entry's tier.
    @discardableResult
    func set(_ key: String, _ value: String, db: Int = 0, expireAt: Int64 = 0, now: Int64 = t0) -> Tier {
        withShard(key) { shard, bytes, hash in
            var value = value
            return value.withUTF8 { v in
                if let existing = shard.find(database: db, key: bytes, hash: hash, now: now, access: .write) {
                    return shard.replaceValue(existing, with: UnsafeRawBufferPointer(v), expireAt: expireAt, now: now).header.tier
                }
                return shard.insert(database: db, key: bytes, hash: hash, value: UnsafeRawBufferPointer(v),
                                    expireAt: expireAt, now: now).header.tier
            }
        }
    }

    /// The value of `key`, or nil; `.read` access by default (counts, promotes).
    func get(_ key: String, db: Int = 0, now: Int64 = t0, access: Access = .read) -> String? {
        withShard(key) { shard, bytes, hash in
            shard.find(database: db, key: bytes, hash: hash, now: now, access: access)
                .map { String(decoding: $0.value, as: UTF8.self) }
        }
    }

    func tier(_ key: String, db: Int = 0) -> Tier? {
        withShard(key) { shard, bytes, hash in
            shard.find(database: db, key: bytes, hash: hash, now: t0, access: .peek)?.header.tier
        }
    }

    @discardableResult
    func delete(_ key: String, db: Int = 0, now: Int64 = t0) -> Bool {
        withShard(key) { shard, bytes, hash in
            guard let entry = shard.find(database: db, key: bytes, hash: hash, now: now, access: .write) else { return false }
            shard.remove(entry)
            return true
        }
    }

    func expire(_ key: String, at expireAt: Int64, db: Int = 0) {
        withShard(key) { shard, bytes, hash in
            if let entry = shard.find(database: db, key: bytes, hash: hash, now: t0, access: .write) {
                shard.setExpire(entry, at: expireAt)
            }
        }
    }

    /// Every key of `database` (no expiry check), as strings.
    func allKeys(db: Int = 0) -> Set<String> {
        Set(keys(database: db, matching: nil, now: 0).map { String(decoding: $0, as: UTF8.self) })
    }

    /// What every shard says it holds, which the global counter must equal.
    var summedShardBytes: Int {
        shards.reduce(0) { total, shard in total + shard.lock.withLock { shard.usedBytes } }
    }
}
