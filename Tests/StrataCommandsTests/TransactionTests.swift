@testable import StrataCommands
import StrataRESP
import Synchronization
import Testing

/// Set from a `@Sendable` hook.
final class Flag: Sendable {
    let value = Mutex(false)
}

@Suite("MULTI, EXEC, DISCARD and WATCH")
struct TransactionTests {
    @Test("queued commands run in order at EXEC")
    func execRuns() {
        let c = TestServer().client()
        #expect(c.call("multi") == ok)
        #expect(c.call("set", "a", "1") == queued)
        #expect(c.call("incr", "a") == queued)
        #expect(c.call("get", "a") == queued)
        #expect(c.call("get", "nothing") == queued)
        #expect(c.call("exec") == .array([ok, int(2), bulk("2"), .null]))
        #expect(c.call("get", "a") == bulk("2"))
        #expect(c.call("multi") == ok)
        #expect(c.call("exec") == .array([]))
    }

    @Test("a command that fails while running does not abort the others")
    func runtimeErrors() {
        let c = TestServer().client()
        c.call("multi")
        c.call("set", "a", "x")
        c.call("incr", "a")
        c.call("get", "a")
        #expect(c.call("exec") == .array([ok, notInteger, bulk("x")]))
    }

    @Test("an error while queueing aborts EXEC with EXECABORT", arguments: [
        ["set", "a"], ["nosuchcommand", "x"], ["get"],
    ])
    func execAbort(_ bad: [String]) {
        let c = TestServer().client()
        #expect(c.call("multi") == ok)
        #expect(c.call("set", "b", "1") == queued)
        if case .error = c.call(bad) {} else { Issue.record("\(bad) was queued") }
        #expect(c.call("set", "c", "1") == queued)
        #expect(c.call("exec") == err("EXECABORT Transaction discarded because of previous errors."))
        #expect(c.call("exists", "b", "c") == int(0))
        // The transaction is over.
        #expect(c.call("exec") == err("ERR EXEC without MULTI"))
    }

    @Test("SAVE and SHUTDOWN are refused inside MULTI, and the transaction is aborted", arguments: ["save", "shutdown"])
    func notAllowedInside(_ command: String) {
        let server = TestServer()
        let stopped = Flag()
        server.context.hooks = ServerHooks(shutdown: { stopped.value.withLock { $0 = true } })
        let c = server.client()
        c.call("multi")
        #expect(c.call("set", "a", "1") == queued)
        #expect(c.call(command) == err("ERR Command not allowed inside a transaction"))
        #expect(c.call("exec") == err("EXECABORT Transaction discarded because of previous errors."))
        #expect(!stopped.value.withLock { $0 })
        #expect(c.call("exists", "a") == int(0))
    }

    @Test("MULTI, EXEC, DISCARD and WATCH out of place")
    func misuse() {
        let c = TestServer().client()
        #expect(c.call("exec") == err("ERR EXEC without MULTI"))
        #expect(c.call("discard") == err("ERR DISCARD without MULTI"))
        c.call("multi")
        #expect(c.call("multi") == err("ERR MULTI calls can not be nested"))
        #expect(c.call("watch", "x") == err("ERR WATCH inside MULTI is not allowed"))
        #expect(c.call("set", "a", "1") == queued)
        // Neither error dooms the transaction.
        #expect(c.call("exec") == .array([ok]))
    }

    @Test("DISCARD drops the queue")
    func discard() {
        let c = TestServer().client()
        c.call("multi")
        c.call("set", "a", "1")
        #expect(c.call("discard") == ok)
        #expect(c.call("get", "a") == .null)
        #expect(c.call("exec") == err("ERR EXEC without MULTI"))
    }

    @Test("a WATCHed key written by another client aborts EXEC")
    func watchAbort() {
        let server = TestServer()
        let a = server.client(), b = server.client()
        a.call("set", "k", "1")
        #expect(a.call("watch", "k", "other") == ok)
        #expect(b.call("set", "k", "2") == ok)
        a.call("multi")
        #expect(a.call("set", "k", "3") == queued)
        #expect(a.raw("exec") == "*-1\r\n")
        #expect(a.call("get", "k") == bulk("2"))
        // EXEC unwatched everything: the next transaction runs.
        b.call("set", "k", "4")
        a.call("multi")
        a.call("set", "k", "5")
        #expect(a.call("exec") == .array([ok]))
        #expect(a.call("get", "k") == bulk("5"))
    }

