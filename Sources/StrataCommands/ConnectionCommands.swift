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
        c.server.monitors.remove(c.client)
        c.client.replyMode = .on
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

    /// One CLIENT LIST line, with Redis 7.0's fields in its order. Strata has no per-client
    /// query buffer allocation, argv copy or reply list: `qbuf-free`, `argv-mem`, `rbp`, `obl`
    /// and `oll` are 0 and `rbs` the reply buffer kept between batches.
    static func describe(_ session: ClientSession, now: Int64, current: ClientSession, server: ServerContext) -> String {
        let info = session.shared.withLockedValue { $0 }
        let subscriptions = session.subscriptions
        let isCurrent = session === current
        let tracking = isCurrent ? session.tracking : server.tracker.options(of: session.id)
        var flags = ""
        if server.monitors.contains(session) { flags += "O" }
        if subscriptions.any { flags += "P" }
        if isCurrent && session.transaction != nil { flags += "x" }
        if server.keyspace.blocked.isBlocked(clientID: session.id) { flags += "b" }
        if let tracking {
            flags += "t"
            if tracking.broadcast { flags += "B" }
        }
        if isCurrent && (session.watchToken?.isDirty ?? false) { flags += "d" }
        if session.noEvict.load(ordering: .relaxed) { flags += "e" }
        if flags.isEmpty { flags = "N" }
        let age = (now - session.createdAt) / 1000
        let idle = (now - session.lastInteraction.load(ordering: .relaxed)) / 1000
        let multi = isCurrent ? (session.transaction.map { $0.count } ?? -1) : -1
        let multiMemory = isCurrent ? (session.transaction ?? []).reduce(0) { $0 + $1.arguments.buffer.readableBytes } : 0
        let resp = isCurrent ? session.protocolVersion.rawValue : (session.pushes.isResp3 ? 3 : 2)
        let qbuf = session.queryBufferBytes.load(ordering: .relaxed)
        let omem = session.unsentBytes
        var line = "id=\(session.id) addr=\(session.address) laddr=\(session.localAddress) fd=8 name=\(info.name) "
        line += "age=\(age) idle=\(max(0, idle)) flags=\(flags) db=\(session.db) sub=\(subscriptions.count(.channel)) "
        line += "psub=\(subscriptions.count(.pattern)) ssub=\(subscriptions.count(.shardChannel)) multi=\(multi) "
        line += "qbuf=\(qbuf) qbuf-free=0 argv-mem=0 multi-mem=\(multiMemory) rbs=\(ClientSession.replyBufferSize) rbp=0 obl=0 oll=0 "
        line += "omem=\(omem) tot-mem=\(session.totalMemory + multiMemory) events=\(omem > 0 ? "rw" : "r") "
        line += "cmd=\(session.lastCommand?.name ?? "NULL") user=\(session.userName) redir=\(tracking.map { $0.redirect } ?? -1) resp=\(resp)\n"
        return line
    }

    /// CLIENT LIST's and CLIENT KILL's `TYPE` (Redis's `getClientType`): a monitor is a normal client.
    enum ClientType: Sendable {
        case normal, master, replica, pubsub

        init?(_ name: String) {
            switch name.lowercased() {
            case "normal": self = .normal
            case "master": self = .master
            case "replica", "slave": self = .replica
            case "pubsub": self = .pubsub
            default: return nil
            }
        }

        static func of(_ session: ClientSession) -> ClientType {
            session.subscriptions.any ? .pubsub : .normal
        }
    }

    static func clientList(_ c: inout CommandContext) {
        var ids: Set<Int>?
        var type: ClientType?
        var j = 2
        while j < c.arguments.count {
            if c.arguments.matches(j, "TYPE") && j + 1 < c.arguments.count {
                guard let kind = ClientType(c.arguments.string(j + 1)) else {
                    c.error("ERR Unknown client type '\(c.arguments.string(j + 1))'")
                    return
                }
                type = kind
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
            if let type, ClientType.of(session) != type { continue }
            text += describe(session, now: c.now, current: c.client, server: c.server)
        }
        c.reply.verbatim(text)
    }

    static func clientInfo(_ c: inout CommandContext) {
        c.reply.verbatim(describe(c.client, now: c.now, current: c.client, server: c.server))
    }

    /// CLIENT UNBLOCK id [TIMEOUT | ERROR]: wakes a client blocked on keys, which then answers
    /// as if its timeout had passed, or with an UNBLOCKED error. 1 if it was blocked, else 0.
    static func clientUnblock(_ c: inout CommandContext) {
        guard c.arguments.count <= 4 else {
            c.error("ERR unknown subcommand or wrong number of arguments for '", quoting: c.arguments.bytes(1), "'. Try CLIENT HELP.")
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

    /// CLIENT KILL's filters (all must match), as Redis 7.0 parses them.
    struct KillFilter: Equatable, Sendable {
        var id: Int?
        var address: String?
        var localAddress: String?
        var type: ClientType?
        var user: String?
        var skipMe = true

        /// Parses `arguments` (the words after KILL, two or more): the filter, or Redis's error.
        static func parse(_ arguments: [String]) -> Result<KillFilter, CommandError> {
            var filter = KillFilter()
            var j = 0
            while j < arguments.count {
                guard j + 1 < arguments.count else { return .failure(CommandError("ERR syntax error")) }
                let option = arguments[j].lowercased(), value = arguments[j + 1]
                switch option {
                case "id":
                    guard let id = Int(value), id > 0 else { return .failure(CommandError("ERR client-id should be greater than 0")) }
                    filter.id = id
                case "type":
                    guard let type = ClientType(value) else { return .failure(CommandError("ERR Unknown client type '\(value)'")) }
                    filter.type = type
                case "user": filter.user = value
                case "addr": filter.address = value
                case "laddr": filter.localAddress = value
                case "skipme":
                    switch value.lowercased() {
                    case "yes": filter.skipMe = true
                    case "no": filter.skipMe = false
                    default: return .failure(CommandError("ERR syntax error"))
                    }
                default: return .failure(CommandError("ERR syntax error"))
                }
                j += 2
            }
            return .success(filter)
        }

        func matches(_ session: ClientSession, current: ClientSession) -> Bool {
            if let id, session.id != id { return false }
            if let address, session.address != address { return false }
            if let localAddress, session.localAddress != localAddress { return false }
            if let type, ClientType.of(session) != type { return false }
            if let user, session.userName != user { return false }
            if skipMe && session === current { return false }
            return true
        }
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
        let filter: KillFilter
        switch KillFilter.parse((2..<c.arguments.count).map { c.arguments.string($0) }) {
        case .success(let parsed): filter = parsed
        case .failure(let error): return c.error(error.reply)
        }
        if let user = filter.user, !knownUsers(c.server).contains(user) {
            return c.error("ERR No such user '\(user)'")
        }
        var killed = 0
        for session in sessions where filter.matches(session, current: c.client) {
            kill(session, current: c.client)
            killed += 1
        }
        c.reply.integer(killed)
    }

    /// The users CLIENT KILL USER may name (only `default` until ACL users exist).
    static func knownUsers(_ server: ServerContext) -> Set<String> { ["default"] }

    // MARK: - CLIENT PAUSE, UNPAUSE, REPLY, NO-EVICT

    static func clientPause(_ c: inout CommandContext) {
        guard c.arguments.count <= 4 else {
            return c.error("ERR unknown subcommand or wrong number of arguments for '", quoting: c.arguments.bytes(1), "'. Try CLIENT HELP.")
        }
        // The mode is checked first, as Redis does.
        var mode = ClientPause.Mode.all
        if c.arguments.count == 4 {
            if c.arguments.matches(3, "WRITE") {
                mode = .write
            } else if c.arguments.matches(3, "ALL") {
                mode = .all
            } else {
                return c.error("ERR CLIENT PAUSE mode must be WRITE or ALL")
            }
        }
        guard let timeout = c.arguments.integer(2) else { return c.error("ERR timeout is not an integer or out of range") }
        guard timeout >= 0 else { return c.error("ERR timeout is negative") }
        let (end, overflow) = c.now.addingReportingOverflow(Int64(clamping: timeout))
        c.server.pause.pause(mode, until: overflow ? Int64.max : end)
        c.reply.ok()
    }

    static func clientUnpause(_ c: inout CommandContext) {
        c.server.pause.unpause()
        c.reply.ok()
    }

    /// CLIENT REPLY ON|OFF|SKIP. OFF and SKIP have no reply; the connection leaves out the
    /// replies that follow (see ``ReplyMode``).
    static func clientReply(_ c: inout CommandContext) {
        if c.arguments.matches(2, "ON") {
            c.client.replyMode = .on
            c.reply.ok()
        } else if c.arguments.matches(2, "OFF") {
            c.client.replyMode = .off
        } else if c.arguments.matches(2, "SKIP") {
            if c.client.replyMode != .off { c.client.replyMode = .skipNext }
        } else {
            c.syntaxError()
        }
    }

    static func clientNoEvict(_ c: inout CommandContext) {
        if c.arguments.matches(2, "ON") {
            c.client.noEvict.store(true, ordering: .relaxed)
        } else if c.arguments.matches(2, "OFF") {
            c.client.noEvict.store(false, ordering: .relaxed)
        } else {
            return c.syntaxError()
        }
        c.reply.ok()
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
            "CACHING (YES|NO)",
            "    Enable/disable tracking of the keys for next command in OPTIN/OPTOUT modes.",
            "GETREDIR",
            "    Return the client ID we are redirecting to when tracking is enabled.",
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
            "UNPAUSE", "    Stop the current client pause, resuming traffic.",
            "PAUSE <timeout> [WRITE|ALL]",
            "    Suspend all, or just write, clients for <timeout> milliseconds.",
            "REPLY (ON|OFF|SKIP)", "    Control the replies sent to the current connection.",
            "SETNAME <name>", "    Assign the name <name> to the current connection.",
            "UNBLOCK <clientid> [TIMEOUT|ERROR]", "    Unblock the specified blocked client.",
            "TRACKING (ON|OFF) [REDIRECT <id>] [BCAST] [PREFIX <prefix> [...]]",
            "         [OPTIN] [OPTOUT] [NOLOOP]",
            "    Control server assisted client side caching.",
            "TRACKINGINFO", "    Report tracking status for the current connection.",
            "NO-EVICT (ON|OFF)", "    Protect current client connection from eviction.",
        ]
        CommandHelp.reply(&c, command: "CLIENT", lines)
    }
}
