import NIOCore
import NIOEmbedded
import StrataCommands
import StrataConfig
import StrataRESP
import StrataStore
import Testing
@testable import StrataServer

/// Counts what reaches the socket: writes and flushes.
final class OutboundCounter: ChannelOutboundHandler {
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer
    var writes = 0
    var flushes = 0

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        writes += 1
        context.write(data, promise: promise)
    }

    func flush(context: ChannelHandlerContext) {
        flushes += 1
        context.flush()
    }
}

/// Acts as a socket whose peer reads nothing: past `limit` unsent bytes the channel turns
/// unwritable, inside the write, as SwiftNIO's socket channels do; ``drain()`` stands for the
/// peer reading everything. Also counts the reads that reach the socket.
final class SlowPeer: ChannelOutboundHandler {
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer
    let limit: Int
    var unsent = 0
    var reads = 0
    var context: ChannelHandlerContext?

    init(limit: Int) { self.limit = limit }

    func handlerAdded(context: ChannelHandlerContext) { self.context = context }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        unsent += unwrapOutboundIn(data).readableBytes
        context.write(data, promise: promise)
        if unsent > limit, let channel = context.channel as? EmbeddedChannel, channel.isWritable {
            channel.isWritable = false
            context.fireChannelWritabilityChanged()
        }
    }

    func read(context: ChannelHandlerContext) {
        reads += 1
        context.read()
    }

    func drain() {
        unsent = 0
        guard let context, let channel = context.channel as? EmbeddedChannel else { return }
        channel.isWritable = true
        context.fireChannelWritabilityChanged()
    }
}

/// A ConnectionHandler on an EmbeddedChannel, connected, with a counter in front of it.
struct Connection {
    let channel: EmbeddedChannel
    let counter = OutboundCounter()
    let server: ServerContext

    init(configure: (inout Configuration) -> Void = { _ in }, queryBufferLimit: Int = 1 << 30,
         router: (any CommandRouter)? = nil, coldStorage: (any ColdStorage)? = nil, peer: SlowPeer? = nil) throws {
        var configuration = Configuration()
        configure(&configuration)
        server = ServerContext(configuration: configuration, router: router, coldStorage: coldStorage)
        channel = EmbeddedChannel()
        try channel.pipeline.syncOperations.addHandler(counter)
        if let peer { try channel.pipeline.syncOperations.addHandler(peer) }
        try channel.pipeline.syncOperations.addHandler(
            ConnectionHandler(server: server, limits: RESPLimits(maxBulkLength: configuration.protoMaxBulkLength),
                              queryBufferLimit: queryBufferLimit))
        channel.connect(to: try SocketAddress(ipAddress: "127.0.0.1", port: 6379), promise: nil)
    }

    /// Delivers `bytes` as one read (channelRead then channelReadComplete).
    func send(_ bytes: [UInt8]) throws {
        try channel.writeInbound(ByteBuffer(bytes: bytes))
    }

    func send(_ text: String) throws { try send(Array(text.utf8)) }

    /// Everything flushed so far, as one string, and how many buffers it came in.
    func received() throws -> (text: String, buffers: Int) {
        var text = ""
        var buffers = 0
        while let buffer = try channel.readOutbound(as: ByteBuffer.self) {
            text += String(buffer: buffer)
            buffers += 1
        }
        return (text, buffers)
    }

    var isOpen: Bool {
        channel.embeddedEventLoop.run()
        return channel.isActive
    }

    func close() {
        _ = try? channel.finish(acceptAlreadyClosed: true)
    }
}

/// A router that "forwards" GET of keys starting with `far`: it reserves the reply's place in
/// the connection's stream and leaves the test to fill it, as a peer link does.
final class HoldingRouter: CommandRouter, @unchecked Sendable {
    var held: [(stream: any ReplyStream, place: Int, key: String, frame: String)] = []

    func relayMessage(_ kind: SubscriptionKind, channel: [UInt8], message: [UInt8], from loop: (any EventLoop)?) {}

    func route(_ spec: CommandSpec, _ context: inout CommandContext) -> RouteDecision {
        guard spec.name == "get", context.arguments.string(1).hasPrefix("far"), let stream = context.replyStream else {
            return .local
        }
        let place = stream.reserve(after: &context.reply.buffer)
        let frame = context.arguments.buffer.getString(at: context.arguments.buffer.readerIndex, length: context.frameLength) ?? ""
        held.append((stream, place, context.arguments.string(1), frame))
        return .handled
    }
}

