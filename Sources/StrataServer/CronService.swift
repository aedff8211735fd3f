import Logging
import ServiceLifecycle
import StrataCommands
import StrataStore

/// Background housekeeping, `hz` times a second (Redis's `serverCron`): the active expiry cycle,
/// bounded to a quarter of each tick; the limits on client memory (`client-output-buffer-limit`,
/// `maxmemory-clients`); and, once a second, closing clients idle for longer than `timeout` and
/// giving the allocator's free memory back to the system when it holds much of it.
public struct CronService: Service {
    let context: ServerContext
    let logger: Logger

    public init(context: ServerContext, logger: Logger = Logger(label: "strata.cron")) {
        self.context = context
        self.logger = logger
    }

    public func run() async throws {
        var tick = 0
        while !Task.isCancelledOrShuttingDown {
            let hz = max(1, context.configuration.hz)
            let period = 1_000_000 / hz // microseconds
            try? await Task.sleep(for: .microseconds(period))
            if Task.isCancelledOrShuttingDown { break }
            let start = WallClock.microseconds()
            let budget = Int64(period / 4)
            context.keyspace.activeExpireCycle(now: WallClock.milliseconds()) {
                WallClock.microseconds() - start > budget
            }
            for (id, address, reason) in context.enforceClientLimits(now: WallClock.milliseconds()) {
                logger.warning("client closed for its memory", metadata: ["id": "\(id)", "addr": "\(address)", "reason": "\(reason)"])
            }
            tick += 1
            if tick % hz == 0 {
                closeIdleClients()
                AllocatorMemory.purgeIfWorthIt()
            }
        }
    }

    private func closeIdleClients() {
        let timeout = context.configuration.timeout
        guard timeout > 0 else { return }
        let now = WallClock.milliseconds()
        for session in context.clients.all where now - session.lastInteraction.load(ordering: .relaxed) > Int64(timeout) * 1000 {
            session.close()
        }
    }
}

extension Task where Success == Never, Failure == Never {
    static var isCancelledOrShuttingDown: Bool {
        Task.isCancelled || Task.isShuttingDownGracefully
    }
}
