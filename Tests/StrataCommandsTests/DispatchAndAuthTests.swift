import StrataRESP
import Testing

@Suite("Dispatch, authentication and HELLO")
struct DispatchAndAuthTests {
    @Test("unknown commands and subcommands get Redis's text")
    func unknown() {
        let c = TestServer().client()
        #expect(c.call("foo", "a", "b") == err("ERR unknown command 'foo', with args beginning with: 'a' 'b' "))
        #expect(c.call("foo") == err("ERR unknown command 'foo', with args beginning with: "))
        let long = String(repeating: "x", count: 200)
        #expect(c.call(long) == err("ERR unknown command '\(String(repeating: "x", count: 128))', with args beginning with: "))
        // Arguments are quoted while the quoted text is under 128 bytes, each cut to what is left.
        let args = c.call("nope", String(repeating: "a", count: 100), String(repeating: "b", count: 100), "c")
        #expect(args == err("ERR unknown command 'nope', with args beginning with: '\(String(repeating: "a", count: 100))' '\(String(repeating: "b", count: 25))' "))
        #expect(c.call("config", "foo") == err("ERR unknown subcommand 'foo'. Try CONFIG HELP."))
        #expect(c.call("object", "foo", "k") == err("ERR unknown subcommand 'foo'. Try OBJECT HELP."))
        #expect(c.call("client", "foo") == err("ERR unknown subcommand 'foo'. Try CLIENT HELP."))
    }

    @Test("arity is checked before the command runs", arguments: [
        (["get"], "get"), (["get", "a", "b"], "get"), (["set", "k"], "set"), (["config"], "config"),
        (["config", "set", "maxmemory"], "config|set"), (["config", "get"], "config|get"),
        (["setrange", "s", "0", "a", "b"], "setrange"), (["ping", "a", "b"], "ping"), (["mset", "a"], "mset"),
        (["mset", "a", "1", "b"], "mset"), (["client", "id", "x"], "client|id"),
    ])
    func arity(_ words: [String], _ name: String) {
        let c = TestServer().client()
        #expect(c.call(words) == err("ERR wrong number of arguments for '\(name)' command"))
        #expect(c.call("exists", "a", "b") == int(0), "nothing was written")
    }

    @Test("command names are case-insensitive")
    func caseInsensitive() {
        let c = TestServer().client()
        #expect(c.call("SeT", "k", "v") == ok)
        #expect(c.call("GET", "k") == bulk("v"))
        #expect(c.call("CoNfIg", "GeT", "port") == .array([bulk("port"), bulk("6379")]))
    }

    @Test("with requirepass, commands before AUTH get NOAUTH; AUTH checks the password")
    func auth() {
        let server = TestServer { $0.requirePass = "secret" }
        let c = server.client()
        #expect(c.call("get", "k") == err("NOAUTH Authentication required."))
        #expect(c.call("ping") == err("NOAUTH Authentication required."))
        #expect(c.call("multi") == err("NOAUTH Authentication required."))
        #expect(c.call("auth", "wrong") == err("WRONGPASS invalid username-password pair or user is disabled."))
        #expect(c.call("auth", "default", "wrong") == err("WRONGPASS invalid username-password pair or user is disabled."))
        #expect(c.call("auth", "someone", "secret") == err("WRONGPASS invalid username-password pair or user is disabled."))
        #expect(c.call("auth", "a", "b", "c") == syntaxError)
        #expect(c.call("get", "k") == err("NOAUTH Authentication required."))
        #expect(c.call("auth", "secret") == ok)
        #expect(c.call("get", "k") == .null)
        let other = server.client()
        #expect(other.call("auth", "default", "secret") == ok)
        #expect(other.call("set", "k", "v") == ok)
        // RESET forgets the authentication.
        #expect(other.call("reset") == .simpleString("RESET"))
        #expect(other.call("get", "k") == err("NOAUTH Authentication required."))
    }

