import Dispatch
import Foundation
import Testing
@testable import StrataStore

/// Counts wake-ups; stands in for the write batcher.
final class CountingConsumer: JournalConsumer, @unchecked Sendable {
    var wakeups = 0
    func journalReachedThreshold() { wakeups += 1 }
}

@Suite struct JournalTests {
    let keyspace: Keyspace
    let consumer = CountingConsumer()

    init() {
        keyspace = Keyspace(databases: 2, shardCount: 4, now: 0)
        keyspace.hasColdTier = true
        keyspace.openJournal(consumer: consumer, threshold: 3)
    }

    @discardableResult
    func set(_ key: String, _ value: String, database: Int = 0, expireAt: Int64 = 0) -> Entry {
        let k = Array(key.utf8), v = Array(value.utf8)
        let hash = keyspace.hasher.hash(k)
        let shard = keyspace.shard(for: hash)
        return shard.lock.withLock {
            k.withUnsafeBytes { kb in v.withUnsafeBytes { vb in
                if let old = shard.find(database: database, key: kb, hash: hash, now: 0, access: .peek) {
                    return shard.replaceValue(old, with: vb, expireAt: expireAt, now: 0)
                }
                return shard.insert(database: database, key: kb, hash: hash, value: vb, expireAt: expireAt, now: 0)
            } }
        }
    }

    func delete(_ key: String, database: Int = 0) {
        let k = Array(key.utf8)
        let hash = keyspace.hasher.hash(k)
        let shard = keyspace.shard(for: hash)
        shard.lock.withLock {
            k.withUnsafeBytes { kb in
                if let e = shard.find(database: database, key: kb, hash: hash, now: 0, access: .peek) { shard.remove(e) }
            }
        }
    }

    /// The row the next drain assigns first.
    var nextRow: Int64 = 1

    mutating func drain() -> JournalBatch { keyspace.drainJournal(nextRow: &nextRow) }

    func describe(_ batch: JournalBatch) -> [[String]] {
        batch.segments.map { segment in
            segment.map { record in
                let key = batch.withKey(of: record) { String(decoding: $0, as: UTF8.self) }
                switch record.kind {
                case .write: return "set \(key)=\(batch.withValue(of: record) { String(decoding: $0, as: UTF8.self) }) ttl=\(record.expireAt)"
                case .delete: return "del \(key)"
                case .expire: return "expire \(key) row=\(record.row) ttl=\(record.expireAt)"
                }
            }.sorted()
        }
    }

    @Test mutating func writesToOneKeyCoalesceIntoItsLatestVersion() {
        set("a", "1"); set("a", "2"); set("b", "x"); set("a", "3")
        #expect(keyspace.journalDepth == 2)
        let batch = drain()
        #expect(describe(batch) == [["set a=3 ttl=0", "set b=x ttl=0"]])
        #expect(batch.position == 2)
        #expect(keyspace.journalDepth == 0)
    }

    @Test mutating func aDeleteReplacesThePendingWriteAndARecreationFollowsIt() {
        set("a", "1"); delete("a"); set("a", "2")
        #expect(describe(drain()) == [["del a", "set a=2 ttl=0"]])
    }

    @Test mutating func aTTLChangeOfAPendingEntryIsReadAtDrain() {
        let e = set("a", "1")
        let shard = keyspace.shard(for: e.keyHash(keyspace.hasher))
        shard.lock.withLock { shard.setExpire(e, at: 5000) }
        #expect(keyspace.journalDepth == 1)
        #expect(describe(drain()) == [["set a=1 ttl=5000"]])
    }

