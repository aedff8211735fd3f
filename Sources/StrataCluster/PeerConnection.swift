import NIOCore
import NIOPosix
import StrataCommands
import StrataRESP

/// Why a request to another node failed; the reply the client sees says which node and why.
struct PeerError: Error, CustomStringConvertible {
    var endpoint: String
    var reason: String
    var description: String { "node \(endpoint) \(reason)" }
}

/// Where the reply to a request sent to a peer goes.
enum ReplyDestination {
    /// A place in a client connection's reply stream: the reply is relayed as received. A failure
    /// fills the place with `-CLUSTERDOWN node … <reason>`.
    case stream(any ReplyStream, Int)
    /// A promise (parts of a split command, health checks, handoff). A failure fails it.
    case promise(EventLoopPromise<ByteBuffer>)
    /// Nowhere: a connection-setup command (AUTH, HELLO, CLIENT SETNAME, SELECT).
    case discard

    /// Delivers a reply. A stream place is filled but not flushed: the caller flushes each
    /// stream once after a batch.
    func deliver(_ reply: ByteBuffer) {
        switch self {
        case .stream(let stream, let place): stream.fill(place, with: reply)
        case .promise(let promise): promise.succeed(reply)
        case .discard: break
        }
    }

    func fail(_ error: PeerError) {
        switch self {
        case .stream(let stream, let place): stream.fill(place, with: CommandDispatcher.errorReply("CLUSTERDOWN \(error)"))
        case .promise(let promise): promise.fail(error)
        case .discard: break
        }
    }

    /// The stream to flush after delivering to this destination, if any.
    var stream: (any ReplyStream)? {
        if case .stream(let stream, _) = self { return stream }
        return nil
    }
}

/// Fails a batch of destinations, flushing each stream touched once.
func failAll<S: Sequence<ReplyDestination>>(_ destinations: S, _ error: PeerError) {
    var touched: [any ReplyStream] = []
    for destination in destinations {
        destination.fail(error)
        if let stream = destination.stream, touched.last !== stream { touched.append(stream) }
    }
    for stream in touched { stream.flush() }
}

/// Flushes client streams that still wait for other replies once each, after every peer
/// connection of the event loop has handled what this wake-up brought: a client whose batch was
/// split across several peers gets one write, not one per peer. Confined to its event loop
/// (`add` checks it; `@unchecked Sendable` only so that closures on that loop may hold it).
final class StreamFlusher {
    let loop: any EventLoop
    private var touched: [any ReplyStream] = []
    private var scheduled = false

    init(loop: any EventLoop) {
        self.loop = loop
    }

    /// Flushes `stream` before the event loop waits again.
    func add(_ stream: any ReplyStream) {
        loop.preconditionInEventLoop()
        // Consecutive replies usually go to the same client; a stream listed twice flushes
        // nothing the second time.
        if touched.last !== stream { touched.append(stream) }
        guard !scheduled else { return }
        scheduled = true
        // Tasks run after the I/O events of this wake-up.
        loop.execute { [self] in
            scheduled = false
            let streams = touched
            touched.removeAll(keepingCapacity: true)
            for stream in streams { stream.flush() }
        }
    }
}

extension StreamFlusher: @unchecked Sendable {}

