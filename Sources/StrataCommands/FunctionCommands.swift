import NIOCore
import StrataRESP
import StrataScripting
import StrataStore

/// Redis 7 functions: FUNCTION LOAD and the other FUNCTION subcommands manage the server's
/// ``FunctionLibraries``; FCALL and FCALL_RO run a function through the same path as EVAL
/// (``ScriptCommands/execute(_:_:numKeys:readOnly:)``). With L3 on, every change of the
/// libraries is written to the L3 database before it is acknowledged.
enum FunctionCommands {
    private static let scripting = "scripting"

    static let table: [CommandSpec] = [
        CommandSpec("fcall", arity: -3, flags: [.noScript, .stale, .runsScripts], numKeysAt: 2, group: scripting, since: "7.0.0",
                    complexity: "Depends on the function that is executed.", summary: "Invokes a function.",
                    syntax: "function numkeys [key [key ...]] [arg [arg ...]]", handler: fcall),
        CommandSpec("fcall_ro", arity: -3, flags: [.readonly, .noScript, .stale, .runsScripts], numKeysAt: 2, group: scripting,
                    since: "7.0.0", complexity: "Depends on the function that is executed.",
                    summary: "Invokes a read-only function.",
                    syntax: "function numkeys [key [key ...]] [arg [arg ...]]", handler: fcallReadOnly),
        CommandSpec("function", arity: -2, flags: [], group: scripting, since: "7.0.0",
                    summary: "A container for function commands.", subcommands: [
            CommandSpec("function|load", arity: -3, flags: [.write, .denyOOM, .noScript], group: scripting, since: "7.0.0",
                        complexity: "O(1) (considering compilation time is redundant)",
                        summary: "Creates a library.", syntax: "[REPLACE] function-code", handler: load),
            CommandSpec("function|delete", arity: 3, flags: [.write, .noScript], group: scripting, since: "7.0.0",
                        summary: "Deletes a library and its functions.", syntax: "library-name", handler: delete),
            CommandSpec("function|flush", arity: -2, flags: [.write, .noScript], group: scripting, since: "7.0.0",
                        complexity: "O(N) where N is the number of functions deleted",
                        summary: "Deletes all libraries and functions.", syntax: "[ASYNC | SYNC]", handler: flush),
            CommandSpec("function|list", arity: -2, flags: [.noScript], group: scripting, since: "7.0.0",
                        complexity: "O(N) where N is the number of functions",
                        summary: "Returns information about all libraries.",
                        syntax: "[LIBRARYNAME library-name-pattern] [WITHCODE]", handler: list),
            CommandSpec("function|dump", arity: 2, flags: [.noScript], group: scripting, since: "7.0.0",
                        complexity: "O(N) where N is the number of functions",
                        summary: "Dumps all libraries into a serialized binary payload.", handler: dump),
            CommandSpec("function|restore", arity: -3, flags: [.write, .denyOOM, .noScript], group: scripting, since: "7.0.0",
                        complexity: "O(N) where N is the number of functions on the payload",
                        summary: "Restores all libraries from a payload.",
                        syntax: "serialized-value [FLUSH | APPEND | REPLACE]", handler: restore),
            CommandSpec("function|stats", arity: 2, flags: [.noScript, .allowBusy], group: scripting, since: "7.0.0",
                        summary: "Returns information about a function during execution.", handler: stats),
            CommandSpec("function|kill", arity: 2, flags: [.noScript, .allowBusy], group: scripting, since: "7.0.0",
                        summary: "Terminates a function during execution.", handler: kill),
            CommandSpec("function|help", arity: 2, flags: [.loading, .stale], group: scripting, since: "7.0.0",
                        summary: "Returns helpful text about the different subcommands.", handler: help),
        ], handler: nil),
    ]

    /// The FUNCTION subcommands that change the libraries: on a proxy-mode ring they reach
    /// every node (see `ClusterRouter`).
    static let changingNames: Set<String> = ["function|load", "function|delete", "function|flush", "function|restore"]

    // MARK: - FCALL

    static func fcall(_ c: inout CommandContext) { run(&c, readOnly: false) }
    static func fcallReadOnly(_ c: inout CommandContext) { run(&c, readOnly: true) }

    private static func run(_ c: inout CommandContext, readOnly: Bool) {
        // Redis looks the function up first, then checks the number of keys.
        let name = c.arguments.string(1)
        guard let (library, function) = c.server.functions.function(named: name) else {
            return c.error("ERR Function not found")
        }
        guard let numKeys = ScriptCommands.numberOfKeys(&c, notInteger: "ERR Bad number of keys provided") else { return }
        ScriptCommands.execute(&c, .function(library, function), numKeys: numKeys, readOnly: readOnly)
    }

    // MARK: - Changing the libraries