    @Test("deleting, expiring or creating a WATCHed key aborts EXEC", arguments: ["del", "expire", "create", "flushall"])
    func watchOtherChanges(_ change: String) {
        let server = TestServer()
        let a = server.client(), b = server.client()
        if change != "create" { a.call("set", "k", "1") }
        a.call("watch", "k")
        switch change {
        case "del": b.call("del", "k")
        case "expire": b.call("expire", "k", "100")
        case "create": b.call("set", "k", "new")
        default: b.call("flushall")
        }
        a.call("multi")
        a.call("ping")
        #expect(a.call("exec") == .nullArray)
    }

    @Test("a WATCHed key that expires before EXEC aborts it")
    func watchExpiry() {
        let server = TestServer()
        let a = server.client()
        a.call("set", "k", "v", "px", "100")
        a.call("watch", "k")
        server.now += 200
        a.call("multi")
        a.call("get", "k")
        #expect(a.call("exec") == .nullArray)
    }

    @Test("writes that do not touch the WATCHed key leave EXEC alone")
    func watchUntouched() {
        let server = TestServer()
        let a = server.client(), b = server.client()
        a.call("set", "k", "1")
        a.call("watch", "k")
        b.call("set", "other", "x")
        b.call("get", "k")
        b.call("select", "1")
        b.call("set", "k", "other db")
        a.call("multi")
        a.call("incr", "k")
        #expect(a.call("exec") == .array([int(2)]))
    }

    @Test("UNWATCH and DISCARD forget the watched keys")
    func unwatch() {
        let server = TestServer()
        let a = server.client(), b = server.client()
        a.call("watch", "k")
        #expect(a.call("unwatch") == ok)
        b.call("set", "k", "x")
        a.call("multi")
        a.call("get", "k")
        #expect(a.call("exec") == .array([bulk("x")]))

        a.call("watch", "k")
        a.call("multi")
        a.call("discard")
        b.call("set", "k", "y")
        a.call("multi")
        a.call("get", "k")
        #expect(a.call("exec") == .array([bulk("y")]))
    }

    /// Every shard lock is held during EXEC, so a whole-keyspace command must not take them again
    /// (NIOLock is not recursive: a debug build traps, a release build deadlocks).
    @Test("whole-keyspace commands inside EXEC")
    func keyspaceCommandsInsideExec() {
        let c = TestServer().client()
        c.call("mset", "a", "1", "b", "2")
        c.call("multi")
        for command in [["keys", "a*"], ["scan", "0", "COUNT", "100"], ["randomkey"], ["dbsize"], ["info", "keyspace"],
                        ["rename", "a", "c"], ["copy", "b", "d"], ["mget", "c", "d"], ["flushdb"]] {
            #expect(c.call(command) == queued)
        }
        let replies = c.call("exec").items
        #expect(replies.count == 9)
        guard replies.count == 9 else { return }
        #expect(replies[0] == .array([bulk("a")]))
        #expect(Set(replies[1].items.last?.items.compactMap(\.string) ?? []) == ["a", "b"])
        #expect(replies[2] == bulk("a") || replies[2] == bulk("b"))
        #expect(replies[3] == int(2))
        #expect(replies[4].string?.contains("db0:keys=2") == true)
        #expect(Array(replies[5...8]) == [ok, int(1), .array([bulk("1"), bulk("2")]), ok])
        #expect(c.call("dbsize") == int(0))
    }

    @Test("EXEC locks the shards of the keys its queue and its watches name, or every shard")
    func execShards() {
        let server = TestServer()
        let keyspace = server.context.keyspace
        func queued(_ words: String...) -> QueuedCommand { queuedCommand(words, server) }
        func shard(_ key: String) -> Int {
            keyspace.shardIndex(for: Array(key.utf8).withUnsafeBytes { keyspace.hasher.hash($0) })
        }
        let keyed = [queued("set", "a", "1"), queued("mget", "b", "c"), queued("rename", "d", "e"),
                     queued("object", "encoding", "g")]
        let expected = Set(["a", "b", "c", "d", "e", "f", "g"].map(shard)).sorted()
        #expect(expected.count > 1 && expected.count < 8)
        #expect(TransactionCommands.transactionShards(keyed, watched: [(0, Array("f".utf8), true)], keyspace: keyspace) == expected)
        #expect(TransactionCommands.transactionShards([], watched: [], keyspace: keyspace) == [])
        for global in [queued("ping"), queued("keys", "*"), queued("flushdb"), queued("select", "1"), queued("info")] {
            #expect(TransactionCommands.transactionShards(keyed + [global], watched: [], keyspace: keyspace) == nil)
        }
    }

