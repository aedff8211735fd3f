import StrataRESP
import StrataStore
import Testing

/// Every expected reply below is redis-server 7.0.15's to the same commands.
@Suite("Sorted set commands")
struct SortedSetCommandTests {
    private func arr(_ items: String...) -> RESPValue { .array(items.map { bulk($0) }) }

    private func client(_ setup: [String]...) -> TestClient {
        let c = TestServer().client()
        for command in setup { c.call(command) }
        return c
    }

    /// Stores a set under `key` directly (the set commands are another family's).
    private func storeSet(_ c: TestClient, _ key: String, _ members: [String]) {
        let set = SetValue()
        for member in members { set.insert(Blob(member)) }
        let keyspace = c.server.context.keyspace
        Array(key.utf8).withUnsafeBytes { k in
            let hash = keyspace.hasher.hash(k)
            let shard = keyspace.shard(for: hash)
            shard.lock.lock()
            defer { shard.lock.unlock() }
            shard.insert(database: 0, key: k, hash: hash, collection: set, expireAt: 0, now: c.server.now)
        }
    }

    // MARK: - ZADD and ZINCRBY

    @Test("ZADD option errors, in Redis's order")
    func zaddOptionErrors() {
        let c = client(["set", "s", "x"])
        #expect(c.call("zadd", "k", "xx", "nx", "1", "a") == err("ERR XX and NX options at the same time are not compatible"))
        #expect(c.call("zadd", "k", "gt", "lt", "1", "a") == err("ERR GT, LT, and/or NX options at the same time are not compatible"))
        #expect(c.call("zadd", "k", "nx", "gt", "1", "a") == err("ERR GT, LT, and/or NX options at the same time are not compatible"))
        #expect(c.call("zadd", "k", "incr", "1", "a", "2", "b") == err("ERR INCR option supports a single increment-element pair"))
        #expect(c.call("zadd", "k", "1", "a", "2") == syntaxError)
        #expect(c.call("zadd", "k", "xx", "nx", "1") == syntaxError)
        #expect(c.call("zadd", "k", "nx") == err("ERR wrong number of arguments for 'zadd' command"))
        #expect(c.call("zadd", "k", "abc", "a") == err("ERR value is not a valid float"))
        #expect(c.call("zadd", "k", "nan", "a") == err("ERR value is not a valid float"))
        #expect(c.call("zadd", "s", "nan", "a") == err("ERR value is not a valid float"))
        #expect(c.call("zadd", "s", "1", "a") == err("WRONGTYPE Operation against a key holding the wrong kind of value"))
        #expect(c.call("exists", "k") == int(0))
    }

    @Test("ZADD NX, XX, GT, LT, CH and INCR")
    func zaddOptions() {
        let c = client(["zadd", "z", "1", "a", "2", "b"])
        #expect(c.call("zadd", "z", "nx", "5", "a", "3", "c") == int(1))
        #expect(c.call("zscore", "z", "a") == bulk("1"))
        #expect(c.call("zadd", "z", "xx", "ch", "5", "a", "4", "d") == int(1))
        #expect(c.call("zscore", "z", "d") == .null)
        #expect(c.call("zadd", "z", "gt", "ch", "1", "a", "10", "b", "7", "e") == int(2))
        #expect(c.call("zrange", "z", "0", "-1", "withscores") == arr("c", "3", "a", "5", "e", "7", "b", "10"))
        #expect(c.call("zadd", "z", "lt", "ch", "6", "a", "9", "b") == int(1))
        #expect(c.call("zadd", "z", "incr", "2.5", "a") == bulk("7.5"))
        #expect(c.call("zadd", "z", "nx", "incr", "1", "a") == .null)
        #expect(c.call("zadd", "z", "gt", "incr", "-1", "a") == .null)
        #expect(c.call("zadd", "z", "xx", "incr", "1", "nosuch") == .null)
        #expect(c.call("zadd", "missing", "xx", "1", "a") == int(0))
        #expect(c.call("zadd", "missing", "xx", "incr", "1", "a") == .null)
        #expect(c.call("exists", "missing") == int(0))
        #expect(c.call("zadd", "z", "ch", "9", "b") == int(0))
    }

