import StrataCommands
import StrataRESP
import Testing

/// ACL LIST's line of `name` after `rules`.
private func described(_ rules: [String]) throws -> String {
    var user = ACLUser(name: "t")
    for rule in ["reset"] + rules { try user.apply(rule) }
    return user.description
}

@Suite("ACL rules, permissions and the ACL command")
struct ACLTests {
    // MARK: Rules

    @Test("rules are described as Redis 7.0 describes them (best-fitting categories, then single commands)", arguments: [
        (["+@all"], "user t off sanitize-payload resetchannels +@all"),
        (["+@read", "+@write"], "user t off sanitize-payload resetchannels -@all +@write +@read"),
        (["+@hash", "+@read"], "user t off sanitize-payload resetchannels -@all +@read +hset +hsetnx +hmset +hdel +hincrby +hincrbyfloat"),
        (["+@all", "-@string", "+get"], "user t off sanitize-payload resetchannels +@all -@string +get"),
        (["+@all", "-get", "+get"], "user t off sanitize-payload resetchannels +@all"),
        (["+@all", "-client|kill", "+client"], "user t off sanitize-payload resetchannels +@all"),
        (["+config", "+config|get"], "user t off sanitize-payload resetchannels -@all +config"),
        (["+config|get", "+config|set", "-config"], "user t off sanitize-payload resetchannels -@all"),
        (["+@all", "-config|get", "-config|set"], "user t off sanitize-payload resetchannels +@all -config|get -config|set"),
        (["+get", "-@all"], "user t off sanitize-payload resetchannels -@all"),
        (["on", "nopass", "allkeys", "allchannels", "+get"], "user t on nopass sanitize-payload ~* &* -@all +get"),
        (["~a", "%R~b", "%RW~c", "%W~d", "%RW~*"], "user t off sanitize-payload ~a %R~b ~c %W~d ~* resetchannels -@all"),
        (["&chan*", "&x", "skip-sanitize-payload"], "user t off skip-sanitize-payload resetchannels &chan* &x -@all"),
        ([">p1"], "user t off sanitize-payload #f64551fcd6f07823cb87971cfb91446425da18286b3ab1ef935e0cbd7a69f68a resetchannels -@all"),
        ([">a", ">b", "<a"], "user t off sanitize-payload #3e23e8160039594a33894f6564e1b1348bbd7a0088d42c4acb73eeaed59c009d resetchannels -@all"),
    ])
    func describe(_ rules: [String], _ line: String) throws {
        #expect(try described(rules) == line)
    }

    @Test("bad modifiers get Redis's reasons", arguments: [
        ("bogus", "Syntax error"),
        ("+nosuch", "Unknown command or category name in ACL"),
        ("-@nosuch", "Unknown command or category name in ACL"),
        ("+client|nosuch", "Unknown command or category name in ACL"),
        ("#abc", "The password hash must be exactly 64 characters and contain only lowercase hexadecimal characters"),
        ("<never", "The password you are trying to remove from the user does not exist"),
        ("%X~k", "Syntax error"),
    ])
    func badRules(_ rule: String, _ reason: String) {
        var user = ACLUser(name: "t")
        #expect(throws: ACLRuleError(message: reason)) { try user.apply(rule) }
    }

    @Test("a pattern after allkeys or allchannels is refused")
    func afterAll() throws {
        var user = ACLUser(name: "t")
        try user.apply("allkeys")
        #expect(throws: ACLRuleError(message: "Adding a pattern after the * pattern (or the 'allkeys' flag) is not valid and does not have any effect. Try 'resetkeys' to start with an empty list of patterns")) { try user.apply("~b") }
        try user.apply("&*")
        #expect(throws: ACLRuleError(message: "Adding a pattern after the * pattern (or the 'allchannels' flag) is not valid and does not have any effect. Try 'resetchannels' to start with an empty list of channels")) { try user.apply("&b") }
        try user.apply("resetkeys")
        try user.apply("~b")
        #expect(user.keysDescription == "~b")
    }

