import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// The keyspace's record of changes not yet handed to the cold tier (L3).
///
/// Every write appends to its shard's journal under the shard lock the write already holds: no
/// other lock, no hashing, no allocation beyond the array's amortized growth. Changes to the same
/// key coalesce in place: an entry remembers its record's slot (``EntryHeader/journalSlot``), so a
/// new version of a key overwrites the pending record of the version it replaces, and a TTL change
/// of a pending entry needs no record at all (the drain reads the entry's current TTL). So the
/// journal holds at most one record per key between two drains, and memory stays bounded by the
/// number of distinct keys written, not the number of writes.
///
/// The consumer (the L3 write batcher) calls ``Keyspace/drainJournal(nextRow:)``, which takes
/// each shard's records under that shard's lock alone, so a drain holds up only the writers of one
/// shard at a time, and only for as long as it copies that shard's records. A FLUSHDB or FLUSHALL
/// puts a marker in every shard's journal under all shard locks; while a marker is pending, the
/// drain takes every shard at once under all locks instead: a consistent cut, in which each
/// marker sits at the same place in every shard.
enum PendingChange {
    /// The entry is a key's current version (new value or TTL).
    case write(Entry)
    /// The entry's key was deleted.
    case delete(Entry)
    /// A cold stub's TTL changed (its value is not in memory: the row is updated in place).
    case expire(Entry)
    /// A database (or all, when nil) was emptied.
    case flush(Int?)
}

/// One change, as taken from the journal: plain values only. The drain copies the key and value
/// bytes into the batch (``JournalBatch/bytes``), so the consumer holds no entry: it never touches
/// an entry's reference count from its thread, and an overwritten version is freed at once.
public struct JournalRecord: Sendable {
    public enum Kind: UInt8, Sendable { case write, delete, expire }
    public var kind: Kind
    public var database: UInt8
    /// The value's type (`.write` only); a collection's value is its encoding (see ``CollectionValue/encoded()``).
    public var valueKind: ValueKind = .string
    public var keyLength: UInt32
    /// The value's length (`.write` only).
    public var valueLength: UInt32
    /// Where the key's bytes start in the batch's `bytes`; the value's follow them.
    public var offset: Int
    /// The key's absolute expiry (Unix ms, 0: none) when the record was taken.
    public var expireAt: Int64
    /// `.write` and `.delete`: the L3 row this record becomes (assigned at the drain, ascending).
    /// `.expire`: the existing row holding the stub's value.
    public var row: Int64

    /// The key's bytes within `bytes` (the batch's ``JournalBatch/bytes``).
    @inline(__always)
    public func key(in bytes: UnsafeRawBufferPointer) -> UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(rebasing: bytes[offset..<offset + Int(keyLength)])
    }

    /// The value's bytes within `bytes` (empty unless `.write`).
    @inline(__always)
    public func value(in bytes: UnsafeRawBufferPointer) -> UnsafeRawBufferPointer {
        let start = offset + Int(keyLength)
        return UnsafeRawBufferPointer(rebasing: bytes[start..<start + Int(valueLength)])
    }
}

/// Everything the journal held at one drain, in order: `segments[0]`, then `flushes[0]`, then
/// `segments[1]`, and so on (`segments.count == flushes.count + 1`).
public struct JournalBatch: Sendable {
    public var segments: [[JournalRecord]]
    /// The database emptied between two segments (nil: all of them).
    public var flushes: [Int?]
    /// The records' key and value bytes.
    public var bytes: [UInt8]
    /// The journal position this batch reaches: every change appended before it is in the batch.
    public var position: UInt64
    /// The first row number after this batch's rows: once the batch is committed, every row
    /// below it is (see ``Keyspace/noteCommitted(rowsBelow:)``).
    public var rowLimit: Int64
    public var count: Int { segments.reduce(0) { $0 + $1.count } }
    /// Segments before the last FLUSHALL are moot: nothing in them survives it.
    public var firstLiveSegment: Int { (flushes.lastIndex { $0 == nil }).map { $0 + 1 } ?? 0 }

