import NIOConcurrencyHelpers
import StrataStore
import Synchronization

/// A client's CLIENT TRACKING options (kept on its session, on its event loop, and copied into
/// the ``ClientTracker`` for delivery from other threads).
public struct TrackingOptions: Sendable, Equatable {
    public var redirect = 0
    public var broadcast = false
    public var optIn = false
    public var optOut = false
    public var noLoop = false
    public var prefixes: [[UInt8]] = []
}

/// Client-side caching (CLIENT TRACKING): which clients read which keys, and the invalidation
/// messages sent when those keys change.
///
/// Default mode remembers, per key name (in every database, as Redis does), the ids of the
/// tracking clients that read it with a read-only command; the first change of the key sends
/// each of them one invalidation and forgets the key. BCAST mode remembers nothing: every change
/// of a key under one of a client's prefixes invalidates it. The table holds at most
/// `tracking-table-max-keys` keys (0: no limit); past it, keys are invalidated to make room.
///
/// Thread safety: everything sits behind `lock`, an adaptive mutex. It is taken from the shards'
/// key-event sink (under a shard lock) and from commands; no shard lock is ever taken while it
/// is held, and the outboxes' locks taken under it take nothing else.
/// `@unchecked Sendable`: `_state` is only touched under `lock`.
public final class ClientTracker: @unchecked Sendable {
    private struct Client {
        let session: ClientSession
        var options: TrackingOptions
    }

    private struct State {
        var keys: [[UInt8]: Set<Int>] = [:]
        var clients: [Int: Client] = [:]
        var broadcasters: [Int] = []
        var maxKeys = 1_000_000
    }

    private let lock = ShardLock()
    private var _state = State()
    private let clientCount = Synchronization.Atomic<Int>(0)
    private let keyCount = Synchronization.Atomic<Int>(0)
    private let itemCount = Synchronization.Atomic<Int>(0)
    private let registry: ClientRegistry

    init(registry: ClientRegistry) { self.registry = registry }

    private func withState<R>(_ body: (inout State) -> R) -> R { lock.withLock { body(&_state) } }

    /// Some client tracks: the shards must report key changes.
    public var isActive: Bool { clientCount.load(ordering: .relaxed) > 0 }
    /// Keys in the default-mode table (INFO's `tracking_total_keys`).
    public var totalKeys: Int { keyCount.load(ordering: .relaxed) }
    /// Client ids over all keys of the table (INFO's `tracking_total_items`).
    public var totalItems: Int { itemCount.load(ordering: .relaxed) }
    /// Clients tracking (INFO's `tracking_clients`).
    public var totalClients: Int { clientCount.load(ordering: .relaxed) }
    /// Distinct BCAST prefixes (INFO's `tracking_total_prefixes`).
    public var totalPrefixes: Int {
        withState { state in Set(state.broadcasters.flatMap { state.clients[$0]?.options.prefixes ?? [] }).count }
    }

    /// A client's options while it tracks (CLIENT LIST's `flags=t` and `redir`, from any thread).
    public func options(of id: Int) -> TrackingOptions? { withState { $0.clients[id]?.options } }

    public func configure(maxKeys: Int) { withState { $0.maxKeys = maxKeys } }

    // MARK: - Clients

    func enable(_ session: ClientSession, _ options: TrackingOptions) {
        withState { state in
            if state.clients[session.id] == nil { clientCount.add(1, ordering: .relaxed) }
            state.clients[session.id] = Client(session: session, options: options)
            state.broadcasters.removeAll { $0 == session.id }
            if options.broadcast { state.broadcasters.append(session.id) }
        }
    }

    func disable(_ session: ClientSession) {
        withState { state in
            guard state.clients.removeValue(forKey: session.id) != nil else { return }
            clientCount.subtract(1, ordering: .relaxed)
            state.broadcasters.removeAll { $0 == session.id }
        }
    }

    // MARK: - Reads (default mode)

