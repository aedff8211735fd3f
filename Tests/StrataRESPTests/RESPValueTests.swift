import NIOCore
import Testing
@testable import StrataRESP

/// One value of every RESP2/RESP3 type, with awkward contents where the type allows it.
let everyValueKind: [RESPValue] = [
    .simpleString("OK"),
    .simpleString(""),
    .error("ERR something went wrong"),
    .integer(0),
    .integer(Int.min),
    .integer(Int.max),
    .bulk("hello"),
    .bulk(""),
    .bulkString(ByteBuffer(bytes: [0x00, 0xFF, 0x0D, 0x0A, 0x24, 0x2A, 0x0D, 0x0A, 0x80])),
    .bulk("\r\n"),
    .null,
    .nullArray,
    .array([]),
    .array([.integer(1), .bulk("two"), .array([.simpleString("three"), .array([.null, .array([])])])]),
    .map([(.bulk("key"), .integer(1)), (.simpleString("nested"), .map([(.integer(2), .array([.boolean(true)]))]))]),
    .map([]),
    .set([.bulk("a"), .integer(7), .double(2.5)]),
    .double(1.5),
    .double(-0.25),
    .double(3),
    .double(1e300),
    .double(.leastNonzeroMagnitude),
    .double(.infinity),
    .double(-.infinity),
    .double(.nan),
    .boolean(true),
    .boolean(false),
    .bigNumber("3492890328409238509324850943850943825024385"),
    .bigNumber("-3492890328409238509324850943850943825024385"),
    .verbatim(format: "txt", text: "Some string"),
    .verbatim(format: "mkd", text: "line one\r\nline two"),
    .verbatim(format: "txt", text: ""),
    .push([.bulk("message"), .bulk("channel"), .bulk("payload")]),
    .attribute([(.bulk("ttl"), .integer(3600))]),
]

func encoded(_ value: RESPValue) -> [UInt8] {
    var buffer = ByteBuffer()
    value.encode(into: &buffer)
    return Array(buffer.readableBytesView)
}

@Suite("RESPValue encoding and parsing")
struct RESPValueTests {
    @Test("every value type round-trips", arguments: everyValueKind)
    func roundTrip(_ value: RESPValue) throws {
        var buffer = ByteBuffer(bytes: encoded(value))
        let parsed = try RESPValueParser().parse(&buffer)
        #expect(parsed == value)
        #expect(buffer.readableBytes == 0)
    }

    @Test("exact wire form of each RESP3 type")
    func wireForms() {
        let cases: [(RESPValue, String)] = [
            (.simpleString("OK"), "+OK\r\n"),
            (.error("ERR x"), "-ERR x\r\n"),
            (.integer(-42), ":-42\r\n"),
            (.bulk("ab"), "$2\r\nab\r\n"),
            (.null, "_\r\n"),
            (.nullArray, "*-1\r\n"),
            (.array([.integer(1)]), "*1\r\n:1\r\n"),
            (.map([(.bulk("a"), .integer(1))]), "%1\r\n$1\r\na\r\n:1\r\n"),
            (.set([.integer(1)]), "~1\r\n:1\r\n"),
            (.double(.infinity), ",inf\r\n"),
            (.double(-.infinity), ",-inf\r\n"),
            (.double(.nan), ",nan\r\n"),
            (.double(3), ",3\r\n"),
            (.boolean(true), "#t\r\n"),
            (.boolean(false), "#f\r\n"),
            (.bigNumber("123"), "(123\r\n"),
            (.verbatim(format: "txt", text: "hi"), "=6\r\ntxt:hi\r\n"),
            (.push([.integer(1)]), ">1\r\n:1\r\n"),
            (.attribute([(.bulk("a"), .integer(1))]), "|1\r\n$1\r\na\r\n:1\r\n"),
        ]
        for (value, wire) in cases {
            #expect(encoded(value) == Array(wire), "\(value)")
        }
    }

    @Test("RESP2 and RESP3 null forms and the blob error parse")
    func otherForms() throws {
        let cases: [(String, RESPValue)] = [
            ("$-1\r\n", .null),
            ("*-1\r\n", .nullArray),
            ("!21\r\nSYNTAX invalid syntax\r\n", .error("SYNTAX invalid syntax")),
            (",1.5e3\r\n", .double(1500)),
            (":+7\r\n", .integer(7)),
        ]
        for (wire, value) in cases {
            var buffer = ByteBuffer(string: wire)
            #expect(try RESPValueParser().parse(&buffer) == value, "\(wire)")
        }
    }

