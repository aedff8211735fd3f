import CLua
import NIOCore
import StrataRESP

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Runs one command for a script (`redis.call`): the arguments are `spans` into `arguments`;
/// the command writes exactly one reply to `reply` (in the protocol the script chose with
/// `redis.setresp`). Returns whether the command was a write (a script that has written
/// cannot be killed).
public typealias ScriptCommandCall = (_ arguments: ByteBuffer, _ spans: [ArgumentSpan], _ reply: inout RESPReplyWriter) -> Bool

/// One Lua 5.1 state with Redis's scripting environment.
///
/// A Lua state is not thread-safe, so each thread has its own (``current``): an event loop runs
/// its scripts on its own state, with no thread hop. Scripts come from a shared
/// ``ScriptCache``; each state compiles a script the first time it runs it.
///
/// Lua raises errors with `longjmp`. No Swift code here calls a Lua function that can raise
/// while Swift objects are live, except on memory exhaustion; errors of `redis.call` travel as
/// return values to the Lua side of the API (``LuaPrelude``), which raises them.
public final class LuaEngine {
    let L: OpaquePointer
    private var handlerRef: Int32 = 0
    private var globalsRef: Int32 = 0
    /// The table behind the scripts' globals, where KEYS and ARGV go.
    private var visibleRef: Int32 = 0
    private var functionsRef: Int32 = 0
    /// The prelude's `load_library`.
    private var loadLibraryRef: Int32 = 0
    /// Library id → {function name → callback}: the libraries whose code ran in this state.
    private var librariesRef: Int32 = 0
    private var loadedLibraries: Set<Int> = []
    private var librariesIdentity = 0
    private var librariesGeneration = -1
    /// While a library's code runs (FUNCTION LOAD): when it must have finished.
    private var loadDeadline: Int64?
    private var cacheIdentity = 0
    private var cacheGeneration = -1

    // While a script runs.
    private var call: ScriptCommandCall?
    private var running: RunningScript?
    private var runningCache: ScriptCache?
    /// The protocol of replies of `redis.call` (`redis.setresp`).
    private var scriptProtocol = RESPVersion.resp2
    private var argumentBuffer = ByteBuffer()
    private var spans: [ArgumentSpan] = []
    private var callReply = RESPReplyWriter(buffer: ByteBuffer())

    /// Nesting of tables converted to replies (and replies to tables) beyond which the
    /// conversion stops with an error, so that no script can exhaust the stack.
    static let maxDepth = 500
    /// Lua instructions between two checks of the time limit and of SCRIPT KILL (Redis's value).
    static let hookInstructions: Int32 = 100_000

    init() {
        guard let state = luaL_newstate() else { fatalError("Lua: out of memory creating a state") }
        L = state
        open(luaopen_base, "")
        open(luaopen_table, "table")
        open(luaopen_string, "string")
        open(luaopen_math, "math")
        open(luaopen_debug, "debug")
        open(luaopen_cjson, "cjson")
        clua_setglobal(L, "cjson")
        open(luaopen_bit, "bit")
        clua_setglobal(L, "bit")
        lua_settop(L, 0)
        let me = Unmanaged.passUnretained(self).toOpaque()
        register("__strata_call", me, luaRedisCall)
        register("__strata_pcall", me, luaRedisPCall)
        register("__strata_sha1", me, luaSha1)
        register("__strata_log", me, luaLog)
        register("__strata_setresp", me, luaSetResp)
        register("__strata_set_repl", me, luaSetRepl)
        let prelude = LuaPrelude.source
        let loaded = prelude.withCString { luaL_loadbuffer(L, $0, strlen($0), LuaPrelude.chunkName) }
        guard loaded == 0, lua_pcall(L, 0, 4, 0) == 0 else {
            fatalError("Lua prelude: \(String(cString: lua_tolstring(L, -1, nil)))")
        }
        loadLibraryRef = luaL_ref(L, clua_registryindex())
        visibleRef = luaL_ref(L, clua_registryindex())
        globalsRef = luaL_ref(L, clua_registryindex())
        handlerRef = luaL_ref(L, clua_registryindex())
        clua_newtable(L)
        functionsRef = luaL_ref(L, clua_registryindex())
        clua_newtable(L)
        librariesRef = luaL_ref(L, clua_registryindex())
        lua_settop(L, 0)
    }

    deinit { lua_close(L) }

    private func open(_ function: lua_CFunction, _ name: String) {
        clua_pushcfunction(L, function)
        lua_pushstring(L, name)
        lua_call(L, 1, 1)
    }

    private func register(_ name: String, _ me: UnsafeMutableRawPointer, _ function: lua_CFunction) {
        lua_pushlightuserdata(L, me)
        lua_pushcclosure(L, function, 1)
        clua_setglobal(L, name)
    }