    /// Remembers that `session` read `keys` (a read-only command's); makes room past the limit.
    func remember(_ keys: [[UInt8]], by session: ClientSession, wakes: inout [ClientSession]) {
        var evicted: [([UInt8], [Client])] = []
        withState { state in
            for key in keys {
                guard state.keys[key, default: []].insert(session.id).inserted else { continue }
                itemCount.add(1, ordering: .relaxed)
                if state.keys[key]!.count == 1 { keyCount.add(1, ordering: .relaxed) }
            }
            while state.maxKeys > 0 && state.keys.count > state.maxKeys,
                  let victim = state.keys.first(where: { !keys.contains($0.key) }) ?? state.keys.first {
                state.keys.removeValue(forKey: victim.key)
                keyCount.subtract(1, ordering: .relaxed)
                itemCount.subtract(victim.value.count, ordering: .relaxed)
                evicted.append((victim.key, victim.value.compactMap { state.clients[$0] }.filter { !$0.options.broadcast }))
            }
        }
        for (key, targets) in evicted {
            for target in targets { send(key, to: target, wakes: &wakes) }
        }
    }

    // MARK: - Writes

    /// A key changed (written, deleted, expired, evicted): invalidates it for the clients that
    /// read it and the broadcasters whose prefixes it matches. `writer` is the client whose
    /// command changed it (nil for the cron), skipped when it tracks with NOLOOP.
    func invalidate(_ key: [UInt8], writer: ClientSession?, wakes: inout [ClientSession]) {
        let targets: [Client] = withState { state in
            var targets: [Client] = []
            if let ids = state.keys.removeValue(forKey: key) {
                keyCount.subtract(1, ordering: .relaxed)
                itemCount.subtract(ids.count, ordering: .relaxed)
                for id in ids {
                    guard let client = state.clients[id], !client.options.broadcast else { continue }
                    targets.append(client)
                }
            }
            for id in state.broadcasters {
                guard let client = state.clients[id],
                      client.options.prefixes.contains(where: { key.starts(with: $0) }) else { continue }
                targets.append(client)
            }
            return targets
        }
        for target in targets where !(target.options.noLoop && target.session === writer) {
            send(key, to: target, wakes: &wakes)
        }
    }

    /// FLUSHALL / FLUSHDB: every tracking client gets a null invalidation; the table empties.
    func invalidateAll(wakes: inout [ClientSession]) {
        let targets: [Client] = withState { state in
            state.keys.removeAll()
            keyCount.store(0, ordering: .relaxed)
            itemCount.store(0, ordering: .relaxed)
            return Array(state.clients.values)
        }
        for target in targets { send(nil, to: target, wakes: &wakes) }
    }

    /// Redis's `sendTrackingMessage`: to the client itself in RESP3, or to its REDIRECT client
    /// (a push in RESP3, a `message` on `__redis__:invalidate` in RESP2 while it is subscribed).
    private func send(_ key: [UInt8]?, to target: Client, wakes: inout [ClientSession]) {
        var receiver = target.session
        var redirected = false
        if target.options.redirect != 0 {
            guard let redirect = registry.session(id: target.options.redirect) else {
                if target.session.pushes.isResp3 {
                    deliver(Self.brokenRedirectFrame(target.options.redirect), to: target.session, wakes: &wakes)
                }
                return
            }
            receiver = redirect
            redirected = true
        }
        let frame: [UInt8]
        if receiver.pushes.isResp3 {
            frame = Self.invalidateFrame(key, resp3: true)
        } else if redirected && receiver.subscriptions.any {
            frame = Self.messageFrame(key)
        } else {
            return
        }
        deliver(frame, to: receiver, wakes: &wakes)
    }

    private func deliver(_ frame: [UInt8], to session: ClientSession, wakes: inout [ClientSession]) {
        switch session.pushes.append(frame, limit: 0) {
        case .wake: wakes.append(session)
        case .queued, .overLimit: break
        }
    }

    // MARK: - Frames

    private static func bulk(_ bytes: [UInt8]) -> [UInt8] {
        Array("$\(bytes.count)\r\n".utf8) + bytes + [13, 10]
    }

