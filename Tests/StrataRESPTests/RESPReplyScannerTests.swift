import NIOCore
import Testing
@testable import StrataRESP

@Suite struct RESPReplyScannerTests {
    let limits = RESPLimits(maxBulkLength: Int(Int32.max), maxMultibulkLength: Int(Int32.max))
    /// Every kind of value that is a reply on its own (an attribute is not: a value follows it).
    let replies = everyValueKind.filter { if case .attribute = $0 { false } else { true } }

    func encoded(_ value: RESPValue) -> [UInt8] {
        var buffer = ByteBuffer()
        value.encode(into: &buffer)
        return Array(buffer.readableBytesView)
    }

    /// Feeds `bytes` in `pieces`, appending each to the same buffer as a connection does, and
    /// returns the lengths of the replies found, in order.
    func lengths(_ pieces: [[UInt8]]) throws -> [Int] {
        var scanner = RESPReplyScanner(limits: limits)
        var buffer = ByteBuffer()
        var found: [Int] = []
        for piece in pieces {
            buffer.writeBytes(piece)
            while let length = try scanner.scan(buffer) {
                found.append(length)
                buffer.moveReaderIndex(forwardBy: length)
            }
        }
        #expect(buffer.readableBytes == 0)
        return found
    }

    @Test func everyValueKindIsOneReply() throws {
        for value in replies {
            let bytes = encoded(value)
            #expect(try lengths([bytes]) == [bytes.count], "\(value)")
        }
    }

    @Test func everyStrictPrefixIsIncomplete() throws {
        for value in replies {
            let bytes = encoded(value)
            for cut in 0..<bytes.count {
                var scanner = RESPReplyScanner(limits: limits)
                #expect(try scanner.scan(ByteBuffer(bytes: bytes[..<cut])) == nil, "\(value) cut at \(cut)")
            }
        }
    }

    @Test func resumesAcrossAnySplit() throws {
        var all: [UInt8] = []
        var expected: [Int] = []
        for value in replies {
            let bytes = encoded(value)
            all += bytes
            expected.append(bytes.count)
        }
        var generator = SeededGenerator(seed: 7)
        #expect(try lengths(chunks(of: all, maxChunk: nil, using: &generator)) == expected)
        for _ in 0..<50 {
            #expect(try lengths(chunks(of: all, maxChunk: 40, using: &generator)) == expected)
        }
    }

    @Test func nestedAggregatesAndAttributes() throws {
        let nested = "*2\r\n*2\r\n%1\r\n+k\r\n~2\r\n:1\r\n#t\r\n$-1\r\n>1\r\n*0\r\n"
        #expect(try lengths([Array(nested)]) == [nested.utf8.count])
        // An attribute, then the value it describes: one reply.
        let attributed = "|1\r\n+ttl\r\n:3600\r\n$3\r\nabc\r\n"
        #expect(try lengths([Array(attributed)]) == [attributed.utf8.count])
        // Attributes inside an array do not fill its slots.
        let inside = "*2\r\n|1\r\n+a\r\n+b\r\n:1\r\n:2\r\n"
        #expect(try lengths([Array(inside)]) == [inside.utf8.count])
        var scanner = RESPReplyScanner(limits: limits)
        #expect(try scanner.scan(ByteBuffer(string: "|1\r\n+ttl\r\n:3600\r\n")) == nil)
    }

    @Test func nullsAndEmpties() throws {
        let replies = ["$-1\r\n", "*-1\r\n", "_\r\n", "$0\r\n\r\n", "*0\r\n", "%0\r\n", "~0\r\n", "+\r\n"]
        #expect(try lengths([Array(replies.joined())]) == replies.map(\.utf8.count))
    }

    @Test func deepNestingNeedsNoRecursion() throws {
        let depth = 100_000
        let text = String(repeating: "*1\r\n", count: depth) + ":1\r\n"
        #expect(try lengths([Array(text)]) == [text.utf8.count])
    }

    @Test func bulkBodiesAreSkippedNotRead() throws {
        // A body full of bytes that look like markers and line ends.
        let body = "*1\r\n$3\r\n-ERR\r\n"
        let reply = "$\(body.utf8.count)\r\n\(body)\r\n"
        #expect(try lengths([Array(reply)]) == [reply.utf8.count])
    }

    @Test func hugeAnnouncedLengthsWaitOrFail() throws {
        var scanner = RESPReplyScanner(limits: limits)
        // Within the limits: valid headers, the rest has not arrived.
        #expect(try scanner.scan(ByteBuffer(string: "$2147483647\r\nabc")) == nil)
        scanner.reset()
        #expect(try scanner.scan(ByteBuffer(string: "*2147483647\r\n:1\r\n")) == nil)
        scanner.reset()
        #expect(try scanner.scan(ByteBuffer(string: "%2147483647\r\n")) == nil)
        // Beyond them, or beyond Int64: refused before any arithmetic.
        for bad in ["$2147483648\r\n", "*2147483648\r\n", "$99999999999999999999\r\n", "*9223372036854775807\r\n",
                    "$-2\r\n", "*-2\r\n", "$+1\r\n", "$01\r\n", "$\r\n", "$ 1\r\n"] {
            var fresh = RESPReplyScanner(limits: limits)
            #expect(throws: RESPProtocolError.self, "\(bad)") { try fresh.scan(ByteBuffer(string: bad)) }
        }
        var small = RESPReplyScanner(limits: RESPLimits(maxBulkLength: 10, maxMultibulkLength: 3))
        #expect(throws: RESPProtocolError.self) { try small.scan(ByteBuffer(string: "$11\r\n")) }
        small.reset()
        #expect(throws: RESPProtocolError.self) { try small.scan(ByteBuffer(string: "*4\r\n")) }
    }

    @Test func malformedRepliesAreRefused() {
        for bad in ["?x\r\n", "+OK\rX", "$3\r\nabcXY", "=-1\r\n", "!-1\r\n", "~-1\r\n", "%-1\r\n", "|-1\r\n", "*1\r\n@\r\n"] {
            var scanner = RESPReplyScanner(limits: limits)
            #expect(throws: RESPProtocolError.self, "\(bad)") { try scanner.scan(ByteBuffer(string: bad)) }
        }
        // A header line that never ends.
        var scanner = RESPReplyScanner(limits: RESPLimits(maxInlineLength: 16))
        #expect(throws: RESPProtocolError.self) { try scanner.scan(ByteBuffer(string: "+" + String(repeating: "a", count: 40))) }
    }

    @Test func aBulkWaitsForItsBodyWithoutRescanning() throws {
        var scanner = RESPReplyScanner(limits: limits)
        var buffer = ByteBuffer(string: "*2\r\n:1\r\n$10\r\n01234")
        #expect(try scanner.scan(buffer) == nil)
        buffer.writeString("56789")
        #expect(try scanner.scan(buffer) == nil)
        buffer.writeString("\r\n+next\r\n")
        #expect(try scanner.scan(buffer) == 25)
        buffer.moveReaderIndex(forwardBy: 25)
        #expect(try scanner.scan(buffer) == 7)
    }
}
