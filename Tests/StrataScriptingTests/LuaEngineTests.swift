import Foundation
import NIOCore
import StrataRESP
import Synchronization
import Testing
@testable import StrataScripting

/// The engine alone: scripts whose `redis.call` returns canned replies, so that both
/// conversions (reply → Lua, Lua → reply) are checked without a keyspace.
@Suite("Lua engine")
struct LuaEngineTests {
    /// Runs `source` with every `redis.call` answered by `canned` (RESP text); the reply's text.
    func run(_ source: String, keys: [String] = [], argv: [String] = [], version: RESPVersion = .resp2,
             cache: ScriptCache = ScriptCache(), canned: String = "+OK\r\n", writes: Bool = false,
             seen: ((String) -> Void)? = nil) -> String {
        var buffer = ByteBuffer()
        var spans: [ArgumentSpan] = []
        for word in keys + argv {
            spans.append(ArgumentSpan(offset: buffer.writerIndex, length: word.utf8.count))
            buffer.writeString(word)
        }
        let script = try! Script.parse(Array(source.utf8)).get()
        var reply = RESPReplyWriter(buffer: ByteBuffer(), version: version)
        LuaEngine.current.run(script, arguments: buffer, keys: spans[0..<keys.count], argv: spans[keys.count...],
                              cache: cache, reply: &reply) { arguments, spans, reply in
            if let seen {
                seen(spans.map { span in arguments.getString(at: arguments.readerIndex + span.offset, length: span.length)! }
                    .joined(separator: " "))
            }
            reply.buffer.writeString(canned)
            return writes
        }
        return String(buffer: reply.buffer)
    }

    @Test("Lua values to replies: numbers truncate, booleans, nil, arrays up to the first nil")
    func luaToReply() {
        #expect(run("return 3.99") == ":3\r\n")
        #expect(run("return -3.7") == ":-3\r\n")
        #expect(run("return 2^63") == ":-9223372036854775808\r\n")
        #expect(run("return 0/0") == ":-9223372036854775808\r\n")
        #expect(run("return true") == ":1\r\n")
        #expect(run("return false") == "$-1\r\n")
        #expect(run("return nil") == "$-1\r\n")
        #expect(run("return {1, 'a', {2}, nil, 5}") == "*3\r\n:1\r\n$1\r\na\r\n*1\r\n:2\r\n")
        #expect(run("return {ok='fine'}") == "+fine\r\n")
        #expect(run("return {err='My err'}") == "-My err\r\n")
        #expect(run("return {err=1}") == "*0\r\n")
        #expect(run("return redis.error_reply('boom')") == "-ERR boom\r\n")
        #expect(run("return redis.error_reply('-X boom')") == "-X boom\r\n")
        #expect(run("return redis.status_reply('st')") == "+st\r\n")
    }

    @Test("RESP3 values under redis.setresp(3), to a RESP3 and a RESP2 client")
    func resp3Results() {
        #expect(run("redis.setresp(3) return true", version: .resp3) == "#t\r\n")
        #expect(run("redis.setresp(3) return false", version: .resp2) == ":0\r\n")
        #expect(run("return {double=3.5}", version: .resp3) == ",3.5\r\n")
        #expect(run("return {double=3.5}") == "$3\r\n3.5\r\n")
        #expect(run("return {map={a=1}}", version: .resp3) == "%1\r\n$1\r\na\r\n:1\r\n")
        #expect(run("return {map={a=1}}") == "*2\r\n$1\r\na\r\n:1\r\n")
        #expect(run("return {set={a=true}}", version: .resp3) == "~1\r\n$1\r\na\r\n")
        #expect(run("return {big_number='123'}", version: .resp3) == "(123\r\n")
        #expect(run("return {big_number='123'}") == "$3\r\n123\r\n")
    }

