import StrataCommands
import StrataConfig

/// Stable 64-bit hashing, identical on every node and every run (no per-process seed).
enum StableHash {
    /// FNV-1a over `bytes`, from `seed`.
    static func fnv1a(_ bytes: some Sequence<UInt8>, seed: UInt64 = 0xcbf2_9ce4_8422_2325) -> UInt64 {
        var h = seed
        for b in bytes { h = (h ^ UInt64(b)) &* 0x100_0000_01b3 }
        return h
    }

    /// SplitMix64's finalizer: spreads every input bit over the whole word.
    static func mix(_ value: UInt64) -> UInt64 {
        var z = value &+ 0x9e37_79b9_7f4a_7c15
        z = (z ^ (z >> 30)) &* 0xbf58_476d_1ce4_e5b9
        z = (z ^ (z >> 27)) &* 0x94d0_49bb_1331_11eb
        return z ^ (z >> 31)
    }

    /// A node's id: 40 hex characters derived from `host:port` only, so every node names every
    /// other the same way and a restarted node keeps its id.
    static func nodeID(_ endpoint: String) -> String {
        var text = ""
        for round in UInt64(0)..<3 {
            let h = mix(fnv1a(endpoint.utf8, seed: 0xcbf2_9ce4_8422_2325 ^ (round &* 0x9e37_79b9_7f4a_7c15)))
            let hex = String(h, radix: 16)
            text += String(repeating: "0", count: 16 - hex.count) + hex
        }
        return String(text.prefix(40))
    }
}

/// The consistent-hashing ring that places Redis Cluster's 16384 slots on nodes.
///
/// Each node puts `virtualNodes × weight` points on a 64-bit circle, at the hashes of
/// `host:port#i`. Slot `s` sits at `mix(s)` and belongs to the node owning the first point
/// clockwise from there. A node that is down is skipped: its slots go to the next live point,
/// so they spread over the remaining nodes, and come back when it returns. Adding or removing a
/// node moves only the slots whose first point changed: about 1/N of them.
public struct HashRing: Sendable {
    public let nodes: [ClusterNodeAddress]
    /// Point positions, sorted, and the index of the node owning each.
    let points: [UInt64]
    let owners: [UInt16]

    public init(nodes: [ClusterNodeAddress], virtualNodes: Int) {
        precondition(nodes.count <= Int(UInt16.max) - 1)
        self.nodes = nodes
        var placed: [(UInt64, UInt16)] = []
        placed.reserveCapacity(nodes.reduce(0) { $0 + $1.weight * virtualNodes })
        for (index, node) in nodes.enumerated() {
            let base = Array("\(node.endpoint)#".utf8)
            for i in 0..<(node.weight * virtualNodes) {
                placed.append((StableHash.mix(StableHash.fnv1a(base + Array(String(i).utf8))), UInt16(index)))
            }
        }
        // Ties (astronomically rare) are broken by endpoint so every node sorts the same way.
        placed.sort { $0.0 != $1.0 ? $0.0 < $1.0 : nodes[Int($0.1)].endpoint < nodes[Int($1.1)].endpoint }
        points = placed.map(\.0)
        owners = placed.map(\.1)
    }

    /// Where slot `slot` sits on the circle.
    @inline(__always)
    static func position(ofSlot slot: Int) -> UInt64 { StableHash.mix(UInt64(slot) &* 0x2545_f491_4f6c_dd1d) }

    /// The index of the first point at or after `position`, wrapping.
    func firstPoint(atOrAfter position: UInt64) -> Int {
        var low = 0, high = points.count
        while low < high {
            let mid = (low + high) / 2
            if points[mid] < position { low = mid + 1 } else { high = mid }
        }
        return low == points.count ? 0 : low
    }

    /// The node serving each slot, skipping nodes for which `live` is false; `noOwner` for every
    /// slot when no node is live.
    public func slotOwners(live: [Bool]) -> [UInt16] {
        guard !points.isEmpty, live.contains(true) else { return [UInt16](repeating: HashRing.noOwner, count: HashSlot.count) }
        var table = [UInt16](repeating: 0, count: HashSlot.count)
        for slot in 0..<HashSlot.count {
            var i = firstPoint(atOrAfter: HashRing.position(ofSlot: slot))
            while !live[Int(owners[i])] { i = i + 1 == points.count ? 0 : i + 1 }
            table[slot] = owners[i]
        }
        return table
    }

    public static let noOwner = UInt16.max

    /// Runs of consecutive slots with the same owner.
    public static func ranges(_ table: [UInt16]) -> [ClusterSnapshot.SlotRange] {
        var result: [ClusterSnapshot.SlotRange] = []
        var start = 0
        for slot in 1...table.count {
            if slot == table.count || table[slot] != table[start] {
                if table[start] != noOwner { result.append(.init(start: start, end: slot - 1, node: Int(table[start]))) }
                start = slot
            }
        }
        return result
    }
}
