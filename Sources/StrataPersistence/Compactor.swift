import StrataStore

/// Removes superseded rows from L3's append-only log, in the background, on the batcher thread.
///
/// Every write appends a row, so overwrites and deletions leave dead rows behind. When dead rows
/// outnumber live keys (and are at least ``minimumDeadRows``), a *pass* walks the log in `seq`
/// order, a chunk at a time between the batcher's commits, and deletes every row the keyspace no
/// longer needs. Walking in `seq` order touches pages sequentially, and freed pages are reused by
/// later appends, so the file stays within about twice the live data.
///
/// Which rows are dead is decided against the in-memory key index, which knows each key's
/// committed row (``CommittedRow``); see ``verdict(seq:current:heldBack:)``.
struct Compactor {
    /// Dead rows below which no pass starts (small files are not worth the work).
    static let minimumDeadRows: Int64 = 10_000
    /// Rows examined per chunk.
    static let chunkRows = 2_048
    /// Compaction work per batcher iteration, and the pause between two slices: about half of
    /// one core while a pass runs, so that commits and the event loops keep most of the machine.
    static let sliceMilliseconds: Int64 = 10
    static let pauseMilliseconds = 10

    enum Verdict: Equatable { case keep, delete, keepAndHoldBack }

    /// What to do with row `seq` of a key, given the key's state now.
    ///
    /// - A row of a key whose current version is not committed yet is kept: it may be the only
    ///   durable copy until that version commits. So is every later row of that key in the same
    ///   pass (`heldBack`): a tombstone must not go while an older row of its key stays.
    /// - A key that no longer exists needs none of its rows: its deletion was acknowledged, so
    ///   dropping the rows early only makes it durable sooner. Its tombstones go too: every older
    ///   row of the key came earlier in this pass and was deleted (or held back, see above).
    /// - Otherwise the row is live exactly when it is the key's committed row; older rows are
    ///   superseded. A row newer than the committed one cannot happen; it is kept, to be safe.
    static func verdict(seq: Int64, current: CommittedRow, heldBack: Bool) -> Verdict {
        if heldBack { return .keepAndHoldBack }
        switch current {
        case .absent: return .delete
        case .pending: return .keepAndHoldBack
        case .row(let row):
            if row == seq { return .keep }
            return row > seq ? .delete : .keepAndHoldBack
        }
    }

    /// A key, for the held-back set.
    private struct HeldKey: Hashable {
        var database: Int
        var key: [UInt8]
    }

    private let store: L3Store
    private let keyspace: Keyspace
    private var selectStatement: SQLiteStatement?
    private var deleteStatement: SQLiteStatement?
    /// The pass in progress: next row to examine, last row of the pass, keys held back.
    private var cursor: Int64 = 0
    private var passEnd: Int64 = -1
    private var heldBack: Set<HeldKey> = []
    /// Rows in the file (an estimate kept from inserts and deletes).
    private(set) var rowsInFile: Int64 = 0
    private(set) var passes = 0
    private(set) var rowsCompacted: Int64 = 0
    private var checkedAt: Int64 = 0

    init(store: L3Store, keyspace: Keyspace) {
        self.store = store
        self.keyspace = keyspace
    }

    var isActive: Bool { passEnd >= cursor }

    /// Counts the file's rows (once, when the batcher starts).
    mutating func countRows() {
        rowsInFile = (try? store.writer.integer("SELECT count(*) FROM log")) ?? 0
    }

    mutating func noteInserted(_ rows: Int) { rowsInFile += Int64(rows) }
    mutating func noteDeleted(_ rows: Int64) { rowsInFile = max(0, rowsInFile - rows) }

    /// Starts a pass when dead rows outnumber live keys; checked at most once a second.
    mutating func startIfDue(now: Int64) {
        guard !isActive, now - checkedAt >= 1000 else { return }
        checkedAt = now
        let live = Int64(keyspace.totalKeyCount())
        let dead = rowsInFile - live
        guard dead >= Compactor.minimumDeadRows, dead > live else { return }
        guard let last = try? store.writer.integer("SELECT coalesce(max(seq), 0) FROM log") else { return }
        cursor = 0
        passEnd = last
        heldBack = []
        passes += 1
    }

    /// Examines and cleans one chunk in its own transaction. Returns the rows deleted.
    mutating func step() throws(SQLiteError) -> Int {
        guard isActive else { return 0 }
        let db = store.writer
        if selectStatement == nil {
            selectStatement = try db.prepare(
                "SELECT seq, db, key FROM log WHERE seq >= ? AND seq <= ? ORDER BY seq LIMIT ?")
            deleteStatement = try db.prepare("DELETE FROM log WHERE seq >= ? AND seq <= ?")
        }
        let select = selectStatement!, delete = deleteStatement!
        // Dead rows as runs of consecutive examined rows: no other row lies between two rows of a
        // run (the SELECT returned every row in its range, and new rows only go after the pass),
        // so each run goes with one range DELETE instead of one per row.
        var doomed: [ClosedRange<Int64>] = []
        var doomedRows = 0
        var examined = 0
        var last = cursor - 1
        select.bind(1, cursor)
        select.bind(2, passEnd)
        select.bind(3, Int64(Compactor.chunkRows))
        defer { select.reset() }
        while try select.step() {
            examined += 1
            let seq = select.int64(0)
            let database = Int(select.int64(1))
            let previous = last
            last = seq
            select.withBlob(2) { key in
                let hash = keyspace.hasher.hash(key)
                let shard = keyspace.shard(for: hash)
                let current = shard.lock.withLock { shard.committedRow(database: database, key: key, hash: hash) }
                let held = !heldBack.isEmpty && heldBack.contains(HeldKey(database: database, key: Array(key)))
                switch Compactor.verdict(seq: seq, current: current, heldBack: held) {
                case .keep:
                    break
                case .delete:
                    // The row just before it in this chunk was dead too: the run grows.
                    if let run = doomed.last, run.upperBound == previous {
                        doomed[doomed.count - 1] = run.lowerBound...seq
                    } else {
                        doomed.append(seq...seq)
                    }
                    doomedRows += 1
                case .keepAndHoldBack:
                    heldBack.insert(HeldKey(database: database, key: Array(key)))
                }
            }
        }
        select.reset()
        if examined < Compactor.chunkRows {
            passEnd = -1 // pass complete
            heldBack = []
        } else {
            cursor = last + 1
        }
        guard !doomed.isEmpty else { return 0 }
        defer { delete.reset() }
        try db.transaction { () throws(SQLiteError) in
            for run in doomed {
                delete.reset()
                delete.bind(1, run.lowerBound)
                delete.bind(2, run.upperBound)
                try delete.step()
            }
        }
        rowsCompacted += Int64(doomedRows)
        noteDeleted(Int64(doomedRows))
        return doomedRows
    }
}
