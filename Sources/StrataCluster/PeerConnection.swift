import NIOCore
import NIOPosix
import StrataRESP

/// Why a request to another node failed; the reply the client sees says which node and why.
struct PeerError: Error, CustomStringConvertible {
    var endpoint: String
    var reason: String
    var description: String { "node \(endpoint) \(reason)" }
}

/// One request on a peer connection: its encoded bytes and where its reply goes.
struct PeerRequest {
    var bytes: ByteBuffer
    /// nil: a connection-setup command (AUTH, HELLO, SELECT) whose reply is dropped.
    var promise: EventLoopPromise<ByteBuffer>?
}

/// Pipelines requests to a peer and matches replies first in, first out.
///
/// Replies are delimited with ``RESPValueParser`` and handed back as the exact bytes received,
/// so they can be relayed without re-encoding. A request unanswered for `timeout` closes the
/// connection, failing everything in flight: a stalled peer never hangs a client.
final class PeerChannelHandler: ChannelDuplexHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundIn = PeerRequest
    typealias OutboundOut = ByteBuffer

    private struct Waiter {
        var promise: EventLoopPromise<ByteBuffer>?
        var sent: NIODeadline
    }

    private let endpoint: String
    private let timeout: TimeAmount
    private let parser = RESPValueParser(limits: RESPLimits(maxBulkLength: Int(Int32.max), maxMultibulkLength: Int(Int32.max)))
    private var waiting = CircularBuffer<Waiter>(initialCapacity: 64)
    private var input: ByteBuffer?
    private var timer: RepeatedTask?

    init(endpoint: String, timeout: TimeAmount) {
        self.endpoint = endpoint
        self.timeout = timeout
    }

    func handlerAdded(context: ChannelHandlerContext) {
        let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        let period = TimeAmount.nanoseconds(max(timeout.nanoseconds / 4, 5_000_000))
        timer = context.eventLoop.scheduleRepeatedTask(initialDelay: period, delay: period) { _ in
            let (handler, context) = loopBound.value
            handler.checkTimeout(context: context)
        }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        timer?.cancel()
        failAll(PeerError(endpoint: endpoint, reason: "closed the connection"))
    }

    private func checkTimeout(context: ChannelHandlerContext) {
        guard let head = waiting.first, head.sent + timeout < .now() else { return }
        failAll(PeerError(endpoint: endpoint, reason: "did not answer within \(timeout.nanoseconds / 1_000_000) ms"))
        context.close(promise: nil)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        let request = unwrapOutboundIn(data)
        waiting.append(Waiter(promise: request.promise, sent: .now()))
        context.write(wrapOutboundOut(request.bytes), promise: promise)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var bytes = unwrapInboundIn(data)
        if var buffered = input {
            input = nil
            buffered.writeBuffer(&bytes)
            bytes = buffered
        }
        while bytes.readableBytes > 0 {
            var probe = bytes
            let value: RESPValue?
            do {
                value = try parser.parse(&probe)
            } catch {
                failAll(PeerError(endpoint: endpoint, reason: "sent an invalid reply (\(error))"))
                context.close(promise: nil)
                return
            }
            guard value != nil else { break }
            guard let waiter = waiting.popFirst() else {
                failAll(PeerError(endpoint: endpoint, reason: "sent an unexpected reply"))
                context.close(promise: nil)
                return
            }
            let reply = bytes.readSlice(length: probe.readerIndex - bytes.readerIndex)!
            waiter.promise?.succeed(reply)
        }
        if bytes.readableBytes > 0 {
            bytes.discardReadBytes()
            input = bytes
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        failAll(PeerError(endpoint: endpoint, reason: "closed the connection"))
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        failAll(PeerError(endpoint: endpoint, reason: "connection failed: \(error)"))
        context.close(promise: nil)
    }

    private func failAll(_ error: PeerError) {
        while let waiter = waiting.popFirst() { waiter.promise?.fail(error) }
    }
}

/// A pipelined connection to one peer from one event loop, opened on first use and reopened
/// after a failure (not sooner than `retryDelay`, so a dead peer costs a fast error, not a
/// connect attempt per request). Confined to its event loop.
final class PeerLink {
    let loop: any EventLoop
    let host: String
    let port: Int
    let resp3: Bool
    var password: String
    let timeout: TimeAmount

    private enum State {
        case idle
        case connecting([(PeerRequest, Int)])
        case connected(any Channel)
        case failed(until: NIODeadline, PeerError)
    }
    private var state = State.idle
    private var database = 0
    private var flushScheduled = false
    static let retryDelay = TimeAmount.milliseconds(100)

