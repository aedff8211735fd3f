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
/// The consumer (the L3 write batcher) calls ``Keyspace/drainJournal()``, which takes every
/// shard's records at once under all shard locks: a consistent cut, in which every FLUSHDB and
/// FLUSHALL sits at the same place in every shard.
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

/// One change, as taken from the journal: the entry plus the mutable fields read under its lock.
public struct JournalRecord {
    public enum Kind: UInt8, Sendable { case write, delete, expire }
    public let kind: Kind
    /// The entry: its key, database and (for `.write`) value bytes are immutable, so they can be
    /// read without the lock.
    public let entry: Entry
    /// The key's absolute expiry (Unix ms, 0: none) when the record was taken.
    public let expireAt: Int64
    /// For `.expire`: the row holding the stub's value.
    public let row: Int64
}

/// Everything the journal held at one drain, in order: `segments[0]`, then `flushes[0]`, then
/// `segments[1]`, and so on (`segments.count == flushes.count + 1`).
public struct JournalBatch {
    public var segments: [[JournalRecord]]
    /// The database emptied between two segments (nil: all of them).
    public var flushes: [Int?]
    /// The journal position this batch reaches: every change appended before it is in the batch.
    public var position: UInt64
    public var count: Int { segments.reduce(0) { $0 + $1.count } }
    /// Segments before the last FLUSHALL are moot: nothing in them survives it.
    public var firstLiveSegment: Int { (flushes.lastIndex { $0 == nil }).map { $0 + 1 } ?? 0 }
}

/// Counters shared by all shards' journals; the consumer reads them without any lock.
final class JournalCounters: Sendable {
    /// Records appended since start (coalesced changes do not count): the journal's position.
    let appended = Atomic<UInt64>(0)
    /// The position of the last drain.
    let drained = Atomic<UInt64>(0)
    /// Wall-clock ms of the first record appended after the last drain.
    let oldestPending = Atomic<Int64>(0)
    /// Pending records at which the consumer is woken (0: never).
    let threshold = Atomic<Int>(0)
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
        keyspace.journalAppended()
    }

    private func append(_ change: PendingChange, for entry: Entry) {
        entry.header.journalSlot = Int32(journal.count)
        journal.append(change)
        keyspace.journalAppended()
    }

    /// Takes this shard's records (caller holds the lock), split at flushes.
    func takeJournal(into segments: inout [[JournalRecord]], flushes: inout [Int?]) {
        var segment = 0
        for change in journal {
            switch change {
            case .flush(let database):
                segment += 1
                if flushes.count < segment { flushes.append(database) }
                if segments.count <= segment { segments.append([]) }
            case .write(let entry):
                entry.header.journalSlot = -1
                segments[segment].append(JournalRecord(kind: .write, entry: entry, expireAt: entry.header.expireAt, row: 0))
            case .delete(let entry):
                entry.header.journalSlot = -1
                segments[segment].append(JournalRecord(kind: .delete, entry: entry, expireAt: 0, row: 0))
            case .expire(let entry):
                entry.header.journalSlot = -1
                segments[segment].append(JournalRecord(kind: .expire, entry: entry, expireAt: entry.header.expireAt,
                                                       row: entry.header.l3Row))
            }
        }
        journal.removeAll(keepingCapacity: journal.capacity <= 65_536)
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

    /// Takes every pending record of every shard, under all shard locks (a consistent cut).
    public func drainJournal() -> JournalBatch {
        var segments: [[JournalRecord]] = [[]]
        var flushes: [Int?] = []
        lockAll()
        let position = journalCounters.appended.load(ordering: .relaxed)
        for shard in shards where !shard.journal.isEmpty {
            shard.takeJournal(into: &segments, flushes: &flushes)
        }
        journalCounters.drained.store(position, ordering: .relaxed)
        unlockAll()
        return JournalBatch(segments: segments, flushes: flushes, position: position)
    }

    /// A cheap wall clock (CLOCK_REALTIME_COARSE, a few ms of resolution) for journal ages.
    static func coarseMilliseconds() -> Int64 {
        var spec = timespec()
        clock_gettime(CLOCK_REALTIME_COARSE, &spec)
        return Int64(spec.tv_sec) * 1000 + Int64(spec.tv_nsec) / 1_000_000
    }
}
