import StrataRESP
import Testing

/// Replies checked against redis-server 7.0.15.
@Suite("Hash commands")
struct HashCommandTests {
    private let wrongType = err("WRONGTYPE Operation against a key holding the wrong kind of value")

    private func strings(_ value: RESPValue) -> [String] { value.items.compactMap(\.string) }

    @Test("HSET, HMSET, HSETNX, HGET, HMGET, HLEN, HEXISTS, HSTRLEN")
    func setAndGet() {
        let c = TestServer().client()
        #expect(c.call("hset", "h", "a", "1", "b", "2") == int(2))
        #expect(c.call("hset", "h", "a", "10", "c", "3") == int(1))
        #expect(c.call("hset", "h", "a", "1", "b") == err("ERR wrong number of arguments for 'hset' command"))
        #expect(c.call("hmset", "h", "d", "4", "e") == err("ERR wrong number of arguments for 'hmset' command"))
        #expect(c.call("hmset", "h", "d", "4") == ok)
        #expect(c.call("hsetnx", "h", "a", "x") == int(0))
        #expect(c.call("hsetnx", "h", "z", "26") == int(1))
        #expect(c.call("hsetnx", "new", "f", "v") == int(1))
        #expect(c.call("hget", "h", "a") == bulk("10"))
        #expect(c.call("hget", "h", "nope") == .null)
        #expect(c.call("hget", "nokey", "a") == .null)
        #expect(c.call("hmget", "h", "a", "nope", "z") == .array([bulk("10"), .null, bulk("26")]))
        #expect(c.call("hmget", "nokey", "a") == .array([.null]))
        #expect(c.call("hlen", "h") == int(5))
        #expect(c.call("hlen", "nokey") == int(0))
        #expect(c.call("hexists", "h", "z") == int(1))
        #expect(c.call("hexists", "h", "y") == int(0))
        #expect(c.call("hstrlen", "h", "a") == int(2))
        #expect(c.call("hstrlen", "h", "nope") == int(0))
        #expect(c.call("hstrlen", "nokey", "a") == int(0))
        #expect(c.call("type", "h") == .simpleString("hash"))
    }

    @Test("HDEL counts the fields it removes and deletes the emptied key")
    func hdel() {
        let c = TestServer().client()
        c.call("hset", "h", "a", "1", "b", "2")
        #expect(c.call("hdel", "h", "a", "nope", "a") == int(1))
        #expect(c.call("hdel", "nokey", "a") == int(0))
        #expect(c.call("exists", "h") == int(1))
        #expect(c.call("hdel", "h", "b") == int(1))
        #expect(c.call("exists", "h") == int(0))
    }

    @Test("Every hash command replies WRONGTYPE on a string", arguments: [
        ["hset", "s", "f", "v"], ["hmset", "s", "f", "v"], ["hsetnx", "s", "f", "v"], ["hget", "s", "f"],
        ["hmget", "s", "f"], ["hgetall", "s"], ["hdel", "s", "f"], ["hexists", "s", "f"], ["hlen", "s"],
        ["hstrlen", "s", "f"], ["hkeys", "s"], ["hvals", "s"], ["hincrby", "s", "f", "1"],
        ["hincrbyfloat", "s", "f", "1"], ["hrandfield", "s"], ["hrandfield", "s", "3"], ["hrandfield", "s", "0"],
        ["hscan", "s", "0"], ["hscan", "s", "0", "count", "0"],
    ])
    func wrongTypes(_ command: [String]) {
        let c = TestServer().client()
        c.call("set", "s", "x")
        #expect(c.call(command) == wrongType)
        #expect(c.call("get", "s") == bulk("x"))
    }

    @Test("HINCRBY: creates, adds, refuses non-integers and overflow")
    func hincrby() {
        let c = TestServer().client()
        #expect(c.call("hincrby", "h", "n", "5") == int(5))
        #expect(c.call("hincrby", "h", "n", "-7") == int(-2))
        #expect(c.call("hincrby", "h", "n", "abc") == notInteger)
        #expect(c.call("hincrby", "s", "n", "1.5") == notInteger)
        c.call("hset", "h", "text", "x", "big", "9223372036854775807", "lead", "01")
        #expect(c.call("hincrby", "h", "text", "1") == err("ERR hash value is not an integer"))
        #expect(c.call("hincrby", "h", "lead", "1") == err("ERR hash value is not an integer"))
        #expect(c.call("hincrby", "h", "big", "1") == err("ERR increment or decrement would overflow"))
        #expect(c.call("hincrby", "h", "big", "-9223372036854775808") == int(-1))
        #expect(c.call("hget", "h", "n") == bulk("-2"))
        // The increment is parsed before the key is looked at.
        c.call("set", "s", "x")
        #expect(c.call("hincrby", "s", "n", "x") == notInteger)
        #expect(c.call("hincrby", "fresh", "n", "x") == notInteger)
        #expect(c.call("exists", "fresh") == int(0))
    }

