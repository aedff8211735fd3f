import CSQLite
import Dispatch
import NIOConcurrencyHelpers
import NIOCore
import StrataCommands
import StrataConfig
import StrataStore
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// How often L3 makes its commits durable, named like Redis's `appendfsync`: the `l3-fsync`
/// setting itself.
public typealias FsyncPolicy = Configuration.L3Fsync

extension FsyncPolicy {
    var synchronousPragma: String {
        switch self {
        case .always: return "FULL"
        case .everysec: return "NORMAL"
        case .no: return "OFF"
        }
    }
}

public struct BatcherSettings: Sendable {
    public var policy: FsyncPolicy = .everysec
    /// Pending operations that trigger a commit at once (a commit takes everything pending).
    public var batchMax = 10_000
    /// Longest an operation waits before its batch commits, in milliseconds.
    public var flushIntervalMilliseconds = 100
    /// Pending operations beyond which writers are slowed until the batcher catches up.
    public var queueLimit = 200_000
    /// SQLite's page cache for the batcher's connection (see ``BatcherSettings/pageCache(maxMemory:)``).
    public var pageCacheBytes = 64 << 20
    public init() {}

    /// The page cache for a server with `maxMemory` (0: unlimited): an eighth of it, between
    /// 2 and 64 MB. Appends touch only the log's last pages, so a small cache costs the batcher
    /// little, and the cache, which is memory outside `maxmemory`, stays in proportion to it.
    public static func pageCache(maxMemory: Int) -> Int {
        maxMemory > 0 ? min(64 << 20, max(2 << 20, maxMemory / 8)) : 64 << 20
    }
}

/// Counters for INFO persistence.
public struct BatcherStatistics: Sendable {
    public var queueDepth = 0
    public var oldestPendingMilliseconds: Int64 = 0
    public var batches = 0
    public var rowsWritten = 0
    public var lastCommitTime: Int64 = 0
    public var lastCommitMicroseconds: Int64 = 0
    public var failures = 0
    public var lastError: String?
    /// Rows in the file (live versions, superseded ones not yet compacted, tombstones).
    public var rowsInFile: Int64 = 0
    public var compactionPasses = 0
    public var rowsCompacted: Int64 = 0
    public var changesSinceSave = 0
}

/// Takes the keyspace's journal of changes and commits it to L3 in group transactions on its
/// own thread.
///
/// Writers never touch the batcher: a write appends to its shard's journal under the shard lock
/// it already holds, and changes to the same key coalesce there (see StrataStore's Journal.swift).
/// The batcher drains the journal (everything pending, one shard at a time) when a batch is full,
/// the flush interval has passed, a writer waits for durability, or it is stopping.
///
/// `@unchecked Sendable`: `settings`, `waiters`, `drainWaiters`, `stats`, `savedPosition`,
/// `stopping`, `running` and `pendingPragma` are guarded by `lock` (a separate condition lock lets
/// the thread sleep until woken or its interval passes); SQLite, its statements, `retry`,
/// `lastSync`, `nextRow`, `sqliteNextRow`, `explicitRowsOnly` and the compactor are touched only by
/// the batcher thread (`nextRow` and `sqliteNextRow` also in `start`, before the thread exists).
public final class WriteBatcher: JournalConsumer, @unchecked Sendable {
    private let store: L3Store
    private let keyspace: Keyspace
    private var settings: BatcherSettings
    private let lock = NIOLock()
    private let wakeup = ConditionLock(value: 0)
    /// Journal position committed so far; writers waiting for a position are in `waiters`.
    private let committed = Atomic<UInt64>(0)
    private var waiters: [(UInt64, EventLoopPromise<Void>)] = []
    private var drainWaiters: [EventLoopPromise<Void>] = []
    private var stats = BatcherStatistics()
    private var savedPosition: UInt64 = 0
    private var stopping = false
    /// Whether the batcher thread was started.
    private var running = false
    private let finished = DispatchSemaphore(value: 0)
    /// A batch whose commit failed, retried before anything newer (batcher thread only).
    private var retry: JournalBatch?
    private var lastSync: Int64 = 0
    private let errorFlag = Atomic<Bool>(false)
    /// Batcher thread only.
    private var compactor: Compactor
    /// The row the next written version gets (batcher thread only, after `start`). Rows are
    /// assigned at the drain, in ascending order, and never reused while running.
    private var nextRow: Int64 = 1

