import NIOConcurrencyHelpers
import StrataRESP
import StrataStore
import Synchronization

/// Where a command comes from, for MONITOR: a client (shown with its address), a script's
/// `redis.call` (shown as `lua`), or a part of a command already shown (one node's share of a
/// split command, a key moved between nodes), which is not shown again.
public enum MonitorOrigin: Sendable {
    case client
    case script
    case hidden
}

/// The clients in MONITOR mode, and the feed of every command run to them (Redis's
/// `replicationFeedMonitors`).
///
/// A command on any event loop formats its line once and appends it to each monitor's
/// ``PushOutbox``; the monitor's own connection writes it out on its loop (woken through its
/// loop's mailbox, once per batch), so the loop running the command never waits for a monitor.
/// With no monitor the feed costs one relaxed atomic load per command (``isActive``).
///
/// A monitor that does not read its lines is a `normal` client for `client-output-buffer-limit`
/// (as in Redis): its waiting lines count as its output, and it is disconnected when they pass
/// the normal class's hard limit (or ``defaultLimit`` when that class has none, since a
/// monitor's output cannot be slowed down by holding its reads), and by the cron for the soft
/// limit and `maxmemory-clients`.
public final class MonitorFeed: Sendable {
    private let count = Synchronization.Atomic<Int>(0)
    private let sessions = NIOLockedValueBox<[ClientSession]>([])
    private let hardLimit = Synchronization.Atomic<Int>(0)
    /// Monitors disconnected for passing the limit.
    public let limitDisconnections = Synchronization.Atomic<Int>(0)

    /// The most a monitor's unread lines may hold when the `normal` class has no hard limit.
    public static let defaultLimit = 64 << 20

    public init() {}

    /// Whether any client monitors (the one check every command pays).
    @inline(__always)
    public var isActive: Bool { count.load(ordering: .relaxed) > 0 }

    /// The `normal` class's hard limit (0: none, ``defaultLimit`` applies).
    public func configure(normalHardLimit: Int) {
        hardLimit.store(normalHardLimit > 0 ? normalHardLimit : Self.defaultLimit, ordering: .relaxed)
    }

    /// Adds a monitor; false if it is one already.
    @discardableResult
    public func add(_ session: ClientSession) -> Bool {
        sessions.withLockedValue { list in
            guard !list.contains(where: { $0 === session }) else { return false }
            list.append(session)
            count.store(list.count, ordering: .relaxed)
            return true
        }
    }

    public func remove(_ session: ClientSession) {
        sessions.withLockedValue { list in
            guard let index = list.firstIndex(where: { $0 === session }) else { return }
            list.remove(at: index)
            count.store(list.count, ordering: .relaxed)
        }
    }

    public func contains(_ session: ClientSession) -> Bool {
        sessions.withLockedValue { list in list.contains { $0 === session } }
    }

    /// Appends one line (a complete `+…\r\n` status reply) to every monitor. Monitors to wake
    /// are added to `wakes` when given (the caller wakes them after its batch), else woken now.
    func publish(_ line: [UInt8], wakes: inout [ClientSession], batched: Bool) {
        let monitors = sessions.withLockedValue { $0 }
        var limit = hardLimit.load(ordering: .relaxed)
        if limit == 0 { limit = Self.defaultLimit }
        for session in monitors {
            switch session.pushes.appendReply(line, limit: limit) {
            case .wake: if batched { wakes.append(session) } else { session.wakeForPushes() }
            case .overLimit:
                remove(session)
                limitDisconnections.add(1, ordering: .relaxed)
                session.killed.store(true, ordering: .relaxed)
                session.close()
            case .queued: break
            }
        }
    }
}

/// The text of one MONITOR line, as Redis 7.0 writes it:
/// `+1700000000.123456 [0 127.0.0.1:5000] "SET" "k" "v"` (`[0 lua]` for a script's command),
/// each argument quoted as `sdscatrepr` does, AUTH's and HELLO AUTH's credentials redacted.
public enum MonitorLine {
    public static func format(microseconds: Int64, database: Int, source: String, arguments: [[UInt8]]) -> [UInt8] {
        var line: [UInt8] = []
        line.reserveCapacity(64 + arguments.reduce(0) { $0 + $1.count + 3 })
        line.append(UInt8(ascii: "+"))
        let seconds = microseconds / 1_000_000
        let fraction = microseconds % 1_000_000
        line += Array(String(seconds).utf8)
        line.append(UInt8(ascii: "."))
        let digits = String(fraction)
        line += Array(repeating: UInt8(ascii: "0"), count: 6 - digits.utf8.count) + Array(digits.utf8)
        line += Array(" [\(database) \(source)]".utf8)
        let redacted = redactedPositions(arguments)
        for (index, argument) in arguments.enumerated() {
            line.append(UInt8(ascii: " "))
            if redacted.contains(index) {
                line += Array("\"(redacted)\"".utf8)
            } else {
                quote(argument, into: &line)
            }
        }
        line += [13, 10]
        return line
    }