    @Test("AUTH without a configured password")
    func authWithoutPassword() {
        let c = TestServer().client()
        #expect(c.call("auth", "x") == err("ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?"))
        #expect(c.call("auth", "default", "anything") == ok)
        #expect(c.call("auth", "nobody", "anything") == err("WRONGPASS invalid username-password pair or user is disabled."))
    }

    @Test("HELLO negotiates RESP3, authenticates, and replies as redis-server 7.0.15 does")
    func hello() throws {
        let server = TestServer { $0.requirePass = "secret" }
        let c = server.client()
        #expect(c.call("hello", "3") == err("NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time"))
        #expect(c.call("hello", "3", "auth", "default", "wrong") == err("WRONGPASS invalid username-password pair or user is disabled."))
        #expect(c.call("hello", "3", "auth", "default") == err("ERR Syntax error in HELLO option 'auth'"))
        #expect(c.call("hello", "3", "foo") == err("ERR Syntax error in HELLO option 'foo'"))
        #expect(c.call("hello", "4") == err("NOPROTO unsupported protocol version"))
        #expect(c.call("hello", "abc") == err("ERR Protocol version is not an integer or out of range"))
        #expect(c.raw("get", "k") == "-NOAUTH Authentication required.\r\n")

        let reply = c.call("hello", "3", "AUTH", "default", "secret", "SETNAME", "conn1")
        guard case .map(let pairs) = reply else { Issue.record("not a RESP3 map: \(reply)"); return }
        #expect(pairs.map { $0.0.string } == ["server", "version", "proto", "id", "mode", "role", "modules"])
        #expect(reply[field: "server"] == bulk("redis"))
        #expect(reply[field: "version"] == bulk("7.0.15"))
        #expect(reply[field: "proto"] == int(3))
        #expect(reply[field: "id"] == int(c.session.id))
        #expect(reply[field: "mode"] == bulk("standalone"))
        #expect(reply[field: "modules"] == .array([]))
        #expect(c.call("client", "getname") == bulk("conn1"))
        // RESP3 replies from now on.
        #expect(c.raw("get", "nokey") == "_\r\n")
        #expect(c.raw("config", "get", "port") == "%1\r\n$4\r\nport\r\n$4\r\n6379\r\n")
        // HELLO 2 goes back; HELLO with no version keeps the current one.
        #expect(c.call("hello", "2")[field: "proto"] == int(2))
        #expect(c.raw("get", "nokey") == "$-1\r\n")
        #expect(c.call("hello")[field: "proto"] == int(2))
        #expect(c.call("hello", "3", "setname", "bad name") == err("ERR Client names cannot contain spaces, newlines or special characters."))
    }

    @Test("QUIT replies OK and asks for the connection to close")
    func quit() {
        let server = TestServer { $0.requirePass = "secret" }
        let c = server.client()
        #expect(!c.session.closeAfterReply)
        #expect(c.call("quit") == ok)
        #expect(c.session.closeAfterReply)
    }

    @Test("SELECT accepts 0 to databases-1", arguments: [
        ("0", ok), ("15", ok), ("16", err("ERR DB index is out of range")), ("-1", err("ERR DB index is out of range")),
        ("x", notInteger), ("1.0", notInteger),
        ("4294967296", err("ERR value is out of range, value must between -2147483648 and 2147483647")),
        ("-2147483649", err("ERR value is out of range, value must between -2147483648 and 2147483647")),
    ])
    func select(_ index: String, _ expected: RESPValue) {
        let c = TestServer().client()
        #expect(c.call("select", index) == expected)
    }

    @Test("databases are per client and separate")
    func selectSeparates() {
        let server = TestServer()
        let a = server.client(), b = server.client()
        #expect(a.call("set", "k", "zero") == ok)
        #expect(b.call("select", "3") == ok)
        #expect(b.call("get", "k") == .null)
        #expect(b.call("set", "k", "three") == ok)
        #expect(a.call("get", "k") == bulk("zero"))
        #expect(b.call("dbsize") == int(1))
        #expect(b.call("flushdb") == ok)
        #expect(a.call("get", "k") == bulk("zero"))
    }
}
