import NIOCore
import StrataRESP
import StrataStore

/// What a command handler works with: its arguments, the reply being written, the client, the server.
public struct CommandContext {
    public let server: ServerContext
    public let client: ClientSession
    public var arguments: CommandArguments
    public var reply: RESPReplyWriter
    /// Unix milliseconds, read once per command so every key in it sees the same time.
    public var now: Int64
    /// Set during EXEC: the caller already holds the lock of every shard the command touches
    /// (of its keys' shards when every queued command names its keys, of all shards otherwise;
    /// see `TransactionCommands.exec`), so handlers take none.
    public var shardsLocked = false
    /// While `shardsLocked`: the indices of the shards held, nil when all are. Debug builds check
    /// that every shard a command reaches through ``withKey(_:_:)`` or ``withShards(for:_:)`` is
    /// among them (a command must name every key it touches in its key positions).
    public var heldShards: [Int]?
    /// The command being run (for error messages that name it).
    public var command: CommandSpec?
    /// The connection's event loop, for commands that finish later.
    public var eventLoop: (any EventLoop)?
    /// Set by a command whose reply is not ready yet (a read from another node or from disk):
    /// the connection writes it in its place in the reply stream once it completes, holding back
    /// the replies of later commands until then. The future's buffer is a complete RESP reply.
    public var deferredReply: EventLoopFuture<ByteBuffer>?
    /// Set when the connection must stop executing commands until the future completes: a cold
    /// key is being read from L3 (then `rerun` is true: the same command runs again once its
    /// values are in memory), or the L3 write queue is full (writer backpressure).
    public var suspension: (until: EventLoopFuture<Void>, rerun: Bool)?
    /// Set with `suspension` by a blocking command waiting for a key (BLPOP…): the connection
    /// keeps reading while it waits (its input is buffered, not run), so that a client that
    /// goes away is seen at once and its place among the waiters given up.
    public var blockedOnKeys = false
    /// Set by a write under `l3-fsync always`: the connection holds back the replies it has so
    /// far until L3 has committed and synced everything written until then. One wait covers
    /// all the writes of a read batch (group commit), as Redis fsyncs once before replying.
    public var awaitsDurability = false
    /// The connection's reply stream, for replies that arrive later without a future each
    /// (forwarded commands). The connection clears it when it closes.
    public var replyStream: (any ReplyStream)?
    /// When the request arrived as a RESP multibulk frame: its length in bytes, the frame being
    /// the first readable bytes of `arguments.buffer` (so a router can forward it unchanged). 0 otherwise
    /// (inline commands, arguments built in memory, commands replayed by EXEC or after a wait).
    public var frameLength = 0
    /// Run here whatever the ring says: this node's part of a command that acts on every node's
    /// keys (see ``CommandFlags/wholeKeyspace``).
    public var localOnly = false

    /// Who sent the command, for MONITOR (see ``MonitorOrigin``).
    public var monitorOrigin = MonitorOrigin.client

    /// Subscribers that have messages waiting since they last wrote (see ``PubSubHub``): woken
    /// by ``wakeSubscribers()``, once for every message published in a batch of commands.
    public var subscribersToWake: [ClientSession] = []
    /// Set by a client connection, which wakes `subscribersToWake` after each batch of commands
    /// it runs (as Redis writes to clients before it sleeps). Otherwise PUBLISH wakes them at once.
    public var batchesWakeups = false

    /// Wakes the subscribers that PUBLISH left messages for.
    public mutating func wakeSubscribers() {
        guard !subscribersToWake.isEmpty else { return }
        for session in subscribersToWake { session.wakeForPushes() }
        subscribersToWake.removeAll(keepingCapacity: true)
    }

    /// The command's name as the table has it (`get`, `client|setname`).
    public var commandName: String { command?.name ?? "" }

    public init(server: ServerContext, client: ClientSession, arguments: CommandArguments,
                reply: RESPReplyWriter, now: Int64) {
        self.server = server
        self.client = client
        self.arguments = arguments
        self.reply = reply
        self.now = now
    }

    @inline(__always) public var keyspace: Keyspace { server.keyspace }
    @inline(__always) public var database: Int { client.db }

    // MARK: - Shard access

    /// Runs `body` with argument `index` as a key, its hash and its shard, holding the shard's lock.
    @inline(__always)
    public func withKey<R>(_ index: Int, _ body: (Shard, UnsafeRawBufferPointer, UInt64) -> R) -> R {
        arguments.withBytes(index) { key in
            let hash = keyspace.hasher.hash(key)
            let shard = keyspace.shard(for: hash)
            if shardsLocked {
                assert(holdsShard(keyspace.shardIndex(for: hash)), "\(commandName): key \(index) is in a shard EXEC did not lock")
                return body(shard, key, hash)
            }
            shard.lock.lock()
            defer { shard.lock.unlock() }
            return body(shard, key, hash)
        }
    }

    /// Runs `body` holding the locks of every shard that owns one of `keyHashes` (in index order).
    public func withShards<R>(for keyHashes: [UInt64], _ body: () -> R) -> R {
        if shardsLocked {
            assert(keyHashes.allSatisfy { holdsShard(keyspace.shardIndex(for: $0)) }, "\(commandName): a key is in a shard EXEC did not lock")
            return body()
        }
        let indices = keyspace.lockOrder(for: keyHashes)
        keyspace.lock(indices)
        defer { keyspace.unlock(indices) }
        return body()
    }

    /// Whether the shard at `index` is among those held while `shardsLocked`.
    func holdsShard(_ index: Int) -> Bool {
        heldShards.map { $0.contains(index) } ?? true
    }

    /// The hash of argument `index`.
    @inline(__always)
    public func hash(_ index: Int) -> UInt64 { arguments.withBytes(index) { keyspace.hasher.hash($0) } }

    /// Looks a key up in the client's database; the shard lock must be held.
    @inline(__always)
    public func find(_ index: Int, hash: UInt64, access: Access) -> Entry? {
        arguments.withBytes(index) { key in
            keyspace.shard(for: hash).find(database: database, key: key, hash: hash, now: now, access: access)
        }
    }

    // MARK: - Replies

    @inline(__always)
    public mutating func error(_ message: StaticString) { reply.error(message) }
    public mutating func error(_ message: String) { reply.error(message) }

    /// An error quoting client bytes exactly: `prefix`, the bytes, `suffix`.
    /// Like Redis's `%s`, the quoted bytes stop at the first NUL.
    public mutating func error(_ prefix: String, quoting bytes: [UInt8], _ suffix: String = "") {
        reply.error(bytes: Array(prefix.utf8) + CommandContext.cString(bytes) + Array(suffix.utf8))
    }

    /// The bytes up to the first NUL, as C's `%s` prints them.
    public static func cString<C: Collection>(_ bytes: C) -> [UInt8] where C.Element == UInt8 {
        Array(bytes.prefix { $0 != 0 })
    }

    public mutating func syntaxError() { reply.error("ERR syntax error") }
    public mutating func notInteger() { reply.error("ERR value is not an integer or out of range") }
    public mutating func notFloat() { reply.error("ERR value is not a valid float") }

    public mutating func wrongArity() {
        reply.error("ERR wrong number of arguments for '\(commandName)' command")
    }

    /// Writes an entry's value as a bulk string, or null; WRONGTYPE for a key of another type.
    @inline(__always)
    public mutating func bulk(_ entry: Entry?) {
        if let entry {
            guard entry.kind == .string else { return wrongType() }
            entry.withValue { reply.bulk($0) }
        } else {
            reply.null()
        }
    }
}