    static func load(_ c: inout CommandContext) {
        var replace = false
        var i = 2
        while i < c.arguments.count - 1 {
            guard c.arguments.matches(i, "REPLACE") else {
                return c.error("ERR Unknown option given: ", quoting: c.arguments.bytes(i))
            }
            replace = true
            i += 1
        }
        switch c.server.functions.load(c.arguments.bytes(c.arguments.count - 1), replace: replace, engine: LuaEngine.current) {
        case .failure(let error): c.error(error.message)
        case .success(let name): persisted(&c) { $0.bulk(name) }
        }
    }

    static func delete(_ c: inout CommandContext) {
        guard c.server.functions.delete(c.arguments.string(2)) else { return c.error("ERR Library not found") }
        persisted(&c) { $0.ok() }
    }

    static func flush(_ c: inout CommandContext) {
        if c.arguments.count > 3 {
            return c.error("ERR unknown subcommand or wrong number of arguments for '", quoting: c.arguments.bytes(1), "'. Try FUNCTION HELP.")
        }
        if c.arguments.count == 3 && !c.arguments.matches(2, "SYNC") && !c.arguments.matches(2, "ASYNC") {
            return c.error("ERR FUNCTION FLUSH only supports SYNC|ASYNC option")
        }
        c.server.functions.flush()
        persisted(&c) { $0.ok() }
    }

    static func restore(_ c: inout CommandContext) {
        if c.arguments.count > 4 {
            return c.error("ERR unknown subcommand or wrong number of arguments for '", quoting: c.arguments.bytes(1), "'. Try FUNCTION HELP.")
        }
        var policy = FunctionLibraries.RestorePolicy.append
        if c.arguments.count == 4 {
            if c.arguments.matches(3, "APPEND") {
                policy = .append
            } else if c.arguments.matches(3, "REPLACE") {
                policy = .replace
            } else if c.arguments.matches(3, "FLUSH") {
                policy = .flush
            } else {
                return c.error("ERR Wrong restore policy given, value should be either FLUSH, APPEND or REPLACE.")
            }
        }
        guard let codes = FunctionLibraries.codes(inPayload: c.arguments.bytes(2)) else {
            return c.error("ERR DUMP payload version or checksum are wrong")
        }
        var libraries: [Library] = []
        let engine = LuaEngine.current
        for code in codes {
            switch FunctionLibraries.compile(code, engine: engine) {
            case .failure(let error):
                for library in libraries { engine.forgetLibrary(id: library.id) }
                return c.error(error.message)
            case .success(let library):
                libraries.append(library)
            }
        }
        if let error = c.server.functions.restore(libraries, policy: policy) {
            for library in libraries { engine.forgetLibrary(id: library.id) }
            return c.error(error.message)
        }
        persisted(&c) { $0.ok() }
    }

    /// Writes the reply of a change of the libraries once L3 has them (at once without L3).
    /// The write stores the libraries as they are when it runs, so the newest set always wins.
    private static func persisted(_ c: inout CommandContext, _ write: (inout RESPReplyWriter) -> Void) {
        guard let cold = c.server.coldStorage else { return write(&c.reply) }
        let libraries = c.server.functions
        let snapshot: @Sendable () -> [[UInt8]] = { libraries.libraries.map(\.code) }
        guard let loop = c.eventLoop, !c.shardsLocked else {
            // Inside EXEC (which has no deferred replies): written here, before the reply.
            if let failure = cold.storeLibraries(snapshot) {
                return c.error("ERR The libraries changed but could not be written to L3: \(failure)")
            }
            return write(&c.reply)
        }
        var reply = RESPReplyWriter(buffer: ByteBuffer(), version: c.reply.version)
        write(&reply)
        let done = reply.buffer
        c.deferredReply = cold.storeLibraries(snapshot, on: loop).map { failure in
            guard let failure else { return done }
            return CommandDispatcher.errorReply("ERR The libraries changed but could not be written to L3: \(failure)")
        }
    }

    // MARK: - Reading the libraries

    static func list(_ c: inout CommandContext) {
        var withCode = false
        var pattern: [UInt8]?
        var i = 2
        while i < c.arguments.count {
            if c.arguments.matches(i, "WITHCODE") && !withCode {
                withCode = true
            } else if c.arguments.matches(i, "LIBRARYNAME") && pattern == nil {
                guard i + 1 < c.arguments.count else { return c.error("ERR library name argument was not given") }
                pattern = c.arguments.bytes(i + 1)
                i += 1
            } else {
                return c.error("ERR Unknown argument ", quoting: c.arguments.bytes(i))
            }
            i += 1
        }
        var libraries = c.server.functions.libraries
        if let pattern {
            libraries = libraries.filter { GlobPattern.matches(pattern: pattern, Array($0.name.utf8)) }
        }
        c.reply.arrayHeader(libraries.count)
        for library in libraries {
            c.reply.mapHeader(withCode ? 4 : 3)
            c.reply.bulk("library_name")
            c.reply.bulk(library.name)
            c.reply.bulk("engine")
            c.reply.bulk("LUA")
            c.reply.bulk("functions")
            c.reply.arrayHeader(library.functions.count)
            for function in library.functions {
                c.reply.mapHeader(3)
                c.reply.bulk("name")
                c.reply.bulk(function.name)
                c.reply.bulk("description")
                if let description = function.description { c.reply.bulk(description) } else { c.reply.null() }
                c.reply.bulk("flags")
                let names = function.flags.names
                c.reply.setHeader(names.count)
                for name in names { c.reply.simpleString(name) }
            }
            if withCode {
                c.reply.bulk("library_code")
                c.reply.bulk(library.code)
            }
        }
    }

