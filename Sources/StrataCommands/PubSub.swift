import NIOConcurrencyHelpers
import NIOCore
import StrataRESP
import StrataStore
import Synchronization

/// The three kinds of subscription Redis has: to a channel (SUBSCRIBE), to a glob pattern of
/// channels (PSUBSCRIBE), and to a shard channel (SSUBSCRIBE, which lives in a hash slot).
public enum SubscriptionKind: Int, Sendable, CaseIterable {
    case channel = 0
    case pattern = 1
    case shardChannel = 2

    /// The confirmation's first element: `subscribe`, `psubscribe`, `ssubscribe`.
    var subscribeName: String { ["subscribe", "psubscribe", "ssubscribe"][rawValue] }
    var unsubscribeName: String { ["unsubscribe", "punsubscribe", "sunsubscribe"][rawValue] }
}

/// Who is subscribed to what, for the whole server, and the delivery of published messages.
///
/// Publishers run on any event loop; each subscriber's messages go to its ``PushOutbox``, which
/// its own connection writes out on its event loop. One lock guards the maps; a publisher takes
/// a snapshot of the subscribers under it and appends to their outboxes after, so a message
/// reaches every subscriber that was subscribed when it was published, exactly once (one that
/// unsubscribes meanwhile may still get it, as its confirmation is not written yet).
///
/// `@unchecked Sendable`: `_state` is only touched under `lock`, an adaptive mutex (every
/// PUBLISH takes it for a lookup, from every loop).
public final class PubSubHub: @unchecked Sendable {
    private struct State {
        var channels: [[UInt8]: [ClientSession]] = [:]
        var patterns: [[UInt8]: [ClientSession]] = [:]
        var shardChannels: [[UInt8]: [ClientSession]] = [:]

        subscript(kind: SubscriptionKind) -> [[UInt8]: [ClientSession]] {
            get {
                switch kind {
                case .channel: channels
                case .pattern: patterns
                case .shardChannel: shardChannels
                }
            }
            set {
                switch kind {
                case .channel: channels = newValue
                case .pattern: patterns = newValue
                case .shardChannel: shardChannels = newValue
                }
            }
        }
    }

    private let lock = ShardLock()
    private var _state = State()

    private func withState<R>(_ body: (inout State) -> R) -> R {
        lock.withLock { body(&_state) }
    }
    /// Distinct patterns with a subscriber: publishing skips the pattern walk while it is 0.
    private let patternCount = Synchronization.Atomic<Int>(0)
    /// `client-output-buffer-limit pubsub`'s hard limit: a subscriber whose waiting messages
    /// would pass it is disconnected at once (the soft limit is the cron's).
    private let hardLimit = Synchronization.Atomic<Int>(32 << 20)
    /// Subscribers disconnected for passing the hard limit (INFO's
    /// `client_output_buffer_limit_disconnections` counts them with the cron's).
    public let limitDisconnections = Synchronization.Atomic<Int>(0)

    public init() {}

    public func configure(hardLimit: Int) { self.hardLimit.store(hardLimit, ordering: .relaxed) }

    // MARK: - Subscribing (on the subscriber's event loop)

    /// Adds `session` to `name`'s subscribers; false if it was one already.
    @discardableResult
    public func subscribe(_ session: ClientSession, _ kind: SubscriptionKind, _ name: [UInt8]) -> Bool {
        guard session.subscriptions.insert(name, kind) else { return false }
        withState { state in
            var isNew = false
            switch kind {
            case .channel: state.channels[name, default: []].append(session)
            case .shardChannel: state.shardChannels[name, default: []].append(session)
            case .pattern:
                isNew = state.patterns[name] == nil
                state.patterns[name, default: []].append(session)
            }
            if isNew { patternCount.add(1, ordering: .relaxed) }
        }
        return true
    }

