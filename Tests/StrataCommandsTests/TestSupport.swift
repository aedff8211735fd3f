import NIOCore
import StrataCommands
import StrataConfig
import StrataRESP
import StrataStore
import Testing

/// The fixed wall-clock time at which every test starts (Unix milliseconds).
let t0: Int64 = 1_700_000_000_000

/// A server without sockets: a ``ServerContext`` whose clock the test moves by hand.
final class TestServer {
    let context: ServerContext
    var now: Int64 = t0

    init(_ configure: (inout Configuration) -> Void = { _ in }) {
        var configuration = Configuration()
        configure(&configuration)
        let keyspace = Keyspace(databases: configuration.databases, shardCount: 8, hasher: KeyHasher(seed: 7), now: t0)
        context = ServerContext(configuration: configuration, keyspace: keyspace, now: t0)
    }

    func client() -> TestClient { TestClient(self) }
}

/// One connection's session and command context, driven as the connection handler drives them.
final class TestClient {
    let server: TestServer
    let session: ClientSession
    private var context: CommandContext

    init(_ server: TestServer) {
        self.server = server
        session = ClientSession(id: server.context.clients.makeID(), address: "127.0.0.1:50000",
                                localAddress: "127.0.0.1:6379", authenticated: !server.context.requiresPassword,
                                now: server.now)
        server.context.clients.add(session)
        context = CommandContext(server: server.context, client: session, arguments: CommandArguments([String]()),
                                 reply: RESPReplyWriter(buffer: ByteBuffer()), now: server.now)
    }

    /// Runs one command and returns the bytes of its reply.
    func raw(_ words: [String]) -> String {
        context.arguments = CommandArguments(words)
        context.now = server.now
        CommandDispatcher.execute(&context)
        let text = String(buffer: context.reply.buffer)
        context.reply.buffer.clear()
        return text
    }

    func raw(_ words: String...) -> String { raw(words) }

    /// Runs one command whose arguments or reply are not all text (a DUMP payload…) and
    /// returns the bytes of its reply.
    func reply(bytes words: [[UInt8]]) -> [UInt8] {
        context.arguments = CommandArguments(bytes: words)
        context.now = server.now
        CommandDispatcher.execute(&context)
        let bytes = Array(context.reply.buffer.readableBytesView)
        context.reply.buffer.clear()
        return bytes
    }

    func raw(bytes words: [[UInt8]]) -> String { String(decoding: reply(bytes: words), as: UTF8.self) }

    /// Runs one command and decodes its reply, which must be exactly one RESP value.
    @discardableResult
    func call(_ words: [String], sourceLocation: SourceLocation = #_sourceLocation) -> RESPValue {
        var buffer = ByteBuffer(string: raw(words))
        do {
            guard let value = try RESPValueParser().parse(&buffer) else {
                Issue.record("incomplete reply to \(words)", sourceLocation: sourceLocation)
                return .null
            }
            if buffer.readableBytes != 0 {
                Issue.record("more than one reply to \(words): \(String(buffer: buffer))", sourceLocation: sourceLocation)
            }
            return value
        } catch {
            Issue.record("malformed reply to \(words): \(error)", sourceLocation: sourceLocation)
            return .null
        }
    }

    @discardableResult
    func call(_ words: String..., sourceLocation: SourceLocation = #_sourceLocation) -> RESPValue {
        call(words, sourceLocation: sourceLocation)
    }
}

let ok = RESPValue.simpleString("OK")
let queued = RESPValue.simpleString("QUEUED")
let notInteger = RESPValue.error("ERR value is not an integer or out of range")
let syntaxError = RESPValue.error("ERR syntax error")

func err(_ message: String) -> RESPValue { .error(message) }
func bulk(_ text: String) -> RESPValue { .bulk(text) }
func int(_ value: Int) -> RESPValue { .integer(value) }

extension RESPValue {
    /// A field of a map reply, in RESP3 (`%`) or RESP2 (flat array) form.
    subscript(field name: String) -> RESPValue? {
        switch self {
        case .map(let pairs):
            return pairs.first { $0.0.string == name }?.1
        case .array(let items) where items.count % 2 == 0:
            return stride(from: 0, to: items.count, by: 2).first { items[$0].string == name }.map { items[$0 + 1] }
        default:
            return nil
        }
    }

    var items: [RESPValue] {
        switch self {
        case .array(let items), .set(let items), .push(let items): return items
        default: return []
        }
    }
}