    // MARK: - The state of this thread

    private static let key: pthread_key_t = {
        var key = pthread_key_t()
        pthread_key_create(&key) { pointer in
            if let pointer { Unmanaged<LuaEngine>.fromOpaque(pointer).release() }
        }
        return key
    }()

    /// This thread's engine, created the first time a script runs on the thread.
    public static var current: LuaEngine {
        if let pointer = pthread_getspecific(key) {
            return Unmanaged<LuaEngine>.fromOpaque(pointer).takeUnretainedValue()
        }
        let engine = LuaEngine()
        pthread_setspecific(key, Unmanaged.passRetained(engine).toOpaque())
        return engine
    }

    /// Whether a script is running on this engine (a script cannot start another).
    public var isRunning: Bool { running != nil }

    // MARK: - Compiling

    private func syncGeneration(_ cache: ScriptCache) {
        let generation = cache.generation
        guard cache.identity != cacheIdentity || generation != cacheGeneration else { return }
        cacheIdentity = cache.identity
        cacheGeneration = generation
        luaL_unref(L, clua_registryindex(), functionsRef)
        clua_newtable(L)
        functionsRef = luaL_ref(L, clua_registryindex())
        lua_gc(L, LUA_GCCOLLECT, 0)
    }

    /// Compiles `script` unless this state has it already (SCRIPT LOAD; EVAL before it runs).
    public func compile(_ script: Script, cache: ScriptCache) -> ScriptError? {
        syncGeneration(cache)
        let top = lua_gettop(L)
        defer { lua_settop(L, top) }
        return pushFunction(script)
    }

    /// Pushes the script's function (compiling it if needed), or returns the compile error.
    private func pushFunction(_ script: Script) -> ScriptError? {
        lua_rawgeti(L, clua_registryindex(), functionsRef)
        lua_getfield(L, -1, script.sha)
        if lua_type(L, -1) == LUA_TFUNCTION {
            lua_remove(L, -2)
            return nil
        }
        clua_pop(L, 1)
        let status = script.body.withUnsafeBufferPointer { body in
            body.baseAddress!.withMemoryRebound(to: CChar.self, capacity: body.count) { base in
                luaL_loadbuffer(L, base + script.codeOffset, body.count - script.codeOffset, "@user_script")
            }
        }
        if status != 0 {
            let message = string(at: -1) ?? "unknown error"
            clua_pop(L, 2)
            return ScriptError("ERR Error compiling script (new function): " + message)
        }
        lua_rawgeti(L, clua_registryindex(), globalsRef)
        _ = lua_setfenv(L, -2)
        lua_pushvalue(L, -1)
        lua_setfield(L, -3, script.sha)
        lua_remove(L, -2)
        return nil
    }

    // MARK: - Running

    /// Runs `script` with `KEYS` and `ARGV` taken from `arguments`, writing its result (or
    /// error) to `reply` in the client's protocol. `call` runs each `redis.call`.
    public func run(_ script: Script, arguments: ByteBuffer, keys: ArraySlice<ArgumentSpan>,
                    argv: ArraySlice<ArgumentSpan>, cache: ScriptCache, reply: inout RESPReplyWriter,
                    call: ScriptCommandCall) {
        guard running == nil else {
            reply.error("ERR A script cannot run another script")
            return
        }
        syncGeneration(cache)
        lua_settop(L, 0)
        lua_rawgeti(L, clua_registryindex(), handlerRef)
        if let error = pushFunction(script) {
            lua_settop(L, 0)
            reply.error(error.message)
            return
        }
        // Raw sets: the table is read-only to scripts.
        lua_rawgeti(L, clua_registryindex(), visibleRef)
        lua_pushstring(L, "KEYS")
        pushStrings(arguments, keys)
        lua_rawset(L, -3)
        lua_pushstring(L, "ARGV")
        pushStrings(arguments, argv)
        lua_rawset(L, -3)
        clua_pop(L, 1)
        execute(name: script.sha, argumentCount: 0, run: cache.started(), cache: cache, reply: &reply, call: call)
    }

