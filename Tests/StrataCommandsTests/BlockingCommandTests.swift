import StrataRESP
import Testing
@testable import StrataCommands

/// The blocking pops' argument checks and their non-blocking paths (a key holds something, or
/// the client may not block: these test clients have no event loop, as inside MULTI). Waiting,
/// waking and fairness are tested live in Tests/integration/test_blocking.py.
@Suite("Blocking commands")
struct BlockingCommandTests {
    @Test("errors as Redis 7.0 gives them, numkeys from the client never overflowing", arguments: [
        (["blpop", "l", "abc"], err("ERR timeout is not a float or out of range")),
        (["blpop", "l", " 1"], err("ERR timeout is not a float or out of range")),
        (["blpop", "l", "nan"], err("ERR timeout is not a float or out of range")),
        (["blpop", "l", "-1"], err("ERR timeout is negative")),
        (["blpop", "l", "inf"], err("ERR timeout is negative")),
        (["blpop", "l", "9223372036854775807"], err("ERR timeout is negative")),
        (["blmove", "a", "b", "up", "left", "1"], syntaxError),
        (["blmpop", "1", "0", "l", "left"], err("ERR numkeys should be greater than 0")),
        (["blmpop", "1", "x", "l", "left"], err("ERR numkeys should be greater than 0")),
        (["blmpop", "1", "9223372036854775807", "l", "left"], syntaxError),
        (["bzmpop", "1", "9223372036854775807", "z", "min"], syntaxError),
        (["blmpop", "1", "2", "l", "left"], syntaxError),
        (["blmpop", "1", "1", "l", "middle"], syntaxError),
        (["blmpop", "1", "1", "l", "left", "count", "0"], err("ERR count should be greater than 0")),
        (["blmpop", "1", "1", "l", "left", "count", "1", "count", "2"], syntaxError),
        (["blmpop", "x", "1", "l", "left"], err("ERR timeout is not a float or out of range")),
        (["bzmpop", "1", "1", "z", "left"], syntaxError),
    ])
    func errors(words: [String], expected: RESPValue) {
        let c = TestServer().client()
        #expect(c.call(words) == expected)
    }

    @Test("a key that holds something is popped at once, in every form")
    func pops() {
        let c = TestServer().client()
        c.call("rpush", "l", "a", "b", "c")
        c.call("zadd", "z", "1", "one", "2", "two", "3", "three")
        #expect(c.call("blpop", "missing", "l", "0") == .array([bulk("l"), bulk("a")]))
        #expect(c.call("brpop", "l", "0") == .array([bulk("l"), bulk("c")]))
        #expect(c.call("blmove", "l", "m", "left", "right", "0") == bulk("b"))
        #expect(c.call("exists", "l") == int(0))
        #expect(c.call("brpoplpush", "m", "m", "0") == bulk("b"))
        #expect(c.call("blmpop", "0", "2", "l", "m", "left", "count", "5") == .array([bulk("m"), .array([bulk("b")])]))
        #expect(c.call("bzpopmin", "z", "0") == .array([bulk("z"), bulk("one"), bulk("1")]))
        #expect(c.call("bzpopmax", "z", "0") == .array([bulk("z"), bulk("three"), bulk("3")]))
        #expect(c.call("bzmpop", "0", "1", "z", "max", "count", "9")
                == .array([bulk("z"), .array([.array([bulk("two"), bulk("2")])])]))
        #expect(c.call("exists", "z", "m") == int(0))
    }

    @Test("WRONGTYPE stops at the first key of another type, as in Redis")
    func wrongType() {
        let c = TestServer().client()
        c.call("set", "s", "x")
        c.call("rpush", "l", "a")
        let wrong = err("WRONGTYPE Operation against a key holding the wrong kind of value")
        #expect(c.call("blpop", "s", "l", "0") == wrong)
        #expect(c.call("blmove", "l", "s", "left", "left", "0") == wrong)
        #expect(c.call("llen", "l") == int(1), "nothing popped")
        #expect(c.call("bzpopmin", "l", "0") == wrong)
    }

    @Test("where the client may not block, nothing to pop answers as the non-blocking form")
    func mayNotBlock() {
        let c = TestServer().client()
        #expect(c.call("blpop", "l", "0") == .nullArray)
        #expect(c.call("blmove", "a", "b", "left", "left", "0") == .null)
        #expect(c.call("brpoplpush", "a", "b", "0") == .null)
        #expect(c.call("blmpop", "0", "1", "l", "left") == .nullArray)
        #expect(c.call("bzpopmin", "z", "0") == .nullArray)
        #expect(c.call("bzmpop", "0", "1", "z", "min") == .nullArray)
        #expect(c.call("multi") == ok)
        #expect(c.call("blpop", "l", "0") == queued)
        #expect(c.call("exec") == .array([.nullArray]))
        #expect(c.raw("info", "clients").contains("blocked_clients:0"))
    }
}
