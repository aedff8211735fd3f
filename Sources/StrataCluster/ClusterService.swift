import Logging
import NIOCore
import ServiceLifecycle
import StrataCommands
import StrataConfig
import UnixSignals

/// Health checks of the other nodes, confined to one event loop: PINGs each peer, feeds the
/// replies to a ``HealthStateMachine`` and marks peers down or up on the router.
final class HealthMonitor: Sendable {
    private let router: ClusterRouter
    private let loop: any EventLoop
    private let logger: Logger
    /// Everything else, bound to `loop` (NIO checks every access is on it).
    private let state: NIOLoopBoundBox<State>

    private struct State: Sendable {
        /// The node list and timeout the state machine was built for.
        var members: [ClusterNodeAddress] = []
        var builtTimeout = 0
        var peers: [ClusterNodeAddress] = []
        var links: [PeerLink] = []
        var machine: HealthStateMachine<ContinuousClock.Instant>?
        /// This node's own rejoin (after a start or a stall).
        var rejoin: RejoinStateMachine<ContinuousClock.Instant>?
        var rejoinReason = ""
        var task: RepeatedTask?
    }

    private var members: [ClusterNodeAddress] {
        get { state.value.members }
        set { state.value.members = newValue }
    }
    private var builtTimeout: Int {
        get { state.value.builtTimeout }
        set { state.value.builtTimeout = newValue }
    }
    private var peers: [ClusterNodeAddress] {
        get { state.value.peers }
        set { state.value.peers = newValue }
    }
    private var links: [PeerLink] {
        get { state.value.links }
        set { state.value.links = newValue }
    }
    private var machine: HealthStateMachine<ContinuousClock.Instant>? {
        get { state.value.machine }
        set { state.value.machine = newValue }
    }
    private var rejoin: RejoinStateMachine<ContinuousClock.Instant>? {
        get { state.value.rejoin }
        set { state.value.rejoin = newValue }
    }
    private var rejoinReason: String {
        get { state.value.rejoinReason }
        set { state.value.rejoinReason = newValue }
    }
    private var task: RepeatedTask? {
        get { state.value.task }
        set { state.value.task = newValue }
    }

    init(router: ClusterRouter, logger: Logger) {
        self.router = router
        self.loop = router.healthLoop
        self.logger = logger
        self.state = NIOLoopBoundBox.makeBoxSendingValue(State(), as: State.self, eventLoop: router.healthLoop)
    }

    func start() {
        router.onRejoin { [self] reason in loop.execute { self.beginRejoin(reason: reason) } }
        router.receiveAtStart()
        loop.execute { [self] in
            let period = TimeAmount.milliseconds(Int64(max(10, min(200, router.nodeTimeout / 5))))
            task = loop.scheduleRepeatedTask(initialDelay: .zero, delay: period) { [self] _ in tick() }
            beginRejoin(reason: "started")
        }
    }

    func stop() {
        loop.execute { [self] in
            task?.cancel()
            for link in links { link.close() }
        }
    }

    private func tick() {
        let view = router.view
        let timeout = router.nodeTimeout
        if view.nodes != members || timeout != builtTimeout || machine == nil {
            rebuild(view, timeout: timeout)
        }
        guard var machine else { return }
        let actions = machine.tick(now: .now)
        self.machine = machine
        for action in actions { perform(action) }
        // After a stall the fence is already up, so a renewed lease changes nothing until the
        // rejoin ends.
        router.renewLease(now: WallClock.milliseconds())
        if var rejoin {
            let actions = rejoin.tick(now: .now)
            self.rejoin = rejoin
            for action in actions { perform(action) }
        }
        // A peer that answers but whose hand-back was interrupted: try again.
        let current = router.view
        for (i, peer) in peers.enumerated() where machine.isUp(i) {
            if let index = current.nodes.firstIndex(where: { $0.endpoint == peer.endpoint }), !current.live[index] {
                router.setLive(peer.endpoint, true)
            }
        }
        router.handBackStrays()
    }

    // MARK: - Rejoin

    private func beginRejoin(reason: String) {
        let view = router.view
        if view.nodes != members || machine == nil { rebuild(view, timeout: router.nodeTimeout) }
        guard var rejoin else { return }
        rejoinReason = reason
        logger.notice("rejoining: commands on keys wait until every other node has handed back what it holds for this one",
                      metadata: ["reason": "\(reason)", "peers": "\(peers.count)"])
        let actions = rejoin.begin(peers: peers.map(\.endpoint), now: .now)
        self.rejoin = rejoin
        for action in actions { perform(action) }
    }