    public init(store: L3Store, keyspace: Keyspace, settings: BatcherSettings) {
        self.store = store
        self.keyspace = keyspace
        self.settings = settings
        self.policyIndex = Synchronization.Atomic(FsyncPolicy.allCases.firstIndex(of: settings.policy)!)
        self.queueLimit = Synchronization.Atomic(settings.queueLimit)
        self.compactor = Compactor(store: store, keyspace: keyspace)
        keyspace.hasColdTier = true
    }

    /// Read on every write (is its reply held for the commit?), so an atomic rather than the lock.
    private let policyIndex: Synchronization.Atomic<Int>
    /// Likewise for the queue limit (`isBehind` runs on every write).
    private let queueLimit: Synchronization.Atomic<Int>

    public var policy: FsyncPolicy { FsyncPolicy.allCases[policyIndex.load(ordering: .relaxed)] }

    public func update(_ settings: BatcherSettings) {
        lock.withLock {
            if settings.policy != self.settings.policy { pendingPragma = settings.policy.synchronousPragma }
            self.settings = settings
            policyIndex.store(FsyncPolicy.allCases.firstIndex(of: settings.policy)!, ordering: .relaxed)
            queueLimit.store(settings.queueLimit, ordering: .relaxed)
        }
        keyspace.setJournalThreshold(settings.batchMax)
    }

    /// A `synchronous` setting to apply on the batcher thread (after CONFIG SET l3-fsync).
    private var pendingPragma: String?

    /// Whether the last commit failed (writes are refused with -MISCONF until one succeeds).
    public var isFailing: Bool { errorFlag.load(ordering: .relaxed) }

    /// Whether any change is pending or being committed.
    public var hasUncommittedWrites: Bool {
        keyspace.journalPosition > committed.load(ordering: .acquiring)
    }

    /// Whether writers should wait for the batcher to catch up.
    @inline(__always)
    public var isBehind: Bool { keyspace.journalDepth > queueLimit.load(ordering: .relaxed) }

    public var statistics: BatcherStatistics {
        let depth = keyspace.journalDepth
        let oldest = keyspace.journalOldestPending
        let position = keyspace.journalPosition
        return lock.withLock {
            var s = stats
            s.queueDepth = depth
            s.oldestPendingMilliseconds = depth == 0 ? 0 : max(0, WallClock.milliseconds() - oldest)
            s.changesSinceSave = Int(truncatingIfNeeded: position &- savedPosition)
            return s
        }
    }

    /// JournalConsumer: a full batch is pending (called under a shard lock; only signals).
    public func journalReachedThreshold() { signal() }

    // MARK: - Waiting

    /// A future completed once everything changed so far is committed (and synced under
    /// `always`). Used for `always` replies, SAVE, and shutdown.
    public func barrier(on eventLoop: any EventLoop) -> EventLoopFuture<Void> {
        let promise = eventLoop.makePromise(of: Void.self)
        let target = keyspace.journalPosition
        let ready = lock.withLock { () -> Bool in
            if committed.load(ordering: .relaxed) >= target { return true }
            waiters.append((target, promise))
            return false
        }
        if ready { promise.succeed() } else { signal() }
        return promise.futureResult
    }

    /// A future completed when the queue is back under half its limit (writer backpressure).
    public func drained(on eventLoop: any EventLoop) -> EventLoopFuture<Void> {
        let promise = eventLoop.makePromise(of: Void.self)
        let ready = lock.withLock { () -> Bool in
            if keyspace.journalDepth <= settings.queueLimit / 2 { return true }
            drainWaiters.append(promise)
            return false
        }
        if ready { promise.succeed() } else { signal() }
        return promise.futureResult
    }

    // MARK: - The batcher thread

    /// Opens the keyspace's journal (from now on every change is recorded) and starts the thread.
    public func start() {
        // Before the thread exists, so on the caller's thread like the start-up scan before it.
        try? refreshNextRow()
        nextRow = sqliteNextRow
        keyspace.noteCommitted(rowsBelow: nextRow)
        keyspace.openJournal(consumer: self, threshold: lock.withLock { settings.batchMax })
        lock.withLock { running = true }
        NamedThread.start("strata-l3-batch") { [self] in
            self.loop()
            self.finished.signal()
        }
    }

    /// Commits everything pending and stops the thread (SIGTERM, SHUTDOWN).
    public func stop() {
        let started = lock.withLock { () -> Bool in
            stopping = true
            return running
        }
        signal()
        if started { finished.wait() }
    }

    private func signal() {
        wakeup.lock()
        wakeup.unlock(withValue: 1)
    }