    /// Removes `session` from `name`'s subscribers; false if it was not one.
    @discardableResult
    public func unsubscribe(_ session: ClientSession, _ kind: SubscriptionKind, _ name: [UInt8]) -> Bool {
        guard session.subscriptions.remove(name, kind) else { return false }
        withState { state in
            var map = state[kind]
            state[kind] = [:] // keep the dictionary uniquely referenced while it changes
            if var subscribers = map[name] {
                subscribers.removeAll { $0 === session }
                map[name] = subscribers.isEmpty ? nil : subscribers
                if subscribers.isEmpty && kind == .pattern { patternCount.subtract(1, ordering: .relaxed) }
            }
            state[kind] = map
        }
        return true
    }

    /// Every subscription of `session` of these kinds, ended (UNSUBSCRIBE without arguments,
    /// RESET, a closed connection). Returns the names, in no particular order.
    @discardableResult
    public func unsubscribeAll(_ session: ClientSession, _ kinds: [SubscriptionKind] = SubscriptionKind.allCases) -> [[UInt8]] {
        var names: [[UInt8]] = []
        for kind in kinds {
            for name in session.subscriptions.names(kind) {
                unsubscribe(session, kind, name)
                names.append(name)
            }
        }
        return names
    }

    // MARK: - Publishing (any thread)

    /// Delivers `message` to the subscribers of `channel` and of the patterns it matches
    /// (`.channel`), or of the shard channel (`.shardChannel`). Returns how many received it.
    ///
    /// The subscribers to wake are added to `wakes`: the caller wakes them (``CommandContext/
    /// wakeSubscribers()``) once for all the messages it publishes in a batch of commands.
    ///
    /// A publisher subscribed to the channel itself gets its copies in `own` (nil for the
    /// channel's, the pattern for a pattern's) instead of its outbox, so that they can precede
    /// its PUBLISH's reply, as in Redis.
    public func publish(_ kind: SubscriptionKind, channel: [UInt8], message: [UInt8],
                        publisher: ClientSession? = nil, own: inout [[UInt8]?], wakes: inout [ClientSession]) -> Int {
        let limit = hardLimit.load(ordering: .relaxed)
        var overLimit: [ClientSession] = []
        // A snapshot under the lock (the arrays are copied on write, so this is a retain), then
        // delivery outside it: publishers on several loops do not queue behind each other.
        let (direct, patterns) = withState { state in
            (kind == .shardChannel ? state.shardChannels[channel] : state.channels[channel],
             kind == .channel && patternCount.load(ordering: .relaxed) > 0 ? state.patterns : nil)
        }
        var receivers = 0
        if let direct {
            // Encoded once (RESP2; a RESP3 subscriber gets it with a push marker instead).
            let frame = PushFrame.message(kind == .shardChannel ? "smessage" : "message", channel: channel, message: message)
            for session in direct {
                receivers += 1
                if session === publisher {
                    own.append(nil)
                    continue
                }
                switch session.pushes.append(frame, limit: limit) {
                case .wake: wakes.append(session)
                case .overLimit: overLimit.append(session)
                case .queued: break
                }
            }
        }
        if let patterns {
            for (pattern, subscribers) in patterns where GlobPattern.matches(pattern: pattern, channel) {
                let frame = PushFrame.patternMessage(pattern, channel: channel, message: message)
                for session in subscribers {
                    receivers += 1
                    if session === publisher {
                        own.append(pattern)
                        continue
                    }
                    switch session.pushes.append(frame, limit: limit) {
                    case .wake: wakes.append(session)
                    case .overLimit: overLimit.append(session)
                    case .queued: break
                    }
                }
            }
        }
        // Closing on this thread may run the connection's teardown, which unsubscribes.
        for session in overLimit {
            limitDisconnections.add(1, ordering: .relaxed)
            session.killed.store(true, ordering: .relaxed)
            session.close()
        }
        return receivers
    }

    // MARK: - PUBSUB

    /// The channels (or shard channels) with at least one subscriber, matching `pattern` if given.
    public func activeChannels(_ kind: SubscriptionKind, matching pattern: [UInt8]?) -> [[UInt8]] {
        withState { state in
            state[kind].keys.filter { name in pattern.map { GlobPattern.matches(pattern: $0, name) } ?? true }
        }
    }

