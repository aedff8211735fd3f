import NIOCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// The protocol a connection speaks: RESP2 until the client says `HELLO 3`.
public enum RESPVersion: Int, Sendable {
    case resp2 = 2
    case resp3 = 3
}

/// Appends replies to an outbound buffer in the connection's protocol version.
///
/// RESP3 types are downgraded for RESP2 clients as Redis does: maps become flat arrays, sets
/// become arrays, nulls become `$-1`/`*-1`, doubles become bulk strings, booleans integers.
public struct RESPReplyWriter {
    public var buffer: ByteBuffer
    public var version: RESPVersion

    public init(buffer: ByteBuffer, version: RESPVersion = .resp2) {
        self.buffer = buffer
        self.version = version
    }

    @inlinable
    public mutating func simpleString(_ text: StaticString) {
        buffer.writeInteger(UInt8(ascii: "+"))
        buffer.writeStaticString(text)
        crlf()
    }

    public mutating func simpleString(_ text: String) {
        buffer.writeInteger(UInt8(ascii: "+"))
        buffer.writeString(text)
        crlf()
    }

    @inlinable
    public mutating func ok() { buffer.writeStaticString("+OK\r\n") }

    /// An error reply; `message` starts with its code (`ERR …`, `WRONGTYPE …`).
    public mutating func error(_ message: String) {
        error(bytes: Array(message.utf8))
    }

    /// An error reply from raw bytes (messages quoting client input keep its exact bytes).
    /// As Redis does, CR and LF are trimmed from the ends and replaced by spaces inside, since
    /// they would break the protocol.
    public mutating func error(bytes message: [UInt8]) {
        var end = message.count
        while end > 0 && (message[end - 1] == 0x0D || message[end - 1] == 0x0A) { end -= 1 }
        buffer.writeInteger(UInt8(ascii: "-"))
        for byte in message[..<end] {
            buffer.writeInteger(byte == 0x0D || byte == 0x0A ? UInt8(ascii: " ") : byte)
        }
        crlf()
    }

    @inlinable
    public mutating func error(_ message: StaticString) {
        buffer.writeInteger(UInt8(ascii: "-"))
        buffer.writeStaticString(message)
        crlf()
    }

    @inlinable
    public mutating func integer(_ value: Int) {
        header(UInt8(ascii: ":"), value)
    }

    @inlinable
    public mutating func bulk(_ bytes: UnsafeRawBufferPointer) {
        header(UInt8(ascii: "$"), bytes.count)
        buffer.writeBytes(bytes)
        crlf()
    }

    public mutating func bulk(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { bulk($0) }
    }

    public mutating func bulk(_ text: String) {
        var text = text
        text.withUTF8 { bulk(UnsafeRawBufferPointer($0)) }
    }

    public mutating func bulk(_ bytes: ByteBuffer) {
        header(UInt8(ascii: "$"), bytes.readableBytes)
        var copy = bytes
        buffer.writeBuffer(&copy)
        crlf()
    }

    /// The integer's decimal form as a bulk string.
    public mutating func bulkInteger(_ value: Int) {
        let length = RESPNumber.decimalLength(value)
        header(UInt8(ascii: "$"), length)
        buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: length) { RESPNumber.writeDecimal(value, to: $0) }
        crlf()
    }

    /// A missing value: `$-1` in RESP2, `_` in RESP3.
    @inlinable
    public mutating func null() {
        if version == .resp3 { buffer.writeStaticString("_\r\n") } else { buffer.writeStaticString("$-1\r\n") }
    }

    /// A missing array: `*-1` in RESP2, `_` in RESP3.
    public mutating func nullArray() {
        if version == .resp3 { buffer.writeStaticString("_\r\n") } else { buffer.writeStaticString("*-1\r\n") }
    }

    @inlinable
    public mutating func arrayHeader(_ count: Int) {
        header(UInt8(ascii: "*"), count)
    }

    /// A map of `count` pairs; the caller writes 2 × count values after it.
    public mutating func mapHeader(_ count: Int) {
        if version == .resp3 { header(UInt8(ascii: "%"), count) } else { header(UInt8(ascii: "*"), count * 2) }
    }

    /// A push frame of `count` elements (pub/sub messages and confirmations): `>` in RESP3,
    /// an array in RESP2.
    public mutating func pushHeader(_ count: Int) {
        header(version == .resp3 ? UInt8(ascii: ">") : UInt8(ascii: "*"), count)
    }

    public mutating func setHeader(_ count: Int) {
        header(version == .resp3 ? UInt8(ascii: "~") : UInt8(ascii: "*"), count)
    }

    public mutating func double(_ value: Double) {
        let text = RESPReplyWriter.formatDouble(value)
        if version == .resp3 {
            buffer.writeInteger(UInt8(ascii: ","))
            buffer.writeString(text)
            crlf()
        } else {
            bulk(text)
        }
    }

    public mutating func boolean(_ value: Bool) {
        if version == .resp3 {
            buffer.writeStaticString(value ? "#t\r\n" : "#f\r\n")
        } else {
            integer(value ? 1 : 0)
        }
    }

    /// A verbatim string (`=`) in RESP3, a bulk string in RESP2. `format` is three letters (`txt`).
    public mutating func verbatim(_ text: String, format: StaticString = "txt") {
        if version == .resp3 {
            let utf8 = text.utf8
            header(UInt8(ascii: "="), utf8.count + 4)
            buffer.writeStaticString(format)
            buffer.writeInteger(UInt8(ascii: ":"))
            buffer.writeString(text)
            crlf()
        } else {
            bulk(text)
        }
    }

    /// Appends a reply that is already encoded (e.g. relayed from another node).
    public mutating func raw(_ bytes: ByteBuffer) {
        var copy = bytes
        buffer.writeBuffer(&copy)
    }

    @inlinable
    mutating func crlf() {
        buffer.writeInteger(UInt16(0x0D0A))
    }

    @inlinable
    mutating func header(_ marker: UInt8, _ value: Int) {
        let length = RESPNumber.decimalLength(value)
        buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: length + 3) { out in
            out[0] = marker
            let n = RESPNumber.writeDecimal(value, to: UnsafeMutableRawBufferPointer(rebasing: out[1...]))
            out[n + 1] = 0x0D
            out[n + 2] = 0x0A
            return n + 3
        }
    }

    /// Formats a double as Redis 7.0's `addReplyDouble` does: `%.17g` (so 0.1 is
    /// `0.10000000000000001` and -0 is `-0`), with `inf`, `-inf` and `nan`.
    public static func formatDouble(_ value: Double) -> String {
        if value.isNaN { return "nan" }
        if value.isInfinite { return value < 0 ? "-inf" : "inf" }
        if value == value.rounded() && abs(value) < 1e17 && !(value == 0 && value.sign == .minus) {
            return String(Int64(value)) // what %.17g prints for an integer of at most 17 digits
        }
        return withUnsafeTemporaryAllocation(of: CChar.self, capacity: 32) { buffer in
            let length = withVaList([value]) { vsnprintf(buffer.baseAddress!, 32, "%.17g", $0) }
            let bytes = UnsafeRawBufferPointer(start: buffer.baseAddress!, count: Int(min(length, 31)))
            return String(decoding: bytes, as: UTF8.self)
        }
    }
}