    /// Commits retried at shutdown before giving up (the disk stays full): about 10 seconds.
    private static let retriesWhenStopping = 20

    private func loop() {
        var failuresWhileStopping = 0
        compactor.countRows()
        let rows = compactor.rowsInFile
        lock.withLock { stats.rowsInFile = rows }
        while true {
            let (interval, stopping) = lock.withLock { (settings.flushIntervalMilliseconds, self.stopping) }
            // While compacting, come back soon (commits still wait for their interval).
            let wait = compactor.isActive ? min(interval, Compactor.pauseMilliseconds) : interval
            // Once stopping, commit what is left without waiting out another interval.
            if !stopping, wakeup.lock(whenValue: 1, timeoutSeconds: Double(wait) / 1000) {
                wakeup.unlock(withValue: 0)
            }
            if let pragma = lock.withLock({ () -> String? in defer { pendingPragma = nil }; return pendingPragma }) {
                try? store.writer.execute("PRAGMA synchronous=\(pragma)")
            }
            if let batch = retry ?? takeWork(stopping: stopping) {
                if !commit(batch) && stopping {
                    failuresWhileStopping += 1
                    if failuresWhileStopping >= WriteBatcher.retriesWhenStopping {
                        print("strata: L3: giving up at shutdown, \(batch.count + keyspace.journalDepth) changes not persisted: \(stats.lastError ?? "")")
                        break
                    }
                }
            }
            syncIfDue()
            if stopping && retry == nil && keyspace.journalDepth == 0 { break }
            if !stopping && retry == nil { compact() }
        }
        // On the way out, under every policy (as Redis fsyncs its AOF at shutdown): copy the WAL
        // into the database, fsync both, and empty the WAL. The last second's commits are then on
        // disk, not only in the page cache, and the next start has no WAL to replay.
        try? store.writer.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    }

    /// Runs compaction chunks for a few milliseconds, if a pass is due or under way.
    private func compact() {
        let started = WallClock.milliseconds()
        compactor.startIfDue(now: started)
        guard compactor.isActive else { return }
        do {
            // At least one chunk per iteration, so that a steady write load cannot starve it;
            // more while the slice lasts and no batch is waiting.
            let batchMax = lock.withLock { settings.batchMax }
            repeat {
                if try compactor.step() > 0 {
                    // It may have deleted the newest row (a dead tombstone, say).
                    sqliteNextRow = -1 // until re-read: bind rows
                    try refreshNextRow()
                }
            } while compactor.isActive && WallClock.milliseconds() - started < Compactor.sliceMilliseconds
                && keyspace.journalDepth < batchMax
        } catch {
            // Compaction failing (e.g. disk full) loses nothing; the next pass tries again.
            lock.withLock { stats.lastError = "compaction: \(error.description)" }
        }
        let (rows, passes, compacted) = (compactor.rowsInFile, compactor.passes, compactor.rowsCompacted)
        lock.withLock {
            stats.rowsInFile = rows
            stats.compactionPasses = passes
            stats.rowsCompacted = compacted
        }
    }

    /// Drains the journal when a commit is due: the batch is full, the oldest change is older
    /// than the interval, a writer waits, or the batcher is stopping.
    private func takeWork(stopping: Bool) -> JournalBatch? {
        let depth = keyspace.journalDepth
        guard depth > 0 else { return nil }
        // Group commit without a gathering delay: writers that arrive during a commit wait for
        // the next one, which starts as soon as this one ends. (Waiting half a commit's time
        // for more writers before committing was measured slower once drains stopped holding
        // every shard lock: -P 16 under `always`, 202k against 228k SET/s; -P 1, 26k against 32k.)
        let due = lock.withLock {
            stopping || !waiters.isEmpty || !drainWaiters.isEmpty || depth >= settings.batchMax
                || WallClock.milliseconds() - keyspace.journalOldestPending >= Int64(settings.flushIntervalMilliseconds)
        }
        guard due else { return nil }
        return keyspace.drainJournal(nextRow: &nextRow)
    }

