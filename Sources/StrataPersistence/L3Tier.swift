import CSQLite
import NIOCore
import NIOPosix
import StrataCommands
import StrataStore
import Synchronization

/// The L3 tier: the SQLite log, its write batcher, reader threads for cold reads, and start-up
/// recovery. Plugs into the command layer as its ``ColdStorage``.
public final class L3Tier: ColdStorage, Sendable {
    public let store: L3Store
    public let batcher: WriteBatcher
    private let keyspace: Keyspace
    /// Cold reads run here, never on an event loop.
    private let readers: NIOThreadPool
    private let loading = Atomic<Bool>(true)
    private let saveTime: Atomic<Int64>
    private let loadedKeys = Atomic<Int>(0)
    private let loadMilliseconds = Atomic<Int64>(0)

    /// Opens (or creates) the database and attaches the batcher to `keyspace`.
    /// - Throws: ``SQLiteError`` when the file cannot be opened, is damaged, or is too new.
    public init(path: String, keyspace: Keyspace, settings: BatcherSettings) throws(SQLiteError) {
        store = try L3Store(path: path, synchronous: settings.policy.synchronousPragma, pageCacheBytes: settings.pageCacheBytes)
        self.keyspace = keyspace
        batcher = WriteBatcher(store: store, keyspace: keyspace, settings: settings)
        readers = NIOThreadPool(numberOfThreads: 2)
        saveTime = Atomic(WallClock.milliseconds() / 1000)
    }

    /// Starts the batcher and the reader threads, then loads the key index from disk in the
    /// background; until it is done the tier reports `isLoading` (INFO `loading:1`).
    public func start(onLoaded: @escaping @Sendable (Int, Int64) -> Void = { _, _ in }) {
        readers.start()
        let started = WallClock.milliseconds()
        NamedThread.start("strata-l3-load") { [self] in
            var count = 0
            do {
                let keyspace = self.keyspace
                try store.scan { header, key in
                    let db = header.database, expireAt = header.expireAt
                    guard db < keyspace.databases else { return }
                    let hash = keyspace.hasher.hash(key)
                    let shard = keyspace.shard(for: hash)
                    let now = WallClock.milliseconds()
                    shard.lock.withLock {
                        if header.isTombstone || (expireAt != 0 && now > expireAt) {
                            shard.loadTombstone(database: db, key: key, hash: hash)
                        } else {
                            shard.loadStub(database: db, key: key, hash: hash, expireAt: expireAt, row: header.seq,
                                           now: now, kind: header.kind)
                        }
                    }
                    count += 1
                }
            } catch {
                print("strata: L3 recovery stopped early: \(error)")
            }
            let elapsed = WallClock.milliseconds() - started
            loadedKeys.store(count, ordering: .relaxed)
            loadMilliseconds.store(elapsed, ordering: .relaxed)
            // Only now may writes flow to the batcher (none are accepted while loading).
            batcher.start()
            loading.store(false, ordering: .releasing)
            onLoaded(count, elapsed)
        }
    }

    /// Drains the batcher (every acknowledged write is committed) and stops the threads.
    public func shutdown() {
        batcher.stop()
        try? readers.syncShutdownGracefully()
    }

    // MARK: - ColdStorage

    public var isLoading: Bool { loading.load(ordering: .acquiring) }
    public var failure: String? { batcher.isFailing ? (batcher.statistics.lastError ?? "write error") : nil }
    public var syncsEveryWrite: Bool { batcher.policy == .always }
    public var isBehind: Bool { batcher.isBehind }
    public var hasUncommittedWrites: Bool { batcher.hasUncommittedWrites }
    public var lastSave: Int64 { saveTime.load(ordering: .relaxed) }

    public func barrier(on eventLoop: any EventLoop) -> EventLoopFuture<Void> {
        batcher.barrier(on: eventLoop)
    }

    public func drained(on eventLoop: any EventLoop) -> EventLoopFuture<Void> {
        batcher.drained(on: eventLoop)
    }

    public func save(on eventLoop: any EventLoop) -> EventLoopFuture<Int64> {
        batcher.barrier(on: eventLoop).map { [self] in
            let time = batcher.noteSaved()
            saveTime.store(time, ordering: .relaxed)
            return time
        }
    }

