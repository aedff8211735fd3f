import NIOCore

/// A decoded RESP2/RESP3 value, as a client (or a node relaying replies) sees it.
public indirect enum RESPValue: Equatable, Sendable {
    case simpleString(String)
    case error(String)
    case integer(Int)
    case bulkString(ByteBuffer)
    case null
    case nullArray
    case array([RESPValue])
    case map([(RESPValue, RESPValue)])
    case set([RESPValue])
    case double(Double)
    case boolean(Bool)
    case bigNumber(String)
    case verbatim(format: String, text: String)
    case push([RESPValue])
    case attribute([(RESPValue, RESPValue)])

    public static func == (lhs: RESPValue, rhs: RESPValue) -> Bool {
        switch (lhs, rhs) {
        case let (.simpleString(a), .simpleString(b)): return a == b
        case let (.error(a), .error(b)): return a == b
        case let (.integer(a), .integer(b)): return a == b
        case let (.bulkString(a), .bulkString(b)): return a == b
        case (.null, .null), (.nullArray, .nullArray): return true
        case let (.array(a), .array(b)), let (.set(a), .set(b)), let (.push(a), .push(b)): return a == b
        case let (.map(a), .map(b)), let (.attribute(a), .attribute(b)):
            return a.count == b.count && zip(a, b).allSatisfy { $0.0 == $1.0 && $0.1 == $1.1 }
        case let (.double(a), .double(b)): return a == b || (a.isNaN && b.isNaN)
        case let (.boolean(a), .boolean(b)): return a == b
        case let (.bigNumber(a), .bigNumber(b)): return a == b
        case let (.verbatim(f1, t1), .verbatim(f2, t2)): return f1 == f2 && t1 == t2
        default: return false
        }
    }

    public static func bulk(_ text: String) -> RESPValue { .bulkString(ByteBuffer(string: text)) }

    /// The value's bytes as a string, for bulk, simple and verbatim strings.
    public var string: String? {
        switch self {
        case .bulkString(let b): return String(buffer: b)
        case .simpleString(let s), .verbatim(_, let s): return s
        default: return nil
        }
    }

    /// Encodes the value with RESP3 type markers (the form a RESP3 client receives).
    public func encode(into buffer: inout ByteBuffer) {
        func line(_ marker: Character, _ text: String) {
            buffer.writeString(String(marker))
            buffer.writeString(text)
            buffer.writeStaticString("\r\n")
        }
        switch self {
        case .simpleString(let s): line("+", s)
        case .error(let s): line("-", s)
        case .integer(let i): line(":", String(i))
        case .bulkString(var b):
            line("$", String(b.readableBytes))
            buffer.writeBuffer(&b)
            buffer.writeStaticString("\r\n")
        case .null: buffer.writeStaticString("_\r\n")
        case .nullArray: buffer.writeStaticString("*-1\r\n")
        case .array(let items): line("*", String(items.count)); items.forEach { $0.encode(into: &buffer) }
        case .set(let items): line("~", String(items.count)); items.forEach { $0.encode(into: &buffer) }
        case .push(let items): line(">", String(items.count)); items.forEach { $0.encode(into: &buffer) }
        case .map(let pairs), .attribute(let pairs):
            if case .map = self { line("%", String(pairs.count)) } else { line("|", String(pairs.count)) }
            for (k, v) in pairs {
                k.encode(into: &buffer)
                v.encode(into: &buffer)
            }
        case .double(let d): line(",", RESPReplyWriter.formatDouble(d))
        case .boolean(let b): line("#", b ? "t" : "f")
        case .bigNumber(let s): line("(", s)
        case .verbatim(let format, let text):
            let body = format + ":" + text
            line("=", String(body.utf8.count))
            buffer.writeString(body)
            buffer.writeStaticString("\r\n")
        }
    }
}

/// Decodes RESP2/RESP3 values (replies), incrementally and with a nesting limit.
///
/// Unlike ``RESPCommandParser`` this parser is for replies relayed between nodes and for tests;
/// it is not on the request hot path. Lengths are checked against ``RESPLimits`` before any
/// allocation and nesting deeper than `maxDepth` is refused, so hostile input cannot exhaust memory
/// or the stack.
public struct RESPValueParser: Sendable {
    public var limits: RESPLimits
    public var maxDepth: Int

    public init(limits: RESPLimits = RESPLimits(), maxDepth: Int = 64) {
        self.limits = limits
        self.maxDepth = maxDepth
    }

    /// Parses one value from the front of `buffer`, consuming it; returns nil (and consumes nothing)
    /// when the value is not complete yet.
    public func parse(_ buffer: inout ByteBuffer) throws(RESPProtocolError) -> RESPValue? {
        var cursor = buffer.readerIndex
        guard let value = try parseValue(buffer, &cursor, depth: 0) else { return nil }
        buffer.moveReaderIndex(to: cursor)
        return value
    }

