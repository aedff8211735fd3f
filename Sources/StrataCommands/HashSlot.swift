/// Redis Cluster's key-to-slot mapping: CRC16 (XMODEM) of the key, or of its `{hash tag}`,
/// modulo 16384. Pure; shared by CLUSTER KEYSLOT and the cluster router.
public enum HashSlot {
    public static let count = 16384

    /// CRC16-CCITT (XMODEM): polynomial 0x1021, initial value 0, as Redis's `crc16.c`.
    static let table: [UInt16] = (0..<256).map { byte in
        var crc = UInt16(byte) << 8
        for _ in 0..<8 { crc = crc & 0x8000 != 0 ? (crc << 1) ^ 0x1021 : crc << 1 }
        return crc
    }

    @inline(__always)
    public static func crc16(_ bytes: UnsafeRawBufferPointer) -> UInt16 {
        var crc: UInt16 = 0
        table.withUnsafeBufferPointer { table in
            for byte in bytes { crc = (crc << 8) ^ table[Int(UInt8(truncatingIfNeeded: crc >> 8) ^ byte)] }
        }
        return crc
    }

    /// The slot of `key`. As Redis's `keyHashSlot`: when the key has a `{` followed later by a `}`
    /// with at least one byte between them, only those bytes are hashed; otherwise the whole key.
    @inline(__always)
    public static func slot(_ key: UnsafeRawBufferPointer) -> Int {
        if let open = key.firstIndex(of: UInt8(ascii: "{")) {
            var close = open + 1
            while close < key.count && key[close] != UInt8(ascii: "}") { close += 1 }
            if close < key.count && close > open + 1 {
                return Int(crc16(UnsafeRawBufferPointer(rebasing: key[(open + 1)..<close])) & 0x3FFF)
            }
        }
        return Int(crc16(key) & 0x3FFF)
    }

    public static func slot(_ key: [UInt8]) -> Int { key.withUnsafeBytes { slot($0) } }
    public static func slot(_ key: String) -> Int { slot(Array(key.utf8)) }
}
