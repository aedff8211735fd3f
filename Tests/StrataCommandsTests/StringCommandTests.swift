import StrataRESP
import Testing

@Suite("String commands")
struct StringCommandTests {
    /// SET's options, each against redis-server 7.0.15's reply, starting from `k` = "v" with no TTL.
    @Test("SET options matrix", arguments: [
        (["NX"], .null, "v"), (["XX"], ok, "new"), (["GET"], bulk("v"), "new"),
        (["NX", "GET"], bulk("v"), "v"), (["XX", "GET"], bulk("v"), "new"),
        (["NX", "XX"], syntaxError, "v"), (["XX", "NX"], syntaxError, "v"), (["nx", "nx"], .null, "v"),
        (["GET", "GET"], bulk("v"), "new"),
        (["EX", "10", "PX", "100"], syntaxError, "v"), (["EX", "10", "EX", "20"], ok, "new"),
        (["EX", "10", "KEEPTTL"], syntaxError, "v"), (["KEEPTTL", "EX", "10"], syntaxError, "v"),
        (["PXAT", "99999999999999", "EX", "1"], syntaxError, "v"),
        (["EX"], syntaxError, "v"), (["EX", "abc"], notInteger, "v"), (["EX", "1.5"], notInteger, "v"),
        (["EX", "0"], err("ERR invalid expire time in 'set' command"), "v"),
        (["EX", "-5"], err("ERR invalid expire time in 'set' command"), "v"),
        (["PX", "0"], err("ERR invalid expire time in 'set' command"), "v"),
        (["EXAT", "0"], err("ERR invalid expire time in 'set' command"), "v"),
        (["EX", "9223372036854775"], err("ERR invalid expire time in 'set' command"), "v"),
        (["EX", "9223372036854776"], err("ERR invalid expire time in 'set' command"), "v"),
        (["PX", "9223372036854775807"], err("ERR invalid expire time in 'set' command"), "v"),
        (["FOO"], syntaxError, "v"), (["PERSIST"], syntaxError, "v"),
    ] as [([String], RESPValue, String)])
    func setOptions(_ options: [String], _ reply: RESPValue, _ after: String) {
        let c = TestServer().client()
        c.call("set", "k", "v")
        #expect(c.call(["set", "k", "new"] + options) == reply)
        #expect(c.call("get", "k") == bulk(after))
    }

    @Test("SET on a missing key with NX, XX and GET")
    func setMissing() {
        let c = TestServer().client()
        #expect(c.call("set", "a", "1", "XX") == .null)
        #expect(c.call("set", "a", "1", "XX", "GET") == .null)
        #expect(c.call("exists", "a") == int(0))
        #expect(c.call("set", "a", "1", "NX", "GET") == .null)
        #expect(c.call("get", "a") == bulk("1"))
    }

    @Test("SET expiry options and KEEPTTL")
    func setExpiry() {
        let server = TestServer()
        let c = server.client()
        c.call("set", "k", "v", "EX", "100")
        #expect(c.call("pttl", "k") == int(100_000))
        c.call("set", "k", "v", "PX", "1500")
        #expect(c.call("pttl", "k") == int(1500))
        c.call("set", "k", "v", "EXAT", String(t0 / 1000 + 50))
        #expect(c.call("ttl", "k") == int(50))
        c.call("set", "k", "v", "PXAT", String(t0 + 777))
        #expect(c.call("pttl", "k") == int(777))
        #expect(c.call("set", "k", "v2", "KEEPTTL") == ok)
        #expect(c.call("pttl", "k") == int(777))
        #expect(c.call("set", "k", "v3") == ok)
        #expect(c.call("ttl", "k") == int(-1))
        // An absolute time in the past: stored and at once expired.
        #expect(c.call("set", "k", "v", "PXAT", "1") == ok)
        #expect(c.call("get", "k") == .null)
        #expect(c.call("setex", "k", "0", "v") == err("ERR invalid expire time in 'setex' command"))
        #expect(c.call("setex", "k", "abc", "v") == notInteger)
        #expect(c.call("psetex", "k", "-1", "v") == err("ERR invalid expire time in 'psetex' command"))
        #expect(c.call("setex", "k", "10", "v") == ok)
        #expect(c.call("ttl", "k") == int(10))
    }

