import Foundation
import NIOPosix
import Testing
@testable import StrataPersistence
@testable import StrataStore

@Suite struct L3StoreTests {
    private func temporaryPath() -> String {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("strata-l3-\(UUID().uuidString)")
        try? FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        return dir.appendingPathComponent("strata.db").path
    }

    @Test func batcherPersistsAndRecoveryRestoresStubs() throws {
        let path = temporaryPath()
        do {
            let keyspace = Keyspace(databases: 4, shardCount: 4, now: 1_000)
            let tier = try L3Tier(path: path, keyspace: keyspace, settings: BatcherSettings())
            tier.batcher.start()
            let shard = keyspace.shard(for: keyspace.hasher.hash(Array("a".utf8)))
            shard.lock.withLock {
                Array("a".utf8).withUnsafeBytes { key in
                    Array("one".utf8).withUnsafeBytes { value in
                        _ = shard.insert(database: 1, key: key, hash: keyspace.hasher.hash(key), value: value, expireAt: 0, now: 1_000)
                    }
                }
            }
            tier.batcher.stop()
            #expect(tier.store.rowCount == 1)
        }
        // A new keyspace loads the key as a cold stub and reads its value back.
        let keyspace = Keyspace(databases: 4, shardCount: 4, now: 1_000)
        let store = try L3Store(path: path, synchronous: "NORMAL")
        var rows: [(Int64, Int, [UInt8], Bool)] = []
        try store.scan { header, key in rows.append((header.seq, header.database, Array(key), header.isTombstone)) }
        #expect(rows.count == 1)
        #expect(rows[0].1 == 1)
        #expect(rows[0].2 == Array("a".utf8))
        #expect(try store.readValue(row: rows[0].0)?.bytes == Array("one".utf8))
        _ = keyspace
    }

    /// Rows are numbered at the drain; SQLite must store each value exactly there, whether the
    /// batcher lets SQLite pick the rows (a plain run) or binds them (after a FLUSHDB in the batch).
    @Test func everyEntryLearnsTheRowItsValueIsStoredAt() throws {
        let path = temporaryPath()
        let keyspace = Keyspace(databases: 2, shardCount: 8, now: 1_000)
        let tier = try L3Tier(path: path, keyspace: keyspace, settings: BatcherSettings())
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        defer { try? group.syncShutdownGracefully() }
        tier.batcher.start()
        func set(_ key: String, _ value: String, database: Int) {
            let k = Array(key.utf8), v = Array(value.utf8)
            let hash = keyspace.hasher.hash(k)
            let shard = keyspace.shard(for: hash)
            shard.lock.withLock {
                k.withUnsafeBytes { kb in v.withUnsafeBytes { vb in
                    if let old = shard.find(database: database, key: kb, hash: hash, now: 1_000, access: .peek) {
                        _ = shard.replaceValue(old, with: vb, expireAt: 0, now: 1_000)
                    } else {
                        _ = shard.insert(database: database, key: kb, hash: hash, value: vb, expireAt: 0, now: 1_000)
                    }
                } }
            }
        }
        for i in 0..<100 { set("k\(i)", "v\(i)", database: 0) }
        for i in 0..<50 { set("m\(i)", "old", database: 1) }
        try tier.batcher.barrier(on: group.next()).wait()
        for i in 100..<150 { set("k\(i)", "v\(i)", database: 0) }
        keyspace.flush(database: 1)
        for i in 150..<200 { set("k\(i)", "v\(i)", database: 0) }
        for i in 0..<10 { set("m\(i)", "new\(i)", database: 1) }
        for i in 0..<20 { set("k\(i)", "again\(i)", database: 0) }
        try tier.batcher.barrier(on: group.next()).wait()
        for i in 200..<300 { set("k\(i)", "v\(i)", database: 0) }
        tier.batcher.stop()

        var expected: [(String, Int, String)] = (0..<300).map { ("k\($0)", 0, $0 < 20 ? "again\($0)" : "v\($0)") }
        expected += (0..<10).map { ("m\($0)", 1, "new\($0)") }
        for (key, database, value) in expected {
            let k = Array(key.utf8)
            let hash = keyspace.hasher.hash(k)
            let shard = keyspace.shard(for: hash)
            let entry = try #require(k.withUnsafeBytes { kb in
                shard.lock.withLock { shard.find(database: database, key: kb, hash: hash, now: 1_000, access: .peek) }
            })
            #expect(keyspace.isCommitted(entry), "\(key)")
            #expect(try tier.store.readValue(row: entry.header.l3Row)?.bytes == Array(value.utf8), "\(key) at row \(entry.header.l3Row)")
        }
        // Database 1's old rows went with the FLUSHDB; superseded rows of k0…k19 remain until
        // compaction.
        #expect(tier.store.rowCount == 300 + 10 + 20)
    }

    @Test func newFilesGetEightKiBPagesAndOlderFilesKeepTheirs() throws {
        let fresh = temporaryPath()
        let store = try L3Store(path: fresh, synchronous: "NORMAL")
        #expect(try store.writer.integer("PRAGMA page_size") == Int64(L3Store.pageSize))
        #expect(try store.writer.integer("PRAGMA wal_autocheckpoint") == 5000) // ~40 MB of WAL

        // A file made with 4 KiB pages (as before) opens as it is, and its WAL is checkpointed
        // after the same ~40 MB.
        let older = temporaryPath()
        do {
            let connection = try SQLiteConnection(path: older)
            try connection.execute("PRAGMA page_size=4096")
            try connection.execute("""
                CREATE TABLE log (seq INTEGER PRIMARY KEY, db INTEGER NOT NULL, key BLOB NOT NULL,
                                  value BLOB, expire_at INTEGER NOT NULL DEFAULT 0);
                PRAGMA user_version = 1;
                """)
        }
        let reopened = try L3Store(path: older, synchronous: "NORMAL")
        #expect(try reopened.writer.integer("PRAGMA page_size") == 4096)
        #expect(try reopened.writer.integer("PRAGMA wal_autocheckpoint") == 10000)
    }

    @Test func newerSchemaIsRefused() throws {
        let path = temporaryPath()
        do {
            let connection = try SQLiteConnection(path: path)
            try connection.execute("PRAGMA user_version = 99")
        }
        #expect(throws: SQLiteError.self) { _ = try L3Store(path: path, synchronous: "NORMAL") }
    }

    @Test func garbageFileIsRefused() throws {
        let path = temporaryPath()
        try Data(repeating: 0x41, count: 8192).write(to: URL(fileURLWithPath: path))
        #expect(throws: SQLiteError.self) { _ = try L3Store(path: path, synchronous: "NORMAL") }
    }
}
