import CSQLite
import Foundation
import NIOConcurrencyHelpers
import NIOCore
import StrataCommands
import StrataStore
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// How often L3 makes its commits durable, named like Redis's `appendfsync`.
public enum FsyncPolicy: String, Sendable, CaseIterable {
    /// A write's reply waits until the batch holding it has committed with a full sync.
    case always
    /// Replies at once; commits are synced about once a second.
    case everysec
    /// Commits are never explicitly synced; the OS decides.
    case no

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
    public init() {}
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
    public var changesSinceSave = 0
}

/// Collects every keyspace change, coalesces changes to the same key (the last one wins) and
/// commits them to L3 in group transactions on its own thread.
///
/// `@unchecked Sendable`: all mutable state is guarded by `lock` (a condition lock, so the
/// batcher thread can sleep until work arrives or its interval passes); SQLite is touched only
/// by the batcher thread.
public final class WriteBatcher: KeyspaceObserver, @unchecked Sendable {
    private enum Operation {
        case write(Entry)
        case delete(Entry)
        case expire(Entry)
    }

    /// A run of coalesced operations; a flush starts a new segment, so nothing before it can be
    /// written after it.
    private struct Segment {
        var flush: Int?? = .none
        var operations: [EntryKey: Operation] = [:]
    }

    private let store: L3Store
    private let keyspace: Keyspace
    private var settings: BatcherSettings
    private let lock = NIOLock()
    private let wakeup = ConditionLock(value: 0)
    private var segments: [Segment] = [Segment()]
    private var pendingCount = 0
    private var oldestPending: Int64 = 0
    /// Generation of the batch being filled; commits complete generations in order.
    private var openGeneration: Int64 = 1
    private var committedGeneration: Int64 = 0
    private var waiters: [(Int64, EventLoopPromise<Void>)] = []
    private var drainWaiters: [EventLoopPromise<Void>] = []
    private var stats = BatcherStatistics()
    private var stopping = false
    private var lastSync: Int64 = 0
    private let errorFlag = Atomic<Bool>(false)
    private let depth = Atomic<Int>(0)
    private var thread: Thread?
    private let finished = DispatchSemaphore(value: 0)

    public init(store: L3Store, keyspace: Keyspace, settings: BatcherSettings) {
        self.store = store
        self.keyspace = keyspace
        self.settings = settings
        self.policyIndex = Synchronization.Atomic(FsyncPolicy.allCases.firstIndex(of: settings.policy)!)
        self.queueLimit = Synchronization.Atomic(settings.queueLimit)
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
    }

    /// A `synchronous` setting to apply on the batcher thread (after CONFIG SET l3-fsync).
    private var pendingPragma: String?

    /// Whether the last commit failed (writes are refused with -MISCONF until one succeeds).
    public var isFailing: Bool { errorFlag.load(ordering: .relaxed) }

    /// Whether any write is pending or being committed.
    public var hasUncommittedWrites: Bool {
        lock.withLock { pendingCount > 0 || committedGeneration < openGeneration - 1 }
    }

    /// Whether writers should wait for the batcher to catch up.
    @inline(__always)
    public var isBehind: Bool { depth.load(ordering: .relaxed) > queueLimit.load(ordering: .relaxed) }

    public var statistics: BatcherStatistics {
        lock.withLock {
            var s = stats
            s.queueDepth = pendingCount
            s.oldestPendingMilliseconds = pendingCount == 0 ? 0 : max(0, WallClock.milliseconds() - oldestPending)
            return s
        }
    }

    // MARK: - KeyspaceObserver (called under the key's shard lock)

    public func entryWritten(_ entry: Entry) { record(EntryKey(entry), .write(entry)) }
    public func entryDeleted(_ entry: Entry) {
        // While the key index loads (before start()), a stub can only go by active expiry. Its row
        // needs no tombstone (an expired row is dropped at load anyway), and a tombstone committed
        // after loading would delete a newer version of the key loaded after the expired row.
        if !entry.isWarm && lock.withLock({ thread == nil }) { return }
        record(EntryKey(entry), .delete(entry))
    }
    public func stubExpireChanged(_ entry: Entry) { record(EntryKey(entry), .expire(entry)) }

    public func databaseFlushed(_ database: Int?) {
        lock.withLock {
            var segment = Segment()
            segment.flush = .some(database)
            segments.append(segment)
            noteArrival()
        }
        signal()
    }

