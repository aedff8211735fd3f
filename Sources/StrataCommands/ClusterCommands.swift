import NIOCore
import StrataRESP

/// What the CLUSTER command shows of a multi-node setup. The cluster module's router conforms;
/// a standalone node has none, and CLUSTER answers as a Redis without cluster support.
public protocol ClusterIntrospection: AnyObject, Sendable {
    /// Redis Cluster behaviour (`-MOVED`): clients are told the mode is `cluster`.
    var redirects: Bool { get }
    func clusterSnapshot() -> ClusterSnapshot
    /// CLUSTER REJOIN: whether this node is done with the slots of the node at `endpoint`: `WAIT`
    /// while it serves them or holds keys it wrote for it while it was down; otherwise `DONE`,
    /// followed by `passing` while a hand-over pass runs, or `unlisted` when this node's
    /// `cluster-nodes` does not name it yet (it joins: this node may still hold its keys).
    func rejoinStatus(for endpoint: String) -> String
    /// CLUSTER HANDOFF-DONE: the node at `endpoint` has handed over every key it held for this one.
    func handoffDone(from endpoint: String)
}

/// The cluster as one node sees it at one moment.
public struct ClusterSnapshot: Sendable {
    public struct Node: Sendable {
        public var id: String
        public var host: String
        public var port: Int
        public var weight: Int
        public var isSelf: Bool
        public var isUp: Bool
        /// Unix milliseconds of the last reply to a health check (0: none yet, or this node).
        public var lastPong: Int64
        public init(id: String, host: String, port: Int, weight: Int, isSelf: Bool, isUp: Bool, lastPong: Int64) {
            (self.id, self.host, self.port, self.weight) = (id, host, port, weight)
            (self.isSelf, self.isUp, self.lastPong) = (isSelf, isUp, lastPong)
        }
    }

    /// A run of consecutive slots served by one node.
    public struct SlotRange: Sendable, Equatable {
        public var start: Int
        public var end: Int
        public var node: Int
        public init(start: Int, end: Int, node: Int) { (self.start, self.end, self.node) = (start, end, node) }
    }

    /// How this node stands after failures and returns (INFO cluster, CLUSTER INFO, the log).
    public struct Recovery: Sendable {
        /// Holding commands back while it asks the others for its keys (see docs/cluster.md).
        public var rejoining: Bool
        /// Rejoins completed, and how the last one ended.
        public var rejoins: Int
        public var lastRejoin: String
        /// Keys written here for nodes that are down, not yet handed back.
        public var borrowedKeys: Int
        /// Keys handed back to returning nodes, and returns completed.
        public var handedBackKeys: Int
        public var returns: Int
        /// Keys handed over to new owners after membership or health changes, and whether a
        /// hand-over pass is running now.
        public var handedOverKeys: Int
        public var handingOver: Bool
        /// Slots gained at a membership change whose previous node is still handing them over,
        /// and keys fetched from previous nodes on first access.
        public var receivingSlots: Int
        public var fetchedKeys: Int
        public init(rejoining: Bool, rejoins: Int, lastRejoin: String, borrowedKeys: Int, handedBackKeys: Int, returns: Int,
                    handedOverKeys: Int, handingOver: Bool, receivingSlots: Int, fetchedKeys: Int) {
            (self.rejoining, self.rejoins, self.lastRejoin) = (rejoining, rejoins, lastRejoin)
            (self.borrowedKeys, self.handedBackKeys, self.returns) = (borrowedKeys, handedBackKeys, returns)
            (self.handedOverKeys, self.handingOver) = (handedOverKeys, handingOver)
            (self.receivingSlots, self.fetchedKeys) = (receivingSlots, fetchedKeys)
        }

        /// The `name:value` lines of INFO cluster and CLUSTER INFO.
        public var fields: [(String, String)] {
            [("cluster_local_state", rejoining ? "rejoining" : "serving"),
             ("cluster_rejoins", String(rejoins)),
             ("cluster_last_rejoin", lastRejoin),
             ("cluster_borrowed_keys", String(borrowedKeys)),
             ("cluster_handed_back_keys", String(handedBackKeys)),
             ("cluster_returns_served", String(returns)),
             ("cluster_handed_over_keys", String(handedOverKeys)),
             ("cluster_handover_in_progress", handingOver ? "1" : "0"),
             ("cluster_receiving_slots", String(receivingSlots)),
             ("cluster_fetched_keys", String(fetchedKeys))]
        }
    }

