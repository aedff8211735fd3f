import StrataRESP
import StrataStore

/// The version Strata reports where clients expect Redis's (HELLO, INFO): the Redis release whose
/// command semantics it follows.
public let redisCompatibilityVersion = "7.0.15"
public let strataVersion = "0.1.0"

enum ConnectionCommands {
    static func ping(_ c: inout CommandContext) {
        if c.arguments.count > 2 { c.wrongArity(); return }
        if c.client.protocolVersion == .resp2 && c.client.subscriptions.any {
            // In the subscribed context, as Redis answers: `pong` and the message (or "").
            c.reply.arrayHeader(2)
            c.reply.bulk("pong")
            if c.arguments.count == 2 { c.arguments.withBytes(1) { c.reply.bulk($0) } } else { c.reply.bulk("") }
            return
        }
        if c.arguments.count == 2 {
            c.arguments.withBytes(1) { c.reply.bulk($0) }
        } else {
            c.reply.simpleString("PONG")
        }
    }

    static func echo(_ c: inout CommandContext) {
        c.arguments.withBytes(1) { c.reply.bulk($0) }
    }

    static func quit(_ c: inout CommandContext) {
        c.reply.ok()
        c.client.closeAfterReply = true
    }

    static func reset(_ c: inout CommandContext) {
        TransactionCommands.discardTransaction(c.client, keyspace: c.keyspace)
        c.server.pubsub.unsubscribeAll(c.client)
        TrackingCommands.disable(c.client, c.server)
        c.client.db = 0
        c.client.protocolVersion = .resp2
        c.reply.version = .resp2
        c.client.authenticate(as: nil)
        c.client.authenticated = !c.server.requiresPassword
        c.client.shared.withLockedValue { $0.name = "" }
        c.reply.simpleString("RESET")
    }

    static func select(_ c: inout CommandContext) {
        guard let index = c.arguments.integer(1) else { c.notInteger(); return }
        guard index >= Int(Int32.min), index <= Int(Int32.max) else {
            c.error("ERR value is out of range, value must between -2147483648 and 2147483647")
            return
        }
        guard index >= 0 && index < c.keyspace.databases else { c.error("ERR DB index is out of range"); return }
        c.client.db = index
        c.reply.ok()
    }

    static func auth(_ c: inout CommandContext) {
        if c.arguments.count > 3 { c.syntaxError(); return }
        if c.arguments.count == 2 && c.server.acl.defaultUser.user.noPass {
            c.error("ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?")
            return
        }
        let user = c.arguments.count == 3 ? c.arguments.bytes(1) : nil
        let password = c.arguments.bytes(c.arguments.count - 1)
        if ACLCommands.authenticate(&c, user: user, password: password) {
            c.reply.ok()
        } else {
            c.error("WRONGPASS invalid username-password pair or user is disabled.")
        }
    }

    static func hello(_ c: inout CommandContext) {
        var version: RESPVersion?
        var next = 1
        if c.arguments.count >= 2 {
            guard let requested = c.arguments.integer(1) else {
                c.error("ERR Protocol version is not an integer or out of range")
                return
            }
            guard let v = RESPVersion(rawValue: requested) else {
                c.error("NOPROTO unsupported protocol version")
                return
            }
            version = v
            next = 2
        }
        var credentials: ([UInt8], [UInt8])?
        var name: [UInt8]?
        var j = next
        while j < c.arguments.count {
            let more = c.arguments.count - 1 - j
            if c.arguments.matches(j, "AUTH") && more >= 2 {
                credentials = (c.arguments.bytes(j + 1), c.arguments.bytes(j + 2))
                j += 2
            } else if c.arguments.matches(j, "SETNAME") && more >= 1 {
                let candidate = c.arguments.bytes(j + 1)
                guard validClientName(candidate) else {
                    c.error("ERR Client names cannot contain spaces, newlines or special characters.")
                    return
                }
                name = candidate
                j += 1
            } else {
                c.error("ERR Syntax error in HELLO option '", quoting: c.arguments.bytes(j), "'")
                return
            }
            j += 1
        }
        if let (user, password) = credentials {
            guard ACLCommands.authenticate(&c, user: user, password: password) else {
                c.error("WRONGPASS invalid username-password pair or user is disabled.")
                return
            }
        }
        if !c.client.authenticated && c.server.requiresPassword {
            c.error("NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time")
            return
        }
        if let name { c.client.shared.withLockedValue { $0.name = String(decoding: name, as: UTF8.self) } }
        if let version {
            c.client.protocolVersion = version
            c.reply.version = version
        }
        c.reply.mapHeader(7)
        c.reply.bulk("server"); c.reply.bulk("redis")
        c.reply.bulk("version"); c.reply.bulk(redisCompatibilityVersion)
        c.reply.bulk("proto"); c.reply.integer(c.client.protocolVersion.rawValue)
        c.reply.bulk("id"); c.reply.integer(c.client.id)
        c.reply.bulk("mode"); c.reply.bulk(c.server.clusterRedirects ? "cluster" : "standalone")
        c.reply.bulk("role"); c.reply.bulk("master")
        c.reply.bulk("modules"); c.reply.arrayHeader(0)
    }

