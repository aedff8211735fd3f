#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import NIOCore
import StrataConfig
import StrataStore
import Synchronization

/// Keyspace notifications (`notify-keyspace-events`): Redis's `__keyspace@<db>__:<key>` and
/// `__keyevent@<db>__:<event>` messages, published through the ``PubSubHub`` (and so relayed to
/// the other nodes of a ring like any PUBLISH).
///
/// The shards report what happened to a key (``KeyEvent``: written, deleted, expired…) while a
/// command runs. The notifier keeps those reports for the running command (a record per thread,
/// set by ``CommandDispatcher/run(_:_:)``) and, once the command returns, names each as Redis
/// does from the command and the key's place in it (`lpush`, `rename_from`, `zincr`…) and
/// publishes them in order. A key deleted and stored again by one command (SINTERSTORE over an
/// existing key, RESTORE REPLACE) was overwritten: it gets only the command's event. Reports
/// from outside a command (the cron's active expiry) are published at once.
final class KeyspaceNotifier: KeyEventSink {
    private unowned(unsafe) let server: ServerContext
    private let flags = Atomic<UInt16>(0)

    init(server: ServerContext) { self.server = server }

    func configure(_ flags: KeyspaceEventFlags) {
        self.flags.store(flags.rawValue, ordering: .relaxed)
        server.keyspace.keyEvents.configure(sink: self, enabled: flags.publishesAny || server.tracker.isActive)
    }

    var current: KeyspaceEventFlags { KeyspaceEventFlags(rawValue: flags.load(ordering: .relaxed)) }

    func keyEvent(_ event: KeyEvent, database: Int, key: UnsafeRawBufferPointer) {
        if let record = CommandEvents.current {
            record.events.append((event, database, Array(key)))
            return
        }
        var wakes: [ClientSession] = []
        if Self.invalidates(event) && server.tracker.isActive {
            server.tracker.invalidate(Array(key), writer: nil, wakes: &wakes)
        }
        if current.publishesAny {
            publish(event, database: database, key: Array(key), command: nil, wakes: &wakes, loop: nil)
        }
        for session in wakes { session.wakeForPushes() }
    }

    /// Publishes what `record` collected (after its command returned).
    func publish(_ record: CommandEvents, _ context: inout CommandContext) {
        var events = record.events
        guard !events.isEmpty else { return }
        if server.tracker.isActive {
            for e in events where Self.invalidates(e.event) {
                server.tracker.invalidate(e.key, writer: context.client, wakes: &context.subscribersToWake)
            }
        }
        guard current.publishesAny else {
            if !context.batchesWakeups { context.wakeSubscribers() }
            return
        }
        if record.name == "rename" || record.name == "renamenx" {
            // Redis adds the new key before it deletes the old one: `new` comes first.
            events = events.filter { $0.event == .created } + events.filter { $0.event != .created }
        }
        // Overwrites: a deletion followed by the key's creation within the command. No `del`;
        // and no `new` either, as Redis overwrites in place, except where Redis deletes and adds
        // (COPY … REPLACE, RESTORE … REPLACE announce the key as new).
        let announcesNew = record.name == "copy" || record.name == "restore"
        var skip = Set<Int>()
        for (i, e) in events.enumerated() where e.event == .deleted {
            if let j = events[(i + 1)...].firstIndex(where: { $0.event == .created && $0.database == e.database && $0.key == e.key }) {
                skip.insert(i)
                if !announcesNew { skip.insert(j) }
            }
        }
        for (i, e) in events.enumerated() where !skip.contains(i) {
            publish(e.event, database: e.database, key: e.key, command: record, wakes: &context.subscribersToWake,
                    loop: context.eventLoop)
        }
        if !context.batchesWakeups { context.wakeSubscribers() }
    }

