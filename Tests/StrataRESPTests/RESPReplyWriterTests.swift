import NIOCore
import Testing
@testable import StrataRESP

private func written(_ version: RESPVersion, _ body: (inout RESPReplyWriter) -> Void) -> String {
    var writer = RESPReplyWriter(buffer: ByteBuffer(), version: version)
    body(&writer)
    return String(buffer: writer.buffer)
}

@Suite("RESPReplyWriter")
struct RESPReplyWriterTests {
    @Test("RESP3 types are downgraded for RESP2 clients", arguments: [
        ("map", "*4\r\n", "%2\r\n"),
        ("set", "*3\r\n", "~3\r\n"),
        ("null", "$-1\r\n", "_\r\n"),
        ("null array", "*-1\r\n", "_\r\n"),
        ("double", "$3\r\n1.5\r\n", ",1.5\r\n"),
        ("infinite double", "$4\r\n-inf\r\n", ",-inf\r\n"),
        ("whole double", "$2\r\n10\r\n", ",10\r\n"),
        ("true", ":1\r\n", "#t\r\n"),
        ("false", ":0\r\n", "#f\r\n"),
        ("verbatim", "$2\r\nhi\r\n", "=6\r\ntxt:hi\r\n"),
    ])
    func downgrades(_ kind: String, _ resp2: String, _ resp3: String) {
        func write(_ w: inout RESPReplyWriter) {
            switch kind {
            case "map": w.mapHeader(2)
            case "set": w.setHeader(3)
            case "null": w.null()
            case "null array": w.nullArray()
            case "double": w.double(1.5)
            case "infinite double": w.double(-.infinity)
            case "whole double": w.double(10)
            case "true": w.boolean(true)
            case "false": w.boolean(false)
            default: w.verbatim("hi")
            }
        }
        #expect(written(.resp2, write) == resp2)
        #expect(written(.resp3, write) == resp3)
    }

    @Test("a RESP2 map reply decodes to a flat array, a RESP3 one to a map")
    func mapDecodes() throws {
        func reply(_ version: RESPVersion) throws -> RESPValue? {
            var buffer = ByteBuffer(string: written(version) { w in
                w.mapHeader(2)
                w.bulk("a"); w.integer(1)
                w.bulk("b"); w.null()
            })
            return try RESPValueParser().parse(&buffer)
        }
        #expect(try reply(.resp2) == .array([.bulk("a"), .integer(1), .bulk("b"), .null]))
        #expect(try reply(.resp3) == .map([(.bulk("a"), .integer(1)), (.bulk("b"), .null)]))
    }

    @Test("version-independent replies")
    func plainReplies() {
        for version in [RESPVersion.resp2, .resp3] {
            let cases: [(String, (inout RESPReplyWriter) -> Void)] = [
                ("+OK\r\n", { $0.ok() }),
                ("+PONG\r\n", { $0.simpleString("PONG") }),
                (":-9223372036854775808\r\n", { $0.integer(Int.min) }),
                ("$3\r\n-42\r\n", { $0.bulkInteger(-42) }),
                ("$0\r\n\r\n", { $0.bulk([UInt8]()) }),
                ("$3\r\nxyz\r\n", { $0.bulk(ByteBuffer(string: "xyz")) }),
                ("*0\r\n", { $0.arrayHeader(0) }),
                (":1\r\n", { $0.raw(ByteBuffer(string: ":1\r\n")) }),
            ]
            for (expected, write) in cases {
                let actual = written(version, write)
                #expect(actual == expected)
            }
        }
    }

    @Test("errors never break the protocol: CR and LF are trimmed at the end and blanked inside")
    func errorText() {
        let inside = written(.resp2) { $0.error("ERR a\r\nb\r\n") }
        #expect(inside == "-ERR a  b\r\n")
        let trailing = written(.resp2) { $0.error(bytes: Array("ERR x\n".utf8)) }
        #expect(trailing == "-ERR x\r\n")
    }

    @Test("double formatting", arguments: [
        (3.0, "3"), (-0.0, "-0"), (0.0, "0"), (1.5, "1.5"), (0.1, "0.10000000000000001"), (1e17, "1e+17"),
        (123456789012345680, "1.2345678901234568e+17"), (99999999999999984, "99999999999999984"), (1e-5, "1.0000000000000001e-05"), (-2.25, "-2.25"), (.infinity, "inf"), (-.infinity, "-inf"), (.nan, "nan"),
    ] as [(Double, String)])
    func doubles(_ value: Double, _ text: String) {
        #expect(RESPReplyWriter.formatDouble(value) == text)
    }
}