    @Test("verbatim text is split after the 4th byte, not the 4th character")
    func verbatimSplitsBytes() throws {
        // U+0301 (combining acute accent) forms one Character with the preceding ':'.
        let value = RESPValue.verbatim(format: "txt", text: "\u{301}abc")
        var buffer = ByteBuffer(bytes: encoded(value))
        #expect(try RESPValueParser().parse(&buffer) == value)
    }

    @Test("a stream parses the same whole, one byte at a time, and in random pieces")
    func incrementalParsing() {
        let stream = everyValueKind.flatMap(encoded)
        let whole = parseValues([stream])
        #expect(whole.error == nil)
        #expect(whole.values == everyValueKind)
        var generator = SeededGenerator(seed: 1)
        #expect(parseValues(chunks(of: stream, maxChunk: nil, using: &generator)) == whole)
        for _ in 0..<200 {
            #expect(parseValues(chunks(of: stream, maxChunk: 40, using: &generator)) == whole)
        }
    }

    @Test("an incomplete value returns nil at every prefix and consumes nothing")
    func incompleteValues() throws {
        for value in everyValueKind {
            let bytes = encoded(value)
            for length in 0..<bytes.count {
                var buffer = ByteBuffer(bytes: bytes[0..<length])
                #expect(try RESPValueParser().parse(&buffer) == nil, "\(value) prefix \(length)")
                #expect(buffer.readableBytes == length)
            }
        }
    }

    @Test("malformed values are protocol errors")
    func malformed() {
        let cases: [String] = [
            "?\r\n", ":abc\r\n", "#x\r\n", "_x\r\n", ",abc\r\n", "$-2\r\n", "$abc\r\n",
            "*-2\r\n", "%-1\r\n", "=2\r\nab\r\n", "+a\rb\r\n",
            // No null form exists for verbatim strings and blob errors.
            "=-1\r\n", "!-1\r\n",
        ]
        for wire in cases {
            var buffer = ByteBuffer(string: wire)
            #expect(throws: RESPProtocolError.self, "\(wire.debugDescription)") {
                try RESPValueParser().parse(&buffer)
            }
        }
    }

    @Test("lengths above the limits are refused before anything is allocated")
    func lengthLimits() throws {
        let limits = RESPLimits(maxBulkLength: 100, maxMultibulkLength: 10)
        for wire in ["$101\r\n", "*11\r\n", "~11\r\n", "%11\r\n", "$999999999999999999999\r\n"] {
            var buffer = ByteBuffer(string: wire)
            #expect(throws: RESPProtocolError.self) { try RESPValueParser(limits: limits).parse(&buffer) }
        }
        // Within the limits: waits for the rest.
        var buffer = ByteBuffer(string: "*10\r\n$100\r\n")
        #expect(try RESPValueParser(limits: limits).parse(&buffer) == nil)
    }

    @Test("nesting deeper than maxDepth is an error, not a stack overflow")
    func depthLimit() throws {
        func nested(_ depth: Int, _ marker: String = "*1\r\n") -> ByteBuffer {
            ByteBuffer(string: String(repeating: marker, count: depth) + ":1\r\n")
        }
        let parser = RESPValueParser(maxDepth: 3)
        var ok = nested(3)
        #expect(try parser.parse(&ok) == .array([.array([.array([.integer(1)])])]))
        var tooDeep = nested(4)
        #expect(throws: RESPProtocolError("nesting too deep")) { try parser.parse(&tooDeep) }
        var maps = ByteBuffer(string: String(repeating: "%1\r\n:1\r\n", count: 4) + ":1\r\n")
        #expect(throws: RESPProtocolError("nesting too deep")) { try parser.parse(&maps) }
        // The default limit holds against a hostile depth that would overflow the stack.
        var hostile = nested(200_000)
        #expect(throws: RESPProtocolError("nesting too deep")) { try RESPValueParser().parse(&hostile) }
    }

    @Test("random garbage never crashes, and parses the same whole and byte by byte")
    func garbage() {
        var generator = SeededGenerator(seed: 0x5EED)
        let alphabet = Array("*$+-:_,#(=!%~>|\r\n0123456789-tfinax ")
        for _ in 0..<3000 {
            let length = Int.random(in: 0...48, using: &generator)
            let bytes: [UInt8] = (0..<length).map { _ in
                Bool.random(using: &generator) ? alphabet.randomElement(using: &generator)! : UInt8.random(in: 0...255, using: &generator)
            }
            let whole = parseValues([bytes])
            let pieces = parseValues(chunks(of: bytes, maxChunk: nil, using: &generator))
            #expect(pieces == whole, "\(bytes)")
        }
    }
}