    @Test("SHA-256 of passwords, as ACL shows them")
    func sha256() {
        #expect(SHA256.hex(Array("".utf8)) == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        #expect(SHA256.hex(Array("p1".utf8)) == "f64551fcd6f07823cb87971cfb91446425da18286b3ab1ef935e0cbd7a69f68a")
        #expect(SHA256.hex(Array(String(repeating: "a", count: 200).utf8)).count == 64)
    }

    // MARK: Permissions

    @Test("key patterns grant read, write or both")
    func keyPermissions() throws {
        let server = TestServer()
        let admin = server.client()
        #expect(admin.call("acl", "setuser", "u2", "%R~r*", "%W~w*", "+@all") == ok)
        for (words, expected) in [
            (["set", "r1", "x"], "This user has no permissions to access the 'r1' key"),
            (["get", "w1"], "This user has no permissions to access the 'w1' key"),
            (["get", "r1"], nil), (["set", "w1", "x"], nil), (["lpush", "w1", "x"], nil), (["incr", "w1"], nil),
            (["del", "w1"], nil), (["append", "w1", "x"], nil),
            (["getdel", "w1"], "This user has no permissions to access the 'w1' key"),
            (["lmove", "w1", "w2", "left", "left"], "This user has no permissions to access the 'w1' key"),
        ] as [([String], String?)] {
            let reply = admin.call(["acl", "dryrun", "u2"] + words)
            #expect(reply == (expected.map(bulk) ?? ok), "\(words)")
        }
    }

