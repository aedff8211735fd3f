import NIOConcurrencyHelpers
import Logging
import NIOCore
import StrataCommands
import StrataConfig
import StrataRESP
import StrataStore
import Synchronization

/// Membership, ring and health at one moment. Immutable: replaced as a whole on any change.
final class ClusterView: Sendable {
    let nodes: [ClusterNodeAddress]
    let ids: [String]
    let selfIndex: Int
    let ring: HashRing
    let live: [Bool]
    /// The node serving each slot now (down nodes skipped).
    let owners: [UInt16]
    /// The node each slot belongs to when every node is up.
    let primaries: [UInt16]
    /// Some node is down, so some slots are served for it by others (`owners` ≠ `primaries`).
    let borrowing: Bool
    let epoch: Int

    init(nodes: [ClusterNodeAddress], selfIndex: Int, ring: HashRing, live: [Bool], epoch: Int,
         primaries: [UInt16]? = nil) {
        self.nodes = nodes
        self.ids = nodes.map { StableHash.nodeID($0.endpoint) }
        self.selfIndex = selfIndex
        self.ring = ring
        self.live = live
        self.owners = ring.slotOwners(live: live)
        self.primaries = primaries ?? ring.slotOwners(live: Array(repeating: true, count: nodes.count))
        self.borrowing = live.contains(false)
        self.epoch = epoch
    }

    func with(live: [Bool], epoch: Int) -> ClusterView {
        ClusterView(nodes: nodes, selfIndex: selfIndex, ring: ring, live: live, epoch: epoch, primaries: primaries)
    }
}

/// Per-event-loop state: the cached view and settings, and the connections to peers (each on
/// this loop, like the clients that use it: no thread hop). Touched only on its loop: the router
/// checks that once per command (`currentView`), and `link(to:)` and `refresh` check it too.
final class LoopPool: @unchecked Sendable {
    let loop: any EventLoop
    var view: ClusterView
    var version: Int
    var password: String
    var timeout: TimeAmount
    var links: [String: PeerLink] = [:]
    /// Shared by the links: a client answered by several peers in one wake-up is written once.
    let flusher: StreamFlusher
    /// `links` by node index in `view` (4 × index, + 1 for RESP3, + 2 for a relay link), filled
    /// on first use and cleared whenever the view changes: no string is built per request.
    private var linkByNode: [PeerLink?] = []
    private var messageLinkByNode: [PeerLink?] = []

    init(loop: any EventLoop, view: ClusterView, version: Int, password: String, timeout: TimeAmount) {
        (self.loop, self.view, self.version, self.password, self.timeout) = (loop, view, version, password, timeout)
        flusher = StreamFlusher(loop: loop)
    }

    func link(to node: ClusterNodeAddress, resp3: Bool, password: String, timeout: TimeAmount,
              name: String = ClusterRouter.peerName) -> PeerLink {
        loop.preconditionInEventLoop()
        var key = resp3 ? node.endpoint + "#3" : node.endpoint
        if name != ClusterRouter.peerName { key += "#" + name }
        if let link = links[key] {
            link.password = password
            link.timeout = timeout
            return link
        }
        let link = PeerLink(loop: loop, host: node.host, port: node.port, resp3: resp3, password: password, timeout: timeout,
                            name: name, flusher: flusher)
        links[key] = link
        return link
    }

    /// The link to node `index` of the cached view, with the cached settings; `relay` for a
    /// command another node sent here (see `ClusterRouter.relayName`).
    @inline(__always)
    func link(toNode index: Int, resp3: Bool, relay: Bool = false) -> PeerLink {
        let slot = 4 * index + (resp3 ? 1 : 0) + (relay ? 2 : 0)
        if slot < linkByNode.count, let link = linkByNode[slot] { return link }
        if linkByNode.count != 4 * view.nodes.count { linkByNode = Array(repeating: nil, count: 4 * view.nodes.count) }
        let link = link(to: view.nodes[index], resp3: resp3, password: password, timeout: timeout,
                        name: relay ? ClusterRouter.relayName : ClusterRouter.peerName)
        linkByNode[slot] = link
        return link
    }

    /// The link that relays published messages to node `index` (see `ClusterRouter.messagesName`).
    func messageLink(toNode index: Int) -> PeerLink {
        if index < messageLinkByNode.count, let link = messageLinkByNode[index] { return link }
        if messageLinkByNode.count != view.nodes.count { messageLinkByNode = Array(repeating: nil, count: view.nodes.count) }
        let link = link(to: view.nodes[index], resp3: false, password: password, timeout: timeout, name: ClusterRouter.messagesName)
        messageLinkByNode[index] = link
        return link
    }

    /// Takes a new view and settings; closes links to nodes no longer in the cluster.
    func refresh(view: ClusterView, version: Int, password: String, timeout: TimeAmount) {
        loop.preconditionInEventLoop()
        (self.view, self.version, self.password, self.timeout) = (view, version, password, timeout)
        linkByNode.removeAll(keepingCapacity: true)
        messageLinkByNode.removeAll(keepingCapacity: true)
        let endpoints = Set(view.nodes.map(\.endpoint))
        for (key, link) in links where !endpoints.contains(link.endpoint) {
            link.close()
            links[key] = nil
        }
    }
}

/// Decides, for every command with keys, whether it runs here, is forwarded to the node that owns
/// its keys (`proxy` mode), or is answered with `-MOVED` (`redirect` mode).
///
/// Multi-key commands whose keys live on several nodes are split by owner (MGET, MSET, DEL,
/// UNLINK, EXISTS, TOUCH) and their replies merged in order; any other command whose keys span
/// several slots gets Redis Cluster's `-CROSSSLOT`.
public final class ClusterRouter: CommandRouter, ClusterIntrospection {
    public typealias Mode = Configuration.ClusterMode

    private struct Settings: Sendable {
        var view: ClusterView
        var password: String
        var timeout: Int
        var lastPong: [String: Int64] = [:]
    }

    public let mode: Mode
    private let settings: NIOLockedValueBox<Settings>
    private let version = Atomic<Int>(0)
    private let pools: [ObjectIdentifier: LoopPool]
    private let handoff = NIOLockedValueBox<Handoff?>(nil)
    private let logger = NIOLockedValueBox<Logger?>(nil)
    /// Keys written here for nodes that were down, to hand back when they return.
    let ledger = BorrowLedger()
    /// Set while this node rejoins: commands on keys wait (see ``RejoinStateMachine``). Starts
    /// set: a node that starts has to ask the others first.
    private let fenced = Atomic<Bool>(true)
    /// Completed when the rejoin ends; nil while serving.
    private let rejoin: NIOLockedValueBox<EventLoopPromise<Void>?>
    /// Wall-clock milliseconds until which this node may serve without having run its health
    /// checks again (renewed every health tick). A command after it finds this node was stopped
    /// or starved for most of a node timeout: the others may have taken its slots over.
    private let leaseUntil = Atomic<Int64>(0)
    /// Starts a rejoin on the health loop (set by the health monitor).
    private let rejoinStarter = NIOLockedValueBox<(@Sendable (String) -> Void)?>(nil)
    private let rejoinFigures = NIOLockedValueBox((count: 0, last: "none"))
    /// Slots this node started serving at a membership change, while their previous node hands
    /// their keys over (see ``Receiving``).
    private let receiving = NIOLockedValueBox(Receiving())
    /// Whether `receiving` has slots: read by every command, so kept apart from the lock.
    private let receivingActive = Atomic<Bool>(false)
    /// The name a node gives its connections to other nodes.
    static let peerName = "strata-cluster-peer"
    /// The name of the connections that hand keys over: never held back by a rejoin (the rejoin
    /// waits for what they bring).
    static let handoffName = "strata-cluster-handoff"
    /// The name of the connections that pass on a command another node forwarded here (its view
    /// and this node's disagree, as while a membership change reaches the nodes one by one): a
    /// command that arrives on one runs where it lands or is refused, so it travels two hops at most.
    static let relayName = "strata-cluster-relay"
    /// The name of the connections that pass messages published on one node (PUBLISH, SPUBLISH,
    /// keyspace notifications) to the others: delivered where they arrive, never relayed again.
    static let messagesName = "strata-cluster-messages"
    /// Where health checks run.
    let healthLoop: any EventLoop