    /// Commits `batch`; on failure keeps it for a retry after a pause. Returns whether it committed.
    private func commit(_ batch: JournalBatch) -> Bool {
        let started = WallClock.microseconds()
        var inserted = 0, updated = 0
        do {
            (inserted, updated) = try writeTransaction(batch)
        } catch {
            // Writes are refused with -MISCONF meanwhile; reads go on.
            lock.withLock {
                stats.failures += 1
                stats.lastError = error.description
            }
            retry = batch
            errorFlag.store(true, ordering: .relaxed)
            usleep(500_000)
            return false
        }
        retry = nil
        errorFlag.store(false, ordering: .relaxed)
        if batch.flushes.isEmpty { compactor.noteInserted(inserted) } else { compactor.countRows() }
        // The batch's entries learned their rows at the drain; now those rows hold them.
        keyspace.noteCommitted(rowsBelow: batch.rowLimit)
        committed.store(batch.position, ordering: .releasing)
        let finished = WallClock.microseconds()
        let depth = keyspace.journalDepth
        let (ready, drained): ([EventLoopPromise<Void>], [EventLoopPromise<Void>]) = lock.withLock {
            stats.batches += 1
            stats.rowsWritten += inserted + updated
            stats.lastCommitTime = finished / 1000
            stats.lastCommitMicroseconds = finished - started
            stats.rowsInFile = compactor.rowsInFile
            var ready: [EventLoopPromise<Void>] = []
            waiters.removeAll { target, promise in
                if target <= batch.position { ready.append(promise); return true }
                return false
            }
            var drained: [EventLoopPromise<Void>] = []
            if depth <= settings.queueLimit / 2 {
                drained = drainWaiters
                drainWaiters = []
            }
            return (ready, drained)
        }
        ready.forEach { $0.succeed() }
        drained.forEach { $0.succeed() }
        return true
    }

    /// Rows per INSERT statement. SQLite's cost per statement step dominates small rows: appending
    /// 1M rows of 64-byte values ran at 675k rows/s one row per statement, 1.07M sixteen per
    /// statement and 1.23M sixty-four per statement on the development machine (4 KiB pages).
    static let rowsPerInsert = 64
    /// `inserts[n - 1]` inserts n rows at the rows SQLite picks, `seqInserts[n - 1]` at given
    /// rows; prepared on first use.
    private var inserts: [SQLiteStatement?] = Array(repeating: nil, count: WriteBatcher.rowsPerInsert)
    private var seqInserts: [SQLiteStatement?] = Array(repeating: nil, count: WriteBatcher.rowsPerInsert)
    private var expireStatement: SQLiteStatement?
    /// The row SQLite gives the next row inserted without a `seq`: the largest in the file plus
    /// one (no AUTOINCREMENT), as the batcher's connection sees it (batcher thread only).
    ///
    /// Binding `seq` costs SQLite a uniqueness probe per row: appending 1M rows 64 per INSERT ran
    /// at ~1.0M rows/s with `seq` bound against ~1.34M without (bench/sqlite_raw.c, 8 KiB pages).
    /// So a run of rows that are exactly the ones SQLite would pick next goes in without `seq`;
    /// any other run (after a FLUSHDB in the batch, or compaction deleting the newest row) binds
    /// it. Either way each row lands at the row its entry learned at the drain.
    private var sqliteNextRow: Int64 = 1
    /// Set if SQLite ever picked another row than expected (a bug): from then on `seq` is bound.
    private var explicitRowsOnly = false

    private func insertStatement(rows: Int, bindingSeq: Bool) throws(SQLiteError) -> SQLiteStatement {
        if let statement = (bindingSeq ? seqInserts : inserts)[rows - 1] { return statement }
        let tuple = bindingSeq ? "(?, ?, ?, ?, ?, ?)" : "(?, ?, ?, ?, ?)"
        let columns = bindingSeq ? "seq, db, key, value, expire_at, type" : "db, key, value, expire_at, type"
        let values = Array(repeating: tuple, count: rows).joined(separator: ", ")
        let statement = try store.writer.prepare("INSERT INTO log (\(columns)) VALUES \(values)")
        if bindingSeq { seqInserts[rows - 1] = statement } else { inserts[rows - 1] = statement }
        return statement
    }

    /// Reads the row SQLite picks next: at start, and after deletions that may have removed the
    /// newest row.
    private func refreshNextRow() throws(SQLiteError) {
        sqliteNextRow = try store.writer.integer("SELECT coalesce(max(seq), 0) FROM log") + 1
    }