    /// How many clients are subscribed to `name`.
    public func subscriberCount(_ kind: SubscriptionKind, _ name: [UInt8]) -> Int {
        withState { $0[kind][name]?.count ?? 0 }
    }

    /// Distinct channels, patterns or shard channels with a subscriber (INFO's `pubsub_*`).
    public func count(_ kind: SubscriptionKind) -> Int {
        kind == .pattern ? patternCount.load(ordering: .relaxed) : withState { $0[kind].count }
    }
}

/// One connection's subscriptions. Changed only on the connection's event loop; the counts
/// are atomics, for CLIENT LIST and the cron on other threads.
public final class Subscriptions: Sendable {
    private let names = NIOLockedValueBox<[Set<[UInt8]>]>([[], [], []])
    private let channels = Synchronization.Atomic<Int>(0)
    private let patterns = Synchronization.Atomic<Int>(0)
    private let shardChannels = Synchronization.Atomic<Int>(0)

    init() {}

    fileprivate func insert(_ name: [UInt8], _ kind: SubscriptionKind) -> Bool {
        let inserted = names.withLockedValue { $0[kind.rawValue].insert(name).inserted }
        if inserted { add(kind, 1) }
        return inserted
    }

    fileprivate func remove(_ name: [UInt8], _ kind: SubscriptionKind) -> Bool {
        let removed = names.withLockedValue { $0[kind.rawValue].remove(name) != nil }
        if removed { add(kind, -1) }
        return removed
    }

    func names(_ kind: SubscriptionKind) -> [[UInt8]] { names.withLockedValue { Array($0[kind.rawValue]) } }

    private func add(_ kind: SubscriptionKind, _ delta: Int) {
        switch kind {
        case .channel: channels.add(delta, ordering: .relaxed)
        case .pattern: patterns.add(delta, ordering: .relaxed)
        case .shardChannel: shardChannels.add(delta, ordering: .relaxed)
        }
    }

    public func count(_ kind: SubscriptionKind) -> Int {
        switch kind {
        case .channel: channels.load(ordering: .relaxed)
        case .pattern: patterns.load(ordering: .relaxed)
        case .shardChannel: shardChannels.load(ordering: .relaxed)
        }
    }

    /// Channels plus patterns: the number SUBSCRIBE and PSUBSCRIBE confirmations carry.
    public var channelsAndPatterns: Int { count(.channel) + count(.pattern) }

    /// Subscribed to anything: a RESP2 connection may then run only the (un)subscribe
    /// commands, PING, QUIT and RESET, and the pubsub output limits apply to it.
    public var any: Bool { channelsAndPatterns + count(.shardChannel) > 0 }
}

/// Messages published to one connection and not yet handed to its channel.
///
/// Publishers append from any thread; the connection takes the whole buffer on its event loop
/// and writes it. It is woken once per batch (the first message after a take), so a burst of
/// messages costs one write, not one per message. While the connection cannot write (its
/// client reads slowly), messages stay here, counted against the pubsub hard limit.
///
/// `@unchecked Sendable`: `state` is only touched under `lock` (an adaptive mutex: two loops
/// publishing to one subscriber collide often, for a few instructions each).
public final class PushOutbox: @unchecked Sendable {
    private struct State {
        var buffer = ByteBuffer()
        var woken = false
        var closed = false
        var resp3 = false
    }
    private let lock = ShardLock()
    private var _state = State()

    private func withState<R>(_ body: (inout State) -> R) -> R {
        lock.withLock { body(&_state) }
    }
    /// Bytes waiting here, for CLIENT LIST's `omem` and the output limits.
    private let waiting = Synchronization.Atomic<Int>(0)

    init() {}

    public enum Outcome { case queued, wake, overLimit }

    /// Appends a message (a ``PushFrame``). `.wake`: the connection must be woken to write it;
    /// `.overLimit`: the messages waiting would pass `limit` (0: none), so the outbox closes
    /// and the connection must be closed.
    func append(_ frame: [UInt8], limit: Int) -> Outcome {
        append(frame, limit: limit, asPush: true)
    }

