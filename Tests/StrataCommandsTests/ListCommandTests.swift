import NIOCore
@testable import StrataCommands
import StrataRESP
import Testing

private let wrongType = err("WRONGTYPE Operation against a key holding the wrong kind of value")
private let notPositive = err("ERR value is out of range, must be positive")

private func bulks(_ items: String...) -> RESPValue { .array(items.map { bulk($0) }) }
private func ints(_ items: Int...) -> RESPValue { .array(items.map { int($0) }) }

/// Expected replies are redis-server 7.0.15's for the same commands.
@Suite("List commands")
struct ListCommandTests {
    /// A client with `l` = [a b c a b c] and the string `s`.
    private func client() -> TestClient {
        let c = TestServer().client()
        c.call("rpush", "l", "a", "b", "c", "a", "b", "c")
        c.call("set", "s", "x")
        return c
    }

    @Test("pushes return the new length; LPUSH prepends each element in turn")
    func pushes() {
        let c = TestServer().client()
        #expect(c.call("lpush", "k", "a", "b", "c") == int(3))
        #expect(c.call("rpush", "k", "d", "e") == int(5))
        #expect(c.call("lrange", "k", "0", "-1") == bulks("c", "b", "a", "d", "e"))
        #expect(c.call("lpushx", "k", "x", "y") == int(7))
        #expect(c.call("rpushx", "k", "z") == int(8))
        #expect(c.call("lrange", "k", "0", "-1") == bulks("y", "x", "c", "b", "a", "d", "e", "z"))
        #expect(c.call("llen", "k") == int(8))
        #expect(c.call("type", "k") == .simpleString("list"))
        #expect(c.call("object", "encoding", "k") == bulk("quicklist"))
    }

    @Test("LPUSHX and RPUSHX create nothing; every command refuses a key of another type")
    func pushxAndWrongType() {
        let c = client()
        #expect(c.call("lpushx", "missing", "a") == int(0))
        #expect(c.call("rpushx", "missing", "a", "b") == int(0))
        #expect(c.call("exists", "missing") == int(0))
        for command in [["lpush", "s", "a"], ["rpush", "s", "a"], ["lpushx", "s", "a"], ["rpushx", "s", "a"],
                        ["lpop", "s"], ["rpop", "s", "0"], ["llen", "s"], ["lrange", "s", "0", "1"],
                        ["lindex", "s", "x"], ["lset", "s", "x", "y"], ["linsert", "s", "before", "a", "b"],
                        ["lrem", "s", "1", "a"], ["ltrim", "s", "0", "1"], ["lpos", "s", "a"],
                        ["lmove", "s", "l", "left", "left"], ["rpoplpush", "s", "l"], ["lmpop", "1", "s", "left"]] {
            #expect(c.call(command) == wrongType, "\(command)")
        }
        #expect(c.call("get", "s") == bulk("x"))
    }

    @Test("LPOP and RPOP with and without a count, and their null forms in RESP2 and RESP3")
    func pops() {
        let c = client()
        #expect(c.call("lpop", "l") == bulk("a"))
        #expect(c.call("rpop", "l") == bulk("c"))
        #expect(c.call("lpop", "l", "2") == bulks("b", "c"))
        #expect(c.call("rpop", "l", "1") == bulks("b"))
        #expect(c.call("lpop", "l", "0") == .array([]))
        #expect(c.call("rpop", "l", "9223372036854775807") == bulks("a"))
        #expect(c.call("exists", "l") == int(0))
        #expect(c.raw("lpop", "l") == "$-1\r\n")
        #expect(c.raw("lpop", "l", "2") == "*-1\r\n")
        #expect(c.raw("rpop", "l", "0") == "*-1\r\n")
        #expect(c.call("hello", "3") != .null)
        #expect(c.raw("lpop", "l") == "_\r\n")
        #expect(c.raw("rpop", "l", "3") == "_\r\n")
    }