    /// - Throws: ``ConfigurationError`` when `cluster-nodes` does not name this node.
    public init(configuration: Configuration, group: any EventLoopGroup) throws(ConfigurationError) {
        guard let selfIndex = Self.findSelf(in: configuration.clusterNodes, configuration: configuration) else {
            throw Self.notListed(configuration)
        }
        mode = configuration.clusterMode
        let nodes = configuration.clusterNodes
        let view = ClusterView(nodes: nodes, selfIndex: selfIndex,
                               ring: HashRing(nodes: nodes),
                               live: Array(repeating: true, count: nodes.count), epoch: 1)
        settings = NIOLockedValueBox(Settings(view: view, password: configuration.requirePass,
                                              timeout: configuration.clusterNodeTimeout))
        var pools: [ObjectIdentifier: LoopPool] = [:]
        var first: (any EventLoop)?
        for loop in group.makeIterator() {
            first = first ?? loop
            pools[ObjectIdentifier(loop)] = LoopPool(loop: loop, view: view, version: 0, password: configuration.requirePass,
                                                     timeout: .milliseconds(Int64(configuration.clusterNodeTimeout)))
        }
        self.pools = pools
        self.healthLoop = first ?? group.next()
        rejoin = NIOLockedValueBox(healthLoop.makePromise(of: Void.self))
    }

    static func notListed(_ configuration: Configuration) -> ConfigurationError {
        let me = configuration.clusterAnnounce.isEmpty
            ? "bind \(configuration.bind.joined(separator: " ")) port \(configuration.port)"
            : "cluster-announce \(configuration.clusterAnnounce)"
        return ConfigurationError(directive: "cluster-nodes", reason: "this node (\(me)) is not in the list")
    }

    /// This node's index in `nodes`: the one `cluster-announce` names, else the one whose port is
    /// `port` and whose host is one of the `bind` addresses (any host when bound to all).
    public static func findSelf(in nodes: [ClusterNodeAddress], configuration: Configuration) -> Int? {
        if !configuration.clusterAnnounce.isEmpty {
            guard case .success(let me) = ClusterNodeAddress.parse(configuration.clusterAnnounce) else { return nil }
            return nodes.firstIndex { $0.endpoint == me.endpoint }
        }
        let binds = configuration.bind.map { $0.hasPrefix("-") ? String($0.dropFirst()) : $0 }
        let wildcard = binds.contains { $0 == "0.0.0.0" || $0 == "*" || $0 == "::" || $0 == "::*" }
        return nodes.firstIndex { node in
            node.port == configuration.port && (wildcard || binds.contains(node.host)
                || (node.host == "localhost" && binds.contains("127.0.0.1")))
        }
    }

    /// Enables handing keys over to their new owner when this node loses slots.
    public func attach(_ server: ServerContext, logger: Logger) {
        self.logger.withLockedValue { $0 = logger }
        handoff.withLockedValue { $0 = Handoff(router: self, server: server, loop: healthLoop, logger: logger) }
    }

    /// The id of this node's own session (hand-over reads and deletes): its commands run here,
    /// whoever serves their keys. Client ids start at 1.
    static let internalSessionID = 0

    /// The current view and the health loop's pool (for the handoff, which runs there).
    func handoffView(on loop: any EventLoop) -> (ClusterView, LoopPool) {
        let (view, pool) = currentView(loop)
        return (view, pool!)
    }

    /// The health loop's connection to `node` for moving keys.
    func handoffLink(to node: ClusterNodeAddress, on loop: any EventLoop) -> PeerLink {
        let (_, pool) = handoffView(on: loop)
        return pool.link(to: node, resp3: false, password: password, timeout: .milliseconds(Int64(nodeTimeout)),
                         name: Self.handoffName)
    }

    /// Whether `new` takes from this node a slot it served in `old`.
    private static func losesSlots(_ old: ClusterView, _ new: ClusterView) -> Bool {
        let me = old.nodes[old.selfIndex].endpoint
        guard new.nodes[new.selfIndex].endpoint == me else { return true }
        for slot in 0..<HashSlot.count where old.owners[slot] == UInt16(old.selfIndex) && new.owners[slot] != UInt16(new.selfIndex) {
            return true
        }
        return false
    }

    private func viewChanged(_ old: ClusterView, _ new: ClusterView, membership: Bool = false) {
        if membership { startReceiving(old, new) }
        version.add(1, ordering: .releasing)
        if Self.losesSlots(old, new) { handoff.withLockedValue { $0 }?.trigger() }
    }

    // MARK: - Membership and health

    var view: ClusterView { settings.withLockedValue { $0.view } }
    var nodeTimeout: Int { settings.withLockedValue { $0.timeout } }
    var password: String { settings.withLockedValue { $0.password } }

    /// Applies a configuration change (CONFIG SET, SIGHUP): a new node list rebuilds the ring,
    /// which moves only the slots whose owner changes. A list without this node removes it from
    /// the ring: it keeps running, with no slots of its own (weight 0), hands every key over to
    /// its new owner and forwards (or redirects) every command; stop it once
    /// `cluster_handover_in_progress` reads 0 and DBSIZE 0.
    @discardableResult
    public func apply(_ configuration: Configuration) -> Bool {
        let change = settings.withLockedValue { settings -> (ClusterView, ClusterView)? in
            if settings.password != configuration.requirePass || settings.timeout != configuration.clusterNodeTimeout {
                settings.password = configuration.requirePass
                settings.timeout = configuration.clusterNodeTimeout
                // Event loops re-read their cached settings.
                version.add(1, ordering: .releasing)
            }
            let old = settings.view
            var nodes = configuration.clusterNodes
            let selfIndex: Int
            if let listed = Self.findSelf(in: nodes, configuration: configuration) {
                selfIndex = listed
            } else {
                var leaving = old.nodes[old.selfIndex]
                leaving.weight = 0
                nodes.append(leaving)
                selfIndex = nodes.count - 1
            }
            guard nodes != old.nodes else { return nil }
            let live = nodes.map { node in old.nodes.firstIndex { $0.endpoint == node.endpoint }.map { old.live[$0] } ?? true }
            publish(ClusterView(nodes: nodes, selfIndex: selfIndex,
                                ring: HashRing(nodes: nodes),
                                live: live, epoch: old.epoch + 1), over: old, in: &settings)
            return (old, settings.view)
        }
        guard let (old, new) = change else { return false }
        viewChanged(old, new, membership: true)
        return true
    }

    // MARK: - Rejoin (this node) and return (a peer)

    /// Holds back every keyed command until a rejoin ends (see ``RejoinStateMachine``).
    func fence(reason: String) {
        let started = rejoin.withLockedValue { promise -> Bool in
            guard promise == nil else { return false }
            promise = healthLoop.makePromise(of: Void.self)
            fenced.store(true, ordering: .relaxed)
            return true
        }
        guard started else { return }
        rejoinStarter.withLockedValue { $0 }?(reason)
    }

    /// Ends a rejoin: held commands run.
    func serve(summary: String) {
        let promise = rejoin.withLockedValue { promise -> EventLoopPromise<Void>? in
            fenced.store(false, ordering: .relaxed)
            defer { promise = nil }
            return promise
        }
        rejoinFigures.withLockedValue { $0 = ($0.count + 1, summary) }
        promise?.succeed()
    }

    var isRejoining: Bool { fenced.load(ordering: .relaxed) }

    /// Called by the health monitor: how it starts a rejoin, on its loop.
    func onRejoin(_ start: @escaping @Sendable (String) -> Void) {
        rejoinStarter.withLockedValue { $0 = start }
    }

    /// Renewed by every health tick: serving is safe until a node timeout has nearly passed
    /// without one (the others take a silent node's slots over after a whole timeout).
    func renewLease(now: Int64) {
        leaseUntil.store(now + Int64(nodeTimeout) * 8 / 10, ordering: .relaxed)
    }

    /// A rejoining peer asks whether this node is done with its slots.
    public func rejoinStatus(for endpoint: String) -> String {
        let view = self.view
        guard let index = view.nodes.firstIndex(where: { $0.endpoint == endpoint }) else { return "DONE unlisted" }
        guard view.live[index] && ledger.owesNothing(to: endpoint) else { return "WAIT" }
        return handoff.withLockedValue { $0 }?.passing == true ? "DONE passing" : "DONE"
    }

    /// At start: keys on disk whose slots another node serves now (the membership changed while
    /// this node was stopped) go to it.
    func handOverLeftovers() {
        handoff.withLockedValue { $0 }?.trigger()
    }

    /// At start, this node does not know whether it is new: the keys of its slots may be on the
    /// nodes that would serve them without it. It fetches a missing key from there on first
    /// access until each of them says it holds nothing of its (a hand-over's HANDOFF-DONE, or a
    /// plain DONE to its REJOIN).
    func receiveAtStart() {
        let view = self.view
        var nodes = view.nodes
        nodes[view.selfIndex].weight = 0
        let without = ClusterView(nodes: nodes, selfIndex: view.selfIndex,
                                  ring: HashRing(nodes: nodes),
                                  live: Array(repeating: true, count: nodes.count), epoch: view.epoch)
        startReceiving(without, view)
    }

    /// Marks a peer up or down (from the health checks); its slots move to the next live node.
    /// A peer coming back first gets the keys written here for it while it was away; only then
    /// does this node send it commands again.
    func setLive(_ endpoint: String, _ up: Bool) {
        if up, !ledger.owesNothing(to: endpoint) {
            handoff.withLockedValue { $0 }?.handBack(to: endpoint)
            return
        }
        applyLive(endpoint, up)
    }