    /// The arguments Redis hides: every argument of AUTH, and the two after HELLO's AUTH.
    static func redactedPositions(_ arguments: [[UInt8]]) -> Set<Int> {
        guard let name = arguments.first else { return [] }
        if equalsFolded(name, "auth") { return Set(1..<arguments.count) }
        if equalsFolded(name, "hello") {
            var positions = Set<Int>()
            var j = 2
            while j < arguments.count {
                if equalsFolded(arguments[j], "auth") && j + 2 < arguments.count {
                    positions.insert(j + 1)
                    positions.insert(j + 2)
                    j += 3
                } else if equalsFolded(arguments[j], "setname") {
                    j += 2
                } else {
                    j += 1
                }
            }
            return positions
        }
        return []
    }

    private static func equalsFolded(_ bytes: [UInt8], _ lower: String) -> Bool {
        let target = Array(lower.utf8)
        guard bytes.count == target.count else { return false }
        for (a, b) in zip(bytes, target) where a | 0x20 != b { return false }
        return true
    }

    /// `sdscatrepr`: in double quotes, `\\ \" \n \r \t \a \b` escaped, other bytes outside
    /// printable ASCII as `\xhh`.
    public static func quote(_ bytes: [UInt8], into line: inout [UInt8]) {
        let hex = Array("0123456789abcdef".utf8)
        line.append(UInt8(ascii: "\""))
        for byte in bytes {
            switch byte {
            case UInt8(ascii: "\\"): line += [92, 92]
            case UInt8(ascii: "\""): line += [92, 34]
            case 10: line += [92, UInt8(ascii: "n")]
            case 13: line += [92, UInt8(ascii: "r")]
            case 9: line += [92, UInt8(ascii: "t")]
            case 7: line += [92, UInt8(ascii: "a")]
            case 8: line += [92, UInt8(ascii: "b")]
            case 0x20...0x7e: line.append(byte)
            default: line += [92, UInt8(ascii: "x"), hex[Int(byte >> 4)], hex[Int(byte & 15)]]
            }
        }
        line.append(UInt8(ascii: "\""))
    }
}

extension CommandDispatcher {
    /// Shows a command to the monitors (only called while there are some).
    static func feedMonitors(_ spec: CommandSpec, _ context: inout CommandContext) {
        let client = context.client
        guard context.monitorOrigin != .hidden, !spec.flags.contains(.admin), client.peerRole == nil else { return }
        let source = context.monitorOrigin == .script ? "lua" : client.address
        var arguments: [[UInt8]] = []
        arguments.reserveCapacity(context.arguments.count)
        for i in 0..<context.arguments.count { arguments.append(context.arguments.bytes(i)) }
        let line = MonitorLine.format(microseconds: WallClock.microseconds(), database: client.db, source: source,
                                      arguments: arguments)
        context.server.monitors.publish(line, wakes: &context.subscribersToWake, batched: context.batchesWakeups)
    }

    /// Runs a command while clients monitor: shown after it ran (EXEC after the commands it
    /// ran), a script before (its `redis.call`s after it), a blocked command once (not when it
    /// runs again after a wake-up), as Redis does.
    static func runMonitored(_ spec: CommandSpec, _ context: inout CommandContext) {
        if spec.flags.contains(.runsScripts) {
            feedMonitors(spec, &context)
            runUnmonitored(spec, &context)
            return
        }
        let rerunAfterBlocking = context.client.blocked != nil && context.monitorOrigin == .client
        runUnmonitored(spec, &context)
        if !rerunAfterBlocking { feedMonitors(spec, &context) }
    }
}

extension ConnectionCommands {
    /// MONITOR: from now on every command run on this server is written to this connection.
    static func monitor(_ c: inout CommandContext) {
        // Queued in MULTI, it fails at EXEC (the shards are held then), as in Redis 7.0.
        if c.shardsLocked { return c.error("ERR MONITOR isn't allowed for DENY BLOCKING client") }
        if c.server.monitors.contains(c.client) { return }
        c.server.monitors.add(c.client)
        c.reply.ok()
    }
}
