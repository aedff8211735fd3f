import NIOCore
import StrataRESP
import StrataScripting
import StrataStore

/// EVAL, EVALSHA, their read-only forms and SCRIPT: Lua scripts run on the connection's event
/// loop, in that thread's Lua state (``LuaEngine``), holding the locks of their keys' shards
/// for the whole script, as EXEC does.
enum ScriptCommands {
    private static let scripting = "scripting"

    static let table: [CommandSpec] = [
        CommandSpec("eval", arity: -3, flags: [.noScript, .stale, .runsScripts], numKeysAt: 2, group: scripting, since: "2.6.0",
                    complexity: "Depends on the script that is executed.",
                    summary: "Executes a server-side Lua script.",
                    syntax: "script numkeys [key [key ...]] [arg [arg ...]]", handler: eval),
        CommandSpec("evalsha", arity: -3, flags: [.noScript, .stale, .runsScripts], numKeysAt: 2, group: scripting, since: "2.6.0",
                    complexity: "Depends on the script that is executed.",
                    summary: "Executes a server-side Lua script by SHA1 digest.",
                    syntax: "sha1 numkeys [key [key ...]] [arg [arg ...]]", handler: evalsha),
        CommandSpec("eval_ro", arity: -3, flags: [.readonly, .noScript, .stale, .runsScripts], numKeysAt: 2, group: scripting,
                    since: "7.0.0", complexity: "Depends on the script that is executed.",
                    summary: "Executes a read-only server-side Lua script.",
                    syntax: "script numkeys [key [key ...]] [arg [arg ...]]", handler: evalReadOnly),
        CommandSpec("evalsha_ro", arity: -3, flags: [.readonly, .noScript, .stale, .runsScripts], numKeysAt: 2, group: scripting,
                    since: "7.0.0", complexity: "Depends on the script that is executed.",
                    summary: "Executes a read-only server-side Lua script by SHA1 digest.",
                    syntax: "sha1 numkeys [key [key ...]] [arg [arg ...]]", handler: evalshaReadOnly),
        CommandSpec("script", arity: -2, flags: [], group: scripting, since: "2.6.0",
                    summary: "A container for Lua scripts management commands.", subcommands: [
            CommandSpec("script|load", arity: 3, flags: [.noScript, .stale], group: scripting, since: "2.6.0",
                        complexity: "O(N) with N being the length in bytes of the script body.",
                        summary: "Loads a server-side Lua script to the script cache.", syntax: "script", handler: load),
            CommandSpec("script|exists", arity: -3, flags: [.noScript], group: scripting, since: "2.6.0",
                        complexity: "O(N) with N being the number of scripts to check (so checking a single script is an O(1) operation).",
                        summary: "Determines whether server-side Lua scripts exist in the script cache.",
                        syntax: "sha1 [sha1 ...]", handler: exists),
            CommandSpec("script|flush", arity: -2, flags: [.noScript], group: scripting, since: "2.6.0",
                        complexity: "O(N) with N being the number of scripts in cache",
                        summary: "Removes all server-side Lua scripts from the script cache.", syntax: "[ASYNC | SYNC]",
                        handler: flush),
            CommandSpec("script|kill", arity: 2, flags: [.noScript, .allowBusy], group: scripting, since: "2.6.0",
                        summary: "Terminates a server-side Lua script during execution.", handler: kill),
            CommandSpec("script|debug", arity: 3, flags: [.noScript], group: scripting, since: "3.2.0",
                        summary: "Sets the debug mode of server-side Lua scripts.", syntax: "YES | SYNC | NO", handler: debug),
            CommandSpec("script|help", arity: 2, flags: [.loading, .stale], group: scripting, since: "5.0.0",
                        summary: "Returns helpful text about the different subcommands.", handler: help),
        ], handler: nil),
    ] + FunctionCommands.table

    /// Redis 7.0's `noscript` commands (refused by `redis.call`) and `allow_busy` commands
    /// (served while a script runs past `busy-reply-threshold`), by name; the table rows of
    /// other families get these flags from ``CommandTable/all``.
    static let noScriptNames: Set<String> = [
        "auth", "bgrewriteaof", "bgsave", "blmove", "blpop", "brpop", "brpoplpush", "bzpopmax", "bzpopmin",
        "client|caching", "client|getname", "client|getredir", "client|id", "client|info", "client|kill", "client|list",
        "client|no-evict", "client|pause", "client|reply", "client|setname", "client|tracking", "client|trackinginfo",
        "client|unblock", "client|unpause", "client|setinfo", "client|no-touch", "cluster|reset", "config|get",
        "config|resetstat", "config|rewrite", "config|set", "debug", "discard", "exec", "failover", "fcall", "fcall_ro",
        "function|delete", "function|dump", "function|flush", "function|kill", "function|list", "function|load",
        "function|restore", "function|stats", "hello", "latency|doctor", "latency|graph", "latency|histogram",
        "latency|history", "latency|latest", "latency|reset", "module|list", "module|load", "module|loadex",
        "module|unload", "monitor", "multi", "psubscribe", "psync", "punsubscribe", "quit", "replconf", "replicaof",
        "reset", "role", "save", "shutdown", "slaveof", "ssubscribe", "subscribe", "sunsubscribe", "sync",
        "unsubscribe", "unwatch", "wait", "watch",
    ]
    static let allowBusyNames: Set<String> = [
        "auth", "discard", "function|kill", "function|stats", "hello", "multi", "quit", "replconf", "reset",
        "shutdown", "unwatch", "watch",
    ]

