import StrataRESP
import Testing

@Suite("Key commands")
struct KeyCommandTests {
    /// EXPIRE's NX/XX/GT/LT options, replayed from a redis-server 7.0.15 session.
    @Test("EXPIRE option matrix")
    func expireOptions() {
        let c = TestServer().client()
        c.call("set", "k", "v")
        let steps: [([String], RESPValue)] = [
            (["expire", "k", "100", "XX"], int(0)), (["expire", "k", "100", "GT"], int(0)),
            (["expire", "k", "100", "LT"], int(1)), (["ttl", "k"], int(100)),
            (["expire", "k", "100", "NX"], int(0)), (["expire", "k", "200", "NX"], int(0)),
            (["expire", "k", "50", "GT"], int(0)), (["expire", "k", "200", "GT"], int(1)),
            (["expire", "k", "100", "LT"], int(1)), (["expire", "k", "300", "LT"], int(0)),
            (["expire", "k", "100", "XX"], int(1)), (["ttl", "k"], int(100)),
            (["expire", "k", "100", "NX", "XX"], err("ERR NX and XX, GT or LT options at the same time are not compatible")),
            (["expire", "k", "100", "nx", "gt"], err("ERR NX and XX, GT or LT options at the same time are not compatible")),
            (["expire", "k", "100", "GT", "LT"], err("ERR GT and LT options at the same time are not compatible")),
            (["expire", "k", "100", "FOO"], err("ERR Unsupported option FOO")),
            (["expire", "k", "abc"], notInteger),
            (["expire", "k", "abc", "FOO"], err("ERR Unsupported option FOO")),
            (["expire", "nokey", "100"], int(0)),
            (["expire", "k", "9223372036854775807"], err("ERR invalid expire time in 'expire' command")),
            (["expire", "k", "-9223372036854775808"], err("ERR invalid expire time in 'expire' command")),
            (["pexpire", "k", "9223372036854775807"], err("ERR invalid expire time in 'pexpire' command")),
            (["expireat", "k", "9223372036854775807"], err("ERR invalid expire time in 'expireat' command")),
            (["persist", "k"], int(1)), (["ttl", "k"], int(-1)), (["persist", "k"], int(0)),
            (["expire", "k", "100", "GT"], int(0)), (["expire", "k", "100", "LT"], int(1)),
            (["expire", "k", "0", "XX"], int(1)), (["exists", "k"], int(0)),
            (["set", "k", "v"], ok), (["expire", "k", "0", "XX"], int(0)), (["exists", "k"], int(1)),
            (["expire", "k", "-1"], int(1)), (["exists", "k"], int(0)),
        ]
        for (command, reply) in steps {
            #expect(c.call(command) == reply, "\(command)")
        }
    }

    @Test("TTL rounds to the nearest second; a key lives until now passes its expiry")
    func ttlRounding() {
        let server = TestServer()
        let c = server.client()
        c.call("set", "k", "v")
        for (milliseconds, seconds) in [(1500, 2), (1499, 1), (500, 1), (499, 0), (100_000, 100)] {
            #expect(c.call("pexpire", "k", String(milliseconds)) == int(1))
            #expect(c.call("ttl", "k") == int(seconds), "\(milliseconds) ms")
            #expect(c.call("pttl", "k") == int(milliseconds))
        }
        #expect(c.call("expiretime", "k") == int(Int(t0 / 1000 + 100)))
        #expect(c.call("pexpiretime", "k") == int(Int(t0 + 100_000)))
        server.now += 100_000
        #expect(c.call("pttl", "k") == int(0))
        #expect(c.call("ttl", "k") == int(0))
        #expect(c.call("get", "k") == bulk("v"))
        server.now += 1
        #expect(c.call("ttl", "k") == int(-2))
        #expect(c.call("pttl", "k") == int(-2))
        #expect(c.call("expiretime", "k") == int(-2))
        #expect(c.call("get", "k") == .null)
        c.call("set", "p", "v")
        #expect(c.call("ttl", "p") == int(-1))
        #expect(c.call("pexpiretime", "p") == int(-1))
    }

    @Test("EXPIREAT and PEXPIREAT take absolute times")
    func expireAt() {
        let server = TestServer()
        let c = server.client()
        c.call("set", "k", "v")
        #expect(c.call("expireat", "k", String(t0 / 1000 + 30)) == int(1))
        #expect(c.call("ttl", "k") == int(30))
        #expect(c.call("pexpireat", "k", String(t0 + 2500)) == int(1))
        #expect(c.call("pttl", "k") == int(2500))
        #expect(c.call("pexpireat", "k", String(t0)) == int(1))
        #expect(c.call("exists", "k") == int(0))
    }