    /// Sends the keys held for live peers that the ledger still lists (written here by a command
    /// that raced with the peer's return); a rejoining peer waits for them.
    func handBackStrays() {
        let view = self.view
        for (index, node) in view.nodes.enumerated() where index != view.selfIndex && view.live[index]
            && !ledger.owesNothing(to: node.endpoint) {
            handoff.withLockedValue { $0 }?.handBack(to: node.endpoint)
        }
    }

    func applyLive(_ endpoint: String, _ up: Bool) {
        if !up { handoffDone(from: endpoint) } // a node that is down hands nothing over: its keys miss
        let change = settings.withLockedValue { settings -> (ClusterView, ClusterView)? in
            let view = settings.view
            guard let index = view.nodes.firstIndex(where: { $0.endpoint == endpoint }), index != view.selfIndex,
                  view.live[index] != up else { return nil }
            var live = view.live
            live[index] = up
            publish(view.with(live: live, epoch: view.epoch + 1), over: view, in: &settings)
            return (view, settings.view)
        }
        if let (old, new) = change { viewChanged(old, new) }
    }

    /// Makes `new` the view. When it takes slots from this node, the hand-over pass counts as
    /// running before anyone can read the view: a node asking CLUSTER REJOIN in between must not
    /// hear a plain DONE (it would stop fetching keys that are still here).
    private func publish(_ new: ClusterView, over old: ClusterView, in settings: inout Settings) {
        if Self.losesSlots(old, new) { handoff.withLockedValue { $0 }?.expectPass() }
        settings.view = new
    }

    func recordPong(_ endpoint: String, at time: Int64) {
        settings.withLockedValue { $0.lastPong[endpoint] = time }
    }

    @inline(__always)
    private func currentView(_ loop: (any EventLoop)?) -> (ClusterView, LoopPool?) {
        guard let loop, let pool = pools[ObjectIdentifier(loop)] else { return (view, nil) }
        pool.loop.preconditionInEventLoop()
        let latest = version.load(ordering: .acquiring)
        if pool.version != latest {
            let (view, password, timeout) = settings.withLockedValue { ($0.view, $0.password, $0.timeout) }
            pool.refresh(view: view, version: latest, password: password, timeout: .milliseconds(Int64(timeout)))
        }
        return (pool.view, pool)
    }

    // MARK: - ClusterIntrospection

    public var redirects: Bool { mode == .redirect }

    public func clusterSnapshot() -> ClusterSnapshot {
        let (view, pongs) = settings.withLockedValue { ($0.view, $0.lastPong) }
        let nodes = view.nodes.enumerated().map { index, node in
            ClusterSnapshot.Node(id: view.ids[index], host: node.host, port: node.port, weight: node.weight,
                                 isSelf: index == view.selfIndex, isUp: view.live[index],
                                 lastPong: pongs[node.endpoint] ?? 0)
        }
        let ledger = self.ledger.figures
        let handover = handoff.withLockedValue { $0 }
        let receivingFigures = receiving.withLockedValue { (slots: $0.from.count, fetched: $0.fetched) }
        let rejoins = rejoinFigures.withLockedValue { $0 }
        let recovery = ClusterSnapshot.Recovery(rejoining: isRejoining, rejoins: rejoins.count, lastRejoin: rejoins.last,
                                                borrowedKeys: ledger.held, handedBackKeys: ledger.handedBack,
                                                returns: ledger.returns,
                                                handedOverKeys: handover?.handedOver.load(ordering: .relaxed) ?? 0,
                                                handingOver: handover?.passing ?? false,
                                                receivingSlots: receivingFigures.slots, fetchedKeys: receivingFigures.fetched)
        return ClusterSnapshot(mode: mode.rawValue, nodes: nodes, ranges: HashRing.ranges(view.owners), epoch: view.epoch,
                               recovery: recovery)
    }

    // MARK: - CommandRouter

    public func route(_ spec: CommandSpec, _ context: inout CommandContext) -> RouteDecision {
        if spec.flags.contains(.exec) {
            return mode == .proxy ? routeTransaction(&context) : runTransactionHere(&context)
        }
        if context.client.id == Self.internalSessionID { return .local }
        if spec.flags.contains(.pubsub), spec.hasKeys, let decision = routeShardChannels(spec, &context) { return decision }
        guard spec.hasKeys else {
            if spec.name == "client|setname", context.arguments.count == 3 {
                switch context.arguments.string(2) {
                case Self.peerName: context.client.peerRole = .forwarding
                case Self.relayName: context.client.peerRole = .relaying
                case Self.handoffName: context.client.peerRole = .movingKeys
                case Self.messagesName: context.client.peerRole = .relayingMessages
                default: break
                }
            }
            if Self.changesLibraries.contains(spec.name), mode == .proxy, !context.localOnly, context.client.peerRole == nil {
                return everyNode(spec, &context)
            }
            if spec.flags.contains(.wholeKeyspace), mode == .proxy, !context.localOnly, context.client.peerRole == nil {
                if context.client.transaction == nil { return fanOut(spec, &context) }
                if spec.name != "info", view.nodes.count > 1 {
                    // Queued, it would act on one node only: refused now, so the EXEC fails
                    // rather than answer for part of the ring.
                    reject(&context, "ERR \(spec.name.uppercased()) inside MULTI is not supported on a proxy-mode ring: it would act on one node")
                    return .handled
                }
            }
            return .local
        }
        let count = context.arguments.count
        let (view, pool) = currentView(context.eventLoop)
        if spec.isSingleKey {
            // One key: the common case, without allocating.
            guard spec.firstKey < count else { return .local }
            let slot = context.arguments.withBytes(spec.firstKey) { HashSlot.slot($0) }
            let owner = Int(view.owners[slot])
            if owner == view.selfIndex { return serveHere(spec, view, pool, &context) }
            return remote(spec, slot: slot, owner: owner, view, pool, &context)
        }
        let positions = spec.keyPositions(context.arguments)
        guard !positions.isEmpty else { return .local }
        let slots = positions.map { i in context.arguments.withBytes(i) { HashSlot.slot($0) } }
        if slots.allSatisfy({ $0 == slots[0] }) {
            let owner = Int(view.owners[slots[0]])
            if owner == view.selfIndex { return serveHere(spec, view, pool, &context) }
            return remote(spec, slot: slots[0], owner: owner, view, pool, &context)
        }
        let merge = Merge(spec.name)
        if mode == .proxy, merge != nil, slots.allSatisfy({ Int(view.owners[$0]) == view.selfIndex }) {
            // Several slots, all served here (this node's share of a split command, among others).
            return serveHere(spec, view, pool, &context)
        }
        // Other multi-key commands (RENAME, SINTER, LMOVE, ZUNIONSTORE…) need one slot, as in
        // Redis Cluster, whichever node the client is connected to.
        if mode == .proxy, context.client.transaction == nil, let merge, let pool {
            split(spec, merge, positions: positions, slots: slots, view, pool, &context)
            return .handled
        }
        reject(&context, "CROSSSLOT Keys in request don't hash to the same slot")
        return .handled
    }

    /// SSUBSCRIBE and SUNSUBSCRIBE name shard channels, which live in one slot; SPUBLISH, one.
    /// In proxy mode a subscription is the connection's own, wherever the slot is: it is made
    /// here (the channels in one slot, as in Redis Cluster), and SPUBLISH, forwarded to the
    /// owner as a command on a key is, reaches it through the owner's relay to every node. A
    /// message relayed here is delivered here. In redirect mode the usual rules apply: a shard
    /// channel of another node's slot gets `-MOVED` (its subscribers are on its owner).
    private func routeShardChannels(_ spec: CommandSpec, _ context: inout CommandContext) -> RouteDecision? {
        if context.client.peerRole == .relayingMessages { return .local }
        guard mode == .proxy, spec.name != "spublish" else { return nil }
        let positions = spec.keyPositions(context.arguments)
        let slots = positions.map { i in context.arguments.withBytes(i) { HashSlot.slot($0) } }
        guard slots.allSatisfy({ $0 == slots.first }) else {
            reject(&context, "CROSSSLOT Keys in request don't hash to the same slot")
            return .handled
        }
        return .local
    }