    /// Appends a complete reply as it is (a MONITOR line), in either protocol.
    func appendReply(_ reply: [UInt8], limit: Int) -> Outcome {
        append(reply, limit: limit, asPush: false)
    }

    private func append(_ frame: [UInt8], limit: Int, asPush: Bool) -> Outcome {
        withState { state in
            guard !state.closed else { return .queued }
            if asPush {
                state.buffer.writeInteger(state.resp3 ? UInt8(ascii: ">") : UInt8(ascii: "*"))
                state.buffer.writeBytes(frame[1...])
            } else {
                state.buffer.writeBytes(frame)
            }
            let bytes = state.buffer.readableBytes
            waiting.store(bytes, ordering: .relaxed)
            if limit > 0 && bytes >= limit {
                state.closed = true
                state.buffer = ByteBuffer()
                waiting.store(0, ordering: .relaxed)
                return .overLimit
            }
            if state.woken { return .queued }
            state.woken = true
            return .wake
        }
    }

    /// Everything waiting (on the connection's event loop); later messages wake it again.
    public func take() -> ByteBuffer? {
        withState { state in
            state.woken = false
            guard state.buffer.readableBytes > 0 else { return nil }
            let taken = state.buffer
            state.buffer = ByteBuffer()
            waiting.store(0, ordering: .relaxed)
            return taken
        }
    }

    /// Leaves the messages waiting, but counts the connection as woken: it writes them itself
    /// once its channel is writable again.
    public func holdWhileBlocked() {
        withState { $0.woken = true }
    }

    public var waitingBytes: Int { waiting.load(ordering: .relaxed) }

    /// The protocol messages are encoded in: RESP3 push frames or RESP2 arrays.
    func setProtocol(resp3: Bool) { withState { $0.resp3 = resp3 } }

    /// Whether the connection speaks RESP3 (readable from any thread; client tracking asks).
    var isResp3: Bool { withState { $0.resp3 } }
}

/// Published messages as RESP2 arrays: `message`/`smessage` (3 elements) and `pmessage` (4).
/// A RESP3 subscriber gets the same bytes with `>` for the first.
enum PushFrame {
    static func message(_ kind: StaticString, channel: [UInt8], message: [UInt8]) -> [UInt8] {
        var frame: [UInt8] = []
        frame.reserveCapacity(32 + channel.count + message.count)
        frame.append(contentsOf: "*3\r\n".utf8)
        bulk(kind, into: &frame)
        bulk(channel, into: &frame)
        bulk(message, into: &frame)
        return frame
    }

    static func patternMessage(_ pattern: [UInt8], channel: [UInt8], message: [UInt8]) -> [UInt8] {
        var frame: [UInt8] = []
        frame.reserveCapacity(48 + pattern.count + channel.count + message.count)
        frame.append(contentsOf: "*4\r\n".utf8)
        bulk("pmessage", into: &frame)
        bulk(pattern, into: &frame)
        bulk(channel, into: &frame)
        bulk(message, into: &frame)
        return frame
    }

    private static func bulk(_ text: StaticString, into frame: inout [UInt8]) {
        text.withUTF8Buffer { bulk($0, into: &frame) }
    }

    private static func bulk<C: Collection>(_ bytes: C, into frame: inout [UInt8]) where C.Element == UInt8 {
        frame.append(UInt8(ascii: "$"))
        decimal(bytes.count, into: &frame)
        frame.append(contentsOf: [13, 10])
        frame.append(contentsOf: bytes)
        frame.append(contentsOf: [13, 10])
    }

    private static func decimal(_ value: Int, into frame: inout [UInt8]) {
        var digits: (UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8,
                     UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8) =
            (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
        var n = value
        var count = 0
        withUnsafeMutableBytes(of: &digits) { raw in
            repeat {
                raw[19 - count] = UInt8(ascii: "0") + UInt8(n % 10)
                n /= 10
                count += 1
            } while n > 0
            frame.append(contentsOf: raw[(20 - count)...])
        }
    }
}