    @Test("INCR family: parsing and overflow as Redis")
    func counters() {
        let c = TestServer().client()
        #expect(c.call("incr", "n") == int(1))
        #expect(c.call("incrby", "n", "-5") == int(-4))
        #expect(c.call("decrby", "n", "-4") == int(0))
        #expect(c.call("get", "n") == bulk("0"))
        c.call("set", "max", "9223372036854775807")
        #expect(c.call("incr", "max") == err("ERR increment or decrement would overflow"))
        #expect(c.call("incrby", "max", "0") == int(Int.max))
        c.call("set", "min", "-9223372036854775808")
        #expect(c.call("decr", "min") == err("ERR increment or decrement would overflow"))
        #expect(c.call("decrby", "min", "-9223372036854775808") == err("ERR decrement would overflow"))
        #expect(c.call("incrby", "min", "9223372036854775808") == notInteger)
        #expect(c.call("incrby", "min", "9223372036854775807") == int(-1))
        for bad in [" 1", "1 ", "01", "+1", "1.0", "", "abc", "9223372036854775808"] {
            c.call("set", "bad", bad)
            #expect(c.call("incr", "bad") == notInteger, "\(bad.debugDescription)")
            #expect(c.call("get", "bad") == bulk(bad))
        }
        #expect(c.call("incrby", "n", "x") == notInteger)
        c.call("set", "ttl", "1", "EX", "100")
        c.call("incr", "ttl")
        #expect(c.call("ttl", "ttl") == int(100), "INCR keeps the TTL")
    }