    static func validClientName(_ name: [UInt8]) -> Bool {
        name.allSatisfy { $0 >= UInt8(ascii: "!") && $0 <= UInt8(ascii: "~") }
    }

    // MARK: - CLIENT

    static func clientID(_ c: inout CommandContext) { c.reply.integer(c.client.id) }

    static func clientSetName(_ c: inout CommandContext) {
        let name = c.arguments.bytes(2)
        guard validClientName(name) else {
            c.error("ERR Client names cannot contain spaces, newlines or special characters.")
            return
        }
        c.client.shared.withLockedValue { $0.name = String(decoding: name, as: UTF8.self) }
        c.reply.ok()
    }

    static func clientGetName(_ c: inout CommandContext) {
        let name = c.client.shared.withLockedValue { $0.name }
        if name.isEmpty { c.reply.null() } else { c.reply.bulk(name) }
    }

    static func clientSetInfo(_ c: inout CommandContext) {
        let value = c.arguments.string(3)
        if c.arguments.matches(2, "LIB-NAME") || c.arguments.matches(2, "LIB-VER") {
            guard value.utf8.allSatisfy({ $0 >= UInt8(ascii: "!") && $0 <= UInt8(ascii: "~") }) else {
                c.error("ERR \(c.arguments.matches(2, "LIB-NAME") ? "lib-name" : "lib-ver") cannot contain spaces, newlines or special characters.")
                return
            }
            let isName = c.arguments.matches(2, "LIB-NAME")
            c.client.shared.withLockedValue { if isName { $0.libraryName = value } else { $0.libraryVersion = value } }
            c.reply.ok()
        } else {
            c.error("ERR Unrecognized option '", quoting: c.arguments.bytes(2), "'")
        }
    }

    static func describe(_ session: ClientSession, now: Int64, current: ClientSession, blocked: BlockedKeys, tracker: ClientTracker) -> String {
        let info = session.shared.withLockedValue { $0 }
        let subscriptions = session.subscriptions
        var flags = subscriptions.any ? "P" : ""
        if blocked.isBlocked(clientID: session.id) { flags += "b" }
        let tracking = session === current ? session.tracking : tracker.options(of: session.id)
        if tracking != nil { flags += "t" }
        if flags.isEmpty { flags = "N" }
        let age = (now - session.createdAt) / 1000
        let idle = (now - session.lastInteraction.load(ordering: .relaxed)) / 1000
        let multi = session === current ? (session.transaction.map { $0.count } ?? -1) : -1
        let resp = session === current ? session.protocolVersion.rawValue : 2
        let qbuf = session.queryBufferBytes.load(ordering: .relaxed)
        let omem = session.unsentBytes
        return "id=\(session.id) addr=\(session.address) laddr=\(session.localAddress) fd=8 name=\(info.name) "
            + "age=\(age) idle=\(max(0, idle)) flags=\(flags) db=\(session.db) sub=\(subscriptions.count(.channel)) psub=\(subscriptions.count(.pattern)) ssub=\(subscriptions.count(.shardChannel)) multi=\(multi) "
            + "qbuf=\(qbuf) qbuf-free=0 argv-mem=0 multi-mem=0 rbs=\(ClientSession.replyBufferSize) rbp=0 obl=0 oll=0 "
            + "omem=\(omem) tot-mem=\(session.totalMemory) events=\(omem > 0 ? "rw" : "r") "
            + "cmd=\(info.lastCommand) user=\(session.userName) redir=\(tracking.map { $0.redirect } ?? -1) resp=\(resp) lib-name=\(info.libraryName) lib-ver=\(info.libraryVersion)\n"
    }

    static func clientList(_ c: inout CommandContext) {
        var ids: Set<Int>?
        var j = 2
        while j < c.arguments.count {
            if c.arguments.matches(j, "TYPE") && j + 1 < c.arguments.count {
                guard c.arguments.matches(j + 1, "NORMAL") || c.arguments.matches(j + 1, "MASTER")
                        || c.arguments.matches(j + 1, "REPLICA") || c.arguments.matches(j + 1, "PUBSUB") else {
                    c.error("ERR Unknown client type '\(c.arguments.string(j + 1))'")
                    return
                }
                if !c.arguments.matches(j + 1, "NORMAL") { ids = [] }
                j += 2
            } else if c.arguments.matches(j, "ID") && j + 1 < c.arguments.count {
                var wanted = ids ?? []
                j += 1
                while j < c.arguments.count {
                    guard let id = c.arguments.integer(j), id > 0 else { c.error("ERR Invalid client ID"); return }
                    wanted.insert(id)
                    j += 1
                }
                ids = wanted
            } else {
                c.syntaxError()
                return
            }
        }
        var text = ""
        for session in c.server.clients.all where ids == nil || ids!.contains(session.id) {
            text += describe(session, now: c.now, current: c.client, blocked: c.keyspace.blocked, tracker: c.server.tracker)
        }
        c.reply.verbatim(text)
    }