    @Test("ZINCRBY: doubles, NaN refused, options read as ZADD's")
    func zincrby() {
        let c = client(["zadd", "z", "inf", "a"])
        #expect(c.call("zincrby", "z", "1.5", "new") == bulk("1.5"))
        #expect(c.call("zincrby", "z", "0.1", "new") == bulk("1.6000000000000001"))
        #expect(c.call("zincrby", "z", "-inf", "a") == err("ERR resulting score is not a number (NaN)"))
        #expect(c.call("zscore", "z", "a") == bulk("inf"))
        #expect(c.call("zincrby", "z", "nx", "a") == syntaxError)
        #expect(c.call("zincrby", "z", "abc", "a") == err("ERR value is not a valid float"))
        #expect(c.call("zincrby", "z", "1e400", "a") == err("ERR value is not a valid float"))
        #expect(c.call("zincrby", "z", "0x10", "h") == bulk("16"))
        _ = c.call("hello", "3")
        #expect(c.raw("zincrby", "z", "1", "h") == ",17\r\n")
        #expect(c.raw("zscore", "z", "a") == ",inf\r\n")
    }

    @Test("Scores print as Redis 7.0's %.17g; -0 becomes 0 in a listpack")
    func scoreFormatting() {
        let c = client(["zadd", "z", "0.1", "a", "-0", "b", "1e20", "c", "123456789012345678", "d"])
        #expect(c.call("zscore", "z", "a") == bulk("0.10000000000000001"))
        #expect(c.call("zscore", "z", "b") == bulk("0"))
        #expect(c.call("zscore", "z", "c") == bulk("1e+20"))
        #expect(c.call("zscore", "z", "d") == bulk("1.2345678901234568e+17"))
        #expect(c.call("zscan", "z", "0") == .array([bulk("0"), arr("b", "0", "a", "0.10000000000000001", "d",
                                                                        "123456789012345680", "c", "1e+20")]))
        // Not a listpack result: -0 stays.
        c.call("zadd", "one", "1", "a")
        #expect(c.call("zunion", "1", "one", "weights", "-0", "withscores") == arr("a", "-0"))
        #expect(c.call("zunionstore", "d", "1", "one", "weights", "-0") == int(1))
        #expect(c.call("zscore", "d", "a") == bulk("0"))
    }

    // MARK: - Encoding

    @Test("OBJECT ENCODING: listpack to skiplist at 129 members or a 65-byte member, one way")
    func encoding() {
        let c = TestServer().client()
        c.call(["zadd", "z"] + (0..<128).flatMap { ["\($0)", "m\($0)"] })
        #expect(c.call("object", "encoding", "z") == bulk("listpack"))
        c.call("zadd", "z", "1", "one-more")
        #expect(c.call("object", "encoding", "z") == bulk("skiplist"))
        c.call("zremrangebyrank", "z", "0", "-3")
        #expect(c.call("zcard", "z") == int(2))
        #expect(c.call("object", "encoding", "z") == bulk("skiplist"))
        c.call(["zadd", "dup"] + Array(repeating: ["1", "a"], count: 129).flatMap { $0 })
        #expect(c.call("object", "encoding", "dup") == bulk("listpack"))
        c.call("zadd", "long", "1", String(repeating: "x", count: 65))
        #expect(c.call("object", "encoding", "long") == bulk("skiplist"))
        #expect(c.call("zrangestore", "copy", "long", "0", "-1") == int(1))
        #expect(c.call("object", "encoding", "copy") == bulk("skiplist"))
        c.call("zadd", "small", "1", "a")
        #expect(c.call("zunionstore", "u", "2", "small", "z") == int(3))
        #expect(c.call("object", "encoding", "u") == bulk("listpack"))
    }

    // MARK: - Removal

    @Test("ZREM and the ZREMRANGEBY commands; an emptied key is deleted")
    func removal() {
        let c = client(["zadd", "z", "1", "a", "2", "b", "3", "c", "4", "d", "5", "e"])
        #expect(c.call("zrem", "z", "a", "x", "a") == int(1))
        #expect(c.call("zremrangebyrank", "z", "-2", "-1") == int(2))
        #expect(c.call("zrange", "z", "0", "-1") == arr("b", "c"))
        #expect(c.call("zremrangebyrank", "z", "5", "10") == int(0))
        #expect(c.call("zremrangebyrank", "z", "x", "1") == notInteger)
        #expect(c.call("zremrangebyscore", "z", "(2", "+inf") == int(1))
        #expect(c.call("zremrangebyscore", "z", "nan", "1") == err("ERR min or max is not a float"))
        #expect(c.call("zremrangebylex", "z", "a", "+") == err("ERR min or max not valid string range item"))
        #expect(c.call("zremrangebylex", "z", "-", "+") == int(1))
        #expect(c.call("exists", "z") == int(0))
        #expect(c.call("zrem", "z", "a") == int(0))
        #expect(c.call("zremrangebyscore", "nokey", "abc", "1") == err("ERR min or max is not a float"))
        c.call("set", "s", "x")
        #expect(c.call("zremrangebyrank", "s", "0", "1") == err("WRONGTYPE Operation against a key holding the wrong kind of value"))
    }

    // MARK: - Reads

    @Test("ZCARD, ZSCORE, ZMSCORE, ZRANK, ZREVRANK, ZCOUNT, ZLEXCOUNT")
    func reads() {
        let c = client(["zadd", "z", "1", "a", "2", "b", "2", "c", "3", "d"])
        #expect(c.call("zcard", "z") == int(4))
        #expect(c.call("zcard", "nokey") == int(0))
        #expect(c.call("zmscore", "z", "a", "x", "d") == .array([bulk("1"), .null, bulk("3")]))
        #expect(c.call("zmscore", "nokey", "a") == .array([.null]))
        #expect(c.call("zrank", "z", "c") == int(2))
        #expect(c.call("zrevrank", "z", "c") == int(1))
        #expect(c.call("zrank", "z", "x") == .null)
        #expect(c.call("zcount", "z", "(1", "2") == int(2))
        #expect(c.call("zcount", "z", "-inf", "+inf") == int(4))
        #expect(c.call("zcount", "z", "", "(") == int(0))
        #expect(c.call("zcount", "z", " 1", "1e400") == int(4))
        #expect(c.call("zcount", "z", "1\u{0}x", "1") == int(1))
        #expect(c.call("zcount", "z", "(2", "(2") == int(0))
        #expect(c.call("zcount", "z", "nan", "1") == err("ERR min or max is not a float"))
        #expect(c.call("zlexcount", "z", "-", "+") == int(4))
        #expect(c.call("zlexcount", "z", "[b", "(d") == int(2))
        #expect(c.call("zlexcount", "z", "+", "-") == int(0))
        #expect(c.call("zlexcount", "z", "+a", "-") == err("ERR min or max not valid string range item"))
    }

    @Test("Lex ranges on a listpack with mixed scores walk it as Redis does")
    func lexOnMixedScores() {
        let c = client(["zadd", "mix", "3", "a", "1", "b", "2", "c", "0", "d", "5", "e"])
        #expect(c.call("zrangebylex", "mix", "[b", "[c") == .array([]))
        #expect(c.call("zrangebylex", "mix", "-", "[c") == .array([]))
        #expect(c.call("zrangebylex", "mix", "[c", "+") == arr("d", "b", "c", "a", "e"))
        #expect(c.call("zrevrangebylex", "mix", "[c", "[a") == .array([]))
        #expect(c.call("zlexcount", "mix", "[b", "[d") == int(4))
    }

    // MARK: - Ranges

    @Test("ZRANGE's option errors")
    func zrangeErrors() {
        let c = client(["zadd", "k", "1", "a"])
        #expect(c.call("zrange", "k", "0", "1", "limit", "0", "1") == err("ERR syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX"))
        #expect(c.call("zrange", "k", "a", "b", "bylex", "withscores") == err("ERR syntax error, WITHSCORES not supported in combination with BYLEX"))
        #expect(c.call("zrange", "k", "0", "1", "byscore", "bylex") == syntaxError)
        #expect(c.call("zrange", "k", "0", "1", "rev", "rev") == syntaxError)
        #expect(c.call("zrange", "k", "0", "1", "limit", "0") == syntaxError)
        #expect(c.call("zrangebyscore", "k", "0", "1", "rev") == syntaxError)
        #expect(c.call("zrevrange", "k", "0", "1", "limit", "0", "1") == err("ERR syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX"))
        #expect(c.call("zrangestore", "d", "k", "0", "1", "withscores") == syntaxError)
        #expect(c.call("zrangebylex", "k", "-", "+", "withscores") == err("ERR syntax error, WITHSCORES not supported in combination with BYLEX"))
        #expect(c.call("zrange", "k", "0", "1", "limit", "a", "b") == notInteger)
        #expect(c.call("zrange", "k", "a", "b") == notInteger)
        #expect(c.call("zrange", "k", "0", "1", "bylex", "limit", "0", "1", "withscores") == err("ERR syntax error, WITHSCORES not supported in combination with BYLEX"))
        #expect(c.call("zrange", "k", "0", "1", "limit", "0", "-1") == arr("a"))
    }

    @Test("ZRANGE by rank, score and lex, forward and reverse, with LIMIT")
    func ranges() {
        let c = client(["zadd", "z", "1", "a", "2", "b", "3", "c", "4", "d", "5", "e"])
        #expect(c.call("zrange", "z", "1", "-2") == arr("b", "c", "d"))
        #expect(c.call("zrange", "z", "-100", "100", "rev") == arr("e", "d", "c", "b", "a"))
        #expect(c.call("zrange", "z", "3", "1") == .array([]))
        #expect(c.call("zrange", "z", "-9223372036854775808", "9223372036854775807") == arr("a", "b", "c", "d", "e"))
        #expect(c.call("zrevrange", "z", "0", "1", "withscores") == arr("e", "5", "d", "4"))
        #expect(c.call("zrange", "z", "(1", "4", "byscore", "limit", "1", "2") == arr("c", "d"))
        #expect(c.call("zrange", "z", "4", "(1", "byscore", "rev", "limit", "1", "-1") == arr("c", "b"))
        #expect(c.call("zrangebyscore", "z", "-inf", "+inf", "limit", "-1", "2") == .array([]))
        #expect(c.call("zrangebyscore", "z", "2", "3", "withscores") == arr("b", "2", "c", "3"))
        #expect(c.call("zrevrangebyscore", "z", "+inf", "4") == arr("e", "d"))
        #expect(c.call("zrangebyscore", "z", "1", "5", "limit", "5", "1") == .array([]))
        #expect(c.call("zrangebylex", "z", "[b", "(d") == arr("b", "c"))
        #expect(c.call("zrevrangebylex", "z", "+", "-", "limit", "1", "2") == arr("d", "c"))
        #expect(c.call("zrange", "z", "[e", "-", "bylex", "rev") == arr("e", "d", "c", "b", "a"))
        #expect(c.call("zrange", "nokey", "0", "-1") == .array([]))
        _ = c.call("hello", "3")
        #expect(c.raw("zrange", "z", "0", "1", "withscores") == "*2\r\n*2\r\n$1\r\na\r\n,1\r\n*2\r\n$1\r\nb\r\n,2\r\n")
    }

    @Test("ZRANGESTORE stores or deletes the destination")
    func zrangestore() {
        let c = client(["zadd", "z", "1", "a", "2", "b", "3", "c"], ["set", "d", "string"])
        #expect(c.call("zrangestore", "d", "z", "1", "-1") == int(2))
        #expect(c.call("zrange", "d", "0", "-1", "withscores") == arr("b", "2", "c", "3"))
        #expect(c.call("zrangestore", "d", "z", "+inf", "(1", "byscore", "rev", "limit", "0", "1") == int(1))
        #expect(c.call("zrange", "d", "0", "-1") == arr("c"))
        #expect(c.call("zrangestore", "d", "z", "5", "10") == int(0))
        #expect(c.call("exists", "d") == int(0))
        c.call("set", "s", "x")
        #expect(c.call("zrangestore", "d", "s", "0", "1") == err("WRONGTYPE Operation against a key holding the wrong kind of value"))
        #expect(c.call("zrangestore", "z", "z", "0", "0") == int(1))
        #expect(c.call("zrange", "z", "0", "-1") == arr("a"))
    }

    // MARK: - Pops

    @Test("ZPOPMIN, ZPOPMAX and ZMPOP in RESP2")
    func popsResp2() {
        let c = client(["zadd", "z", "1", "a", "2", "b", "3", "c"], ["set", "s", "x"])
        #expect(c.call("zpopmin", "z") == arr("a", "1"))
        #expect(c.call("zpopmax", "z", "5") == arr("c", "3", "b", "2"))
        #expect(c.call("exists", "z") == int(0))
        #expect(c.call("zpopmin", "z") == .array([]))
        #expect(c.call("zpopmin", "z", "-1") == err("ERR value is out of range, must be positive"))
        #expect(c.call("zpopmin", "z", "abc") == err("ERR value is out of range, must be positive"))
        #expect(c.call("zpopmin", "z", "1", "2") == syntaxError)
        #expect(c.call("zpopmin", "s", "0") == err("WRONGTYPE Operation against a key holding the wrong kind of value"))
        c.call("zadd", "y", "1", "a", "2", "b")
        #expect(c.call("zpopmin", "y", "0") == .array([]))
        #expect(c.call("zmpop", "2", "z", "y", "max", "count", "1") == .array([bulk("y"), .array([arr("b", "2")])]))
        #expect(c.call("zmpop", "1", "z", "min") == .nullArray)
        #expect(c.call("zmpop", "2", "s", "y", "min") == err("WRONGTYPE Operation against a key holding the wrong kind of value"))
        #expect(c.call("zmpop", "0", "y", "min") == err("ERR numkeys should be greater than 0"))
        #expect(c.call("zmpop", "abc", "y", "min") == err("ERR numkeys should be greater than 0"))
        #expect(c.call("zmpop", "1", "y", "min", "count", "0") == err("ERR count should be greater than 0"))
        #expect(c.call("zmpop", "1", "y", "min", "count", "1", "count", "1") == syntaxError)
        #expect(c.call("zmpop", "1", "y", "foo") == syntaxError)
        #expect(c.call("zmpop", "3", "y", "min") == syntaxError)
        #expect(c.call("zmpop", "9223372036854775807", "y", "min") == syntaxError)
    }

    @Test("Pops in RESP3")
    func popsResp3() {
        let c = client(["zadd", "z", "1", "a", "2.5", "b", "3", "c"], ["hello", "3"])
        #expect(c.raw("zpopmin", "z") == "*2\r\n$1\r\na\r\n,1\r\n")
        #expect(c.raw("zpopmin", "z", "1") == "*1\r\n*2\r\n$1\r\nb\r\n,2.5\r\n")
        #expect(c.raw("zmpop", "1", "z", "min") == "*2\r\n$1\r\nz\r\n*1\r\n*2\r\n$1\r\nc\r\n,3\r\n")
        #expect(c.raw("zmpop", "1", "z", "min") == "_\r\n")
        #expect(c.raw("zpopmin", "z") == "*0\r\n")
    }

    // MARK: - ZRANDMEMBER

    @Test("ZRANDMEMBER counts, WITHSCORES and errors")
    func zrandmember() {
        let c = client(["zadd", "z", "1", "a", "2", "b", "3", "c"])
        #expect(c.call("zrandmember", "z", "5") == arr("c", "b", "a"))
        #expect(c.call("zrandmember", "z", "3", "withscores") == arr("c", "3", "b", "2", "a", "1"))
        #expect(c.call("zrandmember", "z", "-5").items.count == 5)
        #expect(c.call("zrandmember", "z", "-2", "withscores").items.count == 4)
        let two = c.call("zrandmember", "z", "2").items.compactMap(\.string)
        #expect(two.count == 2 && Set(two).count == 2 && Set(two).isSubset(of: ["a", "b", "c"]))
        #expect(["a", "b", "c"].contains(c.call("zrandmember", "z").string ?? ""))
        #expect(c.call("zrandmember", "z", "0") == .array([]))
        #expect(c.call("zrandmember", "nokey") == .null)
        #expect(c.call("zrandmember", "nokey", "5") == .array([]))
        #expect(c.call("zrandmember", "z", "abc") == notInteger)
        #expect(c.call("zrandmember", "z", "1", "foo") == syntaxError)
        #expect(c.call("zrandmember", "z", "4611686018427387904", "withscores") == err("ERR value is out of range"))
        #expect(c.call("zrandmember", "z", "-9223372036854775808") == err("ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807"))
        _ = c.call("hello", "3")
        #expect(c.raw("zrandmember", "z", "1", "withscores").hasPrefix("*1\r\n*2\r\n$1\r\n"))
    }

    // MARK: - Set operations

    @Test("ZUNION, ZINTER, ZDIFF with weights and aggregates; sets score 1")
    func setOperations() {
        let c = client(["zadd", "x", "1", "a", "2", "b", "3", "c"], ["zadd", "y", "10", "b", "20", "c", "30", "d"],
                       ["set", "str", "v"])
        storeSet(c, "s", ["a", "d"])
        #expect(c.call("zunion", "2", "x", "y", "withscores") == arr("a", "1", "b", "12", "c", "23", "d", "30"))
        #expect(c.call("zinter", "2", "x", "y", "weights", "2", "1", "aggregate", "min", "withscores") == arr("b", "4", "c", "6"))
        #expect(c.call("zinter", "2", "x", "y", "aggregate", "max") == arr("b", "c"))
        #expect(c.call("zdiff", "2", "x", "y", "withscores") == arr("a", "1"))
        #expect(c.call("zunion", "2", "x", "s", "withscores") == arr("d", "1", "a", "2", "b", "2", "c", "3"))
        #expect(c.call("zinter", "2", "y", "s", "withscores") == arr("d", "31"))
        #expect(c.call("zunion", "2", "x", "nokey") == arr("a", "b", "c"))
        #expect(c.call("zinter", "2", "x", "nokey") == .array([]))
        #expect(c.call("zunion", "1", "x", "weights", "inf", "withscores") == arr("a", "inf", "b", "inf", "c", "inf"))
        c.call("zadd", "p", "inf", "m")
        c.call("zadd", "n", "-inf", "m")
        #expect(c.call("zunion", "2", "p", "n", "withscores") == arr("m", "0"))
        #expect(c.call("zunion", "1", "x", "weights", "0", "withscores") == arr("a", "0", "b", "0", "c", "0"))
        #expect(c.call("zintercard", "2", "x", "y") == int(2))
        #expect(c.call("zintercard", "2", "x", "y", "limit", "1") == int(1))
        #expect(c.call("zintercard", "2", "x", "y", "limit", "-1") == err("ERR LIMIT can't be negative"))
        #expect(c.call("zintercard", "0", "x") == err("ERR at least 1 input key is needed for 'zintercard' command"))
        #expect(c.call("zunion", "0", "x") == err("ERR at least 1 input key is needed for 'zunion' command"))
        #expect(c.call("zunionstore", "d", "0", "x") == err("ERR at least 1 input key is needed for 'zunionstore' command"))
        #expect(c.call("zunion", "3", "x", "y") == syntaxError)
        #expect(c.call("zunion", "abc", "x") == notInteger)
        #expect(c.call("zunion", "2", "x", "str", "foo") == err("WRONGTYPE Operation against a key holding the wrong kind of value"))
        #expect(c.call("zunion", "2", "x", "y", "weights", "1") == syntaxError)
        #expect(c.call("zunion", "2", "x", "y", "weights", "1", "nan") == err("ERR weight value is not a float"))
        #expect(c.call("zunion", "1", "x", "aggregate", "avg") == syntaxError)
        #expect(c.call("zdiff", "1", "x", "weights", "1") == syntaxError)
        #expect(c.call("zunionstore", "d", "1", "x", "withscores") == syntaxError)
        #expect(c.call("zintercard", "1", "x", "withscores") == syntaxError)
    }

    @Test("The STORE forms replace the destination, or delete it when the result is empty")
    func storeForms() {
        let c = client(["zadd", "x", "1", "a", "2", "b"], ["zadd", "y", "2", "b"], ["set", "d", "v"], ["expire", "d", "100"])
        #expect(c.call("zunionstore", "d", "2", "x", "y") == int(2))
        #expect(c.call("zrange", "d", "0", "-1", "withscores") == arr("a", "1", "b", "4"))
        #expect(c.call("ttl", "d") == int(-1))
        #expect(c.call("zinterstore", "d", "2", "x", "y", "weights", "1", "3") == int(1))
        #expect(c.call("zscore", "d", "b") == bulk("8"))
        #expect(c.call("zdiffstore", "x", "2", "x", "y") == int(1))
        #expect(c.call("zrange", "x", "0", "-1") == arr("a"))
        #expect(c.call("zdiffstore", "d", "1", "nokey") == int(0))
        #expect(c.call("exists", "d") == int(0))
    }

    @Test("Set operations in RESP3 nest [member, score] pairs")
    func setOperationsResp3() {
        let c = client(["zadd", "x", "1", "a"], ["hello", "3"])
        #expect(c.raw("zunion", "2", "x", "x", "withscores") == "*1\r\n*2\r\n$1\r\na\r\n,2\r\n")
        #expect(c.raw("zinter", "1", "x") == "*1\r\n$1\r\na\r\n")
    }

    // MARK: - ZSCAN

    @Test("ZSCAN: a listpack whole and in order; a skiplist by cursor")
    func zscan() {
        let c = client(["zadd", "z", "2", "b", "1", "a", "3", "ab"])
        #expect(c.call("zscan", "z", "0") == .array([bulk("0"), arr("a", "1", "b", "2", "ab", "3")]))
        #expect(c.call("zscan", "z", "123", "match", "a*", "count", "1") == .array([bulk("0"), arr("a", "1", "ab", "3")]))
        #expect(c.call("zscan", "z", "abc") == err("ERR invalid cursor"))
        #expect(c.call("zscan", "z", "0", "count", "0") == syntaxError)
        #expect(c.call("zscan", "z", "0", "count", "x") == notInteger)
        #expect(c.call("zscan", "z", "0", "type", "zset") == syntaxError)
        #expect(c.call("zscan", "nokey", "0", "foo") == .array([bulk("0"), .array([])]))
        c.call(["zadd", "big"] + (0..<200).flatMap { ["\($0)", "m\($0)"] })
        var seen = Set<String>()
        var cursor = "0"
        repeat {
            let reply = c.call("zscan", "big", cursor, "count", "20")
            cursor = reply.items[0].string ?? "0"
            let items = reply.items[1].items
            for i in stride(from: 0, to: items.count, by: 2) { seen.insert(items[i].string ?? "") }
        } while cursor != "0"
        #expect(seen.count == 200)
    }

    @Test("COMMAND INFO key positions of the counted-key commands")
    func keyPositions() {
        let c = TestServer().client()
        #expect(c.call("command", "getkeys", "zunionstore", "d", "2", "a", "b", "weights", "1", "2") == arr("d", "a", "b"))
        #expect(c.call("command", "getkeys", "zmpop", "2", "a", "b", "min") == arr("a", "b"))
        #expect(c.call("command", "getkeys", "zrangestore", "d", "s", "0", "1") == arr("d", "s"))
        // `<MIN | MAX>` in the documented syntax is a required choice in COMMAND DOCS.
        let docs = c.raw("command", "docs", "zmpop")
        #expect(docs.contains("$7\r\nmin-max\r\n$4\r\ntype\r\n$5\r\noneof\r\n") && !docs.contains("<"))
        // A huge count of keys does not overflow.
        #expect(c.call("zunion", "9223372036854775807", "a") == syntaxError)
    }
}