    private func record(_ key: EntryKey, _ operation: Operation) {
        let count = lock.withLock { () -> Int in
            let index = segments.count - 1
            // An expiry change on top of a pending write is part of that write's row.
            if case .expire = operation, case .write = segments[index].operations[key] {
                return pendingCount
            }
            if segments[index].operations.updateValue(operation, forKey: key) == nil { noteArrival() }
            stats.changesSinceSave += 1
            return pendingCount
        }
        if count >= settings.batchMax { signal() }
    }

    private func noteArrival() {
        if pendingCount == 0 { oldestPending = WallClock.milliseconds() }
        pendingCount += 1
        depth.store(pendingCount, ordering: .relaxed)
    }

    // MARK: - Waiting

    /// A future completed once everything recorded so far is committed (and synced under
    /// `always`). Used for `always` replies, SAVE, and shutdown.
    public func barrier(on eventLoop: any EventLoop) -> EventLoopFuture<Void> {
        let promise = eventLoop.makePromise(of: Void.self)
        let ready = lock.withLock { () -> Bool in
            // Nothing pending: wait only for a batch still being committed, if any.
            let target = pendingCount == 0 ? openGeneration - 1 : openGeneration
            if committedGeneration >= target { return true }
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
            if pendingCount <= settings.queueLimit / 2 { return true }
            drainWaiters.append(promise)
            return false
        }
        if ready { promise.succeed() } else { signal() }
        return promise.futureResult
    }

    // MARK: - The batcher thread

    public func start() {
        let thread = Thread { [self] in
            self.loop()
            self.finished.signal()
        }
        lock.withLock { self.thread = thread }
        thread.start()
    }

    /// Commits everything pending and stops the thread (SIGTERM, SHUTDOWN).
    public func stop() {
        let running = lock.withLock { () -> Bool in
            stopping = true
            return thread != nil
        }
        signal()
        if running { finished.wait() }
    }

    private func signal() {
        wakeup.lock()
        wakeup.unlock(withValue: 1)
    }

    private func loop() {
        while true {
            let (interval, stopping) = lock.withLock { (settings.flushIntervalMilliseconds, self.stopping) }
            // Once stopping, commit what is left without waiting out another interval.
            if !stopping, wakeup.lock(whenValue: 1, timeoutSeconds: Double(interval) / 1000) {
                wakeup.unlock(withValue: 0)
            }
            if let pragma = lock.withLock({ () -> String? in defer { pendingPragma = nil }; return pendingPragma }) {
                try? store.writer.execute("PRAGMA synchronous=\(pragma)")
            }
            let (work, done) = takeWork(force: false)
            if let work { commit(work) }
            syncIfDue()
            if done { break }
        }
    }

    private struct Work {
        var segments: [Segment]
        var generation: Int64
        var count: Int
    }

    /// Takes what is due: everything, when the oldest change is older than the interval, the
    /// batch is full, a writer waits, or the batcher is stopping.
    private func takeWork(force: Bool) -> (Work?, Bool) {
        lock.withLock {
            let age = WallClock.milliseconds() - oldestPending
            let due = force || stopping || !waiters.isEmpty || pendingCount >= settings.batchMax
                || age >= Int64(settings.flushIntervalMilliseconds) || !drainWaiters.isEmpty
            guard pendingCount > 0, due else {
                return (nil, stopping && pendingCount == 0)
            }
            let work = Work(segments: segments, generation: openGeneration, count: pendingCount)
            segments = [Segment()]
            pendingCount = 0
            depth.store(0, ordering: .relaxed)
            openGeneration += 1
            return (work, false)
        }
    }

