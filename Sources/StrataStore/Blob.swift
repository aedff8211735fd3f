#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A byte string stored in 16 bytes: up to 14 bytes inline, longer ones in one heap allocation.
///
/// The element type of every collection (hash fields and values, list items, set and sorted-set
/// members). Most elements in caches are short (ids, field names, small numbers): those cost no
/// allocation at all, where a `[UInt8]` costs 16 bytes in the collection plus a 32-byte array
/// header and its bytes rounded up by malloc.
public struct Blob: Hashable, Comparable {
    @usableFromInline
    enum Storage {
        /// Bytes 0…7 in `low`, 8…13 in `high`'s low 48 bits and `tail`, and the length.
        case inline(UInt64, UInt32, UInt16, UInt8)
        case heap(HeapBytes)
    }

    @usableFromInline var storage: Storage

    public static let inlineCapacity = 14

    public init(_ bytes: UnsafeRawBufferPointer) {
        if bytes.count <= Blob.inlineCapacity {
            var words: (UInt64, UInt64) = (0, 0)
            withUnsafeMutableBytes(of: &words) { raw in
                if bytes.count > 0 { raw.baseAddress!.copyMemory(from: bytes.baseAddress!, byteCount: bytes.count) }
            }
            let high = words.1
            storage = .inline(words.0, UInt32(truncatingIfNeeded: high), UInt16(truncatingIfNeeded: high >> 32),
                              UInt8(bytes.count))
        } else {
            storage = .heap(HeapBytes.make(bytes))
        }
    }

    public init<C: Collection>(_ bytes: C) where C.Element == UInt8 {
        if let done = bytes.withContiguousStorageIfAvailable({ Blob(UnsafeRawBufferPointer($0)) }) {
            self = done
        } else {
            self = Array(bytes).withUnsafeBytes { Blob($0) }
        }
    }

    public init(_ string: String) {
        var string = string
        self = string.withUTF8 { Blob(UnsafeRawBufferPointer($0)) }
    }

    public var count: Int {
        switch storage {
        case .inline(_, _, _, let length): Int(length)
        case .heap(let heap): heap.header
        }
    }

    public var isEmpty: Bool { count == 0 }

    /// Calls `body` with the bytes, valid only during the call.
    @inline(__always)
    public func withBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        switch storage {
        case .inline(let low, let mid, let tail, let length):
            var words: (UInt64, UInt64) = (low, UInt64(mid) | UInt64(tail) << 32)
            return try withUnsafeBytes(of: &words) { try body(UnsafeRawBufferPointer(rebasing: $0[0..<Int(length)])) }
        case .heap(let heap):
            return try heap.withUnsafeMutablePointerToElements {
                try body(UnsafeRawBufferPointer(start: $0, count: heap.header))
            }
        }
    }

    public var bytes: [UInt8] { withBytes { Array($0) } }

    /// Bytes this element costs beyond its 16 bytes in its container (a heap allocation, as
    /// malloc rounds it).
    public var heapCost: Int {
        switch storage {
        case .inline: 0
        case .heap(let heap): (16 + 8 + heap.header + 8 + 15) & ~15
        }
    }

    public static func == (a: Blob, b: Blob) -> Bool {
        if case .inline(let a0, let a1, let a2, let a3) = a.storage, case .inline(let b0, let b1, let b2, let b3) = b.storage {
            return a0 == b0 && a1 == b1 && a2 == b2 && a3 == b3
        }
        guard a.count == b.count else { return false }
        return a.withBytes { x in b.withBytes { y in x.count == 0 || memcmp(x.baseAddress!, y.baseAddress!, x.count) == 0 } }
    }

    public func hash(into hasher: inout Hasher) {
        withBytes { hasher.combine(bytes: $0) }
    }

    /// The hash ``DenseMap`` places this element by: seeded once per process (as `Hasher` is,
    /// against hash flooding) but far cheaper than `Hasher`'s SipHash; an inline element is
    /// hashed from its two words without going through its bytes.
    @inline(__always)
    public var mapHash: UInt64 {
        switch storage {
        case .inline(let low, let mid, let tail, let length):
            let high = UInt64(mid) | UInt64(tail) << 32 | UInt64(length) << 56
            return Blob.mapHasher.hash(low, high)
        case .heap(let heap):
            return heap.withUnsafeMutablePointerToElements {
                Blob.mapHasher.hash(UnsafeRawBufferPointer(start: $0, count: heap.header))
            }
        }
    }

    /// The seed of ``mapHash``.
    static let mapHasher = KeyHasher.random()

    /// Byte-wise order (memcmp, then length), as Redis compares strings.
    public static func < (a: Blob, b: Blob) -> Bool {
        a.withBytes { x in b.withBytes { y in Blob.compare(x, y) < 0 } }
    }

    public static func compare(_ x: UnsafeRawBufferPointer, _ y: UnsafeRawBufferPointer) -> Int {
        let common = min(x.count, y.count)
        if common > 0 {
            let c = memcmp(x.baseAddress!, y.baseAddress!, common)
            if c != 0 { return Int(c) }
        }
        return x.count - y.count
    }

    /// The bytes as an integer, when they are one in canonical form (as Redis's `string2ll`).
    public var integerValue: Int64? {
        withBytes { Blob.canonicalInteger($0) }
    }

    public static func canonicalInteger(_ bytes: UnsafeRawBufferPointer) -> Int64? {
        guard bytes.count > 0, bytes.count <= 20 else { return nil }
        var i = 0
        var negative = false
        if bytes[0] == UInt8(ascii: "-") {
            negative = true
            i = 1
            guard bytes.count > 1 else { return nil }
        }
        if bytes[i] == UInt8(ascii: "0") { return bytes.count == 1 ? 0 : nil }
        var value: UInt64 = 0
        while i < bytes.count {
            let d = bytes[i] &- UInt8(ascii: "0")
            guard d <= 9 else { return nil }
            let (m, o1) = value.multipliedReportingOverflow(by: 10)
            let (s, o2) = m.addingReportingOverflow(UInt64(d))
            guard !o1, !o2 else { return nil }
            value = s
            i += 1
        }
        if negative {
            guard value <= UInt64(Int64.max) + 1 else { return nil }
            return value == UInt64(Int64.max) + 1 ? Int64.min : -Int64(value)
        }
        guard value <= UInt64(Int64.max) else { return nil }
        return Int64(value)
    }
}

extension Blob: CustomStringConvertible {
    public var description: String { withBytes { String(decoding: $0, as: UTF8.self) } }
}

/// The heap storage of a long ``Blob``: its length, then its bytes, in one allocation.
public final class HeapBytes: ManagedBuffer<Int, UInt8> {
    static func make(_ bytes: UnsafeRawBufferPointer) -> HeapBytes {
        let buffer = HeapBytes.create(minimumCapacity: bytes.count) { _ in bytes.count }
        let heap = unsafeDowncast(buffer, to: HeapBytes.self)
        heap.withUnsafeMutablePointerToElements {
            UnsafeMutableRawPointer($0).copyMemory(from: bytes.baseAddress!, byteCount: bytes.count)
        }
        return heap
    }
}
