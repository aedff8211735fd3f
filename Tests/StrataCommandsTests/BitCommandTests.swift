import StrataRESP
import StrataStore
import Testing

/// Stores a hash under `key` in database 0 (for the WRONGTYPE paths; the hash commands are
/// another family's).
private func putHash(_ server: TestServer, _ key: String) {
    let keyspace = server.context.keyspace
    let hash = HashValue()
    _ = hash.set(Blob("f"), Blob("v"))
    Array(key.utf8).withUnsafeBytes { bytes in
        let keyHash = keyspace.hasher.hash(bytes)
        let shard = keyspace.shard(for: keyHash)
        shard.lock.lock()
        defer { shard.lock.unlock() }
        shard.insert(database: 0, key: bytes, hash: keyHash, collection: hash, expireAt: 0, now: server.now)
    }
}

private let wrongType = RESPValue.error("WRONGTYPE Operation against a key holding the wrong kind of value")
private let offsetError = RESPValue.error("ERR bit offset is not an integer or out of range")
private let typeError = RESPValue.error("ERR Invalid bitfield type. Use something like i16 u8. Note that u64 is not supported but i64 is.")

private func ints(_ values: Int?...) -> RESPValue {
    .array(values.map { $0.map { .integer($0) } ?? .null })
}

/// Every expected reply below is redis-server 7.0.15's to the same commands.
@Suite("Bitmap commands")
struct BitCommandTests {
    @Test("SETBIT and GETBIT: bit order, growth, the previous bit, limits")
    func setbitGetbit() {
        let c = TestServer().client()
        #expect(c.call("setbit", "k", "7", "1") == int(0))
        #expect(c.call("get", "k") == bulk("\u{01}"))
        #expect(c.call("setbit", "k", "7", "1") == int(1))
        #expect(c.call("setbit", "k", "1", "1") == int(0))
        #expect(c.call("get", "k") == bulk("A"))
        #expect(c.call("setbit", "k", "23", "0") == int(0))
        #expect(c.call("strlen", "k") == int(3))
        #expect(c.call("getbit", "k", "1") == int(1))
        #expect(c.call("getbit", "k", "0") == int(0))
        #expect(c.call("getbit", "k", "4294967295") == int(0))
        #expect(c.call("getbit", "missing", "5") == int(0))
        // The offset is checked before the bit, and both before the key's type.
        #expect(c.call("setbit", "k", "4294967296", "1") == offsetError)
        #expect(c.call("setbit", "k", "-1", "1") == offsetError)
        #expect(c.call("setbit", "k", "#1", "1") == offsetError)
        #expect(c.call("getbit", "k", "4294967296") == offsetError)
        for bad in ["2", "-1", "01", " 1", "abc", ""] {
            #expect(c.call("setbit", "k", "1", bad) == err("ERR bit is not an integer or out of range"))
        }
        #expect(c.call("setbit", "k", "4294967296", "2") == offsetError)
    }

    @Test("SETBIT's limit follows proto-max-bulk-len")
    func setbitLimit() {
        let c = TestServer { $0.protoMaxBulkLength = 1024 * 1024 }.client()
        #expect(c.call("setbit", "k", "8388608", "1") == offsetError)
        #expect(c.call("setbit", "k", "8388607", "1") == int(0))
        #expect(c.call("strlen", "k") == int(1024 * 1024))
    }

    @Test("BITCOUNT: ranges in bytes and bits, argument order")
    func bitcount() {
        let c = TestServer().client()
        c.call("set", "s", "foobar")
        #expect(c.call("bitcount", "s") == int(26))
        #expect(c.call("bitcount", "s", "0", "0") == int(4))
        #expect(c.call("bitcount", "s", "1", "1") == int(6))
        #expect(c.call("bitcount", "s", "1", "1", "byte") == int(6))
        #expect(c.call("bitcount", "s", "5", "30", "BIT") == int(17))
        #expect(c.call("bitcount", "s", "0", "-1", "bit") == int(26))
        #expect(c.call("bitcount", "s", "3", "-1", "bit") == int(24))
        #expect(c.call("bitcount", "s", "-100", "100") == int(26))
        #expect(c.call("bitcount", "s", "4", "2") == int(0))
        // Both negative and reversed: 0 before the unit is even read.
        #expect(c.call("bitcount", "s", "-1", "-5", "FOO") == int(0))
        #expect(c.call("bitcount", "s", "1", "2", "FOO") == syntaxError)
        #expect(c.call("bitcount", "s", "0") == syntaxError)
        #expect(c.call("bitcount", "s", "abc", "1") == notInteger)
        #expect(c.call("bitcount", "s", "1", "1", "byte", "x") == syntaxError)
        // Redis 7.0 looks the key up first: a missing key is 0 whatever follows.
        #expect(c.call("bitcount", "missing", "abc", "def") == int(0))
        c.call("set", "e", "")
        #expect(c.call("bitcount", "e", "0", "-1") == int(0))
    }