    @Test("RENAME and RENAMENX")
    func rename() {
        let c = TestServer().client()
        c.call("set", "k", "v", "EX", "100")
        c.call("set", "a", "1")
        #expect(c.call("rename", "k", "k") == ok)
        #expect(c.call("rename", "nokey", "x") == err("ERR no such key"))
        #expect(c.call("renamenx", "nokey", "x") == err("ERR no such key"))
        #expect(c.call("renamenx", "k", "a") == int(0))
        #expect(c.call("get", "a") == bulk("1"))
        #expect(c.call("rename", "k", "a") == ok)
        #expect(c.call("get", "a") == bulk("v"))
        #expect(c.call("ttl", "a") == int(100), "the TTL moves with the value")
        #expect(c.call("exists", "k") == int(0))
        #expect(c.call("renamenx", "a", "b") == int(1))
        #expect(c.call("get", "b") == bulk("v"))
    }

    @Test("COPY")
    func copy() {
        let c = TestServer().client()
        c.call("set", "a", "v", "EX", "100")
        let steps: [([String], RESPValue)] = [
            (["copy", "a", "a"], err("ERR source and destination objects are the same")),
            (["copy", "nokey", "nokey"], err("ERR source and destination objects are the same")),
            (["copy", "a", "b"], int(1)), (["copy", "a", "b"], int(0)), (["copy", "a", "b", "REPLACE"], int(1)),
            (["ttl", "b"], int(100)),
            (["copy", "a", "b", "DB", "1"], int(1)), (["copy", "a", "a", "DB", "1"], int(1)),
            (["copy", "a", "a", "db", "1"], int(0)), (["copy", "a", "a", "db", "1", "replace"], int(1)),
            (["copy", "a", "b", "DB", "16"], err("ERR DB index is out of range")),
            (["copy", "a", "b", "DB", "-1"], err("ERR DB index is out of range")),
            (["copy", "a", "b", "DB", "x"], notInteger),
            (["copy", "a", "b", "DB", "4294967296"], err("ERR value is out of range, value must between -2147483648 and 2147483647")),
            (["copy", "a", "b", "FOO"], syntaxError), (["copy", "a", "b", "DB"], syntaxError),
            (["copy", "nokey", "b"], int(0)),
            (["select", "1"], ok), (["get", "a"], bulk("v")), (["get", "b"], bulk("v")), (["ttl", "b"], int(100)),
        ]
        for (command, reply) in steps {
            #expect(c.call(command) == reply, "\(command)")
        }
    }

    @Test("DEL, EXISTS, TYPE, KEYS, SCAN, DBSIZE, FLUSHDB")
    func keyspaceCommands() {
        let c = TestServer().client()
        c.call("mset", "user:1", "a", "user:2", "b", "other", "c")
        #expect(c.call("exists", "user:1", "user:1", "nokey") == int(2))
        #expect(c.call("type", "user:1") == .simpleString("string"))
        #expect(c.call("type", "nokey") == .simpleString("none"))
        let keys = c.call("keys", "user:*").items.compactMap(\.string)
        #expect(Set(keys) == ["user:1", "user:2"])
        #expect(c.call("keys", "*").items.count == 3)
        var seen: [String] = []
        var cursor = "0"
        repeat {
            let reply = c.call("scan", cursor, "MATCH", "user:*", "COUNT", "1")
            cursor = reply.items.first?.string ?? "0"
            seen += reply.items.last?.items.compactMap(\.string) ?? []
        } while cursor != "0"
        #expect(Set(seen) == ["user:1", "user:2"])
        #expect(c.call("scan", "0", "COUNT", "0") == syntaxError)
        #expect(c.call("scan", "0", "COUNT", "x") == notInteger)
        #expect(c.call("scan", "x") == err("ERR invalid cursor"))
        #expect(c.call("scan", "0", "TYPE", "list").items.last == .array([]))
        #expect(c.call("dbsize") == int(3))
        #expect(c.call("del", "user:1", "user:1", "nokey") == int(1))
        #expect(c.call("unlink", "user:2") == int(1))
        #expect(c.call("flushdb", "bogus") == syntaxError)
        #expect(c.call("flushdb", "async") == ok)
        #expect(c.call("dbsize") == int(0))
        #expect(c.call("randomkey") == .null)
    }

    @Test("SCAN with a huge COUNT neither traps nor loops")
    func scanHugeCount() {
        let c = TestServer().client()
        for i in 0..<20 { c.call("set", "k\(i)", "v") }
        for count in ["9223372036854775807", "1000000000000000000"] {
            let reply = c.call("scan", "0", "COUNT", count)
            #expect(reply.items.first == bulk("0"))
            #expect(reply.items.last?.items.count == 20)
        }
    }

    @Test("the empty key: KEYS * and SCAN list it, KEYS ** does not (as redis-server 7.0.15)")
    func emptyKey() {
        let c = TestServer().client()
        c.call("set", "", "empty")
        c.call("set", "a", "1")
        #expect(c.call("get", "") == bulk("empty"))
        #expect(Set(c.call("keys", "*").items.compactMap(\.string)) == ["", "a"])
        #expect(c.call("keys", "**").items.compactMap(\.string) == ["a"])
        #expect(Set(c.call("scan", "0", "MATCH", "*", "COUNT", "100").items.last?.items.compactMap(\.string) ?? []) == ["", "a"])
    }
}