    static func dump(_ c: inout CommandContext) {
        c.reply.bulk(c.server.functions.dump())
    }

    /// FUNCTION STATS: the function running past `busy-reply-threshold` (the only one another
    /// client can see running), and the library counts.
    static func stats(_ c: inout CommandContext) {
        let busy = c.server.scripts.busyRuns
        if busy.contains(where: { $0.function == nil }) {
            return c.error("BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE.")
        }
        c.reply.mapHeader(2)
        c.reply.bulk("running_script")
        if let run = busy.first, let command = run.function {
            c.reply.mapHeader(3)
            c.reply.bulk("name")
            c.reply.bulk(command.name)
            c.reply.bulk("command")
            c.reply.arrayHeader(command.spans.count)
            for span in command.spans {
                command.arguments.withUnsafeReadableBytes { bytes in
                    c.reply.bulk(UnsafeRawBufferPointer(rebasing: bytes[span.offset..<(span.offset + span.length)]))
                }
            }
            c.reply.bulk("duration_ms")
            c.reply.integer(Int(ScriptCache.monotonicMilliseconds() - run.startedAt))
        } else {
            c.reply.null()
        }
        let counts = c.server.functions.counts
        c.reply.bulk("engines")
        c.reply.mapHeader(1)
        c.reply.bulk("LUA")
        c.reply.mapHeader(2)
        c.reply.bulk("libraries_count")
        c.reply.integer(counts.libraries)
        c.reply.bulk("functions_count")
        c.reply.integer(counts.functions)
    }

    static func kill(_ c: inout CommandContext) {
        ScriptCommands.killReply(&c, c.server.scripts.kill(functions: true))
    }

    static func help(_ c: inout CommandContext) {
        CommandHelp.reply(&c, command: "FUNCTION", [
            "LOAD [REPLACE] <FUNCTION CODE>",
            "    Create a new library with the given library name and code.",
            "DELETE <LIBRARY NAME>",
            "    Delete the given library.",
            "LIST [LIBRARYNAME PATTERN] [WITHCODE]",
            "    Return general information on all the libraries:",
            "    * Library name",
            "    * The engine used to run the Library",
            "    * Library description",
            "    * Functions list",
            "    * Library code (if WITHCODE is given)",
            "    It also possible to get only function that matches a pattern using LIBRARYNAME argument.",
            "STATS",
            "    Return information about the current function running:",
            "    * Function name",
            "    * Command used to run the function",
            "    * Duration in MS that the function is running",
            "    If no function is running, return nil",
            "    In addition, returns a list of available engines.",
            "KILL",
            "    Kill the current running function.",
            "FLUSH [ASYNC|SYNC]",
            "    Delete all the libraries.",
            "    When called without the optional mode argument, the behavior is determined by the",
            "    lazyfree-lazy-user-flush configuration directive. Valid modes are:",
            "    * ASYNC: Asynchronously flush the libraries.",
            "    * SYNC: Synchronously flush the libraries.",
            "DUMP",
            "    Return a serialized payload representing the current libraries, can be restored using FUNCTION RESTORE command",
            "RESTORE <PAYLOAD> [FLUSH|APPEND|REPLACE]",
            "    Restore the libraries represented by the given payload, it is possible to give a restore policy to",
            "    control how to handle existing libraries (default APPEND):",
            "    * FLUSH: delete all existing libraries.",
            "    * APPEND: appends the restored libraries to the existing libraries. On collision, abort.",
            "    * REPLACE: appends the restored libraries to the existing libraries, On collision, replace the old",
            "      libraries with the new libraries (notice that even on this option there is a chance of failure",
            "      in case of functions name collision with another library).",
        ])
    }
}

extension ServerContext {
    /// Loads the libraries kept in L3 (at start-up, before clients connect). Returns the
    /// errors of those that no longer load.
    public func loadStoredLibraries() -> [String] {
        guard let cold = coldStorage else { return [] }
        var errors: [String] = []
        let engine = LuaEngine.current
        for code in cold.storedLibraries() {
            if case .failure(let error) = functions.load(code, replace: true, engine: engine) { errors.append(error.message) }
        }
        return errors
    }
}
