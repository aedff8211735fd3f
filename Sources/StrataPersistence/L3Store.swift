import CSQLite
import StrataStore
import NIOConcurrencyHelpers

/// The SQLite file behind the L3 tier: an append-only log of key versions.
///
/// Every write appends a row (`seq` ascending, so inserts go to the end of the B-tree and cost
/// sequential I/O instead of one random page per key); a deletion appends a tombstone (NULL
/// value). The newest row of a key wins. The in-memory keyspace knows each key's current row,
/// so a cold read is one rowid lookup, and a key that exists nowhere costs no disk read at all.
/// See docs/durability.md.
public final class L3Store: @unchecked Sendable {
    /// Schema version written to `PRAGMA user_version`; files from a newer version are refused.
    public static let schemaVersion: Int64 = 2
    /// Page size of new files.
    public static let pageSize = 8192

    public let path: String
    /// The batcher connection's page cache limit.
    public let pageCacheBytes: Int
    /// The batcher's connection: used only on the batcher thread.
    let writer: SQLiteConnection
    /// Read-only connections for cold reads, one per reader thread at a time.
    /// `@unchecked Sendable`: the pool array is guarded by `readersLock`.
    private var readers: [SQLiteConnection] = []
    private let readersLock = NIOLock()
    /// The connection that reads and writes the function libraries (FUNCTION LOAD…), opened
    /// on first use; guarded by `librariesLock`, which also orders the writes.
    private var librariesConnection: SQLiteConnection?
    private let librariesLock = NIOLock()

    public init(path: String, synchronous: String, pageCacheBytes: Int = 64 << 20) throws(SQLiteError) {
        self.path = path
        self.pageCacheBytes = pageCacheBytes
        writer = try SQLiteConnection(path: path)
        // Refuse a file that is not ours or is damaged before touching it.
        let check = try writer.prepare("PRAGMA quick_check")
        if try check.step() {
            let verdict = check.withBlob(0) { String(decoding: $0, as: UTF8.self) }
            check.reset()
            if verdict != "ok" { throw SQLiteError(code: SQLITE_CORRUPT, message: "integrity check failed: \(verdict)") }
        }
        check.reset()
        let version = try writer.integer("PRAGMA user_version")
        if version > L3Store.schemaVersion {
            throw SQLiteError(code: SQLITE_MISMATCH,
                              message: "database schema version \(version) is newer than this Strata supports (\(L3Store.schemaVersion))")
        }
        let tables = try writer.integer("SELECT count(*) FROM sqlite_schema")
        if version == 0 && tables == 0 {
            // A new file: 8 KiB pages. Appending 1M 64-byte rows, 64 per INSERT, ran at 1.37–1.52M
            // rows/s against 1.22–1.24M with 4 KiB pages (bench/sqlite_raw.c -p); 16 and 32 KiB
            // gained no more and cost cold reads more bytes per page. Only possible before the
            // first table and before WAL mode; an existing file keeps its page size.
            try writer.execute("PRAGMA page_size=\(L3Store.pageSize)")
        }
        try writer.execute("PRAGMA journal_mode=WAL")
        try writer.execute("PRAGMA synchronous=\(synchronous)")
        try writer.execute("PRAGMA cache_size=-\(max(1, pageCacheBytes / 1024))")
        // A checkpoint once the WAL holds about 40 MB, whatever the file's page size.
        let pageSize = try writer.integer("PRAGMA page_size")
        try writer.execute("PRAGMA wal_autocheckpoint=\(40_960_000 / max(pageSize, 512))")
        try migrate(from: version)
        // The function libraries: one row per library, its FUNCTION LOAD payload. A table of its
        // own, not in the log, so it needs no schema version (older builds ignore it).
        try writer.execute("CREATE TABLE IF NOT EXISTS functions (seq INTEGER PRIMARY KEY, code BLOB NOT NULL)")
    }

    private func withLibrariesConnection<R>(_ body: (SQLiteConnection) throws(SQLiteError) -> R) throws(SQLiteError) -> R {
        librariesLock.lock()
        defer { librariesLock.unlock() }
        if let connection = librariesConnection { return try body(connection) }
        let connection = try SQLiteConnection(path: path)
        // Every change of the libraries is synced before it is acknowledged, whatever `l3-fsync` says.
        try connection.execute("PRAGMA synchronous=FULL")
        librariesConnection = connection
        return try body(connection)
    }