    private static func keys(_ key: [UInt8]?, resp3: Bool) -> [UInt8] {
        guard let key else { return Array((resp3 ? "_\r\n" : "$-1\r\n").utf8) }
        return Array("*1\r\n".utf8) + bulk(key)
    }

    /// `>2 invalidate [key]` (the outbox turns the leading `*` into `>`).
    static func invalidateFrame(_ key: [UInt8]?, resp3: Bool) -> [UInt8] {
        Array("*2\r\n$10\r\ninvalidate\r\n".utf8) + keys(key, resp3: resp3)
    }

    /// `message __redis__:invalidate [key]` for a RESP2 redirect client.
    static func messageFrame(_ key: [UInt8]?) -> [UInt8] {
        Array("*3\r\n$7\r\nmessage\r\n$20\r\n__redis__:invalidate\r\n".utf8) + keys(key, resp3: false)
    }

    static func brokenRedirectFrame(_ id: Int) -> [UInt8] {
        Array("*2\r\n$21\r\ntracking-redir-broken\r\n:\(id)\r\n".utf8)
    }
}

// MARK: - CLIENT TRACKING, CACHING, GETREDIR, TRACKINGINFO

enum TrackingCommands {
    /// CLIENT TRACKING ON|OFF [REDIRECT id] [PREFIX prefix ...] [BCAST] [OPTIN] [OPTOUT] [NOLOOP]
    static func tracking(_ c: inout CommandContext) {
        var options = TrackingOptions()
        var j = 3
        while j < c.arguments.count {
            let more = j + 1 < c.arguments.count
            if c.arguments.matches(j, "REDIRECT") && more {
                j += 1
                if options.redirect != 0 {
                    c.error("ERR A client can only redirect to a single other client")
                    return
                }
                guard let id = c.arguments.integer(j) else {
                    c.error("ERR value is not an integer or out of range")
                    return
                }
                guard c.server.clients.session(id: id) != nil else {
                    c.error("ERR The client ID you want redirect to does not exist")
                    return
                }
                options.redirect = id
            } else if c.arguments.matches(j, "BCAST") {
                options.broadcast = true
            } else if c.arguments.matches(j, "OPTIN") {
                options.optIn = true
            } else if c.arguments.matches(j, "OPTOUT") {
                options.optOut = true
            } else if c.arguments.matches(j, "NOLOOP") {
                options.noLoop = true
            } else if c.arguments.matches(j, "PREFIX") && more {
                j += 1
                options.prefixes.append(c.arguments.bytes(j))
            } else {
                c.syntaxError()
                return
            }
            j += 1
        }
        if c.arguments.matches(2, "ON") {
            if !options.broadcast && !options.prefixes.isEmpty {
                c.error("ERR PREFIX option requires BCAST mode to be enabled")
                return
            }
            if let old = c.client.tracking, old.broadcast != options.broadcast {
                c.error("ERR You can't switch BCAST mode on/off before disabling tracking for this client, and then re-enabling it with a different mode.")
                return
            }
            if options.broadcast && (options.optIn || options.optOut) {
                c.error("ERR OPTIN and OPTOUT are not compatible with BCAST")
                return
            }
            if options.optIn && options.optOut {
                c.error("ERR You can't specify both OPTIN mode and OPTOUT mode")
                return
            }
            if let old = c.client.tracking, (options.optIn && old.optOut) || (options.optOut && old.optIn) {
                c.error("ERR You can't switch OPTIN/OPTOUT mode before disabling tracking for this client, and then re-enabling it with a different mode.")
                return
            }
            if options.broadcast {
                // Redis adds to the prefixes already set; they must not overlap.
                let existing = c.client.tracking?.prefixes ?? []
                var all = existing
                for prefix in options.prefixes where !all.contains(prefix) {
                    if let other = all.first(where: { $0.starts(with: prefix) || prefix.starts(with: $0) }) {
                        c.reply.error(bytes: Array("ERR Prefix '".utf8) + CommandContext.cString(prefix) + Array("' overlaps with an existing prefix '".utf8)
                                    + CommandContext.cString(other) + Array("'. Prefixes for a single client must not overlap.".utf8))
                        return
                    }
                    all.append(prefix)
                }
                if all.isEmpty { all = [[]] }
                options.prefixes = all
            }
            if let old = c.client.tracking {
                // Redis ORs the new flags onto the old ones.
                options.noLoop = options.noLoop || old.noLoop
                options.optIn = options.optIn || old.optIn
                options.optOut = options.optOut || old.optOut
            }
            c.client.tracking = options
            c.client.trackingCaching = false
            c.server.tracker.enable(c.client, options)
            c.server.keyEventsChanged()
        } else if c.arguments.matches(2, "OFF") {
            disable(c.client, c.server)
        } else {
            c.syntaxError()
            return
        }
        c.reply.ok()
    }

