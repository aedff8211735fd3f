import NIOCore
import StrataCommands
import StrataRESP
import Synchronization
import Testing

/// SUBSCRIBE, PUBLISH and PUBSUB through the dispatcher, and the hub's delivery to outboxes.
@Suite struct PubSubCommandTests {
    /// A subscriber whose wake-ups are counted; its messages are read from its outbox.
    final class Subscriber: Sendable {
        let wakes = Atomic<Int>(0)
    }

    func subscriber(_ server: TestServer) -> (TestClient, Subscriber) {
        let client = server.client()
        let counter = Subscriber()
        client.session.wakeForPushes = { counter.wakes.add(1, ordering: .relaxed) }
        return (client, counter)
    }

    func taken(_ client: TestClient) -> String {
        client.session.pushes.take().map { String(buffer: $0) } ?? ""
    }

    @Test func subscribeConfirmsEachChannelWithTheRunningCount() {
        let server = TestServer()
        let (a, _) = subscriber(server)
        #expect(a.raw("SUBSCRIBE", "x", "y") == "*3\r\n$9\r\nsubscribe\r\n$1\r\nx\r\n:1\r\n*3\r\n$9\r\nsubscribe\r\n$1\r\ny\r\n:2\r\n")
        #expect(a.raw("SUBSCRIBE", "x") == "*3\r\n$9\r\nsubscribe\r\n$1\r\nx\r\n:2\r\n")
        #expect(a.raw("PSUBSCRIBE", "x*") == "*3\r\n$10\r\npsubscribe\r\n$2\r\nx*\r\n:3\r\n")
        // Shard channels are counted apart.
        #expect(a.raw("SSUBSCRIBE", "s") == "*3\r\n$10\r\nssubscribe\r\n$1\r\ns\r\n:1\r\n")
        #expect(a.session.subscriptions.count(.channel) == 2)
        #expect(a.session.subscriptions.count(.pattern) == 1)
        #expect(a.raw("UNSUBSCRIBE", "nope") == "*3\r\n$11\r\nunsubscribe\r\n$4\r\nnope\r\n:3\r\n")
        // Without names: every channel, the count going down (patterns still count).
        let all = a.raw("UNSUBSCRIBE")
        #expect(all.hasSuffix(":1\r\n"))
        #expect(all.contains("$1\r\nx\r\n:") && all.contains("$1\r\ny\r\n:"))
        #expect(a.raw("UNSUBSCRIBE") == "*3\r\n$11\r\nunsubscribe\r\n$-1\r\n:1\r\n")
    }

    @Test func resp2SubscribedContextRefusesOtherCommands() {
        let server = TestServer()
        let (a, _) = subscriber(server)
        _ = a.raw("SUBSCRIBE", "x")
        #expect(a.call("GET", "k") == .error("ERR Can't execute 'get': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context"))
        #expect(a.call("PUBSUB", "NUMPAT") == .error("ERR Can't execute 'pubsub|numpat': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context"))
        #expect(a.raw("PING") == "*2\r\n$4\r\npong\r\n$0\r\n\r\n")
        #expect(a.raw("PING", "hi") == "*2\r\n$4\r\npong\r\n$2\r\nhi\r\n")
        #expect(a.call("RESET") == .simpleString("RESET"))
        #expect(!a.session.subscriptions.any)
        #expect(a.call("GET", "k") == .null)
        #expect(server.context.pubsub.subscriberCount(.channel, Array("x".utf8)) == 0)
    }

    @Test func resp3SubscriberRunsAnyCommandAndGetsPushFrames() {
        let server = TestServer()
        let (a, _) = subscriber(server)
        _ = a.raw("HELLO", "3")
        #expect(a.raw("SUBSCRIBE", "x") == ">3\r\n$9\r\nsubscribe\r\n$1\r\nx\r\n:1\r\n")
        #expect(a.raw("GET", "k") == "_\r\n")
        let b = server.client()
        #expect(b.call("PUBLISH", "x", "hello") == .integer(1))
        #expect(taken(a) == ">3\r\n$7\r\nmessage\r\n$1\r\nx\r\n$5\r\nhello\r\n")
        // Its own PUBLISH: the message before the reply, as Redis writes it.
        #expect(a.raw("PUBLISH", "x", "me") == ">3\r\n$7\r\nmessage\r\n$1\r\nx\r\n$2\r\nme\r\n:1\r\n")
    }