    @Test("BITCOUNT over a long string counts by words and edges")
    func bitcountLong() {
        let c = TestServer().client()
        for offset in stride(from: 3, to: 1000, by: 7) { c.call("setbit", "k", String(offset), "1") }
        let total = Array(stride(from: 3, to: 1000, by: 7)).count
        #expect(c.call("bitcount", "k") == int(total))
        #expect(c.call("bitcount", "k", "10", "990", "bit") == int(stride(from: 3, to: 1000, by: 7).filter { $0 >= 10 && $0 <= 990 }.count))
        #expect(c.call("bitcount", "k", "2", "100") == int(stride(from: 3, to: 1000, by: 7).filter { $0 >= 16 && $0 < 808 }.count))
    }

    @Test("BITPOS: set and clear bits, ranges, the clear bit past the end")
    func bitpos() {
        let c = TestServer().client()
        c.call("setbit", "k", "0", "1")
        c.call("setbit", "k", "15", "1")
        for i in 16..<24 { c.call("setbit", "k", String(i), "1") }
        // k = 0x80 0x01 0xFF
        #expect(c.call("bitpos", "k", "1") == int(0))
        #expect(c.call("bitpos", "k", "0") == int(1))
        #expect(c.call("bitpos", "k", "1", "1") == int(15))
        #expect(c.call("bitpos", "k", "0", "2") == int(24))
        #expect(c.call("bitpos", "k", "0", "2", "-1") == int(-1))
        #expect(c.call("bitpos", "k", "1", "1", "15", "bit") == int(15))
        // With four arguments the fourth is the end, not the unit.
        #expect(c.call("bitpos", "k", "0", "16", "bit") == notInteger)
        #expect(c.call("bitpos", "k", "0", "16", "-1", "bit") == int(-1))
        #expect(c.call("bitpos", "k", "0", "16", "23", "bit") == int(-1))
        #expect(c.call("bitpos", "k", "0", "9", "14", "bit") == int(9))
        #expect(c.call("bitpos", "k", "1", "3", "-1") == int(-1))
        #expect(c.call("bitpos", "k", "1", "-1") == int(16))
        #expect(c.call("bitpos", "k", "1", "1", "0") == int(-1))
        // A missing key is all clear bits; an empty string has neither.
        #expect(c.call("bitpos", "missing", "0") == int(0))
        #expect(c.call("bitpos", "missing", "1", "abc") == int(-1))
        c.call("set", "e", "")
        #expect(c.call("bitpos", "e", "0") == int(-1))
        #expect(c.call("bitpos", "e", "1") == int(-1))
        #expect(c.call("bitpos", "k", "2") == err("ERR The bit argument must be 1 or 0."))
        #expect(c.call("bitpos", "k", "abc") == notInteger)
        #expect(c.call("bitpos", "k", "1", "abc") == notInteger)
        // The unit is read before the end.
        #expect(c.call("bitpos", "k", "1", "0", "abc", "FOO") == syntaxError)
        #expect(c.call("bitpos", "k", "1", "0", "abc", "bit") == notInteger)
        #expect(c.call("bitpos", "k", "1", "0", "1", "bit", "x") == syntaxError)
    }

    @Test("BITPOS skips whole words of a long string")
    func bitposLong() {
        let c = TestServer().client()
        c.call("setbit", "k", "1000", "1")
        #expect(c.call("bitpos", "k", "1") == int(1000))
        #expect(c.call("bitpos", "k", "1", "3", "-1") == int(1000))
        #expect(c.call("bitpos", "k", "0") == int(0))
        for i in 0..<1000 { c.call("setbit", "k", String(i), "1") }
        #expect(c.call("bitpos", "k", "0") == int(1001))
        #expect(c.call("bitpos", "k", "0", "0", "-1", "bit") == int(1001))
        #expect(c.call("bitpos", "k", "0", "0", "1000", "bit") == int(-1))
    }

