import StrataRESP
import Testing

/// Replies checked against redis-server 7.0.15.
@Suite("Set commands")
struct SetCommandTests {
    private let wrongType = err("WRONGTYPE Operation against a key holding the wrong kind of value")

    private func strings(_ value: RESPValue) -> [String] { value.items.compactMap(\.string) }
    private func members(_ c: TestClient, _ key: String) -> Set<String> { Set(strings(c.call("smembers", key))) }

    @Test("SADD, SREM, SCARD, SISMEMBER, SMISMEMBER; the emptied set disappears")
    func basics() {
        let c = TestServer().client()
        #expect(c.call("sadd", "s", "a", "b", "a") == int(2))
        #expect(c.call("sadd", "s", "b", "c") == int(1))
        #expect(c.call("scard", "s") == int(3))
        #expect(c.call("scard", "nokey") == int(0))
        #expect(c.call("sismember", "s", "a") == int(1))
        #expect(c.call("sismember", "s", "z") == int(0))
        #expect(c.call("sismember", "nokey", "a") == int(0))
        #expect(c.call("smismember", "s", "a", "z", "c") == .array([int(1), int(0), int(1)]))
        #expect(c.call("smismember", "nokey", "a") == .array([int(0)]))
        #expect(c.call("srem", "s", "z", "a", "a") == int(1))
        #expect(c.call("srem", "nokey", "a") == int(0))
        #expect(c.call("type", "s") == .simpleString("set"))
        #expect(c.call("srem", "s", "b", "c") == int(2))
        #expect(c.call("exists", "s") == int(0))
    }

    @Test("SMEMBERS: an intset in numeric order, a RESP3 set")
    func smembers() {
        let c = TestServer().client()
        c.call("sadd", "i", "10", "3", "-5", "100", "1")
        #expect(c.call("smembers", "i") == .array(["-5", "1", "3", "10", "100"].map(bulk)))
        #expect(c.call("object", "encoding", "i") == bulk("intset"))
        c.call("sadd", "m", "x", "1")
        #expect(c.call("object", "encoding", "m") == bulk("hashtable"))
        #expect(members(c, "m") == ["x", "1"])
        c.call("hello", "3")
        #expect(c.raw("smembers", "i").hasPrefix("~5\r\n$2\r\n-5\r\n"))
        #expect(c.raw("smembers", "nokey") == "~0\r\n")
    }

    @Test("Every set command replies WRONGTYPE on a string", arguments: [
        ["sadd", "s", "m"], ["srem", "s", "m"], ["smembers", "s"], ["sismember", "s", "m"], ["smismember", "s", "m"],
        ["scard", "s"], ["spop", "s"], ["spop", "s", "2"], ["spop", "s", "0"], ["srandmember", "s"],
        ["srandmember", "s", "0"], ["smove", "s", "set", "m"], ["smove", "set", "s", "1"], ["sinter", "nokey", "s"],
        ["sunion", "set", "s"], ["sdiff", "nokey", "s"], ["sinterstore", "d", "nokey", "s"], ["sunionstore", "d", "s"],
        ["sdiffstore", "d", "set", "s"], ["sintercard", "2", "nokey", "s"], ["sscan", "s", "0"],
    ])
    func wrongTypes(_ command: [String]) {
        let c = TestServer().client()
        c.call("set", "s", "x")
        c.call("sadd", "set", "1", "2")
        #expect(c.call(command) == wrongType)
        #expect(c.call("get", "s") == bulk("x"))
        #expect(c.call("scard", "set") == int(2))
        #expect(c.call("exists", "d") == int(0))
    }

    @Test("SPOP: one member, a count, the whole set, and its errors")
    func spop() {
        let c = TestServer().client()
        c.call("sadd", "s", "1", "2", "3", "4", "5", "6")
        let one = c.call("spop", "s").string ?? ""
        #expect(["1", "2", "3", "4", "5", "6"].contains(one))
        #expect(c.call("sismember", "s", one) == int(0))
        let two = strings(c.call("spop", "s", "2"))
        #expect(two.count == 2 && Set(two).count == 2)
        #expect(c.call("scard", "s") == int(3))
        let rest = Set(strings(c.call("spop", "s", "10")))
        #expect(rest.count == 3 && rest.isDisjoint(with: two + [one]))
        #expect(c.call("exists", "s") == int(0))
        #expect(c.call("spop", "nokey") == .null)
        #expect(c.raw("spop", "nokey", "3") == "*0\r\n")
        c.call("sadd", "s", "a")
        #expect(c.call("spop", "s", "0") == .array([]))
        #expect(c.call("spop", "s", "-1") == err("ERR value is out of range, must be positive"))
        #expect(c.call("spop", "s", "abc") == err("ERR value is out of range, must be positive"))
        #expect(c.call("spop", "nokey", "-1") == err("ERR value is out of range, must be positive"))
        #expect(c.call("spop", "s", "1", "2") == syntaxError)
        c.call("hello", "3")
        #expect(c.raw("spop", "s", "1") == "~1\r\n$1\r\na\r\n")
        #expect(c.raw("spop", "nokey", "2") == "~0\r\n")
        #expect(c.raw("spop", "nokey") == "_\r\n")
    }