    /// Sends a message published here to every other node that is up, on each node's
    /// messages link (fire and forget: pub/sub delivers at most once, and a node that is down
    /// has no subscribers to miss it until its clients reconnect). Shard channels are relayed in
    /// proxy mode only: in redirect mode their subscribers are on the slot's owner, here.
    public func relayMessage(_ kind: SubscriptionKind, channel: [UInt8], message: [UInt8], from loop: (any EventLoop)?) {
        if kind == .shardChannel && mode != .proxy { return }
        guard let loop, pools[ObjectIdentifier(loop)] != nil else {
            // Off the event loops (the cron's expirations): from the health loop's pool.
            let target = healthLoop
            target.execute { self.relayMessage(kind, channel: channel, message: message, from: target) }
            return
        }
        let (view, pool) = currentView(loop)
        guard let pool, view.nodes.count > 1 else { return }
        let name = kind == .shardChannel ? "SPUBLISH" : "PUBLISH"
        for index in view.nodes.indices where index != view.selfIndex && view.live[index] {
            pool.messageLink(toNode: index).send(database: 0, to: .discard) { buffer in
                buffer.writeString("*3\r\n$\(name.utf8.count)\r\n\(name)\r\n$\(channel.count)\r\n")
                buffer.writeBytes(channel)
                buffer.writeString("\r\n$\(message.count)\r\n")
                buffer.writeBytes(message)
                buffer.writeStaticString("\r\n")
            }
        }
    }

    /// How long a forwarded blocking command may wait for its reply (BLPOP … 0 waits forever).
    static let blockingLinkTimeout = TimeAmount.hours(24 * 365 * 10)

    private func reject(_ context: inout CommandContext, _ message: String) {
        if context.client.transaction != nil { context.client.transactionFailed = true }
        // Counted (total_error_replies, errorstats, rejected_calls) by the dispatcher's recorder.
        context.reply.error(message)
    }

    private func remote(_ spec: CommandSpec, slot: Int, owner: Int, _ view: ClusterView, _ pool: LoopPool?,
                        _ context: inout CommandContext) -> RouteDecision {
        guard owner != Int(HashRing.noOwner) else {
            reject(&context, "CLUSTERDOWN The cluster is down")
            return .handled
        }
        let node = view.nodes[owner]
        let role = context.client.peerRole
        if role == .movingKeys {
            if spec.flags.contains(.write) {
                // A key handed over (or back) by a node whose view differs from ours. Stored here,
                // it would sit on a node that does not serve it: read as missing, and written to
                // its owner later over newer writes, or back to where it came from once this node
                // switches. The sender keeps it and sends it again when the views agree (a second
                // later; the operator is applying the same list everywhere).
                reject(&context, "TRYAGAIN This node does not serve slot \(slot) (\(node.endpoint) does): apply the same "
                           + "cluster-nodes on every node")
                return .handled
            }
            // A fetch by a node whose view is ahead of ours: it reads what is left here.
            return serveHere(spec, view, pool, &context, forPeer: true)
        }
        if mode == .redirect {
            reject(&context, "MOVED \(slot) \(node.endpoint)")
            return .handled
        }
        if role == .relaying {
            reject(&context, "TRYAGAIN The nodes disagree about who serves slot \(slot) (a membership or health change "
                       + "is reaching them); try again")
            return .handled
        }
        // Forwarded by a node whose view differs from ours: passed on, once, to the owner we know.
        if spec.flags.contains(.noQueue) {
            // WATCH: the transaction's EXEC could not check it here.
            reject(&context, "CROSSSLOT WATCH needs keys served by the node the client is connected to "
                       + "(slot \(slot) is served by \(node.endpoint))")
            return .handled
        }
        if context.client.transaction != nil {
            // Queued here; EXEC decides where the transaction runs.
            return .local
        }
        guard let pool else {
            reject(&context, "CLUSTERDOWN No connection to \(node.endpoint) from here")
            return .handled
        }
        if spec.flags.contains(.blocking) {
            // It may wait on the owner for as long as its timeout: on a connection of its own,
            // closed once it answers, so the shared link's other clients are not held up. The
            // owner ends the wait (its timeout, or a push there); the link gives up only when
            // the connection fails.
            let link = PeerLink(loop: pool.loop, host: node.host, port: node.port,
                                resp3: context.client.protocolVersion == .resp3, password: pool.password,
                                timeout: Self.blockingLinkTimeout, name: role != nil ? Self.relayName : Self.peerName)
            let reply = send(context.arguments, to: link, &context)
            reply.whenComplete { _ in link.close() }
            context.deferredReply = reply
            return .handled
        }
        let link = pool.link(toNode: owner, resp3: context.client.protocolVersion == .resp3, relay: role != nil)
        if spec.name.hasPrefix("fcall"), context.arguments.count > 1,
           let found = context.server.functions.function(named: context.arguments.string(1)) {
            // The owner may lack the library (it was down when it was loaded): on "Function not
            // found" it gets this node's copy.
            context.deferredReply = forwardFunction(context.arguments, code: found.library.code, to: link, database: context.database)
            return .handled
        }
        if spec.name.hasPrefix("evalsha"), context.arguments.count > 1,
           let script = context.server.scripts.script(sha: context.arguments.string(1).lowercased()) {
            // The owner may not have the script (loaded here only): on NOSCRIPT it gets it.
            context.deferredReply = forwardScript(context.arguments, body: script.body, to: link, database: context.database)
            return .handled
        }
        guard let stream = context.replyStream else {
            context.deferredReply = send(context.arguments, to: link, &context)
            return .handled
        }
        // The reply takes its place in the client's stream when it arrives; the request goes as
        // the client sent it when it came as a multibulk frame.
        let place = stream.reserve(after: &context.reply.buffer)
        let frameLength = context.frameLength
        link.send(database: context.database, to: .stream(stream, place)) { out in
            if frameLength > 0 {
                context.arguments.buffer.withUnsafeReadableBytes { bytes in
                    _ = out.writeBytes(UnsafeRawBufferPointer(rebasing: bytes.prefix(frameLength)))
                }
            } else {
                Self.encode(context.arguments, into: &out)
            }
        }
        return .handled
    }

    // MARK: - Serving here: rejoin and borrowed keys

    /// A keyed command that runs here. While this node rejoins it waits (its keys may be on their
    /// way back from the node that served them meanwhile); a write to a slot served here for a
    /// node that is down is noted, so the keys go back to that node when it returns.
    @inline(__always)
    private func serveHere(_ spec: CommandSpec, _ view: ClusterView, _ pool: LoopPool?, _ context: inout CommandContext,
                           forPeer: Bool = false) -> RouteDecision {
        if context.now > leaseUntil.load(ordering: .relaxed) || fenced.load(ordering: .relaxed),
           let held = holdWhileRejoining(&context) {
            return held
        }
        if !forPeer, context.client.peerRole == .movingKeys, spec.flags.contains(.readonly) {
            // A node fetching a key of a slot it now serves; this node has not switched yet.
            reject(&context, "TRYAGAIN This node still serves the slot: apply the same cluster-nodes on every node")
            return .handled
        }
        if receivingActive.load(ordering: .relaxed), let decision = settleReceived(spec, pool, &context) {
            return decision
        }
        if spec.flags.contains(.write) && view.borrowing {
            if let loop = context.eventLoop, returning(spec, context.arguments, view) {
                // Its node is getting its keys back: a write here now could land after the last
                // round and be read there as missing. Wait for the return, then go there.
                context.suspension = (loop.scheduleTask(in: .milliseconds(5)) {}.futureResult, true)
                return .handled
            }
            if !spec.flags.contains(.overwrites) || Self.isConditionalSet(spec, context.arguments),
               let key = unknownBorrowedKey(spec, context.arguments, database: context.database, view, context) {
                reject(&context, "TRYAGAIN The node that serves this key (\(key)) is down, and this node does not have "
                           + "its value: only reads and plain overwrites are served until it returns")
                return .handled
            }
            noteBorrowed(spec, context.arguments, database: context.database, view)
        }
        return .local
    }

    /// Whether a key of the command belongs to a node this one is handing keys back to.
    private func returning(_ spec: CommandSpec, _ arguments: CommandArguments, _ view: ClusterView) -> Bool {
        for position in spec.keyPositions(arguments) {
            let primary = Int(arguments.withBytes(position) { view.primaries[HashSlot.slot($0)] })
            if primary != view.selfIndex, primary < view.nodes.count, ledger.isReturning(view.nodes[primary].endpoint) {
                return true
            }
        }
        return false
    }

    /// SET with NX or XX, and RESTORE without REPLACE (how keys move), depend on whether the key exists.
    private static func isConditionalSet(_ spec: CommandSpec, _ arguments: CommandArguments) -> Bool {
        if spec.name == "restore" {
            return !(4..<max(4, arguments.count)).contains { arguments.matches($0, "REPLACE") }
        }
        guard spec.name == "set" else { return false }
        return (3..<max(3, arguments.count)).contains { arguments.matches($0, "NX") || arguments.matches($0, "XX") }
    }

