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
