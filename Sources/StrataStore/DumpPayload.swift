/// The serialized value DUMP returns and RESTORE takes; also how the ring moves a key of any
/// type from one node to another.
///
/// Layout, as Redis's in spirit (type first; version and checksum last), in Strata's own
/// encoding: the value's type (``ValueKind`` raw value), the value (a string's bytes, or a
/// collection's encoding, ``CollectionValue/encoded()``), the payload version (2 bytes, little
/// endian) and a CRC-64 of everything before it (8 bytes, little endian). A Redis payload is
/// refused by its version and checksum, as Redis refuses one from a newer Redis.
public enum DumpPayload {
    public static let version: UInt16 = 1

    /// A string's payload.
    public static func make(string value: UnsafeRawBufferPointer) -> [UInt8] {
        var bytes: [UInt8] = [ValueKind.string.rawValue]
        bytes.append(contentsOf: value)
        return seal(bytes)
    }

    /// A collection's payload.
    public static func make(collection: CollectionValue) -> [UInt8] {
        var bytes: [UInt8] = [collection.kind.rawValue]
        collection.encode(appendingTo: &bytes)
        return seal(bytes)
    }

    private static func seal(_ body: [UInt8]) -> [UInt8] {
        var bytes = body
        bytes.append(UInt8(truncatingIfNeeded: version))
        bytes.append(UInt8(truncatingIfNeeded: version >> 8))
        var crc = CRC64.checksum(bytes)
        for _ in 0..<8 {
            bytes.append(UInt8(truncatingIfNeeded: crc))
            crc >>= 8
        }
        return bytes
    }

    public enum Decoded {
        case string([UInt8])
        case collection(CollectionValue)
    }

    public enum Failure: Error, Equatable {
        /// Not a payload of this version, or damaged.
        case versionOrChecksum
        /// Checksum right, value not decodable (Redis: "Bad data format").
        case badFormat
    }

    /// The value in `payload`, checked.
    public static func decode(_ payload: UnsafeRawBufferPointer) -> Result<Decoded, Failure> {
        guard payload.count >= 11 else { return .failure(.versionOrChecksum) }
        let bodyEnd = payload.count - 8
        var stored: UInt64 = 0
        for i in (0..<8).reversed() { stored = stored << 8 | UInt64(payload[bodyEnd + i]) }
        let storedVersion = UInt16(payload[bodyEnd - 2]) | UInt16(payload[bodyEnd - 1]) << 8
        guard storedVersion == version,
              CRC64.checksum(UnsafeRawBufferPointer(rebasing: payload[0..<bodyEnd])) == stored else {
            return .failure(.versionOrChecksum)
        }
        guard let kind = ValueKind(rawValue: payload[0]) else { return .failure(.badFormat) }
        let value = UnsafeRawBufferPointer(rebasing: payload[1..<bodyEnd - 2])
        if kind == .string { return .success(.string(Array(value))) }
        guard let collection = CollectionValue.decode(kind: kind, value) else { return .failure(.badFormat) }
        return .success(.collection(collection))
    }
}

/// CRC-64/Jones (reflected polynomial 0xad93d23594c935a9), the checksum Redis's DUMP uses.
enum CRC64 {
    private static let table: [UInt64] = (0..<256).map { n -> UInt64 in
        var crc = UInt64(n)
        for _ in 0..<8 { crc = crc & 1 == 1 ? (crc >> 1) ^ 0x95AC_9329_AC4B_C9B5 : crc >> 1 }
        return crc
    }

    static func checksum(_ bytes: [UInt8]) -> UInt64 {
        bytes.withUnsafeBytes { checksum($0) }
    }

    static func checksum(_ bytes: UnsafeRawBufferPointer) -> UInt64 {
        var crc: UInt64 = 0
        for b in bytes { crc = table[Int((crc ^ UInt64(b)) & 0xFF)] ^ (crc >> 8) }
        return crc
    }
}