    static func clientInfo(_ c: inout CommandContext) {
        c.reply.verbatim(describe(c.client, now: c.now, current: c.client, blocked: c.keyspace.blocked, tracker: c.server.tracker))
    }

    /// CLIENT UNBLOCK id [TIMEOUT | ERROR]: wakes a client blocked on keys, which then answers
    /// as if its timeout had passed, or with an UNBLOCKED error. 1 if it was blocked, else 0.
    static func clientUnblock(_ c: inout CommandContext) {
        guard c.arguments.count <= 4 else {
            c.error("ERR unknown subcommand or wrong number of arguments for 'unblock'. Try CLIENT HELP.")
            return
        }
        guard let id = c.arguments.integer(2) else { return c.notInteger() }
        var request = UnblockRequest.timeout
        if c.arguments.count == 4 {
            if c.arguments.matches(3, "TIMEOUT") {
                request = .timeout
            } else if c.arguments.matches(3, "ERROR") {
                request = .error
            } else {
                return c.error("ERR CLIENT UNBLOCK reason should be TIMEOUT or ERROR")
            }
        }
        let blocked = c.keyspace.blocked
        guard let target = c.server.clients.session(id: id), blocked.isBlocked(clientID: id) else {
            return c.reply.integer(0)
        }
        target.unblockRequest.store(request.rawValue, ordering: .relaxed)
        c.reply.integer(blocked.wake(clientID: id) ? 1 : 0)
    }

    static func clientKill(_ c: inout CommandContext) {
        let sessions = c.server.clients.all
        if c.arguments.count == 3 {
            // Old form: CLIENT KILL addr:port.
            let address = c.arguments.string(2)
            guard let target = sessions.first(where: { $0.address == address }) else {
                c.error("ERR No such client")
                return
            }
            kill(target, current: c.client)
            c.reply.ok()
            return
        }
        var filters: [(ClientSession) -> Bool] = []
        var skipMe = true
        var j = 2
        while j < c.arguments.count {
            guard j + 1 < c.arguments.count else { c.syntaxError(); return }
            let value = c.arguments.string(j + 1)
            if c.arguments.matches(j, "ID") {
                guard let id = c.arguments.integer(j + 1), id > 0 else { c.error("ERR client-id should be greater than 0"); return }
                filters.append { $0.id == id }
            } else if c.arguments.matches(j, "ADDR") {
                filters.append { $0.address == value }
            } else if c.arguments.matches(j, "LADDR") {
                filters.append { $0.localAddress == value }
            } else if c.arguments.matches(j, "USER") {
                filters.append { _ in value == "default" }
            } else if c.arguments.matches(j, "TYPE") {
                let normal = value.lowercased() == "normal"
                filters.append { _ in normal }
            } else if c.arguments.matches(j, "SKIPME") {
                if c.arguments.matches(j + 1, "YES") { skipMe = true }
                else if c.arguments.matches(j + 1, "NO") { skipMe = false }
                else { c.syntaxError(); return }
            } else {
                c.syntaxError()
                return
            }
            j += 2
        }
        var killed = 0
        for session in sessions where filters.allSatisfy({ $0(session) }) {
            if skipMe && session === c.client { continue }
            kill(session, current: c.client)
            killed += 1
        }
        c.reply.integer(killed)
    }

    private static func kill(_ session: ClientSession, current: ClientSession) {
        session.killed.store(true, ordering: .relaxed)
        if session === current {
            session.closeAfterReply = true
        } else {
            session.close()
        }
    }

    static func clientHelp(_ c: inout CommandContext) {
        let lines = [
            "GETNAME", "    Return the name of the current connection.",
            "ID", "    Return the ID of the current connection.",
            "INFO", "    Return information about the current client connection.",
            "KILL <ip:port>", "    Kill connection made from <ip:port>.",
            "KILL <option> <value> [<option> <value> [...]]",
            "    Kill connections. Options are:",
            "    * ADDR (<ip:port>|<unixsocket>:0)",
            "      Kill connections made from the specified address",
            "    * LADDR (<ip:port>|<unixsocket>:0)",
            "      Kill connections made to specified local address",
            "    * TYPE (NORMAL|MASTER|REPLICA|PUBSUB)",
            "      Kill connections by type.",
            "    * USER <username>",
            "      Kill connections authenticated by <username>.",
            "    * SKIPME (YES|NO)",
            "      Skip killing current connection (default: yes).",
            "LIST [options ...]",
            "    Return information about client connections. Options:",
            "    * TYPE (NORMAL|MASTER|REPLICA|PUBSUB)",
            "      Return clients of specified type.",
            "SETNAME <name>", "    Assign the name <name> to the current connection.",
            "SETINFO <LIB-NAME|LIB-VER> <value>", "    Set client library name or version.",
            "UNBLOCK <clientid> [TIMEOUT|ERROR]", "    Unblock the specified blocked client.",
        ]
        CommandHelp.reply(&c, command: "CLIENT", lines)
    }
}