    // MARK: - EVAL

    static func eval(_ c: inout CommandContext) { run(&c, bySha: false, readOnly: false) }
    static func evalsha(_ c: inout CommandContext) { run(&c, bySha: true, readOnly: false) }
    static func evalReadOnly(_ c: inout CommandContext) { run(&c, bySha: false, readOnly: true) }
    static func evalshaReadOnly(_ c: inout CommandContext) { run(&c, bySha: true, readOnly: true) }

    static let noScript = "NOSCRIPT No matching script. Please use EVAL."

    /// The script an EVAL names (adding it to the cache) or an EVALSHA finds, or the error.
    static func script(_ c: inout CommandContext, bySha: Bool) -> Script? {
        let cache = c.server.scripts
        if bySha {
            guard let sha = lowercasedSha(c.arguments, 1), let script = cache.script(sha: sha) else {
                c.error(noScript)
                return nil
            }
            return script
        }
        let body = c.arguments.bytes(1)
        let sha = SHA1.hex(body)
        if let script = cache.script(sha: sha) { return script }
        return parseAndCompile(&c, body, sha: sha)
    }

    /// Argument `index` in lower case when it has a sha1's length (40), in one allocation.
    static func lowercasedSha(_ arguments: CommandArguments, _ index: Int) -> String? {
        guard arguments.length(index) == 40 else { return nil }
        return arguments.withBytes(index) { bytes in
            String(unsafeUninitializedCapacity: 40) { out in
                for i in 0..<40 { out[i] = CommandLookup.fold(bytes[i]) }
                return 40
            }
        }
    }

    /// Parses the shebang and compiles the body in this thread's state; adds it to the cache.
    private static func parseAndCompile(_ c: inout CommandContext, _ body: [UInt8], sha: String) -> Script? {
        switch Script.parse(body, sha: sha) {
        case .failure(let error):
            c.error(error.message)
            return nil
        case .success(let script):
            if let error = LuaEngine.current.compile(script, cache: c.server.scripts) {
                c.error(error.message)
                return nil
            }
            c.server.scripts.add(script)
            return script
        }
    }

    private static func run(_ c: inout CommandContext, bySha: Bool, readOnly: Bool) {
        guard let numKeys = numberOfKeys(&c, notInteger: nil) else { return }
        guard let script = script(&c, bySha: bySha) else { return }
        execute(&c, .script(script), numKeys: numKeys, readOnly: readOnly)
    }

    /// The number of keys (argument 2), checked against the arguments; nil after the error.
    static func numberOfKeys(_ c: inout CommandContext, notInteger: String?) -> Int? {
        guard let numKeys = c.arguments.integer(2) else {
            if let notInteger { c.error(notInteger) } else { c.notInteger() }
            return nil
        }
        if numKeys > c.arguments.count - 3 {
            c.error("ERR Number of keys can't be greater than number of args")
            return nil
        }
        if numKeys < 0 {
            c.error("ERR Number of keys can't be negative")
            return nil
        }
        return numKeys
    }

    /// What EVAL or FCALL runs.
    enum Runnable {
        case script(Script)
        case function(Library, LibraryFunction)

        var flags: ScriptFlags {
            switch self {
            case .script(let script): script.flags
            case .function(_, let function): function.flags
            }
        }

        /// Scripts with a shebang and functions follow Redis 7's rules (flags are binding).
        var declaresFlags: Bool {
            switch self {
            case .script(let script): script.hasShebang
            case .function: true
            }
        }
    }

