/// Which in-memory tier an entry is in.
public enum Tier: UInt8, Sendable {
    /// Hot: keys accessed again while warm.
    case l1 = 1
    /// Warm: new and once-touched keys.
    case l2 = 2
    /// Cold: only in L3 (SQLite). The entry is a stub: key and metadata, no value bytes.
    case l3 = 3
}

/// Fixed fields of an ``Entry``; the key and value bytes follow it in the same allocation.
///
/// 64 bytes (``EntryHeader/size``): three links, then the expiry, one word packing the L3 row
/// with the small fields, and six 32-bit fields (the low bits of the key's hash share one with
/// the database). Every key pays for it, so the small fields are packed; the accessors below
/// (``l3Row``, ``frequency``, ``tier``, ``typeBits``, ``hashBits``, ``database``) read and write
/// them as if they were plain fields.
public struct EntryHeader {
    /// Chain link within a hash bucket.
    var chainNext: Entry?
    /// LRU links, unowned: the hash table's chains own every entry, and ``Shard`` unlinks an entry
    /// from its tier list whenever it leaves the table. (Owning links would also release a long
    /// list recursively, one stack frame per entry.)
    unowned(unsafe) var lruNext: Entry?
    unowned(unsafe) var lruPrev: Entry?
    /// Absolute expiry in Unix milliseconds; 0 when the key does not expire. All 64 bits: Redis
    /// accepts any expiry up to `Int64.max` ms (PEXPIREAT k 9223372036854775807).
    public internal(set) var expireAt: Int64
    /// Bits 0–47: ``l3Row``; 48–55: ``frequency``; 56–57: ``tier``; 58–62: ``typeBits``; bit 63 unused.
    @usableFromInline var rowAndFlags: UInt64
    /// Bits 0–23: ``hashBits``; 24–31: ``database``.
    @usableFromInline var hashAndDatabase: UInt32
    @usableFromInline var keyLength: UInt32
    @usableFromInline var valueLength: UInt32
    /// Index in the shard's list of keys with a TTL, or -1.
    var volatileIndex: Int32
    /// Last access, in seconds since the keyspace started (for OBJECT IDLETIME and LRU sampling).
    public internal(set) var lastAccess: UInt32
    /// Index of this entry's pending record in its shard's journal, or -1 (see Journal.swift).
    @usableFromInline var journalSlot: Int32

    init(expireAt: Int64, hash: UInt64, keyLength: UInt32, valueLength: UInt32, lastAccess: UInt32,
         database: UInt8, typeBits: UInt8) {
        chainNext = nil
        lruNext = nil
        lruPrev = nil
        self.expireAt = expireAt
        rowAndFlags = UInt64(Tier.l2.rawValue) << 56 | UInt64(typeBits & 0x1F) << 58
        hashAndDatabase = UInt32(truncatingIfNeeded: hash) & EntryHeader.hashMask | UInt32(database) << 24
        self.keyLength = keyLength
        self.valueLength = valueLength
        volatileIndex = -1
        self.lastAccess = lastAccess
        journalSlot = -1
    }

    /// The header's size in bytes; a unit test pins it so that it cannot grow back unnoticed.
    public static var size: Int { MemoryLayout<EntryHeader>.size }

    /// How many low bits of the key's hash an entry keeps (``hashBits``).
    public static let storedHashBits = 24
    @usableFromInline static let hashMask: UInt32 = (1 << 24) - 1

    /// The largest L3 row an entry can name: 2^48 - 1 (at a million writes a second, nine years).
    public static let maxL3Row: Int64 = (1 << 48) - 1
}

extension EntryHeader {
    /// The L3 row holding this version of the key (0: none yet), 0…``maxL3Row``. A row is
    /// assigned when the journal is drained; it holds the value once the batch commits
    /// (``Keyspace/isCommitted(_:)``).
    public internal(set) var l3Row: Int64 {
        @inline(__always) get { Int64(bitPattern: rowAndFlags & 0x0000_FFFF_FFFF_FFFF) }
        @inline(__always) set {
            precondition(newValue >= 0 && newValue <= EntryHeader.maxL3Row, "L3 row out of range")
            rowAndFlags = (rowAndFlags & 0xFFFF_0000_0000_0000) | UInt64(newValue)
        }
    }

    /// Accesses, saturating at 255; for OBJECT FREQ.
    public internal(set) var frequency: UInt8 {
        @inline(__always) get { UInt8(truncatingIfNeeded: rowAndFlags >> 48) }
        @inline(__always) set { rowAndFlags = (rowAndFlags & ~(0xFF << 48)) | UInt64(newValue) << 48 }
    }

    /// The in-memory tier (2 bits).
    public internal(set) var tier: Tier {
        @inline(__always) get { Tier(rawValue: UInt8(truncatingIfNeeded: rowAndFlags >> 56) & 0x03).unsafelyUnwrapped }
        @inline(__always) set { rowAndFlags = (rowAndFlags & ~(0x03 << 56)) | UInt64(newValue.rawValue) << 56 }
    }