    public var mode: String
    public var nodes: [Node]
    /// Who serves each slot now (down nodes' slots already moved on), in slot order.
    public var ranges: [SlotRange]
    /// Bumped on every change of membership or health.
    public var epoch: Int
    public var recovery: Recovery

    public init(mode: String, nodes: [Node], ranges: [SlotRange], epoch: Int, recovery: Recovery) {
        (self.mode, self.nodes, self.ranges, self.epoch, self.recovery) = (mode, nodes, ranges, epoch, recovery)
    }

    public var myself: Node? { nodes.first { $0.isSelf } }
}

/// CLUSTER and its subcommands.
enum ClusterCommands {
    private static func cluster(_ c: inout CommandContext) -> ClusterSnapshot? {
        guard let cluster = c.server.router as? any ClusterIntrospection else {
            c.error("ERR This instance has cluster support disabled")
            return nil
        }
        return cluster.clusterSnapshot()
    }

    static func keyslot(_ c: inout CommandContext) {
        c.reply.integer(c.arguments.withBytes(2) { HashSlot.slot($0) })
    }

    static func myid(_ c: inout CommandContext) {
        guard let snapshot = cluster(&c) else { return }
        c.reply.bulk(snapshot.myself?.id ?? "")
    }

    static func info(_ c: inout CommandContext) {
        guard let snapshot = cluster(&c) else { return }
        let down = snapshot.nodes.filter { !$0.isUp }.count
        let servedBy = Set(snapshot.ranges.map(\.node))
        let fields: [(String, String)] = [
            // As INFO and HELLO say: a proxy ring shows clients one standalone server.
            ("cluster_enabled", c.server.clusterRedirects ? "1" : "0"),
            ("cluster_state", servedBy.isEmpty ? "fail" : "ok"),
            ("cluster_slots_assigned", String(HashSlot.count)),
            ("cluster_slots_ok", String(HashSlot.count)),
            ("cluster_slots_pfail", "0"),
            ("cluster_slots_fail", "0"),
            ("cluster_known_nodes", String(snapshot.nodes.count)),
            ("cluster_size", String(servedBy.count)),
            ("cluster_current_epoch", String(snapshot.epoch)),
            ("cluster_my_epoch", String(snapshot.epoch)),
            ("cluster_mode", snapshot.mode),
            ("cluster_nodes_down", String(down)),
        ] + snapshot.recovery.fields
        c.reply.verbatim(fields.map { "\($0.0):\($0.1)\r\n" }.joined())
    }

    /// Redis's CLUSTER NODES: `id ip:port@cport flags master ping-sent pong-recv epoch link slots…`.
    /// Nodes talk to each other on their client port, so `cport` is that port.
    static func nodes(_ c: inout CommandContext) {
        guard let snapshot = cluster(&c) else { return }
        var rangesByNode = [[ClusterSnapshot.SlotRange]](repeating: [], count: snapshot.nodes.count)
        for range in snapshot.ranges { rangesByNode[range.node].append(range) }
        var text = ""
        for (index, node) in snapshot.nodes.enumerated() {
            var flags = node.isSelf ? "myself,master" : "master"
            if !node.isUp { flags += ",fail" }
            let pong = node.isSelf ? 0 : node.lastPong
            text += "\(node.id) \(node.host):\(node.port)@\(node.port) \(flags) - 0 \(pong) \(snapshot.epoch) "
            text += node.isUp ? "connected" : "disconnected"
            for range in rangesByNode[index] {
                text += range.start == range.end ? " \(range.start)" : " \(range.start)-\(range.end)"
            }
            text += "\n"
        }
        c.reply.verbatim(text)
    }

    /// Redis's CLUSTER SLOTS: `[start, end, [host, port, id, {}]]` for every range.
    static func slots(_ c: inout CommandContext) {
        guard let snapshot = cluster(&c) else { return }
        c.reply.arrayHeader(snapshot.ranges.count)
        for range in snapshot.ranges {
            let node = snapshot.nodes[range.node]
            c.reply.arrayHeader(3)
            c.reply.integer(range.start)
            c.reply.integer(range.end)
            c.reply.arrayHeader(4)
            c.reply.bulk(node.host)
            c.reply.integer(node.port)
            c.reply.bulk(node.id)
            c.reply.mapHeader(0)
        }
    }