    /// The one way scripts and functions run: the checks of their flags (Redis's
    /// `scriptPrepareForRun`), the locks of the shards of their declared keys (or of every
    /// shard without keys) for the whole run, and each `redis.call` through
    /// ``CommandDispatcher/runFromScript(_:_:)``.
    static func execute(_ c: inout CommandContext, _ runnable: Runnable, numKeys: Int, readOnly: Bool) {
        let server = c.server
        let flags = runnable.flags
        let writesRefused = readOnly || flags.contains(.noWrites)
        if readOnly && runnable.declaresFlags && !flags.contains(.noWrites) {
            return c.error("ERR Can not execute a script with write flag using *_ro command.")
        }
        if flags.contains(.noCluster) && server.router != nil {
            return c.error("ERR Can not run script on cluster, 'no-cluster' flag is set.")
        }
        if runnable.declaresFlags && !flags.contains(.allowOOM) && !writesRefused && server.keyspace.maxMemory > 0
            && !c.shardsLocked && !server.keyspace.evictIfNeeded(now: c.now) {
            return c.error("OOM command not allowed when used memory > 'maxmemory'.")
        }
        let keyspace = c.keyspace
        let keyRange = 3..<(3 + numKeys)
        // The shards of the declared keys, or all of them for a script without keys; inside
        // EXEC, what EXEC holds (it counted this script's keys the same way).
        let held: [Int]?
        var lockedHere = false
        if c.shardsLocked {
            held = c.heldShards
        } else {
            held = numKeys > 0 ? keyspace.lockOrder(for: keyRange.map { c.hash($0) }) : nil
            keyspace.lock(held)
            lockedHere = true
        }
        defer { if lockedHere { keyspace.unlock(held) } }
        let policy = ScriptPolicy(
            writesRefused: writesRefused, held: held, cluster: server.router != nil,
            slot: server.router != nil && numKeys > 0 ? c.arguments.withBytes(3) { HashSlot.slot($0) } : nil)
        let client = c.client
        let now = c.now
        let database = client.db
        defer { client.db = database }
        var spare = RESPReplyWriter(buffer: ByteBuffer(), version: .resp2)
        let spans = c.arguments.spans
        let call: ScriptCommandCall = { buffer, spans, reply in
            var inner = CommandContext(server: server, client: client, arguments: CommandArguments(buffer: buffer, spans: spans),
                                       reply: spare, now: now)
            swap(&inner.reply, &reply)
            inner.shardsLocked = true
            inner.heldShards = held
            inner.monitorOrigin = .script
            let wrote = CommandDispatcher.runFromScript(&inner, policy)
            swap(&inner.reply, &reply)
            spare = inner.reply
            return wrote
        }
        switch runnable {
        case .script(let script):
            LuaEngine.current.run(
                script, arguments: c.arguments.buffer, keys: spans[keyRange], argv: spans[(3 + numKeys)...],
                cache: server.scripts, reply: &c.reply, call: call)
        case .function(let library, let function):
            let command = RunningScript.Command(name: function.name, arguments: c.arguments.buffer, spans: spans)
            LuaEngine.current.run(
                function: function.name, of: library, arguments: c.arguments.buffer, keys: spans[keyRange],
                argv: spans[(3 + numKeys)...], libraries: server.functions, cache: server.scripts, command: command,
                reply: &c.reply, call: call)
        }
    }

    // MARK: - SCRIPT

    static func load(_ c: inout CommandContext) {
        let body = c.arguments.bytes(2)
        let sha = SHA1.hex(body)
        if c.server.scripts.contains(sha: sha) {
            c.reply.bulk(sha)
            return
        }
        guard let script = parseAndCompile(&c, body, sha: sha) else { return }
        c.reply.bulk(script.sha)
    }

    static func exists(_ c: inout CommandContext) {
        let cache = c.server.scripts
        c.reply.arrayHeader(c.arguments.count - 2)
        for i in 2..<c.arguments.count {
            c.reply.integer(lowercasedSha(c.arguments, i).map { cache.contains(sha: $0) } == true ? 1 : 0)
        }
    }

    static func flush(_ c: inout CommandContext) {
        if c.arguments.count > 3 || (c.arguments.count == 3 && !c.arguments.matches(2, "SYNC") && !c.arguments.matches(2, "ASYNC")) {
            return c.error("ERR SCRIPT FLUSH only support SYNC|ASYNC option")
        }
        c.server.scripts.flush()
        c.reply.ok()
    }

    static func kill(_ c: inout CommandContext) {
        killReply(&c, c.server.scripts.kill(functions: false))
    }

    static func killReply(_ c: inout CommandContext, _ outcome: ScriptCache.KillOutcome) {
        switch outcome {
        case .otherKind(let busy): c.error(busy)
        case .killed: c.reply.ok()
        case .notBusy: c.error("NOTBUSY No scripts in execution right now.")
        case .unkillable:
            c.error("UNKILLABLE Sorry the script already executed write commands against the dataset. You can either wait the "
                    + "script termination or kill the server in a hard way using the SHUTDOWN NOSAVE command.")
        }
    }

    /// Strata has no Lua debugger: `NO` (the default) is accepted, `YES` and `SYNC` refused.
    static func debug(_ c: inout CommandContext) {
        if c.arguments.matches(2, "NO") { return c.reply.ok() }
        if c.arguments.matches(2, "YES") || c.arguments.matches(2, "SYNC") {
            return c.error("ERR Strata has no Lua debugger: SCRIPT DEBUG YES and SYNC are not supported")
        }
        c.error("ERR Use SCRIPT DEBUG YES/SYNC/NO")
    }

