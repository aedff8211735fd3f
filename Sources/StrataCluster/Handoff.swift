import Logging
import NIOCore
import StrataCommands
import StrataConfig
import StrataRESP
import Synchronization

/// Moves keys between nodes, on the health loop, in batches:
///
/// - **Hand-over** (``trigger()``): after a change of membership or health, every key held here
///   whose slot another node now serves goes there as a `DUMP` payload (any type), stored with
///   `RESTORE` without REPLACE and its remaining TTL (a value written there since is newer and
///   wins), then is deleted here.
/// - **Hand-back** (``handBack(to:)``): a node that was down returns; every key written here for it
///   meanwhile (the ``BorrowLedger``) goes back with `RESTORE … REPLACE` (this copy is newer than
///   the one it kept) or, if deleted here, a `DEL`; the router sends it commands only once this is done.
///
/// Every read and delete here, and every write on the other node, runs through the dispatcher
/// like a client's command (``CommandDispatcher/submit(_:as:server:on:)``): values that live only
/// in L3 are read from disk, a batch at a time, and under `l3-fsync always` the other node
/// acknowledges only what it has committed. A key is deleted here only once the other node has
/// acknowledged it.
final class Handoff: Sendable {
    private let router: ClusterRouter
    private let server: ServerContext
    /// The health loop: everything here runs on it.
    private let loop: any EventLoop
    private let logger: Logger
    /// The state of passes, bound to `loop` (NIO checks every access is on it).
    private let passes: NIOLoopBoundBox<Passes>

    private struct Passes: Sendable {
        var running = false
        var again = false
        var started = NIODeadline.now()
        /// See `startedFor` below.
        var startedFor = 0
        var failures = 0
    }

    private var running: Bool {
        get { passes.value.running }
        set { passes.value.running = newValue }
    }
    /// For INFO (read from any thread): keys handed over so far, and whether a pass is running.
    let handedOver = Atomic<Int>(0)
    /// A pass is running or asked for: not every request so far has a pass that completed.
    var passing: Bool { requested.load(ordering: .relaxed) != completedFor.load(ordering: .relaxed) }
    private var again: Bool {
        get { passes.value.again }
        set { passes.value.again = newValue }
    }
    private let parser = RESPValueParser(limits: RESPLimits(maxBulkLength: Int(Int32.max), maxMultibulkLength: Int(Int32.max)))
    /// Keys read, sent and deleted at a time: bounds the memory a hand-over takes.
    static let batch = 512

    init(router: ClusterRouter, server: ServerContext, loop: any EventLoop, logger: Logger) {
        self.router = router
        self.server = server
        self.loop = loop
        self.logger = logger
        self.passes = NIOLoopBoundBox.makeBoxSendingValue(Passes(), as: Passes.self, eventLoop: loop)
    }

    // MARK: - Hand-over

    /// Starts a hand-over pass, or schedules another after the one running.
    func trigger() {
        // At once, not on the loop: a node asking (CLUSTER REJOIN) between a view change and the
        // pass it starts must hear that a pass is coming.
        expectPass()
        loop.execute { [self] in
            if running { again = true; return }
            running = true
            startedFor = requested.load(ordering: .relaxed)
            passStarted = .now()
            pass(database: 0, cursor: "0", moved: 0)
        }
    }

    private var passStarted: NIODeadline {
        get { passes.value.started }
        set { passes.value.started = newValue }
    }
    /// Passes asked for so far (bumped at once by `trigger`, from any thread), and how many had
    /// been asked for when the running pass started: a pass that a newer request overtook did
    /// not see the latest view.
    private let requested = Atomic<Int>(0)
    private var startedFor: Int {
        get { passes.value.startedFor }
        set { passes.value.startedFor = newValue }
    }
    /// `startedFor` of the last pass that moved everything it found.
    private let completedFor = Atomic<Int>(0)

