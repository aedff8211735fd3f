/// The keyspace's hash function: 64 bits, eight bytes a step, seeded once per process so that
/// clients cannot choose keys that collide (hash flooding).
public struct KeyHasher: Sendable {
    public let seed: UInt64

    public init(seed: UInt64) { self.seed = seed }

    /// A hasher with a random seed.
    public static func random() -> KeyHasher {
        var generator = SystemRandomNumberGenerator()
        return KeyHasher(seed: generator.next())
    }

    @inlinable @inline(__always)
    static func fold(_ a: UInt64, _ b: UInt64) -> UInt64 {
        let product = a.multipliedFullWidth(by: b)
        return product.high ^ product.low
    }

    @inlinable @inline(__always)
    public func hash(_ bytes: UnsafeRawBufferPointer) -> UInt64 {
        let p0: UInt64 = 0xa076_1d64_78bd_642f
        let p1: UInt64 = 0xe703_7ed1_a0b4_28db
        let p2: UInt64 = 0x8ebc_6af0_9c88_c6e3
        var h = seed ^ (UInt64(truncatingIfNeeded: bytes.count) &* p0)
        var i = 0
        let n = bytes.count
        while i + 8 <= n {
            let word = bytes.loadUnaligned(fromByteOffset: i, as: UInt64.self)
            h = KeyHasher.fold(h ^ word ^ p1, p2)
            i += 8
        }
        if i < n {
            var tail: UInt64 = 0
            var shift: UInt64 = 0
            while i < n {
                tail |= UInt64(bytes[i]) << shift
                shift += 8
                i += 1
            }
            h = KeyHasher.fold(h ^ tail ^ p2, p1)
        }
        return KeyHasher.fold(h ^ (h >> 29), p0)
    }

    /// The hash of 16 bytes given as two words (an inline ``Blob``: its bytes, with its length in
    /// the top byte of `high`).
    @inlinable @inline(__always)
    public func hash(_ low: UInt64, _ high: UInt64) -> UInt64 {
        let p0: UInt64 = 0xa076_1d64_78bd_642f
        let p1: UInt64 = 0xe703_7ed1_a0b4_28db
        let p2: UInt64 = 0x8ebc_6af0_9c88_c6e3
        let h = KeyHasher.fold(low ^ seed ^ p1, high ^ seed ^ p2)
        return KeyHasher.fold(h ^ p0, p1)
    }

    public func hash(_ bytes: [UInt8]) -> UInt64 { bytes.withUnsafeBytes { hash($0) } }
}
