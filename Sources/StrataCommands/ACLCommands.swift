import NIOConcurrencyHelpers
import StrataRESP
import StrataStore

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Why the ACL refused a command (Redis's `ACL_DENIED_*`), with the argument at fault.
public enum ACLDenial: Equatable, Sendable {
    case command
    case key(Int)
    case channel(Int)
}

extension ClientSession {
    /// The rules of the user this client is authenticated as, as of now (reloaded only when
    /// some user changed since the last command).
    @inline(__always)
    func currentUser(_ acl: ACLRegistry) -> (user: ACLUser, unrestricted: Bool) {
        let version = acl.version.load(ordering: .acquiring)
        if let cache = aclCache, cache.version == version { return (cache.user, cache.unrestricted) }
        let user = (userHandle.withLockedValue { $0 } ?? acl.defaultUser).user
        let unrestricted = user.unrestricted
        aclCache = ACLClientCache(version: version, user: user, unrestricted: unrestricted)
        return (user, unrestricted)
    }

    /// Authenticates the client as `handle` (AUTH, HELLO AUTH), or as `default` (nil: RESET).
    public func authenticate(as handle: ACLUserHandle?) {
        userHandle.withLockedValue { $0 = handle }
        aclCache = nil
    }
}

/// The NOPERM checks (Redis's `ACLCheckAllPerm`) and the ACL command.
enum ACLCommands {
    // MARK: - Checks

    /// Write commands that also return what their keys held (Redis's key specs with ACCESS):
    /// a user needs both read and write access to their keys.
    private static let writesThatRead: Set<String> = [
        "getdel", "getset", "getex", "rename", "renamenx", "lmove", "blmove", "rpoplpush", "brpoplpush", "lpop", "rpop",
        "blpop", "brpop", "lmpop", "blmpop", "spop", "smove", "zpopmin", "zpopmax", "bzpopmin", "bzpopmax", "zmpop",
        "bzmpop", "sort", "copy",
    ]

    static func keyAccess(_ spec: CommandSpec) -> ACLKeyAccess {
        if spec.flags.contains(.write) { return writesThatRead.contains(spec.name) ? [.read, .write] : .write }
        if spec.flags.contains(.readonly) && !spec.flags.contains(.runsScripts) { return .read }
        return [.read, .write]
    }

    /// Whether `user` may run `spec` with `arguments`: the command, then each key with the
    /// access the command needs, then the channels of PUBLISH and SUBSCRIBE.
    static func check(_ user: ACLUser, _ spec: CommandSpec, _ arguments: CommandArguments) -> ACLDenial? {
        // As Redis: AUTH and HELLO (no_auth) are never refused, so a user can always switch.
        guard user.mayRun(spec) || spec.flags.contains(.noAuth) else { return .command }
        if !user.allKeys && spec.hasKeys {
            let access = keyAccess(spec)
            for position in spec.keyPositions(arguments) where !arguments.withBytes(position, { user.mayAccess(key: $0, access) }) {
                return .key(position)
            }
        }
        if !user.allChannels && spec.flags.contains(.pubsub) {
            let positions: Range<Int>
            var isPattern = false
            switch spec.name {
            case "publish", "spublish": positions = 1..<min(2, arguments.count)
            case "subscribe", "ssubscribe": positions = 1..<arguments.count
            case "psubscribe": positions = 1..<arguments.count; isPattern = true
            default: return nil
            }
            for position in positions where !user.mayAccess(channel: arguments.bytes(position), isPattern: isPattern) {
                return .channel(position)
            }
        }
        return nil
    }

    /// The dispatcher's check: nil when the client's user may run the command; otherwise the
    /// refusal is logged (ACL LOG) and its NOPERM text returned.
    @inline(__always)
    static func refusal(_ spec: CommandSpec, _ context: inout CommandContext) -> String? {
        let (user, unrestricted) = context.client.currentUser(context.server.acl)
        if unrestricted { return nil }
        guard let denial = check(user, spec, context.arguments) else { return nil }
        log(denial, spec, user, &context, context: context.client.transaction == nil ? .toplevel : .multi)
        switch denial {
        case .command: return "NOPERM this user has no permissions to run the '\(spec.name)' command"
        case .key: return "NOPERM this user has no permissions to access one of the keys used as arguments"
        case .channel: return "NOPERM this user has no permissions to access one of the channels used as arguments"
        }
    }

    /// `redis.call`'s check, with Redis's script error texts.
    static func scriptRefusal(_ spec: CommandSpec, _ context: inout CommandContext) -> String? {
        let (user, unrestricted) = context.client.currentUser(context.server.acl)
        if unrestricted { return nil }
        guard let denial = check(user, spec, context.arguments) else { return nil }
        log(denial, spec, user, &context, context: .lua)
        switch denial {
        case .command: return "ERR The user executing the script can't run this command or subcommand"
        case .key: return "ERR The user executing the script can't access at least one of the keys mentioned in the command arguments"
        case .channel: return "ERR The user executing the script can't publish to the channel mentioned in the command"
        }
    }

    /// EXEC's check of each queued command, in case the rules changed since it was queued.
    static func execRefusal(_ spec: CommandSpec, _ context: inout CommandContext) -> String? {
        let (user, unrestricted) = context.client.currentUser(context.server.acl)
        if unrestricted { return nil }
        guard let denial = check(user, spec, context.arguments) else { return nil }
        log(denial, spec, user, &context, context: .multi)
        let reason: String
        switch denial {
        case .command: reason = "no permission to execute the command or subcommand"
        case .key: reason = "no permission to touch the specified keys"
        case .channel: reason = "no permission to access one of the channels used as arguments"
        }
        return "NOPERM ACLs rules changed between the moment the transaction was accumulated and the EXEC call. This command is no longer allowed for the following reason: \(reason)"
    }

    private static func log(_ denial: ACLDenial, _ spec: CommandSpec, _ user: ACLUser, _ c: inout CommandContext,
                            context: ACLLog.Context) {
        let object: String
        let reason: ACLLog.Reason
        switch denial {
        case .command: (reason, object) = (.command, spec.name)
        case .key(let position): (reason, object) = (.key, c.arguments.string(position))
        case .channel(let position): (reason, object) = (.channel, c.arguments.string(position))
        }
        addLog(reason, object: object, username: user.name, &c, context: context)
    }

    static func addLog(_ reason: ACLLog.Reason, object: String, username: String, _ c: inout CommandContext,
                       context: ACLLog.Context) {
        let info = ConnectionCommands.describe(c.client, now: c.now, current: c.client, server: c.server)
        c.server.acl.log.add(ACLLog.Entry(count: 1, reason: reason, context: context, object: object, username: username,
                                          time: c.now, clientInfo: String(info.dropLast())))
    }

    /// AUTH and HELLO AUTH: on success the client becomes `name`'s; a failure is logged.
    static func authenticate(_ c: inout CommandContext, user name: [UInt8]?, password: [UInt8]) -> Bool {
        let userName = name.map { String(decoding: $0, as: UTF8.self) } ?? "default"
        if let handle = c.server.acl.handle(named: userName) {
            let user = handle.user
            if user.enabled && user.accepts(password: password) {
                c.client.authenticate(as: handle === c.server.acl.defaultUser ? nil : handle)
                c.client.authenticated = true
                return true
            }
        }
        // As Redis: the object is the command's name as the client spelled it (AUTH, hello).
        addLog(.auth, object: c.arguments.string(0), username: userName, &c, context: .toplevel)
        return false
    }

    // MARK: - ACL subcommands

    static let table: [CommandSpec] = {
        let server = "server"
        let flags: CommandFlags = [.admin, .noScript, .loading, .stale]
        return [CommandSpec("acl", arity: -2, flags: [], group: server, since: "6.0.0",
                            summary: "A container for Access List Control commands ", subcommands: [
            CommandSpec("acl|cat", arity: -2, flags: [.noScript, .loading, .stale], group: server, since: "6.0.0",
                        complexity: "O(1) since the categories and commands are a fixed set.",
                        summary: "List the ACL categories or the commands inside a category", syntax: "[categoryname]",
                        handler: cat),
            CommandSpec("acl|deluser", arity: -3, flags: flags, group: server, since: "6.0.0",
                        complexity: "O(1) amortized time considering the typical user.",
                        summary: "Remove the specified ACL users and the associated rules", syntax: "username [username ...]",
                        handler: deluser),
            CommandSpec("acl|dryrun", arity: -4, flags: flags, group: server, since: "7.0.0", complexity: "O(1).",
                        summary: "Returns whether the user can execute the given command without executing the command.",
                        syntax: "username command [arg [arg ...]]", handler: dryrun),
            CommandSpec("acl|genpass", arity: -2, flags: [.noScript, .loading, .stale], group: server, since: "6.0.0",
                        summary: "Generate a pseudorandom secure password to use for ACL users", syntax: "[bits]",
                        handler: genpass),
            CommandSpec("acl|getuser", arity: 3, flags: flags, group: server, since: "6.0.0",
                        complexity: "O(N). Where N is the number of password, command and pattern rules that the user has.",
                        summary: "Get the rules for a specific ACL user", syntax: "username", handler: getuser),
            CommandSpec("acl|help", arity: 2, flags: [.loading, .stale], group: server, since: "6.0.0",
                        summary: "Show helpful text about the different subcommands", handler: help),
            CommandSpec("acl|list", arity: 2, flags: flags, group: server, since: "6.0.0",
                        complexity: "O(N). Where N is the number of configured users.",
                        summary: "List the current ACL rules in ACL config file format", handler: list),
            CommandSpec("acl|load", arity: 2, flags: flags, group: server, since: "6.0.0",
                        complexity: "O(N). Where N is the number of configured users.",
                        summary: "Reload the ACLs from the configured ACL file", handler: load),
            CommandSpec("acl|log", arity: -2, flags: flags, group: server, since: "6.0.0",
                        complexity: "O(N) with N being the number of entries shown.",
                        summary: "List latest events denied because of ACLs in place", syntax: "[count | RESET]",
                        handler: log),
            CommandSpec("acl|save", arity: 2, flags: flags, group: server, since: "6.0.0",
                        complexity: "O(N). Where N is the number of configured users.",
                        summary: "Save the current ACL rules in the configured ACL file", handler: save),
            CommandSpec("acl|setuser", arity: -3, flags: flags, group: server, since: "6.0.0",
                        complexity: "O(N). Where N is the number of rules provided.",
                        summary: "Modify or create the rules for a specific ACL user", syntax: "username [rule [rule ...]]",
                        handler: setuser),
            CommandSpec("acl|users", arity: 2, flags: flags, group: server, since: "6.0.0",
                        complexity: "O(N). Where N is the number of configured users.",
                        summary: "List the username of all the configured ACL rules", handler: users),
            CommandSpec("acl|whoami", arity: 2, flags: [.noScript, .loading, .stale], group: server, since: "6.0.0",
                        summary: "Return the name of the user associated to the current connection", handler: whoami),
        ], handler: nil)]
    }()

    static func setuser(_ c: inout CommandContext) {
        let name = c.arguments.bytes(2)
        guard ACLUser.validName(name) else { c.error("ERR Usernames can't contain spaces or null characters"); return }
        let rules = (3..<c.arguments.count).map { c.arguments.string($0) }
        do {
            try c.server.acl.setUser(String(decoding: name, as: UTF8.self), rules: rules)
            c.reply.ok()
        } catch {
            c.error(error.message)
        }
    }

    static func getuser(_ c: inout CommandContext) {
        guard let handle = c.server.acl.handle(named: c.arguments.string(2)), handle !== c.server.acl.peerUser else {
            c.reply.null()
            return
        }
        let user = handle.user
        c.reply.mapHeader(6)
        c.reply.bulk("flags")
        let flags = user.flagNames
        c.reply.setHeader(flags.count)
        for flag in flags { c.reply.bulk(flag) }
        c.reply.bulk("passwords")
        c.reply.arrayHeader(user.passwords.count)
        for password in user.passwords { c.reply.bulk(password) }
        c.reply.bulk("commands"); c.reply.bulk(user.commandsDescription)
        c.reply.bulk("keys"); c.reply.bulk(user.keysDescription)
        c.reply.bulk("channels"); c.reply.bulk(user.channelsDescription)
        c.reply.bulk("selectors"); c.reply.arrayHeader(0)
    }

    static func deluser(_ c: inout CommandContext) {
        var names: [String] = []
        for i in 2..<c.arguments.count {
            let name = c.arguments.string(i)
            if name == "default" { c.error("ERR The 'default' user cannot be removed"); return }
            names.append(name)
        }
        let removed = c.server.acl.delete(names.filter { $0 != ACLRegistry.peerUserName })
        disconnectClients(of: removed, &c)
        c.reply.integer(removed.count)
    }

    /// Closes the connections authenticated as deleted users (the current one after its reply).
    private static func disconnectClients(of removed: [ACLUserHandle], _ c: inout CommandContext) {
        guard !removed.isEmpty else { return }
        for session in c.server.clients.all {
            guard let handle = session.userHandle.withLockedValue({ $0 }), removed.contains(where: { $0 === handle }) else { continue }
            if session === c.client { session.closeAfterReply = true } else { session.close() }
        }
    }

    static func list(_ c: inout CommandContext) {
        let users = c.server.acl.all
        c.reply.arrayHeader(users.count)
        for handle in users { c.reply.bulk(handle.user.description) }
    }

    static func users(_ c: inout CommandContext) {
        let users = c.server.acl.all
        c.reply.arrayHeader(users.count)
        for handle in users { c.reply.bulk(handle.name) }
    }

    static func whoami(_ c: inout CommandContext) { c.reply.bulk(c.client.userName) }

    static func cat(_ c: inout CommandContext) {
        if c.arguments.count > 3 { c.wrongArity(); return }
        if c.arguments.count == 2 {
            c.reply.arrayHeader(ACLCategory.allCases.count)
            for category in ACLCategory.allCases { c.reply.bulk(category.name) }
            return
        }
        guard let category = ACLCategory.named(c.arguments.string(2)) else {
            c.error("ERR Unknown category '", quoting: c.arguments.bytes(2), "'")
            return
        }
        var names: [String] = []
        for id in ACLCommandIndex.topLevel {
            let entry = ACLCommandIndex.entries[id]
            if ACLCommandIndex.has(id, category) { names.append(entry.spec.name) }
            if !entry.subcommands.isEmpty {
                for sub in entry.subcommands where ACLCommandIndex.has(sub, category) { names.append(ACLCommandIndex.entries[sub].spec.name) }
            }
        }
        c.reply.arrayHeader(names.count)
        for name in names { c.reply.bulk(name) }
    }

    static func dryrun(_ c: inout CommandContext) {
        let userName = c.arguments.string(2)
        guard let handle = c.server.acl.handle(named: userName), handle !== c.server.acl.peerUser else {
            c.error("ERR User '", quoting: c.arguments.bytes(2), "' not found")
            return
        }
        let arguments = c.arguments.slice(3..<c.arguments.count)
        guard var spec = CommandIntrospection.find(arguments.string(0), in: c.server.commands) else {
            c.error("ERR Command '", quoting: arguments.bytes(0), "' not found")
            return
        }
        if !spec.subcommands.isEmpty && arguments.count >= 2,
           let sub = spec.subcommands.first(where: { $0.name == spec.name + "|" + arguments.string(1).lowercased() }) {
            spec = sub
        }
        guard spec.acceptsArgumentCount(arguments.count) else {
            c.error("ERR wrong number of arguments for '\(spec.name)' command")
            return
        }
        switch check(handle.user, spec, arguments) {
        case nil: c.reply.ok()
        case .command: c.reply.bulk("This user has no permissions to run the '\(spec.name)' command")
        case .key(let position): c.reply.bulk("This user has no permissions to access the '\(arguments.string(position))' key")
        case .channel(let position): c.reply.bulk("This user has no permissions to access the '\(arguments.string(position))' channel")
        }
    }

    static func genpass(_ c: inout CommandContext) {
        var bits = 256
        if c.arguments.count > 3 { c.wrongArity(); return }
        if c.arguments.count == 3 {
            guard let n = c.arguments.integer(2) else { c.notInteger(); return }
            guard n > 0 && n <= 4096 else {
                c.error("ERR ACL GENPASS argument must be the number of bits for the output password, a positive number up to 4096")
                return
            }
            bits = n
        }
        let digits = Array("0123456789abcdef".utf8)
        var generator = SystemRandomNumberGenerator()
        let characters = (bits + 3) / 4
        c.reply.bulk((0..<characters).map { _ in digits[Int(generator.next() & 0xF)] })
    }

    static func log(_ c: inout CommandContext) {
        if c.arguments.count > 3 { c.wrongArity(); return }
        var count = Int.max
        if c.arguments.count == 3 {
            if c.arguments.matches(2, "RESET") {
                c.server.acl.log.reset()
                c.reply.ok()
                return
            }
            guard let n = c.arguments.integer(2), n >= 0 else { c.notInteger(); return }
            count = n
        }
        let entries = c.server.acl.log.all.prefix(count)
        c.reply.arrayHeader(entries.count)
        for entry in entries {
            c.reply.mapHeader(7)
            c.reply.bulk("count"); c.reply.integer(entry.count)
            c.reply.bulk("reason"); c.reply.bulk(entry.reason.rawValue)
            c.reply.bulk("context"); c.reply.bulk(entry.context.rawValue)
            c.reply.bulk("object"); c.reply.bulk(entry.object)
            c.reply.bulk("username"); c.reply.bulk(entry.username)
            c.reply.bulk("age-seconds"); c.reply.double(Double(max(0, c.now - entry.time)) / 1000)
            c.reply.bulk("client-info"); c.reply.bulk(entry.clientInfo)
        }
    }

    static let noACLFile = "ERR This Redis instance is not configured to use an ACL file. You may want to specify users via the ACL SETUSER command and then issue a CONFIG REWRITE (assuming you have a Redis configuration file set) in order to store users in the Redis configuration."

    static func load(_ c: inout CommandContext) {
        let path = c.server.configuration.aclFile
        guard !path.isEmpty else { c.error(noACLFile); return }
        switch c.server.loadACLFile(path) {
        case .success(let removed):
            disconnectClients(of: removed, &c)
            c.reply.ok()
        case .failure(let error):
            c.error("ERR " + error.message)
        }
    }

    static func save(_ c: inout CommandContext) {
        let path = c.server.configuration.aclFile
        guard !path.isEmpty else { c.error(noACLFile); return }
        let text = ACLFile.render(c.server.acl.all.map(\.user))
        if ACLFileIO.write(text, to: path) {
            c.reply.ok()
        } else {
            c.error("ERR There was an error trying to save the ACLs. Please check the server logs for more information")
        }
    }

    static func help(_ c: inout CommandContext) {
        CommandHelp.reply(&c, command: "ACL", [
            "CAT [<category>]",
            "    List all commands that belong to <category>, or all command categories",
            "    when no category is specified.",
            "DELUSER <username> [<username> ...]",
            "    Delete a list of users.",
            "DRYRUN <username> <command> [<arg> ...]",
            "    Returns whether the user can execute the given command without executing the command.",
            "GETUSER <username>",
            "    Get the user's details.",
            "GENPASS [<bits>]",
            "    Generate a secure 256-bit user password. The optional `bits` argument can",
            "    be used to specify a different size.",
            "LIST",
            "    Show users details in config file format.",
            "LOAD",
            "    Reload users from the ACL file.",
            "LOG [<count> | RESET]",
            "    Show the ACL log entries.",
            "SAVE",
            "    Save the current config to the ACL file.",
            "SETUSER <username> <attribute> [<attribute> ...]",
            "    Create or modify a user with the specified attributes.",
            "USERS",
            "    List all the registered usernames.",
            "WHOAMI",
            "    Return the current connection username.",
        ])
    }
}

extension ServerContext {
    /// Loads `aclfile` (at startup and by ACL LOAD): all users are replaced, or none when a line
    /// is bad. Returns the handles of the users that are gone (their clients must be closed).
    public func loadACLFile(_ path: String) -> Result<[ACLUserHandle], ACLFileError> {
        guard let text = ACLFileIO.read(path) else {
            return .failure(ACLFileError(message: "Error loading ACLs, opening file '\(path)': \(String(cString: strerror(errno)))"))
        }
        switch ACLFile.parse(text, path: path) {
        case .success(let users): return .success(acl.replaceAll(with: users))
        case .failure(let error): return .failure(error)
        }
    }
}

/// Reading and atomically replacing the aclfile.
enum ACLFileIO {
    static func read(_ path: String) -> String? {
        guard let file = fopen(path, "r") else { return nil }
        defer { fclose(file) }
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = fread(&buffer, 1, buffer.count, file)
            if n <= 0 { break }
            bytes += buffer[0..<n]
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Writes a temporary file next to `path`, then renames it over `path`.
    static func write(_ text: String, to path: String) -> Bool {
        let temporary = path + ".tmp-\(getpid())"
        guard let file = fopen(temporary, "w") else { return false }
        let bytes = Array(text.utf8)
        let written = bytes.isEmpty ? 0 : fwrite(bytes, 1, bytes.count, file)
        let flushed = fflush(file) == 0 && fsync(fileno(file)) == 0
        fclose(file)
        guard written == bytes.count, flushed, rename(temporary, path) == 0 else {
            unlink(temporary)
            return false
        }
        return true
    }
}