    private func publish(_ event: KeyEvent, database: Int, key: [UInt8], command: CommandEvents?,
                         wakes: inout [ClientSession], loop: (any EventLoop)?) {
        let flags = current
        for (eventClass, name) in Self.names(event, key: key, command: command) where flags.contains(eventClass) {
            var none: [[UInt8]?] = []
            if flags.contains(.keyspace) {
                let channel = Array("__keyspace@\(database)__:".utf8) + key
                let message = Array(name.utf8)
                _ = server.pubsub.publish(.channel, channel: channel, message: message, own: &none, wakes: &wakes)
                server.router?.relayMessage(.channel, channel: channel, message: message, from: loop)
            }
            if flags.contains(.keyevent) {
                let channel = Array("__keyevent@\(database)__:\(name)".utf8)
                _ = server.pubsub.publish(.channel, channel: channel, message: key, own: &none, wakes: &wakes)
                server.router?.relayMessage(.channel, channel: channel, message: key, from: loop)
            }
        }
    }

    /// The changes that invalidate a tracked key: not a TTL change, and not a value moved to
    /// L3 (the key keeps its value).
    static func invalidates(_ event: KeyEvent) -> Bool {
        switch event {
        case .written, .deleted, .expired, .evicted: true
        case .created, .expireSet, .persisted, .evictedToL3: false
        }
    }

    // MARK: - Redis's event names

    /// The notifications for one report: class and name (several for LMOVE of a list onto itself).
    static func names(_ event: KeyEvent, key: [UInt8], command: CommandEvents?) -> [(KeyspaceEventFlags, String)] {
        switch event {
        case .created: return [(.new, "new")]
        case .expired: return [(.expired, "expired")]
        case .evicted: return [(.evicted, "evicted")]
        case .evictedToL3: return [(.evicted, "evicted_to_l3")]
        case .expireSet:
            // A key that arrives with its TTL (RESTORE, COPY, RENAME, MOVE) announces no `expire`.
            switch command?.name {
            case "restore", "copy", "rename", "renamenx", "move": return []
            default: return [(.generic, "expire")]
            }
        case .persisted: return [(.generic, "persist")]
        case .deleted:
            guard let command else { return [(.generic, "del")] }
            switch command.name {
            case "rename", "renamenx": return command.isArgument(1, key) ? [(.generic, "rename_from")] : [(.generic, "del")]
            case "move": return [(.generic, "move_from")]
            default: return [(.generic, "del")]
            }
        case .written:
            guard let command else { return [] }
            return written(command, key: key)
        }
    }

    /// The command's event for a key it stored or changed.
    private static func written(_ command: CommandEvents, key: [UInt8]) -> [(KeyspaceEventFlags, String)] {
        let name = command.name
        switch name {
        // strings
        case "set", "setnx", "setex", "psetex", "getset", "mset", "msetnx", "bitop": return [(.string, "set")]
        case "incr", "decr", "incrby", "decrby": return [(.string, "incrby")]
        case "incrbyfloat", "append", "setrange", "setbit": return [(.string, name)]
        case "bitfield": return [(.string, "setbit")]
        case "getex", "persist", "expire", "pexpire", "expireat", "pexpireat": return []
        // generic
        case "restore": return [(.generic, "restore")]
        case "rename", "renamenx": return [(.generic, "rename_to")]
        case "copy": return [(.generic, "copy_to")]
        case "move": return [(.generic, "move_to")]
        // lists
        case "lpush", "lpushx": return [(.list, "lpush")]
        case "rpush", "rpushx": return [(.list, "rpush")]
        case "lpop", "blpop": return [(.list, "lpop")]
        case "rpop", "brpop": return [(.list, "rpop")]
        case "linsert", "lset", "lrem", "ltrim": return [(.list, name)]
        case "lmpop", "blmpop":
            return [(.list, command.word(after: name == "lmpop" ? 1 : 2, oneOf: ["left", "right"]) == "right" ? "rpop" : "lpop")]
        case "rpoplpush", "brpoplpush", "lmove", "blmove":
            let (from, to): (String, String)
            if name == "lmove" || name == "blmove" {
                from = command.lowercased(3) == "right" ? "rpop" : "lpop"
                to = command.lowercased(4) == "right" ? "rpush" : "lpush"
            } else {
                (from, to) = ("rpop", "lpush")
            }
            // Redis notifies the push before the pop (which matters when both are one key).
            var names: [(KeyspaceEventFlags, String)] = []
            if command.isArgument(2, key) { names.append((.list, to)) }
            if command.isArgument(1, key) { names.append((.list, from)) }
            return names
        // hashes
        case "hset", "hsetnx", "hmset": return [(.hash, "hset")]
        case "hincrby", "hincrbyfloat", "hdel": return [(.hash, name)]
        // sets
        case "sadd", "srem", "spop", "sinterstore", "sunionstore", "sdiffstore": return [(.set, name)]
        case "smove":
            var names: [(KeyspaceEventFlags, String)] = []
            if command.isArgument(1, key) { names.append((.set, "srem")) }
            if command.isArgument(2, key) { names.append((.set, "sadd")) }
            return names
        // sorted sets
        case "zadd": return [(.zset, command.hasWord("incr", from: 2) ? "zincr" : "zadd")]
        case "zincrby": return [(.zset, "zincr")]
        case "zrem", "zremrangebyscore", "zremrangebyrank", "zremrangebylex", "zpopmin", "zpopmax",
             "zunionstore", "zinterstore", "zdiffstore", "zrangestore":
            return [(.zset, name)]
        case "bzpopmin", "bzpopmax": return [(.zset, String(name.dropFirst()))]
        case "zmpop", "bzmpop":
            return [(.zset, command.word(after: name == "zmpop" ? 1 : 2, oneOf: ["min", "max"]) == "max" ? "zpopmax" : "zpopmin")]
        default:
            // Anything else that writes: its own name, in its group's class.
            let group = command.spec.group
            let eventClass: KeyspaceEventFlags = switch group {
            case "string", "bitmap": .string
            case "list": .list
            case "hash": .hash
            case "set": .set
            case "sorted-set": .zset
            default: .generic
            }
            return [(eventClass, name)]
        }
    }
}