    /// Counts as passing from now on, until a pass started after this completes (called before a
    /// view that takes slots from this node is published, and by `trigger`).
    func expectPass() {
        requested.add(1, ordering: .relaxed)
    }
    /// Batches of the running pass that a new owner did not acknowledge.
    private var failures: Int {
        get { passes.value.failures }
        set { passes.value.failures = newValue }
    }

    private func pass(database: Int, cursor: String, moved: Int) {
        guard database < server.configuration.databases else {
            running = false
            if moved > 0 {
                let ms = max(1, (NIODeadline.now() - passStarted).nanoseconds / 1_000_000)
                logger.notice("handed keys over to their new owners",
                              metadata: ["keys": "\(moved)", "ms": "\(ms)", "keys_per_s": "\(Int64(moved) * 1000 / ms)"])
            }
            handedOver.add(moved, ordering: .relaxed)
            let failed = failures
            failures = 0
            if requested.load(ordering: .relaxed) != startedFor { again = true }
            if failed == 0 && !again {
                // Only a pass that started after the last change of view covered every key
                // that moved: one that ran across a change must not end another node's wait.
                announceDone()
            } else if failed > 0 {
                // The keys stay here; try again shortly (the new owner may be restarting).
                logger.warning("hand-over incomplete: some keys could not be written to their new owners; retrying",
                               metadata: ["batches_failed": "\(failed)"])
                again = true
            }
            if failed == 0 { completedFor.store(startedFor, ordering: .relaxed) }
            if again {
                again = false
                loop.scheduleTask(in: failed == 0 ? .zero : .seconds(1)) { [self] in trigger() }
            }
            return
        }
        local(["SCAN", cursor, "COUNT", String(Self.batch)], database: database).recover { .error("\($0)") }.whenSuccess { [self] reply in
            if case .error(let message) = reply, message.hasPrefix("LOADING") {
                // Still loading L3 at start: try again shortly.
                loop.scheduleTask(in: .milliseconds(100)) { [self] in pass(database: database, cursor: cursor, moved: moved) }
                return
            }
            guard case .array(let page) = reply, page.count == 2, let next = page[0].string,
                  case .array(let found) = page[1] else {
                logger.error("hand-over stopped: SCAN failed", metadata: ["reply": "\(reply)"])
                running = false
                return
            }
            let (view, _) = router.handoffView(on: loop)
            var byOwner: [Int: [[UInt8]]] = [:]
            for case .bulkString(let buffer) in found {
                let key = Array(buffer.readableBytesView)
                let owner = Int(view.owners[HashSlot.slot(key)])
                guard owner != view.selfIndex, owner != Int(HashRing.noOwner) else { continue }
                // Written here while its node was down: the hand-back overwrites with it (NX would lose it).
                guard !router.ledger.holds(BorrowLedger.Key(database: database, bytes: key), for: view.nodes[owner].endpoint) else {
                    continue
                }
                byOwner[owner, default: []].append(key)
            }
            let sends = byOwner.map { owner, keys in
                transfer(keys, database: database, to: view.nodes[owner], replace: false, deleted: [])
            }
            EventLoopFuture.whenAllComplete(sends, on: loop).whenSuccess { [self] results in
                let count = moved + results.reduce(0) { $0 + ((try? $1.get()) ?? 0) }
                failures += results.filter { if case .failure = $0 { true } else { false } }.count
                if next == "0" {
                    pass(database: database + 1, cursor: "0", moved: count)
                } else {
                    pass(database: database, cursor: next, moved: count)
                }
            }
        }
    }

    /// Tells every other node that this one holds nothing more for it (see `ClusterRouter.Receiving`).
    private func announceDone() {
        let (view, _) = router.handoffView(on: loop)
        let me = view.nodes[view.selfIndex].endpoint
        for (index, node) in view.nodes.enumerated() where index != view.selfIndex && view.live[index] {
            _ = router.handoffLink(to: node, on: loop).send(PeerLink.encode(["CLUSTER", "HANDOFF-DONE", me]), database: 0)
        }
    }