    /// The key of `record`, valid during the call.
    public func withKey<R>(of record: JournalRecord, _ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try bytes.withUnsafeBytes { try body(record.key(in: $0)) }
    }

    /// The value of a `.write` record, valid during the call.
    public func withValue<R>(of record: JournalRecord, _ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try bytes.withUnsafeBytes { try body(record.value(in: $0)) }
    }
}

/// Counters shared by all shards' journals; the consumer reads them without any lock.
final class JournalCounters: Sendable {
    /// Records appended since start (coalesced changes do not count): the journal's position.
    /// Every journaled write adds to it, so it has a cache line of its own; the fields below are
    /// read by every write and written only by drains and commits (see ``CacheLinePadding``).
    private let paddingBeforeAppended = cacheLinePadding
    let appended = Atomic<UInt64>(0)
    private let paddingAfterAppended = cacheLinePadding
    /// Records taken by drains since start.
    let drained = Atomic<UInt64>(0)
    /// Wall-clock ms of the first record appended after the last drain.
    let oldestPending = Atomic<Int64>(0)
    /// Pending records at which the consumer is woken (0: never).
    let threshold = Atomic<Int>(0)
    /// L3 rows below this are committed (see ``Keyspace/noteCommitted(rowsBelow:)``).
    let committedRows = Atomic<Int64>(0)
}

/// Called when the journal reaches its threshold; must be quick (it runs under a shard lock).
public protocol JournalConsumer: AnyObject, Sendable {
    func journalReachedThreshold()
}

extension Shard {
    /// `entry` is a key's current version: new (`replacing` nil), or the successor of `old`.
    @inline(__always)
    func journalWrite(_ entry: Entry, replacing old: Entry?) {
        guard keyspace.journalOpen else { return }
        if let old, old.header.journalSlot >= 0 {
            let slot = Int(old.header.journalSlot)
            journal[slot] = .write(entry)
            entry.header.journalSlot = old.header.journalSlot
            old.header.journalSlot = -1
            return
        }
        if entry.header.journalSlot >= 0 {
            // Already pending (maybe as a stub's TTL change it took over): now a whole write.
            journal[Int(entry.header.journalSlot)] = .write(entry)
            return
        }
        append(.write(entry), for: entry)
    }

    /// A cold stub's TTL changed.
    @inline(__always)
    func journalExpire(_ stub: Entry) {
        guard keyspace.journalOpen, stub.header.journalSlot < 0 else { return }
        append(.expire(stub), for: stub)
    }

    /// `entry`'s key was deleted.
    @inline(__always)
    func journalDelete(_ entry: Entry) {
        guard keyspace.journalOpen else { return }
        if entry.header.journalSlot >= 0 {
            journal[Int(entry.header.journalSlot)] = .delete(entry)
            return
        }
        append(.delete(entry), for: entry)
    }

    /// A stub became warm: its pending TTL change (if any) now belongs to the warm entry.
    func journalMove(from stub: Entry, to entry: Entry) {
        guard stub.header.journalSlot >= 0 else { return }
        journal[Int(stub.header.journalSlot)] = .expire(entry)
        entry.header.journalSlot = stub.header.journalSlot
        stub.header.journalSlot = -1
    }

    /// Called under every shard lock (FLUSHDB/FLUSHALL).
    func journalFlush(_ database: Int?) {
        guard keyspace.journalOpen else { return }
        journal.append(.flush(database))
        journalFlushes += 1
        keyspace.journalAppended()
    }

    private func append(_ change: PendingChange, for entry: Entry) {
        entry.header.journalSlot = Int32(journal.count)
        journal.append(change)
        keyspace.journalAppended()
    }

