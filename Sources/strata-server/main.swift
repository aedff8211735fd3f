import ArgumentParser
import Logging
import NIOCore
import NIOPosix
import ServiceLifecycle
import StrataCluster
import StrataCommands
import StrataConfig
import StrataPersistence
import StrataStore
import StrataServer

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

@main
struct StrataServerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "strata-server",
        abstract: "A Redis-protocol-compatible tiered cache server.",
        discussion: """
            Usage follows redis-server: an optional configuration file of `directive value` lines, then \
            any directive as `--directive value` (later settings win). Example:
              strata-server --port 6380 --maxmemory 1gb --maxmemory-policy allkeys-lru
            Directives: \(Configuration.directives.map(\.name).joined(separator: ", ")).
            See docs/configuration.md.
            """,
        version: strataVersion)

    @Argument(parsing: .allUnrecognized, help: "[config-file] [--directive value ...]")
    var arguments: [String] = []

    func run() async throws {
        let configuration: Configuration
        do {
            configuration = try ConfigurationLoader.load(arguments: arguments)
        } catch {
            fail("bad configuration: \(error)")
        }
        if mkdir(configuration.dir, 0o755) != 0 && errno != EEXIST {
            fail("cannot create directory '\(configuration.dir)': \(String(cString: strerror(errno)))")
        }
        var status = stat()
        if stat(configuration.dir, &status) != 0 || (status.st_mode & S_IFMT) != S_IFDIR {
            fail("'dir' \(configuration.dir) is not a directory")
        }

        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardOutput(label: label)
            handler.logLevel = configuration.logLevel.swiftLogLevel
            return handler
        }
        let logger = Logger(label: "strata")

        let threads = configuration.ioThreads > 0 ? configuration.ioThreads : System.coreCount
        let eventLoops = MultiThreadedEventLoopGroup(numberOfThreads: threads)
        // Multi-node (docs/cluster.md): a router when `cluster-nodes` is set.
        var router: ClusterRouter?
        if !configuration.clusterNodes.isEmpty {
            do { router = try ClusterRouter(configuration: configuration, group: eventLoops) } catch { fail("bad configuration: \(error)") }
        }
        let keyspace = Keyspace(databases: configuration.databases, now: WallClock.milliseconds())
        // L3 (docs/durability.md): the SQLite tier, unless `persistence no`.
        var l3: L3Tier?
        if configuration.persistence {
            let path = configuration.dir.hasSuffix("/") ? configuration.dir + configuration.l3File
                                                        : configuration.dir + "/" + configuration.l3File
            do {
                l3 = try L3Tier(path: path, keyspace: keyspace, settings: configuration.batcherSettings)
            } catch {
                fail("cannot open the L3 database '\(path)': \(error). Fix or move the file, or start with --persistence no.")
            }
        }
        let context = ServerContext(configuration: configuration, keyspace: keyspace, router: router, coldStorage: l3)
        if !configuration.aclFile.isEmpty, case .failure(let error) = context.loadACLFile(configuration.aclFile) {
            fail("Aborting startup because of ACL errors: \(error.message)")
        }
        for error in context.loadStoredLibraries() {
            logger.warning("A function library kept in L3 no longer loads", metadata: ["error": .string(error)])
        }
        if let l3 {
            context.hooks.configurationChanged = { l3.batcher.update($0.batcherSettings) }
            l3.start { rows, milliseconds in
                logger.notice("L3 loaded", metadata: ["rows": .string(String(rows)), "ms": .string(String(milliseconds))])
            }
        }
        // Objects every event loop touches on every command, alive until exit: keep their
        // reference counts from bouncing between cores (ProcessLifetime).
        keyspace.makeImmortal()
        ProcessLifetime.makeImmortal(context)
        ProcessLifetime.makeImmortal(context.statistics)
        for spec in context.commands.commands {
            ProcessLifetime.makeImmortal(spec)
            spec.subcommands.forEach(ProcessLifetime.makeImmortal)
        }
        if let l3 {
            ProcessLifetime.makeImmortal(l3)
            ProcessLifetime.makeImmortal(l3.batcher)
        }
        if let router { ProcessLifetime.makeImmortal(router) }
        let server = StrataServer(context: context, group: eventLoops, logger: logger)
        let cron = CronService(context: context, logger: logger)
        var clusterServices: [ServiceGroupConfiguration.ServiceConfiguration] = []
        if let router {
            router.attach(context, logger: logger)
            context.hooks.configurationChanged = { [l3] in
                router.apply($0)
                l3?.batcher.update($0.batcherSettings)
            }
            let arguments = self.arguments
            // SIGHUP rereads the configuration; a changed `cluster-nodes` moves the slots that change owner.
            clusterServices.append(.init(service: ClusterService(router: router, logger: logger) {
                let reread = try ConfigurationLoader.load(arguments: arguments)
                context.updateConfiguration {
                    $0.clusterNodes = reread.clusterNodes
                    $0.clusterNodeTimeout = reread.clusterNodeTimeout
                }
            }))
        }
        let group = ServiceGroup(configuration: .init(
            services: [
                .init(service: server, successTerminationBehavior: .gracefullyShutdownGroup,
                      failureTerminationBehavior: .gracefullyShutdownGroup),
                .init(service: cron),
            ] + clusterServices,
            gracefulShutdownSignals: [.sigterm, .sigint],
            logger: logger))
        context.hooks.shutdown = {
            Task { await group.triggerGracefulShutdown() }
        }
        logger.notice("Strata \(strataVersion) starting", metadata: ["pid": .string(String(getpid())), "threads": .string(String(threads))])
        do {
            try await group.run()
        } catch let error as StartupError {
            l3?.shutdown()
            try? await eventLoops.shutdownGracefully()
            fail(error.description)
        } catch {
            l3?.shutdown()
            try? await eventLoops.shutdownGracefully()
            fail("\(error)")
        }
        // Every acknowledged write is committed before the process exits.
        l3?.shutdown()
        try await eventLoops.shutdownGracefully()
    }

    private func fail(_ message: String) -> Never {
        let line = "strata-server: \(message)\n"
        _ = line.utf8CString.withUnsafeBufferPointer { write(2, $0.baseAddress, $0.count - 1) }
        Glibc.exit(1)
    }
}

extension Configuration {
    var batcherSettings: BatcherSettings {
        var settings = BatcherSettings()
        settings.policy = l3Fsync
        settings.batchMax = l3BatchMax
        settings.flushIntervalMilliseconds = l3FlushInterval
        settings.queueLimit = l3QueueMax
        settings.pageCacheBytes = BatcherSettings.pageCache(maxMemory: maxMemory)
        return settings
    }
}

extension Configuration.LogLevel {
    var swiftLogLevel: Logger.Level {
        switch self {
        case .debug: return .debug
        case .verbose: return .info
        case .notice: return .notice
        case .warning: return .warning
        case .nothing: return .critical
        }
    }
}
