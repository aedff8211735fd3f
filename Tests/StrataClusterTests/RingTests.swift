import StrataCommands
import StrataConfig
import Testing
@testable import StrataCluster

func loopbackNodes(_ count: Int, firstPort: Int = 7000) -> [ClusterNodeAddress] {
    (0..<count).map { ClusterNodeAddress(host: "127.0.0.1", port: firstPort + $0) }
}

@Suite struct RingTests {
    @Test func deterministicAcrossInstancesAndListOrders() {
        let a = HashRing(nodes: loopbackNodes(3)).slotOwners(live: [true, true, true])
        let b = HashRing(nodes: loopbackNodes(3)).slotOwners(live: [true, true, true])
        #expect(a == b)
        #expect(Set(a) == [0, 1, 2])
        // The same nodes listed in another order: every slot has the same endpoint.
        let nodes = loopbackNodes(3)
        let reversed = Array(nodes.reversed())
        let c = HashRing(nodes: reversed).slotOwners(live: [true, true, true])
        for slot in 0..<HashSlot.count { #expect(reversed[Int(c[slot])].endpoint == nodes[Int(a[slot])].endpoint) }
    }

    @Test func nodeIDsAreStableHex() {
        let id = StableHash.nodeID("127.0.0.1:7000")
        #expect(id.count == 40)
        #expect(id.allSatisfy { $0.isHexDigit })
        #expect(id == StableHash.nodeID("127.0.0.1:7000"))
        #expect(id != StableHash.nodeID("127.0.0.1:7001"))
    }

    /// Every node gets its share of blocks, give or take one block.
    @Test func balancedToOneBlock() {
        for count in [1, 2, 3, 5, 10, 25] {
            let table = HashRing(nodes: loopbackNodes(count)).slotOwners(live: Array(repeating: true, count: count))
            var perNode = [Int](repeating: 0, count: count)
            for owner in table { perNode[Int(owner)] += 1 }
            let share = Double(HashSlot.count) / Double(count)
            for slots in perNode {
                #expect(abs(Double(slots) - share) <= Double(HashRing.slotsPerBlock), "nodes \(count): \(perNode)")
            }
        }
    }

    @Test func weightsScaleShares() {
        var nodes = loopbackNodes(3)
        nodes[0].weight = 2
        nodes[2].weight = 3
        let table = HashRing(nodes: nodes).slotOwners(live: [true, true, true])
        let unit = Double(HashSlot.count) / 6
        for (node, weight) in [(0, 2), (1, 1), (2, 3)] {
            let slots = Double(table.filter { $0 == UInt16(node) }.count)
            #expect(abs(slots - unit * Double(weight)) <= Double(HashRing.slotsPerBlock * weight), "node \(node): \(slots)")
        }
    }

    /// A node of weight 0 is the same as a node not listed (a leaving node, or a node asking
    /// where its slots would be without it).
    @Test func weightZeroIsTheSameAsAbsent() {
        var nodes = loopbackNodes(4)
        nodes[2].weight = 0
        let with = HashRing(nodes: nodes).slotOwners(live: [true, true, true, true])
        let without = HashRing(nodes: [nodes[0], nodes[1], nodes[3]]).slotOwners(live: [true, true, true])
        let map: [UInt16] = [0, 1, 3]
        #expect(!with.contains(2))
        for slot in 0..<HashSlot.count { #expect(with[slot] == map[Int(without[slot])]) }
    }

    @Test func addingANodeMovesAboutItsShare() {
        for count in [3, 5, 10] {
            let before = HashRing(nodes: loopbackNodes(count)).slotOwners(live: Array(repeating: true, count: count))
            let after = HashRing(nodes: loopbackNodes(count + 1)).slotOwners(live: Array(repeating: true, count: count + 1))
            var moved = 0
            var toNew = 0
            for slot in 0..<HashSlot.count where before[slot] != after[slot] {
                moved += 1
                if after[slot] == UInt16(count) { toNew += 1 }
            }
            let ideal = 1.0 / Double(count + 1)
            let fraction = Double(moved) / Double(HashSlot.count)
            // The new node's share, plus the blocks where the turns of the others now meet.
            #expect(Double(toNew) / Double(HashSlot.count) > ideal * 0.97)
            #expect(fraction >= ideal * 0.97 && fraction < ideal * 1.5, "nodes \(count): moved \(fraction)")
        }
    }

    @Test func downNodeSlotsSpreadOverTheOthersAndComeBack() {
        let ring = HashRing(nodes: loopbackNodes(4))
        let all = ring.slotOwners(live: [true, true, true, true])
        let withoutOne = ring.slotOwners(live: [true, false, true, true])
        #expect(!withoutOne.contains(1))
        var takers = [Int](repeating: 0, count: 4)
        for slot in 0..<HashSlot.count {
            if all[slot] != 1 { #expect(withoutOne[slot] == all[slot]) } else { takers[Int(withoutOne[slot])] += 1 }
        }
        // Spread over the three others, roughly evenly (rendezvous hashing).
        for node in [0, 2, 3] { #expect(takers[node] > HashSlot.count / 4 / 3 / 2, "\(takers)") }
        #expect(ring.slotOwners(live: [true, true, true, true]) == all)
        #expect(ring.slotOwners(live: [false, false, false, false]).allSatisfy { $0 == HashRing.noOwner })
        // A live node of weight 0 never serves.
        var nodes = loopbackNodes(2)
        nodes[1].weight = 0
        #expect(HashRing(nodes: nodes).slotOwners(live: [false, true]).allSatisfy { $0 == HashRing.noOwner })
    }

    @Test func rangesAreFewAndCoverEverySlotOnce() {
        for count in [3, 5, 10] {
            let table = HashRing(nodes: loopbackNodes(count)).slotOwners(live: Array(repeating: true, count: count))
            let ranges = HashRing.ranges(table)
            #expect(ranges.first?.start == 0)
            #expect(ranges.last?.end == HashSlot.count - 1)
            for (a, b) in zip(ranges, ranges.dropFirst()) {
                #expect(a.end + 1 == b.start)
                #expect(a.node != b.node)
            }
            #expect(ranges.count <= HashRing.blockCount)
            for node in 0..<count { #expect(ranges.filter { $0.node == node }.count <= 300) }
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
