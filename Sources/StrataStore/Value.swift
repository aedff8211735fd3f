/// A key's value type, numbered as Redis numbers its object types (`OBJ_STRING` … `OBJ_HASH`).
public enum ValueKind: UInt8, Sendable, CaseIterable {
    case string = 0
    case list = 1
    case set = 2
    case zset = 3
    case hash = 4

    /// What TYPE answers.
    public var name: String {
        switch self {
        case .string: "string"
        case .list: "list"
        case .set: "set"
        case .zset: "zset"
        case .hash: "hash"
        }
    }

    public init?(name: String) {
        guard let kind = ValueKind.allCases.first(where: { $0.name == name.lowercased() }) else { return nil }
        self = kind
    }
}

/// A list, set, sorted set or hash: the value of a key of that type.
///
/// Unlike a string, which is immutable bytes inside its ``Entry``, a collection is changed in
/// place, under its shard's lock, by the command that owns that lock; the command then calls
/// ``Shard/collectionChanged(_:)``, which brings the tiers' byte counts, the journal and WATCH
/// up to date. Nothing reads a collection without that lock: replies are written under it.
///
/// Each subclass keeps ``cost`` current as it changes: the bytes it holds as malloc rounds
/// them, so that collections count against `maxmemory` as strings do.
public class CollectionValue {
    public final let kind: ValueKind
    /// Bytes this value holds (object, storage, out-of-line elements).
    public final var cost: Int
    /// What the shard's tier lists last counted for it (see ``Shard/collectionChanged(_:)``).
    final var accountedCost = 0

    init(kind: ValueKind, cost: Int) {
        self.kind = kind
        self.cost = cost
    }

    /// Elements (fields, items, members).
    public var count: Int { preconditionFailure("abstract") }

    /// OBJECT ENCODING's answer, as Redis 7.0 would give for the same history of commands.
    public var encodingName: String { preconditionFailure("abstract") }

    /// Appends the elements in the versioned format ``decode(kind:_:)`` reads.
    func encodeElements(into writer: inout ValueWriter) { preconditionFailure("abstract") }

    /// An independent copy (COPY, and a value moved under another key).
    public func copy() -> CollectionValue { preconditionFailure("abstract") }

    /// The encoded value, as L3 and DUMP store it: a format version, then the elements.
    public func encoded() -> [UInt8] {
        var writer = ValueWriter()
        writer.byte(CollectionValue.formatVersion)
        encodeElements(into: &writer)
        return writer.bytes
    }

    public func encode(appendingTo bytes: inout [UInt8]) {
        var writer = ValueWriter(bytes: bytes)
        bytes = []
        writer.byte(CollectionValue.formatVersion)
        encodeElements(into: &writer)
        bytes = writer.bytes
    }

    static let formatVersion: UInt8 = 1

    /// The value `bytes` encode (see ``encoded()``), or nil if they are not a valid encoding.
    public static func decode(kind: ValueKind, _ bytes: UnsafeRawBufferPointer) -> CollectionValue? {
        var reader = ValueReader(bytes)
        guard reader.byte() == formatVersion else { return nil }
        let value: CollectionValue?
        switch kind {
        case .string: return nil
        case .hash: value = HashValue.decodeElements(&reader)
        case .list: value = ListValue.decodeElements(&reader)
        case .set: value = SetValue.decodeElements(&reader)
        case .zset: value = SortedSetValue.decodeElements(&reader)
        }
        guard let value, reader.isAtEnd, value.count > 0 else { return nil }
        return value
    }

    /// Fixed bytes of a collection object: the object header and stored fields, as malloc rounds them.
    static let objectOverhead = 64
}

// MARK: - Encoding

/// Writes the collection encoding: unsigned LEB128 lengths, raw bytes, little-endian doubles.
public struct ValueWriter {
    public private(set) var bytes: [UInt8]

    public init(bytes: [UInt8] = []) { self.bytes = bytes }

    public mutating func byte(_ value: UInt8) { bytes.append(value) }

    public mutating func varint(_ value: Int) {
        var v = UInt64(value)
        while v >= 0x80 {
            bytes.append(UInt8(truncatingIfNeeded: v) | 0x80)
            v >>= 7
        }
        bytes.append(UInt8(v))
    }

    public mutating func blob(_ blob: Blob) {
        blob.withBytes { lengthPrefixed($0) }
    }

    /// Bytes as ``blob(_:)`` writes them: their length, then the bytes.
    public mutating func lengthPrefixed(_ raw: UnsafeRawBufferPointer) {
        varint(raw.count)
        bytes.append(contentsOf: raw)
    }

    public mutating func double(_ value: Double) {
        var bits = value.bitPattern.littleEndian
        withUnsafeBytes(of: &bits) { bytes.append(contentsOf: $0) }
    }
}

/// Reads what ``ValueWriter`` wrote; every read is checked against the end (a damaged row or a
/// forged RESTORE payload yields nil, never a trap).
public struct ValueReader {
    let bytes: UnsafeRawBufferPointer
    var position = 0
    /// Set by the first read past the end.
    public private(set) var failed = false

    public init(_ bytes: UnsafeRawBufferPointer) { self.bytes = bytes }

    public var isAtEnd: Bool { !failed && position == bytes.count }

    public mutating func byte() -> UInt8? {
        guard position < bytes.count else { failed = true; return nil }
        defer { position += 1 }
        return bytes[position]
    }

    public mutating func varint() -> Int? {
        var value: UInt64 = 0
        var shift: UInt64 = 0
        while true {
            guard let b = byte(), shift < 63 else { failed = true; return nil }
            value |= UInt64(b & 0x7F) << shift
            if b < 0x80 { break }
            shift += 7
        }
        guard value <= UInt64(Int32.max) * 64 else { failed = true; return nil }
        return Int(value)
    }

    /// A count of elements that each take at least `minimumBytes`: refused when the rest of the
    /// input could not hold that many (so a forged count cannot make a reader reserve memory).
    public mutating func count(minimumBytes: Int) -> Int? {
        guard let n = varint(), n * minimumBytes <= bytes.count - position else { failed = true; return nil }
        return n
    }

    public mutating func blob() -> Blob? {
        lengthPrefixed().map { Blob($0) }
    }

    /// What ``ValueWriter/lengthPrefixed(_:)`` wrote, as a view into the input.
    public mutating func lengthPrefixed() -> UnsafeRawBufferPointer? {
        guard let length = varint(), length <= bytes.count - position else { failed = true; return nil }
        defer { position += length }
        return UnsafeRawBufferPointer(rebasing: bytes[position..<position + length])
    }

    public mutating func double() -> Double? {
        guard bytes.count - position >= 8 else { failed = true; return nil }
        var bits: UInt64 = 0
        withUnsafeMutableBytes(of: &bits) { $0.copyMemory(from: UnsafeRawBufferPointer(rebasing: bytes[position..<position + 8])) }
        position += 8
        return Double(bitPattern: UInt64(littleEndian: bits))
    }
}
