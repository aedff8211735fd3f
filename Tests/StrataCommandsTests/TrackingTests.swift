import NIOCore
import StrataCommands
import StrataRESP
import Synchronization
import Testing

/// CLIENT TRACKING: the invalidation messages (as redis-server 7.0 writes them), the modes and
/// the table's limit.
@Suite struct TrackingTests {
    func taken(_ client: TestClient) -> String {
        client.session.pushes.take().map { String(buffer: $0) } ?? ""
    }

    func resp3(_ server: TestServer) -> TestClient {
        let client = server.client()
        _ = client.raw("HELLO", "3")
        return client
    }

    static func invalidate(_ keys: String...) -> String {
        keys.map { ">2\r\n$10\r\ninvalidate\r\n*1\r\n$\($0.utf8.count)\r\n\($0)\r\n" }.joined()
    }

    @Test func defaultModeInvalidatesAReadKeyOnceAtTheFirstWrite() {
        let server = TestServer()
        let a = resp3(server)
        let b = server.client()
        #expect(a.raw("CLIENT", "TRACKING", "ON") == "+OK\r\n")
        #expect(a.raw("GET", "k") == "_\r\n")
        #expect(server.context.tracker.totalKeys == 1)
        #expect(b.call("SET", "k", "1") == .simpleString("OK"))
        #expect(taken(a) == Self.invalidate("k"))
        // Forgotten once invalidated: the next write sends nothing.
        _ = b.call("SET", "k", "2")
        #expect(taken(a) == "")
        #expect(server.context.tracker.totalKeys == 0)
        // Writes of unread keys, and TTL changes, send nothing.
        _ = b.call("SET", "other", "1")
        _ = a.raw("GET", "k")
        _ = b.call("EXPIRE", "k", "100")
        #expect(taken(a) == "")
        // Its own write invalidates too (after the reply), and deletion does.
        #expect(a.raw("DEL", "k") == ":1\r\n")
        #expect(taken(a) == Self.invalidate("k"))
        // Multi-key reads remember every key.
        _ = a.raw("MGET", "x", "y")
        _ = b.call("MSET", "x", "1", "y", "2")
        #expect(taken(a) == Self.invalidate("x", "y"))
    }

    @Test func flushSendsANullInvalidationToEveryTrackingClient() {
        let server = TestServer()
        let a = resp3(server)
        let b = resp3(server)
        _ = a.raw("CLIENT", "TRACKING", "ON")
        _ = b.raw("CLIENT", "TRACKING", "ON", "BCAST")
        _ = a.raw("GET", "k")
        _ = server.client().call("FLUSHALL")
        #expect(taken(a) == ">2\r\n$10\r\ninvalidate\r\n_\r\n")
        #expect(taken(b) == ">2\r\n$10\r\ninvalidate\r\n_\r\n")
        #expect(server.context.tracker.totalKeys == 0)
    }