    /// FCALL: runs the function `function` of `library` with its keys and arguments as its two
    /// parameters, running the library's code first if this state has not yet.
    public func run(function: String, of library: Library, arguments: ByteBuffer, keys: ArraySlice<ArgumentSpan>,
                    argv: ArraySlice<ArgumentSpan>, libraries: FunctionLibraries, cache: ScriptCache,
                    command: RunningScript.Command, reply: inout RESPReplyWriter, call: ScriptCommandCall) {
        guard running == nil else {
            reply.error("ERR A script cannot run another script")
            return
        }
        syncLibraries(libraries)
        lua_settop(L, 0)
        if !loadedLibraries.contains(library.id),
           case .failure(let error) = loadLibrary(id: library.id, code: library.code, codeOffset: library.codeOffset) {
            lua_settop(L, 0)
            reply.error(error.message)
            return
        }
        lua_rawgeti(L, clua_registryindex(), handlerRef)
        lua_rawgeti(L, clua_registryindex(), librariesRef)
        lua_pushnumber(L, Double(library.id))
        lua_rawget(L, -2)
        lua_getfield(L, -1, function)
        lua_remove(L, -2)
        lua_remove(L, -2)
        guard lua_type(L, -1) == LUA_TFUNCTION else {
            lua_settop(L, 0)
            reply.error("ERR Function not found")
            return
        }
        pushStrings(arguments, keys)
        pushStrings(arguments, argv)
        execute(name: function, argumentCount: 2, run: cache.started(function: command), cache: cache, reply: &reply, call: call)
    }

    /// Calls the function on the stack (above the handler, below its `argumentCount` arguments).
    private func execute(name: String, argumentCount: Int32, run: RunningScript, cache: ScriptCache,
                         reply: inout RESPReplyWriter, call: ScriptCommandCall) {
        scriptProtocol = .resp2
        running = run
        runningCache = cache
        lua_sethook(L, luaHook, clua_maskcount(), Self.hookInstructions)
        let status = withoutActuallyEscaping(call) { call in
            self.call = call
            defer { self.call = nil }
            return lua_pcall(L, argumentCount, 1, 1)
        }
        lua_sethook(L, nil, 0, 0)
        running = nil
        runningCache = nil
        cache.finished(run)
        if status == 0 {
            writeReply(at: lua_gettop(L), to: &reply, depth: 0)
        } else {
            writeError(sha: name, to: &reply)
        }
        lua_settop(L, 0)
    }

    // MARK: - Libraries

    /// Drops the libraries this state ran that are no longer loaded.
    private func syncLibraries(_ libraries: FunctionLibraries) {
        let generation = libraries.generation
        guard libraries.identity != librariesIdentity || generation != librariesGeneration else { return }
        let sameRegistry = libraries.identity == librariesIdentity
        librariesIdentity = libraries.identity
        librariesGeneration = generation
        guard sameRegistry else { return }
        for id in loadedLibraries where !libraries.isLoaded(id: id) { forgetLibrary(id: id) }
    }

    /// Runs a library's code (FUNCTION LOAD, or the first FCALL of one of its functions in
    /// this state) with only the library API visible, for at most
    /// ``FunctionLibraries/loadTimeoutMilliseconds``, and keeps the functions it registered
    /// under `id`. Returns them, or Redis's error.
    public func loadLibrary(id: Int, code: [UInt8], codeOffset: Int) -> Result<[LibraryFunction], ScriptError> {
        guard running == nil, loadDeadline == nil else { return .failure(ScriptError("ERR A script cannot run another script")) }
        let top = lua_gettop(L)
        defer { lua_settop(L, top) }
        lua_rawgeti(L, clua_registryindex(), loadLibraryRef)
        let status = code.withUnsafeBufferPointer { body in
            body.baseAddress!.withMemoryRebound(to: CChar.self, capacity: body.count) { base in
                luaL_loadbuffer(L, base + codeOffset, body.count - codeOffset, "@user_function")
            }
        }
        if status != 0 {
            return .failure(ScriptError("ERR Error compiling function: " + (string(at: -1) ?? "unknown error")))
        }
        loadDeadline = ScriptCache.monotonicMilliseconds() + FunctionLibraries.loadTimeoutMilliseconds
        lua_sethook(L, luaHook, clua_maskcount(), Self.hookInstructions / 100)
        let called = lua_pcall(L, 1, 2, 0)
        lua_sethook(L, nil, 0, 0)
        loadDeadline = nil
        guard called == 0 else {
            return .failure(ScriptError("ERR Error registering functions: " + (string(at: -1) ?? "unknown error")))
        }
        let result = top + 2
        guard lua_toboolean(L, top + 1) != 0 else {
            var message = "ERR unknown error"
            if lua_type(L, result) == LUA_TTABLE {
                lua_getfield(L, result, "err")
                if let text = string(at: -1) { message = text }
            } else if let text = string(at: result) {
                message = text
            }
            return .failure(ScriptError("ERR Error registering functions: " + message))
        }
        var functions: [LibraryFunction] = []
        lua_createtable(L, 0, 4)
        let table = lua_gettop(L)
        var index: Int32 = 1
        while true {
            lua_rawgeti(L, result, index)
            guard lua_type(L, -1) == LUA_TTABLE else { break }
            let entry = lua_gettop(L)
            lua_getfield(L, entry, "name")
            let name = string(at: -1) ?? ""
            lua_getfield(L, entry, "description")
            let description = lua_type(L, -1) == LUA_TSTRING ? bytes(at: -1) : nil
            lua_getfield(L, entry, "flags")
            let flags = ScriptFlags(rawValue: UInt8(truncatingIfNeeded: Int(lua_tonumber(L, -1))))
            lua_getfield(L, entry, "callback")
            lua_setfield(L, table, name)
            lua_settop(L, table)
            functions.append(LibraryFunction(name: name, description: description, flags: flags))
            index += 1
        }
        lua_settop(L, table)
        lua_rawgeti(L, clua_registryindex(), librariesRef)
        lua_pushnumber(L, Double(id))
        lua_pushvalue(L, table)
        lua_rawset(L, -3)
        loadedLibraries.insert(id)
        return .success(functions)
    }