    @Test("pop counts are checked before the key", arguments: [
        (["lpop", "l", "-1"], notPositive), (["rpop", "s", "-1"], notPositive), (["lpop", "l", "x"], notPositive),
        (["lpop", "l", "-0"], notPositive), (["lpop", "l", "+1"], notPositive),
        (["lpop", "missing", "9223372036854775808"], notPositive),
        (["lpop", "l", "1", "2"], err("ERR wrong number of arguments for 'lpop' command")),
        (["rpop", "s", "0"], wrongType), (["lpop", "missing", "0"], .nullArray),
    ] as [([String], RESPValue)])
    func popErrors(_ command: [String], _ reply: RESPValue) {
        let c = client()
        #expect(c.call(command) == reply)
        #expect(c.call("llen", "l") == int(6))
    }

    @Test("LRANGE clamps its indices as Redis does", arguments: [
        ("0", "-1", ["a", "b", "c", "a", "b", "c"]), ("1", "2", ["b", "c"]), ("-2", "-1", ["b", "c"]),
        ("-100", "1", ["a", "b"]), ("4", "100", ["b", "c"]), ("5", "5", ["c"]), ("6", "10", []), ("3", "2", []),
        ("-1", "-2", []), ("0", "9223372036854775807", ["a", "b", "c", "a", "b", "c"]),
        ("-9223372036854775808", "-9223372036854775808", []), ("-9223372036854775808", "0", ["a"]),
    ])
    func lrange(_ start: String, _ stop: String, _ expected: [String]) {
        let c = client()
        #expect(c.call("lrange", "l", start, stop) == .array(expected.map { bulk($0) }))
    }

    @Test("LTRIM keeps LRANGE's range and deletes an emptied list", arguments: [
        ("1", "-2", ["b", "c", "a", "b"]), ("-100", "100", ["a", "b", "c", "a", "b", "c"]), ("5", "2", []),
        ("6", "7", []), ("-1", "-1", ["c"]), ("-9223372036854775808", "9223372036854775807", ["a", "b", "c", "a", "b", "c"]),
    ])
    func ltrim(_ start: String, _ stop: String, _ expected: [String]) {
        let c = client()
        #expect(c.call("ltrim", "l", start, stop) == ok)
        #expect(c.call("lrange", "l", "0", "-1") == .array(expected.map { bulk($0) }))
        #expect(c.call("exists", "l") == int(expected.isEmpty ? 0 : 1))
    }

    @Test("LRANGE, LTRIM and LREM parse their integers before looking at the key")
    func parseFirst() {
        let c = client()
        #expect(c.call("lrange", "missing", "x", "1") == notInteger)
        #expect(c.call("lrange", "s", "0", "1.5") == notInteger)
        #expect(c.call("ltrim", "missing", "x", "1") == notInteger)
        #expect(c.call("ltrim", "missing", "0", "1") == ok)
        #expect(c.call("lrem", "s", "x", "a") == notInteger)
        #expect(c.call("lrange", "missing", "0", "-1") == .array([]))
    }

    @Test("LINDEX and LSET: indices from either end, and their errors")
    func lindexAndLset() {
        let c = client()
        #expect(c.call("lindex", "l", "0") == bulk("a"))
        #expect(c.call("lindex", "l", "-1") == bulk("c"))
        #expect(c.call("lindex", "l", "6") == .null)
        #expect(c.call("lindex", "l", "-7") == .null)
        #expect(c.call("lindex", "l", "x") == notInteger)
        #expect(c.call("lindex", "missing", "x") == .null)
        #expect(c.call("lset", "missing", "x", "y") == err("ERR no such key"))
        #expect(c.call("lset", "l", "x", "y") == notInteger)
        #expect(c.call("lset", "l", "6", "y") == err("ERR index out of range"))
        #expect(c.call("lset", "l", "-7", "y") == err("ERR index out of range"))
        #expect(c.call("lset", "l", "-1", "z") == ok)
        #expect(c.call("lset", "l", "1", String(repeating: "long", count: 20)) == ok)
        #expect(c.call("lrange", "l", "0", "-1") == bulks("a", String(repeating: "long", count: 20), "c", "a", "b", "z"))
    }

    @Test("LINSERT before and after the first pivot")
    func linsert() {
        let c = client()
        #expect(c.call("linsert", "l", "BEFORE", "b", "x") == int(7))
        #expect(c.call("linsert", "l", "after", "c", "y") == int(8))
        #expect(c.call("lrange", "l", "0", "-1") == bulks("a", "x", "b", "c", "y", "a", "b", "c"))
        #expect(c.call("linsert", "l", "before", "nope", "z") == int(-1))
        #expect(c.call("linsert", "missing", "before", "a", "z") == int(0))
        #expect(c.call("linsert", "missing", "between", "a", "z") == syntaxError)
        #expect(c.call("linsert", "s", "between", "a", "z") == syntaxError)
        #expect(c.call("exists", "missing") == int(0))
    }