    /// The first key of a write that belongs to a node that is down and is not here: its value
    /// (or its absence) is unknown, so a command that builds on it could undo writes made there.
    private func unknownBorrowedKey(_ spec: CommandSpec, _ arguments: CommandArguments, database: Int,
                                    _ view: ClusterView, _ context: CommandContext) -> String? {
        let keyspace = context.keyspace
        let now = context.now
        for position in spec.keyPositions(arguments) {
            let absent = arguments.withBytes(position) { key -> Bool in
                let primary = Int(view.primaries[HashSlot.slot(key)])
                guard primary != view.selfIndex, primary < view.live.count, !view.live[primary] else { return false }
                let hash = keyspace.hasher.hash(key)
                let shard = keyspace.shard(for: hash)
                return shard.lock.withLock {
                    shard.find(database: database, key: key, hash: hash, now: now, access: .peek) == nil
                }
            }
            if absent { return view.nodes[Int(view.primaries[arguments.withBytes(position) { HashSlot.slot($0) }])].endpoint }
        }
        return nil
    }

    /// EXEC of a transaction that runs here: held while rejoining; its writes to borrowed slots noted.
    private func runTransactionHere(_ context: inout CommandContext) -> RouteDecision {
        guard let queue = context.client.transaction, !context.client.transactionFailed else { return .local }
        let (view, _) = currentView(context.eventLoop)
        if context.now > leaseUntil.load(ordering: .relaxed) || fenced.load(ordering: .relaxed),
           let held = holdWhileRejoining(&context) {
            return held
        }
        if view.borrowing || context.client.peerRole != nil {
            for command in queue where command.spec.flags.contains(.write) {
                noteBorrowed(command.spec, command.arguments, database: context.database, view)
            }
        }
        return .local
    }

    /// Makes the command wait for the rejoin to end, then run again; nil to run it now (a
    /// hand-over connection, or the rejoin ended meanwhile).
    private func holdWhileRejoining(_ context: inout CommandContext) -> RouteDecision? {
        if context.client.peerRole == .movingKeys { return nil }
        if !fenced.load(ordering: .relaxed) {
            fence(reason: "its lease ran out \(context.now - leaseUntil.load(ordering: .relaxed)) ms ago (stopped or starved)")
        }
        guard let loop = context.eventLoop, let rejoined = rejoin.withLockedValue({ $0?.futureResult }) else { return nil }
        context.suspension = (rejoined.hop(to: loop), true)
        return .handled
    }

    /// Notes every key of a write whose slot belongs to another node (served here while it is down).
    private func noteBorrowed(_ spec: CommandSpec, _ arguments: CommandArguments, database: Int, _ view: ClusterView) {
        let deletes = spec.flags.contains(.deletes)
        for position in spec.keyPositions(arguments) {
            arguments.withBytes(position) { key in
                let primary = Int(view.primaries[HashSlot.slot(key)])
                guard primary != view.selfIndex, primary < view.nodes.count else { return }
                ledger.record(BorrowLedger.Key(database: database, bytes: Array(key)), for: view.nodes[primary].endpoint,
                              deleted: deletes)
            }
        }
    }

    // MARK: - Receiving slots after a membership change

    /// After a membership change, the keys of the slots this node gains are still on the node
    /// that served them, which hands them over in the background (`RESTORE` without REPLACE). Until it says it
    /// is done (CLUSTER HANDOFF-DONE), the first command on such a key that is not here yet
    /// fetches it from that node first (as Redis Cluster's ASK sends a client to the importing
    /// node), so no command sees it missing or builds on a missing value (an INCR from 0). Keys
    /// settled here (fetched, found, written or deleted) are final: a hand-over write that
    /// arrives for one later is dropped, so a key deleted here does not come back.
    struct Receiving {
        /// The slot's previous node, by slot (it may have left the ring: it hands over all it has).
        var from: [Int: ClusterNodeAddress] = [:]
        var settled: Set<BorrowLedger.Key> = []
        /// Wall-clock milliseconds after which the slots are served as they are, whatever the
        /// previous node says (it may have failed half way).
        var until: Int64 = 0
        /// Keys fetched from previous nodes, for INFO.
        var fetched = 0
    }

    /// How long a membership change may leave slots receiving at most.
    static let receivingLimit: Int64 = 10 * 60 * 1000

    private func startReceiving(_ old: ClusterView, _ new: ClusterView) {
        var gained: [Int: ClusterNodeAddress] = [:]
        for slot in 0..<HashSlot.count where Int(new.owners[slot]) == new.selfIndex {
            let previous = Int(old.owners[slot])
            guard previous != old.selfIndex, previous < old.nodes.count, old.live[previous] else { continue }
            gained[slot] = old.nodes[previous]
        }
        guard !gained.isEmpty else { return }
        receiving.withLockedValue { state in
            state.from.merge(gained) { $1 }
            // Keys settled when these slots were gained before are not final now: what their
            // previous node hands over this time is newer (a HANDOFF-DONE that came before this
            // node switched can keep an earlier receiving open for long).
            state.settled = state.settled.filter { gained[HashSlot.slot($0.bytes)] == nil }
            state.until = WallClock.milliseconds() + Self.receivingLimit
        }
        receivingActive.store(true, ordering: .relaxed)
        logger.withLockedValue { $0 }?.notice("receiving slots from their previous nodes",
                                               metadata: ["slots": "\(gained.count)",
                                                          "from": "\(Set(gained.values.map(\.endpoint)).sorted().joined(separator: ","))"])
    }

    /// CLUSTER HANDOFF-DONE: the node at `endpoint` has handed over everything it held for us.
    public func handoffDone(from endpoint: String) {
        let left = receiving.withLockedValue { state -> Int in
            state.from = state.from.filter { $0.value.endpoint != endpoint }
            if state.from.isEmpty { state.settled.removeAll() }
            return state.from.count
        }
        if left == 0 { receivingActive.store(false, ordering: .relaxed) }
    }

    /// For a command on keys of receiving slots: nil to go on, `.handled` when it was answered
    /// (a hand-over write for a settled key) or waits for its keys to be fetched.
    private func settleReceived(_ spec: CommandSpec, _ pool: LoopPool?, _ context: inout CommandContext) -> RouteDecision? {
        let database = context.database
        let now = context.now
        let keyspace = context.keyspace
        var missing: [(key: [UInt8], from: ClusterNodeAddress)] = []
        var dropHandoff = false
        let handoffClient = context.client.peerRole == .movingKeys
        let overwrites = spec.flags.contains(.overwrites) && !Self.isConditionalSet(spec, context.arguments)
        let expired = receiving.withLockedValue { state -> Bool in
            guard now <= state.until else { return true }
            for position in spec.keyPositions(context.arguments) {
                context.arguments.withBytes(position) { key in
                    guard let from = state.from[HashSlot.slot(key)] else { return }
                    let entry = BorrowLedger.Key(database: database, bytes: Array(key))
                    if state.settled.contains(entry) {
                        // A hand-over's `RESTORE` (no REPLACE) arrives after the key was settled here: it is
                        // older. (A hand-back's plain SET or DEL is newer: it runs.)
                        if handoffClient && Self.isConditionalSet(spec, context.arguments) { dropHandoff = true }
                        return
                    }
                    if handoffClient {
                        // The previous node's copy arrives (what a fetch would have got); another
                        // node's fetch only reads what is here.
                        if spec.flags.contains(.write) { state.settled.insert(entry) }
                        return
                    }
                    if overwrites {
                        // Replaced without being read: the previous node's copy is older.
                        state.settled.insert(entry)
                        return
                    }
                    let hash = keyspace.hasher.hash(key)
                    let shard = keyspace.shard(for: hash)
                    let present = shard.lock.withLock {
                        shard.find(database: database, key: key, hash: hash, now: now, access: .peek) != nil
                    }
                    if present {
                        state.settled.insert(entry)
                    } else {
                        missing.append((entry.bytes, from))
                    }
                }
            }
            return false
        }
        if expired {
            receiving.withLockedValue { $0 = Receiving(fetched: $0.fetched) }
            receivingActive.store(false, ordering: .relaxed)
            return nil
        }
        if dropHandoff {
            // "Not stored" (SET … NX's null, RESTORE's BUSYKEY): the previous node deletes its
            // copy, this one stays final.
            if spec.name == "restore" {
                context.reply.error("BUSYKEY Target key name already exists.")
            } else {
                context.reply.null()
            }
            return .handled
        }
        guard !missing.isEmpty, let pool, let loop = context.eventLoop else { return nil }
        context.suspension = (fetch(missing, database: database, server: context.server, pool: pool, on: loop), true)
        return .handled
    }