    @Test("BITOP: AND, OR, XOR, NOT over strings of different lengths")
    func bitop() {
        let server = TestServer()
        let c = server.client()
        c.call("set", "a", "foobar")
        c.call("set", "b", "abcdef")
        c.call("set", "x", "ab")
        #expect(c.call("bitop", "and", "d", "a", "b") == int(6))
        #expect(c.call("get", "d") == bulk("`bc`ab"))
        #expect(c.call("bitop", "OR", "d", "a", "b") == int(6))
        #expect(c.call("get", "d") == bulk("goofev"))
        #expect(c.call("bitop", "xor", "d", "a", "x") == int(6))
        #expect(c.call("get", "d") == bulk("\u{07}\u{0D}obar"))
        // A shorter or missing source reads as zero bytes.
        #expect(c.call("bitop", "and", "d", "a", "x") == int(6))
        #expect(c.call("get", "d") == bulk("`b\0\0\0\0"))
        #expect(c.call("bitop", "and", "d", "a", "missing") == int(6))
        #expect(c.call("get", "d") == bulk("\0\0\0\0\0\0"))
        #expect(c.call("bitop", "not", "d", "x") == int(2))
        #expect(c.call("bitop", "not", "d", "d") == int(2))
        #expect(c.call("get", "d") == bulk("ab"))
        #expect(c.call("object", "encoding", "d") == bulk("raw"))
        // The result replaces the destination and its TTL; an empty one deletes it.
        c.call("expire", "d", "100")
        #expect(c.call("bitop", "or", "d", "x") == int(2))
        #expect(c.call("ttl", "d") == int(-1))
        #expect(c.call("bitop", "or", "d", "missing", "missing2") == int(0))
        #expect(c.call("exists", "d") == int(0))
        putHash(server, "h")
        #expect(c.call("bitop", "or", "h", "x") == int(2))
        #expect(c.call("type", "h") == .simpleString("string"))
        putHash(server, "h2")
        #expect(c.call("bitop", "or", "d", "x", "h2") == wrongType)
        #expect(c.call("exists", "d") == int(0))
        #expect(c.call("bitop", "not", "d", "a", "b") == err("ERR BITOP NOT must be called with a single source key."))
        #expect(c.call("bitop", "nand", "d", "a") == syntaxError)
        #expect(c.call("bitop", "an", "d", "a") == syntaxError)
    }

