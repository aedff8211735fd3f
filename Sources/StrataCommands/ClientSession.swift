import NIOConcurrencyHelpers
import StrataRESP
import StrataStore
import Synchronization

/// A command queued by MULTI.
public struct QueuedCommand {
    public var spec: CommandSpec
    public var arguments: CommandArguments
}

/// Per-connection state.
///
/// Most fields belong to the connection's event loop and are touched only there. The few that
/// other connections read (CLIENT LIST, CLIENT KILL) are atomics or sit in ``shared``.
/// `@unchecked Sendable`: the registry hands sessions to other threads only to read those fields.
public final class ClientSession: @unchecked Sendable {
    public let id: Int
    public let address: String
    public let localAddress: String
    public let createdAt: Int64

    // Event-loop-only state.
    public var protocolVersion: RESPVersion = .resp2 {
        didSet { if protocolVersion != oldValue { pushes.setProtocol(resp3: protocolVersion == .resp3) } }
    }
    public var authenticated: Bool
    /// Inside MULTI: the queued commands; nil otherwise.
    public var transaction: [QueuedCommand]?
    /// A command queued in this MULTI was refused; EXEC must abort.
    public var transactionFailed = false
    public var watchToken: WatchToken?
    public var watchedKeys: [(database: Int, key: [UInt8], existedAlive: Bool)] = []
    /// Close the connection once the pending replies are written (QUIT, protocol errors).
    public var closeAfterReply = false
    /// Set when another node of the cluster opened this connection (it names itself with
    /// CLIENT SETNAME; the cluster module decides what each role may do); nil for clients.
    public var peerRole: PeerRole?
    /// Set while a blocking command (BLPOP…) of this client waits for a key: when it times out
    /// (Unix ms, 0 for never) and its place among the clients blocked on the same keys.
    public var blocked: (deadline: Int64, sequence: UInt64)?
    /// CLIENT TRACKING's options while it is on (see ``ClientTracker``); nil when off.
    public var tracking: TrackingOptions?
    /// CLIENT CACHING YES (OPTIN) or NO (OPTOUT) was given for the next command.
    public var trackingCaching = false
    /// The rules of its ACL user as last read (see ``ACLRegistry``).
    public var aclCache: ACLClientCache?
    /// CLIENT REPLY: whether the connection writes the replies of its commands.
    public var replyMode = ReplyMode.on

    // Readable from other threads.
    /// CLIENT UNBLOCK's request to a blocked client, taken by its next run of the blocking
    /// command: 0 none, 1 as a timeout, 2 with an error (``UnblockRequest``).
    public let unblockRequest = Synchronization.Atomic<Int>(0)
    public let database = Synchronization.Atomic<Int>(0)
    public let lastInteraction = Synchronization.Atomic<Int64>(0)
    public let lastCommandIndex = Synchronization.Atomic<Int>(-1)
    public let killed = Synchronization.Atomic<Bool>(false)
    /// Bytes received but not run yet (Redis's `qbuf`), kept by the connection.
    public let queryBufferBytes = Synchronization.Atomic<Int>(0)
    /// Bytes of replies not sent yet (Redis's `omem`), kept by the connection.
    public let outputBytes = Synchronization.Atomic<Int>(0)
    /// When `outputBytes` went over the soft `client-output-buffer-limit` (0: it is not over).
    public let softLimitSince = Synchronization.Atomic<Int64>(0)
    /// The ACL user it is authenticated as; nil for `default`. Written on its event loop (AUTH,
    /// HELLO AUTH, RESET), read from other threads (CLIENT LIST, ACL DELUSER).
    public let userHandle = NIOLockedValueBox<ACLUserHandle?>(nil)
    /// Its ACL user's name (CLIENT LIST's `user=`, ACL WHOAMI).
    public var userName: String { userHandle.withLockedValue { $0?.name ?? "default" } }
    /// CLIENT NO-EVICT ON: never disconnected by `maxmemory-clients`.
    public let noEvict = Synchronization.Atomic<Bool>(false)
    /// The last command looked up (CLIENT LIST's `cmd`), as the address of its row in the
    /// command table (0: none, or an unknown command). Rows live as long as the server.
    private let lastCommandRow = Synchronization.Atomic<UInt>(0)
    /// Name and library info: rarely written, read by CLIENT LIST.
    public let shared = NIOLockedValueBox(SharedInfo())
    /// Closes the connection from any thread (CLIENT KILL); set by the server layer.
    public var close: @Sendable () -> Void = {}
    /// The channels, patterns and shard channels it is subscribed to (see ``PubSubHub``).
    public let subscriptions = Subscriptions()
    /// Messages published to it, waiting for its event loop to write them.
    public let pushes = PushOutbox()
    /// Asks the connection's event loop to write what waits in `pushes`; callable from any
    /// thread. Set by the server layer before the session is registered.
    public var wakeForPushes: @Sendable () -> Void = {}