    private func readLine(_ buffer: ByteBuffer, _ cursor: inout Int) throws(RESPProtocolError) -> String? {
        let view = buffer.readableBytesView
        let start = cursor
        var i = start
        let end = buffer.writerIndex
        while i + 1 < end {
            if view[i] == UInt8(ascii: "\r") {
                guard view[i + 1] == UInt8(ascii: "\n") else { throw RESPProtocolError("invalid line ending") }
                cursor = i + 2
                return buffer.getString(at: start, length: i - start)
            }
            i += 1
            if i - start > limits.maxInlineLength { throw RESPProtocolError("line too long") }
        }
        return nil
    }

    private func readLength(_ buffer: ByteBuffer, _ cursor: inout Int, max: Int) throws(RESPProtocolError) -> Int?? {
        guard let text = try readLine(buffer, &cursor) else { return .none }
        guard let n = Int(text), n >= -1, n <= max else { throw RESPProtocolError("invalid length '\(text)'") }
        return .some(n == -1 ? nil : n)
    }

    private func parseValue(_ buffer: ByteBuffer, _ cursor: inout Int, depth: Int) throws(RESPProtocolError) -> RESPValue? {
        guard depth <= maxDepth else { throw RESPProtocolError("nesting too deep") }
        guard let marker = buffer.getInteger(at: cursor, as: UInt8.self) else { return nil }
        cursor += 1
        switch marker {
        case UInt8(ascii: "+"):
            return try readLine(buffer, &cursor).map { .simpleString($0) }
        case UInt8(ascii: "-"):
            return try readLine(buffer, &cursor).map { .error($0) }
        case UInt8(ascii: ":"):
            guard let text = try readLine(buffer, &cursor) else { return nil }
            guard let n = Int(text) else { throw RESPProtocolError("invalid integer '\(text)'") }
            return .integer(n)
        case UInt8(ascii: "("):
            guard let text = try readLine(buffer, &cursor) else { return nil }
            return .bigNumber(text)
        case UInt8(ascii: ","):
            guard let text = try readLine(buffer, &cursor) else { return nil }
            switch text {
            case "inf": return .double(.infinity)
            case "-inf": return .double(-.infinity)
            case "nan": return .double(.nan)
            default:
                guard let d = Double(text) else { throw RESPProtocolError("invalid double '\(text)'") }
                return .double(d)
            }
        case UInt8(ascii: "#"):
            guard let text = try readLine(buffer, &cursor) else { return nil }
            switch text {
            case "t": return .boolean(true)
            case "f": return .boolean(false)
            default: throw RESPProtocolError("invalid boolean '\(text)'")
            }
        case UInt8(ascii: "_"):
            guard let text = try readLine(buffer, &cursor) else { return nil }
            guard text.isEmpty else { throw RESPProtocolError("invalid null") }
            return .null
        case UInt8(ascii: "$"), UInt8(ascii: "="), UInt8(ascii: "!"):
            guard let length = try readLength(buffer, &cursor, max: limits.maxBulkLength) else { return nil }
            guard let length else {
                // Only bulk strings have a null form (`$-1`); `=-1` and `!-1` are malformed.
                guard marker == UInt8(ascii: "$") else { throw RESPProtocolError("invalid length '-1'") }
                return .null
            }
            guard buffer.writerIndex - cursor - 2 >= length else { return nil }
            guard let body = buffer.getSlice(at: cursor, length: length) else { return nil }
            cursor += length + 2
            switch marker {
            case UInt8(ascii: "$"): return .bulkString(body)
            case UInt8(ascii: "!"): return .error(String(buffer: body))
            default:
                // Split by bytes: `txt:` then the text (a Character may span the `:`).
                guard length >= 4 else { throw RESPProtocolError("invalid verbatim string") }
                return .verbatim(format: body.getString(at: body.readerIndex, length: 3) ?? "",
                                 text: body.getString(at: body.readerIndex + 4, length: length - 4) ?? "")
            }
        case UInt8(ascii: "*"), UInt8(ascii: "~"), UInt8(ascii: ">"):
            guard let count = try readLength(buffer, &cursor, max: limits.maxMultibulkLength) else { return nil }
            guard let count else { return .nullArray }
            var items: [RESPValue] = []
            items.reserveCapacity(min(count, 1024))
            for _ in 0..<count {
                guard let item = try parseValue(buffer, &cursor, depth: depth + 1) else { return nil }
                items.append(item)
            }
            switch marker {
            case UInt8(ascii: "*"): return .array(items)
            case UInt8(ascii: "~"): return .set(items)
            default: return .push(items)
            }
        case UInt8(ascii: "%"), UInt8(ascii: "|"):
            guard let count = try readLength(buffer, &cursor, max: limits.maxMultibulkLength) else { return nil }
            guard let count else { throw RESPProtocolError("invalid map length") }
            var pairs: [(RESPValue, RESPValue)] = []
            pairs.reserveCapacity(min(count, 1024))
            for _ in 0..<count {
                guard let k = try parseValue(buffer, &cursor, depth: depth + 1),
                      let v = try parseValue(buffer, &cursor, depth: depth + 1) else { return nil }
                pairs.append((k, v))
            }
            return marker == UInt8(ascii: "%") ? .map(pairs) : .attribute(pairs)
        default:
            throw RESPProtocolError("invalid type byte \(marker)")
        }
    }
}