    /// Forgets the functions of a library (deleted, replaced, or refused after loading).
    public func forgetLibrary(id: Int) {
        guard loadedLibraries.remove(id) != nil else { return }
        let top = lua_gettop(L)
        lua_rawgeti(L, clua_registryindex(), librariesRef)
        lua_pushnumber(L, Double(id))
        lua_pushnil(L)
        lua_rawset(L, -3)
        lua_settop(L, top)
    }

    private func pushStrings(_ buffer: ByteBuffer, _ spans: ArraySlice<ArgumentSpan>) {
        lua_createtable(L, Int32(clamping: spans.count), 0)
        buffer.withUnsafeReadableBytes { bytes in
            var index: Int32 = 1
            for span in spans {
                bytes.baseAddress!.withMemoryRebound(to: CChar.self, capacity: bytes.count) { base in
                    lua_pushlstring(L, base + span.offset, span.length)
                }
                lua_rawseti(L, -2, index)
                index += 1
            }
        }
    }

    /// The error at the top of the stack as Redis 7.0 replies it: the message, then where the
    /// script raised it.
    private func writeError(sha: String, to reply: inout RESPReplyWriter) {
        guard lua_type(L, -1) == LUA_TTABLE else {
            let message = string(at: -1) ?? "execution failure"
            reply.error("ERR Error running script \(sha), \(message.prefix(100))")
            return
        }
        lua_getfield(L, -1, "err")
        var message = lua_type(L, -1) == LUA_TSTRING ? bytes(at: -1) : Array("ERR unknown error".utf8)
        // Redis reads the message as a C string: it ends at a NUL.
        if let nul = message.firstIndex(of: 0) { message.removeSubrange(nul...) }
        clua_pop(L, 1)
        lua_getfield(L, -1, "source")
        let source = lua_type(L, -1) == LUA_TSTRING ? string(at: -1) : nil
        clua_pop(L, 1)
        lua_getfield(L, -1, "line")
        let line = lua_type(L, -1) == LUA_TNUMBER ? Int(lua_tonumber(L, -1)) : nil
        clua_pop(L, 1)
        if let source, let line {
            message += Array(" script: \(sha), on \(source):\(line).".utf8)
        }
        reply.error(bytes: message)
    }

    // MARK: - Lua values to replies

    /// Lua's number to an integer reply as C's `(long long)` cast does on x86-64 (out of
    /// range and NaN give the smallest integer), without trapping.
    @inline(__always)
    static func truncate(_ value: Double) -> Int {
        guard value.isFinite, value > -9.223_372_036_854_775_808e18 - 1, value < 9.223_372_036_854_775_808e18 else {
            return Int.min
        }
        return value >= -9.223_372_036_854_775_808e18 ? Int(value) : Int.min
    }

    /// Writes the Lua value at `index` (absolute) as Redis converts a script's result.
    func writeReply(at index: Int32, to reply: inout RESPReplyWriter, depth: Int) {
        switch lua_type(L, index) {
        case LUA_TSTRING:
            var length = 0
            let pointer = lua_tolstring(L, index, &length)!
            reply.bulk(UnsafeRawBufferPointer(start: pointer, count: length))
        case LUA_TBOOLEAN:
            let value = lua_toboolean(L, index) != 0
            if scriptProtocol == .resp2 {
                if value { reply.integer(1) } else { reply.null() }
            } else {
                reply.boolean(value)
            }
        case LUA_TNUMBER:
            reply.integer(Self.truncate(lua_tonumber(L, index)))
        case LUA_TTABLE:
            guard depth < Self.maxDepth, lua_checkstack(L, 6) != 0 else {
                reply.error("ERR reached lua stack limit")
                return
            }
            writeTable(at: index, to: &reply, depth: depth)
        default:
            reply.null()
        }
    }