    /// Takes this shard's records (caller holds the lock), split at flushes. Each written entry
    /// learns the row its version becomes (`nextRow` onwards); it counts as committed there once
    /// the batch is (``Keyspace/noteCommitted(rowsBelow:)``).
    func takeJournal(into batch: inout JournalBatch, nextRow: inout Int64) {
        var segment = 0
        // Each change is moved out of its slot, which is left holding a trivial value: taking a
        // change costs no retain, and its release is the only reference-count write on the entry.
        journal.withUnsafeMutableBufferPointer { changes in
            guard let first = changes.baseAddress else { return }
            for slot in first..<first + changes.count {
                let change = slot.move()
                slot.initialize(to: .flush(nil))
                switch change {
                case .flush(let database):
                    segment += 1
                    if batch.flushes.count < segment { batch.flushes.append(database) }
                    if batch.segments.count <= segment { batch.segments.append([]) }
                case .write(let entry):
                    entry.header.journalSlot = -1
                    entry.header.l3Row = nextRow
                    batch.segments[segment].append(copy(entry, kind: .write, row: nextRow, into: &batch.bytes))
                    nextRow += 1
                case .delete(let entry):
                    entry.header.journalSlot = -1
                    batch.segments[segment].append(copy(entry, kind: .delete, row: nextRow, into: &batch.bytes))
                    nextRow += 1
                case .expire(let entry):
                    entry.header.journalSlot = -1
                    batch.segments[segment].append(JournalRecord(
                        kind: .expire, database: entry.header.database, keyLength: 0, valueLength: 0,
                        offset: batch.bytes.count, expireAt: entry.header.expireAt, row: entry.header.l3Row))
                }
            }
        }
        journal.removeAll(keepingCapacity: journal.capacity <= 65_536)
        journalFlushes = 0
    }

    @inline(__always)
    private func copy(_ entry: Entry, kind: JournalRecord.Kind, row: Int64, into bytes: inout [UInt8]) -> JournalRecord {
        let (key, value) = entry.unsafeKeyAndValue
        var record = JournalRecord(
            kind: kind, database: entry.header.database, keyLength: UInt32(key.count),
            valueLength: kind == .write ? UInt32(value.count) : 0, offset: bytes.count,
            expireAt: kind == .write ? entry.header.expireAt : 0, row: row)
        bytes.append(contentsOf: key)
        if kind == .write {
            if let collection = entry.collection {
                // Encoded now, under the shard's lock: the batch holds this version whatever
                // the collection becomes later. Changes between two drains cost one encoding.
                let start = bytes.count
                collection.encode(appendingTo: &bytes)
                record.valueKind = collection.kind
                record.valueLength = UInt32(bytes.count - start)
            } else {
                bytes.append(contentsOf: value)
            }
        }
        return record
    }
}

extension Keyspace {
    /// Starts journaling every change for `consumer`, woken when `threshold` records are pending.
    /// Takes every shard lock, so each write either is journaled or happened before.
    public func openJournal(consumer: any JournalConsumer, threshold: Int) {
        lockAll()
        journalConsumer = consumer
        journalCounters.threshold.store(threshold, ordering: .relaxed)
        journalOpen = true
        unlockAll()
    }

    public func setJournalThreshold(_ threshold: Int) {
        journalCounters.threshold.store(threshold, ordering: .relaxed)
    }

    @inline(__always)
    func journalAppended() {
        let counters = journalCounters
        let before = counters.appended.wrappingAdd(1, ordering: .relaxed).oldValue
        let pending = Int(truncatingIfNeeded: before &- counters.drained.load(ordering: .relaxed))
        if pending == 0 { counters.oldestPending.store(Keyspace.coarseMilliseconds(), ordering: .relaxed) }
        if pending + 1 == counters.threshold.load(ordering: .relaxed) { journalConsumer?.journalReachedThreshold() }
    }

    /// Records appended and not yet drained.
    public var journalDepth: Int {
        let drained = journalCounters.drained.load(ordering: .relaxed)
        return Int(truncatingIfNeeded: journalCounters.appended.load(ordering: .relaxed) &- drained)
    }