    @Test("HINCRBYFLOAT formats as Redis (long double, %.17Lf, trailing zeros removed)", arguments: [
        ("0.1", "0.1"), ("-0", "0"), ("1.10", "1.1"), ("1e-20", "0"), ("5.0e3", "5000"), ("10.5", "10.5"),
        ("1e400", "10000000000000000000281880683947586514586453433629052038625910693539685534008629862039363994848324160522094053927317616200295822777259255734023828976593340661017797447434546173917862448116674971723778943824391593338047470675026246684401359237513603830343735485505244955964979021825038280091068414947402456898653040951017512658092615827588920183472511643316591362664138176309734806343732497430221946880"),
    ])
    func hincrbyfloatFormat(_ increment: String, _ expected: String) {
        let c = TestServer().client()
        #expect(c.call("hincrbyfloat", "h", "f", increment) == bulk(expected))
        #expect(c.call("hget", "h", "f") == bulk(expected))
    }

    @Test("HINCRBYFLOAT's errors")
    func hincrbyfloatErrors() {
        let c = TestServer().client()
        #expect(c.call("hincrbyfloat", "h", "f", "10.5") == bulk("10.5"))
        #expect(c.call("hincrbyfloat", "h", "f", "0.1") == bulk("10.6"))
        #expect(c.call("hincrbyfloat", "h", "f", "-10.6") == bulk("0"))
        #expect(c.call("hincrbyfloat", "h", "f", "abc") == err("ERR value is not a valid float"))
        #expect(c.call("hincrbyfloat", "h", "f", " 1") == err("ERR value is not a valid float"))
        #expect(c.call("hincrbyfloat", "h", "f", "inf") == err("ERR value is NaN or Infinity"))
        c.call("hset", "h", "text", "x", "huge", "1e4932", "infinite", "inf", "over", "1e5000")
        #expect(c.call("hincrbyfloat", "h", "text", "1") == err("ERR hash value is not a float"))
        #expect(c.call("hincrbyfloat", "h", "over", "1") == err("ERR hash value is not a float"))
        #expect(c.call("hincrbyfloat", "h", "huge", "1e4932") == err("ERR increment would produce NaN or Infinity"))
        #expect(c.call("hincrbyfloat", "h", "infinite", "1") == err("ERR increment would produce NaN or Infinity"))
        #expect(c.call("hget", "h", "huge") == bulk("1e4932"))
    }

    @Test("HGETALL is a map in RESP3 and flat pairs in RESP2; HKEYS and HVALS")
    func hgetall() {
        let c = TestServer().client()
        c.call("hset", "h", "a", "1", "b", "2")
        #expect(c.call("hgetall", "h") == .array([bulk("a"), bulk("1"), bulk("b"), bulk("2")]))
        #expect(c.call("hkeys", "h") == .array([bulk("a"), bulk("b")]))
        #expect(c.call("hvals", "h") == .array([bulk("1"), bulk("2")]))
        #expect(c.raw("hgetall", "nokey") == "*0\r\n")
        #expect(c.raw("hkeys", "nokey") == "*0\r\n")
        c.call("hello", "3")
        #expect(c.raw("hgetall", "h") == "%2\r\n$1\r\na\r\n$1\r\n1\r\n$1\r\nb\r\n$1\r\n2\r\n")
        #expect(c.raw("hgetall", "nokey") == "%0\r\n")
        #expect(c.raw("hvals", "nokey") == "*0\r\n")
    }

