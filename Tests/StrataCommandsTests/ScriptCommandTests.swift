import StrataCommands
import StrataRESP
import StrataStore
import Testing

/// EVAL and SCRIPT through the dispatcher; expected texts are redis-server 7.0.15's.
@Suite("Script commands")
struct ScriptCommandTests {
    @Test("EVAL with KEYS and ARGV; redis.call on every type, WRONGTYPE and pcall")
    func evalBasics() {
        let c = TestServer().client()
        #expect(c.raw("eval", "return {KEYS[1], ARGV[1], #KEYS, #ARGV}", "2", "a", "b", "c", "d")
            == "*4\r\n$1\r\na\r\n$1\r\nc\r\n:2\r\n:2\r\n")
        #expect(c.raw("eval", "return redis.call('set', KEYS[1], ARGV[1])", "1", "k", "v") == "+OK\r\n")
        #expect(c.raw("get", "k") == "$1\r\nv\r\n")
        c.call("rpush", "l", "a", "b")
        c.call("hset", "h", "f", "v")
        #expect(c.raw("eval", "return redis.call('lrange', KEYS[1], 0, -1)", "1", "l") == "*2\r\n$1\r\na\r\n$1\r\nb\r\n")
        #expect(c.raw("eval", "return redis.call('hgetall', KEYS[1])", "1", "h") == "*2\r\n$1\r\nf\r\n$1\r\nv\r\n")
        #expect(c.raw("eval", "return redis.call('incr', KEYS[1])", "1", "n") == ":1\r\n")
        #expect(c.raw("eval", "return type(redis.call('get', KEYS[1]))", "1", "missing") == "$7\r\nboolean\r\n")
        #expect(c.raw("eval", "return redis.call('get', KEYS[1])", "1", "l")
            .hasPrefix("-WRONGTYPE Operation against a key holding the wrong kind of value script: "))
        #expect(c.raw("eval", "return redis.pcall('get', KEYS[1])", "1", "l") == "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n")
        #expect(c.raw("eval", "return redis.call('incr','s')", "0") == ":1\r\n")
        c.call("set", "s", "abc")
        #expect(c.raw("eval", "return redis.call('incr','s')", "0")
            == "-ERR value is not an integer or out of range script: c243b9f46db13ba8f69da41b45a77708832babed, on @user_script:1.\r\n")
    }

    @Test("numkeys errors, NOSCRIPT, EVALSHA after EVAL and SCRIPT LOAD")
    func evalshaAndErrors() {
        let c = TestServer().client()
        #expect(c.raw("eval", "return 1", "3", "a") == "-ERR Number of keys can't be greater than number of args\r\n")
        #expect(c.raw("eval", "return 1", "-1") == "-ERR Number of keys can't be negative\r\n")
        #expect(c.raw("eval", "return 1", "x") == "-ERR value is not an integer or out of range\r\n")
        #expect(c.raw("eval", "return 1") == "-ERR wrong number of arguments for 'eval' command\r\n")
        let sha = "e0e1f9fabfc9d4800c877a703b823ac0578ff8db"
        #expect(c.raw("evalsha", sha, "0") == "-NOSCRIPT No matching script. Please use EVAL.\r\n")
        #expect(c.raw("evalsha", "abc", "0") == "-NOSCRIPT No matching script. Please use EVAL.\r\n")
        #expect(c.raw("script", "exists", sha, "x") == "*2\r\n:0\r\n:0\r\n")
        #expect(c.raw("eval", "return 1", "0") == ":1\r\n")
        #expect(c.raw("evalsha", sha.uppercased(), "0") == ":1\r\n")
        #expect(c.raw("script", "exists", sha, sha.uppercased()) == "*2\r\n:1\r\n:1\r\n")
        #expect(c.raw("script", "flush", "bogus") == "-ERR SCRIPT FLUSH only support SYNC|ASYNC option\r\n")
        #expect(c.raw("script", "flush", "async") == "+OK\r\n")
        #expect(c.raw("evalsha", sha, "0") == "-NOSCRIPT No matching script. Please use EVAL.\r\n")
        #expect(c.raw("script", "load", "return 1") == "$40\r\n\(sha)\r\n")
        #expect(c.raw("evalsha_ro", sha, "0") == ":1\r\n")
        #expect(c.raw("script", "load", "return 1 +")
            == "-ERR Error compiling script (new function): user_script:1: unexpected symbol near '<eof>'\r\n")
        #expect(c.raw("script", "load", "#!lua flags=bad\nreturn 1") == "-ERR Unexpected flag in script shebang: bad\r\n")
        #expect(c.raw("script", "kill") == "-NOTBUSY No scripts in execution right now.\r\n")
        #expect(c.raw("script", "foo") == "-ERR unknown subcommand 'foo'. Try SCRIPT HELP.\r\n")
    }

    @Test("Commands refused in scripts, read-only scripts, and the flags COMMAND INFO shows")
    func refusals() {
        let c = TestServer().client()
        for command in ["'multi'", "'eval','return 1','0'", "'blpop','k','0'", "'subscribe','x'", "'watch','k'", "'config','get','x'"] {
            let reply = c.raw("eval", "return redis.pcall(\(command))", "0")
            #expect(reply == "-ERR This Redis command is not allowed from script\r\n" || command == "'subscribe','x'", "\(command): \(reply)")
        }
        #expect(c.raw("eval", "return redis.pcall('nosuch')", "0") == "-ERR Unknown Redis command called from script\r\n")
        #expect(c.raw("eval", "return redis.pcall('get')", "0") == "-ERR Wrong number of args calling Redis command from script\r\n")
        #expect(c.raw("eval_ro", "return redis.call('set','a','1')", "0")
            == "-ERR Write commands are not allowed from read-only scripts. script: 67ed14c1cb086d8c2fcf91ebe13410ba087fd0f8, on @user_script:1.\r\n")
        #expect(c.raw("eval", "#!lua flags=no-writes\nreturn redis.call('set','a','1')", "0")
            == "-ERR Write commands are not allowed from read-only scripts. script: 71c6978aa8dbb43cfeb7536150d4b9326e6031a2, on @user_script:2.\r\n")
        #expect(c.raw("eval", "#!lua flags=no-writes\nreturn redis.call('get','a')", "0") == "$-1\r\n")
        #expect(c.raw("exists", "a") == ":0\r\n")
        let info = c.raw("command", "info", "eval", "multi", "script|kill")
        #expect(info.contains("+noscript\r\n+stale\r\n"))
        #expect(info.contains("allow_busy"))
    }

    @Test("Atomic as EXEC: inside MULTI, SELECT does not leak, undeclared keys of other shards are refused")
    func atomicity() {
        let server = TestServer()
        let c = server.client()
        #expect(c.raw("multi") == "+OK\r\n")
        #expect(c.raw("eval", "return redis.call('incr', KEYS[1])", "1", "n") == "+QUEUED\r\n")
        #expect(c.raw("eval", "return redis.call('incr', 'n')", "0") == "+QUEUED\r\n")
        #expect(c.raw("exec") == "*2\r\n:1\r\n:2\r\n")
        #expect(c.raw("eval", "redis.call('select', 2) return redis.call('set', 'k', '1')", "0") == "+OK\r\n")
        #expect(c.raw("exists", "k") == ":0\r\n")
        #expect(c.raw("select", "2") == "+OK\r\n")
        #expect(c.raw("exists", "k") == ":1\r\n")
        // Two keys in different shards: declaring one and touching the other is an error.
        let keyspace = server.context.keyspace
        func shard(_ key: String) -> Int { Array(key.utf8).withUnsafeBytes { keyspace.shardIndex(for: keyspace.hasher.hash($0)) } }
        let other = (0..<100).map { "k\($0)" }.first { shard($0) != shard("a") }!
        #expect(c.raw("eval", "return redis.pcall('set', '\(other)', '1')", "1", "a")
            == "-ERR Script attempted to access a non local key in a cluster node\r\n")
        #expect(c.raw("eval", "return redis.pcall('dbsize')", "1", "a")
            == "-ERR Script attempted to access a non local key in a cluster node\r\n")
        // Without declared keys the script holds every shard.
        #expect(c.raw("eval", "return redis.call('set', '\(other)', '1')", "0") == "+OK\r\n")
        #expect(c.raw("eval", "return redis.call('dbsize')", "0") == ":2\r\n")
    }

    @Test("busy-reply-threshold and its alias lua-time-limit")
    func busyThresholdConfig() {
        let c = TestServer().client()
        #expect(c.raw("config", "get", "busy-reply-threshold") == "*2\r\n$20\r\nbusy-reply-threshold\r\n$4\r\n5000\r\n")
        #expect(c.raw("config", "set", "lua-time-limit", "250") == "+OK\r\n")
        #expect(c.raw("config", "get", "busy-reply-threshold") == "*2\r\n$20\r\nbusy-reply-threshold\r\n$3\r\n250\r\n")
        #expect(c.server.context.scripts.busyThreshold.load(ordering: .relaxed) == 250)
    }

    @Test("Functions: FLUSH, LIST, DELETE, KILL and FCALL answer as Redis does with no library loaded")
    func functionsWithoutLibraries() {
        let c = TestServer().client()
        #expect(c.raw("function", "flush") == "+OK\r\n")
        #expect(c.raw("function", "flush", "async") == "+OK\r\n")
        #expect(c.raw("function", "flush", "bad") == "-ERR FUNCTION FLUSH only supports SYNC|ASYNC option\r\n")
        #expect(c.raw("function", "list") == "*0\r\n")
        #expect(c.raw("function", "list", "withcode", "libraryname", "x*") == "*0\r\n")
        #expect(c.raw("function", "list", "libraryname") == "-ERR library name argument was not given\r\n")
        #expect(c.raw("function", "list", "withcode", "withcode") == "-ERR Unknown argument withcode\r\n")
        #expect(c.raw("function", "delete", "x") == "-ERR Library not found\r\n")
        #expect(c.raw("function", "kill") == "-NOTBUSY No scripts in execution right now.\r\n")
        #expect(c.raw("fcall", "f", "0") == "-ERR Function not found\r\n")
        #expect(c.raw("fcall_ro", "f", "1", "k") == "-ERR Function not found\r\n")
    }
}