    /// Copies keys from their previous nodes (DUMP and PTTL there, `RESTORE` here through the
    /// dispatcher), then marks them settled; fails if a node cannot be asked.
    private func fetch(_ keys: [(key: [UInt8], from: ClusterNodeAddress)], database: Int, server: ServerContext, pool: LoopPool,
                       on loop: any EventLoop) -> EventLoopFuture<Void> {
        let deadline = NIODeadline.now() + pool.timeout * 2
        let steps = keys.map { key, node in
            fetchOne(key, from: node, database: database, server: server, pool: pool, on: loop, until: deadline)
        }
        return EventLoopFuture.andAllSucceed(steps, on: loop).flatMapErrorThrowing { error in
            throw (error as? CommandError) ?? CommandError("TRYAGAIN The key is moving from its previous node, which did not answer: \(error)")
        }.map { [self] in
            receiving.withLockedValue { state in
                for (key, _) in keys { state.settled.insert(BorrowLedger.Key(database: database, bytes: key)) }
                state.fetched += keys.count
            }
        }
    }

    /// Reads one key (DUMP, any type) from its previous node (asking again while that node still
    /// serves the slot, until `until`) and stores it here with `RESTORE` (a key written here
    /// meanwhile stays).
    private func fetchOne(_ key: [UInt8], from node: ClusterNodeAddress, database: Int, server: ServerContext,
                          pool: LoopPool, on loop: any EventLoop, until deadline: NIODeadline) -> EventLoopFuture<Void> {
        let parser = RESPValueParser(limits: RESPLimits(maxBulkLength: Int(Int32.max), maxMultibulkLength: Int(Int32.max)))
        let link = pool.link(to: node, resp3: false, password: pool.password, timeout: pool.timeout, name: Self.handoffName)
        let value = link.send(Self.encode(CommandArguments(bytes: [Array("DUMP".utf8), key])), database: database)
        let ttl = link.send(Self.encode(CommandArguments(bytes: [Array("PTTL".utf8), key])), database: database)
        return value.and(ttl).flatMap { [self] value, ttl in
            var value = value, ttl = ttl
            let found = try? parser.parse(&value), pttl = try? parser.parse(&ttl)
            if case .some(.error) = found, NIODeadline.now() < deadline {
                // It has not applied the new membership yet: it is still the key's only writer.
                return loop.scheduleTask(in: .milliseconds(20)) {}.futureResult.flatMap { [self] in
                    fetchOne(key, from: node, database: database, server: server, pool: pool, on: loop, until: deadline)
                }
            }
            guard case .some(.integer(let remaining)) = pttl, let found else {
                return loop.makeFailedFuture(CommandError("TRYAGAIN The key is moving from \(node.endpoint), which still "
                                                          + "serves its slot: apply the same cluster-nodes on every node"))
            }
            if case .error(let message) = found {
                return loop.makeFailedFuture(CommandError("TRYAGAIN The key is moving from \(node.endpoint): \(message)"))
            }
            guard case .bulkString(let bytes) = found, remaining != -2 else { return loop.makeSucceededFuture(()) }
            return Handoff.runHere(Handoff.restoreWords(key, bytes, ttl: remaining, replace: false), database: database,
                                   server: server, on: loop)
                .flatMapThrowing { reply in
                    // Not stored (OOM…): the key must not count as settled, or the hand-over's copy would be dropped.
                    guard reply.readableBytesView.first != UInt8(ascii: "-") || Handoff.isBusyKey(reply) else {
                        let text = String(decoding: reply.readableBytesView.dropFirst().prefix { $0 != UInt8(ascii: "\r") }, as: UTF8.self)
                        throw CommandError("TRYAGAIN The key is moving here from \(node.endpoint) and could not be stored: \(text)")
                    }
                }
        }
    }

    /// EXEC in proxy mode. A transaction whose keys are all served by one other node runs there:
    /// MULTI, the queued commands and EXEC go to it as one block on the link (nothing else can
    /// come between them) and the client gets EXEC's reply. Keys served by several nodes get
    /// `-CROSSSLOT`, as in Redis Cluster; so does a transaction sent elsewhere while this client
    /// WATCHes keys here, since their check could not be made there. A transaction sent elsewhere
    /// may hold only commands with keys: one without (SELECT, CLIENT, FLUSHALL, …) would act on
    /// the shared link's connection or on a node the client did not choose.
    private func routeTransaction(_ context: inout CommandContext) -> RouteDecision {
        guard let queue = context.client.transaction, !context.client.transactionFailed else { return .local }
        let (view, pool) = currentView(context.eventLoop)
        if context.client.peerRole != nil {
            // Sent as one block by a node that found its keys served here: they must still be.
            for command in queue {
                for position in command.spec.keyPositions(command.arguments)
                where Int(view.owners[command.arguments.withBytes(position) { HashSlot.slot($0) }]) != view.selfIndex {
                    CommandDispatcher.discardTransaction(&context)
                    reject(&context, "TRYAGAIN The nodes disagree about who serves the transaction's keys (a membership "
                               + "or health change is reaching them); try again")
                    return .handled
                }
            }
            return runTransactionHere(&context)
        }
        var target: Int?
        var keyless: CommandSpec?
        for command in queue {
            if !command.spec.hasKeys && keyless == nil { keyless = command.spec }
            for position in command.spec.keyPositions(command.arguments) {
                let owner = Int(view.owners[command.arguments.withBytes(position) { HashSlot.slot($0) }])
                if target == nil { target = owner }
                if target != owner {
                    CommandDispatcher.discardTransaction(&context)
                    reject(&context, "CROSSSLOT Keys in a transaction must all be served by one node")
                    return .handled
                }
            }
        }
        guard let owner = target, owner != view.selfIndex else { return runTransactionHere(&context) }
        let watching = !context.client.watchedKeys.isEmpty
        CommandDispatcher.discardTransaction(&context)
        guard owner != Int(HashRing.noOwner) else {
            reject(&context, "CLUSTERDOWN The cluster is down")
            return .handled
        }
        guard !watching else {
            reject(&context, "CROSSSLOT Keys in a transaction must be served by the node of its WATCHed keys")
            return .handled
        }
        if let keyless {
            reject(&context, "CROSSSLOT A transaction served by another node (\(view.nodes[owner].endpoint)) may only hold "
                       + "commands with keys ('\(keyless.name)' has none)")
            return .handled
        }
        guard let pool else {
            reject(&context, "CLUSTERDOWN No connection to \(view.nodes[owner].endpoint) from here")
            return .handled
        }
        let link = pool.link(toNode: owner, resp3: context.client.protocolVersion == .resp3)
        let database = context.database
        link.send(database: database, to: .discard) { PeerLink.encode(["MULTI"], into: &$0) }
        for command in queue {
            link.send(database: database, to: .discard) { Self.encode(command.arguments, into: &$0) }
        }
        let destination: ReplyDestination
        if let stream = context.replyStream {
            destination = .stream(stream, stream.reserve(after: &context.reply.buffer))
        } else {
            let promise = link.loop.makePromise(of: ByteBuffer.self)
            context.deferredReply = promise.futureResult.recover { CommandDispatcher.errorReply("CLUSTERDOWN \($0)") }
            destination = .promise(promise)
        }
        link.send(database: database, to: destination) { PeerLink.encode(["EXEC"], into: &$0) }
        return .handled
    }

    /// Sends a command to a node; the future always succeeds, with the node's reply or with a
    /// `-CLUSTERDOWN` error naming the node.
    private func send(_ arguments: CommandArguments, to link: PeerLink, _ context: inout CommandContext)
        -> EventLoopFuture<ByteBuffer> {
        let promise = link.loop.makePromise(of: ByteBuffer.self)
        link.send(database: context.database, to: .promise(promise)) { Self.encode(arguments, into: &$0) }
        return promise.futureResult.recover { error in
            CommandDispatcher.errorReply("CLUSTERDOWN \(error)")
        }
    }

    /// Forwards an EVALSHA of a script this node has; when the owner answers NOSCRIPT, sends
    /// it `SCRIPT LOAD` of the body, then the EVALSHA again (on the same link, so in order).
    private func forwardScript(_ arguments: CommandArguments, body: [UInt8], to link: PeerLink, database: Int)
        -> EventLoopFuture<ByteBuffer> {
        let request = Self.encode(arguments)
        let load = Self.encode(CommandArguments(bytes: [Array("SCRIPT".utf8), Array("LOAD".utf8), body]))
        let bound = NIOLoopBound(link, eventLoop: link.loop)
        let loop = link.loop
        return link.send(request, database: database).flatMap { reply -> EventLoopFuture<ByteBuffer> in
            guard reply.readableBytesView.starts(with: "-NOSCRIPT ".utf8) else { return loop.makeSucceededFuture(reply) }
            let link = bound.value
            return link.send(load, database: database).flatMap { _ in bound.value.send(request, database: database) }
        }.recover { error in
            CommandDispatcher.errorReply("CLUSTERDOWN \(error)")
        }
    }