    @Test mutating func flushesSplitTheBatchAtTheSamePlaceInEveryShard() {
        for i in 0..<8 { set("k\(i)", "old") }
        keyspace.flush(database: 1)
        set("k0", "new")
        keyspace.flush(database: nil)
        set("k1", "newest", database: 1)
        let batch = drain()
        #expect(batch.flushes == [1, nil])
        // FLUSHDB 1 left database 0 alone, so k0's new version takes over its old, pending record
        // in front of that flush: equivalent, and one row instead of two.
        #expect(describe(batch) == [["set k0=new ttl=0"] + (1..<8).map { "set k\($0)=old ttl=0" }, [],
                                    ["set k1=newest ttl=0"]])
    }

    @Test mutating func drainedVersionsGetAscendingRowsAndCountAsCommittedOnlyOnceTheirBatchIs() {
        nextRow = 100
        let a = set("a", "1"), b = set("b", "1")
        delete("b")
        let batch = drain()
        let rows = batch.segments[0].map(\.row).sorted()
        #expect(rows == [100, 101] && batch.rowLimit == 102 && nextRow == 102)
        #expect(a.header.l3Row == (batch.segments[0].first { $0.kind == .write }!.row))
        #expect(b.header.l3Row == 0, "b's deletion is a tombstone row, b itself never got one")
        #expect(!keyspace.isCommitted(a))
        keyspace.noteCommitted(rowsBelow: batch.rowLimit)
        #expect(keyspace.isCommitted(a))
    }

    @Test mutating func aFlushIsTakenOnceAndLaterDrainsGoShardByShardAgain() {
        set("a", "1")
        keyspace.flush(database: 0)
        set("b", "2")
        let first = drain()
        #expect(first.flushes == [0] && describe(first) == [["set a=1 ttl=0"], ["set b=2 ttl=0"]])
        #expect(keyspace.shards.allSatisfy { $0.journalFlushes == 0 && $0.journal.isEmpty })
        set("c", "3")
        let second = drain()
        #expect(second.flushes == [] && describe(second) == [["set c=3 ttl=0"]])
        #expect(second.position == first.position + 1 && keyspace.journalDepth == 0)
    }

    @Test mutating func aVersionChangedAfterTheDrainIsNotCommitted() {
        let e = set("a", "1")
        let hash = e.keyHash(keyspace.hasher)
        let shard = keyspace.shard(for: hash)
        let first = drain()
        shard.lock.withLock { shard.setExpire(e, at: 9000) } // pending again
        keyspace.noteCommitted(rowsBelow: first.rowLimit)
        #expect(!keyspace.isCommitted(e))
        let committedRow = { e.withKey { key in shard.lock.withLock { shard.committedRow(database: 0, key: key, hash: hash) } } }
        #expect(committedRow() == .pending)
        let second = drain()
        #expect(!keyspace.isCommitted(e) && committedRow() == .pending)
        keyspace.noteCommitted(rowsBelow: second.rowLimit)
        #expect(keyspace.isCommitted(e) && e.header.l3Row == second.rowLimit - 1)
        #expect(committedRow() == .row(second.rowLimit - 1))
    }

    @Test mutating func theConsumerIsWokenWhenTheThresholdIsReached() {
        set("a", "1"); set("b", "1")
        #expect(consumer.wakeups == 0)
        set("c", "1")
        #expect(consumer.wakeups == 1)
        set("a", "2") // coalesced: no new record
        #expect(consumer.wakeups == 1 && keyspace.journalDepth == 3)
    }

    @Test mutating func nothingIsJournaledBeforeTheJournalOpens() {
        let closed = Keyspace(databases: 1, shardCount: 2, now: 0)
        let k = Array("a".utf8), v = Array("1".utf8)
        let hash = closed.hasher.hash(k)
        let shard = closed.shard(for: hash)
        shard.lock.withLock {
            k.withUnsafeBytes { kb in v.withUnsafeBytes { vb in
                _ = shard.insert(database: 0, key: kb, hash: hash, value: vb, expireAt: 0, now: 0)
            } }
        }
        #expect(closed.journalDepth == 0 && closed.drainJournal(nextRow: &nextRow).count == 0)
    }
}


/// Drains racing writers and FLUSHALL/FLUSHDB on other threads: replaying every batch in order (a
/// flush empties what came before it) must rebuild exactly the keyspace. A flush marker that a
/// per-shard drain split from the writes around it would resurrect flushed keys or lose later ones.
@Suite struct JournalConcurrencyTests {
    /// What the L3 tier holds after replaying batches: database → key → value.
    struct Replica {
        var databases: [[String: String]] = [[:], [:]]

        mutating func apply(_ batch: JournalBatch) {
            for (index, segment) in batch.segments.enumerated() {
                if index > 0 {
                    if let database = batch.flushes[index - 1] { databases[database] = [:] } else { databases = [[:], [:]] }
                }
                for record in segment {
                    let key = batch.withKey(of: record) { String(decoding: $0, as: UTF8.self) }
                    switch record.kind {
                    case .write: databases[Int(record.database)][key] = batch.withValue(of: record) { String(decoding: $0, as: UTF8.self) }
                    case .delete: databases[Int(record.database)][key] = nil
                    case .expire: break
                    }
                }
            }
        }
    }

    @Test(arguments: [1, 2, 3])
    func replayingEveryBatchRebuildsTheKeyspace(seed: UInt64) {
        let keyspace = Keyspace(databases: 2, shardCount: 16, hasher: KeyHasher(seed: seed), now: t0)
        keyspace.hasColdTier = true
        keyspace.openJournal(consumer: CountingConsumer(), threshold: 0)
        let writes = 40_000, keys = 300
        let writers = DispatchGroup()
        // Writers: two threads of their own (as two event loops, and independent of the pool this
        // test runs on); each writes, deletes and now and then flushes.
        for writer in 0..<2 {
            writers.enter()
            Thread {
                defer { writers.leave() }
                var generator = SplitMix64(seed: seed &* 31 &+ UInt64(writer))
                for i in 0..<writes {
                    let roll = Int.random(in: 0..<1000, using: &generator)
                    let key = "k\(Int.random(in: 0..<keys, using: &generator))"
                    let database = Int.random(in: 0..<2, using: &generator)
                    switch roll {
                    case 0: keyspace.flush(database: nil)
                    case 1...2: keyspace.flush(database: database)
                    case 3..<150:
                        keyspace.withShard(key) { shard, bytes, hash in
                            if let entry = shard.find(database: database, key: bytes, hash: hash, now: t0, access: .peek) {
                                shard.remove(entry)
                            }
                        }
                    default: keyspace.set(key, "w\(writer)-\(i)", db: database)
                    }
                }
            }.start()
        }
        var replica = Replica()
        var nextRow: Int64 = 1
        var drains = 0
        while writers.wait(timeout: .now()) == .timedOut {
            replica.apply(keyspace.drainJournal(nextRow: &nextRow))
            drains += 1
        }
        replica.apply(keyspace.drainJournal(nextRow: &nextRow))
        #expect(drains > 10, "the drains raced the writers")
        for database in 0..<2 {
            var live: [String: String] = [:]
            for k in 0..<keys {
                keyspace.withShard("k\(k)") { shard, bytes, hash in
                    if let entry = shard.find(database: database, key: bytes, hash: hash, now: t0, access: .peek) {
                        live["k\(k)"] = String(decoding: entry.value, as: UTF8.self)
                    }
                }
            }
            #expect(replica.databases[database] == live, "database \(database)")
        }
    }
}