/// L3 under `l3-fsync always`, whose commits the test completes by hand.
final class ManualDurability: ColdStorage, @unchecked Sendable {
    var barriers: [EventLoopPromise<Void>] = []
    var isLoading: Bool { false }
    var failure: String? { nil }
    var syncsEveryWrite: Bool { true }
    var isBehind: Bool { false }
    var hasUncommittedWrites: Bool { !barriers.isEmpty }
    var lastSave: Int64 { 0 }

    func barrier(on eventLoop: any EventLoop) -> EventLoopFuture<Void> {
        let promise = eventLoop.makePromise(of: Void.self)
        barriers.append(promise)
        return promise.futureResult
    }
    func drained(on eventLoop: any EventLoop) -> EventLoopFuture<Void> { eventLoop.makeSucceededVoidFuture() }
    func warm(_ stubs: [Entry], on eventLoop: any EventLoop) -> EventLoopFuture<Void> { eventLoop.makeSucceededVoidFuture() }
    func save(on eventLoop: any EventLoop) -> EventLoopFuture<Int64> { eventLoop.makeSucceededFuture(0) }
    func infoFields() -> [(String, String)] { [] }
}

@Suite("ConnectionHandler")
struct ConnectionHandlerTests {
    static let pipeline = "*1\r\n$4\r\nPING\r\nSET k v\r\n*2\r\n$3\r\nGET\r\n$1\r\nk\r\n*1\r\n$4\r\nINCR\r\n\r\nECHO \"hi there\"\r\n"
    static let replies = "+PONG\r\n+OK\r\n$1\r\nv\r\n-ERR wrong number of arguments for 'incr' command\r\n$8\r\nhi there\r\n"

    @Test("pipelined commands in one read: replies in order, in one write and one flush")
    func pipelining() throws {
        let connection = try Connection()
        defer { connection.close() }
        #expect(connection.server.clients.count == 1)
        try connection.send(Self.pipeline)
        let (text, buffers) = try connection.received()
        #expect(text == Self.replies)
        #expect(buffers == 1)
        #expect(connection.counter.writes == 1)
        #expect(connection.counter.flushes == 1)
        #expect(connection.server.statistics.commandsProcessed.load(ordering: .relaxed) == 5)
        #expect(connection.isOpen)
    }

    @Test("input split across many reads gives the same replies", arguments: [1, 2, 3, 7, 16])
    func splitInput(pieceSize: Int) throws {
        let connection = try Connection()
        defer { connection.close() }
        let bytes = Array(Self.pipeline.utf8)
        for start in stride(from: 0, to: bytes.count, by: pieceSize) {
            try connection.send(Array(bytes[start..<min(bytes.count, start + pieceSize)]))
        }
        let (text, buffers) = try connection.received()
        #expect(text == Self.replies)
        // A read that completes no command writes nothing.
        #expect(buffers <= 5)
        #expect(connection.counter.flushes == buffers)
    }

    @Test("a large argument arriving in many reads")
    func largeArgument() throws {
        let connection = try Connection()
        defer { connection.close() }
        let payload = String(repeating: "x", count: 300_000)
        let bytes = Array("*2\r\n$4\r\nECHO\r\n$300000\r\n\(payload)\r\n*1\r\n$4\r\nPING\r\n".utf8)
        for start in stride(from: 0, to: bytes.count, by: 4096) {
            try connection.send(Array(bytes[start..<min(bytes.count, start + 4096)]))
        }
        let (text, _) = try connection.received()
        #expect(text == "$300000\r\n\(payload)\r\n+PONG\r\n")
    }

    @Test("a large batch of replies is written in parts but flushed once")
    func highWater() throws {
        let connection = try Connection()
        defer { connection.close() }
        let value = String(repeating: "v", count: 100_000)
        try connection.send("*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$100000\r\n\(value)\r\n")
        _ = try connection.received()
        let writesBefore = connection.counter.writes, flushesBefore = connection.counter.flushes
        try connection.send(String(repeating: "GET k\r\n", count: 10))
        let (text, _) = try connection.received()
        #expect(text == String(repeating: "$100000\r\n\(value)\r\n", count: 10))
        #expect(connection.counter.writes - writesBefore > 1)
        #expect(connection.counter.flushes - flushesBefore == 1)
    }