    private func writeTable(at index: Int32, to reply: inout RESPReplyWriter, depth: Int) {
        lua_getfield(L, index, "err")
        if lua_type(L, -1) == LUA_TSTRING {
            let message = bytes(at: -1)
            clua_pop(L, 1)
            reply.error(bytes: message)
            return
        }
        clua_pop(L, 1)
        lua_getfield(L, index, "ok")
        if lua_type(L, -1) == LUA_TSTRING {
            var status = bytes(at: -1)
            clua_pop(L, 1)
            for i in status.indices where status[i] == 0x0D || status[i] == 0x0A { status[i] = UInt8(ascii: " ") }
            reply.buffer.writeInteger(UInt8(ascii: "+"))
            reply.buffer.writeBytes(status)
            reply.buffer.writeStaticString("\r\n")
            return
        }
        clua_pop(L, 1)
        lua_getfield(L, index, "double")
        if lua_type(L, -1) == LUA_TNUMBER {
            let value = lua_tonumber(L, -1)
            clua_pop(L, 1)
            reply.double(value)
            return
        }
        clua_pop(L, 1)
        lua_getfield(L, index, "big_number")
        if lua_type(L, -1) == LUA_TSTRING {
            var number = bytes(at: -1)
            clua_pop(L, 1)
            for i in number.indices where number[i] == 0x0D || number[i] == 0x0A { number[i] = UInt8(ascii: " ") }
            if reply.version == .resp3 {
                reply.buffer.writeInteger(UInt8(ascii: "("))
                reply.buffer.writeBytes(number)
                reply.buffer.writeStaticString("\r\n")
            } else {
                reply.bulk(number)
            }
            return
        }
        clua_pop(L, 1)
        lua_getfield(L, index, "verbatim_string")
        if lua_type(L, -1) == LUA_TTABLE {
            lua_getfield(L, -1, "format")
            lua_getfield(L, -2, "string")
            if lua_type(L, -2) == LUA_TSTRING, lua_type(L, -1) == LUA_TSTRING {
                let format = bytes(at: -2), text = bytes(at: -1)
                clua_pop(L, 3)
                if reply.version == .resp3 {
                    reply.buffer.writeString("=\(text.count + 4)\r\n")
                    reply.buffer.writeBytes(format.prefix(3))
                    reply.buffer.writeInteger(UInt8(ascii: ":"))
                    reply.buffer.writeBytes(text)
                    reply.buffer.writeStaticString("\r\n")
                } else {
                    reply.bulk(text)
                }
                return
            }
            clua_pop(L, 2)
        }
        clua_pop(L, 1)
        lua_getfield(L, index, "map")
        if lua_type(L, -1) == LUA_TTABLE {
            let map = lua_gettop(L)
            reply.mapHeader(pairCount(map))
            lua_pushnil(L)
            while lua_next(L, map) != 0 {
                writeReply(at: lua_gettop(L) - 1, to: &reply, depth: depth + 1)
                writeReply(at: lua_gettop(L), to: &reply, depth: depth + 1)
                clua_pop(L, 1)
            }
            clua_pop(L, 1)
            return
        }
        clua_pop(L, 1)
        lua_getfield(L, index, "set")
        if lua_type(L, -1) == LUA_TTABLE {
            let set = lua_gettop(L)
            reply.setHeader(pairCount(set))
            lua_pushnil(L)
            while lua_next(L, set) != 0 {
                writeReply(at: lua_gettop(L) - 1, to: &reply, depth: depth + 1)
                clua_pop(L, 1)
            }
            clua_pop(L, 1)
            return
        }
        clua_pop(L, 1)
        // An array: elements 1, 2, … up to the first nil.
        var count: Int32 = 0
        while true {
            lua_rawgeti(L, index, count + 1)
            let isNil = clua_isnil(L, -1) != 0
            clua_pop(L, 1)
            if isNil { break }
            count += 1
        }
        reply.arrayHeader(Int(count))
        var i: Int32 = 1
        while i <= count {
            lua_rawgeti(L, index, i)
            writeReply(at: lua_gettop(L), to: &reply, depth: depth + 1)
            clua_pop(L, 1)
            i += 1
        }
    }

    private func pairCount(_ table: Int32) -> Int {
        var count = 0
        lua_pushnil(L)
        while lua_next(L, table) != 0 {
            count += 1
            clua_pop(L, 1)
        }
        return count
    }

    private func bytes(at index: Int32) -> [UInt8] {
        var length = 0
        guard let pointer = lua_tolstring(L, index, &length) else { return [] }
        return Array(UnsafeRawBufferPointer(start: pointer, count: length))
    }

    private func string(at index: Int32) -> String? {
        var length = 0
        guard let pointer = lua_tolstring(L, index, &length) else { return nil }
        return String(decoding: UnsafeRawBufferPointer(start: pointer, count: length), as: UTF8.self)
    }

