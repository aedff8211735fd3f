import NIOCore

/// Where one argument of a parsed command lies, relative to the start of its frame.
public struct ArgumentSpan: Sendable, Equatable {
    public var offset: Int
    public var length: Int
    @inlinable public init(offset: Int, length: Int) {
        self.offset = offset
        self.length = length
    }
}

/// Incremental parser for client requests: RESP multibulk arrays and inline commands.
///
/// The parser never moves the buffer's reader index: a successful parse reports how many bytes the
/// frame spans and leaves the argument positions in ``spans`` (relative to the reader index), so
/// the caller can execute the command on the bytes in place and then consume them. A partial
/// multibulk frame keeps its progress across calls (as offsets, never as slices, so the caller may
/// append to or compact its buffer in between), so a request arriving in many small reads is parsed
/// in linear time.
public struct RESPCommandParser: Sendable {
    public enum Frame: Equatable, Sendable {
        /// A command whose arguments are ``RESPCommandParser/spans`` into the input buffer.
        case multibulk(frameLength: Int)
        /// An inline command; its arguments had to be unescaped, so they live in `arguments`
        /// (spans are relative to its reader index).
        case inline(frameLength: Int, arguments: ByteBuffer)
        /// A frame with no command in it (`*0`, an empty line); consume it and parse on.
        case empty(frameLength: Int)
    }

    public var limits: RESPLimits
    /// Arguments of the frame most recently returned.
    public private(set) var spans: [ArgumentSpan] = []

    /// Progress through a multibulk frame that has not fully arrived yet.
    private var remaining = 0
    private var cursor = 0
    private var inProgress = false

    public init(limits: RESPLimits = RESPLimits()) {
        self.limits = limits
        self.spans.reserveCapacity(8)
    }

    /// Parses the next frame at `buffer.readerIndex`.
    ///
    /// - Parameters:
    ///   - buffer: the bytes received so far; not modified.
    ///   - authenticated: `false` applies Redis's stricter limits for clients that still owe AUTH.
    /// - Returns: the frame, or `nil` when more bytes are needed.
    /// - Throws: ``RESPProtocolError`` with Redis's text for malformed input.
    public mutating func parse(_ buffer: ByteBuffer, authenticated: Bool = true) throws(RESPProtocolError) -> Frame? {
        if !inProgress {
            guard let first = buffer.getInteger(at: buffer.readerIndex, as: UInt8.self) else { return nil }
            if first != UInt8(ascii: "*") {
                return try parseInline(buffer)
            }
            guard let line = findLineEnd(buffer, from: buffer.readerIndex + 1) else {
                if buffer.readableBytes > limits.maxInlineLength {
                    throw RESPProtocolError("too big mbulk count string")
                }
                return nil
            }
            let count = parseInteger(buffer, from: buffer.readerIndex + 1, to: line)
            guard let count, count <= limits.maxMultibulkLength else {
                throw RESPProtocolError("invalid multibulk length")
            }
            let headerLength = line + 2 - buffer.readerIndex
            if count <= 0 {
                return .empty(frameLength: headerLength)
            }
            if !authenticated && count > limits.unauthenticatedMaxMultibulkLength {
                throw RESPProtocolError("unauthenticated multibulk length")
            }
            spans.removeAll(keepingCapacity: true)
            // Never trust the announced count for a reservation beyond a small bound.
            spans.reserveCapacity(min(count, 1024))
            remaining = count
            cursor = headerLength
            inProgress = true
        }
        let base = buffer.readerIndex
        let end = buffer.writerIndex
        while remaining > 0 {
            let position = base + cursor
            guard let marker = buffer.getInteger(at: position, as: UInt8.self) else { return nil }
            guard marker == UInt8(ascii: "$") else {
                inProgress = false
                throw RESPProtocolError("expected '$', got '\(Character(Unicode.Scalar(marker)))'")
            }
            guard let line = findLineEnd(buffer, from: position + 1) else {
                if end - position > limits.maxInlineLength {
                    inProgress = false
                    throw RESPProtocolError("too big bulk count string")
                }
                return nil
            }
            guard let length = parseInteger(buffer, from: position + 1, to: line),
                  length >= 0, length <= limits.maxBulkLength else {
                inProgress = false
                throw RESPProtocolError("invalid bulk length")
            }
            if !authenticated && length > limits.unauthenticatedMaxBulkLength {
                inProgress = false
                throw RESPProtocolError("unauthenticated bulk length")
            }
            let dataStart = line + 2
            // The bulk data and its trailing CRLF must both have arrived.
            guard end - dataStart - 2 >= length else { return nil } // no overflow with any limit
            spans.append(ArgumentSpan(offset: dataStart - base, length: length))
            cursor = dataStart + length + 2 - base
            remaining -= 1
        }
        inProgress = false
        return .multibulk(frameLength: cursor)
    }

    /// Whether a multibulk frame has begun but not fully arrived.
    public var isMidFrame: Bool { inProgress }

    /// Forgets any partial frame (after the connection is reset).
    public mutating func reset() {
        inProgress = false
        remaining = 0
        cursor = 0
        spans.removeAll(keepingCapacity: true)
    }

    // MARK: - Inline commands