    @Test("a client that reads nothing: commands stop once its output is full and run when it drains; every reply arrives, in order")
    func slowReader() throws {
        let peer = SlowPeer(limit: 1_000_000)
        let connection = try Connection(peer: peer)
        defer { connection.close() }
        let value = String(repeating: "v", count: 300_000)
        try connection.send("*3\r\n$3\r\nSET\r\n$3\r\nbig\r\n$300000\r\n\(value)\r\n")
        #expect(try connection.received().text == "+OK\r\n")
        let session = try #require(connection.server.clients.all.first)
        // 100 GETs of 300 KB: 30 MB of replies if they all ran.
        try connection.send(String(repeating: "GET big\r\n", count: 100) + "PING\r\n")
        let readsBefore = peer.reads
        connection.channel.read()
        #expect(peer.reads == readsBefore, "reads are held while the output is full")
        var replies = ""
        var rounds = 0
        while true {
            let processed = connection.server.statistics.commandsProcessed.load(ordering: .relaxed)
            // The unsent output stays near the limit: the reply that crossed it, at most, more.
            #expect(peer.unsent <= 1_000_000 + 300_100)
            #expect(session.queryBufferBytes.load(ordering: .relaxed) > 0 || replies.hasSuffix("+PONG\r\n") || processed >= 101)
            replies += try connection.received().text
            if processed >= 102 { break } // SET, 100 GETs, PING
            peer.drain()
            connection.channel.embeddedEventLoop.run()
            rounds += 1
            #expect(rounds < 100)
        }
        replies += try connection.received().text
        #expect(rounds >= 10, "it stopped \(rounds) times")
        #expect(replies == String(repeating: "$300000\r\n\(value)\r\n", count: 100) + "+PONG\r\n")
        #expect(session.queryBufferBytes.load(ordering: .relaxed) == 0)
        #expect(peer.reads > readsBefore, "the held read passes once commands run again")
        #expect(connection.isOpen)
    }

    @Test("after a half-close, pipelined commands waiting behind a full output still run, then the connection closes")
    func halfCloseWhileFull() throws {
        let peer = SlowPeer(limit: 500_000)
        let connection = try Connection(peer: peer)
        defer { connection.close() }
        let value = String(repeating: "v", count: 300_000)
        try connection.send("*3\r\n$3\r\nSET\r\n$3\r\nbig\r\n$300000\r\n\(value)\r\n" + String(repeating: "GET big\r\n", count: 5))
        connection.channel.pipeline.fireUserInboundEventTriggered(ChannelEvent.inputClosed)
        var replies = try connection.received().text
        for _ in 0..<10 where connection.isOpen {
            peer.drain()
            connection.channel.embeddedEventLoop.run()
            replies += try connection.received().text
        }
        #expect(replies == "+OK\r\n" + String(repeating: "$300000\r\n\(value)\r\n", count: 5))
        #expect(!connection.isOpen)
    }

    @Test("after a half-close, an incomplete command left over is dropped and the connection closes")
    func halfCloseWithPartialCommand() throws {
        let connection = try Connection()
        defer { connection.close() }
        try connection.send("PING\r\nGET")
        connection.channel.pipeline.fireUserInboundEventTriggered(ChannelEvent.inputClosed)
        #expect(try connection.received().text == "+PONG\r\n")
        #expect(!connection.isOpen)
    }

    @Test("a protocol error is answered, then the connection closes; later input is ignored")
    func protocolError() throws {
        let connection = try Connection()
        defer { connection.close() }
        try connection.send("PING\r\n*1\r\nx PING\r\n")
        let (text, _) = try connection.received()
        #expect(text == "+PONG\r\n-ERR Protocol error: expected '$', got 'x'\r\n")
        #expect(!connection.isOpen)
        #expect(connection.server.clients.count == 0)
    }

    @Test("the stricter limits before AUTH close the connection with Redis's text")
    func unauthenticated() throws {
        let connection = try Connection(configure: { $0.requirePass = "pw" })
        defer { connection.close() }
        try connection.send("GET k\r\n*11\r\n")
        let (text, _) = try connection.received()
        #expect(text == "-NOAUTH Authentication required.\r\n-ERR Protocol error: unauthenticated multibulk length\r\n")
        #expect(!connection.isOpen)
    }

    @Test("after AUTH the normal limits apply")
    func authenticated() throws {
        let connection = try Connection(configure: { $0.requirePass = "pw" })
        defer { connection.close() }
        let big = String(repeating: "b", count: 20_000)
        try connection.send("AUTH pw\r\n*2\r\n$4\r\nECHO\r\n$20000\r\n\(big)\r\n")
        let (text, _) = try connection.received()
        #expect(text == "+OK\r\n$20000\r\n\(big)\r\n")
        #expect(connection.isOpen)
    }

