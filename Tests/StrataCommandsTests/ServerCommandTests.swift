import StrataRESP
import Testing

@Suite("CONFIG, COMMAND and memory limits")
struct ServerCommandTests {
    @Test("CONFIG GET matches globs, lists each directive once")
    func configGet() {
        let c = TestServer().client()
        #expect(c.call("config", "get", "max*") == .array([
            bulk("maxclients"), bulk("10000"), bulk("maxmemory-clients"), bulk("0"), bulk("maxmemory"), bulk("0"),
            bulk("maxmemory-policy"), bulk("allkeys-lru"),
        ]))
        #expect(c.call("config", "get", "maxmemory", "port", "maxmemory") == .array([
            bulk("maxmemory"), bulk("0"), bulk("port"), bulk("6379"),
        ]))
        #expect(c.call("config", "get", "nosuch") == .array([]))
        #expect(c.call("config", "get", "p?rt") == .array([bulk("port"), bulk("6379")]))
        #expect(c.call("config", "get", "*").items.count >= 2 * 15)
    }

    @Test("CONFIG SET applies values and refuses bad ones with Redis's text", arguments: [
        (["nosuch", "1"], "ERR Unknown option or number of arguments for CONFIG SET - 'nosuch'"),
        (["maxmemory", "abc"], "ERR CONFIG SET failed (possibly related to argument 'maxmemory') - argument must be a memory value"),
        (["maxmemory", "-1"], "ERR CONFIG SET failed (possibly related to argument 'maxmemory') - argument must be a memory value"),
        (["hz", "abc"], "ERR CONFIG SET failed (possibly related to argument 'hz') - argument couldn't be parsed into an integer"),
        (["timeout", "-1"], "ERR CONFIG SET failed (possibly related to argument 'timeout') - argument must be between 0 and 2147483647 inclusive"),
        (["maxmemory", "1", "maxmemory", "2"], "ERR CONFIG SET failed (possibly related to argument 'maxmemory') - duplicate parameter"),
        (["databases", "3"], "ERR CONFIG SET failed (possibly related to argument 'databases') - can't set immutable config"),
        (["maxmemory", "10mb", "hz", "abc"], "ERR CONFIG SET failed (possibly related to argument 'hz') - argument couldn't be parsed into an integer"),
        (["maxmemory", "10mb", "hz"], "ERR wrong number of arguments for 'config|set' command"),
    ])
    func configSetErrors(_ arguments: [String], _ message: String) {
        let c = TestServer().client()
        #expect(c.call(["config", "set"] + arguments) == err(message))
        #expect(c.call("config", "get", "maxmemory") == .array([bulk("maxmemory"), bulk("0")]), "nothing changed")
    }

    @Test("CONFIG SET changes several values at once")
    func configSet() {
        let server = TestServer()
        let c = server.client()
        #expect(c.call("config", "set", "maxmemory", "1kb", "maxmemory-policy", "VOLATILE-LRU") == ok)
        #expect(c.call("config", "get", "maxmemory*") == .array([
            bulk("maxmemory-clients"), bulk("0"), bulk("maxmemory"), bulk("1024"), bulk("maxmemory-policy"), bulk("volatile-lru"),
        ]))
        #expect(server.context.keyspace.maxMemory == 1024)
        #expect(server.context.keyspace.policy == .volatileLRU)
        #expect(c.call("config", "set", "requirepass", "pw") == ok)
        #expect(server.context.requiresPassword)
        #expect(server.client().call("get", "k") == err("NOAUTH Authentication required."))
        #expect(c.call("get", "k") == .null, "a client already in stays in")
    }

    @Test("over maxmemory under noeviction, commands that add data get OOM; others still run")
    func oom() {
        let server = TestServer()
        let c = server.client()
        for i in 0..<50 { c.call("set", "key\(i)", String(repeating: "v", count: 100)) }
        #expect(c.call("config", "set", "maxmemory-policy", "noeviction") == ok)
        #expect(c.call("config", "set", "maxmemory", "1000") == ok)
        let oom = err("OOM command not allowed when used memory > 'maxmemory'.")
        #expect(c.call("set", "new", "x") == oom)
        #expect(c.call("incr", "counter") == oom)
        #expect(c.call("append", "key1", "x") == oom)
        #expect(c.call("get", "key1") == bulk(String(repeating: "v", count: 100)))
        #expect(c.call("dbsize") == int(50))
        #expect(c.call("del", "key1") == int(1))
        // Inside MULTI the refusal dooms the transaction.
        #expect(c.call("multi") == ok)
        #expect(c.call("set", "new", "x") == oom)
        #expect(c.call("exec") == err("EXECABORT Transaction discarded because of previous errors."))
        // With an evicting policy the same write succeeds and memory goes back under the limit.
        #expect(c.call("config", "set", "maxmemory-policy", "allkeys-lru", "maxmemory", "4000") == ok)
        #expect(c.call("set", "new", "x") == ok)
        #expect(server.context.keyspace.usedMemory <= 4000)
        #expect(server.context.keyspace.statistics().evictedKeys > 0)
    }

    @Test("COMMAND INFO has Redis's ten fields")
    func commandInfo() {
        let c = TestServer().client()
        let reply = c.call("command", "info", "get", "nosuchcommand", "GET")
        let items = reply.items
        #expect(items.count == 3)
        #expect(items[1] == .null)
        #expect(items[0] == items[2])
        let get = items[0].items
        guard get.count == 10 else { Issue.record("\(get.count) fields: \(reply)"); return }
        #expect(get[0] == bulk("get"))
        #expect(get[1] == int(2))
        #expect(get[2] == .array([.simpleString("readonly"), .simpleString("fast")]))
        #expect(Array(get[3...5]) == [int(1), int(1), int(1)])
        #expect(get[6] == .array([.simpleString("@read"), .simpleString("@string"), .simpleString("@fast")]))
        #expect(get[7] == .array([]))
        #expect(get[9] == .array([]))
        let keySpec = get[8].items.first
        #expect(get[8].items.count == 1)
        #expect(keySpec?[field: "flags"] == .array([.simpleString("RO"), .simpleString("access")]))
        #expect(keySpec?[field: "begin_search"]?[field: "type"] == bulk("index"))
        #expect(keySpec?[field: "begin_search"]?[field: "spec"]?[field: "index"] == int(1))
        #expect(keySpec?[field: "find_keys"]?[field: "type"] == bulk("range"))
        #expect(keySpec?[field: "find_keys"]?[field: "spec"]?[field: "lastkey"] == int(0))
        #expect(keySpec?[field: "find_keys"]?[field: "spec"]?[field: "keystep"] == int(1))

        let set = c.call("command", "info", "set").items.first?.items ?? []
        #expect(set.count == 10)
        #expect(set.first == bulk("set") && set.dropFirst().first == int(-3))
        #expect(set[2].items.contains(.simpleString("denyoom")))
        let mset = c.call("command", "info", "mset").items.first?.items ?? []
        #expect(Array(mset.dropFirst(3).prefix(3)) == [int(1), int(-1), int(2)])
        let config = c.call("command", "info", "config").items.first?.items ?? []
        #expect(config.last?.items.count ?? 0 >= 4, "subcommands are listed")
        #expect(c.call("command", "info", "config|get").items.first?.items.first == bulk("config|get"))
        #expect(c.call("command", "count") == int(c.call("command").items.count))
    }

    @Test("COMMAND DOCS: arguments with name and type; SET's options are oneofs")
    func commandDocs() {
        let c = TestServer().client()
        c.call("hello", "3")
        let reply = c.call("command", "docs", "set", "nosuchcommand")
        guard case .map(let commands) = reply, commands.count == 1, let docs = reply[field: "set"] else {
            Issue.record("unexpected reply \(reply)")
            return
        }
        #expect(docs[field: "group"] == bulk("string"))
        #expect(docs[field: "since"] == bulk("1.0.0"))
        #expect(docs[field: "summary"]?.string?.isEmpty == false)
        #expect(docs[field: "complexity"] == bulk("O(1)"))
        let arguments = docs[field: "arguments"]?.items ?? []
        #expect(arguments.count == 5)
        for argument in arguments {
            #expect(argument[field: "name"]?.string?.isEmpty == false, "\(argument)")
            #expect(argument[field: "type"] != nil, "\(argument)")
        }
        #expect(arguments.first?[field: "name"] == bulk("key") && arguments.first?[field: "type"] == bulk("key"))
        #expect(arguments.dropFirst().first?[field: "type"] == bulk("string"))
        let oneofs = arguments.filter { $0[field: "type"] == bulk("oneof") }
        #expect(oneofs.count == 2)
        for oneof in oneofs {
            #expect(oneof[field: "flags"] == .array([.simpleString("optional")]))
        }
        let condition = oneofs.first?[field: "arguments"]?.items ?? []
        #expect(condition.compactMap { $0[field: "token"]?.string } == ["NX", "XX"])
        #expect(condition.allSatisfy { $0[field: "type"] == bulk("pure-token") })
        let expiration = oneofs.last?[field: "arguments"]?.items ?? []
        #expect(expiration.compactMap { $0[field: "token"]?.string } == ["EX", "PX", "EXAT", "PXAT", "KEEPTTL"])
        #expect(expiration.first?[field: "type"] == bulk("integer"))
        #expect(expiration.first?[field: "name"] == bulk("seconds"))
        #expect(expiration.dropFirst(2).first?[field: "type"] == bulk("unix-time"))
        let get = arguments.first { $0[field: "token"] == bulk("GET") }
        #expect(get?[field: "type"] == bulk("pure-token"))
        #expect(get?[field: "flags"] == .array([.simpleString("optional")]))

        // Repeated arguments are flagged `multiple`; subcommands carry their own docs.
        let del = c.call("command", "docs", "del")[field: "del"]?[field: "arguments"]?.items.first
        #expect(del?[field: "flags"] == .array([.simpleString("multiple")]))
        let config = c.call("command", "docs", "config")[field: "config"]
        #expect(config?[field: "subcommands"]?[field: "config|get"]?[field: "arguments"] != nil)
    }

    @Test("COMMAND GETKEYS uses the key positions of the table")
    func getkeys() {
        let c = TestServer().client()
        #expect(c.call("command", "getkeys", "mset", "a", "1", "b", "2") == .array([bulk("a"), bulk("b")]))
        #expect(c.call("command", "getkeys", "get", "k") == .array([bulk("k")]))
        #expect(c.call("command", "getkeys", "ping") == err("ERR The command has no key arguments"))
        #expect(c.call("command", "getkeys", "nosuch", "k") == err("ERR Invalid command specified"))
        #expect(c.call("command", "getkeys", "get") == err("ERR Invalid number of arguments specified for command"))
    }
}