    @Test("Replies to Lua values: every RESP2 and RESP3 type", arguments: [
        (":5\r\n", "return type(redis.call('x')) .. redis.call('x')", "$7\r\nnumber5\r\n"),
        ("$3\r\nabc\r\n", "return redis.call('x')", "$3\r\nabc\r\n"),
        ("$-1\r\n", "return type(redis.call('x'))", "$7\r\nboolean\r\n"),
        ("*-1\r\n", "return tostring(redis.call('x'))", "$5\r\nfalse\r\n"),
        ("+PONG\r\n", "return redis.call('x').ok", "$4\r\nPONG\r\n"),
        ("-WRONGTYPE bad\r\n", "return redis.pcall('x').err", "$13\r\nWRONGTYPE bad\r\n"),
        ("-nocode\r\n", "return redis.pcall('x').err", "$10\r\nERR nocode\r\n"),
        ("*2\r\n:1\r\n*1\r\n$1\r\nz\r\n", "local t = redis.call('x') return {t[1], t[2][1]}", "*2\r\n:1\r\n$1\r\nz\r\n"),
        ("%1\r\n$1\r\nk\r\n$1\r\nv\r\n", "return redis.call('x').map.k", "$1\r\nv\r\n"),
        ("~2\r\n$1\r\na\r\n$1\r\nb\r\n", "local s = redis.call('x').set return {s.a, s.b}", "*2\r\n:1\r\n:1\r\n"),
        (",2.5\r\n", "return tostring(redis.call('x').double)", "$3\r\n2.5\r\n"),
        ("(12345678901234567890\r\n", "return redis.call('x').big_number", "$20\r\n12345678901234567890\r\n"),
        ("_\r\n", "return type(redis.call('x'))", "$3\r\nnil\r\n"),
        ("#t\r\n", "return type(redis.call('x'))", "$7\r\nboolean\r\n"),
        ("=7\r\ntxt:abc\r\n", "local v = redis.call('x').verbatim_string return v.format .. v.string", "$6\r\ntxtabc\r\n"),
        ("|1\r\n+a\r\n+b\r\n:7\r\n", "return redis.call('x')", ":7\r\n"),
    ] as [(String, String, String)])
    func replyToLua(_ canned: String, _ source: String, _ expected: String) {
        #expect(run(source, canned: canned) == expected)
    }

    @Test("redis.call's arguments: numbers as %.17g, strings as they are, other types refused")
    func callArguments() {
        var seen: [String] = []
        _ = run("redis.call('set', KEYS[1], 1.5, 3, 0.1, ARGV[1])", keys: ["k"], argv: ["a b"], seen: { seen.append($0) })
        #expect(seen == ["set k 1.5 3 0.10000000000000001 a b"])
        #expect(run("return redis.call('set', true)").hasPrefix("-ERR Lua redis lib command arguments must be strings or integers script: "))
        #expect(run("return redis.pcall()") == "-ERR Please specify at least one argument for this redis lib call\r\n")
    }