    @Test("LREM from the head, from the tail, or every match", arguments: [
        ("2", 2, ["b", "c", "a", "d", "a"]), ("-1", 1, ["a", "b", "a", "c", "a", "d"]),
        ("-3", 3, ["a", "b", "c", "d"]), ("0", 4, ["b", "c", "d"]), ("100", 4, ["b", "c", "d"]),
        ("-9223372036854775808", 4, ["b", "c", "d"]),
    ])
    func lrem(_ count: String, _ removed: Int, _ after: [String]) {
        let c = TestServer().client()
        c.call("rpush", "m", "a", "b", "a", "c", "a", "d", "a")
        #expect(c.call("lrem", "m", count, "a") == int(removed))
        #expect(c.call("lrange", "m", "0", "-1") == .array(after.map { bulk($0) }))
        #expect(c.call("lrem", "m", count, "zz") == int(0))
    }

    @Test("LREM of every element deletes the key")
    func lremAll() {
        let c = TestServer().client()
        c.call("rpush", "m", "a", "a")
        #expect(c.call("lrem", "m", "0", "a") == int(2))
        #expect(c.call("exists", "m") == int(0))
        #expect(c.call("lrem", "m", "0", "a") == int(0))
    }

    @Test("LPOS with RANK, COUNT and MAXLEN", arguments: [
        (["a"], int(0)), (["b", "RANK", "2"], int(4)), (["b", "RANK", "-1"], int(4)), (["b", "rank", "-2"], int(1)),
        (["a", "RANK", "3"], .null), (["a", "RANK", "3", "COUNT", "5"], .array([])),
        (["b", "COUNT", "0"], ints(1, 4)), (["c", "COUNT", "1", "RANK", "-1"], ints(5)),
        (["c", "MAXLEN", "2"], .null), (["c", "MAXLEN", "3", "COUNT", "0"], ints(2)),
        (["c", "RANK", "-1", "MAXLEN", "1"], int(5)), (["c", "RANK", "-1", "MAXLEN", "0"], int(5)),
        (["a", "MAXLEN", "0", "COUNT", "0", "MAXLEN", "1"], ints(0)), (["zz", "COUNT", "2"], .array([])),
        // Redis 7.0 negates the rank in place: LONG_MIN stays negative, matches every time, and COUNT never stops it.
        (["a", "RANK", "-9223372036854775808"], int(3)), (["a", "RANK", "-9223372036854775808", "COUNT", "1"], ints(3, 0)),
        (["a", "RANK", "0"], err("ERR RANK can't be zero: use 1 to start from the first match, 2 from the second ... or use negative to start from the end of the list")),
        (["a", "RANK", "x"], notInteger), (["a", "COUNT", "-1"], err("ERR COUNT can't be negative")),
        (["a", "COUNT", "x"], err("ERR COUNT can't be negative")), (["a", "MAXLEN", "-1"], err("ERR MAXLEN can't be negative")),
        (["a", "MAXLEN", "x"], err("ERR MAXLEN can't be negative")), (["a", "RANK"], syntaxError), (["a", "foo", "1"], syntaxError),
    ] as [([String], RESPValue)])
    func lpos(_ arguments: [String], _ reply: RESPValue) {
        let c = client()
        #expect(c.call(["lpos", "l"] + arguments) == reply)
    }

    @Test("LPOS on a missing key: null, or an empty array with COUNT; options are checked first")
    func lposMissing() {
        let c = client()
        #expect(c.call("lpos", "missing", "a") == .null)
        #expect(c.call("lpos", "missing", "a", "COUNT", "0") == .array([]))
        #expect(c.call("lpos", "missing", "a", "RANK", "0").isError)
        #expect(c.call("lpos", "s", "a", "COUNT", "-1") == err("ERR COUNT can't be negative"))
    }

