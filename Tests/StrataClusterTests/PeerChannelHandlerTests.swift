import NIOCore
import NIOEmbedded
import StrataCommands
import Testing
@testable import StrataCluster

/// A client's reply stream that records what it is given.
final class RecordingStream: ReplyStream {
    var filled: [(place: Int, reply: String)] = []
    var flushes = 0
    var isWaiting = false

    func reserve(after replies: inout ByteBuffer) -> Int { 0 }
    func fill(_ place: Int, with reply: ByteBuffer) { filled.append((place, String(buffer: reply))) }
    func flush() { flushes += 1 }
}

@Suite("Peer connection: replies matched to requests")
struct PeerChannelHandlerTests {
    let channel = EmbeddedChannel()
    let handler: PeerChannelHandler

    init() throws {
        handler = PeerChannelHandler(endpoint: "10.0.0.2:7000", timeout: .seconds(2),
                                     flusher: StreamFlusher(loop: channel.embeddedEventLoop))
        try channel.pipeline.syncOperations.addHandler(handler)
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 7000)).wait()
    }

    @Test("replies split anywhere reach their requests in order; streams are flushed after each read")
    func inOrder() throws {
        let a = RecordingStream(), b = RecordingStream()
        // `b` still waits for a reply from elsewhere: it is flushed at the end of the wake-up.
        b.isWaiting = true
        let now = NIODeadline.now()
        let promise = channel.embeddedEventLoop.makePromise(of: ByteBuffer.self)
        handler.expect(.stream(a, 0), sent: now)
        handler.expect(.discard, sent: now)
        handler.expect(.stream(b, 7), sent: now)
        handler.expect(.stream(a, 1), sent: now)
        handler.expect(.promise(promise), sent: now)
        for piece in ["+OK\r\n$3\r\nab", "c\r\n*2\r\n:1", "\r\n$-1\r\n", "-ERR x\r\n%1\r\n+k\r\n_\r\n"] {
            try channel.writeInbound(ByteBuffer(string: piece))
        }
        #expect(a.filled.map(\.place) == [0, 1])
        #expect(a.filled.map(\.reply) == ["+OK\r\n", "-ERR x\r\n"])
        #expect(b.filled.map(\.reply) == ["*2\r\n:1\r\n$-1\r\n"])
        #expect(String(buffer: try promise.futureResult.wait()) == "%1\r\n+k\r\n_\r\n")
        // One flush per read that gave `a` replies (the first and the last).
        #expect(a.flushes == 2)
        #expect(b.flushes == 0)
        channel.embeddedEventLoop.run()
        #expect(b.flushes == 1)
    }

    @Test("an invalid reply fails everything in flight and later, naming the node")
    func invalid() throws {
        let a = RecordingStream()
        handler.expect(.stream(a, 0), sent: .now())
        handler.expect(.stream(a, 1), sent: .now())
        try channel.writeInbound(ByteBuffer(string: "+OK\r\n?what\r\n"))
        #expect(a.filled.count == 2)
        #expect(a.filled[0].reply == "+OK\r\n")
        #expect(a.filled[1].reply.hasPrefix("-CLUSTERDOWN node 10.0.0.2:7000 sent an invalid reply"))
        #expect(!channel.isActive)
        handler.expect(.stream(a, 2), sent: .now())
        #expect(a.filled.count == 3 && a.filled[2].reply.hasPrefix("-CLUSTERDOWN node 10.0.0.2:7000"))
        let promise = channel.embeddedEventLoop.makePromise(of: ByteBuffer.self)
        handler.expect(.promise(promise), sent: .now())
        #expect(throws: PeerError.self) { try promise.futureResult.wait() }
    }

    @Test("a reply nobody asked for closes the connection")
    func unexpected() throws {
        let a = RecordingStream()
        try channel.writeInbound(ByteBuffer(string: ":1\r\n"))
        #expect(!channel.isActive)
        handler.expect(.stream(a, 0), sent: .now())
        #expect(a.filled.first?.reply.hasPrefix("-CLUSTERDOWN node 10.0.0.2:7000 sent an unexpected reply") == true)
    }
}