    @Test("Errors carry the script's sha and line; compile errors name the chunk")
    func errors() {
        // SHA1("error('plain')") as redis-server reports it.
        #expect(run("error('plain')")
            == "-ERR user_script:1: plain script: 7c69090d716b3b899dd0365cfdda40b6cf8ae98d, on @user_script:1.\r\n")
        #expect(run("return 1 +") == "-ERR Error compiling script (new function): user_script:1: unexpected symbol near '<eof>'\r\n")
        #expect(run("return redis.call('x')", canned: "-ERR value is not an integer or out of range\r\n")
            == "-ERR value is not an integer or out of range script: \(SHA1.hex(Array("return redis.call('x')".utf8))), on @user_script:1.\r\n")
        let pcalled = run("local ok, e = pcall(redis.call, 'x') return e", canned: "-ERR nope\r\n")
        #expect(pcalled == "$8\r\nERR nope\r\n")
        #expect(run("#!lua\nerror('x')").contains("user_script:2: x"))
    }

    @Test("The sandbox: no os, io, loadfile, require; globals cannot be created or changed")
    func sandbox() {
        for name in ["os", "io", "loadfile", "dofile", "require", "print", "debug", "setfenv", "getfenv", "module"] {
            #expect(run("return type(\(name))").contains("Script attempted to access nonexistent global variable '\(name)'"))
        }
        #expect(run("x = 5").contains("user_script:1: Attempt to modify a readonly table"))
        #expect(run("redis.call = nil").contains("Attempt to modify a readonly table"))
        #expect(run("string.upper = nil").contains("Attempt to modify a readonly table"))
        #expect(run("rawset(_G, 'zz', 1) return zz").hasPrefix("-ERR Attempt to modify a readonly table script:"))
        #expect(run("return loadstring('x = 1')()").contains("Attempt to modify a readonly table"))
        // Nothing leaks from one script to the next.
        _ = run("KEYS.leak = 1")
        #expect(run("return tostring(KEYS.leak)") == "$3\r\nnil\r\n")
        #expect(run("return cjson.encode(cjson.decode('{\"a\":[1,2.5,null,true]}'))") == "$23\r\n{\"a\":[1,2.5,null,true]}\r\n")
        #expect(run("return bit.tohex(bit.bor(1, 2, 4))") == "$8\r\n00000007\r\n")
    }

    @Test("SCRIPT FLUSH makes a state forget what it compiled")
    func flushGeneration() {
        let cache = ScriptCache()
        let script = try! Script.parse(Array("return 1".utf8)).get()
        #expect(LuaEngine.current.compile(script, cache: cache) == nil)
        cache.add(script)
        #expect(cache.contains(sha: "e0e1f9fabfc9d4800c877a703b823ac0578ff8db"))
        let before = cache.generation
        cache.flush()
        #expect(!cache.contains(sha: script.sha))
        #expect(cache.generation != before)
    }

    @Test("Shebang flags and their errors (Redis's texts)")
    func shebang() {
        func parse(_ text: String) -> Result<Script, ScriptError> { Script.parse(Array(text.utf8)) }
        #expect(try! parse("#!lua flags=no-writes,allow-oom\nreturn 1").get().flags == [.noWrites, .allowOOM])
        #expect(try! parse("#!lua\nreturn 1").get().hasShebang)
        #expect(try! parse("return 1").get().hasShebang == false)
        #expect(parse("#!lua flags=bogus\nreturn 1") == .failure(ScriptError("ERR Unexpected flag in script shebang: bogus")))
        #expect(parse("#!lua x=1\n") == .failure(ScriptError("ERR Unknown lua shebang option: x=1")))
        #expect(parse("#!py\n") == .failure(ScriptError("ERR Unexpected engine in script shebang: #!py")))
        #expect(parse("#!lua") == .failure(ScriptError("ERR Invalid script shebang")))
    }

    @Test("A script past busy-reply-threshold is busy; SCRIPT KILL stops it unless it wrote")
    func busyAndKill() async throws {
        let cache = ScriptCache()
        cache.busyThreshold.store(50, ordering: .relaxed)
        #expect(cache.kill() == .notBusy)
        let result = Mutex<String?>(nil)
        let thread = Thread {
            let text = LuaEngineTests().run("local i = 0 while true do i = i + 1 end", cache: cache)
            result.withLock { $0 = text }
        }
        thread.start()
        var waited = 0
        while !cache.isBusy && waited < 200 {
            try await Task.sleep(for: .milliseconds(20))
            waited += 1
        }
        #expect(cache.isBusy)
        #expect(cache.kill() == .killed)
        waited = 0
        while result.withLock({ $0 }) == nil && waited < 200 {
            try await Task.sleep(for: .milliseconds(20))
            waited += 1
        }
        #expect(result.withLock { $0 }?.hasPrefix("-ERR Script killed by user with SCRIPT KILL... script: ") == true)
        #expect(!cache.isBusy)
        #expect(cache.kill() == .notBusy)
    }

    @Test("A busy script that has written is unkillable and runs to its end")
    func unkillable() async throws {
        let cache = ScriptCache()
        cache.busyThreshold.store(50, ordering: .relaxed)
        let result = Mutex<String?>(nil)
        let thread = Thread {
            let text = LuaEngineTests().run("redis.call('set', 'k', 'v') local i = 0 while i < 300000000 do i = i + 1 end return i",
                                            cache: cache, writes: true)
            result.withLock { $0 = text }
        }
        thread.start()
        var waited = 0
        while !cache.isBusy && result.withLock({ $0 }) == nil && waited < 1000 {
            try await Task.sleep(for: .milliseconds(10))
            waited += 1
        }
        #expect(result.withLock { $0 } == nil, "the script ended before it was seen busy")
        let outcome = cache.kill()
        while result.withLock({ $0 }) == nil && waited < 5000 {
            try await Task.sleep(for: .milliseconds(20))
            waited += 1
        }
        #expect(outcome == .unkillable)
        #expect(result.withLock { $0 } == ":300000000\r\n")
        #expect(!cache.isBusy)
    }
}
