import Logging
import NIOCore
import ServiceLifecycle
import StrataCommands
import StrataConfig
import UnixSignals

/// Health checks of the other nodes, confined to one event loop: PINGs each peer, feeds the
/// replies to a ``HealthStateMachine`` and marks peers down or up on the router.
final class HealthMonitor: @unchecked Sendable {
    private let router: ClusterRouter
    private let loop: any EventLoop
    private let logger: Logger
    /// The node list and timeout the state machine was built for.
    private var members: [ClusterNodeAddress] = []
    private var builtTimeout = 0
    private var peers: [ClusterNodeAddress] = []
    private var links: [PeerLink] = []
    private var machine: HealthStateMachine<ContinuousClock.Instant>?
    private var task: RepeatedTask?

    init(router: ClusterRouter, logger: Logger) {
        self.router = router
        self.loop = router.healthLoop
        self.logger = logger
    }

    func start() {
        loop.execute { [self] in
            let period = TimeAmount.milliseconds(Int64(max(10, min(200, router.nodeTimeout / 5))))
            task = loop.scheduleRepeatedTask(initialDelay: .zero, delay: period) { [self] _ in tick() }
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
                                     interval: timeoutDuration / 10)
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