    @Test("BITFIELD: GET, SET, INCRBY with signed and unsigned fields")
    func bitfield() {
        let c = TestServer().client()
        #expect(c.call("bitfield", "k") == .array([]))
        #expect(c.call("exists", "k") == int(0))
        #expect(c.call("bitfield", "k", "get", "u8", "0") == ints(0))
        #expect(c.call("exists", "k") == int(0))
        #expect(c.call("bitfield", "k", "set", "u8", "0", "255", "get", "u8", "0", "incrby", "u8", "0", "1",
                       "overflow", "sat", "incrby", "u8", "0", "-10", "overflow", "fail", "incrby", "u8", "0", "300")
                == ints(0, 255, 0, 0, nil))
        #expect(c.call("bitfield", "k", "set", "i8", "0", "-1", "get", "i8", "0", "get", "u4", "0", "get", "i4", "4")
                == ints(0, -1, 15, -1))
        #expect(c.call("bitfield", "k", "set", "u8", "#1", "200", "get", "u16", "0", "get", "i64", "0", "get", "u63", "#1")
                == ints(0, 65480, -15_762_598_695_796_736, 0))
        #expect(c.call("strlen", "k") == int(2))
        // A field across byte boundaries, and writes that grow the string.
        #expect(c.call("bitfield", "k", "set", "i5", "3", "100", "get", "i5", "3", "get", "u5", "3") == ints(-1, 4, 4))
        #expect(c.call("bitfield", "k", "incrby", "u2", "100", "1", "get", "u8", "96") == ints(1, 4))
        #expect(c.call("strlen", "k") == int(13))
        #expect(c.call("bitfield_ro", "k", "get", "u8", "#12", "overflow", "sat", "get", "i3", "100") == ints(4, 2))
    }

    @Test("BITFIELD overflow: WRAP, SAT and FAIL at the field's limits")
    func bitfieldOverflow() {
        let c = TestServer().client()
        #expect(c.call("bitfield", "z", "incrby", "i64", "0", "9223372036854775807", "incrby", "i64", "0", "1",
                       "overflow", "sat", "incrby", "i64", "0", "1", "incrby", "i64", "0", "-9223372036854775808",
                       "incrby", "i64", "0", "-9223372036854775808", "overflow", "fail", "incrby", "i64", "0", "-1")
                == ints(Int.max, Int.min, Int.min + 1, Int.min, Int.min, nil))
        #expect(c.call("bitfield", "y", "set", "i8", "0", "-9223372036854775808", "overflow", "sat",
                       "set", "i8", "8", "-9223372036854775808", "set", "i8", "16", "-200", "set", "u8", "24", "-1",
                       "overflow", "wrap", "set", "u8", "32", "-1", "get", "i8", "0", "get", "i8", "8", "get", "i8", "16")
                == ints(0, 0, 0, 0, 0, 0, 127, -128))
        #expect(c.call("bitfield", "u", "set", "u4", "0", "20", "get", "u4", "0", "incrby", "u4", "0", "-5",
                       "overflow", "sat", "incrby", "u4", "0", "20", "incrby", "u4", "0", "-20", "set", "u4", "0", "-3")
                == ints(0, 4, 15, 15, 0, 0))
        #expect(c.call("bitfield", "u", "get", "u4", "0") == ints(15))
        #expect(c.call("bitfield", "w", "overflow", "fail", "incrby", "u8", "100", "1000") == ints(nil))
        // The key was made, as long as the write would have needed.
        #expect(c.call("strlen", "w") == int(14))
    }

    @Test("BITFIELD's errors, each before the key is looked up")
    func bitfieldErrors() {
        let server = TestServer()
        let c = server.client()
        for type in ["u64", "i65", "x8", "u0", "I8", "u", "", "u8a", "8"] {
            #expect(c.call("bitfield", "k", "get", type, "0") == typeError)
        }
        #expect(c.call("bitfield", "k", "get", "u8", "-1") == offsetError)
        #expect(c.call("bitfield", "k", "get", "u8", "4294967296") == offsetError)
        #expect(c.call("bitfield", "k", "get", "u8", "#536870912") == offsetError)
        #expect(c.call("bitfield", "k", "get", "u8", "#") == offsetError)
        // `#n` multiplies as Redis's 64-bit arithmetic does, wrapping.
        #expect(c.call("bitfield", "k", "get", "u8", "#2305843009213693953") == ints(0))
        #expect(c.call("bitfield", "k", "set", "u8", "0", "abc") == notInteger)
        #expect(c.call("bitfield", "k", "set", "u8", "0") == syntaxError)
        #expect(c.call("bitfield", "k", "overflow") == syntaxError)
        #expect(c.call("bitfield", "k", "foo") == syntaxError)
        #expect(c.call("bitfield", "k", "overflow", "foo", "get", "u8", "0") == err("ERR Invalid OVERFLOW type specified"))
        #expect(c.call("bitfield_ro", "k", "get", "u8", "0", "set", "u8", "0", "1")
                == err("ERR BITFIELD_RO only supports the GET subcommand"))
        #expect(c.call("bitfield_ro", "k", "set", "u8", "0", "abc") == notInteger)
        #expect(c.call("exists", "k") == int(0))
        putHash(server, "h")
        #expect(c.call("bitfield", "h", "get", "u8", "0") == wrongType)
        #expect(c.call("bitfield", "h", "set", "u8", "0", "1") == wrongType)
        #expect(c.call("bitfield_ro", "h", "get", "u8", "0") == wrongType)
        #expect(c.call("bitfield", "h", "get", "u64", "0") == typeError)
        #expect(c.call("setbit", "h", "1", "1") == wrongType)
        #expect(c.call("getbit", "h", "1") == wrongType)
        #expect(c.call("bitcount", "h") == wrongType)
        #expect(c.call("bitpos", "h", "1") == wrongType)
        #expect(c.call("bitpos", "h", "2") == err("ERR The bit argument must be 1 or 0."))
    }

    @Test("OBJECT ENCODING of strings follows the command that made them")
    func stringEncodings() {
        let c = TestServer().client()
        let cases: [([String], String)] = [
            (["set", "k", "123"], "int"), (["set", "k", "-0"], "embstr"), (["set", "k", "0123"], "embstr"),
            (["set", "k", "123456789012345678901"], "embstr"),
            (["set", "k", String(repeating: "a", count: 44)], "embstr"),
            (["set", "k", String(repeating: "a", count: 45)], "raw"),
            (["append", "k", "x"], "raw"), (["set", "k", "12"], "int"), (["append", "k", "3"], "raw"),
            (["incr", "k"], "int"), (["append", "k", ""], "raw"), (["set", "k", "1"], "int"),
            (["incrbyfloat", "k", "2"], "embstr"), (["incrbyfloat", "k", "1e40"], "embstr"), (["incrbyfloat", "k", "1e50"], "raw"),
            (["set", "k", "5"], "int"), (["getbit", "k", "0"], "int"), (["bitfield", "k", "get", "u8", "0"], "int"),
            (["setbit", "k", "2", "1"], "raw"), (["set", "k", "5"], "int"), (["setbit", "k", "2", "1"], "raw"),
            (["set", "k", "5"], "int"), (["bitfield", "k", "set", "u8", "0", "53"], "raw"),
            (["set", "k", "12"], "int"), (["setrange", "k", "0", ""], "int"), (["setrange", "k", "0", "3"], "raw"),
            (["del", "k"], ""), (["append", "k", "7"], "int"), (["del", "k"], ""), (["setrange", "k", "0", "7"], "raw"),
            (["del", "k"], ""), (["setbit", "k", "1", "0"], "raw"), (["getset", "k", "abc"], "embstr"),
        ]
        for (command, encoding) in cases {
            c.call(command)
            if !encoding.isEmpty { #expect(c.call("object", "encoding", "k") == bulk(encoding), "after \(command)") }
        }
        // RENAME and COPY move or copy the string object with its encoding.
        c.call("set", "a", "abc")
        c.call("append", "a", "d")
        c.call("copy", "a", "b")
        #expect(c.call("object", "encoding", "b") == bulk("raw"))
        c.call("rename", "a", "r")
        #expect(c.call("object", "encoding", "r") == bulk("raw"))
    }

    @Test("A bit write that changes nothing does not touch WATCH, as in Redis 7.0")
    func unchangedWritesKeepWatch() {
        let server = TestServer()
        let a = server.client(), b = server.client()
        let writes: [([String], Bool)] = [
            (["setbit", "w", "3", "1"], false), (["bitfield", "w", "set", "u8", "0", "16"], false),
            (["bitfield", "w", "overflow", "fail", "incrby", "u8", "0", "1000"], false),
            (["setbit", "w", "3", "0"], true), (["setbit", "w", "100", "0"], true),
            (["bitfield", "w", "incrby", "u8", "0", "0"], false), (["bitfield", "w", "incrby", "u8", "0", "1"], true),
        ]
        for (write, aborts) in writes {
            a.call("del", "w")
            a.call("setbit", "w", "3", "1")
            a.call("watch", "w")
            b.call(write)
            a.call("multi")
            a.call("ping")
            #expect(a.call("exec") == (aborts ? .nullArray : .array([.simpleString("PONG")])), "\(write)")
        }
    }

    @Test("Command table rows match Redis 7.0's COMMAND INFO")
    func commandInfo() {
        let expected: [(String, Int, [String], Int, Int, Int)] = [
            ("setbit", 4, ["write", "denyoom"], 1, 1, 1), ("getbit", 3, ["readonly", "fast"], 1, 1, 1),
            ("bitcount", -2, ["readonly"], 1, 1, 1), ("bitpos", -3, ["readonly"], 1, 1, 1),
            ("bitop", -4, ["write", "denyoom"], 2, -1, 1), ("bitfield", -2, ["write", "denyoom"], 1, 1, 1),
            ("bitfield_ro", -2, ["readonly", "fast"], 1, 1, 1), ("substr", 4, ["readonly"], 1, 1, 1),
            ("lcs", -3, ["readonly"], 1, 2, 1),
        ]
        let c = TestServer().client()
        for (name, arity, flags, first, last, step) in expected {
            let info = c.call("command", "info", name).items.first?.items ?? []
            #expect(info.count >= 6, "\(name)")
            guard info.count >= 6 else { continue }
            #expect(info[1] == int(arity), "\(name)")
            #expect(info[2] == .set(flags.map { .simpleString($0) }) || info[2] == .array(flags.map { .simpleString($0) }), "\(name)")
            #expect([info[3], info[4], info[5]] == [int(first), int(last), int(step)], "\(name)")
        }
    }
}

