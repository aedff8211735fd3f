import Testing
@testable import StrataStore

@Suite("Keyspace and Shard basics")
struct KeyspaceTests {
    @Test("insert, find, replace, remove")
    func crud() {
        let keyspace = makeKeyspace()
        #expect(keyspace.get("a") == nil)
        keyspace.set("a", "1")
        keyspace.set("b", "2")
        #expect(keyspace.get("a") == "1")
        keyspace.set("a", "one")
        #expect(keyspace.get("a") == "one")
        #expect(keyspace.keyCount(database: 0) == 2)
        #expect(keyspace.delete("a"))
        #expect(!keyspace.delete("a"))
        #expect(keyspace.get("a") == nil)
        #expect(keyspace.get("b") == "2")
        #expect(keyspace.keyCount(database: 0) == 1)
        let stats = keyspace.statistics()
        #expect(stats.keyspaceHits == 3)
        #expect(stats.keyspaceMisses == 2)
    }

    @Test("databases are separate")
    func databases() {
        let keyspace = makeKeyspace()
        keyspace.set("k", "zero", db: 0)
        keyspace.set("k", "three", db: 3)
        #expect(keyspace.get("k", db: 0) == "zero")
        #expect(keyspace.get("k", db: 3) == "three")
        #expect(keyspace.get("k", db: 1) == nil)
        #expect(keyspace.keyCount(database: 3) == 1)
    }

    @Test("replacing a value keeps the TTL unless a new one is given")
    func replaceKeepsTTL() {
        let keyspace = makeKeyspace()
        keyspace.set("k", "v", expireAt: t0 + 5000)
        keyspace.withShard("k") { shard, key, hash in
            let entry = shard.find(database: 0, key: key, hash: hash, now: t0, access: .peek)!
            let kept = shard.replaceValue(entry, with: UnsafeRawBufferPointer(start: nil, count: 0), now: t0)
            #expect(kept.header.expireAt == t0 + 5000)
            let cleared = shard.replaceValue(kept, with: UnsafeRawBufferPointer(start: nil, count: 0), expireAt: 0, now: t0)
            #expect(cleared.header.expireAt == 0)
            #expect(shard.volatile.isEmpty)
        }
    }

    @Test("lazy expiry: a key is expired iff now > expireAt")
    func lazyExpiry() {
        let keyspace = makeKeyspace()
        keyspace.set("k", "v", expireAt: t0 + 1000)
        #expect(keyspace.get("k", now: t0 + 999) == "v")
        #expect(keyspace.get("k", now: t0 + 1000) == "v")
        #expect(keyspace.statistics().expiredKeys == 0)
        #expect(keyspace.get("k", now: t0 + 1001, access: .peek) == nil)
        #expect(keyspace.statistics().expiredKeys == 1)
        #expect(keyspace.keyCount(database: 0) == 0)
        #expect(keyspace.statistics().volatileKeys == 0)
        // Gone for good, even looking back in time.
        #expect(keyspace.get("k", now: t0) == nil)
    }

    @Test("active expiry removes expired keys by sampling and leaves the others")
    func activeExpiry() {
        let keyspace = makeKeyspace(shards: 4)
        for i in 0..<500 { keyspace.set("dead\(i)", "x", expireAt: t0 + 100) }
        for i in 0..<100 { keyspace.set("alive\(i)", "x", expireAt: t0 + 100_000) }
        for i in 0..<100 { keyspace.set("plain\(i)", "x") }
        // A cycle goes on in a shard while more than a quarter of a sample was expired, so the
        // first cycle removes most dead keys; later ones find the stragglers.
        let first = keyspace.activeExpireCycle(now: t0 + 101, deadline: { false })
        #expect(first > 400)
        var expired = first
        var cycles = 1
        while expired < 500 && cycles < 200 {
            expired += keyspace.activeExpireCycle(now: t0 + 101, deadline: { false })
            cycles += 1
        }
        #expect(expired == 500)
        #expect(keyspace.keyCount(database: 0) == 200)
        #expect(keyspace.statistics().expiredKeys == 500)
        #expect(keyspace.statistics().volatileKeys == 100)
        #expect(keyspace.activeExpireCycle(now: t0 + 101, deadline: { false }) == 0)
    }

    @Test("active expiry stops when its deadline has passed")
    func activeExpiryDeadline() {
        let keyspace = makeKeyspace(shards: 4)
        for i in 0..<2000 { keyspace.set("dead\(i)", "x", expireAt: t0 + 100) }
        var checks = 0
        let expired = keyspace.activeExpireCycle(now: t0 + 101) { checks += 1; return true }
        // One sample of 20 keys in one shard, then the deadline ends the cycle.
        #expect(expired == 20)
        #expect(checks == 2)
        #expect(keyspace.keyCount(database: 0) == 1980)
        // Nothing is expired before its time.
        #expect(keyspace.activeExpireCycle(now: t0 + 100, deadline: { false }) == 0)
    }

    @Test("flushing one database leaves the others, and their tiers, intact")
    func flushOneDatabase() {
        let keyspace = makeKeyspace(databases: 3)
        for i in 0..<200 {
            keyspace.set("k\(i)", "v", db: 0, expireAt: i % 2 == 0 ? t0 + 10_000 : 0)
            keyspace.set("k\(i)", "w", db: 1, expireAt: i % 3 == 0 ? t0 + 10_000 : 0)
        }
        for i in 0..<50 { _ = keyspace.get("k\(i)", db: 0); _ = keyspace.get("k\(i)", db: 1) }
        keyspace.flush(database: 0)
        #expect(keyspace.keyCount(database: 0) == 0)
        #expect(keyspace.keyCount(database: 1) == 200)
        #expect(keyspace.get("k5", db: 1) == "w")
        let stats = keyspace.statistics()
        #expect(stats.l1.keys + stats.l2.keys == 200)
        #expect(stats.volatileKeys == 67)
        #expect(keyspace.databaseSizes()[1] == (keys: 200, volatile: 67))
        #expect(keyspace.usedMemory == keyspace.summedShardBytes)
        keyspace.flush(database: nil)
        #expect(keyspace.keyCount(database: 1) == 0)
        #expect(keyspace.statistics().l1.keys + keyspace.statistics().l2.keys == 0)
    }

