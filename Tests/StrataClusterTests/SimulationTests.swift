import StrataCommands
import StrataConfig
import Testing
@testable import StrataCluster

/// The figures in docs/cluster.md: slot ranges, balance and keys moved, over 1M keys.
/// Run `swift test --filter SimulationTests` to print them.
@Suite struct SimulationTests {
    static let keyCount = 1_000_000

    /// Keys per slot for `key:0` … `key:999999`.
    static let keysPerSlot: [Int] = {
        var counts = [Int](repeating: 0, count: HashSlot.count)
        for i in 0..<keyCount { counts[HashSlot.slot("key:\(i)")] += 1 }
        return counts
    }()

    static func table(_ count: Int) -> [UInt16] {
        HashRing(nodes: loopbackNodes(count)).slotOwners(live: Array(repeating: true, count: count))
    }

    static func keysMoved(_ a: [UInt16], _ b: [UInt16]) -> Double {
        var moved = 0
        for slot in 0..<HashSlot.count where a[slot] != b[slot] { moved += keysPerSlot[slot] }
        return Double(moved) / Double(keyCount)
    }

    @Test func balanceAndMovement() {
        var report = "nodes  ranges  most/node  max/mean  min/mean  moved(+1 node)  ideal   moved(-1 node)  ideal\n"
        for count in [3, 5, 10] {
            let owners = Self.table(count)
            let ranges = HashRing.ranges(owners)
            let mostPerNode = (0..<count).map { node in ranges.filter { $0.node == node }.count }.max()!
            var perNode = [Int](repeating: 0, count: count)
            for slot in 0..<HashSlot.count { perNode[Int(owners[slot])] += Self.keysPerSlot[slot] }
            let mean = Double(Self.keyCount) / Double(count)
            let maxRatio = Double(perNode.max()!) / mean
            let minRatio = Double(perNode.min()!) / mean
            let added = Self.keysMoved(owners, Self.table(count + 1))
            // Removing the last node of the list.
            let removed = Self.keysMoved(owners, Self.table(count - 1))
            report += "\(count)      \(ranges.count)     \(mostPerNode)        \(fmt(maxRatio))      \(fmt(minRatio))      \(fmt(added))          \(fmt(1.0 / Double(count + 1)))    \(fmt(removed))          \(fmt(1.0 / Double(count)))\n"
            #expect(mostPerNode <= 300)
            #expect(maxRatio < 1.05)
            #expect(minRatio > 0.95)
            #expect(added < 1.5 / Double(count + 1))
            #expect(removed < 1.5 / Double(count))
        }
        print(report)
    }

    func fmt(_ value: Double) -> String {
        let scaled = Int((value * 1000).rounded())
        return "\(scaled / 1000).\(String(repeating: "0", count: 3 - String(scaled % 1000).count))\(scaled % 1000)"
    }
}
