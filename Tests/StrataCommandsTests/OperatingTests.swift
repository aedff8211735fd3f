import NIOCore
import NIOEmbedded
import StrataConfig
import StrataRESP
import Synchronization
import Testing
@testable import StrataCommands

/// MONITOR's lines, CLIENT KILL's filters, CLIENT PAUSE's decisions, CLIENT REPLY/NO-EVICT,
/// CLIENT LIST's fields and protected-mode, without sockets.
@Suite("operating clients: MONITOR, CLIENT, protected-mode")
struct OperatingTests {
    // MARK: - MONITOR lines

    func line(_ arguments: [String], db: Int = 0, source: String = "127.0.0.1:5000", at micros: Int64 = 1_700_000_000_123_456) -> String {
        String(decoding: MonitorLine.format(microseconds: micros, database: db, source: source,
                                            arguments: arguments.map { Array($0.utf8) }), as: UTF8.self)
    }

    @Test("a line: +seconds.micros [db addr] then each argument quoted")
    func lineFormat() {
        #expect(line(["SET", "k", "v"]) == "+1700000000.123456 [0 127.0.0.1:5000] \"SET\" \"k\" \"v\"\r\n")
        #expect(line(["get", "k"], db: 3, source: "lua", at: 1_700_000_000_000_042) == "+1700000000.000042 [3 lua] \"get\" \"k\"\r\n")
        #expect(line(["ping"], at: 5) == "+0.000005 [0 127.0.0.1:5000] \"ping\"\r\n")
    }

    @Test("arguments are quoted as sdscatrepr does")
    func quoting() {
        var out: [UInt8] = []
        MonitorLine.quote(Array("a b\"c\\d\n\r\t".utf8) + [7, 8, 0, 0x01, 0x7f, 0xc3, 0xa9] + Array("~".utf8), into: &out)
        #expect(String(decoding: out, as: UTF8.self) == #""a b\"c\\d\n\r\t\a\b\x00\x01\x7f\xc3\xa9~""#)
        out = []
        MonitorLine.quote([], into: &out)
        #expect(String(decoding: out, as: UTF8.self) == "\"\"")
    }