    // MARK: - redis.call

    /// `__strata_call(...)`: returns the converted reply and whether it is an error.
    fileprivate func redisCall() -> Int32 {
        let count = lua_gettop(L)
        guard count > 0 else {
            return callFailed("ERR Please specify at least one argument for this redis lib call")
        }
        argumentBuffer.clear()
        spans.removeAll(keepingCapacity: true)
        for i in 1...count {
            let start = argumentBuffer.writerIndex
            switch lua_type(L, i) {
            case LUA_TNUMBER:
                Self.writeNumber(lua_tonumber(L, i), to: &argumentBuffer)
            case LUA_TSTRING:
                var length = 0
                let pointer = lua_tolstring(L, i, &length)!
                argumentBuffer.writeBytes(UnsafeRawBufferPointer(start: pointer, count: length))
            default:
                lua_settop(L, 0)
                return callFailed("ERR Lua redis lib command arguments must be strings or integers")
            }
            spans.append(ArgumentSpan(offset: start - argumentBuffer.readerIndex, length: argumentBuffer.writerIndex - start))
        }
        lua_settop(L, 0)
        guard let call else { return callFailed("ERR redis.call/pcall can only be called inside a script invocation") }
        callReply.buffer.clear()
        callReply.version = scriptProtocol
        if call(argumentBuffer, spans, &callReply), let running {
            running.wrote.store(true, ordering: .relaxed)
        }
        let failed = callReply.buffer.readableBytes > 0 && callReply.buffer.getInteger(at: callReply.buffer.readerIndex, as: UInt8.self) == UInt8(ascii: "-")
        callReply.buffer.withUnsafeReadableBytes { bytes in
            var position = 0
            pushReply(bytes, &position, depth: 0)
        }
        lua_pushboolean(L, failed ? 1 : 0)
        return 2
    }

    private func callFailed(_ message: String) -> Int32 {
        pushErrorTable(Array(message.utf8), hasCode: true)
        lua_pushboolean(L, 1)
        return 2
    }

    /// `%.17g`, as Redis formats a Lua number given to `redis.call`.
    static func writeNumber(_ value: Double, to buffer: inout ByteBuffer) {
        if value == value.rounded(), abs(value) < 1e15, !(value == 0 && value.sign == .minus) {
            buffer.writeString(String(Int(value)))
            return
        }
        withUnsafeTemporaryAllocation(of: CChar.self, capacity: 32) { text in
            let length = withVaList([value]) { vsnprintf(text.baseAddress!, 32, "%.17g", $0) }
            buffer.writeBytes(UnsafeRawBufferPointer(start: text.baseAddress!, count: Int(min(max(length, 0), 31))))
        }
    }

    /// Pushes `{err = "CODE message"}`. `hasCode`: the text starts with its code (a reply's
    /// error line); otherwise (Redis's `luaPushErrorBuff` without `-`) it gets `ERR`.
    private func pushErrorTable(_ text: [UInt8], hasCode: Bool) {
        var code: ArraySlice<UInt8> = ArraySlice("ERR".utf8)
        var message = text[...]
        if hasCode {
            if let space = text.firstIndex(of: UInt8(ascii: " ")) {
                code = text[..<space]
                message = text[(space + 1)...]
            }
        }
        while let first = message.first, first == 0x0D || first == 0x0A { message = message.dropFirst() }
        while let last = message.last, last == 0x0D || last == 0x0A { message = message.dropLast() }
        let full = Array(code) + [UInt8(ascii: " ")] + Array(message)
        lua_createtable(L, 0, 1)
        full.withUnsafeBufferPointer { bytes in
            bytes.baseAddress!.withMemoryRebound(to: CChar.self, capacity: max(bytes.count, 1)) {
                lua_pushlstring(L, $0, bytes.count)
            }
        }
        lua_setfield(L, -2, "err")
    }

    // MARK: - Replies to Lua values

    private func pushBytes(_ bytes: UnsafeRawBufferPointer, _ range: Range<Int>) {
        let base = bytes.baseAddress!.assumingMemoryBound(to: CChar.self)
        lua_pushlstring(L, base + range.lowerBound, range.count)
    }

