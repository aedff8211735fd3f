/// Number parsing and formatting with Redis's exact rules, on raw bytes and without allocating.
public enum RESPNumber {
    /// Parses a signed 64-bit decimal exactly as Redis's `string2ll`: no sign but `-`, no leading
    /// zeros, no spaces, no overflow. Returns nil for anything else.
    @inlinable
    public static func parseInt(_ bytes: UnsafeRawBufferPointer) -> Int? {
        let n = bytes.count
        if n == 0 || n > 20 { return nil }
        if n == 1 && bytes[0] == UInt8(ascii: "0") { return 0 }
        var i = 0
        var negative = false
        if bytes[0] == UInt8(ascii: "-") {
            negative = true
            i = 1
            if n == 1 { return nil }
        }
        let first = bytes[i]
        guard first >= UInt8(ascii: "1") && first <= UInt8(ascii: "9") else { return nil }
        var magnitude = UInt64(first - UInt8(ascii: "0"))
        i += 1
        while i < n {
            let c = bytes[i]
            guard c >= UInt8(ascii: "0") && c <= UInt8(ascii: "9") else { return nil }
            let (m1, o1) = magnitude.multipliedReportingOverflow(by: 10)
            let (m2, o2) = m1.addingReportingOverflow(UInt64(c - UInt8(ascii: "0")))
            if o1 || o2 { return nil }
            magnitude = m2
            i += 1
        }
        if negative {
            if magnitude > UInt64(Int64.max) + 1 { return nil }
            return magnitude == UInt64(Int64.max) + 1 ? Int.min : -Int(magnitude)
        }
        if magnitude > UInt64(Int64.max) { return nil }
        return Int(magnitude)
    }

    /// Parses an unsigned decimal; convenience for `[UInt8]`.
    public static func parseInt(_ bytes: [UInt8]) -> Int? {
        bytes.withUnsafeBytes { parseInt($0) }
    }

    /// Number of bytes the decimal form of `value` takes.
    @inlinable
    public static func decimalLength(_ value: Int) -> Int {
        var magnitude = value.magnitude
        var digits = 1
        while magnitude >= 10 {
            magnitude /= 10
            digits += 1
        }
        return value < 0 ? digits + 1 : digits
    }

    /// Writes the decimal form of `value` at `pointer`, which must have room for ``decimalLength(_:)``
    /// bytes. Returns the number of bytes written.
    @inlinable
    public static func writeDecimal(_ value: Int, to pointer: UnsafeMutableRawBufferPointer) -> Int {
        let length = decimalLength(value)
        var magnitude = value.magnitude
        var position = length - 1
        repeat {
            pointer[position] = UInt8(ascii: "0") &+ UInt8(truncatingIfNeeded: magnitude % 10)
            magnitude /= 10
            position -= 1
        } while magnitude > 0
        if value < 0 { pointer[0] = UInt8(ascii: "-") }
        return length
    }

    /// The decimal bytes of an integer, for storing counters as strings.
    public static func decimalBytes(_ value: Int) -> [UInt8] {
        [UInt8](unsafeUninitializedCapacity: 20) { buffer, count in
            count = writeDecimal(value, to: UnsafeMutableRawBufferPointer(buffer))
        }
    }
}