    @Test("QUIT replies +OK, then closes; commands after it are not run")
    func quit() throws {
        let connection = try Connection()
        defer { connection.close() }
        try connection.send("QUIT\r\nSET after quit\r\n")
        let (text, _) = try connection.received()
        #expect(text == "+OK\r\n")
        #expect(!connection.isOpen)
        #expect(connection.server.keyspace.keyCount(database: 0) == 0)
    }

    @Test("a query buffer over the limit closes the connection without a reply")
    func queryBufferLimit() throws {
        let connection = try Connection(queryBufferLimit: 1024)
        defer { connection.close() }
        try connection.send("*2\r\n$4\r\nECHO\r\n$2000\r\n")
        #expect(connection.isOpen)
        try connection.send(String(repeating: "z", count: 1100))
        let (text, _) = try connection.received()
        #expect(text == "")
        #expect(!connection.isOpen)
    }

    @Test("closing the connection releases its session and its WATCHes")
    func disconnect() throws {
        let connection = try Connection()
        try connection.send("WATCH k\r\nMULTI\r\nSET k v\r\n")
        #expect(try connection.received().text == "+OK\r\n+OK\r\n+QUEUED\r\n")
        #expect(connection.server.clients.count == 1)
        connection.close()
        #expect(connection.server.clients.count == 0)
        #expect(connection.server.keyspace.keyCount(database: 0) == 0)
    }

    @Test("replies filled later, out of order, are written in request order, once per flush")
    func replyStream() throws {
        let router = HoldingRouter()
        let connection = try Connection(router: router)
        defer { connection.close() }
        try connection.send("SET k v\r\n*2\r\n$3\r\nGET\r\n$4\r\nfar1\r\nGET k\r\n*2\r\n$3\r\nGET\r\n$4\r\nfar2\r\nPING\r\n")
        // Replies before the first held one go out; the rest wait behind it.
        #expect(try connection.received().text == "+OK\r\n")
        #expect(router.held.map(\.key) == ["far1", "far2"])
        // The multibulk frame is there to forward unchanged; inline commands have none.
        #expect(router.held.map(\.frame) == ["*2\r\n$3\r\nGET\r\n$4\r\nfar1\r\n", "*2\r\n$3\r\nGET\r\n$4\r\nfar2\r\n"])
        let writes = connection.counter.writes
        router.held[1].stream.fill(router.held[1].place, with: ByteBuffer(string: "$2\r\nv2\r\n"))
        router.held[1].stream.flush()
        #expect(try connection.received().text == "")
        router.held[0].stream.fill(router.held[0].place, with: ByteBuffer(string: "$2\r\nv1\r\n"))
        #expect(try connection.received().text == "", "nothing is written before the flush")
        router.held[0].stream.flush()
        #expect(try connection.received().text == "$2\r\nv1\r\n$1\r\nv\r\n$2\r\nv2\r\n+PONG\r\n")
        #expect(connection.counter.writes == writes + 1)
        // Then replies go straight out again.
        try connection.send("GET k\r\n")
        #expect(try connection.received().text == "$1\r\nv\r\n")
        // A place filled after the connection closed is ignored.
        try connection.send("GET far3\r\n")
        connection.close()
        router.held[2].stream.fill(router.held[2].place, with: ByteBuffer(string: "+late\r\n"))
        router.held[2].stream.flush()
    }

    @Test("under l3-fsync always, a write's reply waits for its commit even when a forwarded reply follows")
    func durabilityBeforeForwardedReplies() throws {
        let router = HoldingRouter()
        let cold = ManualDurability()
        let connection = try Connection(router: router, coldStorage: cold)
        defer { connection.close() }
        try connection.send("SET k v\r\nGET far1\r\nGET k\r\n")
        #expect(cold.barriers.count == 1)
        // The forwarded reply arrives first: the write's +OK before it must still wait.
        router.held[0].stream.fill(router.held[0].place, with: ByteBuffer(string: "$2\r\nv1\r\n"))
        router.held[0].stream.flush()
        #expect(try connection.received().text == "")
        cold.barriers[0].succeed()
        #expect(try connection.received().text == "+OK\r\n$2\r\nv1\r\n$1\r\nv\r\n")
    }
}