    /// Pushes the reply at `position` in `bytes` as Redis converts `redis.call`'s replies, and
    /// moves `position` past it. The reply comes from a command of this server, so it is well formed.
    func pushReply(_ bytes: UnsafeRawBufferPointer, _ position: inout Int, depth: Int) {
        let start = position
        let marker = bytes[position]
        var cr = position + 1
        while bytes[cr] != 0x0D { cr += 1 }
        let line = (position + 1)..<cr
        position = cr + 2
        if depth >= Self.maxDepth || lua_checkstack(L, 6) == 0 {
            // Skip the value (too deep to convert): nil in its place.
            position = start
            skipReply(bytes, &position)
            lua_pushnil(L)
            return
        }
        let number = { RESPNumber.parseInt(UnsafeRawBufferPointer(rebasing: bytes[line])) ?? 0 }
        switch marker {
        case UInt8(ascii: "+"):
            lua_createtable(L, 0, 1)
            pushBytes(bytes, line)
            lua_setfield(L, -2, "ok")
        case UInt8(ascii: "-"):
            pushErrorTable(Array(bytes[line]), hasCode: true)
        case UInt8(ascii: ":"):
            lua_pushnumber(L, Double(number()))
        case UInt8(ascii: "$"):
            let length = number()
            if length < 0 {
                lua_pushboolean(L, 0)
            } else {
                pushBytes(bytes, position..<(position + length))
                position += length + 2
            }
        case UInt8(ascii: "*"), UInt8(ascii: ">"):
            let count = number()
            if count < 0 {
                lua_pushboolean(L, 0)
                return
            }
            lua_createtable(L, Int32(clamping: count), 0)
            var i = 0
            while i < count {
                pushReply(bytes, &position, depth: depth + 1)
                lua_rawseti(L, -2, Int32(clamping: i + 1))
                i += 1
            }
        case UInt8(ascii: "%"):
            let count = number()
            lua_createtable(L, 0, 1)
            lua_createtable(L, 0, Int32(clamping: count))
            var i = 0
            while i < count {
                pushReply(bytes, &position, depth: depth + 1)
                pushReply(bytes, &position, depth: depth + 1)
                if lua_type(L, -2) == LUA_TNIL { clua_pop(L, 2) } else { lua_settable(L, -3) }
                i += 1
            }
            lua_setfield(L, -2, "map")
        case UInt8(ascii: "~"):
            let count = number()
            lua_createtable(L, 0, 1)
            lua_createtable(L, 0, Int32(clamping: count))
            var i = 0
            while i < count {
                pushReply(bytes, &position, depth: depth + 1)
                if lua_type(L, -1) == LUA_TNIL {
                    clua_pop(L, 1)
                } else {
                    lua_pushboolean(L, 1)
                    lua_settable(L, -3)
                }
                i += 1
            }
            lua_setfield(L, -2, "set")
        case UInt8(ascii: ","):
            let text = String(decoding: UnsafeRawBufferPointer(rebasing: bytes[line]), as: UTF8.self)
            let value: Double
            switch text {
            case "inf": value = .infinity
            case "-inf": value = -.infinity
            case "nan", "-nan": value = .nan
            default: value = Double(text) ?? 0
            }
            lua_createtable(L, 0, 1)
            lua_pushnumber(L, value)
            lua_setfield(L, -2, "double")
        case UInt8(ascii: "("):
            lua_createtable(L, 0, 1)
            pushBytes(bytes, line)
            lua_setfield(L, -2, "big_number")
        case UInt8(ascii: "_"):
            lua_pushnil(L)
        case UInt8(ascii: "#"):
            lua_pushboolean(L, bytes[line.lowerBound] == UInt8(ascii: "t") ? 1 : 0)
        case UInt8(ascii: "="):
            let length = number()
            lua_createtable(L, 0, 1)
            lua_createtable(L, 0, 2)
            pushBytes(bytes, position..<(position + min(3, length)))
            lua_setfield(L, -2, "format")
            pushBytes(bytes, (position + min(4, length))..<(position + length))
            lua_setfield(L, -2, "string")
            lua_setfield(L, -2, "verbatim_string")
            position += length + 2
        case UInt8(ascii: "|"):
            // Attributes are not shown to scripts: skip them, then convert the value.
            var pairs = number() * 2
            while pairs > 0 {
                skipReply(bytes, &position)
                pairs -= 1
            }
            pushReply(bytes, &position, depth: depth)
        default:
            lua_pushnil(L)
        }
    }

    /// Moves `position` past one reply without converting it.
    private func skipReply(_ bytes: UnsafeRawBufferPointer, _ position: inout Int) {
        var scanner = RESPReplyScanner()
        let rest = UnsafeRawBufferPointer(rebasing: bytes[position...])
        var buffer = ByteBuffer()
        buffer.writeBytes(rest)
        if let length = try? scanner.scan(buffer) { position += length } else { position = bytes.count }
    }

    // MARK: - Other primitives and the hook

    /// Pushes `{err = "ERR <message>"}` and returns -1: the C function raises it.
    private func raise(_ message: String) -> Int32 {
        pushErrorTable(Array(message.utf8), hasCode: false)
        return -1
    }

