import NIOCore
import StrataRESP

/// The arguments of one command: positions into a buffer, read in place.
///
/// Arguments are not copied out of the receive buffer; ``bytes(_:)`` and ``string(_:)`` copy
/// when a command needs to keep an argument (MULTI queues do, via ``owned()``).
public struct CommandArguments {
    /// The bytes; spans are relative to its reader index.
    public var buffer: ByteBuffer
    public var spans: [ArgumentSpan]

    public init(buffer: ByteBuffer, spans: [ArgumentSpan]) {
        self.buffer = buffer
        self.spans = spans
    }

    /// Arguments from strings (tests, internal commands).
    public init(_ words: [String]) {
        var buffer = ByteBuffer()
        var spans: [ArgumentSpan] = []
        for word in words {
            spans.append(ArgumentSpan(offset: buffer.writerIndex, length: word.utf8.count))
            buffer.writeString(word)
        }
        self.init(buffer: buffer, spans: spans)
    }

    /// Arguments from byte arrays.
    public init(bytes words: [[UInt8]]) {
        var buffer = ByteBuffer()
        var spans: [ArgumentSpan] = []
        for word in words {
            spans.append(ArgumentSpan(offset: buffer.writerIndex, length: word.count))
            buffer.writeBytes(word)
        }
        self.init(buffer: buffer, spans: spans)
    }

    @inlinable public var count: Int { spans.count }

    /// Calls `body` with argument `index`'s bytes, valid only during the call.
    @inlinable @inline(__always)
    public func withBytes<R>(_ index: Int, _ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        let span = spans[index]
        return try buffer.withUnsafeReadableBytes { raw in
            try body(UnsafeRawBufferPointer(rebasing: raw[span.offset..<(span.offset + span.length)]))
        }
    }

    public func bytes(_ index: Int) -> [UInt8] { withBytes(index) { Array($0) } }
    public func string(_ index: Int) -> String { withBytes(index) { String(decoding: $0, as: UTF8.self) } }
    public func length(_ index: Int) -> Int { spans[index].length }

    /// The argument as a 64-bit integer with Redis's parsing rules, or nil.
    @inlinable
    public func integer(_ index: Int) -> Int? { withBytes(index) { RESPNumber.parseInt($0) } }

    /// Whether argument `index` equals `word` ignoring ASCII case; `word` must be upper case.
    @inlinable
    public func matches(_ index: Int, _ word: StaticString) -> Bool {
        guard spans[index].length == word.utf8CodeUnitCount else { return false }
        return withBytes(index) { bytes in
            let expected = word.utf8Start
            for i in 0..<bytes.count {
                var c = bytes[i]
                if c >= UInt8(ascii: "a") && c <= UInt8(ascii: "z") { c -= 32 }
                if c != expected[i] { return false }
            }
            return true
        }
    }

    /// A copy whose bytes do not share the receive buffer (for MULTI queues).
    public func owned() -> CommandArguments {
        var copy = ByteBuffer()
        var newSpans: [ArgumentSpan] = []
        newSpans.reserveCapacity(spans.count)
        copy.reserveCapacity(spans.reduce(0) { $0 + $1.length })
        for i in 0..<spans.count {
            newSpans.append(ArgumentSpan(offset: copy.writerIndex, length: spans[i].length))
            withBytes(i) { _ = copy.writeBytes($0) }
        }
        return CommandArguments(buffer: copy, spans: newSpans)
    }

    /// Arguments `range` as a new argument list (EXEC replays, HELLO's AUTH).
    public func slice(_ range: Range<Int>) -> CommandArguments {
        CommandArguments(buffer: buffer, spans: Array(spans[range]))
    }
}