/// What the shards reported while one command ran (see ``KeyspaceNotifier``), on its thread.
final class CommandEvents {
    let spec: CommandSpec
    let arguments: CommandArguments
    var events: [(event: KeyEvent, database: Int, key: [UInt8])] = []

    init(spec: CommandSpec, arguments: CommandArguments) {
        self.spec = spec
        self.arguments = arguments
    }

    /// The command's name without its parent (`lpush`).
    var name: String { spec.name }

    func isArgument(_ index: Int, _ key: [UInt8]) -> Bool {
        index < arguments.count && arguments.withBytes(index) { $0.elementsEqual(key) }
    }

    func lowercased(_ index: Int) -> String { index < arguments.count ? arguments.string(index).lowercased() : "" }

    func hasWord(_ word: String, from index: Int) -> Bool {
        (index..<max(index, arguments.count)).contains { arguments.string($0).lowercased() == word }
    }

    /// The first of `words` among the arguments after the counted keys that start at `countAt`
    /// (LMPOP's LEFT/RIGHT, ZMPOP's MIN/MAX).
    func word(after countAt: Int, oneOf words: [String]) -> String? {
        guard countAt < arguments.count, let n = arguments.integer(countAt), n >= 0, n < arguments.count else { return nil }
        let start = countAt + 1 + n
        return (start..<max(start, arguments.count)).lazy.map { self.arguments.string($0).lowercased() }.first { words.contains($0) }
    }

    // MARK: - The record of the command running on this thread

    private static let slot: pthread_key_t = {
        var key = pthread_key_t()
        let rc = pthread_key_create(&key, nil)
        precondition(rc == 0, "pthread_key_create failed: \(rc)")
        return key
    }()

    /// The record of the command this thread runs, if notifications are on.
    static var current: CommandEvents? {
        guard let pointer = pthread_getspecific(slot) else { return nil }
        return Unmanaged<CommandEvents>.fromOpaque(pointer).takeUnretainedValue()
    }

    /// Makes `record` the current one (retained meanwhile); returns the one it replaces.
    static func push(_ record: CommandEvents) -> UnsafeMutableRawPointer? {
        let previous = pthread_getspecific(slot)
        pthread_setspecific(slot, Unmanaged.passRetained(record).toOpaque())
        return previous
    }

    static func pop(_ record: CommandEvents, restoring previous: UnsafeMutableRawPointer?) {
        pthread_setspecific(slot, previous)
        Unmanaged.passUnretained(record).release()
    }
}