    init(loop: any EventLoop, host: String, port: Int, resp3: Bool, password: String, timeout: TimeAmount) {
        (self.loop, self.host, self.port, self.resp3, self.password, self.timeout) = (loop, host, port, resp3, password, timeout)
    }

    var endpoint: String { "\(host):\(port)" }

    /// Sends one encoded command to run in `database`; the future holds the reply's bytes.
    func send(_ bytes: ByteBuffer, database: Int) -> EventLoopFuture<ByteBuffer> {
        loop.preconditionInEventLoop()
        let promise = loop.makePromise(of: ByteBuffer.self)
        let request = PeerRequest(bytes: bytes, promise: promise)
        switch state {
        case .connected(let channel):
            write(request, database: database, on: channel)
        case .connecting(var queued):
            queued.append((request, database))
            state = .connecting(queued)
        case .failed(let until, let error) where until > .now():
            promise.fail(error)
        case .idle, .failed:
            connect(first: (request, database))
        }
        return promise.futureResult
    }

    /// Closes the connection (membership changed, node removed).
    func close() {
        if case .connected(let channel) = state { channel.close(promise: nil) }
        state = .idle
    }

    private func write(_ request: PeerRequest, database: Int, on channel: any Channel) {
        if database != self.database {
            channel.write(PeerRequest(bytes: Self.encode(["SELECT", String(database)]), promise: nil), promise: nil)
            self.database = database
        }
        channel.write(request, promise: nil)
        guard !flushScheduled else { return }
        // One flush after everything this event-loop tick sends: pipelining across clients.
        flushScheduled = true
        loop.execute { [self] in
            flushScheduled = false
            channel.flush()
        }
    }

    private func connect(first: (PeerRequest, Int)) {
        state = .connecting([first])
        let endpoint = self.endpoint
        let timeout = self.timeout
        let connectTimeout = TimeAmount.nanoseconds(min(timeout.nanoseconds, 1_000_000_000))
        ClientBootstrap(group: loop)
            .connectTimeout(connectTimeout)
            .channelOption(ChannelOptions.socketOption(.tcp_nodelay), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(PeerChannelHandler(endpoint: endpoint, timeout: timeout))
                }
            }
            .connect(host: host, port: port)
            .hop(to: loop)
            .whenComplete { [self] result in
                guard case .connecting(let queued) = state else {
                    if case .success(let channel) = result { channel.close(promise: nil) }
                    return
                }
                switch result {
                case .success(let channel):
                    state = .connected(channel)
                    database = 0
                    // Authenticate and choose the protocol before anything else.
                    if resp3 {
                        var words = ["HELLO", "3"]
                        if !password.isEmpty { words += ["AUTH", "default", password] }
                        channel.write(PeerRequest(bytes: Self.encode(words), promise: nil), promise: nil)
                    } else if !password.isEmpty {
                        channel.write(PeerRequest(bytes: Self.encode(["AUTH", password]), promise: nil), promise: nil)
                    }
                    channel.write(PeerRequest(bytes: Self.encode(["CLIENT", "SETNAME", ClusterRouter.peerName]), promise: nil),
                                  promise: nil)
                    for (request, database) in queued { write(request, database: database, on: channel) }
                    channel.closeFuture.hop(to: loop).whenComplete { [self] _ in
                        if case .connected(let current) = state, current === channel { state = .idle }
                    }
                case .failure(let error):
                    let failure = PeerError(endpoint: endpoint, reason: "is unreachable (\(Self.shortReason(error)))")
                    state = .failed(until: .now() + Self.retryDelay, failure)
                    for (request, _) in queued { request.promise?.fail(failure) }
                }
            }
    }

    /// "connection refused", "connect timeout": NIO's error text without its wrapping.
    static func shortReason(_ error: any Error) -> String {
        let text = "\(error)".lowercased()
        for reason in ["connection refused", "timeout", "timed out", "no route", "unreachable", "reset"] where text.contains(reason) {
            return reason == "timed out" ? "timeout" : reason
        }
        return "connect failed"
    }

    /// A command as a RESP array of bulk strings.
    static func encode(_ words: [String]) -> ByteBuffer {
        var buffer = ByteBuffer()
        buffer.writeString("*\(words.count)\r\n")
        for word in words {
            buffer.writeString("$\(word.utf8.count)\r\n")
            buffer.writeString(word)
            buffer.writeStaticString("\r\n")
        }
        return buffer
    }
}

extension PeerLink: @unchecked Sendable {}