    /// The value's type (low 3 bits) and, for a string, its ``StringEncoding`` (the next 2 bits).
    @usableFromInline var typeBits: UInt8 {
        @inline(__always) get { UInt8(truncatingIfNeeded: rowAndFlags >> 58) & 0x1F }
        @inline(__always) set { rowAndFlags = (rowAndFlags & ~(0x1F << 58)) | UInt64(newValue & 0x1F) << 58 }
    }

    /// The low ``storedHashBits`` bits of the key's hash: the bucket index of a table of up to
    /// 2^24 buckets, and a cheap first check before comparing keys. The full hash is the
    /// keyspace's ``KeyHasher`` applied to the key (``Entry/keyHash(_:)``).
    var hashBits: UInt32 {
        @inline(__always) get { hashAndDatabase & EntryHeader.hashMask }
    }

    /// The key's database (0…255).
    public internal(set) var database: UInt8 {
        @inline(__always) get { UInt8(truncatingIfNeeded: hashAndDatabase >> 24) }
        @inline(__always) set { hashAndDatabase = (hashAndDatabase & EntryHeader.hashMask) | UInt32(newValue) << 24 }
    }

    /// The value's type. For a collection, the value bytes are a retained reference to its
    /// ``CollectionValue`` (see ``Entry/collection``); a cold stub keeps the type, not the value.
    public internal(set) var kind: ValueKind {
        @inline(__always) get { ValueKind(rawValue: typeBits & 0x07).unsafelyUnwrapped }
        set { typeBits = (typeBits & ~0x07) | newValue.rawValue }
    }

    var stringEncoding: StringEncoding {
        get { StringEncoding(rawValue: (typeBits >> 3) & 0x03) ?? .byContent }
        set { typeBits = (typeBits & ~0x18) | (newValue.rawValue << 3) }
    }
}

/// How OBJECT ENCODING names a string, which in Redis depends on the command that made it, not
/// only on its bytes. Not stored in L3 or DUMP: a string read back is named by its content, as
/// Redis names a string it loads from an RDB file or a RESTORE payload.
public enum StringEncoding: UInt8, Sendable {
    /// Stored as given (SET, MSET, INCR, RESTORE…: Redis's `tryObjectEncoding`): `int` for a
    /// canonical integer of up to 20 characters, `embstr` up to 44 bytes, else `raw`.
    case byContent = 0
    /// Changed in place (APPEND or SETRANGE of an existing string, SETRANGE on a new key,
    /// SETBIT, BITFIELD's writes, BITOP's result): always `raw`.
    case raw = 1
    /// Text made by the server from a number it does not store as one (INCRBYFLOAT): `embstr`
    /// up to 44 bytes, else `raw`; never `int`.
    case text = 2
}

/// One key and its value, in a single allocation: header, key bytes, value bytes.
///
/// String values are immutable once stored: a write that changes the value stores a new entry in
/// the old one's place, so a reader holding an entry never sees it change. A collection (hash,
/// list, set, sorted set) is an object the entry holds a reference to, changed in place under
/// the shard's lock (see ``CollectionValue``).
public final class Entry: ManagedBuffer<EntryHeader, UInt8> {
    static func make(
        key: UnsafeRawBufferPointer, hash: UInt64, value: UnsafeRawBufferPointer,
        database: Int, expireAt: Int64, now: UInt32, kind: ValueKind = .string
    ) -> Entry {
        let total = key.count + value.count
        let buffer = Entry.create(minimumCapacity: total) { _ in
            EntryHeader(expireAt: expireAt, hash: hash, keyLength: UInt32(key.count),
                        valueLength: UInt32(value.count), lastAccess: now,
                        database: UInt8(truncatingIfNeeded: database), typeBits: kind.rawValue)
        }
        let entry = unsafeDowncast(buffer, to: Entry.self)
        entry.withUnsafeMutablePointerToElements { elements in
            let raw = UnsafeMutableRawPointer(elements)
            if key.count > 0 { raw.copyMemory(from: key.baseAddress!, byteCount: key.count) }
            if value.count > 0 { (raw + key.count).copyMemory(from: value.baseAddress!, byteCount: value.count) }
        }
        return entry
    }

    /// An entry holding `collection` (retained until the entry is freed).
    static func make(key: UnsafeRawBufferPointer, hash: UInt64, collection: CollectionValue, database: Int,
                     expireAt: Int64, now: UInt32) -> Entry {
        let reference = Unmanaged.passRetained(collection).toOpaque()
        var bits = UInt(bitPattern: reference)
        return withUnsafeBytes(of: &bits) { pointer in
            make(key: key, hash: hash, value: pointer, database: database, expireAt: expireAt, now: now,
                 kind: collection.kind)
        }
    }

    /// Whether the value bytes are a reference to a collection (a warm, non-string entry).
    @inline(__always)
    var holdsCollection: Bool {
        header.kind != .string && header.tier != .l3 && header.valueLength == UInt32(MemoryLayout<UInt>.size)
    }

