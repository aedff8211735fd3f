import NIOCore
import Testing
@testable import StrataRESP

private func multibulk(_ arguments: [[UInt8]]) -> [UInt8] {
    var out = Array("*\(arguments.count)\r\n")
    for argument in arguments {
        out += Array("$\(argument.count)\r\n") + argument + Array("\r\n")
    }
    return out
}

@Suite("RESPCommandParser")
struct RESPCommandParserTests {
    @Test("a multibulk frame's spans and length")
    func multibulkFrame() throws {
        var parser = RESPCommandParser()
        let wire = "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$0\r\n\r\nextra"
        let buffer = ByteBuffer(string: wire)
        let frame = try parser.parse(buffer)
        #expect(frame == .multibulk(frameLength: wire.utf8.count - 5))
        #expect(parser.spans == [ArgumentSpan(offset: 8, length: 3), ArgumentSpan(offset: 17, length: 1),
                                 ArgumentSpan(offset: 24, length: 0)])
        #expect(!parser.isMidFrame)
    }

    @Test("binary arguments, including CRLF and NUL bytes, are kept as they are")
    func binaryArguments() {
        let arguments: [[UInt8]] = [Array("SET"), [0x00, 0x0D, 0x0A, 0xFF], Array("\r\n$3\r\n*1\r\n"), []]
        var parser = RESPCommandParser()
        let outcome = parseCommands([multibulk(arguments)], parser: &parser)
        #expect(outcome == ParseOutcome(values: [arguments]))
    }

    @Test("pipelined frames of every kind, in order")
    func pipelined() {
        let wire = "*1\r\n$4\r\nPING\r\nPING\r\n*0\r\n\r\n\n*-1\r\n*2\r\n$4\r\nECHO\r\n$0\r\n\r\nSET a b\n"
        let outcome = parseCommands(wire)
        #expect(outcome.error == nil)
        #expect(outcome.values == [words("PING"), words("PING"), [], [], [], [], words("ECHO", ""), words("SET", "a", "b")])
    }

    @Test("inline commands: spaces, quotes and escapes as redis-cli sends them", arguments: [
        ("PING\r\n", ["PING"]),
        ("PING\n", ["PING"]),
        ("  set   key\tvalue  \r\n", ["set", "key", "value"]),
        ("SET k \"hello world\"\r\n", ["SET", "k", "hello world"]),
        ("SET k \"\\x41\\x62\\x7a\"\r\n", ["SET", "k", "Abz"]),
        ("SET k \"a\\nb\\r\\t\\b\\a\\\\\\\"\"\r\n", ["SET", "k", "a\nb\r\t\u{8}\u{7}\\\""]),
        ("SET k \"\\x4\"\r\n", ["SET", "k", "x4"]),
        ("SET k \"\\xZZ\"\r\n", ["SET", "k", "xZZ"]),
        ("SET k 'it\\'s' 'a\\nb'\r\n", ["SET", "k", "it's", "a\\nb"]),
        ("SET k \"\" ''\r\n", ["SET", "k", "", ""]),
        ("a\"b\" c\r\n", ["ab", "c"]),
        // redis-server 7.0.15: \v and \f are skipped between words but belong to a bare word.
        ("ECHO a\u{0B}b\u{0C}c\r\n", ["ECHO", "a\u{0B}b\u{0C}c"]),
        ("ECHO \u{0B}\u{0C} x\r\n", ["ECHO", "x"]),
        ("ECHO \"a\"\u{0B}\r\n", ["ECHO", "a"]),
    ])
    func inline(_ line: String, _ expected: [String]) {
        let outcome = parseCommands(line)
        #expect(outcome.error == nil)
        #expect(outcome.values == [expected.map { Array($0) }])
    }

    @Test("unbalanced quotes are a protocol error", arguments: [
        "SET k \"abc\r\n", "SET k 'abc\r\n", "SET k \"a\"b\r\n", "SET k 'a'b\r\n", "\"\r\n",
    ])
    func unbalancedQuotes(_ line: String) {
        #expect(parseCommands(line).error == RESPProtocolError("unbalanced quotes in request"))
    }

    @Test("the same arguments whole, one byte at a time and in random pieces")
    func splits() {
        var generator = SeededGenerator(seed: 42)
        var stream: [UInt8] = []
        for i in 0..<60 {
            let count = Int.random(in: 1...5, using: &generator)
            let arguments: [[UInt8]] = (0..<count).map { _ in
                (0..<Int.random(in: 0...20, using: &generator)).map { _ in UInt8.random(in: 0...255, using: &generator) }
            }
            switch i % 3 {
            case 0: stream += multibulk(arguments)
            case 1: stream += Array("SET key\(i) \"v\\x41 \(i)\"\r\n")
            default: stream += Array("*0\r\n\r\n")
            }
        }
        var parser = RESPCommandParser()
        let whole = parseCommands([stream], parser: &parser)
        #expect(whole.error == nil)
        #expect(whole.values.count == 20 + 20 + 40)
        var bytewise = RESPCommandParser()
        #expect(parseCommands(chunks(of: stream, maxChunk: nil, using: &generator), parser: &bytewise) == whole)
        for _ in 0..<100 {
            var random = RESPCommandParser()
            #expect(parseCommands(chunks(of: stream, maxChunk: 64, using: &generator), parser: &random) == whole)
        }
    }

    @Test("a large argument arriving in growing reads")
    func largeArgument() throws {
        let big = [UInt8](repeating: UInt8(ascii: "x"), count: 300_000)
        let wire = multibulk([Array("ECHO"), big])
        var parser = RESPCommandParser()
        var buffer = ByteBuffer()
        var offset = 0
        var frame: RESPCommandParser.Frame?
        for size in [2048, 4096, 8192, 16384, 32768, 64485, 65536, 65536, 40980] where offset < wire.count {
            let n = min(size, wire.count - offset)
            buffer.writeBytes(wire[offset..<offset + n])
            offset += n
            frame = try parser.parse(buffer)
            if offset < wire.count {
                #expect(frame == nil)
                #expect(parser.isMidFrame)
            }
        }
        #expect(frame == .multibulk(frameLength: wire.count))
        #expect(parser.spans.last == ArgumentSpan(offset: wire.count - 300_002, length: 300_000))
    }

    @Test("protocol errors carry Redis's text", arguments: [
        ("*abc\r\n", "invalid multibulk length"),
        ("*1a\r\n", "invalid multibulk length"),
        ("*01\r\n", "invalid multibulk length"),
        ("*2147483647\r\n", "invalid multibulk length"),
        ("*99999999999999999999999\r\n", "invalid multibulk length"),
        ("*1\r\nx", "expected '$', got 'x'"),
        ("*2\r\n$1\r\na\r\n:1\r\n", "expected '$', got ':'"),
        ("*1\r\n$abc\r\n", "invalid bulk length"),
        ("*1\r\n$-1\r\n", "invalid bulk length"),
        ("*1\r\n$999999999999\r\n", "invalid bulk length"),
        ("*1\r\n$536870913\r\n", "invalid bulk length"),
    ])
    func protocolErrors(_ wire: String, _ message: String) {
        #expect(parseCommands(wire).error == RESPProtocolError(message))
        #expect(RESPProtocolError(message).description == "Protocol error: \(message)")
    }

    @Test("over-long lines are refused once the inline limit is passed")
    func longLines() {
        let limit = RESPLimits().maxInlineLength
        let inline = String(repeating: "a", count: limit + 1)
        #expect(parseCommands(inline).error == RESPProtocolError("too big inline request"))
        #expect(parseCommands(String(repeating: "a", count: limit)).error == nil)
        #expect(parseCommands("*" + String(repeating: "1", count: limit + 1)).error
                == RESPProtocolError("too big mbulk count string"))
        #expect(parseCommands("*1\r\n$" + String(repeating: "1", count: limit + 1)).error
                == RESPProtocolError("too big bulk count string"))
        // A long inline command that fits is parsed.
        let long = "ECHO " + String(repeating: "b", count: limit - 10) + "\r\n"
        #expect(parseCommands(long).values.first?.last?.count == limit - 10)
    }

    @Test("smaller limits apply before authentication")
    func unauthenticatedLimits() {
        #expect(parseCommands("*11\r\n", authenticated: false).error == RESPProtocolError("unauthenticated multibulk length"))
        #expect(parseCommands("*11\r\n", authenticated: true).error == nil)
        #expect(parseCommands("*10\r\n", authenticated: false).error == nil)
        #expect(parseCommands("*1\r\n$16385\r\n", authenticated: false).error == RESPProtocolError("unauthenticated bulk length"))
        #expect(parseCommands("*1\r\n$16384\r\n", authenticated: false).error == nil)
        #expect(parseCommands("*1\r\n$16385\r\n", authenticated: true).error == nil)
    }

    @Test("huge announced lengths wait for data without reserving memory for them")
    func hugeAnnouncedLengths() throws {
        var parser = RESPCommandParser()
        #expect(try parser.parse(ByteBuffer(string: "*1048576\r\n$3\r\nGET\r\n")) == nil)
        #expect(parser.isMidFrame)
        #expect(parser.spans.capacity <= 2048)
        parser.reset()
        #expect(!parser.isMidFrame)
        #expect(try parser.parse(ByteBuffer(string: "*2\r\n$3\r\nGET\r\n$536870912\r\nabc")) == nil)
        #expect(parser.spans.capacity <= 2048)
        // After a reset the parser starts afresh.
        parser.reset()
        #expect(try parser.parse(ByteBuffer(string: "*1\r\n$4\r\nPING\r\n")) == .multibulk(frameLength: 14))
    }

    @Test("the largest configurable bulk length does not overflow the length arithmetic")
    func maximalBulkLimit() throws {
        var parser = RESPCommandParser(limits: RESPLimits(maxBulkLength: Int.max))
        #expect(try parser.parse(ByteBuffer(string: "*1\r\n$9223372036854775807\r\nabc")) == nil)
        var buffer = ByteBuffer(string: "$9223372036854775807\r\nabc")
        #expect(try RESPValueParser(limits: RESPLimits(maxBulkLength: Int.max)).parse(&buffer) == nil)
    }

    @Test("after an error in a partial frame the parser starts a new frame")
    func recoversAfterError() throws {
        var parser = RESPCommandParser()
        #expect(try parser.parse(ByteBuffer(string: "*2\r\n$3\r\nGET\r\n")) == nil)
        #expect(throws: RESPProtocolError("expected '$', got '?'")) {
            try parser.parse(ByteBuffer(string: "*2\r\n$3\r\nGET\r\n?"))
        }
        #expect(!parser.isMidFrame)
        #expect(try parser.parse(ByteBuffer(string: "*1\r\n$4\r\nPING\r\n")) == .multibulk(frameLength: 14))
    }

    @Test("random garbage never crashes and splits do not change the outcome")
    func garbage() {
        var generator = SeededGenerator(seed: 7)
        let alphabet = Array("*$\r\n0123456789-+ \"'\\xaAGET")
        var outcomes = (frames: 0, waiting: 0, errors: 0)
        for _ in 0..<4000 {
            let length = Int.random(in: 0...64, using: &generator)
            let bytes: [UInt8] = (0..<length).map { _ in
                Int.random(in: 0..<8, using: &generator) == 0 ? UInt8.random(in: 0...255, using: &generator)
                    : alphabet.randomElement(using: &generator)!
            }
            var parser = RESPCommandParser(limits: RESPLimits(maxBulkLength: 1 << 40))
            let whole = parseCommands([bytes], parser: &parser)
            var split = RESPCommandParser(limits: RESPLimits(maxBulkLength: 1 << 40))
            let pieces = parseCommands(chunks(of: bytes, maxChunk: 5, using: &generator), parser: &split)
            #expect(pieces == whole, "\(bytes)")
            if whole.error != nil { outcomes.errors += 1 } else if whole.values.isEmpty { outcomes.waiting += 1 } else { outcomes.frames += 1 }
        }
        // The generator must exercise all three outcomes for the test to mean anything.
        #expect(outcomes.frames > 100 && outcomes.waiting > 100 && outcomes.errors > 100)
    }
}