/// Reads a peer's replies and matches them to requests first in, first out.
///
/// Replies are delimited with ``RESPReplyScanner`` (boundaries only, nothing decoded) and handed
/// on as the exact bytes received. After a read, a client stream that has all its replies is
/// flushed at once; one still waiting for others (from another peer, perhaps in this same
/// wake-up) is flushed at the end of the wake-up (``StreamFlusher``). A request unanswered for
/// `timeout` closes the connection, failing everything in flight: a stalled peer never hangs a
/// client.
final class PeerChannelHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer

    private struct Waiter {
        var destination: ReplyDestination
        var sent: NIODeadline
    }

    private let endpoint: String
    private let timeout: TimeAmount
    private var scanner = RESPReplyScanner(limits: RESPLimits(maxBulkLength: Int(Int32.max), maxMultibulkLength: Int(Int32.max)))
    private var waiting = CircularBuffer<Waiter>(initialCapacity: 64)
    private var input: ByteBuffer?
    private var timer: RepeatedTask?
    private let flusher: StreamFlusher
    /// Streams filled during the current read, flushed in `channelReadComplete`.
    private var touched: [any ReplyStream] = []
    /// Set once the connection has failed: later requests fail at once.
    private var failure: PeerError?

    init(endpoint: String, timeout: TimeAmount, flusher: StreamFlusher) {
        self.endpoint = endpoint
        self.timeout = timeout
        self.flusher = flusher
    }

    /// Expects the reply to a request written (or about to be written, in order) to the channel.
    func expect(_ destination: ReplyDestination, sent: NIODeadline) {
        if let failure {
            failAll(CollectionOfOne(destination), failure)
            return
        }
        waiting.append(Waiter(destination: destination, sent: sent))
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
        fail(PeerError(endpoint: endpoint, reason: "closed the connection"))
    }

    private func checkTimeout(context: ChannelHandlerContext) {
        guard let head = waiting.first, head.sent + timeout < .now() else { return }
        fail(PeerError(endpoint: endpoint, reason: "did not answer within \(timeout.nanoseconds / 1_000_000) ms"))
        context.close(promise: nil)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var bytes = unwrapInboundIn(data)
        if var buffered = input {
            input = nil
            buffered.writeBuffer(&bytes)
            bytes = buffered
        }
        while true {
            let length: Int?
            do {
                length = try scanner.scan(bytes)
            } catch {
                fail(PeerError(endpoint: endpoint, reason: "sent an invalid reply (\(error))"))
                context.close(promise: nil)
                return
            }
            guard let length else { break }
            guard let waiter = waiting.popFirst() else {
                fail(PeerError(endpoint: endpoint, reason: "sent an unexpected reply"))
                context.close(promise: nil)
                return
            }
            let reply = bytes.readSlice(length: length)!
            waiter.destination.deliver(reply)
            if let stream = waiter.destination.stream, touched.last !== stream { touched.append(stream) }
        }
        if bytes.readableBytes > 0 {
            // The scanner's progress is relative to the front, which this keeps in place.
            if bytes.readerIndex > 64 * 1024 { bytes.discardReadBytes() }
            input = bytes
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        flushTouched()
        context.fireChannelReadComplete()
    }

    private func flushTouched() {
        guard !touched.isEmpty else { return }
        let streams = touched
        touched.removeAll(keepingCapacity: true)
        for stream in streams {
            if stream.isWaiting { flusher.add(stream) } else { stream.flush() }
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        fail(PeerError(endpoint: endpoint, reason: "closed the connection"))
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        fail(PeerError(endpoint: endpoint, reason: "connection failed: \(error)"))
        context.close(promise: nil)
    }

    /// Fails everything in flight and everything sent later.
    private func fail(_ error: PeerError) {
        flushTouched()
        if failure == nil { failure = error }
        guard !waiting.isEmpty else { return }
        let failed = waiting.map(\.destination)
        waiting.removeAll()
        failAll(failed, error)
    }
}

/// A pipelined connection to one peer from one event loop, opened on first use and reopened
/// after a failure (not sooner than `retryDelay`, so a dead peer costs a fast error, not a
/// connect attempt per request). Confined to its event loop: `send` and `close` check it.
///
/// Requests sent during one event-loop tick, from every client of the loop, are gathered into
/// one buffer and written with one write and one flush.
final class PeerLink {
    let loop: any EventLoop
    let host: String
    let port: Int
    let resp3: Bool
    var password: String
    var timeout: TimeAmount
    /// What the connection calls itself on the other node (CLIENT SETNAME).
    let name: String
    let flusher: StreamFlusher

    private enum State {
        case idle
        /// Requests wait in `outbound`, their destinations here, until the connection is up.
        case connecting([ReplyDestination])
        case connected(any Channel, PeerChannelHandler)
        case failed(until: NIODeadline, PeerError)
    }
    private var state = State.idle
    /// The database the connection is in once everything in `outbound` has run.
    private var database = 0
    /// Requests not written yet (this tick's).
    private var outbound = ByteBuffer()
    private var flushScheduled = false
    /// When this tick's requests were sent, for the timeout (read once per tick).
    private var tickStart = NIODeadline.uptimeNanoseconds(0)
    static let retryDelay = TimeAmount.milliseconds(100)

    /// - Parameter flusher: shared by the links of one event loop (the default: this link's own).
    init(loop: any EventLoop, host: String, port: Int, resp3: Bool, password: String, timeout: TimeAmount,
         name: String = ClusterRouter.peerName, flusher: StreamFlusher? = nil) {
        (self.loop, self.host, self.port, self.resp3, self.password, self.timeout) = (loop, host, port, resp3, password, timeout)
        self.name = name
        self.flusher = flusher ?? StreamFlusher(loop: loop)
    }

    var endpoint: String { "\(host):\(port)" }

    /// Sends one request, to run in `database`: `encode` appends its RESP bytes to the buffer of
    /// this tick's requests. The reply goes to `destination`.
    func send(database: Int, to destination: ReplyDestination, _ encode: (inout ByteBuffer) -> Void) {
        loop.preconditionInEventLoop()
        switch state {
        case .connected(_, let handler):
            scheduleFlush()
            if database != self.database { select(database) { handler.expect(.discard, sent: tickStart) } }
            encode(&outbound)
            handler.expect(destination, sent: tickStart)
        case .connecting(var queued):
            state = .idle // keep `queued` uniquely referenced while appending
            if database != self.database { select(database) { queued.append(.discard) } }
            encode(&outbound)
            queued.append(destination)
            state = .connecting(queued)
        case .failed(let until, let error) where until > .now():
            failAll(CollectionOfOne(destination), error)
        case .idle, .failed:
            outbound.clear()
            self.database = 0
            var queued: [ReplyDestination] = []
            if database != 0 { select(database) { queued.append(.discard) } }
            encode(&outbound)
            queued.append(destination)
            state = .connecting(queued)
            connect()
        }
    }

    /// Sends one encoded request; the future holds the reply's bytes, or fails with a ``PeerError``.
    func send(_ bytes: ByteBuffer, database: Int) -> EventLoopFuture<ByteBuffer> {
        let promise = loop.makePromise(of: ByteBuffer.self)
        send(database: database, to: .promise(promise)) { out in
            var bytes = bytes
            out.writeBuffer(&bytes)
        }
        return promise.futureResult
    }

    /// Closes the connection (membership changed, node removed).
    func close() {
        loop.preconditionInEventLoop()
        switch state {
        case .connected(let channel, _): channel.close(promise: nil)
        case .connecting(let queued):
            failAll(queued, PeerError(endpoint: endpoint, reason: "was removed from the cluster"))
        default: break
        }
        outbound.clear()
        state = .idle
    }

    private func select(_ database: Int, _ expect: () -> Void) {
        Self.encode(["SELECT", String(database)], into: &outbound)
        expect()
        self.database = database
    }

    private func scheduleFlush() {
        guard !flushScheduled else { return }
        // One write and flush after everything this event-loop tick sends: pipelining across clients.
        flushScheduled = true
        tickStart = .now()
        loop.execute { [self] in
            flushScheduled = false
            guard case .connected(let channel, _) = state, outbound.readableBytes > 0 else { return }
            channel.writeAndFlush(outbound, promise: nil)
            // Usually written at once and released, so clearing reuses the memory.
            outbound.clear()
        }
    }

    private func connect() {
        let endpoint = self.endpoint
        let timeout = self.timeout
        let flusher = self.flusher
        let connectTimeout = TimeAmount.nanoseconds(min(timeout.nanoseconds, 1_000_000_000))
        ClientBootstrap(group: loop)
            .connectTimeout(connectTimeout)
            .channelOption(ChannelOptions.socketOption(.tcp_nodelay), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(PeerChannelHandler(endpoint: endpoint, timeout: timeout, flusher: flusher))
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
                    guard let handler = try? channel.pipeline.syncOperations.handler(type: PeerChannelHandler.self) else {
                        channel.close(promise: nil)
                        state = .failed(until: .now() + Self.retryDelay, PeerError(endpoint: endpoint, reason: "is unreachable (connect failed)"))
                        failAll(queued, PeerError(endpoint: endpoint, reason: "is unreachable (connect failed)"))
                        return
                    }
                    state = .connected(channel, handler)
                    let now = NIODeadline.now()
                    // Authenticate and choose the protocol before anything else.
                    var setup = ByteBuffer()
                    if resp3 {
                        var words = ["HELLO", "3"]
                        if !password.isEmpty { words += ["AUTH", ACLRegistry.peerUserName, password] }
                        Self.encode(words, into: &setup)
                        handler.expect(.discard, sent: now)
                    } else if !password.isEmpty {
                        Self.encode(["AUTH", ACLRegistry.peerUserName, password], into: &setup)
                        handler.expect(.discard, sent: now)
                    }
                    Self.encode(["CLIENT", "SETNAME", name], into: &setup)
                    handler.expect(.discard, sent: now)
                    for destination in queued { handler.expect(destination, sent: now) }
                    setup.writeBuffer(&outbound)
                    outbound.clear()
                    channel.writeAndFlush(setup, promise: nil)
                    channel.closeFuture.hop(to: loop).whenComplete { [self] _ in
                        if case .connected(let current, _) = state, current === channel { state = .idle }
                    }
                case .failure(let error):
                    let failure = PeerError(endpoint: endpoint, reason: "is unreachable (\(Self.shortReason(error)))")
                    state = .failed(until: .now() + Self.retryDelay, failure)
                    outbound.clear()
                    failAll(queued, failure)
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
        encode(words, into: &buffer)
        return buffer
    }

    static func encode(_ words: [String], into buffer: inout ByteBuffer) {
        buffer.writeString("*\(words.count)\r\n")
        for word in words {
            buffer.writeString("$\(word.utf8.count)\r\n")
            buffer.writeString(word)
            buffer.writeStaticString("\r\n")
        }
    }
}

extension PeerLink: @unchecked Sendable {}