    /// Appends `records` (writes and tombstones, at their assigned rows, ascending) in one
    /// statement.
    private func append(_ records: ArraySlice<JournalRecord>, bytes: UnsafeRawBufferPointer) throws(SQLiteError) {
        let first = records[records.startIndex].row, last = records[records.endIndex - 1].row
        let bindingSeq = explicitRowsOnly || first != sqliteNextRow || last - first != Int64(records.count - 1)
        let insert = try insertStatement(rows: records.count, bindingSeq: bindingSeq)
        defer { insert.reset() }
        var parameter: Int32 = 1
        for index in records.indices {
            let record = records[index]
            if bindingSeq {
                insert.bind(parameter, record.row)
                parameter += 1
            }
            insert.bind(parameter, Int64(record.database))
            // The batch's bytes outlive the statement's step: no copies.
            insert.bindStatic(parameter + 1, record.key(in: bytes))
            if record.kind == .write {
                insert.bindStatic(parameter + 2, record.value(in: bytes))
            } else {
                insert.bindNull(parameter + 2)
            }
            insert.bind(parameter + 3, record.expireAt)
            insert.bind(parameter + 4, Int64(record.kind == .write ? record.valueKind.rawValue : 0))
            parameter += 5
        }
        try insert.step()
        if !bindingSeq && store.writer.lastInsertRowID != last {
            // Never expected: the entries of this batch learned other rows. Roll back; the retry
            // binds every row.
            explicitRowsOnly = true
            print("strata: L3: SQLite picked row \(store.writer.lastInsertRowID), expected \(last); binding rows from now on")
            throw SQLiteError(code: SQLITE_INTERNAL, message: "row numbering mismatch (retried)")
        }
        sqliteNextRow = max(sqliteNextRow, last + 1)
    }

    /// Writes one batch in one transaction; returns the rows inserted and the rows updated.
    private func writeTransaction(_ batch: JournalBatch) throws(SQLiteError) -> (Int, Int) {
        let db = store.writer
        if expireStatement == nil {
            expireStatement = try db.prepare("UPDATE log SET expire_at = ? WHERE seq = ?")
        }
        let expire = expireStatement!
        var inserted = 0, updated = 0
        defer { expire.reset() }
        let nextRowBefore = sqliteNextRow
        var failure: SQLiteError?
        batch.bytes.withUnsafeBytes { bytes in
            do throws(SQLiteError) {
                try db.transaction { () throws(SQLiteError) in
                    for index in batch.firstLiveSegment..<batch.segments.count {
                        if index > 0 {
                            if let database = batch.flushes[index - 1] {
                                let statement = try db.prepare("DELETE FROM log WHERE db = ?")
                                statement.bind(1, Int64(database))
                                try statement.step()
                            } else {
                                try db.execute("DELETE FROM log")
                            }
                            try refreshNextRow()
                        }
                        // Different keys only (the journal coalesced each key), so inserts and
                        // TTL updates can go in any order within a segment: runs of up to 64
                        // inserts, split where a TTL update comes.
                        let records = batch.segments[index]
                        var start = 0
                        for position in records.indices {
                            let record = records[position]
                            if record.kind == .expire {
                                if start < position { try append(records[start..<position], bytes: bytes) }
                                start = position + 1
                                expire.reset()
                                expire.bind(1, record.expireAt)
                                expire.bind(2, record.row)
                                try expire.step()
                                updated += 1
                            } else {
                                inserted += 1
                                if position + 1 - start == WriteBatcher.rowsPerInsert {
                                    try append(records[start...position], bytes: bytes)
                                    start = position + 1
                                }
                            }
                        }
                        if start < records.count { try append(records[start...], bytes: bytes) }
                    }
                }
            } catch {
                failure = error
            }
        }
        if let failure {
            sqliteNextRow = nextRowBefore // rolled back
            throw failure
        }
        return (inserted, updated)
    }

    /// About once a second, copies the WAL into the database file (a PASSIVE checkpoint). Under
    /// `everysec` this is what makes the WAL durable (the checkpoint fsyncs it). Under every
    /// policy it bounds the WAL to about a second of commits below the ~40 MB auto-checkpoint
    /// (the file keeps its largest size). Under `always` at full speed a second of commits, each
    /// rewriting the table's last pages, still reaches that 40 MB: measured, SET -P 16 grew the
    /// WAL to 41 MB within 1.5 s, where it stayed (`make bench`: 56 MB on disk after 200k SETs
    /// before this checkpoint ran under `always`).
    private func syncIfDue() {
        let now = WallClock.milliseconds()
        guard now - lastSync >= 1000 else { return }
        lastSync = now
        try? store.writer.execute("PRAGMA wal_checkpoint(PASSIVE)")
    }

    /// Marks a successful SAVE: resets the changes counter.
    public func noteSaved() -> Int64 {
        let position = keyspace.journalPosition
        return lock.withLock {
            savedPosition = position
            return WallClock.milliseconds() / 1000
        }
    }
}