    public struct SharedInfo: Sendable {
        public var name = ""
        public var libraryName = ""
        public var libraryVersion = ""
    }

    /// The last command looked up for this connection, or nil (none yet, or unknown).
    /// Written on the connection's loop, read by CLIENT LIST anywhere.
    public var lastCommand: CommandSpec? {
        get {
            let bits = lastCommandRow.load(ordering: .relaxed)
            guard bits != 0, let pointer = UnsafeRawPointer(bitPattern: bits) else { return nil }
            return Unmanaged<CommandSpec>.fromOpaque(pointer).takeUnretainedValue()
        }
        set {
            let bits = newValue.map { UInt(bitPattern: Unmanaged.passUnretained($0).toOpaque()) } ?? 0
            lastCommandRow.store(bits, ordering: .relaxed)
        }
    }

    public init(id: Int, address: String, localAddress: String, authenticated: Bool, now: Int64) {
        self.id = id
        self.address = address
        self.localAddress = localAddress
        self.authenticated = authenticated
        self.createdAt = now
        self.lastInteraction.store(now, ordering: .relaxed)
    }

    /// The reply buffer a connection keeps between batches (a larger one is released).
    public static let replyBufferSize = 4096
    /// A connection's memory besides its buffers: the session, the handler, the channel and the
    /// reply buffer (an estimate; what Redis counts as the client struct and its `buf`).
    public static let fixedMemory = 8192

    /// What CLIENT LIST shows as `tot-mem`: the query buffer, the unsent replies and the fixed part.
    public var totalMemory: Int {
        queryBufferBytes.load(ordering: .relaxed) + unsentBytes + Self.fixedMemory
    }

    /// Replies and published messages not sent yet (CLIENT LIST's `omem`).
    public var unsentBytes: Int { outputBytes.load(ordering: .relaxed) + pushes.waitingBytes }

    @inline(__always)
    public var db: Int {
        get { database.load(ordering: .relaxed) }
        set { database.store(newValue, ordering: .relaxed) }
    }
}

/// CLIENT REPLY's modes.
public enum ReplyMode: Sendable {
    case on
    /// No replies until CLIENT REPLY ON.
    case off
    /// No reply for the next command.
    case skipNext
}

/// What another node of the cluster uses a connection for.
public enum PeerRole: Sendable {
    /// Commands it forwards for its clients.
    case forwarding
    /// A forwarded command it passes on once (never forwarded again).
    case relaying
    /// Keys it hands over, hands back or fetches.
    case movingKeys
    /// Messages published on it (PUBLISH, SPUBLISH), delivered here and not relayed again.
    case relayingMessages
}

/// All connected clients, by id.
public final class ClientRegistry: Sendable {
    private let sessions = NIOLockedValueBox<[Int: ClientSession]>([:])
    private let nextID = Synchronization.Atomic<Int>(1)

    public init() {}

    public func makeID() -> Int { nextID.wrappingAdd(1, ordering: .relaxed).oldValue }

    public func add(_ session: ClientSession) { sessions.withLockedValue { $0[session.id] = session } }
    public func remove(_ session: ClientSession) { _ = sessions.withLockedValue { $0.removeValue(forKey: session.id) } }
    public var all: [ClientSession] { sessions.withLockedValue { $0.values.sorted { $0.id < $1.id } } }
    public var count: Int { sessions.withLockedValue { $0.count } }
    public func session(id: Int) -> ClientSession? { sessions.withLockedValue { $0[id] } }
}

/// How CLIENT UNBLOCK releases a client blocked on keys.
public enum UnblockRequest: Int, Sendable {
    case none = 0
    /// As if its timeout had passed: a null reply.
    case timeout = 1
    /// With `-UNBLOCKED client unblocked via CLIENT UNBLOCK`.
    case error = 2
}
