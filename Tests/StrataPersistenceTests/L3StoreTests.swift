import Foundation
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
        try store.scan { row, db, key, _, tombstone in rows.append((row, db, Array(key), tombstone)) }
        #expect(rows.count == 1)
        #expect(rows[0].1 == 1)
        #expect(rows[0].2 == Array("a".utf8))
        #expect(try store.readValue(row: rows[0].0) == Array("one".utf8))
        _ = keyspace
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