@Suite("SUBSTR and LCS")
struct LCSCommandTests {
    @Test("SUBSTR is GETRANGE")
    func substr() {
        let server = TestServer()
        let c = server.client()
        c.call("set", "s", "This is a string")
        #expect(c.call("substr", "s", "0", "3") == bulk("This"))
        #expect(c.call("substr", "s", "-3", "-1") == bulk("ing"))
        #expect(c.call("substr", "s", "0", "-1") == bulk("This is a string"))
        #expect(c.call("substr", "s", "10", "100") == bulk("string"))
        #expect(c.call("substr", "s", "5", "1") == bulk(""))
        #expect(c.call("substr", "missing", "0", "1") == bulk(""))
        #expect(c.call("substr", "s", "a", "1") == notInteger)
        putHash(server, "h")
        #expect(c.call("substr", "h", "0", "1") == wrongType)
        #expect(c.call("substr", "s", "0") == err("ERR wrong number of arguments for 'substr' command"))
    }

    @Test("LCS: the string, LEN, IDX with MINMATCHLEN and WITHMATCHLEN")
    func lcs() {
        let c = TestServer().client()
        c.call("mset", "a", "ohmytext", "b", "mynewtext")
        #expect(c.call("lcs", "a", "b") == bulk("mytext"))
        #expect(c.call("lcs", "a", "b", "len") == int(6))
        let idx = c.call("lcs", "a", "b", "idx")
        #expect(idx[field: "matches"] == .array([
            .array([.array([int(4), int(7)]), .array([int(5), int(8)])]),
            .array([.array([int(2), int(3)]), .array([int(0), int(1)])]),
        ]))
        #expect(idx[field: "len"] == int(6))
        #expect(c.call("lcs", "a", "b", "idx", "minmatchlen", "4", "withmatchlen")[field: "matches"] == .array([
            .array([.array([int(4), int(7)]), .array([int(5), int(8)]), int(4)]),
        ]))
        #expect(c.call("lcs", "a", "b", "idx", "minmatchlen", "-5", "withmatchlen")[field: "matches"]?.items.count == 2)
        #expect(c.call("lcs", "a", "missing") == bulk(""))
        #expect(c.call("lcs", "missing", "a", "idx")[field: "len"] == int(0))
        #expect(c.call("lcs", "a", "a", "len") == int(8))
        #expect(c.call("lcs", "a", "b", "idx", "len") == err("ERR If you want both the length and indexes, please just use IDX."))
        #expect(c.call("lcs", "a", "b", "minmatchlen") == syntaxError)
        #expect(c.call("lcs", "a", "b", "minmatchlen", "abc") == notInteger)
        #expect(c.call("lcs", "a", "b", "foo") == syntaxError)
    }

    @Test("LCS is a RESP3 map for IDX")
    func lcsResp3() {
        let c = TestServer().client()
        c.call("hello", "3")
        c.call("mset", "a", "abc", "b", "xbc")
        #expect(c.raw("lcs", "a", "b", "idx") == "%2\r\n$7\r\nmatches\r\n*1\r\n*2\r\n*2\r\n:1\r\n:2\r\n*2\r\n:1\r\n:2\r\n$3\r\nlen\r\n:2\r\n")
        c.call("hello", "2")
        #expect(c.raw("lcs", "a", "b", "idx") == "*4\r\n$7\r\nmatches\r\n*1\r\n*2\r\n*2\r\n:1\r\n:2\r\n*2\r\n:1\r\n:2\r\n$3\r\nlen\r\n:2\r\n")
    }

    @Test("LCS refuses a table beyond proto-max-bulk-len and keys of other types")
    func lcsLimits() {
        let server = TestServer { $0.protoMaxBulkLength = 1024 * 1024 }
        let c = server.client()
        c.call("set", "a", String(repeating: "x", count: 600))
        c.call("set", "b", String(repeating: "y", count: 600))
        #expect(c.call("lcs", "a", "b", "len")
                == err("ERR Insufficient memory, transient memory for LCS exceeds proto-max-bulk-len"))
        // 601 × 401 cells of 4 bytes fit in 1 MiB.
        c.call("set", "b", String(repeating: "x", count: 400))
        #expect(c.call("lcs", "a", "b", "len") == int(400))
        putHash(server, "h")
        #expect(c.call("lcs", "a", "h") == err("ERR The specified keys must contain string values"))
        #expect(c.call("lcs", "h", "a", "foo") == err("ERR The specified keys must contain string values"))
    }
}