    @Test("SRANDMEMBER: distinct members, repeats, the whole set (arrays, also in RESP3)")
    func srandmember() {
        let c = TestServer().client()
        c.call("sadd", "s", "a", "b", "c", "d")
        #expect(["a", "b", "c", "d"].contains(c.call("srandmember", "s").string ?? ""))
        #expect(c.call("srandmember", "nokey") == .null)
        for _ in 0..<20 {
            let three = strings(c.call("srandmember", "s", "3"))
            #expect(three.count == 3 && Set(three).count == 3)
        }
        #expect(Set(strings(c.call("srandmember", "s", "10"))) == ["a", "b", "c", "d"])
        #expect(strings(c.call("srandmember", "s", "-9")).count == 9)
        #expect(c.call("srandmember", "s", "0") == .array([]))
        #expect(c.call("srandmember", "nokey", "5") == .array([]))
        #expect(c.call("srandmember", "nokey", "abc") == notInteger)
        #expect(c.call("srandmember", "s", "-9223372036854775808") == err("ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807"))
        #expect(c.call("srandmember", "s", "1", "2") == syntaxError)
        #expect(c.call("scard", "s") == int(4))
        c.call("hello", "3")
        #expect(c.raw("srandmember", "s", "10").hasPrefix("*4\r\n"))
        #expect(c.raw("srandmember", "s", "-2").hasPrefix("*2\r\n"))
    }

    @Test("SMOVE")
    func smove() {
        let c = TestServer().client()
        c.call("sadd", "a", "1", "2", "x")
        c.call("sadd", "b", "2")
        c.call("set", "str", "v")
        #expect(c.call("smove", "a", "b", "x") == int(1))
        #expect(members(c, "b") == ["2", "x"])
        #expect(c.call("smove", "a", "b", "nope") == int(0))
        #expect(c.call("smove", "nokey", "b", "x") == int(0))
        #expect(c.call("smove", "nokey", "str", "x") == int(0))
        #expect(c.call("smove", "a", "str", "1") == wrongType)
        #expect(c.call("smove", "a", "a", "1") == int(1))
        #expect(c.call("smove", "a", "a", "nope") == int(0))
        #expect(c.call("smove", "a", "b", "2") == int(1)) // already in b: b is unchanged
        #expect(members(c, "b") == ["2", "x"])
        #expect(c.call("smove", "a", "fresh", "1") == int(1))
        #expect(c.call("exists", "a") == int(0))
        #expect(members(c, "fresh") == ["1"])
    }

    @Test("SINTER, SUNION, SDIFF: a missing key is an empty set, but every key's type is checked")
    func algebra() {
        let c = TestServer().client()
        c.call("sadd", "a", "1", "2", "3", "x")
        c.call("sadd", "b", "2", "3", "y")
        c.call("sadd", "i2", "3", "10")
        #expect(Set(strings(c.call("sinter", "a", "b"))) == ["2", "3"])
        #expect(c.call("sinter", "a", "nokey") == .array([]))
        #expect(Set(strings(c.call("sunion", "a", "b", "nokey"))) == ["1", "2", "3", "x", "y"])
        #expect(Set(strings(c.call("sdiff", "a", "b"))) == ["1", "x"])
        #expect(Set(strings(c.call("sdiff", "a", "nokey"))) == ["1", "2", "3", "x"])
        #expect(c.call("sdiff", "nokey", "a") == .array([]))
        #expect(c.call("sdiff", "a", "a") == .array([]))
        c.call("sadd", "i", "10", "3", "1")
        #expect(c.call("sinter", "i", "i2") == .array([bulk("3"), bulk("10")]))
        c.call("hello", "3")
        #expect(c.raw("sinter", "a", "nokey") == "~0\r\n")
        #expect(c.raw("sunion", "i", "i2") == "~3\r\n$1\r\n1\r\n$1\r\n3\r\n$2\r\n10\r\n")
    }