    /// The journal's current position: a drain that reaches it holds every change made so far.
    public var journalPosition: UInt64 { journalCounters.appended.load(ordering: .acquiring) }

    /// Wall-clock ms of the oldest record not yet drained (meaningful while `journalDepth > 0`).
    public var journalOldestPending: Int64 { journalCounters.oldestPending.load(ordering: .relaxed) }

    /// Takes every pending record of every shard. Written versions get rows `nextRow`,
    /// `nextRow + 1`, … (advanced past them), in journal order within each shard, so a key's rows
    /// ascend in the order of its changes.
    ///
    /// Shards are taken one at a time under their own lock. Every change counted in the position
    /// read first was appended (under its shard's lock) before that count, so the batch holds it.
    /// Changes appended meanwhile may be in the batch too (a shard taken later) or not (one taken
    /// earlier); when none is left behind, the batch reaches the position read at the end.
    /// Without that, a batch that took every change appended during it would report the earlier
    /// position, nothing would be left to drain, and a SAVE waiting for the later one would wait
    /// forever. Once a shard holds a flush marker, the rest is taken under all locks (a
    /// consistent cut): the shards taken before then hold only changes from before that flush.
    public func drainJournal(nextRow: inout Int64) -> JournalBatch {
        var batch = JournalBatch(segments: [[]], flushes: [], bytes: [], position: 0, rowLimit: nextRow)
        let counters = journalCounters
        // Only drains change `drained`, and only one consumer drains.
        let drainedBefore = counters.drained.load(ordering: .relaxed)
        batch.position = counters.appended.load(ordering: .acquiring)
        batch.bytes.reserveCapacity(Int(truncatingIfNeeded: batch.position &- drainedBefore) * 96)
        var taken = 0
        var flushPending = false
        for shard in shards {
            shard.lock.lock()
            if shard.journalFlushes > 0 {
                shard.lock.unlock()
                flushPending = true
                break
            }
            taken += shard.journal.count
            if !shard.journal.isEmpty { shard.takeJournal(into: &batch, nextRow: &nextRow) }
            shard.lock.unlock()
        }
        if flushPending {
            lockAll()
            batch.position = counters.appended.load(ordering: .relaxed)
            for shard in shards where !shard.journal.isEmpty {
                taken += shard.journal.count
                shard.takeJournal(into: &batch, nextRow: &nextRow)
            }
            unlockAll()
        }
        let drained = drainedBefore &+ UInt64(taken)
        counters.drained.store(drained, ordering: .relaxed)
        let appended = counters.appended.load(ordering: .acquiring)
        if appended == drained {
            batch.position = appended
        } else {
            // Writers appending meanwhile saw records still pending and left the oldest-pending
            // time alone; theirs are no older than this drain.
            counters.oldestPending.store(Keyspace.coarseMilliseconds(), ordering: .relaxed)
        }
        batch.rowLimit = nextRow
        return batch
    }

    /// Every row below `limit` is committed in L3: entries stored there may leave memory.
    public func noteCommitted(rowsBelow limit: Int64) {
        journalCounters.committedRows.store(limit, ordering: .releasing)
    }

    /// Whether L3 row `row` (0: none) holds a committed version.
    @inline(__always)
    func isCommittedRow(_ row: Int64) -> Bool {
        row != 0 && row < journalCounters.committedRows.load(ordering: .acquiring)
    }

    /// Whether `entry`'s value is committed to L3 and unchanged since (so it may leave memory).
    @inline(__always)
    func isCommitted(_ entry: Entry) -> Bool {
        entry.isWarm && entry.header.journalSlot < 0 && isCommittedRow(entry.header.l3Row)
    }

    /// A cheap wall clock (CLOCK_REALTIME_COARSE, a few ms of resolution) for journal ages.
    static func coarseMilliseconds() -> Int64 {
        var spec = timespec()
        clock_gettime(CLOCK_REALTIME_COARSE, &spec)
        return Int64(spec.tv_sec) * 1000 + Int64(spec.tv_nsec) / 1_000_000
    }
}
