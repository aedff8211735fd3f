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

    func describe(_ batch: JournalBatch) -> [[String]] {
        batch.segments.map { segment in
            segment.map { record in
                let key = record.entry.withKey { String(decoding: $0, as: UTF8.self) }
                switch record.kind {
                case .write: return "set \(key)=\(record.entry.withValue { String(decoding: $0, as: UTF8.self) }) ttl=\(record.expireAt)"
                case .delete: return "del \(key)"
                case .expire: return "expire \(key) row=\(record.row) ttl=\(record.expireAt)"
                }
            }.sorted()
        }
    }

    @Test func writesToOneKeyCoalesceIntoItsLatestVersion() {
        set("a", "1"); set("a", "2"); set("b", "x"); set("a", "3")
        #expect(keyspace.journalDepth == 2)
        let batch = keyspace.drainJournal()
        #expect(describe(batch) == [["set a=3 ttl=0", "set b=x ttl=0"]])
        #expect(batch.position == 2)
        #expect(keyspace.journalDepth == 0)
    }

    @Test func aDeleteReplacesThePendingWriteAndARecreationFollowsIt() {
        set("a", "1"); delete("a"); set("a", "2")
        #expect(describe(keyspace.drainJournal()) == [["del a", "set a=2 ttl=0"]])
    }

    @Test func aTTLChangeOfAPendingEntryIsReadAtDrain() {
        let e = set("a", "1")
        let shard = keyspace.shard(for: e.keyHash)
        shard.lock.withLock { shard.setExpire(e, at: 5000) }
        #expect(keyspace.journalDepth == 1)
        #expect(describe(keyspace.drainJournal()) == [["set a=1 ttl=5000"]])
    }

    @Test func flushesSplitTheBatchAtTheSamePlaceInEveryShard() {
        for i in 0..<8 { set("k\(i)", "old") }
        keyspace.flush(database: 1)
        set("k0", "new")
        keyspace.flush(database: nil)
        set("k1", "newest", database: 1)
        let batch = keyspace.drainJournal()
        #expect(batch.flushes == [1, nil])
        // FLUSHDB 1 left database 0 alone, so k0's new version takes over its old, pending record
        // in front of that flush: equivalent, and one row instead of two.
        #expect(describe(batch) == [["set k0=new ttl=0"] + (1..<8).map { "set k\($0)=old ttl=0" }, [],
                                    ["set k1=newest ttl=0"]])
    }

    @Test func aVersionChangedAfterTheDrainIsNotMarkedCommitted() {
        let e = set("a", "1")
        let shard = keyspace.shard(for: e.keyHash)
        _ = keyspace.drainJournal()
        shard.lock.withLock { shard.setExpire(e, at: 9000) } // pending again
        shard.lock.withLock { shard.markPersisted(e, row: 7) }
        #expect(!e.isCommitted)
        _ = keyspace.drainJournal()
        shard.lock.withLock { shard.markPersisted(e, row: 8) }
        #expect(e.isCommitted && e.header.l3Row == 8)
    }

    @Test func theConsumerIsWokenWhenTheThresholdIsReached() {
        set("a", "1"); set("b", "1")
        #expect(consumer.wakeups == 0)
        set("c", "1")
        #expect(consumer.wakeups == 1)
        set("a", "2") // coalesced: no new record
        #expect(consumer.wakeups == 1 && keyspace.journalDepth == 3)
    }

    @Test func nothingIsJournaledBeforeTheJournalOpens() {
        let closed = Keyspace(databases: 1, shardCount: 2, now: 0)
        let k = Array("a".utf8), v = Array("1".utf8)
        let hash = closed.hasher.hash(k)
        let shard = closed.shard(for: hash)
        shard.lock.withLock {
            k.withUnsafeBytes { kb in v.withUnsafeBytes { vb in
                _ = shard.insert(database: 0, key: kb, hash: hash, value: vb, expireAt: 0, now: 0)
            } }
        }
        #expect(closed.journalDepth == 0 && closed.drainJournal().count == 0)
    }
}