    /// Only the queue's keys' shards are held: a handler reaching any other shard trips an
    /// assertion in debug builds (``CommandContext/withKey(_:_:)``), so this runs every command
    /// that names its keys inside one EXEC.
    @Test("commands that name their keys, inside EXEC")
    func keyedCommandsInsideExec() {
        let server = TestServer()
        let c = server.client(), other = server.client()
        c.call("mset", "a", "1", "b", "x")
        c.call("watch", "w")
        let commands: [[String]] = [
            ["set", "s", "v", "EX", "100"], ["get", "s"], ["incr", "a"], ["incrby", "a", "2"], ["decrby", "a", "1"],
            ["incrbyfloat", "f", "1.5"], ["append", "b", "y"], ["strlen", "b"], ["setrange", "b", "0", "z"],
            ["getrange", "b", "0", "-1"], ["mset", "m1", "1", "m2", "2"], ["msetnx", "n1", "1", "n2", "2"],
            ["mget", "m1", "m2", "nope"], ["setnx", "s", "no"], ["getset", "m1", "one"], ["getex", "m1", "PX", "5000"],
            ["ttl", "s"], ["pttl", "m1"], ["expire", "m2", "50"], ["persist", "m2"], ["exists", "a", "b", "nope"],
            ["type", "a"], ["touch", "a", "b"], ["object", "encoding", "a"], ["memory", "usage", "a"],
            ["rename", "n1", "r1"], ["renamenx", "r1", "r2"], ["copy", "r2", "c1"], ["getdel", "c1"],
            ["del", "n2"], ["unlink", "r2"], ["get", "w"],
        ]
        // The queue takes the partial path: some shards, not all.
        let shards = TransactionCommands.transactionShards(commands.map { queuedCommand($0, server) },
                                                           watched: [(0, Array("w".utf8), false)], keyspace: server.context.keyspace)
        #expect(shards != nil && shards!.count < server.context.keyspace.shards.count)
        c.call("multi")
        for command in commands { #expect(c.call(command) == queued, "\(command)") }
        let replies = c.call("exec").items
        #expect(replies.count == commands.count)
        #expect(replies.filter { if case .error = $0 { return true }; return false }.isEmpty, "\(replies)")
        #expect(replies.prefix(4) == [ok, bulk("v"), int(2), int(4)])
        #expect(replies.last == .null)
        // Locks are released: another client writes every key the transaction held.
        #expect(other.call("mset", "a", "9", "s", "9", "w", "9") == ok)
        #expect(c.call("mget", "a", "s", "w") == .array([bulk("9"), bulk("9"), bulk("9")]))
    }

    @Test("server and introspection commands inside EXEC")
    func serverCommandsInsideExec() {
        let c = TestServer().client()
        c.call("set", "b", "1")
        let commands: [[String]] = [
            ["info"], ["client", "list"], ["client", "info"], ["config", "set", "maxmemory", "0"], ["config", "resetstat"],
            ["config", "get", "port"], ["memory", "usage", "b"], ["object", "encoding", "b"], ["object", "idletime", "b"],
            ["time"], ["lastsave"], ["command", "count"], ["ttl", "b"], ["touch", "b"], ["persist", "b"],
            ["getex", "b", "EX", "10"], ["append", "b", "x"], ["setrange", "b", "0", "z"], ["incrbyfloat", "f", "1.5"],
            ["del", "b"], ["exists", "b"], ["flushall"],
        ]
        c.call("multi")
        for command in commands { #expect(c.call(command) == queued, "\(command)") }
        let replies = c.call("exec").items
        #expect(replies.count == commands.count)
        #expect(replies.filter { if case .error = $0 { return true }; return false }.isEmpty, "\(replies)")
        #expect(replies.last == ok)
    }
}

/// A command as MULTI queues it: its spec (a subcommand's, for OBJECT ENCODING and the like) and
/// its arguments.
private func queuedCommand(_ words: [String], _ server: TestServer) -> QueuedCommand {
    var spec = server.context.commands.find(words[0])!
    if words.count > 1, let sub = spec.subcommands.first(where: { $0.name == "\(spec.name)|\(words[1].lowercased())" }) {
        spec = sub
    }
    return QueuedCommand(spec: spec, arguments: CommandArguments(words))
}
