import NIOConcurrencyHelpers
import StrataConfig
import StrataScripting
import StrataStore
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Wall-clock time in Unix milliseconds and microseconds.
public enum WallClock {
    @inline(__always)
    public static func milliseconds() -> Int64 {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return Int64(ts.tv_sec) * 1000 + Int64(ts.tv_nsec) / 1_000_000
    }

    public static func microseconds() -> Int64 {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return Int64(ts.tv_sec) * 1_000_000 + Int64(ts.tv_nsec) / 1000
    }
}

/// Server-wide counters for INFO stats.
public final class ServerStatistics: Sendable {
    public let commandsProcessed = Synchronization.Atomic<Int>(0)
    public let connectionsReceived = Synchronization.Atomic<Int>(0)
    public let rejectedConnections = Synchronization.Atomic<Int>(0)
    public let netInputBytes = Synchronization.Atomic<Int>(0)
    public let netOutputBytes = Synchronization.Atomic<Int>(0)
    public let connectedClients = Synchronization.Atomic<Int>(0)
    public let errorReplies = Synchronization.Atomic<Int>(0)
    /// Clients disconnected by `maxmemory-clients`.
    public let evictedClients = Synchronization.Atomic<Int>(0)
    /// Clients disconnected by `client-output-buffer-limit`.
    public let outputBufferLimitDisconnections = Synchronization.Atomic<Int>(0)
    public init() {}

    public func reset() {
        commandsProcessed.store(0, ordering: .relaxed)
        connectionsReceived.store(0, ordering: .relaxed)
        rejectedConnections.store(0, ordering: .relaxed)
        netInputBytes.store(0, ordering: .relaxed)
        netOutputBytes.store(0, ordering: .relaxed)
        errorReplies.store(0, ordering: .relaxed)
        evictedClients.store(0, ordering: .relaxed)
        outputBufferLimitDisconnections.store(0, ordering: .relaxed)
    }
}

/// Hooks through which commands reach the server layer (which knows about sockets and services).
public struct ServerHooks: Sendable {
    /// Stops the server (SHUTDOWN).
    public var shutdown: @Sendable () -> Void
    /// Applies a configuration change that the server layer owns (timeouts, limits).
    public var configurationChanged: @Sendable (Configuration) -> Void

    public init(shutdown: @escaping @Sendable () -> Void = {},
                configurationChanged: @escaping @Sendable (Configuration) -> Void = { _ in }) {
        self.shutdown = shutdown
        self.configurationChanged = configurationChanged
    }
}

/// Everything shared by all connections: the keyspace, configuration, clients and counters.
///
/// Immutable references only; the mutable parts guard themselves (atomics, locked boxes, shards).
public final class ServerContext: Sendable {
    public let keyspace: Keyspace
    public let statistics = ServerStatistics()
    public let clients: ClientRegistry
    public let pubsub = PubSubHub()
    /// Client-side caching (CLIENT TRACKING).
    public let tracker: ClientTracker
    /// Set once in init (it refers back to the server).
    private nonisolated(unsafe) var notifier: KeyspaceNotifier!
    public let commands: CommandLookup
    /// Command and error statistics, the slow log and the latency monitor.
    public let recorder: CommandRecorder
    public let startTime: Int64
    public let runID: String
    /// Protected by its own lock; read when a command needs a setting, written by CONFIG SET.
    private let configurationBox: NIOLockedValueBox<Configuration>
    /// The ACL users (`requirepass` is the `default` user's password).
    public let acl: ACLRegistry
    private let hooksBox: NIOLockedValueBox<ServerHooks>
    public let listeningPort: Synchronization.Atomic<Int>
    /// Where commands run in a multi-node setup; nil for a standalone node. Fixed at creation.
    public let router: (any CommandRouter)?
    /// The L3 tier; nil with `persistence no`. Fixed at creation.
    public let coldStorage: (any ColdStorage)?
    /// Lua scripts (EVAL, SCRIPT LOAD) and the scripts running now.
    public let scripts = ScriptCache()
    /// The clients in MONITOR mode.
    public let monitors = MonitorFeed()
    /// CLIENT PAUSE.
    public let pause = ClientPause()
    /// Function libraries (FUNCTION LOAD, FCALL); kept in L3 when it is on.
    public let functions = FunctionLibraries()

