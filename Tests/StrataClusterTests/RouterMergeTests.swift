import NIOCore
import StrataRESP
import Testing
@testable import StrataCluster

@Suite struct RouterMergeTests {
    func buffer(_ text: String) -> ByteBuffer { ByteBuffer(string: text) }

    @Test func mgetRepliesAreMergedInKeyOrder() {
        // Keys k0 k1 k2 k3: k0, k2 on the first node, k1, k3 on the second.
        let merged = ClusterRouter.merge(.values, [buffer("*2\r\n$2\r\nv0\r\n$-1\r\n"), buffer("*2\r\n$2\r\nv1\r\n$2\r\nv3\r\n")],
                                         placement: [(0, 0), (1, 0), (0, 1), (1, 1)], version: .resp2)
        #expect(String(buffer: merged) == "*4\r\n$2\r\nv0\r\n$2\r\nv1\r\n$-1\r\n$2\r\nv3\r\n")
        let resp3 = ClusterRouter.merge(.values, [buffer("*1\r\n_\r\n"), buffer("*1\r\n$1\r\nx\r\n")],
                                        placement: [(0, 0), (1, 0)], version: .resp3)
        #expect(String(buffer: resp3) == "*2\r\n_\r\n$1\r\nx\r\n")
    }

    @Test func countsAreSummedAndErrorsWin() {
        #expect(String(buffer: ClusterRouter.merge(.sum, [buffer(":2\r\n"), buffer(":1\r\n")], placement: [], version: .resp2)) == ":3\r\n")
        #expect(String(buffer: ClusterRouter.merge(.ok, [buffer("+OK\r\n"), buffer("+OK\r\n")], placement: [], version: .resp2)) == "+OK\r\n")
        let failed = ClusterRouter.merge(.sum, [buffer(":2\r\n"), buffer("-CLUSTERDOWN node x is unreachable\r\n")], placement: [], version: .resp2)
        #expect(String(buffer: failed) == "-CLUSTERDOWN node x is unreachable\r\n")
    }

    @Test func encodesArgumentsAsRESP() {
        let bytes = ClusterRouter.encode(.init(["GET", "foo"]))
        #expect(String(buffer: bytes) == "*2\r\n$3\r\nGET\r\n$3\r\nfoo\r\n")
    }
}

@Suite("INFO keyspace over the ring")
struct KeyspaceMergeTests {
    @Test("the first node's INFO keeps its other sections; keyspace lines are summed per database")
    func sums() {
        let here = "# Server\r\nredis_version:7.0.15\r\n\r\n# Keyspace\r\ndb0:keys=3,expires=1,avg_ttl=0\r\n\r\n# Tiers\r\nl1_keys:3\r\n"
        let other = "# Keyspace\r\ndb0:keys=5,expires=0,avg_ttl=0\r\ndb2:keys=7,expires=7,avg_ttl=0\r\n"
        let empty = "# Keyspace\r\n"
        #expect(ClusterRouter.mergeKeyspace([here, other, empty]) ==
            "# Server\r\nredis_version:7.0.15\r\n\r\n# Keyspace\r\ndb0:keys=8,expires=1,avg_ttl=0\r\n"
            + "db2:keys=7,expires=7,avg_ttl=0\r\n\r\n# Tiers\r\nl1_keys:3\r\n")
        #expect(ClusterRouter.mergeKeyspace([empty, other]) ==
            "# Keyspace\r\ndb0:keys=5,expires=0,avg_ttl=0\r\ndb2:keys=7,expires=7,avg_ttl=0\r\n")
    }
}
