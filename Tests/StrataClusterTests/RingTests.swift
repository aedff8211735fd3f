import StrataCommands
import StrataConfig
import Testing
@testable import StrataCluster

func loopbackNodes(_ count: Int, firstPort: Int = 7000) -> [ClusterNodeAddress] {
    (0..<count).map { ClusterNodeAddress(host: "127.0.0.1", port: firstPort + $0) }
}

@Suite struct RingTests {
    @Test func deterministicAcrossInstances() {
        let a = HashRing(nodes: loopbackNodes(3), virtualNodes: 256).slotOwners(live: [true, true, true])
        let b = HashRing(nodes: loopbackNodes(3), virtualNodes: 256).slotOwners(live: [true, true, true])
        #expect(a == b)
        #expect(Set(a) == [0, 1, 2])
    }

    @Test func nodeIDsAreStableHex() {
        let id = StableHash.nodeID("127.0.0.1:7000")
        #expect(id.count == 40)
        #expect(id.allSatisfy { $0.isHexDigit })
        #expect(id == StableHash.nodeID("127.0.0.1:7000"))
        #expect(id != StableHash.nodeID("127.0.0.1:7001"))
    }

    @Test func balancedWithDefaultVirtualNodes() {
        for count in [3, 5, 10] {
            let table = HashRing(nodes: loopbackNodes(count), virtualNodes: Configuration().clusterVirtualNodes)
                .slotOwners(live: Array(repeating: true, count: count))
            var perNode = [Int](repeating: 0, count: count)
            for owner in table { perNode[Int(owner)] += 1 }
            let mean = Double(HashSlot.count) / Double(count)
            #expect(Double(perNode.max()!) / mean < 1.12, "nodes \(count): \(perNode)")
        }
    }

    @Test func weightsScaleShares() {
        var nodes = loopbackNodes(3)
        nodes[0].weight = 2
        let table = HashRing(nodes: nodes, virtualNodes: 512).slotOwners(live: [true, true, true])
        let heavy = table.filter { $0 == 0 }.count
        let light = table.filter { $0 == 1 }.count
        #expect(Double(heavy) / Double(light) > 1.7 && Double(heavy) / Double(light) < 2.3)
    }

    @Test func addingANodeMovesOnlyItsShare() {
        let before = HashRing(nodes: loopbackNodes(3), virtualNodes: 1024).slotOwners(live: [true, true, true])
        let after = HashRing(nodes: loopbackNodes(4), virtualNodes: 1024).slotOwners(live: [true, true, true, true])
        var moved = 0
        for slot in 0..<HashSlot.count where before[slot] != after[slot] {
            moved += 1
            #expect(after[slot] == 3, "a slot moved between two old nodes")
        }
        let fraction = Double(moved) / Double(HashSlot.count)
        #expect(fraction > 0.2 && fraction < 0.3)
    }

    @Test func downNodeSlotsGoToTheNextLiveNodeAndComeBack() {
        let ring = HashRing(nodes: loopbackNodes(3), virtualNodes: 256)
        let all = ring.slotOwners(live: [true, true, true])
        let withoutOne = ring.slotOwners(live: [true, false, true])
        #expect(!withoutOne.contains(1))
        for slot in 0..<HashSlot.count where all[slot] != 1 { #expect(withoutOne[slot] == all[slot]) }
        #expect(ring.slotOwners(live: [true, true, true]) == all)
        #expect(ring.slotOwners(live: [false, false, false]).allSatisfy { $0 == HashRing.noOwner })
    }

    @Test func rangesCoverEverySlotOnce() {
        let table = HashRing(nodes: loopbackNodes(3), virtualNodes: 64).slotOwners(live: [true, true, true])
        let ranges = HashRing.ranges(table)
        #expect(ranges.first?.start == 0)
        #expect(ranges.last?.end == HashSlot.count - 1)
        for (a, b) in zip(ranges, ranges.dropFirst()) {
            #expect(a.end + 1 == b.start)
            #expect(a.node != b.node)
        }
    }

    @Test func findsItselfByBindPortOrAnnounce() {
        var configuration = Configuration()
        configuration.port = 7001
        configuration.bind = ["127.0.0.1"]
        let nodes = loopbackNodes(3)
        #expect(ClusterRouter.findSelf(in: nodes, configuration: configuration) == 1)
        configuration.clusterAnnounce = "127.0.0.1:7002"
        #expect(ClusterRouter.findSelf(in: nodes, configuration: configuration) == 2)
        configuration.clusterAnnounce = "127.0.0.1:9999"
        #expect(ClusterRouter.findSelf(in: nodes, configuration: configuration) == nil)
    }

    @Test func parsesNodeLists() throws {
        let nodes = try ClusterNodeAddress.parseList("127.0.0.1:7000, 127.0.0.1:7001@3").get()
        #expect(nodes == [ClusterNodeAddress(host: "127.0.0.1", port: 7000), ClusterNodeAddress(host: "127.0.0.1", port: 7001, weight: 3)])
        #expect(ClusterNodeAddress.parseList("127.0.0.1").failure != nil)
        #expect(ClusterNodeAddress.parseList("127.0.0.1:7000,127.0.0.1:7000").failure != nil)
        #expect(ClusterNodeAddress.parseList("127.0.0.1:7000@0").failure != nil)
        var configuration = Configuration()
        #expect(throws: ConfigurationError.self) {
            try Configuration.directive(named: "cluster-nodes")!.apply("nonsense", to: &configuration)
        }
        try Configuration.directive(named: "cluster-nodes")!.apply("127.0.0.1:7000,127.0.0.1:7001@2", to: &configuration)
        #expect(Configuration.directive(named: "cluster-nodes")!.value(in: configuration) == "127.0.0.1:7000,127.0.0.1:7001@2")
    }
}