    public init(configuration: Configuration, keyspace: Keyspace? = nil, router: (any CommandRouter)? = nil,
                coldStorage: (any ColdStorage)? = nil, now: Int64 = WallClock.milliseconds()) {
        self.router = router
        let registry = ClientRegistry()
        self.clients = registry
        self.tracker = ClientTracker(registry: registry)
        self.coldStorage = coldStorage
        self.keyspace = keyspace ?? Keyspace(databases: configuration.databases, now: now)
        self.configurationBox = NIOLockedValueBox(configuration)
        self.acl = ACLRegistry(requirePass: configuration.requirePass)
        self.commands = CommandLookup(CommandTable.all)
        self.recorder = CommandRecorder(configuration: configuration)
        self.startTime = now
        var generator = SystemRandomNumberGenerator()
        self.runID = (0..<40).map { _ in String("0123456789abcdef".randomElement(using: &generator)!) }.joined()
        self.hooksBox = NIOLockedValueBox(ServerHooks())
        self.listeningPort = Synchronization.Atomic(configuration.port)
        applyMemorySettings(configuration)
        pubsub.configure(hardLimit: configuration.clientOutputBufferLimit.pubsub.hard)
        monitors.configure(normalHardLimit: configuration.clientOutputBufferLimit.normal.hard)
        notifier = KeyspaceNotifier(server: self)
        notifier.configure(configuration.notifyKeyspaceEvents)
    }

    /// A client turned tracking on or off: the shards report key changes while notifications
    /// publish anything or a client tracks.
    func keyEventsChanged() { notifier.configure(notifier.current) }

    /// The keyspace notifier (which also feeds client tracking), when the shards report events.
    var keyspaceNotifier: KeyspaceNotifier? { keyspace.keyEvents.isEnabled ? notifier : nil }

    public var configuration: Configuration { configurationBox.withLockedValue { $0 } }

    public var hooks: ServerHooks {
        get { hooksBox.withLockedValue { $0 } }
        set { hooksBox.withLockedValue { $0 = newValue } }
    }

    /// Whether new connections must authenticate: the `default` user has a password or is off.
    @inline(__always)
    public var requiresPassword: Bool { acl.requiresAuthentication }

    /// Replaces the configuration (CONFIG SET) and applies what changes at run time.
    /// - Parameter evict: shrink memory at once (false when the caller holds shard locks).
    public func updateConfiguration(evict: Bool = true, _ change: (inout Configuration) throws -> Void) rethrows {
        let (previous, updated) = try configurationBox.withLockedValue { configuration -> (Configuration, Configuration) in
            var copy = configuration
            try change(&copy)
            defer { configuration = copy }
            return (configuration, copy)
        }
        // As Redis: setting `requirepass` replaces the default user's passwords.
        if updated.requirePass != previous.requirePass { acl.setDefaultPassword(updated.requirePass) }
        applyMemorySettings(updated)
        pubsub.configure(hardLimit: updated.clientOutputBufferLimit.pubsub.hard)
        monitors.configure(normalHardLimit: updated.clientOutputBufferLimit.normal.hard)
        notifier.configure(updated.notifyKeyspaceEvents)
        if evict { keyspace.evictIfNeeded(now: WallClock.milliseconds()) }
        hooks.configurationChanged(updated)
    }

    private func applyMemorySettings(_ configuration: Configuration) {
        recorder.configure(configuration)
        scripts.busyThreshold.store(configuration.busyReplyThreshold, ordering: .relaxed)
        tracker.configure(maxKeys: configuration.trackingTableMaxKeys)
        keyspace.configureMemory(
            maxMemory: configuration.maxMemory,
            policy: configuration.maxMemoryPolicy,
            l1Share: configuration.l1Share)
    }
}