    static func disable(_ session: ClientSession, _ server: ServerContext) {
        guard session.tracking != nil else { return }
        session.tracking = nil
        session.trackingCaching = false
        server.tracker.disable(session)
        server.keyEventsChanged()
    }

    /// CLIENT CACHING YES|NO: whether the next command's keys are remembered (OPTIN / OPTOUT).
    static func caching(_ c: inout CommandContext) {
        guard let options = c.client.tracking, options.optIn || options.optOut else {
            c.error("ERR CLIENT CACHING can be called only when the client is in tracking mode with OPTIN or OPTOUT mode enabled")
            return
        }
        if c.arguments.matches(2, "YES") {
            guard options.optIn else {
                c.error("ERR CLIENT CACHING YES is only valid when tracking is enabled in OPTIN mode.")
                return
            }
        } else if c.arguments.matches(2, "NO") {
            guard options.optOut else {
                c.error("ERR CLIENT CACHING NO is only valid when tracking is enabled in OPTOUT mode.")
                return
            }
        } else {
            c.syntaxError()
            return
        }
        c.client.trackingCaching = true
        c.reply.ok()
    }

    static func getredir(_ c: inout CommandContext) {
        c.reply.integer(c.client.tracking.map { $0.redirect } ?? -1)
    }

    static func trackinginfo(_ c: inout CommandContext) {
        let options = c.client.tracking
        c.reply.mapHeader(3)
        c.reply.bulk("flags")
        var flags: [String] = []
        if let options {
            flags.append("on")
            if options.broadcast { flags.append("bcast") }
            if options.optIn { flags.append("optin") }
            if options.optOut { flags.append("optout") }
            if c.client.trackingCaching { flags.append(options.optIn ? "caching-yes" : "caching-no") }
            if options.noLoop { flags.append("noloop") }
            if options.redirect != 0 && c.server.clients.session(id: options.redirect) == nil { flags.append("broken_redirect") }
        } else {
            flags.append("off")
        }
        c.reply.setHeader(flags.count)
        for flag in flags { c.reply.bulk(flag) }
        c.reply.bulk("redirect")
        c.reply.integer(options.map { $0.redirect } ?? -1)
        c.reply.bulk("prefixes")
        let prefixes = options?.broadcast == true ? options!.prefixes : []
        c.reply.arrayHeader(prefixes.count)
        for prefix in prefixes { c.reply.bulk(prefix) }
    }

    /// After a command of a tracking client: remember the keys of a read-only command (default
    /// mode; with OPTIN only after CLIENT CACHING YES, with OPTOUT unless CLIENT CACHING NO).
    static func remember(_ spec: CommandSpec, _ context: inout CommandContext) {
        guard let options = context.client.tracking, !options.broadcast, spec.flags.contains(.readonly) else { return }
        if options.optIn && !context.client.trackingCaching { return }
        if options.optOut && context.client.trackingCaching { return }
        let positions = spec.keyPositions(context.arguments)
        guard !positions.isEmpty else { return }
        let keys = positions.map { context.arguments.bytes($0) }
        context.server.tracker.remember(keys, by: context.client, wakes: &context.subscribersToWake)
        if !context.batchesWakeups { context.wakeSubscribers() }
    }
}