    // MARK: - Hand-back

    /// Gives `endpoint` back the keys written here for it while it was down, then lets the router
    /// send it commands again. Does nothing if a hand-back to it is running.
    func handBack(to endpoint: String) {
        loop.execute { [self] in
            guard router.ledger.beginReturn(of: endpoint) else { return }
            let held = router.ledger.marks(for: endpoint).count
            logger.notice("node returned: handing back the keys written here while it was down",
                          metadata: ["node": "\(endpoint)", "keys": "\(held)"])
            handBackRound(to: endpoint, sent: 0, started: .now())
        }
    }

    private func handBackRound(to endpoint: String, sent: Int, started: NIODeadline) {
        let (view, _) = router.handoffView(on: loop)
        guard let node = view.nodes.first(where: { $0.endpoint == endpoint }) else {
            router.ledger.abandonReturn(of: endpoint)
            return
        }
        let marks = router.ledger.marks(for: endpoint)
        if marks.isEmpty {
            if router.ledger.endReturn(of: endpoint, flip: { router.applyLive(endpoint, true) }) {
                let ms = (NIODeadline.now() - started).nanoseconds / 1_000_000
                logger.notice("node returned: hand-back done, it serves its slots again",
                              metadata: ["node": "\(endpoint)", "keys": "\(sent)", "ms": "\(ms)"])
            } else {
                handBackRound(to: endpoint, sent: sent, started: started)
            }
            return
        }
        // One batch per database at a time; the marks sent are cleared once acknowledged.
        let batch = Array(marks.prefix(Self.batch))
        let database = batch[0].key.database
        let chosen = batch.filter { $0.key.database == database }
        let keys = chosen.map(\.key.bytes)
        let deleted = Set(chosen.filter(\.value.deleted).map(\.key.bytes))
        transfer(keys, database: database, to: node, replace: true, deleted: deleted).whenComplete { [self] result in
            guard case .success = result else {
                router.ledger.abandonReturn(of: endpoint)
                logger.warning("hand-back interrupted; it resumes when the node answers again",
                               metadata: ["node": "\(endpoint)", "error": "\(result)"])
                return
            }
            router.ledger.handedBack(Dictionary(uniqueKeysWithValues: chosen.map { ($0.key, $0.value) }), to: endpoint)
            handBackRound(to: endpoint, sent: sent + chosen.count, started: started)
        }
    }

    // MARK: - Moving a batch

    /// Reads `keys` here (DUMP payloads, of any type, and TTLs), writes each on `node`
    /// (`RESTORE`, with `REPLACE` when `replace`; a key absent here is deleted there when it is
    /// in `deleted`), and deletes here those the node acknowledged. Fails if any write failed;
    /// the future holds how many moved.
    private func transfer(_ keys: [[UInt8]], database: Int, to node: ClusterNodeAddress, replace: Bool,
                          deleted: Set<[UInt8]>) -> EventLoopFuture<Int> {
        guard !keys.isEmpty else { return loop.makeSucceededFuture(0) }
        let values = keys.map { local([Array("DUMP".utf8), $0], database: database) }
        let ttls = keys.map { local([Array("PTTL".utf8), $0], database: database) }
        let allValues = EventLoopFuture.whenAllSucceed(values, on: loop)
        return allValues.and(EventLoopFuture.whenAllSucceed(ttls, on: loop)).flatMap { [self] items, ttls in
            if let failed = items.first(where: { if case .error = $0 { true } else { false } }) {
                return loop.makeFailedFuture(HandoffError(reason: "DUMP here failed: \(failed)"))
            }
            let link = router.handoffLink(to: node, on: loop)
            var writes: [EventLoopFuture<ByteBuffer>] = []
            var present: [[UInt8]] = []
            for (i, key) in keys.enumerated() {
                let words: [[UInt8]]
                if case .bulkString(let payload) = items[i], case .integer(let ttl) = ttls[i], ttl != -2 {
                    words = Self.restoreWords(key, payload, ttl: ttl, replace: replace)
                    present.append(key)
                } else if deleted.contains(key) {
                    words = [Array("DEL".utf8), key]
                } else {
                    continue // gone here (expired, or deleted by a hand-over already)
                }
                writes.append(link.send(ClusterRouter.encode(CommandArguments(bytes: words)), database: database))
            }
            // Deleted here only once committed there, whatever its l3-fsync (a crash there must
            // not lose what was moved).
            writes.append(link.send(PeerLink.encode(["CLUSTER", "BARRIER"]), database: database))
            return EventLoopFuture.whenAllSucceed(writes, on: loop).flatMap { [self, present] replies in
                if let failed = replies.first(where: { $0.readableBytesView.first == UInt8(ascii: "-") && !Self.isBusyKey($0) }) {
                    let text = String(decoding: failed.readableBytesView.dropFirst().prefix { $0 != UInt8(ascii: "\r") }, as: UTF8.self)
                    return loop.makeFailedFuture(HandoffError(reason: "\(node.endpoint) answered \(text)"))
                }
                let moved = replies.count - 1
                guard !present.isEmpty else { return loop.makeSucceededFuture(moved) }
                return local([Array("DEL".utf8)] + present, database: database).map { _ in moved }
            }
        }
    }