    @Test("commands, subcommands, categories and channels")
    func commandPermissions() {
        let server = TestServer()
        let admin = server.client()
        #expect(admin.call("acl", "setuser", "u1", "on", ">p1", "~cache:*", "+@read", "-@dangerous", "+set", "+client|list",
                           "&chan*", "+subscribe", "+psubscribe") == ok)
        #expect(admin.call("acl", "dryrun", "u1", "config", "get", "x") == bulk("This user has no permissions to run the 'config|get' command"))
        #expect(admin.call("acl", "dryrun", "u1", "publish", "chanx", "m") == bulk("This user has no permissions to run the 'publish' command"))
        #expect(admin.call("acl", "dryrun", "u1", "client", "list") == ok)
        #expect(admin.call("acl", "dryrun", "u1", "client", "id") == bulk("This user has no permissions to run the 'client|id' command"))
        #expect(admin.call("acl", "dryrun", "u1", "keys", "*") == bulk("This user has no permissions to run the 'keys' command"))
        #expect(admin.call("acl", "dryrun", "u1", "get", "other") == bulk("This user has no permissions to access the 'other' key"))
        #expect(admin.call("acl", "dryrun", "u1", "subscribe", "chanx", "other") == bulk("This user has no permissions to access the 'other' channel"))
        #expect(admin.call("acl", "dryrun", "u1", "psubscribe", "chan*") == ok)
        #expect(admin.call("acl", "dryrun", "u1", "psubscribe", "chan") == bulk("This user has no permissions to access the 'chan' channel"))
        #expect(admin.call("acl", "dryrun", "nobody", "get", "x") == err("ERR User 'nobody' not found"))
        #expect(admin.call("acl", "dryrun", "u1", "nosuch") == err("ERR Command 'nosuch' not found"))
        #expect(admin.call("acl", "dryrun", "u1", "get") == err("ERR wrong number of arguments for 'get' command"))
    }

    @Test("NOPERM replies and ACL LOG entries, counted together")
    func noperm() throws {
        let server = TestServer()
        let admin = server.client()
        #expect(admin.call("acl", "setuser", "lim", "on", ">pw", "~cache:*", "+@all", "-@admin", "&chan") == ok)
        let c = server.client()
        #expect(c.call("auth", "lim", "pw") == ok)
        #expect(c.call("acl", "whoami") == bulk("lim"))
        #expect(c.session.userName == "lim")
        #expect(c.call("set", "cache:1", "v") == ok)
        #expect(c.call("set", "other", "v") == err("NOPERM this user has no permissions to access one of the keys used as arguments"))
        #expect(c.call("set", "other", "v") == err("NOPERM this user has no permissions to access one of the keys used as arguments"))
        #expect(c.call("mset", "cache:2", "v", "other", "v") == err("NOPERM this user has no permissions to access one of the keys used as arguments"))
        #expect(c.call("publish", "x", "m") == err("NOPERM this user has no permissions to access one of the channels used as arguments"))
        #expect(c.call("config", "get", "port") == err("NOPERM this user has no permissions to run the 'config|get' command"))
        #expect(c.call("auth", "lim", "wrong") == err("WRONGPASS invalid username-password pair or user is disabled."))
        #expect(admin.call("get", "other") == .null, "nothing was written")
        guard case .array(let entries) = admin.call("acl", "log") else { Issue.record("not an array"); return }
        #expect(entries.count == 4)
        func fields(_ entry: RESPValue) -> [String: RESPValue] {
            guard case .array(let items) = entry else { return [:] }
            var result: [String: RESPValue] = [:]
            for i in stride(from: 0, to: items.count - 1, by: 2) {
                if case .bulkString(let name) = items[i] { result[String(buffer: name)] = items[i + 1] }
            }
            return result
        }
        let newest = fields(entries[0])
        #expect(newest["reason"] == bulk("auth"))
        #expect(newest["object"] == bulk("auth"))
        #expect(newest["username"] == bulk("lim"))
        #expect(fields(entries[1])["object"] == bulk("config|get"))
        #expect(fields(entries[1])["reason"] == bulk("command"))
        #expect(fields(entries[2])["reason"] == bulk("channel"))
        let key = fields(entries[3])
        #expect(key["reason"] == bulk("key"))
        #expect(key["object"] == bulk("other"))
        #expect(key["count"] == int(3), "the two SETs and the MSET of 'other' are one entry")
        #expect(key["context"] == bulk("toplevel"))
        if case .bulkString(let info) = key["client-info"] {
            #expect(String(buffer: info).contains(" user=lim "))
        } else {
            Issue.record("no client-info")
        }
        #expect(admin.call("acl", "log", "1") != admin.call("acl", "log"))
        #expect(admin.call("acl", "log", "reset") == ok)
        #expect(admin.call("acl", "log") == .array([]))
        #expect(admin.call("acl", "log", "x") == err("ERR value is not an integer or out of range"))
    }

    @Test("ACL SETUSER applies to connected clients at once; DELUSER disconnects them")
    func liveChanges() {
        let server = TestServer()
        let admin = server.client()
        #expect(admin.call("acl", "setuser", "u", "on", "nopass", "~*", "+@all") == ok)
        let c = server.client()
        #expect(c.call("auth", "u", "anything") == ok)
        #expect(c.call("set", "k", "v") == ok)
        #expect(admin.call("acl", "setuser", "u", "-set") == ok)
        #expect(c.call("set", "k", "v") == err("NOPERM this user has no permissions to run the 'set' command"))
        #expect(c.call("get", "k") == bulk("v"))
        #expect(admin.call("acl", "setuser", "u", "off") == ok)
        #expect(server.client().call("auth", "u", "x") == err("WRONGPASS invalid username-password pair or user is disabled."))
        #expect(c.call("acl", "deluser", "u", "nosuch") == int(1))
        #expect(c.session.closeAfterReply, "a client deleting its own user is closed after the reply")
        #expect(admin.call("acl", "deluser", "default") == err("ERR The 'default' user cannot be removed"))
        #expect(admin.call("acl", "users") == .array([bulk("default")]))
    }

    @Test("inside MULTI the check is at queue time, and again at EXEC")
    func multi() {
        let server = TestServer()
        let admin = server.client()
        #expect(admin.call("acl", "setuser", "u", "on", "nopass", "~a*", "+@all") == ok)
        let c = server.client()
        #expect(c.call("auth", "u", "x") == ok)
        #expect(c.call("multi") == ok)
        #expect(c.call("set", "b", "1") == err("NOPERM this user has no permissions to access one of the keys used as arguments"))
        #expect(c.call("exec") == err("EXECABORT Transaction discarded because of previous errors."))
        #expect(c.call("multi") == ok)
        #expect(c.call("set", "a", "1") == queued)
        #expect(c.call("get", "a") == queued)
        #expect(admin.call("acl", "setuser", "u", "-set") == ok)
        #expect(c.call("exec") == .array([
            err("NOPERM ACLs rules changed between the moment the transaction was accumulated and the EXEC call. This command is no longer allowed for the following reason: no permission to execute the command or subcommand"),
            .null,
        ]))
        guard case .array(let entries) = admin.call("acl", "log", "1"), case .array(let fields) = entries.first else {
            Issue.record("no log entry"); return
        }
        #expect(fields[5] == bulk("multi"))
    }

    @Test("redis.call is checked against the script's user")
    func scripts() {
        let server = TestServer()
        let admin = server.client()
        #expect(admin.call("acl", "setuser", "s", "on", "nopass", "~a", "+eval", "+get") == ok)
        let c = server.client()
        #expect(c.call("auth", "s", "x") == ok)
        #expect(c.call("eval", "return redis.call('get','a')", "0") == .null)
        guard case .error(let key) = c.call("eval", "return redis.call('get','x')", "0"),
              case .error(let command) = c.call("eval", "return redis.call('set','a','1')", "0") else {
            Issue.record("no errors"); return
        }
        #expect(key.hasPrefix("ERR The user executing the script can't access at least one of the keys mentioned in the command arguments"))
        #expect(command.hasPrefix("ERR The user executing the script can't run this command or subcommand"))
    }

    // MARK: The ACL command

    @Test("GETUSER's shape, LIST, USERS, CAT, GENPASS, HELP")
    func getuser() {
        let server = TestServer()
        let c = server.client()
        #expect(c.call("acl", "setuser", "u1", "on", ">p1", "~cache:*", "+@read", "+set", "&chan*") == ok)
        #expect(c.call("acl", "getuser", "u1") == .array([
            bulk("flags"), .array([bulk("on")]),
            bulk("passwords"), .array([bulk("f64551fcd6f07823cb87971cfb91446425da18286b3ab1ef935e0cbd7a69f68a")]),
            bulk("commands"), bulk("-@all +@read +set"),
            bulk("keys"), bulk("~cache:*"),
            bulk("channels"), bulk("&chan*"),
            bulk("selectors"), .array([]),
        ]))
        #expect(c.call("acl", "getuser", "default") == .array([
            bulk("flags"), .array([bulk("on"), bulk("nopass")]), bulk("passwords"), .array([]),
            bulk("commands"), bulk("+@all"), bulk("keys"), bulk("~*"), bulk("channels"), bulk("&*"),
            bulk("selectors"), .array([]),
        ]))
        #expect(c.call("acl", "getuser", "nosuch") == .null)
        #expect(c.call("acl", "getuser", ACLRegistry.peerUserName) == .null, "the peer user is internal")
        #expect(c.call("acl", "list") == .array([
            bulk("user default on nopass ~* &* +@all"),
            bulk("user u1 on #f64551fcd6f07823cb87971cfb91446425da18286b3ab1ef935e0cbd7a69f68a ~cache:* resetchannels &chan* -@all +@read +set"),
        ]))
        #expect(c.call("acl", "users") == .array([bulk("default"), bulk("u1")]))
        #expect(c.call("acl", "setuser", "u 3") == err("ERR Usernames can't contain spaces or null characters"))
        #expect(c.call("acl", "setuser", "u3", "on", "bogus") == err("ERR Error in ACL SETUSER modifier 'bogus': Syntax error"))
        #expect(c.call("acl", "users") == .array([bulk("default"), bulk("u1")]), "a failed SETUSER creates nothing")
        #expect(c.call("acl", "cat", "nosuch") == err("ERR Unknown category 'nosuch'"))
        guard case .array(let categories) = c.call("acl", "cat") else { Issue.record("not an array"); return }
        #expect(categories.count == 21 && categories.first == bulk("keyspace") && categories.last == bulk("scripting"))
        guard case .array(let connection) = c.call("acl", "cat", "connection") else { Issue.record("not an array"); return }
        #expect(connection.contains(bulk("ping")) && connection.contains(bulk("client|list")) && !connection.contains(bulk("get")))
        guard case .bulkString(let password) = c.call("acl", "genpass"), case .bulkString(let short) = c.call("acl", "genpass", "5") else {
            Issue.record("not bulk"); return
        }
        #expect(password.readableBytes == 64 && short.readableBytes == 2)
        #expect(c.call("acl", "genpass", "0") == err("ERR ACL GENPASS argument must be the number of bits for the output password, a positive number up to 4096"))
        #expect(c.call("acl", "save") == err("ERR This Redis instance is not configured to use an ACL file. You may want to specify users via the ACL SETUSER command and then issue a CONFIG REWRITE (assuming you have a Redis configuration file set) in order to store users in the Redis configuration."))
        guard case .array(let help) = c.call("acl", "help") else { Issue.record("not an array"); return }
        #expect(help.first == .simpleString("ACL <subcommand> [<arg> [value] [opt] ...]. Subcommands are:"))
        #expect(help.count == 29)
    }

    @Test("requirepass is the default user's password; HELLO AUTH and AUTH with a user")
    func requirepass() {
        let server = TestServer()
        let admin = server.client()
        #expect(admin.call("config", "set", "requirepass", "pw") == ok)
        #expect(admin.call("acl", "list") == .array([bulk("user default on #30c952fab122c3f9759f02a6d95c3758b246b4fee239957b2d4fee46e26170c4 ~* &* +@all")]))
        #expect(admin.call("acl", "setuser", "u", "on", ">up", "~*", "+@all") == ok)
        let c = server.client()
        #expect(c.call("get", "k") == err("NOAUTH Authentication required."))
        #expect(c.call("hello", "3", "auth", "u", "up") != err("WRONGPASS invalid username-password pair or user is disabled."))
        #expect(c.call("acl", "whoami") == bulk("u"))
        #expect(c.call("reset") == .simpleString("RESET"))
        #expect(c.call("acl", "whoami") == err("NOAUTH Authentication required."))
        #expect(c.call("auth", "pw") == ok)
        #expect(c.call("acl", "whoami") == bulk("default"))
        #expect(admin.call("config", "set", "requirepass", "") == ok)
        #expect(server.client().call("get", "k") == .null)
    }

    // MARK: aclfile

    @Test("aclfile lines parse into users; bad lines are named by number")
    func aclFile() throws {
        let good = ACLFile.parse("user default on nopass ~* &* +@all\n\nuser a on >x ~k* +get\n", path: "users.acl")
        let users = try good.get()
        #expect(users.map(\.description) == [
            "user default on nopass ~* &* +@all",
            "user a on #2d711642b726b04401627ca9fbac32f5c8530fb1903cc4db02258717921a4881 ~k* resetchannels -@all +get",
        ])
        let bad = ACLFile.parse("user default on nopass ~* &* +@all\nfoo bar\nuser c on bogus\nuser d\n", path: "f.acl")
        #expect(bad == .failure(ACLFileError(message: "f.acl:2 should start with user keyword followed by the username. f.acl:3: Syntax error. WARNING: ACL errors detected, no change to the previously active ACL rules was performed")))
        let duplicate = ACLFile.parse("user c on >z\nuser c off\n", path: "f.acl")
        #expect(duplicate == .failure(ACLFileError(message: "WARNING: Duplicate user 'c' found on line 2. WARNING: ACL errors detected, no change to the previously active ACL rules was performed")))
        let comment = ACLFile.parse("user c on >z\n# comment\n", path: "f.acl")
        #expect(comment == .failure(ACLFileError(message: "f.acl:2 should start with user keyword followed by the username. WARNING: ACL errors detected, no change to the previously active ACL rules was performed")))
        #expect(ACLFile.render(users) == users.map { $0.description + "\n" }.joined())
    }
}