    /// Lua's `lua_tonumber` truncated as C's `(int)` cast.
    private func intArgument(_ index: Int32) -> Int {
        let value = lua_tonumber(L, index)
        return value.isFinite && abs(value) < 1e18 ? Int(value) : Int.min
    }

    fileprivate func sha1() -> Int32 {
        guard lua_gettop(L) == 1 else { return raise("wrong number of arguments") }
        var length = 0
        let pointer = lua_tolstring(L, 1, &length)
        let digest = pointer.map { SHA1.hex(UnsafeRawBufferPointer(start: $0, count: length)) } ?? SHA1.hex([UInt8]())
        lua_pushstring(L, digest)
        return 1
    }

    /// `redis.log(level, ...)`: checked as Redis does, then dropped (Strata's log has no
    /// place for script messages).
    fileprivate func log() -> Int32 {
        let count = lua_gettop(L)
        guard count >= 2 else { return raise("redis.log() requires two arguments or more.") }
        guard lua_isnumber(L, 1) != 0 else { return raise("First argument must be a number (log level).") }
        guard (0...3).contains(intArgument(1)) else { return raise("Invalid debug level.") }
        return 0
    }

    fileprivate func setProtocol() -> Int32 {
        guard lua_gettop(L) == 1 else { return raise("redis.setresp() requires one argument.") }
        switch intArgument(1) {
        case 2: scriptProtocol = .resp2
        case 3: scriptProtocol = .resp3
        default: return raise("RESP version must be 2 or 3.")
        }
        return 0
    }

    /// `redis.set_repl`: Strata has no replicas; the flags are checked and have no effect.
    fileprivate func setReplication() -> Int32 {
        guard lua_gettop(L) == 1 else { return raise("redis.set_repl() requires two arguments.") }
        guard (0...3).contains(intArgument(1)) else {
            return raise("Invalid replication flags. Use REPL_AOF, REPL_REPLICA, REPL_ALL or REPL_NONE.")
        }
        return 0
    }

    /// Called every ``hookInstructions`` instructions: marks the script busy past the threshold;
    /// 1 when it must stop (SCRIPT KILL), 2 when a library's code runs past its load timeout.
    fileprivate static func hookShouldStop() -> Int {
        guard let pointer = pthread_getspecific(key) else { return 0 }
        let engine = Unmanaged<LuaEngine>.fromOpaque(pointer).takeUnretainedValue()
        if let deadline = engine.loadDeadline { return ScriptCache.monotonicMilliseconds() > deadline ? 2 : 0 }
        guard let run = engine.running, let cache = engine.runningCache else { return 0 }
        cache.checkBusy(run)
        return run.isKillRequested ? 1 : 0
    }
}

@inline(__always)
private func engine(_ L: OpaquePointer?) -> LuaEngine {
    Unmanaged<LuaEngine>.fromOpaque(lua_touserdata(L, clua_upvalueindex(1))!).takeUnretainedValue()
}

// The C functions of the API. The Swift work returns first, so that a `lua_error` (a
// `longjmp`) leaves no Swift frame with live objects behind it.

/// `redis.call`: raises the error reply (as `{err=...}`) instead of returning it.
private func luaRedisCall(_ L: OpaquePointer?) -> Int32 {
    _ = engine(L).redisCall()
    let failed = lua_toboolean(L, -1) != 0
    clua_pop(L, 1)
    return failed ? lua_error(L) : 1
}

private func luaRedisPCall(_ L: OpaquePointer?) -> Int32 {
    _ = engine(L).redisCall()
    clua_pop(L, 1)
    return 1
}

@inline(__always)
private func raising(_ L: OpaquePointer?, _ results: Int32) -> Int32 {
    results < 0 ? lua_error(L) : results
}

private func luaSha1(_ L: OpaquePointer?) -> Int32 { raising(L, engine(L).sha1()) }
private func luaLog(_ L: OpaquePointer?) -> Int32 { raising(L, engine(L).log()) }
private func luaSetResp(_ L: OpaquePointer?) -> Int32 { raising(L, engine(L).setProtocol()) }
private func luaSetRepl(_ L: OpaquePointer?) -> Int32 { raising(L, engine(L).setReplication()) }

/// The instruction hook. When a script is killed it raises the error here, a C-convention
/// function holding no Swift object across the `longjmp` of `lua_error`.
private func luaHook(_ L: OpaquePointer?, _ debug: UnsafeMutablePointer<lua_Debug>?) {
    switch LuaEngine.hookShouldStop() {
    case 1:
        lua_pushstring(L, "Script killed by user with SCRIPT KILL...")
        _ = lua_error(L)
    case 2:
        lua_createtable(L, 0, 1)
        lua_pushstring(L, "ERR FUNCTION LOAD timeout")
        lua_setfield(L, -2, "err")
        _ = lua_error(L)
    default:
        break
    }
}
