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

/// Places Redis Cluster's 16384 slots on nodes in contiguous blocks, by rendezvous hashing
/// with bounded loads.
///
/// The slots are cut into ``blockCount`` blocks of ``slotsPerBlock`` consecutive slots. Every
/// (node, block) pair has a score, a hash of the node's `host:port` and the block (a node of
/// weight `w` draws `w` scores per block and keeps the best). Each node may hold its weighted
/// share of the blocks, rounded (the remainders go to the largest fractions). Going through the
/// pairs from the highest score down, a block goes to the node of the pair if it is still free
/// and the node still has room. So:
///
/// - **balance**: each node gets its weighted share of blocks, give or take one;
/// - **few ranges**: a node's slots form at most one range per block it owns (a few hundred,
///   where hashing slots one by one made thousands);
/// - **little movement**: without the bound this is plain rendezvous hashing, where adding a
///   node moves exactly the blocks it ranks first for (1/N); the bound moves a few more, where a
///   node that lost room gives up its lowest-ranked blocks (docs/cluster.md has the figures;
///   `SimulationTests` measures them);
/// - **down nodes**: a block whose node is down goes to the live node that scores highest for it:
///   the down node's blocks spread over the others, every other block stays where it is, and all
///   come back when it returns.
///
/// A node of weight 0 holds nothing and is the same as a node not listed. Pure integer
/// arithmetic on the list's contents: every node computes the same table, whatever the order of
/// its `cluster-nodes` list.
public struct HashRing: Sendable {
    public let nodes: [ClusterNodeAddress]
    /// The node each block belongs to when every node is up; ``noOwner`` when no node has weight.
    let blockOwners: [UInt16]
    /// Each node's hash, which seeds its scores.
    private let seeds: [UInt64]

    public static let blockCount = 1024
    public static let slotsPerBlock = HashSlot.count / blockCount

    public init(nodes: [ClusterNodeAddress]) {
        precondition(nodes.count < Int(HashRing.noOwner))
        self.nodes = nodes
        let seeds = nodes.map { StableHash.mix(StableHash.fnv1a(Array($0.endpoint.utf8))) }
        self.seeds = seeds
        let blocks = Self.blockCount
        var owners = [UInt16](repeating: Self.noOwner, count: blocks)
        let weighted = nodes.indices.filter { nodes[$0].weight > 0 }
        let totalWeight = weighted.reduce(0) { $0 + nodes[$1].weight }
        if totalWeight > 0 {
            // Room: the floor of each share, then one more for the largest remainders.
            var room = [Int](repeating: 0, count: nodes.count)
            for node in weighted { room[node] = blocks * nodes[node].weight / totalWeight }
            let left = blocks - room.reduce(0, +)
            let byRemainder = weighted.sorted { a, b in
                let (ra, rb) = (blocks * nodes[a].weight % totalWeight, blocks * nodes[b].weight % totalWeight)
                return ra != rb ? ra > rb : nodes[a].endpoint < nodes[b].endpoint
            }
            for node in byRemainder.prefix(left) { room[node] += 1 }
            var pairs: [(score: UInt64, block: UInt16, node: UInt16)] = []
            pairs.reserveCapacity(blocks * weighted.count)
            for node in weighted {
                for block in 0..<blocks {
                    pairs.append((Self.score(seeds[node], weight: nodes[node].weight, block: block), UInt16(block), UInt16(node)))
                }
            }
            // Equal scores (astronomically rare) are ordered by endpoint, as every node does.
            pairs.sort { $0.score != $1.score ? $0.score > $1.score : nodes[Int($0.node)].endpoint < nodes[Int($1.node)].endpoint }
            var assigned = 0
            for pair in pairs where owners[Int(pair.block)] == Self.noOwner && room[Int(pair.node)] > 0 {
                owners[Int(pair.block)] = pair.node
                room[Int(pair.node)] -= 1
                assigned += 1
                if assigned == blocks { break }
            }
        }
        blockOwners = owners
    }

    /// A node's score for a block: the best of its `weight` draws.
    private static func score(_ seed: UInt64, weight: Int, block: Int) -> UInt64 {
        var best: UInt64 = 0
        for unit in 0..<weight { best = max(best, StableHash.mix(seed ^ (UInt64(block) << 20 | UInt64(unit)))) }
        return best
    }

    /// The node serving each slot, with the blocks of nodes for which `live` is false served by
    /// the live node ranking highest for them; ``noOwner`` where no live node has weight.
    public func slotOwners(live: [Bool]) -> [UInt16] {
        var table = [UInt16](repeating: HashRing.noOwner, count: HashSlot.count)
        for block in 0..<Self.blockCount {
            var owner = blockOwners[block]
            if owner == Self.noOwner || !live[Int(owner)] { owner = standIn(for: block, live: live) }
            let first = block * Self.slotsPerBlock
            for slot in first..<(first + Self.slotsPerBlock) { table[slot] = owner }
        }
        return table
    }

    /// The live node with weight that scores highest for `block`.
    private func standIn(for block: Int, live: [Bool]) -> UInt16 {
        var best = HashRing.noOwner
        var bestScore: UInt64 = 0
        for node in nodes.indices where live[node] && nodes[node].weight > 0 {
            let score = Self.score(seeds[node], weight: nodes[node].weight, block: block)
            if best == HashRing.noOwner || score > bestScore
                || (score == bestScore && nodes[node].endpoint < nodes[Int(best)].endpoint) {
                (best, bestScore) = (UInt16(node), score)
            }
        }
        return best
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