    deinit {
        if holdsCollection { collectionReference.release() }
    }

    private var collectionReference: Unmanaged<CollectionValue> {
        let offset = keyCount
        let bits = withUnsafeMutablePointerToElements {
            UnsafeRawPointer($0 + offset).loadUnaligned(as: UInt.self)
        }
        return Unmanaged.fromOpaque(UnsafeRawPointer(bitPattern: bits)!)
    }

    /// The value's type.
    @inlinable public var kind: ValueKind { header.kind }

    /// For a string: how OBJECT ENCODING names it (see ``StringEncoding``). Set it under the
    /// shard's lock, right after storing the entry (a new entry starts as `.byContent`).
    public var stringEncoding: StringEncoding {
        get { header.stringEncoding }
        set { header.stringEncoding = newValue }
    }

    /// The collection this warm entry holds, or nil for a string or a cold stub.
    public var collection: CollectionValue? {
        holdsCollection ? collectionReference.takeUnretainedValue() : nil
    }

    /// A copy with a new value, the same key and metadata, and last access `lastAccess` (not
    /// linked anywhere).
    func withValue(_ value: UnsafeRawBufferPointer, lastAccess: UInt32) -> Entry {
        let old = header
        return withKey { key in
            let entry = Entry.make(key: key, hash: UInt64(old.hashBits), value: value, database: Int(old.database),
                                   expireAt: old.expireAt, now: lastAccess)
            entry.header.tier = old.tier
            entry.header.frequency = old.frequency
            return entry
        }
    }

    /// A cold stub (L3 only): key and metadata, value left on disk at row `l3Row`.
    static func makeStub(key: UnsafeRawBufferPointer, hash: UInt64, database: Int, expireAt: Int64,
                         row: Int64, now: UInt32, kind: ValueKind) -> Entry {
        let entry = make(key: key, hash: hash, value: UnsafeRawBufferPointer(start: nil, count: 0),
                         database: database, expireAt: expireAt, now: now, kind: kind)
        entry.header.tier = .l3
        entry.header.l3Row = row
        return entry
    }

    /// Whether the value is in memory (false for a cold stub).
    @inlinable public var isWarm: Bool { header.tier != .l3 }

    @inlinable public var keyCount: Int { Int(header.keyLength) }

    /// The key's full hash under `hasher` (the keyspace's): computed from the key, since an
    /// entry keeps only its low bits (``EntryHeader/hashBits``).
    public func keyHash(_ hasher: KeyHasher) -> UInt64 { withKey { hasher.hash($0) } }
    @inlinable public var valueCount: Int { Int(header.valueLength) }

    /// Calls `body` with the key's bytes, valid only during the call.
    @inline(__always)
    public func withKey<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        let length = keyCount
        return try withUnsafeMutablePointerToElements { try body(UnsafeRawBufferPointer(start: $0, count: length)) }
    }

    /// The key's and the value's bytes, valid for as long as the caller keeps the entry alive
    /// (a ManagedBuffer's elements live inside the object and never move); for the journal's
    /// drain, which copies both.
    var unsafeKeyAndValue: (key: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer) {
        let keyLength = keyCount, valueLength = valueCount
        return withUnsafeMutablePointerToElements {
            (UnsafeRawBufferPointer(start: $0, count: keyLength),
             UnsafeRawBufferPointer(start: $0 + keyLength, count: valueLength))
        }
    }

    /// Calls `body` with the value's bytes, valid only during the call. Strings only: callers
    /// check ``kind`` first (a collection's bytes are a reference).
    @inline(__always)
    public func withValue<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        let offset = keyCount
        let length = valueCount
        return try withUnsafeMutablePointerToElements {
            try body(UnsafeRawBufferPointer(start: $0 + offset, count: length))
        }
    }

    public var key: [UInt8] { withKey { Array($0) } }
    public var value: [UInt8] { withValue { Array($0) } }

    @inline(__always)
    func keyEquals(_ other: UnsafeRawBufferPointer, hash: UInt64) -> Bool {
        guard header.hashBits == UInt32(truncatingIfNeeded: hash) & EntryHeader.hashMask,
              keyCount == other.count else { return false }
        return withKey { mine in
            other.count == 0 || memcmp(mine.baseAddress!, other.baseAddress!, other.count) == 0
        }
    }

    /// Bytes this entry costs in the process: its allocation (object header, fixed fields, key and
    /// value) as the allocator rounds it (glibc: one extra word, 16-byte granules).
    @inline(__always)
    var cost: Int {
        let base = Entry.cost(keyLength: keyCount, valueLength: valueCount)
        guard header.kind != .string, holdsCollection else { return base }
        return base + collectionReference._withUnsafeGuaranteedRef { $0.accountedCost }
    }

    @inline(__always)
    static func cost(keyLength: Int, valueLength: Int) -> Int {
        let request = 16 + MemoryLayout<EntryHeader>.stride + keyLength + valueLength
        return (request + 8 + 15) & ~15
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