    @Test("LMOVE between lists, creating the destination, deleting an emptied source")
    func lmove() {
        let c = TestServer().client()
        c.call("rpush", "src", "1", "2", "3")
        #expect(c.call("lmove", "src", "dst", "LEFT", "RIGHT") == bulk("1"))
        #expect(c.call("lmove", "src", "dst", "right", "left") == bulk("3"))
        #expect(c.call("rpoplpush", "src", "dst") == bulk("2"))
        #expect(c.call("exists", "src") == int(0))
        #expect(c.call("lrange", "dst", "0", "-1") == bulks("2", "3", "1"))
        #expect(c.call("lmove", "src", "dst", "left", "left") == .null)
        #expect(c.call("rpoplpush", "src", "dst") == .null)
        #expect(c.call("exists", "src") == int(0))
        #expect(c.call("lmove", "src", "dst", "up", "left") == syntaxError)
        #expect(c.call("lmove", "dst", "dst", "left", "down") == syntaxError)
    }

    @Test("LMOVE and RPOPLPUSH on one list rotate it")
    func rotate() {
        let c = TestServer().client()
        c.call("rpush", "r", "1", "2", "3", "4")
        #expect(c.call("lmove", "r", "r", "left", "right") == bulk("1"))
        #expect(c.call("lrange", "r", "0", "-1") == bulks("2", "3", "4", "1"))
        #expect(c.call("rpoplpush", "r", "r") == bulk("1"))
        #expect(c.call("lmove", "r", "r", "right", "left") == bulk("4"))
        #expect(c.call("lrange", "r", "0", "-1") == bulks("4", "1", "2", "3"))
        #expect(c.call("lmove", "r", "r", "left", "left") == bulk("4"))
        #expect(c.call("lrange", "r", "0", "-1") == bulks("4", "1", "2", "3"))
        c.call("rpush", "one", "x")
        #expect(c.call("lmove", "one", "one", "right", "left") == bulk("x"))
        #expect(c.call("lrange", "one", "0", "-1") == bulks("x"))
    }

    @Test("LMOVE to a key of another type pops nothing")
    func lmoveWrongType() {
        let c = client()
        #expect(c.call("lmove", "l", "s", "left", "left") == wrongType)
        #expect(c.call("rpoplpush", "l", "s") == wrongType)
        #expect(c.call("llen", "l") == int(6))
        #expect(c.call("lmove", "missing", "s", "left", "left") == .null)
        #expect(c.call("lmove", "s", "l", "left", "left") == wrongType)
    }

    @Test("LMOVE keeps the destination's TTL and gives a new destination none")
    func lmoveTTL() {
        let c = TestServer().client()
        c.call("rpush", "a", "1", "2")
        c.call("rpush", "b", "x")
        c.call("expire", "b", "100")
        #expect(c.call("lmove", "a", "b", "left", "left") == bulk("1"))
        #expect(c.call("ttl", "b") == int(100))
        #expect(c.call("lmove", "a", "c", "left", "left") == bulk("2"))
        #expect(c.call("ttl", "c") == int(-1))
    }

    @Test("LMPOP pops from the first non-empty list as [key, [elements]]")
    func lmpop() {
        let c = client()
        c.call("rpush", "k2", "1", "2", "3")
        #expect(c.call("lmpop", "3", "missing", "k2", "l", "LEFT") == .array([bulk("k2"), bulks("1")]))
        #expect(c.call("lmpop", "2", "k2", "l", "right", "COUNT", "5") == .array([bulk("k2"), bulks("3", "2")]))
        #expect(c.call("exists", "k2") == int(0))
        #expect(c.call("lmpop", "2", "k2", "l", "right", "count", "2") == .array([bulk("l"), bulks("c", "b")]))
        #expect(c.call("lmpop", "1", "missing", "left") == .nullArray)
        // The first key of another type ends the search, even with a list after it.
        #expect(c.call("lmpop", "2", "s", "l", "left") == wrongType)
        #expect(c.call("lmpop", "2", "l", "s", "left") == .array([bulk("l"), bulks("a")]))
        #expect(c.call("hello", "3") != .null)
        #expect(c.raw("lmpop", "1", "missing", "left") == "_\r\n")
        #expect(c.raw("lmpop", "1", "l", "left", "count", "2") == "*2\r\n$1\r\nl\r\n*2\r\n$1\r\nb\r\n$1\r\nc\r\n")
    }