    @Test func publishReachesChannelAndPatternSubscribersOnceEach() {
        let server = TestServer()
        let (a, wakesA) = subscriber(server)
        let (b, _) = subscriber(server)
        let publisher = server.client()
        _ = a.raw("SUBSCRIBE", "news")
        _ = a.raw("PSUBSCRIBE", "n*", "*s")
        _ = b.raw("PSUBSCRIBE", "x*")
        #expect(publisher.call("PUBLISH", "news", "m1") == .integer(3))
        #expect(publisher.call("PUBLISH", "news", "m2") == .integer(3))
        #expect(publisher.call("PUBLISH", "other", "m3") == .integer(0))
        // One wake-up for the burst: the connection writes everything at once.
        #expect(wakesA.wakes.load(ordering: .relaxed) == 1)
        let text = taken(a)
        #expect(text.hasPrefix("*3\r\n$7\r\nmessage\r\n$4\r\nnews\r\n$2\r\nm1\r\n"))
        #expect(text.split(separator: "pmessage", omittingEmptySubsequences: false).count - 1 == 4)
        #expect(taken(b) == "")
        #expect(publisher.call("PUBLISH", "xyz", "m4") == .integer(1))
        #expect(taken(b) == "*4\r\n$8\r\npmessage\r\n$2\r\nx*\r\n$3\r\nxyz\r\n$2\r\nm4\r\n")
        // After a take, the next message wakes the connection again.
        _ = publisher.call("PUBLISH", "news", "m5")
        #expect(wakesA.wakes.load(ordering: .relaxed) == 2)
        // SPUBLISH reaches shard subscribers only.
        _ = b.raw("SSUBSCRIBE", "news")
        #expect(publisher.call("SPUBLISH", "news", "s1") == .integer(1))
        #expect(taken(b) == "*3\r\n$8\r\nsmessage\r\n$4\r\nnews\r\n$2\r\ns1\r\n")
    }

    @Test func pubsubIntrospection() {
        let server = TestServer()
        let (a, _) = subscriber(server)
        let (b, _) = subscriber(server)
        _ = a.raw("SUBSCRIBE", "news", "sport")
        _ = b.raw("SUBSCRIBE", "news")
        _ = b.raw("PSUBSCRIBE", "n*", "n*")
        _ = a.raw("PSUBSCRIBE", "n*")
        let c = server.client()
        #expect(c.call("PUBSUB", "NUMSUB", "news", "sport", "none")
                == .array([bulk("news"), .integer(2), bulk("sport"), .integer(1), bulk("none"), .integer(0)]))
        #expect(c.call("PUBSUB", "NUMPAT") == .integer(1))
        #expect(c.call("PUBSUB", "CHANNELS", "s*") == .array([bulk("sport")]))
        #expect(c.call("PUBSUB", "chanNELS", "a", "b")
                == .error("ERR unknown subcommand or wrong number of arguments for 'chanNELS'. Try PUBSUB HELP."))
        #expect(c.call("PUBSUB", "SHARDCHANNELS") == .array([]))
        #expect(c.call("PUBSUB", "NUMSUB") == .array([]))
        // A closed connection leaves nothing behind.
        var context = CommandContext(server: server.context, client: b.session, arguments: CommandArguments([String]()),
                                     reply: RESPReplyWriter(buffer: ByteBuffer()), now: t0)
        CommandDispatcher.disconnect(&context)
        #expect(c.call("PUBSUB", "NUMSUB", "news") == .array([bulk("news"), .integer(1)]))
        #expect(c.call("PUBSUB", "NUMPAT") == .integer(1))
        _ = a.raw("RESET")
        #expect(c.call("PUBSUB", "NUMPAT") == .integer(0))
        #expect(server.context.pubsub.count(.channel) == 0)
    }

    @Test func subscriberPastTheHardLimitIsClosedAndPublisherGoesOn() {
        let server = TestServer { $0.clientOutputBufferLimit.pubsub = .init(hard: 1000, soft: 0, softSeconds: 0) }
        let (a, _) = subscriber(server)
        let closed = Subscriber()
        a.session.close = { closed.wakes.add(1, ordering: .relaxed) }
        _ = a.raw("SUBSCRIBE", "x")
        let publisher = server.client()
        let payload = String(repeating: "p", count: 100)
        // 132 bytes a message: 7 fit under 1000, the 8th passes it.
        for _ in 0..<7 { #expect(publisher.call("PUBLISH", "x", payload) == .integer(1)) }
        #expect(closed.wakes.load(ordering: .relaxed) == 0)
        #expect(a.session.pushes.waitingBytes > 900)
        _ = publisher.call("PUBLISH", "x", payload)
        #expect(closed.wakes.load(ordering: .relaxed) == 1)
        #expect(a.session.killed.load(ordering: .relaxed) == true)
        // Nothing more is held for it.
        #expect(a.session.pushes.waitingBytes == 0)
        _ = publisher.call("PUBLISH", "x", payload)
        #expect(a.session.pushes.waitingBytes == 0)
        #expect(server.context.pubsub.limitDisconnections.load(ordering: .relaxed) == 1)
    }

    @Test func subscribeInsideMultiRunsAtExec() {
        let server = TestServer()
        let (a, _) = subscriber(server)
        #expect(a.call("MULTI") == ok)
        #expect(a.call("SUBSCRIBE", "q") == queued)
        #expect(a.raw("EXEC") == "*1\r\n*3\r\n$9\r\nsubscribe\r\n$1\r\nq\r\n:1\r\n")
        #expect(a.session.subscriptions.count(.channel) == 1)
    }
}