    /// The payloads of the function libraries, in the order they were written.
    public func readLibraries() throws(SQLiteError) -> [[UInt8]] {
        try withLibrariesConnection { connection throws(SQLiteError) in
            let statement = try connection.prepare("SELECT code FROM functions ORDER BY seq")
            defer { statement.reset() }
            var codes: [[UInt8]] = []
            while try statement.step() { codes.append(statement.withBlob(0) { Array($0) }) }
            return codes
        }
    }

    /// Replaces the function libraries with those `snapshot` returns, read under the lock that
    /// orders the writes (so a later write never stores an older set), in one transaction.
    public func writeLibraries(_ snapshot: () -> [[UInt8]]) throws(SQLiteError) {
        try withLibrariesConnection { connection throws(SQLiteError) in
            let codes = snapshot()
            try connection.transaction { () throws(SQLiteError) in
                try connection.execute("DELETE FROM functions")
                let insert = try connection.prepare("INSERT INTO functions (code) VALUES (?)")
                for code in codes {
                    code.withUnsafeBytes { insert.bind(1, $0) }
                    defer { insert.reset() }
                    try insert.step()
                }
            }
        }
    }

    private func migrate(from version: Int64) throws(SQLiteError) {
        if version < 1 {
            try writer.execute("""
                BEGIN;
                CREATE TABLE IF NOT EXISTS log (
                    seq INTEGER PRIMARY KEY,
                    db INTEGER NOT NULL,
                    key BLOB NOT NULL,
                    value BLOB,
                    expire_at INTEGER NOT NULL DEFAULT 0
                );
                PRAGMA user_version = 1;
                COMMIT;
                """)
        }
        if version < 2 {
            // Version 2: values of every Redis type. `type` is ValueKind's raw value (0: string,
            // the only type version 1 had); a collection's value is its encoding.
            try writer.execute("""
                BEGIN;
                ALTER TABLE log ADD COLUMN type INTEGER NOT NULL DEFAULT 0;
                PRAGMA user_version = 2;
                COMMIT;
                """)
        }
    }

    /// One row as start-up recovery sees it (its value stays on disk).
    public struct RowHeader {
        public var seq: Int64
        public var database: Int
        public var expireAt: Int64
        public var isTombstone: Bool
        /// The value's type (a row of a type this build does not know reads as a tombstone).
        public var kind: ValueKind
    }

    /// Reads every row in order (start-up recovery), with its key.
    public func scan(_ row: (RowHeader, UnsafeRawBufferPointer) -> Void) throws(SQLiteError) {
        let statement = try writer.prepare("SELECT seq, db, key, expire_at, value IS NULL, type FROM log ORDER BY seq")
        defer { statement.reset() }
        while try statement.step() {
            let kind = ValueKind(rawValue: UInt8(truncatingIfNeeded: statement.int64(5)))
            let header = RowHeader(seq: statement.int64(0), database: Int(statement.int64(1)),
                                   expireAt: statement.int64(3), isTombstone: statement.int64(4) != 0 || kind == nil,
                                   kind: kind ?? .string)
            statement.withBlob(2) { row(header, $0) }
        }
    }

    public var rowCount: Int64 { (try? writer.integer("SELECT count(*) FROM log")) ?? 0 }

    /// Rows: the statement is reset before returning so it holds no read transaction open.
    func integerReset(_ sql: String) throws(SQLiteError) -> Int64 { try writer.integer(sql) }

    /// Reads one value by row (a cold read). Runs on a reader thread, never an event loop.
    public func readValue(row: Int64) throws(SQLiteError) -> (kind: ValueKind, bytes: [UInt8])? {
        let connection = try takeReader()
        defer { returnReader(connection) }
        let statement = try connection.prepare("SELECT value, type FROM log WHERE seq = ?")
        statement.bind(1, row)
        defer { statement.reset() }
        guard try statement.step(), !statement.isNull(0),
              let kind = ValueKind(rawValue: UInt8(truncatingIfNeeded: statement.int64(1))) else { return nil }
        return (kind, statement.withBlob(0) { Array($0) })
    }

    private func takeReader() throws(SQLiteError) -> SQLiteConnection {
        if let connection = readersLock.withLock({ readers.popLast() }) { return connection }
        return try SQLiteConnection(path: path, readOnly: true)
    }

    private func returnReader(_ connection: SQLiteConnection) {
        readersLock.withLock { readers.append(connection) }
    }
}