    private func perform(_ action: RejoinStateMachine<ContinuousClock.Instant>.Action) {
        switch action {
        case .poll(let endpoint):
            guard let i = peers.firstIndex(where: { $0.endpoint == endpoint }) else { return }
            let me = router.view.nodes[router.view.selfIndex].endpoint
            links[i].send(PeerLink.encode(["CLUSTER", "REJOIN", me]), database: 0).whenComplete { [self] result in
                guard var rejoin else { return }
                let actions: [RejoinStateMachine<ContinuousClock.Instant>.Action]
                switch result {
                case .success(let reply):
                    // A plain DONE: that node lists this one and holds none of its keys.
                    if reply.readableBytesView.elementsEqual("+DONE\r\n".utf8) { router.handoffDone(from: endpoint) }
                    // An error reply (a node that predates REJOIN) cannot be waited on: done.
                    actions = rejoin.answer(from: endpoint, done: reply.readableBytesView.starts(with: "+WAIT".utf8) == false,
                                            now: .now)
                case .failure(let error) where "\(error)".contains("connection refused"):
                    // Not running: it holds nothing in memory, and hands over what it has on disk
                    // when it starts (its own pass at start).
                    router.handoffDone(from: endpoint)
                    actions = rejoin.unreachable(endpoint, now: .now)
                case .failure:
                    actions = []
                }
                self.rejoin = rejoin
                for action in actions { perform(action) }
            }
        case .serve(let waited, let forced):
            let ms = waited.components.seconds * 1000 + waited.components.attoseconds / 1_000_000_000_000_000
            var summary = "\(rejoinReason); served again after \(ms) ms"
            if forced.isEmpty {
                logger.notice("rejoined: serving again", metadata: ["reason": "\(rejoinReason)", "ms": "\(ms)"])
            } else {
                summary += "; gave up waiting for \(forced.joined(separator: " "))"
                logger.warning("rejoined without an answer from some nodes: they may still hold newer values of keys of this node",
                               metadata: ["nodes": "\(forced.joined(separator: ","))", "ms": "\(ms)"])
            }
            router.serve(summary: summary)
            if rejoinReason == "started" { router.handOverLeftovers() }
        }
    }

    private func rebuild(_ view: ClusterView, timeout: Int) {
        members = view.nodes
        builtTimeout = timeout
        let old = Dictionary(uniqueKeysWithValues: zip(peers.map(\.endpoint), links))
        peers = view.nodes.enumerated().filter { $0.offset != view.selfIndex }.map(\.element)
        let password = router.password
        links = peers.map { node in
            old[node.endpoint] ?? PeerLink(loop: loop, host: node.host, port: node.port, resp3: false,
                                           password: password, timeout: .milliseconds(Int64(timeout)))
        }
        for (endpoint, link) in old where !peers.contains(where: { $0.endpoint == endpoint }) { link.close() }
        let timeoutDuration = Duration.milliseconds(timeout)
        machine = HealthStateMachine(peerCount: peers.count, now: .now, timeout: timeoutDuration,
                                     interval: timeoutDuration / 10, stallAfter: timeoutDuration / 2)
        if var rejoin {
            let actions = rejoin.members(peers.map(\.endpoint), now: .now)
            self.rejoin = rejoin
            for action in actions { perform(action) }
        } else {
            rejoin = RejoinStateMachine(deadline: max(timeoutDuration * 10, .seconds(2)),
                                        pollInterval: max(timeoutDuration / 10, .milliseconds(20)))
        }
    }

    private func perform(_ action: HealthStateMachine<ContinuousClock.Instant>.Action) {
        switch action {
        case .ping(let i):
            let link = links[i]
            link.password = router.password
            let endpoint = peers[i].endpoint
            link.send(PeerLink.encode(["PING"]), database: 0).whenComplete { [self] result in
                guard i < peers.count, peers[i].endpoint == endpoint, var machine else { return }
                switch result {
                case .success:
                    router.recordPong(endpoint, at: WallClock.milliseconds())
                    if let action = machine.pong(i, now: .now) {
                        self.machine = machine
                        perform(action)
                    } else {
                        self.machine = machine
                    }
                case .failure:
                    machine.pingFailed(i, now: .now)
                    self.machine = machine
                }
            }
        case .markDown(let i):
            logger.warning("cluster node down", metadata: ["node": .string(peers[i].endpoint)])
            router.setLive(peers[i].endpoint, false)
        case .markUp(let i):
            logger.notice("cluster node up", metadata: ["node": .string(peers[i].endpoint)])
            router.setLive(peers[i].endpoint, true)
        case .stalled(let gap):
            let ms = gap.components.seconds * 1000 + gap.components.attoseconds / 1_000_000_000_000_000
            logger.warning("this node did not run for a while: the others may have served its slots", metadata: ["ms": "\(ms)"])
            router.fence(reason: "stalled for \(ms) ms")
        }
    }
}

/// The cluster's background work as a lifecycle service: health checks, and on SIGHUP rereading
/// the configuration (a changed `cluster-nodes` moves only the slots that change owner).
public struct ClusterService: Service {
    let router: ClusterRouter
    let logger: Logger
    let reload: @Sendable () throws -> Void

    /// - Parameter reload: rereads the configuration and applies it (called on SIGHUP).
    public init(router: ClusterRouter, logger: Logger, reload: @escaping @Sendable () throws -> Void) {
        self.router = router
        self.logger = logger
        self.reload = reload
    }

    public func run() async throws {
        let monitor = HealthMonitor(router: router, logger: logger)
        monitor.start()
        let signals = await UnixSignalsSequence(trapping: .sighup)
        await withGracefulShutdownHandler {
            for await _ in signals.cancelOnGracefulShutdown() {
                do {
                    try reload()
                    logger.notice("configuration reloaded (SIGHUP)")
                } catch {
                    logger.error("configuration reload failed: \(error)")
                }
            }
        } onGracefulShutdown: {
            monitor.stop()
        }
        monitor.stop()
    }
}