    @Test("The STORE forms replace the destination whatever its type, drop its TTL, delete it when empty")
    func stores() {
        let c = TestServer().client()
        c.call("sadd", "a", "1", "2", "3", "x")
        c.call("sadd", "b", "2", "3", "y")
        c.call("set", "d", "string")
        c.call("expire", "d", "1000")
        #expect(c.call("sinterstore", "d", "a", "b") == int(2))
        #expect(c.call("type", "d") == .simpleString("set"))
        #expect(c.call("ttl", "d") == int(-1))
        #expect(members(c, "d") == ["2", "3"])
        #expect(c.call("object", "encoding", "d") == bulk("intset"))
        #expect(c.call("sunionstore", "d", "a", "b") == int(5))
        #expect(c.call("object", "encoding", "d") == bulk("hashtable"))
        #expect(c.call("sdiffstore", "d", "a", "b") == int(2))
        #expect(members(c, "d") == ["1", "x"])
        #expect(c.call("sdiffstore", "a", "a", "b") == int(2)) // the destination may be a source
        #expect(members(c, "a") == ["1", "x"])
        #expect(c.call("sinterstore", "d", "a", "nokey") == int(0))
        #expect(c.call("exists", "d") == int(0))
        c.call("set", "d", "string")
        #expect(c.call("sunionstore", "d", "nokey") == int(0))
        #expect(c.call("exists", "d") == int(0))
        c.call("set", "str", "v")
        #expect(c.call("sinterstore", "d", "a", "str") == wrongType)
    }

    @Test("SINTERCARD: LIMIT and the argument errors", arguments: [
        (["2", "a", "b"], int(2)), (["2", "a", "b", "limit", "1"], int(1)), (["2", "a", "b", "LIMIT", "0"], int(2)),
        (["1", "a", "limit", "3", "limit", "1"], int(1)), (["2", "a", "nokey"], int(0)),
        (["2", "a", "b", "limit", "-1"], err("ERR LIMIT can't be negative")),
        (["1", "a", "limit", "abc"], err("ERR LIMIT can't be negative")),
        (["0", "a"], err("ERR numkeys should be greater than 0")),
        (["abc", "a"], err("ERR numkeys should be greater than 0")),
        (["-1", "a"], err("ERR numkeys should be greater than 0")),
        (["3", "a", "b"], err("ERR Number of keys can't be greater than number of args")),
        (["1", "a", "foo"], syntaxError), (["1", "a", "limit"], syntaxError),
        (["2", "nokey", "str"], err("WRONGTYPE Operation against a key holding the wrong kind of value")),
    ] as [([String], RESPValue)])
    func sintercard(_ arguments: [String], _ reply: RESPValue) {
        let c = TestServer().client()
        c.call("sadd", "a", "1", "2", "3", "x")
        c.call("sadd", "b", "2", "3", "y")
        c.call("set", "str", "v")
        #expect(c.call(["sintercard"] + arguments) == reply)
    }

    @Test("SSCAN: an intset in one reply; a hashtable walked to the end; errors")
    func sscan() {
        let c = TestServer().client()
        c.call("sadd", "i", "3", "1", "12")
        #expect(c.call("sscan", "i", "99", "count", "1") == .array([bulk("0"), .array(["1", "3", "12"].map(bulk))]))
        #expect(c.call("sscan", "i", "0", "match", "1*") == .array([bulk("0"), .array(["1", "12"].map(bulk))]))
        #expect(c.call("sscan", "nokey", "0") == .array([bulk("0"), .array([])]))
        #expect(c.call("sscan", "i", "x") == err("ERR invalid cursor"))
        #expect(c.call("sscan", "i", "0", "count", "0") == syntaxError)
        #expect(c.call("sscan", "i", "0", "type", "set") == syntaxError)

        c.call(["sadd", "big"] + (0..<300).map { "m\($0)" })
        var cursor = "0", seen = Set<String>(), rounds = 0
        repeat {
            let reply = c.call("sscan", "big", cursor, "count", "10", "match", "m1*")
            cursor = reply.items[0].string ?? "0"
            seen.formUnion(strings(reply.items[1]))
            rounds += 1
        } while cursor != "0" && rounds < 1000
        #expect(seen == Set((0..<300).map { "m\($0)" }.filter { $0.hasPrefix("m1") }))
        #expect(rounds >= 30)
    }

    @Test("COMMAND INFO of the set commands: arity, flags and key positions as Redis 7.0's")
    func commandInfo() {
        let c = TestServer().client()
        let info = c.call("command", "info", "smove", "sinterstore", "sintercard", "spop")
        #expect(info.items.map { $0.items[1] } == [int(4), int(-3), int(-3), int(-2)])
        #expect(info.items.map { strings($0.items[2]) } == [["write", "fast"], ["write", "denyoom"], ["readonly"], ["write", "fast"]])
        #expect(info.items.map { Array($0.items[3...5]) } == [[int(1), int(2), int(1)], [int(1), int(-1), int(1)],
                                                             [int(0), int(0), int(0)], [int(1), int(1), int(1)]])
        #expect(c.call("command", "getkeys", "sintercard", "2", "a", "b", "limit", "1") == .array([bulk("a"), bulk("b")]))
        #expect(c.call("command", "getkeys", "smove", "a", "b", "m") == .array([bulk("a"), bulk("b")]))
    }
}