    @Test("INCRBYFLOAT formats as Redis's long double, trailing zeros removed", arguments: [
        ("10.5", "0.1", bulk("10.6")), ("5.0e3", "2.0e2", bulk("5200")), (nil, "3e-5", bulk("0.00003")),
        ("1.5", "-1.5", bulk("0")), (nil, "1e20", bulk("100000000000000000000")), ("0x10", "1", bulk("17")),
        ("3", "1.5", bulk("4.5")), ("-1", "0.25", bulk("-0.75")),
        ("abc", "1", err("ERR value is not a valid float")), (nil, " 1", err("ERR value is not a valid float")),
        (nil, "1 ", err("ERR value is not a valid float")), (nil, "nan", err("ERR value is not a valid float")),
        (nil, "", err("ERR value is not a valid float")),
        (nil, "inf", err("ERR increment would produce NaN or Infinity")),
    ] as [(String?, String, RESPValue)])
    func incrbyfloat(_ start: String?, _ increment: String, _ expected: RESPValue) {
        let c = TestServer().client()
        if let start { c.call("set", "f", start) }
        #expect(c.call("incrbyfloat", "f", increment) == expected)
        if case .bulkString = expected { #expect(c.call("get", "f") == expected) }
    }

    @Test("GETRANGE clamps like Redis", arguments: [
        ("0", "-1", "Hello World"), ("-3", "-1", "rld"), ("5", "3", ""), ("-1", "-5", ""), ("100", "200", ""),
        ("-100", "2", "Hel"), ("0", "-100", "H"), ("10", "100", "d"), ("0", "0", "H"),
        ("-9223372036854775808", "9223372036854775807", "Hello World"),
    ])
    func getrange(_ start: String, _ end: String, _ expected: String) {
        let c = TestServer().client()
        c.call("set", "s", "Hello World")
        #expect(c.call("getrange", "s", start, end) == bulk(expected))
    }

    @Test("GETRANGE on missing and empty strings, and bad indices")
    func getrangeEdges() {
        let c = TestServer().client()
        #expect(c.call("getrange", "nokey", "0", "-1") == bulk(""))
        c.call("set", "empty", "")
        #expect(c.call("getrange", "empty", "0", "-1") == bulk(""))
        #expect(c.call("getrange", "empty", "-1", "0") == bulk(""))
        #expect(c.call("getrange", "nokey", "a", "1") == notInteger)
    }

    @Test("SETRANGE: patching, zero padding, limits")
    func setrange() {
        let c = TestServer().client()
        c.call("set", "s", "Hello World")
        #expect(c.call("setrange", "s", "6", "Redis") == int(11))
        #expect(c.call("get", "s") == bulk("Hello Redis"))
        #expect(c.call("setrange", "s", "11", "!") == int(12))
        #expect(c.call("get", "s") == bulk("Hello Redis!"))
        #expect(c.call("setrange", "new", "5", "x") == int(6))
        #expect(c.raw("get", "new") == "$6\r\n\0\0\0\0\0x\r\n")
        #expect(c.call("setrange", "s", "-1", "x") == err("ERR offset is out of range"))
        #expect(c.call("setrange", "s", "x", "x") == notInteger)
        // An empty patch changes nothing and creates nothing.
        #expect(c.call("setrange", "absent", "10", "") == int(0))
        #expect(c.call("exists", "absent") == int(0))
        #expect(c.call("setrange", "s", "100", "") == int(12))
        #expect(c.call("setrange", "s", "9223372036854775807", "x") == err("ERR string exceeds maximum allowed size (proto-max-bulk-len)"))
        #expect(c.call("config", "set", "proto-max-bulk-len", "1mb") == ok)
        #expect(c.call("setrange", "big", "1048576", "x") == err("ERR string exceeds maximum allowed size (proto-max-bulk-len)"))
        #expect(c.call("setrange", "big", "1048575", "x") == int(1_048_576))
        #expect(c.call("strlen", "big") == int(1_048_576))
        #expect(c.call("append", "big", "y") == err("ERR string exceeds maximum allowed size (proto-max-bulk-len)"))
    }

    @Test("MSET, MGET, MSETNX, APPEND, STRLEN, GETSET, GETDEL, GETEX")
    func others() {
        let server = TestServer()
        let c = server.client()
        #expect(c.call("mset", "a", "1", "b", "2") == ok)
        #expect(c.call("mget", "a", "nokey", "b") == .array([bulk("1"), .null, bulk("2")]))
        #expect(c.call("msetnx", "b", "x", "c", "3") == int(0))
        #expect(c.call("exists", "c") == int(0))
        #expect(c.call("msetnx", "c", "3", "d", "4") == int(1))
        #expect(c.call("append", "a", "23") == int(3))
        #expect(c.call("append", "z", "new") == int(3))
        #expect(c.call("strlen", "a") == int(3))
        #expect(c.call("strlen", "nokey") == int(0))
        #expect(c.call("getset", "a", "x") == bulk("123"))
        #expect(c.call("getdel", "a") == bulk("x"))
        #expect(c.call("getdel", "a") == .null)
        #expect(c.call("getex", "b", "EX", "100") == bulk("2"))
        #expect(c.call("ttl", "b") == int(100))
        #expect(c.call("getex", "b", "PERSIST") == bulk("2"))
        #expect(c.call("ttl", "b") == int(-1))
        #expect(c.call("getex", "b", "KEEPTTL") == syntaxError)
        #expect(c.call("getex", "nokey", "EX", "100") == .null)
        #expect(c.call("setnx", "b", "y") == int(0))
        #expect(c.call("setnx", "e", "y") == int(1))
    }

    @Test("binary-safe keys and values")
    func binary() {
        let c = TestServer().client()
        let value = "a\r\nb\0c\u{FF}"
        #expect(c.call("set", "k\r\n", value) == ok)
        #expect(c.call("get", "k\r\n") == bulk(value))
        #expect(c.call("strlen", "k\r\n") == int(value.utf8.count))
    }
}