    @Test("AUTH and HELLO AUTH credentials are redacted")
    func redaction() {
        #expect(line(["auth", "pw"]).hasSuffix("\"auth\" \"(redacted)\"\r\n"))
        #expect(line(["AUTH", "user", "pw"]).hasSuffix("\"AUTH\" \"(redacted)\" \"(redacted)\"\r\n"))
        #expect(line(["hello", "3", "auth", "u", "p", "setname", "abc"])
                    .hasSuffix("\"hello\" \"3\" \"auth\" \"(redacted)\" \"(redacted)\" \"setname\" \"abc\"\r\n"))
        #expect(line(["hello", "3", "setname", "auth"]).hasSuffix("\"hello\" \"3\" \"setname\" \"auth\"\r\n"))
        #expect(line(["set", "auth", "pw"]).hasSuffix("\"set\" \"auth\" \"pw\"\r\n"))
    }

    /// The lines waiting in a monitor's outbox, without their timestamps.
    func lines(_ session: ClientSession) -> [String] {
        guard let buffer = session.pushes.take() else { return [] }
        return String(buffer: buffer).split(separator: "\r\n").map { line in
            String(line.drop { $0 != " " }.dropFirst())
        }
    }

    @Test("commands are fed after they run, scripts before, admin commands and refusals never")
    func feed() {
        let server = TestServer()
        let monitor = server.client(), client = server.client()
        #expect(monitor.call("MONITOR") == ok)
        #expect(monitor.raw("MONITOR") == "", "a second MONITOR has no reply")
        #expect(server.context.monitors.isActive)
        client.call("SET", "k", "v")
        client.call("CLIENT", "LIST")
        client.call("CONFIG", "GET", "port")
        client.call("NOSUCH")
        client.call("GET")
        client.call("MULTI")
        client.call("INCR", "n")
        client.call("EXEC")
        client.call("EVAL", "return redis.call('get', KEYS[1])", "1", "k")
        client.call("SELECT", "2")
        client.call("AUTH", "secret")
        #expect(lines(monitor.session) == [
            "[0 127.0.0.1:50000] \"SET\" \"k\" \"v\"",
            "[0 127.0.0.1:50000] \"MULTI\"",
            "[0 127.0.0.1:50000] \"INCR\" \"n\"",
            "[0 127.0.0.1:50000] \"EXEC\"",
            "[0 127.0.0.1:50000] \"EVAL\" \"return redis.call('get', KEYS[1])\" \"1\" \"k\"",
            "[0 lua] \"get\" \"k\"",
            "[2 127.0.0.1:50000] \"SELECT\" \"2\"",
            "[2 127.0.0.1:50000] \"AUTH\" \"(redacted)\"",
        ])
        monitor.call("RESET")
        #expect(!server.context.monitors.isActive, "RESET leaves MONITOR mode")
    }

    @Test("MONITOR queued in MULTI fails at EXEC")
    func monitorInMulti() {
        let server = TestServer()
        let client = server.client()
        client.call("MULTI")
        #expect(client.call("MONITOR") == queued)
        #expect(client.call("EXEC") == .array([.error("ERR MONITOR isn't allowed for DENY BLOCKING client")]))
        #expect(!server.context.monitors.isActive)
    }

    @Test("a monitor whose lines pass the normal class's hard limit is closed")
    func monitorLimit() {
        let server = TestServer { $0.clientOutputBufferLimit.normal = OutputBufferLimit(hard: 2000, soft: 0, softSeconds: 0) }
        let monitor = server.client(), client = server.client()
        let closed = Counter()
        monitor.session.close = { closed.add() }
        monitor.call("MONITOR")
        for i in 0..<100 { client.call("SET", "key:\(i)", String(repeating: "x", count: 50)) }
        #expect(closed.value == 1)
        #expect(!server.context.monitors.isActive)
        #expect(server.context.monitors.limitDisconnections.load(ordering: .relaxed) == 1)
    }

    final class Counter: Sendable {
        private let count = Mutex(0)
        func add() { count.withLock { $0 += 1 } }
        var value: Int { count.withLock { $0 } }
    }

    // MARK: - CLIENT KILL

    func kill(_ words: String...) -> Result<ConnectionCommands.KillFilter, CommandError> {
        ConnectionCommands.KillFilter.parse(words)
    }

    @Test("CLIENT KILL filters parse as Redis 7.0 parses them")
    func killFilters() throws {
        var expected = ConnectionCommands.KillFilter()
        expected.id = 7
        expected.address = "1.2.3.4:5"
        expected.localAddress = "127.0.0.1:6379"
        expected.type = .pubsub
        expected.user = "default"
        expected.skipMe = false
        #expect(try kill("ID", "7", "addr", "1.2.3.4:5", "LADDR", "127.0.0.1:6379", "type", "PubSub", "USER", "default",
                         "skipme", "NO").get() == expected)
        #expect(try kill("TYPE", "slave").get().type == .replica)
        #expect(try kill("TYPE", "master").get().type == .master)
        let errors = [
            kill("ID", "0"), kill("ID", "abc"), kill("TYPE", "foo"), kill("SKIPME", "maybe"), kill("MAXAGE", "10"),
            kill("ID", "1", "extra"), kill("FOO", "bar"),
        ].map { result -> String in
            if case .failure(let error) = result { return error.reply }
            return "parsed"
        }
        #expect(errors == ["ERR client-id should be greater than 0", "ERR client-id should be greater than 0",
                           "ERR Unknown client type 'foo'", "ERR syntax error", "ERR syntax error",
                           "ERR syntax error", "ERR syntax error"])
    }

    @Test("CLIENT KILL by filter closes the matching clients, skipping the caller by default")
    func killByFilter() {
        let server = TestServer()
        let killer = server.client(), subscriber = server.client(), plain = server.client()
        let closed = Counter()
        subscriber.session.close = { closed.add() }
        plain.session.close = { closed.add() }
        subscriber.call("SUBSCRIBE", "ch")
        #expect(killer.call("CLIENT", "KILL", "TYPE", "pubsub") == .integer(1))
        #expect(killer.call("CLIENT", "KILL", "USER", "nobody") == .error("ERR No such user 'nobody'"))
        #expect(killer.call("CLIENT", "KILL", "ID", String(plain.session.id), "TYPE", "pubsub") == .integer(0))
        #expect(killer.call("CLIENT", "KILL", "USER", "default", "ADDR", "127.0.0.1:50000", "SKIPME", "yes") == .integer(2))
        #expect(closed.value == 3)
    }

    // MARK: - CLIENT PAUSE

    @Test("WRITE holds writes and may-replicate commands, ALL holds everything")
    func pauseDecisions() {
        let lookup = CommandLookup(CommandTable.all)
        func spec(_ name: String) -> CommandSpec { lookup.find(name)! }
        for name in ["set", "del", "eval", "evalsha", "fcall", "publish", "spublish", "incr"] {
            #expect(ClientPause.holds(.write, spec(name), queued: nil), "\(name)")
        }
        for name in ["get", "ping", "client", "eval_ro", "subscribe", "info"] {
            #expect(!ClientPause.holds(.write, spec(name), queued: nil), "\(name)")
            #expect(ClientPause.holds(.all, spec(name), queued: nil), "\(name)")
        }
        let exec = spec("exec")
        let read = QueuedCommand(spec: spec("get"), arguments: CommandArguments(["GET", "k"]))
        let write = QueuedCommand(spec: spec("set"), arguments: CommandArguments(["SET", "k", "v"]))
        #expect(!ClientPause.holds(.write, exec, queued: [read]))
        #expect(ClientPause.holds(.write, exec, queued: [read, write]))
        #expect(!ClientPause.holds(.none, spec("set"), queued: nil))
    }

    @Test("a held command waits until UNPAUSE; a pause keeps the stricter mode and the later end")
    func pauseWaits() throws {
        let server = TestServer()
        let loop = EmbeddedEventLoop()
        let session = ClientSession(id: 99, address: "127.0.0.1:1", localAddress: "127.0.0.1:2", authenticated: true, now: t0)
        var context = CommandContext(server: server.context, client: session, arguments: CommandArguments(["SET", "k", "v"]),
                                     reply: RESPReplyWriter(buffer: ByteBuffer()), now: t0)
        context.eventLoop = loop
        let lookup = CommandLookup(CommandTable.all)
        let pause = server.context.pause
        let far = WallClock.milliseconds() + 60_000
        pause.pause(.write, until: far)
        #expect(pause.hold(lookup.find("get")!, context) == nil)
        let wait = try #require(pause.hold(lookup.find("set")!, context))
        pause.pause(.all, until: far - 1000)
        #expect(pause.mode == .all)
        #expect(pause.hold(lookup.find("get")!, context) != nil)
        let done = Counter()
        wait.whenSuccess { done.add() }
        loop.run()
        #expect(done.value == 0)
        pause.unpause()
        loop.run()
        #expect(done.value == 1)
        #expect(!pause.isActive)
        // A pause whose end has passed ends at the next command.
        pause.pause(.all, until: WallClock.milliseconds() - 1)
        #expect(pause.hold(lookup.find("set")!, context) == nil)
        #expect(!pause.isActive)
        session.close = {}
        try loop.syncShutdownGracefully()
    }

    @Test("CLIENT PAUSE and CLIENT REPLY errors are Redis's")
    func pauseErrors() {
        let server = TestServer()
        let client = server.client()
        #expect(client.call("CLIENT", "PAUSE", "abc") == .error("ERR timeout is not an integer or out of range"))
        #expect(client.call("CLIENT", "PAUSE", "-1") == .error("ERR timeout is negative"))
        #expect(client.call("CLIENT", "PAUSE", "10", "foo") == .error("ERR CLIENT PAUSE mode must be WRITE or ALL"))
        #expect(client.call("CLIENT", "PAUSE") == .error("ERR wrong number of arguments for 'client|pause' command"))
        #expect(client.call("CLIENT", "UNPAUSE", "x") == .error("ERR wrong number of arguments for 'client|unpause' command"))
        #expect(client.call("CLIENT", "REPLY", "foo") == .error("ERR syntax error"))
        #expect(client.call("CLIENT", "NO-EVICT", "foo") == .error("ERR syntax error"))
        #expect(client.call("CLIENT", "PAUSE", "10", "write") == ok)
        #expect(server.context.pause.mode == .write)
        #expect(client.call("CLIENT", "UNPAUSE") == ok)
        #expect(server.context.pause.mode == .none)
    }

    // MARK: - CLIENT REPLY, NO-EVICT, LIST

    @Test("CLIENT REPLY OFF and SKIP set the mode; ON replies OK")
    func replyModes() {
        let server = TestServer()
        let client = server.client()
        #expect(client.raw("CLIENT", "REPLY", "OFF") == "")
        #expect(client.session.replyMode == .off)
        #expect(client.raw("CLIENT", "REPLY", "SKIP") == "")
        #expect(client.session.replyMode == .off, "SKIP while OFF stays OFF")
        #expect(client.call("CLIENT", "REPLY", "ON") == ok)
        #expect(client.raw("CLIENT", "REPLY", "SKIP") == "")
        #expect(client.session.replyMode == .skipNext)
    }

    @Test("CLIENT LIST: Redis 7.0's fields in order, cmd= the last command, flags")
    func clientList() throws {
        let server = TestServer()
        let client = server.client(), other = server.client()
        other.call("CLIENT", "NO-EVICT", "on")
        other.call("GET", "k")
        guard case .bulkString(let bytes) = client.call("CLIENT", "LIST") else {
            Issue.record("CLIENT LIST is not a bulk string")
            return
        }
        let text = String(buffer: bytes)
        let lines = text.split(separator: "\n").map(String.init)
        #expect(lines.count == 2)
        let fields = lines[0].split(separator: " ").map { String($0.split(separator: "=", maxSplits: 1)[0]) }
        #expect(fields == ["id", "addr", "laddr", "fd", "name", "age", "idle", "flags", "db", "sub", "psub", "ssub",
                           "multi", "qbuf", "qbuf-free", "argv-mem", "multi-mem", "rbs", "rbp", "obl", "oll", "omem",
                           "tot-mem", "events", "cmd", "user", "redir", "resp"])
        #expect(lines[0].contains(" cmd=client|list user=default "))
        #expect(lines[1].contains(" flags=e ") && lines[1].contains(" cmd=get "))
        client.call("MULTI")
        client.call("PING")
        if case .bulkString(let info) = client.call("CLIENT", "INFO") {
            let line = String(buffer: info)
            #expect(line.contains(" flags=x ") && line.contains(" multi=2 ") && line.contains(" cmd=client|info "))
        }
        client.call("DISCARD")
        client.call("NOSUCH")
        if case .bulkString(let info) = client.call("CLIENT", "INFO") {
            #expect(String(buffer: info).contains(" cmd=client|info "))
        }
        #expect(client.call("CLIENT", "LIST", "TYPE", "pubsub") == .bulkString(ByteBuffer()))
        #expect(client.call("CLIENT", "LIST", "TYPE", "foo") == .error("ERR Unknown client type 'foo'"))
    }

    @Test("maxmemory-clients passes over a client with NO-EVICT on")
    func noEvict() {
        let server = TestServer { $0.maxMemoryClients = .bytes(20_000) }
        let big = server.client(), small = server.client()
        big.call("CLIENT", "NO-EVICT", "on")
        big.session.outputBytes.store(50_000, ordering: .relaxed)
        small.session.outputBytes.store(1_000, ordering: .relaxed)
        let closed = Counter()
        big.session.close = { closed.add() }
        small.session.close = { closed.add() }
        let disconnected = server.context.enforceClientLimits(now: t0)
        #expect(disconnected.map(\.id) == [small.session.id])
        big.call("CLIENT", "NO-EVICT", "off")
        #expect(server.context.enforceClientLimits(now: t0).map(\.id) == [big.session.id])
    }

    // MARK: - protected-mode

    @Test("protected-mode refuses non-loopback clients only without a password")
    func protectedMode() {
        var configuration = Configuration()
        configuration.bind = ["0.0.0.0"]
        #expect(ProtectedMode.refuses(configuration, remoteIP: "192.0.2.2"))
        #expect(ProtectedMode.refuses(configuration, remoteIP: "fd00::2"))
        #expect(!ProtectedMode.refuses(configuration, remoteIP: "127.0.0.1"))
        #expect(!ProtectedMode.refuses(configuration, remoteIP: "127.1.2.3"))
        #expect(!ProtectedMode.refuses(configuration, remoteIP: "::1"))
        #expect(!ProtectedMode.refuses(configuration, remoteIP: "::ffff:127.0.0.1"))
        #expect(!ProtectedMode.refuses(configuration, remoteIP: nil))
        configuration.requirePass = "secret"
        #expect(!ProtectedMode.refuses(configuration, remoteIP: "192.0.2.2"))
        configuration.requirePass = ""
        configuration.protectedMode = false
        #expect(!ProtectedMode.refuses(configuration, remoteIP: "192.0.2.2"))
        #expect(ProtectedMode.denial.hasPrefix("-DENIED Redis is running in protected mode because protected mode is enabled"))
        #expect(ProtectedMode.denial.hasSuffix("in order for the server to start accepting connections from the outside.\r\n"))
    }
}