    static func help(_ c: inout CommandContext) {
        CommandHelp.reply(&c, command: "SCRIPT", [
            "DEBUG (YES|SYNC|NO)",
            "    Set the debug mode for subsequent scripts executed.",
            "EXISTS <sha1> [<sha1> ...]",
            "    Return information about the existence of the scripts in the script cache.",
            "FLUSH [ASYNC|SYNC]",
            "    Flush the Lua scripts cache. Very dangerous on replicas.",
            "    When called without the optional mode argument, the behavior is determined by the",
            "    lazyfree-lazy-user-flush configuration directive. Valid modes are:",
            "    * ASYNC: Asynchronously flush the scripts cache.",
            "    * SYNC: Synchronously flush the scripts cache.",
            "KILL",
            "    Kill the currently executing Lua script.",
            "LOAD <script>",
            "    Load a script into the scripts cache without executing it.",
        ])
    }
}

/// What a running script may do with the commands it calls.
struct ScriptPolicy {
    /// EVAL_RO, EVALSHA_RO or `flags=no-writes`.
    var writesRefused: Bool
    /// The shards the script holds; nil for all.
    var held: [Int]?
    /// Whether this node is one of a cluster: keys must then be in the slot of the declared keys.
    var cluster: Bool
    /// The slot of the first declared key (cluster only).
    var slot: Int?
}

extension CommandDispatcher {
    static let nonLocalKey = "ERR Script attempted to access a non local key in a cluster node"

    /// Runs one `redis.call` of a script: Redis's `scriptCall` checks (the command exists, its
    /// arity, it is allowed in scripts, no write from a read-only script, its keys are among
    /// the shards the script holds), then the command itself through ``run(_:_:)``. Returns
    /// whether it is a write command.
    static func runFromScript(_ context: inout CommandContext, _ policy: ScriptPolicy) -> Bool {
        let server = context.server
        guard var spec = context.arguments.withBytes(0, { server.commands.find($0) }) else {
            context.reply.error("ERR Unknown Redis command called from script")
            return false
        }
        if !spec.subcommands.isEmpty && context.arguments.count >= 2 {
            guard let sub = subcommand(of: spec, &context) else {
                context.reply.error("ERR Unknown Redis command called from script")
                return false
            }
            spec = sub
        }
        guard spec.acceptsArgumentCount(context.arguments.count), spec.handler != nil else {
            context.reply.error("ERR Wrong number of args calling Redis command from script")
            return false
        }
        if spec.flags.contains(.noScript) {
            context.reply.error("ERR This Redis command is not allowed from script")
            return false
        }
        if let refusal = ACLCommands.scriptRefusal(spec, &context) {
            context.reply.error(refusal)
            return false
        }
        let writes = spec.flags.contains(.write)
        if writes && policy.writesRefused {
            context.reply.error("ERR Write commands are not allowed from read-only scripts.")
            return false
        }
        if writes, let cold = server.coldStorage, let failure = cold.failure {
            context.reply.error("MISCONF Errors writing to the L3 store (\(failure)). Writes are refused until it can write again; reads keep working.")
            return false
        }
        if spec.hasKeys {
            let keyspace = context.keyspace
            func refusal(_ position: Int) -> String? {
                context.arguments.withBytes(position) { key in
                    let hash = keyspace.hasher.hash(key)
                    if let held = policy.held, !held.contains(keyspace.shardIndex(for: hash)) { return nonLocalKey }
                    if policy.cluster && policy.slot != HashSlot.slot(key) { return nonLocalKey }
                    if keyspace.hasColdEntries,
                       let entry = keyspace.shard(for: hash).find(database: context.database, key: key, hash: hash,
                                                                  now: context.now, access: .peek),
                       !entry.isWarm {
                        return "ERR Script attempted to access a key not in memory (only in L3) that it did not declare in KEYS"
                    }
                    return nil
                }
            }
            if spec.isSingleKey {
                // The common case, without an array of positions.
                if spec.firstKey < context.arguments.count, let refused = refusal(spec.firstKey) {
                    context.reply.error(refused)
                    return false
                }
            } else {
                for position in spec.keyPositions(context.arguments) {
                    if let refused = refusal(position) {
                        context.reply.error(refused)
                        return false
                    }
                }
            }
        } else if spec.flags.contains(.wholeKeyspace) && policy.held != nil {
            // DBSIZE, KEYS, SCAN, FLUSHDB… reach every shard; the script holds only its keys' shards.
            context.reply.error(nonLocalKey)
            return false
        }
        run(spec, &context)
        return writes
    }
}
