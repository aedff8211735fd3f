import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import ServiceLifecycle
import StrataCommands
import StrataConfig
import StrataRESP

/// The TCP server as a lifecycle service: binds every `bind` address on `port`, serves until
/// graceful shutdown (SIGTERM, SIGINT or SHUTDOWN), then closes the listeners and every client.
public final class StrataServer: Service, Sendable {
    public let context: ServerContext
    private let group: any EventLoopGroup
    private let logger: Logger
    private let boundPorts = NIOLockedValueBox<[Int]>([])

    public init(context: ServerContext, group: any EventLoopGroup, logger: Logger) {
        self.context = context
        self.group = group
        self.logger = logger
    }

    /// The ports actually bound (useful with `port 0`), once ``run()`` has started listening.
    public var ports: [Int] { boundPorts.withLockedValue { $0 } }

    public func run() async throws {
        let configuration = context.configuration
        let limits = RESPLimits(maxBulkLength: configuration.protoMaxBulkLength)
        let queryBufferLimit = configuration.clientQueryBufferLimit
        let server = context
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(ChannelOptions.backlog, value: 511)
            .serverChannelOption(ChannelOptions.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(ChannelOptions.socketOption(.tcp_nodelay), value: 1)
            .childChannelOption(ChannelOptions.socketOption(.so_keepalive), value: 1)
            .childChannelOption(ChannelOptions.allowRemoteHalfClosure, value: true)
            .childChannelOption(ChannelOptions.writeBufferWaterMark, value: ConnectionHandler.writeBufferWaterMark)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(
                        ConnectionHandler(server: server, limits: limits, queryBufferLimit: queryBufferLimit))
                }
            }
        var channels: [any Channel] = []
        do {
            for address in configuration.bind {
                let host = address.hasPrefix("-") ? String(address.dropFirst()) : address
                let channel = try await bootstrap.bind(host: host, port: configuration.port).get()
                channels.append(channel)
            }
        } catch {
            for channel in channels { try? await channel.close() }
            throw StartupError("could not listen on \(configuration.bind.joined(separator: " ")) port \(configuration.port): \(error)")
        }
        let ports = channels.compactMap { $0.localAddress?.port }
        boundPorts.withLockedValue { $0 = ports }
        if let port = ports.first { context.listeningPort.store(port, ordering: .relaxed) }
        logger.notice("Ready to accept connections tcp", metadata: [
            "bind": .string(configuration.bind.joined(separator: " ")), "port": .string(ports.map(String.init).joined(separator: ",")),
        ])
        let listeners = channels
        await withGracefulShutdownHandler {
            for channel in listeners { try? await channel.closeFuture.get() }
        } onGracefulShutdown: {
            for channel in listeners { channel.close(promise: nil) }
        }
        // Listeners are closed; close clients too so that no request is half served.
        for session in server.clients.all { session.close() }
        // Each close runs on its channel's loop, after whatever that loop was doing: a command
        // read before it may still run and be acknowledged. A task queued on every loop after
        // the closes runs once they are done, so no command runs after this (a suspended one
        // can still finish, but its client is gone: not acknowledged) and every acknowledged
        // write is in the L3 queue before the batcher's last commit. (Without this, a write a
        // peer forwarded during the shutdown was acknowledged and lost with `everysec`.)
        for loop in group.makeIterator() { try? await loop.submit {}.get() }
        logger.notice("Strata is now ready to exit, bye bye...")
    }
}

/// A start-up failure with a message for the operator.
public struct StartupError: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}
