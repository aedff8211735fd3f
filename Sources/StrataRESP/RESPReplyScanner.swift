import NIOCore

/// Finds where one RESP2/RESP3 reply ends without decoding it.
///
/// Nodes relay each other's replies as the bytes received, so all a node needs is the
/// boundaries: no ``RESPValue``, no strings, no allocation. The scanner is incremental: when the
/// reply at the front is incomplete it remembers how far it got, and the next call (same front,
/// more bytes appended) resumes there, so a large reply arriving in many reads is scanned once.
/// It is iterative, so nesting cannot exhaust the stack, and every length is checked against
/// ``RESPLimits`` before any arithmetic is done with it.
public struct RESPReplyScanner: Sendable {
    public var limits: RESPLimits
    /// Bytes of the reply at the front already scanned (whole elements only).
    private var scanned = 0
    /// Values still needed to complete the reply at the front.
    private var remaining = 1

    public init(limits: RESPLimits = RESPLimits()) {
        self.limits = limits
    }

    /// The length of the complete reply at the front of `buffer`'s readable bytes, or nil when
    /// more bytes are needed. Between a nil result and the next call, bytes may only be appended
    /// (the front must stay where it was). After a length, the scanner is ready for the next reply.
    public mutating func scan(_ buffer: ByteBuffer) throws(RESPProtocolError) -> Int? {
        let outcome = buffer.withUnsafeReadableBytes { scan($0) }
        switch outcome {
        case .complete(let length): return length
        case .incomplete: return nil
        case .invalid(let message):
            reset()
            throw RESPProtocolError(message)
        }
    }

    /// Forgets any partial progress (the caller dropped its input).
    public mutating func reset() {
        scanned = 0
        remaining = 1
    }

    private enum Outcome {
        case complete(Int)
        case incomplete
        case invalid(String)
    }

    private mutating func scan(_ bytes: UnsafeRawBufferPointer) -> Outcome {
        let end = bytes.count
        var i = scanned
        while true {
            guard i < end else {
                scanned = i
                return .incomplete
            }
            let marker = bytes[i]
            // The header line: from after the marker up to CR LF.
            var cr = i + 1
            while cr < end && bytes[cr] != UInt8(ascii: "\r") { cr += 1 }
            guard cr + 1 < end else {
                if cr - i > limits.maxInlineLength { return .invalid("line too long") }
                scanned = i
                return .incomplete
            }
            guard bytes[cr + 1] == UInt8(ascii: "\n") else { return .invalid("invalid line ending") }
            let line = UnsafeRawBufferPointer(rebasing: bytes[(i + 1)..<cr])
            var next = cr + 2
            switch marker {
            case UInt8(ascii: "+"), UInt8(ascii: "-"), UInt8(ascii: ":"), UInt8(ascii: "("),
                 UInt8(ascii: ","), UInt8(ascii: "#"), UInt8(ascii: "_"):
                remaining -= 1
            case UInt8(ascii: "$"), UInt8(ascii: "="), UInt8(ascii: "!"):
                guard let length = RESPNumber.parseInt(line), length >= -1, length <= limits.maxBulkLength else {
                    return .invalid("invalid bulk length")
                }
                if length == -1 {
                    // Only bulk strings have a null form (`$-1`).
                    guard marker == UInt8(ascii: "$") else { return .invalid("invalid bulk length") }
                } else {
                    guard end - next >= length + 2 else {
                        scanned = i
                        return .incomplete
                    }
                    guard bytes[next + length] == UInt8(ascii: "\r"), bytes[next + length + 1] == UInt8(ascii: "\n") else {
                        return .invalid("bulk string not terminated by CRLF")
                    }
                    next += length + 2
                }
                remaining -= 1
            case UInt8(ascii: "*"), UInt8(ascii: "~"), UInt8(ascii: ">"), UInt8(ascii: "%"), UInt8(ascii: "|"):
                guard let count = RESPNumber.parseInt(line), count >= -1, count <= limits.maxMultibulkLength else {
                    return .invalid("invalid multibulk length")
                }
                if count == -1 {
                    // Only arrays have a null form (`*-1`).
                    guard marker == UInt8(ascii: "*") else { return .invalid("invalid multibulk length") }
                    remaining -= 1
                } else if marker == UInt8(ascii: "|") {
                    // An attribute precedes the value it describes: that value still fills the slot.
                    remaining += 2 * count
                } else {
                    remaining += (marker == UInt8(ascii: "%") ? 2 * count : count) - 1
                }
            default:
                return .invalid("invalid type byte \(marker)")
            }
            i = next
            if remaining == 0 {
                reset()
                return .complete(i)
            }
            // Counts are at most 2³¹ each and every header takes 4 bytes: this bound is never
            // reached by real replies and keeps the sum far from overflowing.
            guard remaining < Int.max / 4 else { return .invalid("reply too large") }
        }
    }
}