    @Test("memory returns to the baseline once every key is deleted")
    func memoryBaseline() {
        let keyspace = makeKeyspace(databases: 2, shards: 2)
        let baseline = keyspace.usedMemory
        #expect(baseline == 0)
        for i in 0..<3000 {
            keyspace.set("key:\(i)", String(repeating: "v", count: i % 50), db: i % 2, expireAt: i % 3 == 0 ? t0 + 60_000 : 0)
        }
        for i in stride(from: 0, to: 3000, by: 7) { _ = keyspace.get("key:\(i)", db: i % 2) }
        for i in stride(from: 0, to: 3000, by: 5) { keyspace.set("key:\(i)", "replaced with a longer value", db: i % 2) }
        #expect(keyspace.usedMemory > 3000 * 64)
        #expect(keyspace.usedMemory == keyspace.summedShardBytes)
        for i in 0..<3000 { #expect(keyspace.delete("key:\(i)", db: i % 2)) }
        var structural = 0
        for shard in keyspace.shards {
            #expect(shard.l1.bytes == 0 && shard.l2.bytes == 0 && shard.l1.count == 0 && shard.l2.count == 0)
            structural += shard.tables.reduce(0) { $0 + $1.memoryCost } + shard.volatile.capacity * 8
            for table in shard.tables { #expect(table.buckets.count <= 16) }
        }
        #expect(keyspace.usedMemory == baseline + structural)
    }

    @Test("the global memory counter follows a TTL being added")
    func memoryCounterAfterSetExpire() {
        let keyspace = makeKeyspace(shards: 1)
        for i in 0..<100 { keyspace.set("k\(i)", "v") }
        for i in 0..<100 { keyspace.expire("k\(i)", at: t0 + 1000) }
        #expect(keyspace.usedMemory == keyspace.summedShardBytes)
    }

    @Test("a multi-key command locks each of its keys' shards once, in ascending order")
    func lockOrder() {
        let keyspace = makeKeyspace(shards: 8)
        // The shard is the hash's top 3 bits here.
        let hashes: [UInt64] = [7, 5, 7, 1, 3, 5, 0, 0].map { UInt64($0) << 61 | 0x1234 }
        #expect(keyspace.lockOrder(for: hashes) == [0, 1, 3, 5, 7])
        #expect(keyspace.lockOrder(for: [6 << 61]) == [6])
        #expect(keyspace.lockOrder(for: []) == [])
    }
}

@Suite("HashTable")
struct HashTableTests {
    private func entry(_ key: String, hasher: KeyHasher) -> Entry {
        var key = key
        return key.withUTF8 { bytes in
            let raw = UnsafeRawBufferPointer(bytes)
            return Entry.make(key: raw, hash: hasher.hash(raw), value: raw, database: 0, expireAt: 0, now: 0)
        }
    }

    private func find(_ table: HashTable, _ key: String, hasher: KeyHasher) -> Entry? {
        var key = key
        return key.withUTF8 { table.find(UnsafeRawBufferPointer($0), hash: hasher.hash(UnsafeRawBufferPointer($0))) }
    }

    @Test("growing and shrinking keeps every key findable")
    func growAndShrink() {
        let hasher = KeyHasher(seed: 1)
        var table = HashTable(hasher: hasher)
        var entries: [Entry] = []
        for i in 0..<10_000 {
            let e = entry("key\(i)", hasher: hasher)
            entries.append(e)
            table.insert(e)
        }
        #expect(table.count == 10_000)
        #expect(table.buckets.count >= 10_000 && table.buckets.count.nonzeroBitCount == 1)
        for i in stride(from: 0, to: 10_000, by: 97) { #expect(find(table, "key\(i)", hasher: hasher) === entries[i]) }
        let grown = table.buckets.count
        var removed = 0
        for i in 0..<9_900 where table.remove(entries[i]) { removed += 1 }
        #expect(removed == 9_900)
        let again = table.remove(entries[0])
        #expect(!again)
        #expect(table.count == 100)
        #expect(table.buckets.count < grown / 8)
        for i in 0..<9_900 where i % 50 == 0 { #expect(find(table, "key\(i)", hasher: hasher) == nil) }
        for i in 9_900..<10_000 { #expect(find(table, "key\(i)", hasher: hasher) === entries[i]) }
        var seen = 0
        table.forEach { _ in seen += 1 }
        #expect(seen == 100)
    }

    @Test("replace keeps the chain intact")
    func replaceInChain() {
        let hasher = KeyHasher(seed: 2)
        var table = HashTable(hasher: hasher)
        let entries = (0..<40).map { entry("k\($0)", hasher: hasher) }
        entries.forEach { table.insert($0) }
        for (i, old) in entries.enumerated() where i % 3 == 0 {
            let new = entry("k\(i)", hasher: hasher)
            table.replace(old, with: new)
            #expect(find(table, "k\(i)", hasher: hasher) === new)
        }
        for i in 0..<40 { #expect(find(table, "k\(i)", hasher: hasher) != nil) }
        #expect(table.count == 40)
    }
}