    @Test("LMPOP's argument errors", arguments: [
        (["0", "l", "left"], err("ERR numkeys should be greater than 0")),
        (["x", "l", "left"], err("ERR numkeys should be greater than 0")),
        (["-1", "l", "left"], err("ERR numkeys should be greater than 0")),
        (["2", "l", "left"], syntaxError), (["1", "l", "up"], syntaxError),
        (["9223372036854775807", "l", "left"], syntaxError), (["9223372036854775806", "l", "left"], syntaxError),
        (["1", "l", "left", "count", "0"], err("ERR count should be greater than 0")),
        (["1", "l", "left", "count", "x"], err("ERR count should be greater than 0")),
        (["1", "l", "left", "count", "-1"], err("ERR count should be greater than 0")),
        (["1", "l", "left", "count", "1", "count", "1"], syntaxError), (["1", "l", "left", "count"], syntaxError),
        (["1", "l", "left", "foo"], syntaxError),
    ] as [([String], RESPValue)])
    func lmpopErrors(_ arguments: [String], _ reply: RESPValue) {
        let c = client()
        #expect(c.call(["lmpop"] + arguments) == reply)
        #expect(c.call("llen", "l") == int(6))
    }

    @Test("a list write marks a WATCH, a failed one does not")
    func watch() {
        let server = TestServer()
        let c = server.client(), other = server.client()
        c.call("rpush", "l", "a")
        c.call("watch", "l")
        other.call("lrem", "l", "1", "zz")
        other.call("lpushx", "missing", "zz")
        c.call("multi")
        c.call("llen", "l")
        #expect(c.call("exec") == .array([int(1)]))
        c.call("watch", "l")
        other.call("rpush", "l", "b")
        c.call("multi")
        c.call("llen", "l")
        #expect(c.call("exec") == .nullArray)
    }

    @Test("inside MULTI the pops and moves run with the shards already locked")
    func transaction() {
        let c = TestServer().client()
        c.call("rpush", "a", "1", "2", "3")
        c.call("multi")
        for command in [["lmove", "a", "b", "left", "right"], ["rpoplpush", "a", "b"], ["lmpop", "2", "a", "b", "left", "count", "9"],
                        ["lpop", "b"], ["rpop", "b", "2"]] {
            #expect(c.call(command) == queued)
        }
        #expect(c.call("exec") == .array([bulk("1"), bulk("3"), .array([bulk("a"), bulks("2")]), bulk("3"), bulks("1")]))
        #expect(c.call("exists", "a", "b") == int(0))
    }

    @Test("memory follows a list's growth and shrinkage")
    func memory() {
        let c = TestServer().client()
        c.call("rpush", "l", "x")
        guard case .integer(let small) = c.call("memory", "usage", "l") else {
            Issue.record("MEMORY USAGE is not an integer")
            return
        }
        c.call("rpush", "l", String(repeating: "y", count: 200), String(repeating: "z", count: 200))
        guard case .integer(let large) = c.call("memory", "usage", "l") else {
            Issue.record("MEMORY USAGE is not an integer")
            return
        }
        #expect(large > small + 400)
        c.call("rpop", "l", "2")
        #expect(c.call("memory", "usage", "l") == int(small))
    }
}

/// The cores the blocking forms are built on, called as BLPOP, BLMPOP and BLMOVE would call them.
@Suite("List pop and move cores")
struct ListCoreTests {
    /// Runs `body` as a command `words` of a client of `server` would, with the keys' shards
    /// locked, and returns what it wrote and returned.
    private func run(_ server: TestServer, _ words: [String], keys: [Int], resp3: Bool = false,
                     _ body: (KeyAccess, [UInt64], inout RESPReplyWriter) -> Bool) -> (Bool, String) {
        let session = ClientSession(id: server.context.clients.makeID(), address: "127.0.0.1:1", localAddress: "127.0.0.1:2",
                                    authenticated: true, now: server.now)
        var c = CommandContext(server: server.context, client: session, arguments: CommandArguments(words),
                               reply: RESPReplyWriter(buffer: ByteBuffer(), version: resp3 ? .resp3 : .resp2), now: server.now)
        let hashes = keys.map { c.hash($0) }
        let view = c.keyAccess
        let served = c.withShardsAndReply(for: hashes) { reply in body(view, hashes, &reply) }
        return (served, String(buffer: c.reply.buffer))
    }