    /// Forwards an FCALL of a function this node has; when the owner answers that it has no
    /// such function, sends it `FUNCTION LOAD REPLACE` of the library, then the FCALL again.
    private func forwardFunction(_ arguments: CommandArguments, code: [UInt8], to link: PeerLink, database: Int)
        -> EventLoopFuture<ByteBuffer> {
        let request = Self.encode(arguments)
        let load = Self.encode(CommandArguments(bytes: [Array("FUNCTION".utf8), Array("LOAD".utf8), Array("REPLACE".utf8), code]))
        let bound = NIOLoopBound(link, eventLoop: link.loop)
        let loop = link.loop
        return link.send(request, database: database).flatMap { reply -> EventLoopFuture<ByteBuffer> in
            guard reply.readableBytesView.elementsEqual("-ERR Function not found\r\n".utf8) else { return loop.makeSucceededFuture(reply) }
            return bound.value.send(load, database: database).flatMap { _ in bound.value.send(request, database: database) }
        }.recover { error in
            CommandDispatcher.errorReply("CLUSTERDOWN \(error)")
        }
    }

    /// The FUNCTION subcommands that change the libraries.
    static let changesLibraries: Set<String> = ["function|load", "function|delete", "function|flush", "function|restore"]

    /// FUNCTION LOAD, DELETE, FLUSH and RESTORE on a proxy-mode ring: run on every node, so
    /// that FCALL finds the function on whichever node owns its keys (in Redis Cluster the
    /// client sends them to each node). The reply is this node's, or the first error. Refused
    /// while a node is down (it would miss the change; an FCALL forwarded to a node that lacks
    /// the library still gives it the library, see ``forwardFunction``).
    private func everyNode(_ spec: CommandSpec, _ context: inout CommandContext) -> RouteDecision {
        let (view, pool) = currentView(context.eventLoop)
        guard let pool, view.nodes.count > 1 else { return .local }
        let command = spec.name.split(separator: "|").joined(separator: " ").uppercased()
        if context.client.transaction != nil {
            reject(&context, "ERR \(command) inside MULTI is not supported on a proxy-mode ring: it would act on one node")
            return .handled
        }
        if let down = view.nodes.indices.first(where: { !view.live[$0] && $0 != view.selfIndex }) {
            reject(&context, "CLUSTERDOWN \(command) needs every node of the ring, and \(view.nodes[down].endpoint) is down")
            return .handled
        }
        let loop = pool.loop
        let version = context.client.protocolVersion
        let arguments = context.arguments.owned()
        var futures = [CommandDispatcher.submit(arguments, as: context.client, server: context.server, on: loop, localOnly: true)
            .recover { CommandDispatcher.errorReply("ERR \($0)") }]
        for index in view.nodes.indices where index != view.selfIndex {
            futures.append(send(arguments, to: pool.link(toNode: index, resp3: version == .resp3), &context))
        }
        context.deferredReply = EventLoopFuture.whenAllSucceed(futures, on: loop).map { replies in
            replies.first { $0.readableBytesView.first == UInt8(ascii: "-") } ?? replies[0]
        }
        return .handled
    }

    /// The arguments as a RESP array of bulk strings.
    static func encode(_ arguments: CommandArguments) -> ByteBuffer {
        var buffer = ByteBuffer()
        encode(arguments, into: &buffer)
        return buffer
    }

    static func encode(_ arguments: CommandArguments, into buffer: inout ByteBuffer) {
        var size = 16
        for span in arguments.spans { size += span.length + 16 }
        buffer.reserveCapacity(minimumWritableBytes: size)
        buffer.writeString("*\(arguments.count)\r\n")
        for i in 0..<arguments.count {
            buffer.writeString("$\(arguments.length(i))\r\n")
            arguments.withBytes(i) { _ = buffer.writeBytes($0) }
            buffer.writeStaticString("\r\n")
        }
    }

    // MARK: - Commands on the whole keyspace

    /// Runs a command that acts on every key (DBSIZE, KEYS, RANDOMKEY, FLUSHDB, FLUSHALL) on
    /// every node and merges the replies, so that a proxy-mode ring answers as one server. Reads
    /// skip nodes marked down (their slots are served by others meanwhile); a FLUSH needs every
    /// node, and is refused while one is down rather than half done.
    private func fanOut(_ spec: CommandSpec, _ context: inout CommandContext) -> RouteDecision {
        let (view, pool) = currentView(context.eventLoop)
        guard let pool, view.nodes.count > 1 else { return .local }
        if spec.name == "scan" { return scanRing(view, pool, &context) }
        if spec.name == "info" { return infoRing(view, pool, &context) }
        guard let merge = Merge(spec.name) else { return .local }
        let flush = spec.flags.contains(.write)
        if flush, let down = view.nodes.indices.first(where: { !view.live[$0] && $0 != view.selfIndex }) {
            reject(&context, "CLUSTERDOWN \(spec.name.uppercased()) needs every node of the ring, and \(view.nodes[down].endpoint) is down")
            return .handled
        }
        let loop = pool.loop
        let version = context.client.protocolVersion
        let arguments = context.arguments.owned()
        var futures: [EventLoopFuture<ByteBuffer>] = []
        for index in view.nodes.indices where index == view.selfIndex || view.live[index] {
            if index == view.selfIndex {
                futures.append(CommandDispatcher.submit(arguments, as: context.client, server: context.server, on: loop, localOnly: true)
                    .recover { CommandDispatcher.errorReply("ERR \($0)") })
            } else {
                futures.append(send(arguments, to: pool.link(toNode: index, resp3: version == .resp3), &context))
            }
        }
        let placement = futures.indices.map { (group: $0, index: 0) }
        context.deferredReply = EventLoopFuture.whenAllSucceed(futures, on: loop).map { replies in
            Self.merge(merge, replies, placement: placement, version: version)
        }
        return .handled
    }

    /// INFO with its keyspace section: this node's INFO, with the keyspace lines summed over the
    /// nodes that are up (keys and expires per database).
    private func infoRing(_ view: ClusterView, _ pool: LoopPool, _ context: inout CommandContext) -> RouteDecision {
        let sections = (1..<context.arguments.count).map { context.arguments.string($0).lowercased() }
        guard sections.isEmpty || sections.contains(where: { ["all", "everything", "default", "keyspace"].contains($0) }) else {
            return .local
        }
        let loop = pool.loop
        let version = context.client.protocolVersion
        var futures = [CommandDispatcher.submit(context.arguments.owned(), as: context.client, server: context.server,
                                                on: loop, localOnly: true)]
        let keyspace = CommandArguments(bytes: [Array("INFO".utf8), Array("keyspace".utf8)])
        for index in view.nodes.indices where index != view.selfIndex && view.live[index] {
            futures.append(send(keyspace, to: pool.link(toNode: index, resp3: false), &context))
        }
        context.deferredReply = EventLoopFuture.whenAllSucceed(futures, on: loop).map { replies in
            let parser = RESPValueParser(limits: RESPLimits(maxBulkLength: Int(Int32.max), maxMultibulkLength: Int(Int32.max)))
            var texts: [String] = []
            for reply in replies {
                var copy = reply
                switch try? parser.parse(&copy) {
                case .bulkString(let bytes): texts.append(String(buffer: bytes))
                case .verbatim(_, let text): texts.append(text)
                case .error: return reply
                default: return CommandDispatcher.errorReply("ERR unexpected reply from a node")
                }
            }
            var writer = RESPReplyWriter(buffer: ByteBuffer(), version: version)
            writer.verbatim(Self.mergeKeyspace(texts))
            return writer.buffer
        }
        return .handled
    }

    /// The first INFO text with its `# Keyspace` lines replaced by the sums over every text's.
    static func mergeKeyspace(_ texts: [String]) -> String {
        var totals: [Int: (keys: Int, expires: Int)] = [:]
        for text in texts {
            for line in keyspaceLines(text) {
                // db3:keys=10,expires=2,avg_ttl=0
                guard let colon = line.firstIndex(of: ":"), let db = Int(line.dropFirst(2).prefix(upTo: colon)) else { continue }
                var fields: [Substring: Int] = [:]
                for pair in line[line.index(after: colon)...].split(separator: ",") {
                    let parts = pair.split(separator: "=", maxSplits: 1)
                    if parts.count == 2, let n = Int(parts[1]) { fields[parts[0]] = n }
                }
                let sum = totals[db] ?? (0, 0)
                totals[db] = (sum.keys + (fields["keys"] ?? 0), sum.expires + (fields["expires"] ?? 0))
            }
        }
        let merged = totals.keys.sorted().map { "db\($0):keys=\(totals[$0]!.keys),expires=\(totals[$0]!.expires),avg_ttl=0\r\n" }.joined()
        guard let first = texts.first, let header = first.firstRange(of: "# Keyspace\r\n") else { return texts.first ?? "" }
        var end = header.upperBound
        while end < first.endIndex, first[end...].hasPrefix("db"), let lineEnd = first[end...].firstRange(of: "\r\n") {
            end = lineEnd.upperBound
        }
        return String(first[..<header.upperBound]) + merged + String(first[end...])
    }