    @Test func broadcastInvalidatesKeysUnderItsPrefixes() {
        let server = TestServer()
        let a = resp3(server)
        let b = server.client()
        #expect(a.raw("CLIENT", "TRACKING", "ON", "BCAST", "PREFIX", "p:", "PREFIX", "q") == "+OK\r\n")
        _ = b.call("SET", "p:1", "x")
        _ = b.call("SET", "zz", "x")
        _ = b.call("SET", "q2", "x")
        #expect(taken(a) == Self.invalidate("p:1", "q2"))
        #expect(a.call("CLIENT", "TRACKING", "ON", "BCAST", "PREFIX", "p")
                == .error("ERR Prefix 'p' overlaps with an existing prefix 'p:'. Prefixes for a single client must not overlap."))
        #expect(a.raw("CLIENT", "TRACKINGINFO")
                == "%3\r\n$5\r\nflags\r\n~2\r\n$2\r\non\r\n$5\r\nbcast\r\n$8\r\nredirect\r\n:0\r\n$8\r\nprefixes\r\n*2\r\n$2\r\np:\r\n$1\r\nq\r\n")
        // No prefix: every key; reads are not remembered.
        let c = resp3(server)
        _ = c.raw("CLIENT", "TRACKING", "ON", "BCAST")
        _ = c.raw("GET", "any")
        #expect(server.context.tracker.totalKeys == 0)
        _ = b.call("SET", "any", "1")
        #expect(taken(c) == Self.invalidate("any"))
    }

    @Test func optInRemembersOnlyAfterCachingYesAndNoLoopSkipsOwnWrites() {
        let server = TestServer()
        let a = resp3(server)
        let b = server.client()
        _ = a.raw("CLIENT", "TRACKING", "ON", "OPTIN", "NOLOOP")
        _ = a.raw("GET", "o1")
        #expect(a.raw("CLIENT", "CACHING", "YES") == "+OK\r\n")
        _ = a.raw("GET", "o2")
        _ = a.raw("GET", "o3") // CACHING applied to the one command only
        _ = b.call("SET", "o1", "1")
        _ = b.call("SET", "o2", "1")
        _ = b.call("SET", "o3", "1")
        #expect(taken(a) == Self.invalidate("o2"))
        _ = a.raw("CLIENT", "CACHING", "YES")
        _ = a.raw("GET", "o4")
        _ = a.raw("SET", "o4", "x")
        #expect(taken(a) == "")
        #expect(a.call("CLIENT", "CACHING", "NO") == .error("ERR CLIENT CACHING NO is only valid when tracking is enabled in OPTOUT mode."))
        // OPTOUT: remembered unless CLIENT CACHING NO.
        let c = resp3(server)
        _ = c.raw("CLIENT", "TRACKING", "ON", "OPTOUT")
        _ = c.raw("CLIENT", "CACHING", "NO")
        _ = c.raw("GET", "n1")
        _ = c.raw("GET", "n2")
        _ = b.call("MSET", "n1", "1", "n2", "2")
        #expect(taken(c) == Self.invalidate("n2"))
    }

    @Test func redirectSendsMessagesToARESP2Subscriber() {
        let server = TestServer()
        let r = server.client()
        _ = r.raw("SUBSCRIBE", "__redis__:invalidate")
        let a = server.client()
        let rid = "\(r.session.id)"
        #expect(a.raw("CLIENT", "TRACKING", "ON", "REDIRECT", rid) == "+OK\r\n")
        #expect(a.raw("CLIENT", "GETREDIR") == ":\(rid)\r\n")
        _ = a.raw("GET", "rk")
        _ = server.client().call("SET", "rk", "1")
        #expect(taken(r) == "*3\r\n$7\r\nmessage\r\n$20\r\n__redis__:invalidate\r\n*1\r\n$2\r\nrk\r\n")
        #expect(taken(a) == "")
        _ = server.client().call("FLUSHDB")
        #expect(taken(r) == "*3\r\n$7\r\nmessage\r\n$20\r\n__redis__:invalidate\r\n$-1\r\n")
        // RESP2 without REDIRECT: allowed, but nothing is sent.
        let c = server.client()
        #expect(c.raw("CLIENT", "TRACKING", "ON") == "+OK\r\n")
        _ = c.raw("GET", "w")
        _ = server.client().call("SET", "w", "1")
        #expect(taken(c) == "")
    }

    @Test func optionErrorsAreRedis() {
        let server = TestServer()
        let a = server.client()
        #expect(a.call("CLIENT", "TRACKING", "ON", "PREFIX", "a") == .error("ERR PREFIX option requires BCAST mode to be enabled"))
        #expect(a.call("CLIENT", "TRACKING", "ON", "BCAST", "OPTIN") == .error("ERR OPTIN and OPTOUT are not compatible with BCAST"))
        #expect(a.call("CLIENT", "TRACKING", "ON", "OPTIN", "OPTOUT") == .error("ERR You can't specify both OPTIN mode and OPTOUT mode"))
        #expect(a.call("CLIENT", "TRACKING", "ON", "REDIRECT", "999") == .error("ERR The client ID you want redirect to does not exist"))
        #expect(a.call("CLIENT", "TRACKING", "ON", "REDIRECT", "x") == .error("ERR value is not an integer or out of range"))
        #expect(a.call("CLIENT", "TRACKING", "ON", "FOO") == .error("ERR syntax error"))
        #expect(a.call("CLIENT", "TRACKING", "MAYBE") == .error("ERR syntax error"))
        #expect(a.call("CLIENT", "CACHING", "YES")
                == .error("ERR CLIENT CACHING can be called only when the client is in tracking mode with OPTIN or OPTOUT mode enabled"))
        #expect(a.call("CLIENT", "GETREDIR") == .integer(-1))
        #expect(a.raw("CLIENT", "TRACKINGINFO") == "*6\r\n$5\r\nflags\r\n*1\r\n$3\r\noff\r\n$8\r\nredirect\r\n:-1\r\n$8\r\nprefixes\r\n*0\r\n")
        _ = a.call("CLIENT", "TRACKING", "ON")
        #expect(a.call("CLIENT", "TRACKING", "ON", "BCAST")
                == .error("ERR You can't switch BCAST mode on/off before disabling tracking for this client, and then re-enabling it with a different mode."))
        #expect(a.raw("CLIENT", "INFO").contains(" flags=t "))
        #expect(a.call("CLIENT", "TRACKING", "OFF") == .simpleString("OK"))
        #expect(!server.context.tracker.isActive)
    }

    @Test func tableLimitInvalidatesKeysToMakeRoom() {
        let server = TestServer { $0.trackingTableMaxKeys = 2 }
        let a = resp3(server)
        _ = a.raw("CLIENT", "TRACKING", "ON")
        _ = a.raw("MGET", "k1", "k2")
        #expect(taken(a) == "")
        _ = a.raw("GET", "k3")
        #expect(server.context.tracker.totalKeys == 2)
        let evicted = taken(a)
        #expect(evicted == Self.invalidate("k1") || evicted == Self.invalidate("k2"))
    }

    @Test func aClosedConnectionStopsTracking() {
        let server = TestServer()
        let a = resp3(server)
        _ = a.raw("CLIENT", "TRACKING", "ON")
        #expect(server.context.tracker.totalClients == 1)
        #expect(a.call("RESET") == .simpleString("RESET"))
        #expect(server.context.tracker.totalClients == 0)
        #expect(!server.context.keyspace.keyEvents.isEnabled)
    }
}