    /// Redis's CLUSTER SHARDS: one shard per node (no replicas), its slot ranges and its node.
    static func shards(_ c: inout CommandContext) {
        guard let snapshot = cluster(&c) else { return }
        var rangesByNode = [[ClusterSnapshot.SlotRange]](repeating: [], count: snapshot.nodes.count)
        for range in snapshot.ranges { rangesByNode[range.node].append(range) }
        c.reply.arrayHeader(snapshot.nodes.count)
        for (index, node) in snapshot.nodes.enumerated() {
            c.reply.mapHeader(2)
            c.reply.bulk("slots")
            c.reply.arrayHeader(rangesByNode[index].count * 2)
            for range in rangesByNode[index] {
                c.reply.integer(range.start)
                c.reply.integer(range.end)
            }
            c.reply.bulk("nodes")
            c.reply.arrayHeader(1)
            c.reply.mapHeader(7)
            c.reply.bulk("id"); c.reply.bulk(node.id)
            c.reply.bulk("port"); c.reply.integer(node.port)
            c.reply.bulk("ip"); c.reply.bulk(node.host)
            c.reply.bulk("endpoint"); c.reply.bulk(node.host)
            c.reply.bulk("role"); c.reply.bulk("master")
            c.reply.bulk("replication-offset"); c.reply.integer(0)
            c.reply.bulk("health"); c.reply.bulk(node.isUp ? "online" : "fail")
        }
    }

    /// CLUSTER REJOIN host:port, sent by a node that rejoins (see ``ClusterIntrospection/rejoinStatus(for:)``).
    static func rejoin(_ c: inout CommandContext) {
        guard let cluster = c.server.router as? any ClusterIntrospection else {
            c.error("ERR This instance has cluster support disabled")
            return
        }
        c.reply.simpleString(cluster.rejoinStatus(for: c.arguments.string(2)))
    }

    /// CLUSTER HANDOFF-DONE host:port, sent by a node that has handed over every key it held for
    /// slots this node now serves.
    static func handoffDone(_ c: inout CommandContext) {
        guard let cluster = c.server.router as? any ClusterIntrospection else {
            c.error("ERR This instance has cluster support disabled")
            return
        }
        cluster.handoffDone(from: c.arguments.string(2))
        c.reply.ok()
    }

    /// CLUSTER BARRIER, sent by a node that hands keys over: `+OK` once every write this node
    /// ran before it is committed to L3 (so it survives a crash of this process), at once
    /// without L3. The sender deletes its copies only then, whatever `l3-fsync` says.
    static func barrier(_ c: inout CommandContext) {
        guard let cold = c.server.coldStorage, let loop = c.eventLoop else {
            c.reply.ok()
            return
        }
        c.deferredReply = cold.barrier(on: loop).map {
            var writer = RESPReplyWriter(buffer: ByteBuffer())
            writer.ok()
            return writer.buffer
        }
    }

    static func help(_ c: inout CommandContext) {
        let lines = [
            "INFO", "    Return information about the cluster.",
            "KEYSLOT <key>", "    Return the hash slot for <key>.",
            "MYID", "    Return the node id.",
            "NODES", "    Return cluster configuration seen by node.",
            "REJOIN <host:port>", "    (Between Strata nodes) Whether this node has handed back the keys of a returning node.",
            "HANDOFF-DONE <host:port>", "    (Between Strata nodes) That node has handed over every key it held for this one.",
            "BARRIER", "    (Between Strata nodes) Reply once every earlier write is committed to L3.",
            "SHARDS", "    Return information about slot range mappings and the nodes serving them.",
            "SLOTS", "    Return information about slots range mappings.",
        ]
        CommandHelp.reply(&c, command: "CLUSTER", lines)
    }
}

extension ServerContext {
    /// Whether clients should see a Redis Cluster (HELLO `mode`, INFO `cluster_enabled`).
    public var clusterRedirects: Bool { (router as? any ClusterIntrospection)?.redirects ?? false }
}