    private func server() -> (TestServer, TestClient) {
        let server = TestServer()
        let c = server.client()
        c.call("rpush", "l", "a", "b", "c")
        c.call("set", "s", "x")
        return (server, c)
    }

    @Test("popOne: BLPOP's [key, element], LPOP's element, nothing for a missing key, WRONGTYPE")
    func popOne() {
        let (server, c) = server()
        let words = ["blpop", "missing", "s", "l", "0"]
        var (served, text) = run(server, words, keys: [1]) { k, h, r in
            ListCommands.popOne(k, key: 1, hash: h[0], left: true, withKey: true, reply: &r)
        }
        #expect(!served && text.isEmpty)
        (served, text) = run(server, words, keys: [2]) { k, h, r in
            ListCommands.popOne(k, key: 2, hash: h[0], left: true, withKey: true, reply: &r)
        }
        #expect(served && text == "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n")
        (served, text) = run(server, words, keys: [3]) { k, h, r in
            ListCommands.popOne(k, key: 3, hash: h[0], left: false, withKey: true, reply: &r)
        }
        #expect(served && text == "*2\r\n$1\r\nl\r\n$1\r\nc\r\n")
        (served, text) = run(server, words, keys: [3]) { k, h, r in
            ListCommands.popOne(k, key: 3, hash: h[0], left: true, withKey: false, reply: &r)
        }
        #expect(served && text == "$1\r\na\r\n")
        #expect(c.call("lrange", "l", "0", "-1") == bulks("b"))
    }

    @Test("mpop: BLMPOP's [key, [elements]] from the first list; false when every key is missing")
    func mpop() {
        let (server, c) = server()
        let words = ["blmpop", "0", "2", "missing", "l", "left", "count", "2"]
        var (served, text) = run(server, words, keys: [3, 4], resp3: true) { k, h, r in
            ListCommands.mpop(k, keys: 3..<5, hashes: h, left: true, count: 2, reply: &r)
        }
        #expect(served && text == "*2\r\n$1\r\nl\r\n*2\r\n$1\r\na\r\n$1\r\nb\r\n")
        (served, text) = run(server, ["blmpop", "0", "1", "missing", "left"], keys: [3]) { k, h, r in
            ListCommands.mpop(k, keys: 3..<4, hashes: h, left: true, count: 1, reply: &r)
        }
        #expect(!served && text.isEmpty)
        (served, text) = run(server, words, keys: [3, 4]) { k, h, r in
            ListCommands.mpop(k, keys: 3..<5, hashes: h, left: false, count: 5, reply: &r)
        }
        #expect(served && text == "*2\r\n$1\r\nl\r\n*1\r\n$1\r\nc\r\n")
        #expect(c.call("exists", "l") == int(0))
    }

    @Test("move: BLMOVE's element; false for a missing source; WRONGTYPE for the destination, nothing popped")
    func move() {
        let (server, c) = server()
        var (served, text) = run(server, ["blmove", "missing", "l", "left", "left", "0"], keys: [1, 2]) { k, h, r in
            ListCommands.move(k, source: 1, sourceHash: h[0], destination: 2, destinationHash: h[1], fromLeft: true, toLeft: true, reply: &r)
        }
        #expect(!served && text.isEmpty)
        (served, text) = run(server, ["blmove", "l", "s", "left", "left", "0"], keys: [1, 2]) { k, h, r in
            ListCommands.move(k, source: 1, sourceHash: h[0], destination: 2, destinationHash: h[1], fromLeft: true, toLeft: true, reply: &r)
        }
        #expect(served && text.hasPrefix("-WRONGTYPE"))
        (served, text) = run(server, ["blmove", "l", "new", "right", "left", "0"], keys: [1, 2]) { k, h, r in
            ListCommands.move(k, source: 1, sourceHash: h[0], destination: 2, destinationHash: h[1], fromLeft: false, toLeft: true, reply: &r)
        }
        #expect(served && text == "$1\r\nc\r\n")
        #expect(c.call("lrange", "l", "0", "-1") == bulks("a", "b"))
        #expect(c.call("lrange", "new", "0", "-1") == bulks("c"))
    }
}

private extension RESPValue {
    var isError: Bool {
        if case .error = self { return true }
        return false
    }
}
