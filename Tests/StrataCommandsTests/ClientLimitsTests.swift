import StrataConfig
import Synchronization
import Testing
@testable import StrataCommands

/// `enforceClientLimits`, driven with sessions whose buffers are set by hand; a session's
/// `close` records that it was closed instead of closing a socket.
@Suite("client memory limits, enforced")
struct ClientLimitsTests {
    final class Closed: Sendable {
        let ids = Mutex<[Int]>([])
    }

    func session(_ server: TestServer, output: Int, query: Int = 0, name: String = "", closed: Closed) -> ClientSession {
        let client = server.client()
        let session = client.session
        session.outputBytes.store(output, ordering: .relaxed)
        session.queryBufferBytes.store(query, ordering: .relaxed)
        session.shared.withLockedValue { $0.name = name }
        let id = session.id
        session.close = { closed.ids.withLock { $0.append(id) } }
        return session
    }

    @Test("the hard limit closes at once; the soft one once it has lasted its seconds")
    func outputLimits() {
        let server = TestServer { $0.clientOutputBufferLimit.normal = OutputBufferLimit(hard: 1000, soft: 500, softSeconds: 2) }
        let closed = Closed()
        let big = session(server, output: 1000, closed: closed)
        let medium = session(server, output: 600, closed: closed)
        let small = session(server, output: 100, closed: closed)
        var disconnected = server.context.enforceClientLimits(now: 10_000)
        #expect(disconnected.map(\.id) == [big.id])
        #expect(server.context.enforceClientLimits(now: 11_999).isEmpty, "the soft limit has not lasted 2 s yet")
        disconnected = server.context.enforceClientLimits(now: 12_000)
        #expect(disconnected.map(\.id) == [medium.id])
        medium.outputBytes.store(0, ordering: .relaxed)
        #expect(closed.ids.withLock { $0 } == [big.id, medium.id])
        #expect(!closed.ids.withLock { $0 }.contains(small.id))
        #expect(server.context.statistics.outputBufferLimitDisconnections.load(ordering: .relaxed) == 2)
    }

    @Test("below the soft limit again, the soft clock starts over")
    func softLimitResets() {
        let server = TestServer { $0.clientOutputBufferLimit.normal = OutputBufferLimit(hard: 0, soft: 500, softSeconds: 1) }
        let closed = Closed()
        let client = session(server, output: 600, closed: closed)
        #expect(server.context.enforceClientLimits(now: 0).isEmpty)
        client.outputBytes.store(100, ordering: .relaxed)
        #expect(server.context.enforceClientLimits(now: 900).isEmpty)
        client.outputBytes.store(600, ordering: .relaxed)
        #expect(server.context.enforceClientLimits(now: 1_500).isEmpty, "over again only since 1.5 s")
        #expect(server.context.enforceClientLimits(now: 2_500).map(\.id) == [client.id])
    }

    @Test("maxmemory-clients closes the largest clients until the rest fit; the ring's own links never")
    func maxMemoryClients() {
        let fixed = ClientSession.fixedMemory
        let server = TestServer { $0.maxMemoryClients = .bytes(2 * fixed + 70_000) }
        let closed = Closed()
        let a = session(server, output: 100_000, closed: closed)
        let b = session(server, output: 0, query: 80_000, closed: closed)
        let c = session(server, output: 60_000, closed: closed)
        let link = session(server, output: 500_000, name: "strata-cluster-peer", closed: closed)
        let d = session(server, output: 0, closed: closed)
        let disconnected = server.context.enforceClientLimits(now: 0)
        // 4 clients (the link aside): 240,000 + 4 fixed; without a, 140,000 + 3 fixed: b goes too.
        #expect(disconnected.map(\.id) == [a.id, b.id])
        #expect(server.context.enforceClientLimits(now: 100).isEmpty, "closed clients are not closed again")
        #expect(!disconnected.contains { $0.id == link.id || $0.id == c.id || $0.id == d.id })
        #expect(server.context.statistics.evictedClients.load(ordering: .relaxed) == 2)
        // What is left counts against maxmemory (the link is not counted).
        #expect(server.context.keyspace.clientMemory == 60_000 + 2 * fixed)
    }
}