    private func commit(_ work: Work) {
        let started = WallClock.microseconds()
        var persisted: [(Entry, Int64)] = []
        persisted.reserveCapacity(work.count)
        do {
            try writeTransaction(work, &persisted)
        } catch {
            // Keep the work: put it back in front and retry after a pause. Writes are refused
            // with -MISCONF meanwhile; reads go on.
            lock.withLock {
                stats.failures += 1
                stats.lastError = error.description
                segments = work.segments + segments
                pendingCount += work.count
                depth.store(pendingCount, ordering: .relaxed)
            }
            errorFlag.store(true, ordering: .relaxed)
            usleep(500_000)
            return
        }
        errorFlag.store(false, ordering: .relaxed)
        // One lock acquisition per shard, not per row.
        var byShard: [Int: [(Entry, Int64)]] = [:]
        for (entry, row) in persisted {
            byShard[keyspace.shardIndex(for: entry.keyHash), default: []].append((entry, row))
        }
        for (index, rows) in byShard {
            let shard = keyspace.shards[index]
            shard.lock.withLock { for (entry, row) in rows { shard.markPersisted(entry, row: row) } }
        }
        let finished = WallClock.microseconds()
        let (ready, drained): ([EventLoopPromise<Void>], [EventLoopPromise<Void>]) = lock.withLock {
            committedGeneration = work.generation
            stats.batches += 1
            stats.rowsWritten += work.count
            stats.lastCommitTime = finished / 1000
            stats.lastCommitMicroseconds = finished - started
            var ready: [EventLoopPromise<Void>] = []
            waiters.removeAll { generation, promise in
                if generation <= work.generation { ready.append(promise); return true }
                return false
            }
            var drained: [EventLoopPromise<Void>] = []
            if pendingCount <= settings.queueLimit / 2 {
                drained = drainWaiters
                drainWaiters = []
            }
            return (ready, drained)
        }
        ready.forEach { $0.succeed() }
        drained.forEach { $0.succeed() }
    }

    private var insertStatement: SQLiteStatement?
    private var expireStatement: SQLiteStatement?

    private func writeTransaction(_ work: Work, _ persisted: inout [(Entry, Int64)]) throws(SQLiteError) {
        let db = store.writer
        if insertStatement == nil {
            insertStatement = try db.prepare("INSERT INTO log (db, key, value, expire_at) VALUES (?, ?, ?, ?)")
            expireStatement = try db.prepare("UPDATE log SET expire_at = ? WHERE seq = ?")
        }
        let insert = insertStatement!, expire = expireStatement!
        try db.execute("BEGIN")
        do {
            for segment in work.segments {
                if case .some(let database) = segment.flush {
                    if let database {
                        let statement = try db.prepare("DELETE FROM log WHERE db = ?")
                        statement.bind(1, Int64(database))
                        try statement.step()
                    } else {
                        try db.execute("DELETE FROM log")
                    }
                }
                for (_, operation) in segment.operations {
                    switch operation {
                    case .write(let entry):
                        insert.reset()
                        insert.bind(1, Int64(entry.header.database))
                        entry.withKey { insert.bind(2, $0) }
                        entry.withValue { insert.bind(3, $0) }
                        insert.bind(4, entry.header.expireAt)
                        try insert.step()
                        persisted.append((entry, db.lastInsertRowID))
                    case .delete(let entry):
                        insert.reset()
                        insert.bind(1, Int64(entry.header.database))
                        entry.withKey { insert.bind(2, $0) }
                        insert.bindNull(3)
                        insert.bind(4, 0)
                        try insert.step()
                    case .expire(let entry):
                        expire.reset()
                        expire.bind(1, entry.header.expireAt)
                        expire.bind(2, entry.header.l3Row)
                        try expire.step()
                    }
                }
            }
            insert.reset()
            expire.reset()
            try db.execute("COMMIT")
        } catch {
            insert.reset()
            expire.reset()
            try? db.execute("ROLLBACK")
            throw error
        }
    }

    /// Under `everysec`, makes the WAL durable about once a second.
    private func syncIfDue() {
        guard policy == .everysec else { return }
        let now = WallClock.milliseconds()
        guard now - lastSync >= 1000 else { return }
        lastSync = now
        try? store.writer.execute("PRAGMA wal_checkpoint(PASSIVE)")
    }

    /// Marks a successful SAVE: resets the changes counter.
    public func noteSaved() -> Int64 {
        lock.withLock {
            stats.changesSinceSave = 0
            return WallClock.milliseconds() / 1000
        }
    }
}

/// An entry's (database, key) identity, hashable without copying the key.
struct EntryKey: Hashable {
    let entry: Entry

    init(_ entry: Entry) { self.entry = entry }

    static func == (a: EntryKey, b: EntryKey) -> Bool {
        a.entry.header.database == b.entry.header.database
            && a.entry.withKey { x in b.entry.withKey { y in x.elementsEqual(y) } }
    }

    func hash(into hasher: inout Hasher) {
        // The keyspace already hashed the key; no need to hash its bytes again on every write.
        hasher.combine(entry.header.database)
        hasher.combine(entry.keyHash)
    }
}