    private mutating func parseInline(_ buffer: ByteBuffer) throws(RESPProtocolError) -> Frame? {
        let start = buffer.readerIndex
        let newline = buffer.withUnsafeReadableBytes { raw -> Int? in
            let limit = min(raw.count, limits.maxInlineLength + 2)
            for i in 0..<limit where raw[i] == UInt8(ascii: "\n") { return i }
            return nil
        }
        guard let newline else {
            if buffer.readableBytes > limits.maxInlineLength {
                throw RESPProtocolError("too big inline request")
            }
            return nil
        }
        var lineEnd = newline
        if lineEnd > 0, buffer.getInteger(at: start + lineEnd - 1, as: UInt8.self) == UInt8(ascii: "\r") {
            lineEnd -= 1
        }
        guard let words = buffer.withUnsafeReadableBytes({ raw in
            InlineSplitter.split(UnsafeRawBufferPointer(rebasing: raw[0..<lineEnd]))
        }) else {
            throw RESPProtocolError("unbalanced quotes in request")
        }
        if words.isEmpty { return .empty(frameLength: newline + 1) }
        var arguments = ByteBuffer()
        arguments.reserveCapacity(words.reduce(0) { $0 + $1.count })
        spans.removeAll(keepingCapacity: true)
        for word in words {
            spans.append(ArgumentSpan(offset: arguments.writerIndex, length: word.count))
            arguments.writeBytes(word)
        }
        return .inline(frameLength: newline + 1, arguments: arguments)
    }

    // MARK: - Helpers

    /// Index of the `\r` of the first CRLF at or after `from`, searching at most the inline limit.
    @inline(__always)
    private func findLineEnd(_ buffer: ByteBuffer, from: Int) -> Int? {
        let base = buffer.readerIndex
        return buffer.withUnsafeReadableBytes { raw -> Int? in
            let startOffset = from - base
            let limit = min(raw.count - 1, startOffset + limits.maxInlineLength)
            var i = startOffset
            while i < limit {
                if raw[i] == UInt8(ascii: "\r") {
                    return raw[i + 1] == UInt8(ascii: "\n") ? base + i : nil
                }
                i += 1
            }
            return nil
        }
    }

    /// Parses a signed decimal between two buffer indices; nil on any non-digit or overflow.
    @inline(__always)
    private func parseInteger(_ buffer: ByteBuffer, from: Int, to: Int) -> Int? {
        let base = buffer.readerIndex
        return buffer.withUnsafeReadableBytes { raw in
            RESPNumber.parseInt(UnsafeRawBufferPointer(rebasing: raw[(from - base)..<(to - base)]))
        }
    }
}

/// Splits an inline command line the way redis-cli users expect (Redis's `sdssplitargs`).
enum InlineSplitter {
    static func split(_ line: UnsafeRawBufferPointer) -> [[UInt8]]? {
        var result: [[UInt8]] = []
        var i = 0
        let n = line.count
        func isSpace(_ c: UInt8) -> Bool { c == 0x20 || c == 0x0A || c == 0x0D || c == 0x09 || c == 0x0B || c == 0x0C }
        func hexValue(_ c: UInt8) -> UInt8? {
            switch c {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): return c - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): return c - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): return c - UInt8(ascii: "A") + 10
            default: return nil
            }
        }
        while true {
            while i < n && isSpace(line[i]) { i += 1 }
            if i >= n { return result }
            var current: [UInt8] = []
            var inDouble = false, inSingle = false, done = false
            while !done {
                if inDouble {
                    if i >= n { return nil }
                    let c = line[i]
                    if c == UInt8(ascii: "\\") && i + 3 < n && line[i + 1] == UInt8(ascii: "x"),
                       let hi = hexValue(line[i + 2]), let lo = hexValue(line[i + 3]) {
                        current.append(hi << 4 | lo)
                        i += 3
                    } else if c == UInt8(ascii: "\\") && i + 1 < n {
                        i += 1
                        switch line[i] {
                        case UInt8(ascii: "n"): current.append(0x0A)
                        case UInt8(ascii: "r"): current.append(0x0D)
                        case UInt8(ascii: "t"): current.append(0x09)
                        case UInt8(ascii: "b"): current.append(0x08)
                        case UInt8(ascii: "a"): current.append(0x07)
                        default: current.append(line[i])
                        }
                    } else if c == UInt8(ascii: "\"") {
                        // A closing quote must be followed by a space or the end.
                        if i + 1 < n && !isSpace(line[i + 1]) { return nil }
                        done = true
                    } else {
                        current.append(c)
                    }
                } else if inSingle {
                    if i >= n { return nil }
                    let c = line[i]
                    if c == UInt8(ascii: "\\") && i + 1 < n && line[i + 1] == UInt8(ascii: "'") {
                        i += 1
                        current.append(UInt8(ascii: "'"))
                    } else if c == UInt8(ascii: "'") {
                        if i + 1 < n && !isSpace(line[i + 1]) { return nil }
                        done = true
                    } else {
                        current.append(c)
                    }
                } else {
                    if i >= n { done = true; break }
                    let c = line[i]
                    // As sdssplitargs: \v and \f are skipped between words but do not end one.
                    if c == 0x20 || c == 0x0A || c == 0x0D || c == 0x09 {
                        done = true
                    } else if c == UInt8(ascii: "\"") {
                        inDouble = true
                    } else if c == UInt8(ascii: "'") {
                        inSingle = true
                    } else {
                        current.append(c)
                    }
                }
                if i < n { i += 1 }
            }
            result.append(current)
        }
    }
}