    private static func keyspaceLines(_ text: String) -> [Substring] {
        guard let header = text.firstRange(of: "# Keyspace\r\n") else { return [] }
        return text[header.upperBound...].split(separator: "\r\n").prefix { $0.hasPrefix("db") }
    }

    /// SCAN over the ring: the nodes one after another, in `cluster-nodes` order, each with its
    /// own SCAN. The cursor carries the node's position (bits 48–57, up to 1024 nodes), that
    /// node's cursor (bits 0–47) and the low 6 bits of the view's epoch (bits 58–63).
    ///
    /// Redis's guarantee, a key present for the whole scan is returned at least once, holds while
    /// the view stays the same: each node's own SCAN keeps it, and every node is scanned. When
    /// the view changes (a node joins, leaves, fails or returns, and keys move), the next call
    /// finds another epoch in the cursor and starts again from the first node: keys may then be
    /// returned twice, which Redis allows, but none is missed for having moved to a node already
    /// scanned. Nodes marked down are skipped: their slots are served, and scanned, elsewhere.
    private func scanRing(_ view: ClusterView, _ pool: LoopPool, _ context: inout CommandContext) -> RouteDecision {
        guard let cursor = context.arguments.scanCursor(at: 1) else {
            reject(&context, "ERR invalid cursor")
            return .handled
        }
        let tag = UInt64(view.epoch & 0x3F)
        var node = Int((cursor >> 48) & 0x3FF)
        var local = cursor & ((1 << 48) - 1)
        if cursor == 0 || cursor >> 58 != tag || node >= view.nodes.count {
            (node, local) = (0, 0) // a new scan, or the ring changed since the last call
        }
        while node < view.nodes.count && node != view.selfIndex && !view.live[node] { node += 1 }
        guard node < view.nodes.count else {
            context.reply.arrayHeader(2)
            context.reply.bulk("0")
            context.reply.arrayHeader(0)
            return .handled
        }
        var words = (0..<context.arguments.count).map { context.arguments.bytes($0) }
        words[1] = Array(String(local).utf8)
        let arguments = CommandArguments(bytes: words)
        let loop = pool.loop
        let version = context.client.protocolVersion
        let reply = node == view.selfIndex
            ? CommandDispatcher.submit(arguments, as: context.client, server: context.server, on: loop, localOnly: true)
            : send(arguments, to: pool.link(toNode: node, resp3: version == .resp3), &context)
        let live = view.live, selfIndex = view.selfIndex, scanned = node
        context.deferredReply = reply.map { (buffer: ByteBuffer) -> ByteBuffer in
            let parser = RESPValueParser(limits: RESPLimits(maxBulkLength: Int(Int32.max), maxMultibulkLength: Int(Int32.max)))
            var copy = buffer
            guard let value = try? parser.parse(&copy) else { return CommandDispatcher.errorReply("ERR invalid reply from a node") }
            if case .error = value { return buffer }
            guard case .array(let parts) = value, parts.count == 2, case .bulkString(let nextBytes) = parts[0],
                  let next = UInt64(String(buffer: nextBytes)), case .array(let keys) = parts[1] else {
                return CommandDispatcher.errorReply("ERR unexpected reply from a node")
            }
            var position = scanned
            var nodeCursor = next
            if next == 0 {
                // This node is done: the next one that is up, from its start.
                position += 1
                while position < live.count && position != selfIndex && !live[position] { position += 1 }
                nodeCursor = 0
            }
            let combined = position >= live.count ? 0 : tag << 58 | UInt64(position) << 48 | nodeCursor
            var writer = RESPReplyWriter(buffer: ByteBuffer(), version: version)
            writer.arrayHeader(2)
            writer.bulk(String(combined))
            writer.arrayHeader(keys.count)
            for case .bulkString(let key) in keys { writer.bulk(key) }
            return writer.buffer
        }
        return .handled
    }

    // MARK: - Multi-key commands across nodes

    enum Merge {
        /// MGET: the values, in the order of the keys.
        case values
        /// DEL, UNLINK, EXISTS, TOUCH, DBSIZE: the sum of the counts.
        case sum
        /// MSET, FLUSHDB, FLUSHALL: OK when every part is OK.
        case ok
        /// KEYS: every node's keys, each once (a key being handed over may be on two nodes).
        case keys
        /// RANDOMKEY: one of the nodes' answers, at random; nil if every node is empty.
        case randomKey

        init?(_ name: String) {
            switch name {
            case "mget": self = .values
            case "del", "unlink", "exists", "touch", "dbsize": self = .sum
            case "mset", "flushdb", "flushall": self = .ok
            case "keys": self = .keys
            case "randomkey": self = .randomKey
            default: return nil
            }
        }
    }

    private func split(_ spec: CommandSpec, _ merge: Merge, positions: [Int], slots: [Int], _ view: ClusterView,
                       _ pool: LoopPool, _ context: inout CommandContext) {
        let step = max(1, spec.keyStep)
        // Each owner's share of the keys, in the order the keys came.
        var groupOf: [UInt16: Int] = [:]
        var groups: [(owner: Int, positions: [Int])] = []
        var placement: [(group: Int, index: Int)] = []
        placement.reserveCapacity(positions.count)
        for (k, position) in positions.enumerated() {
            let owner = view.owners[slots[k]]
            let g: Int
            if let existing = groupOf[owner] {
                g = existing
            } else {
                g = groups.count
                groupOf[owner] = g
                groups.append((Int(owner), []))
            }
            placement.append((g, groups[g].positions.count))
            groups[g].positions.append(position)
        }
        let loop = pool.loop
        let version = context.client.protocolVersion
        var futures: [EventLoopFuture<ByteBuffer>] = []
        for group in groups {
            var words: [[UInt8]] = [context.arguments.bytes(0)]
            for position in group.positions {
                for j in position..<min(position + step, context.arguments.count) { words.append(context.arguments.bytes(j)) }
            }
            let arguments = CommandArguments(bytes: words)
            if group.owner == view.selfIndex {
                // This node's share runs as any command does: its cold keys are read from L3
                // first, and under `l3-fsync always` its reply waits for the commit.
                futures.append(CommandDispatcher.submit(arguments, as: context.client, server: context.server, on: loop)
                    .recover { CommandDispatcher.errorReply("ERR \($0)") })
            } else if group.owner == Int(HashRing.noOwner) {
                futures.append(loop.makeSucceededFuture(CommandDispatcher.errorReply("CLUSTERDOWN The cluster is down")))
            } else {
                let link = pool.link(toNode: group.owner, resp3: version == .resp3)
                futures.append(send(arguments, to: link, &context))
            }
        }
        let order = placement
        context.deferredReply = EventLoopFuture.whenAllSucceed(futures, on: loop).map { replies in
            Self.merge(merge, replies, placement: order, version: version)
        }
    }

    static func merge(_ merge: Merge, _ replies: [ByteBuffer], placement: [(group: Int, index: Int)],
                      version: RESPVersion) -> ByteBuffer {
        let parser = RESPValueParser(limits: RESPLimits(maxBulkLength: Int(Int32.max), maxMultibulkLength: Int(Int32.max)))
        var values: [RESPValue] = []
        for reply in replies {
            var copy = reply
            guard let value = try? parser.parse(&copy) else { return CommandDispatcher.errorReply("ERR invalid reply from a node") }
            if case .error = value { return reply }
            values.append(value)
        }
        var writer = RESPReplyWriter(buffer: ByteBuffer(), version: version)
        switch merge {
        case .sum:
            var total = 0
            for value in values {
                guard case .integer(let n) = value else { return CommandDispatcher.errorReply("ERR unexpected reply from a node") }
                total += n
            }
            writer.integer(total)
        case .ok:
            writer.ok()
        case .keys:
            var seen = Set<ByteBuffer>()
            var keys: [ByteBuffer] = []
            for value in values {
                guard case .array(let items) = value else { return CommandDispatcher.errorReply("ERR unexpected reply from a node") }
                for case .bulkString(let key) in items where seen.insert(key).inserted { keys.append(key) }
            }
            writer.arrayHeader(keys.count)
            for key in keys { writer.bulk(key) }
        case .randomKey:
            let found = values.compactMap { value -> ByteBuffer? in
                if case .bulkString(let key) = value { return key } else { return nil }
            }
            if let key = found.randomElement() { writer.bulk(key) } else { writer.null() }
        case .values:
            var arrays: [[RESPValue]] = []
            for value in values {
                guard case .array(let items) = value else { return CommandDispatcher.errorReply("ERR unexpected reply from a node") }
                arrays.append(items)
            }
            writer.arrayHeader(placement.count)
            for (group, index) in placement {
                guard index < arrays[group].count else { writer.null(); continue }
                switch arrays[group][index] {
                case .bulkString(let bytes): writer.bulk(bytes)
                default: writer.null()
                }
            }
        }
        return writer.buffer
    }
}