    @Test("HRANDFIELD: one field, distinct fields, repeats, the whole hash")
    func hrandfield() {
        let c = TestServer().client()
        c.call("hset", "h", "a", "1", "b", "2", "c", "3")
        #expect(["a", "b", "c"].contains(c.call("hrandfield", "h").string ?? ""))
        #expect(c.call("hrandfield", "nokey") == .null)
        #expect(c.raw("hrandfield", "nokey", "3") == "*0\r\n")
        #expect(c.raw("hrandfield", "h", "0", "withvalues") == "*0\r\n")
        for _ in 0..<20 {
            let two = strings(c.call("hrandfield", "h", "2"))
            #expect(two.count == 2 && Set(two).count == 2 && Set(two).isSubset(of: ["a", "b", "c"]))
        }
        #expect(Set(strings(c.call("hrandfield", "h", "5"))) == ["a", "b", "c"])
        #expect(strings(c.call("hrandfield", "h", "5")).count == 3)
        let repeats = strings(c.call("hrandfield", "h", "-10"))
        #expect(repeats.count == 10 && Set(repeats).isSubset(of: ["a", "b", "c"]))
        // WITHVALUES: flat in RESP2, each pair its own array in RESP3; values go with their fields.
        let flat = strings(c.call("hrandfield", "h", "-4", "WITHVALUES"))
        #expect(flat.count == 8)
        for i in stride(from: 0, to: flat.count, by: 2) {
            #expect(["a": "1", "b": "2", "c": "3"][flat[i]] == flat[i + 1])
        }
        c.call("hello", "3")
        let nested = c.call("hrandfield", "h", "2", "withvalues").items
        #expect(nested.count == 2)
        for pair in nested {
            let p = strings(pair)
            #expect(p.count == 2 && ["a": "1", "b": "2", "c": "3"][p[0]] == p[1])
        }
        #expect(c.call("hrandfield", "h", "9", "withvalues").items.count == 3)
        #expect(c.raw("hrandfield", "nokey") == "_\r\n")
    }

    @Test("HRANDFIELD's argument errors, in Redis's order", arguments: [
        (["abc"], notInteger), (["abc", "withvalues", "x"], notInteger), (["1", "foo"], syntaxError),
        (["2", "withvalues", "x"], syntaxError),
        (["-9223372036854775808"], err("ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807")),
        (["-9223372036854775807", "withvalues"], err("ERR value is out of range")),
        (["4611686018427387904", "withvalues"], err("ERR value is out of range")),
    ] as [([String], RESPValue)])
    func hrandfieldErrors(_ arguments: [String], _ reply: RESPValue) {
        let c = TestServer().client()
        c.call("hset", "h", "a", "1")
        #expect(c.call(["hrandfield", "h"] + arguments) == reply)
        #expect(c.call(["hrandfield", "nokey"] + arguments) == reply)
    }

    @Test("HSCAN: a listpack hash in one reply; a hashtable walked to the end; MATCH")
    func hscan() {
        let c = TestServer().client()
        c.call("hset", "h", "a", "1", "b", "2", "ab", "3")
        let all = c.call("hscan", "h", "0", "count", "1")
        #expect(all.items.first == bulk("0"))
        #expect(strings(all.items[1]) == ["a", "1", "b", "2", "ab", "3"])
        #expect(strings(c.call("hscan", "h", "12345", "match", "a*").items[1]) == ["a", "1", "ab", "3"])
        #expect(c.call("hscan", "nokey", "0", "count", "0") == .array([bulk("0"), .array([])]))

        var words = ["hset", "big"]
        for i in 0..<600 { words += ["f\(i)", "v\(i)"] }
        c.call(words)
        #expect(c.call("object", "encoding", "big") == bulk("hashtable"))
        var cursor = "0", seen: [String: String] = [:], rounds = 0
        repeat {
            let reply = c.call("hscan", "big", cursor, "COUNT", "7")
            cursor = reply.items[0].string ?? "0"
            let items = strings(reply.items[1])
            #expect(items.count <= 14)
            for i in stride(from: 0, to: items.count, by: 2) { seen[items[i]] = items[i + 1] }
            rounds += 1
        } while cursor != "0" && rounds < 1000
        #expect(seen.count == 600)
        #expect(seen["f17"] == "v17")
        #expect(rounds > 1)
    }

    @Test("HSCAN's argument errors", arguments: [
        (["abc"], err("ERR invalid cursor")), (["0", "count", "0"], syntaxError), (["0", "count", "-1"], syntaxError),
        (["0", "count", "abc"], notInteger), (["0", "match"], syntaxError), (["0", "type", "string"], syntaxError),
        (["0", "novalues"], syntaxError),
    ] as [([String], RESPValue)])
    func hscanErrors(_ arguments: [String], _ reply: RESPValue) {
        let c = TestServer().client()
        c.call("hset", "h", "a", "1")
        #expect(c.call(["hscan", "h"] + arguments) == reply)
    }

    @Test("COMMAND INFO of the hash commands: arity, flags and key positions as Redis 7.0's")
    func commandInfo() {
        let c = TestServer().client()
        let info = c.call("command", "info", "hset", "hgetall", "hdel", "hrandfield")
        #expect(info.items.map { $0.items[1] } == [int(-4), int(2), int(-3), int(-2)])
        #expect(info.items.map { strings($0.items[2]) } == [["write", "denyoom", "fast"], ["readonly"], ["write", "fast"], ["readonly"]])
        #expect(info.items.allSatisfy { Array($0.items[3...5]) == [int(1), int(1), int(1)] })
    }
}
