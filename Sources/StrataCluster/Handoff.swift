import NIOCore
import StrataCommands
import StrataRESP

/// Hands keys over when this node stops owning their slots (a node joined, or a node that was
/// down came back): each such key is written to its new owner with `SET … NX` (a value written
/// there since wins) and keeps its TTL, then deleted here. Runs on the health loop, one SCAN
/// batch at a time, through the ordinary command handlers.
final class Handoff: @unchecked Sendable {
    private let router: ClusterRouter
    private let server: ServerContext
    private let loop: any EventLoop
    private let session: ClientSession
    private var running = false
    private var again = false
    private let parser = RESPValueParser(limits: RESPLimits(maxBulkLength: Int(Int32.max), maxMultibulkLength: Int(Int32.max)))

    init(router: ClusterRouter, server: ServerContext, loop: any EventLoop) {
        self.router = router
        self.server = server
        self.loop = loop
        self.session = ClientSession(id: 0, address: "cluster-handoff", localAddress: "", authenticated: true,
                                     now: WallClock.milliseconds())
    }

    /// Starts a pass, or schedules another after the one running.
    func trigger() {
        loop.execute { [self] in
            if running { again = true; return }
            running = true
            pass(database: 0, cursor: "0", moved: 0)
        }
    }

    /// Runs a command here and decodes its reply.
    private func local(_ words: [[UInt8]], database: Int) -> RESPValue? {
        guard let spec = server.commands.find(String(decoding: words[0], as: UTF8.self)) else { return nil }
        session.db = database
        var context = CommandContext(server: server, client: session, arguments: CommandArguments(bytes: words),
                                     reply: RESPReplyWriter(buffer: ByteBuffer()), now: WallClock.milliseconds())
        context.command = spec
        spec.handler?(&context)
        var buffer = context.reply.buffer
        return try? parser.parse(&buffer)
    }

    private func pass(database: Int, cursor: String, moved: Int) {
        guard database < server.configuration.databases else {
            running = false
            if moved > 0 { router.logHandoff(moved) }
            if again { again = false; trigger() }
            return
        }
        guard case .array(let page)? = local([Array("SCAN".utf8), Array(cursor.utf8), Array("COUNT".utf8), Array("512".utf8)],
                                             database: database),
              page.count == 2, let next = page[0].string, case .array(let keys) = page[1] else {
            running = false
            return
        }
        let (view, pool) = router.handoffView(on: loop)
        var sends: [EventLoopFuture<(key: [UInt8], ok: Bool)>] = []
        for case .bulkString(let keyBuffer) in keys {
            let key = Array(keyBuffer.readableBytesView)
            let owner = Int(view.owners[HashSlot.slot(key)])
            guard owner != view.selfIndex, owner != Int(HashRing.noOwner),
                  case .bulkString(let value)? = local([Array("GET".utf8), key], database: database),
                  case .integer(let ttl)? = local([Array("PTTL".utf8), key], database: database), ttl != -2 else { continue }
            var words: [[UInt8]] = [Array("SET".utf8), key, Array(value.readableBytesView), Array("NX".utf8)]
            if ttl > 0 { words += [Array("PX".utf8), Array(String(ttl).utf8)] }
            let link = pool.link(to: view.nodes[owner], resp3: false, password: router.password,
                                 timeout: .milliseconds(Int64(router.nodeTimeout)))
            sends.append(link.send(ClusterRouter.encode(CommandArguments(bytes: words)), database: database)
                .map { reply in (key, reply.readableBytesView.first != UInt8(ascii: "-")) }
                .recover { _ in (key, false) })
        }
        EventLoopFuture.whenAllSucceed(sends, on: loop).whenComplete { [self] result in
            var count = moved
            if case .success(let results) = result {
                for (key, ok) in results where ok {
                    _ = local([Array("DEL".utf8), key], database: database)
                    count += 1
                }
            }
            if next == "0" {
                pass(database: database + 1, cursor: "0", moved: count)
            } else {
                pass(database: database, cursor: next, moved: count)
            }
        }
    }
}
