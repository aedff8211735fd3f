import StrataCommands
import StrataRESP
import Testing

/// FUNCTION and FCALL through the dispatcher; expected texts are redis-server 7.0.15's.
@Suite("Function commands")
struct FunctionCommandTests {
    static let library = """
        #!lua name=lib
        redis.register_function('echo', function(keys, args) return args[1] end)
        redis.register_function('incr', function(keys) return redis.call('incr', keys[1]) end)
        redis.register_function{function_name='peek', callback=function(keys) return redis.call('get', keys[1]) end, flags={'no-writes'}}
        """

    @Test("FUNCTION LOAD registers a library; FCALL runs its functions with keys and arguments")
    func loadAndCall() {
        let c = TestServer().client()
        #expect(c.raw("function", "load", Self.library) == "$3\r\nlib\r\n")
        #expect(c.raw("fcall", "echo", "0", "hi") == "$2\r\nhi\r\n")
        #expect(c.raw("fcall", "incr", "1", "n") == ":1\r\n")
        #expect(c.raw("fcall", "incr", "1", "n") == ":2\r\n")
        #expect(c.raw("get", "n") == "$1\r\n2\r\n")
        #expect(c.raw("fcall", "peek", "1", "n") == "$1\r\n2\r\n")
        // Errors from redis.call name the function, as Redis does.
        #expect(c.raw("set", "s", "x") == "+OK\r\n")
        #expect(c.raw("fcall", "incr", "1", "s")
            == "-ERR value is not an integer or out of range script: incr, on @user_function:3.\r\n")
        #expect(c.raw("fcall", "echo", "2", "a") == "-ERR Number of keys can't be greater than number of args\r\n")
        #expect(c.raw("fcall", "echo", "-1") == "-ERR Number of keys can't be negative\r\n")
        #expect(c.raw("fcall", "echo", "x") == "-ERR Bad number of keys provided\r\n")
        #expect(c.raw("fcall", "nosuch", "x") == "-ERR Function not found\r\n")
    }

    @Test("FCALL_RO runs no-writes functions and refuses the others")
    func readOnly() {
        let c = TestServer().client()
        _ = c.raw("function", "load", Self.library)
        #expect(c.raw("set", "k", "v") == "+OK\r\n")
        #expect(c.raw("fcall_ro", "peek", "1", "k") == "$1\r\nv\r\n")
        #expect(c.raw("fcall_ro", "incr", "1", "k") == "-ERR Can not execute a script with write flag using *_ro command.\r\n")
        #expect(c.raw("get", "k") == "$1\r\nv\r\n")
    }

    @Test("bad libraries are refused with Redis's reasons and change nothing")
    func badLibraries() {
        let c = TestServer().client()
        #expect(c.raw("function", "load", Self.library) == "$3\r\nlib\r\n")
        #expect(c.raw("function", "load", Self.library) == "-ERR Library 'lib' already exists\r\n")
        #expect(c.raw("function", "load", "#!lua name=other\nredis.register_function('echo', function() return 1 end)")
            == "-ERR Function echo already exists\r\n")
        #expect(c.raw("function", "load", "#!lua\nreturn 1") == "-ERR Library name was not given\r\n")
        #expect(c.raw("function", "load", "#!lua name=z\nreturn 1") == "-ERR No functions registered\r\n")
        #expect(c.raw("function", "load", "#!lua name=z foo=bar\nreturn 1") == "-ERR Invalid metadata value given: foo=bar\r\n")
        #expect(c.raw("function", "load", "#!py name=z\nreturn 1") == "-ERR Engine 'py' not found\r\n")
        #expect(c.raw("function", "load", "#!lua name=z\nredis.register_function('h', function() return 1 end, 5)")
            == "-ERR Error registering functions: ERR wrong number of arguments to redis.register_function\r\n")
        #expect(c.raw("function", "load", "#!lua name=z\nredis.call('ping')")
            == "-ERR Error registering functions: ERR user_function:2: Script attempted to access nonexistent global variable 'call'\r\n")
        #expect(c.raw("function", "load", "bogus", "x") == "-ERR Unknown option given: bogus\r\n")
        // Only the first library exists.
        #expect(c.call("function", "list").items.count == 1)
        #expect(c.raw("fcall", "h", "0") == "-ERR Function not found\r\n")
    }

    @Test("REPLACE swaps a library's functions; DELETE and FLUSH remove them")
    func replaceDeleteFlush() {
        let c = TestServer().client()
        _ = c.raw("function", "load", Self.library)
        #expect(c.raw("function", "load", "replace", "#!lua name=lib\nredis.register_function('echo', function() return 'new' end)")
            == "$3\r\nlib\r\n")
        #expect(c.raw("fcall", "echo", "0") == "$3\r\nnew\r\n")
        #expect(c.raw("fcall", "incr", "1", "n") == "-ERR Function not found\r\n")
        #expect(c.raw("function", "delete", "lib") == "+OK\r\n")
        #expect(c.raw("function", "delete", "lib") == "-ERR Library not found\r\n")
        #expect(c.raw("fcall", "echo", "0") == "-ERR Function not found\r\n")
        _ = c.raw("function", "load", Self.library)
        #expect(c.raw("function", "flush", "sync") == "+OK\r\n")
        #expect(c.raw("function", "list") == "*0\r\n")
    }

    @Test("FUNCTION LIST shows libraries, functions and flags, filtered by LIBRARYNAME, with WITHCODE")
    func list() {
        let c = TestServer().client()
        _ = c.raw("function", "load", Self.library)
        let libraries = c.call("function", "list", "withcode", "libraryname", "l*").items
        #expect(libraries.count == 1)
        let lib = libraries[0]
        #expect(lib[field: "library_name"] == bulk("lib"))
        #expect(lib[field: "engine"] == bulk("LUA"))
        #expect(lib[field: "library_code"] == bulk(Self.library))
        let functions = lib[field: "functions"]?.items ?? []
        let names = functions.compactMap { $0[field: "name"]?.string }
        #expect(Set(names) == ["echo", "incr", "peek"])
        let peek = functions.first { $0[field: "name"]?.string == "peek" }
        #expect(peek?[field: "flags"]?.items == [.simpleString("no-writes")])
        #expect(peek?[field: "description"] == .null)
        #expect(c.call("function", "list", "libraryname", "zz").items.isEmpty)
        #expect(c.call("function", "list").items[0][field: "library_code"] == nil)
    }

    @Test("FUNCTION DUMP and RESTORE carry the libraries, with FLUSH, APPEND and REPLACE")
    func dumpRestore() {
        let server = TestServer()
        let c = server.client()
        _ = c.raw("function", "load", Self.library)
        // A bulk string: `$<length>\r\n<payload>\r\n`.
        let reply = c.reply(bytes: [Array("function".utf8), Array("dump".utf8)])
        guard reply.first == UInt8(ascii: "$"), let end = reply.firstIndex(of: UInt8(ascii: "\r")),
              let length = Int(String(decoding: reply[1..<end], as: UTF8.self)) else {
            Issue.record("FUNCTION DUMP is not a bulk string")
            return
        }
        let dump = Array(reply[(end + 2)..<(end + 2 + length)])
        #expect(reply.count == end + 4 + length)
        func restore(_ c: TestClient, _ policy: String...) -> String {
            c.raw(bytes: [Array("function".utf8), Array("restore".utf8), dump] + policy.map { Array($0.utf8) })
        }
        #expect(restore(c) == "-ERR Library lib already exists\r\n")
        #expect(restore(c, "append") == "-ERR Library lib already exists\r\n")
        #expect(restore(c, "replace") == "+OK\r\n")
        #expect(restore(c, "bogus")
            == "-ERR Wrong restore policy given, value should be either FLUSH, APPEND or REPLACE.\r\n")
        #expect(c.raw("function", "restore", "bad") == "-ERR DUMP payload version or checksum are wrong\r\n")
        // The subcommand as the client spelled it (found by the differential test).
        #expect(c.raw("FUNCTION", "RESTORE", "x", "APPEND", "y")
            == "-ERR unknown subcommand or wrong number of arguments for 'RESTORE'. Try FUNCTION HELP.\r\n")
        #expect(c.raw("function", "Flush", "sync", "y")
            == "-ERR unknown subcommand or wrong number of arguments for 'Flush'. Try FUNCTION HELP.\r\n")
        // Into another server: the same functions work there.
        let d = TestServer().client()
        #expect(d.raw("function", "load", "#!lua name=gone\nredis.register_function('gone', function() return 1 end)") == "$4\r\ngone\r\n")
        #expect(restore(d, "flush") == "+OK\r\n")
        #expect(d.raw("fcall", "gone", "0") == "-ERR Function not found\r\n")
        #expect(d.raw("fcall", "echo", "0", "x") == "$1\r\nx\r\n")
    }

    @Test("FUNCTION STATS counts libraries and functions; functions run inside MULTI")
    func statsAndMulti() {
        let c = TestServer().client()
        _ = c.raw("function", "load", Self.library)
        let stats = c.call("function", "stats")
        #expect(stats[field: "running_script"] == .null || stats[field: "running_script"] == .nullArray)
        let lua = stats[field: "engines"]?[field: "LUA"]
        #expect(lua?[field: "libraries_count"] == int(1))
        #expect(lua?[field: "functions_count"] == int(3))
        #expect(c.raw("multi") == "+OK\r\n")
        #expect(c.raw("fcall", "incr", "1", "m") == "+QUEUED\r\n")
        #expect(c.raw("fcall", "incr", "1", "m") == "+QUEUED\r\n")
        #expect(c.raw("exec") == "*2\r\n:1\r\n:2\r\n")
    }

    @Test("FCALL is refused from a script, and FUNCTION is denied in scripts as in Redis")
    func notFromScripts() {
        let c = TestServer().client()
        _ = c.raw("function", "load", Self.library)
        #expect(c.raw("eval", "return redis.call('fcall', 'echo', '0', 'x')", "0").hasPrefix(
            "-ERR This Redis command is not allowed from script"))
        #expect(c.raw("eval", "return redis.call('function', 'flush')", "0").hasPrefix(
            "-ERR This Redis command is not allowed from script"))
    }
}