    public func warm(_ stubs: [Entry], on eventLoop: any EventLoop) -> EventLoopFuture<Void> {
        let store = self.store
        let keyspace = self.keyspace
        // Each read names its key and row, not the stub: if the key changes meanwhile (another
        // row, or a value in memory), the shard refuses the stale value and the command simply
        // runs against the new state.
        let reads = stubs.map { stub in
            let hash = stub.keyHash(keyspace.hasher)
            let shard = keyspace.shard(for: hash)
            return shard.lock.withLock {
                ColdRead(shard: shard, database: Int(stub.header.database), key: stub.withKey { Array($0) },
                         hash: hash, row: stub.header.l3Row)
            }
        }
        return readers.runIfActive(eventLoop: eventLoop) {
            // Make room before bringing values in, so that reads keep memory near maxmemory.
            // Not after: that could push out a value the waiting command is about to use.
            if keyspace.maxMemory > 0 { _ = keyspace.evictIfNeeded(now: WallClock.milliseconds()) }
            for read in reads {
                let shard = read.shard
                let value = try store.readValue(row: read.row)
                let now = WallClock.milliseconds()
                read.key.withUnsafeBytes { key in
                    shard.lock.withLock {
                        guard let stub = shard.coldStub(database: read.database, key: key, hash: read.hash, row: read.row) else { return }
                        // No row: the key was deleted meanwhile; drop the stale stub rather than
                        // read it again forever.
                        guard let value else { return shard.remove(stub) }
                        if value.kind == .string {
                            value.bytes.withUnsafeBytes { _ = shard.warm(stub, value: $0, now: now) }
                        } else if let collection = value.bytes.withUnsafeBytes({ CollectionValue.decode(kind: value.kind, $0) }) {
                            shard.warm(stub, collection: collection, now: now)
                        } else {
                            // A damaged row: the value cannot be had. Dropping the key beats
                            // reading the row again forever.
                            print("strata: L3 row \(read.row) holds no valid \(value.kind.name) value; key dropped")
                            shard.remove(stub)
                        }
                    }
                }
            }
        }
    }

    // MARK: - Function libraries

    public func storedLibraries() -> [[UInt8]] {
        do {
            return try store.readLibraries()
        } catch {
            print("strata: cannot read the function libraries from L3: \(error)")
            return []
        }
    }

    public func storeLibraries(_ snapshot: @escaping @Sendable () -> [[UInt8]], on eventLoop: any EventLoop) -> EventLoopFuture<String?> {
        readers.runIfActive(eventLoop: eventLoop) { [self] in storeLibraries(snapshot) }
            .recover { "\($0)" }
    }

    public func storeLibraries(_ snapshot: @Sendable () -> [[UInt8]]) -> String? {
        do {
            try store.writeLibraries(snapshot)
            return nil
        } catch {
            return error.description
        }
    }

    public func infoFields() -> [(String, String)] {
        let s = batcher.statistics
        let policy = batcher.policy
        return [
            ("loading", isLoading ? "1" : "0"), ("async_loading", "0"),
            ("rdb_changes_since_last_save", String(s.changesSinceSave)),
            ("rdb_bgsave_in_progress", "0"), ("rdb_last_save_time", String(lastSave)),
            ("rdb_last_bgsave_status", batcher.isFailing ? "err" : "ok"),
            ("aof_enabled", "0"), ("aof_rewrite_in_progress", "0"),
            ("aof_last_write_status", batcher.isFailing ? "err" : "ok"),
            ("l3_enabled", "1"), ("l3_file", store.path), ("l3_fsync", policy.rawValue),
            // SQLite's own heap: page caches (the batcher's is sized from maxmemory), statements.
            ("l3_sqlite_memory", String(sqlite3_memory_used())), ("l3_page_cache_max", String(store.pageCacheBytes)),
            ("l3_queue_depth", String(s.queueDepth)), ("l3_oldest_pending_ms", String(s.oldestPendingMilliseconds)),
            ("l3_batches", String(s.batches)), ("l3_rows_written", String(s.rowsWritten)),
            ("l3_last_commit_time", String(s.lastCommitTime)), ("l3_last_commit_usec", String(s.lastCommitMicroseconds)),
            ("l3_rows", String(s.rowsInFile)), ("l3_compaction_passes", String(s.compactionPasses)),
            ("l3_compacted_rows", String(s.rowsCompacted)),
            ("l3_failures", String(s.failures)), ("l3_last_error", s.lastError ?? ""),
            ("l3_loaded_rows", String(loadedKeys.load(ordering: .relaxed))),
            ("l3_load_ms", String(loadMilliseconds.load(ordering: .relaxed))),
        ]
    }
}

/// One cold value to read on an L3 reader thread: its key, its shard and its row. A value, not
/// the stub: the reader finds the stub again under the shard's lock (``Shard/coldStub``).
private struct ColdRead: Sendable {
    let shard: Shard
    let database: Int
    let key: [UInt8]
    let hash: UInt64
    let row: Int64
}