    /// Runs a command here, as this node's own session (the router serves it here, whoever owns
    /// the keys), and decodes its reply.
    private func local(_ words: [String], database: Int) -> EventLoopFuture<RESPValue> {
        local(words.map { Array($0.utf8) }, database: database)
    }

    private func local(_ words: [[UInt8]], database: Int) -> EventLoopFuture<RESPValue> {
        Self.runHere(words, database: database, server: server, on: loop)
            .flatMapThrowing { [parser] reply in
                var reply = reply
                guard let value = try parser.parse(&reply) else { throw HandoffError(reason: "incomplete reply") }
                return value
            }
    }
}

extension Handoff {
    /// Runs a command on this node as its own session (id `ClusterRouter.internalSessionID`:
    /// the router runs it here, whoever serves its keys), through the dispatcher. A session per
    /// command, so one that waits for L3 keeps its database while others run.
    static func runHere(_ words: [[UInt8]], database: Int, server: ServerContext,
                        on loop: any EventLoop) -> EventLoopFuture<ByteBuffer> {
        let session = ClientSession(id: ClusterRouter.internalSessionID, address: "cluster-internal", localAddress: "",
                                    authenticated: true, now: WallClock.milliseconds())
        session.db = database
        // It runs as the peer user, whatever the default user may do (docs/cluster.md).
        session.authenticate(as: server.acl.peerUser)
        return CommandDispatcher.submit(CommandArguments(bytes: words), as: session, server: server, on: loop)
    }

    /// `RESTORE key ttl payload [REPLACE]`: how a key of any type moves, with what is left of its
    /// TTL (ms; ≤ 0: none). Without REPLACE a key already there stays (`-BUSYKEY`, see
    /// ``isBusyKey(_:)``), as `SET … NX` would leave it.
    static func restoreWords(_ key: [UInt8], _ payload: ByteBuffer, ttl: Int, replace: Bool) -> [[UInt8]] {
        var words = [Array("RESTORE".utf8), key, Array(String(max(0, ttl)).utf8), Array(payload.readableBytesView)]
        if replace { words.append(Array("REPLACE".utf8)) }
        return words
    }

    /// Whether a reply is RESTORE's `-BUSYKEY`: the key exists there already, and that version wins.
    static func isBusyKey(_ reply: ByteBuffer) -> Bool {
        reply.readableBytesView.starts(with: "-BUSYKEY ".utf8)
    }
}

struct HandoffError: Error, CustomStringConvertible {
    var reason: String
    var description: String { reason }
}
