import Testing
@testable import StrataStore

/// A journal consumer that is never woken (threshold 0).
final class IdleConsumer: JournalConsumer {
    func journalReachedThreshold() {}
}

@Suite struct L3EvictionTests {
    @Test func committedValuesLeaveMemoryAsStubs() {
        let keyspace = Keyspace(databases: 1, shardCount: 4, now: 0)
        keyspace.hasColdTier = true // eviction in L3 mode; the test drains the journal itself
        keyspace.openJournal(consumer: IdleConsumer(), threshold: 0)
        keyspace.configureMemory(maxMemory: 64 * 1024, policy: .allkeysLRU, l1Share: 20)
        let value = [UInt8](repeating: 0x78, count: 1000)
        var entries: [Entry] = []
        for i in 0..<200 {
            let key = Array("key:\(i)".utf8)
            let hash = keyspace.hasher.hash(key)
            let shard = keyspace.shard(for: hash)
            shard.lock.withLock {
                key.withUnsafeBytes { k in value.withUnsafeBytes { v in
                    entries.append(shard.insert(database: 0, key: k, hash: hash, value: v, expireAt: 0, now: 0))
                } }
            }
        }
        #expect(keyspace.usedMemory > 64 * 1024)
        // Nothing committed yet: nothing may leave memory.
        #expect(keyspace.evictIfNeeded(now: 0) == false)
        // Drained (rows assigned) but not committed: still nothing.
        var nextRow: Int64 = 1
        let batch = keyspace.drainJournal(nextRow: &nextRow)
        #expect(batch.count == 200 && nextRow == 201)
        #expect(keyspace.evictIfNeeded(now: 0) == false)
        keyspace.noteCommitted(rowsBelow: batch.rowLimit)
        #expect(keyspace.evictIfNeeded(now: 0) == true)
        #expect(keyspace.usedMemory <= 64 * 1024)
        let stats = keyspace.statistics()
        #expect(stats.l3IndexKeys + stats.l1.keys + stats.l2.keys == 200)
        #expect(stats.evictedKeys == 0)
        #expect(stats.demotedToL3 == stats.l3IndexKeys)
    }
}
