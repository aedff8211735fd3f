import Synchronization

/// What a command is allowed to do and how it is treated before it runs.
public struct CommandFlags: OptionSet, Sendable {
    public let rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }

    /// Modifies the keyspace.
    public static let write = CommandFlags(rawValue: 1 << 0)
    /// Only reads the keyspace.
    public static let readonly = CommandFlags(rawValue: 1 << 1)
    /// May add memory: refused while over `maxmemory` when nothing can be evicted.
    public static let denyOOM = CommandFlags(rawValue: 1 << 2)
    public static let admin = CommandFlags(rawValue: 1 << 3)
    /// O(1) or O(log N).
    public static let fast = CommandFlags(rawValue: 1 << 4)
    /// Allowed before AUTH.
    public static let noAuth = CommandFlags(rawValue: 1 << 5)
    /// Runs at once inside MULTI instead of being queued.
    public static let noQueue = CommandFlags(rawValue: 1 << 6)
    /// Refused inside MULTI.
    public static let noMulti = CommandFlags(rawValue: 1 << 7)
    public static let loading = CommandFlags(rawValue: 1 << 8)
    public static let stale = CommandFlags(rawValue: 1 << 9)
    /// Output differs between calls with the same input (RANDOMKEY, TIME).
    public static let random = CommandFlags(rawValue: 1 << 10)
    /// Needs only keys and metadata, never a value: may run on keys whose value is only in L3.
    public static let keysOnly = CommandFlags(rawValue: 1 << 11)
    /// EXEC: runs the queued commands (their keys and writes count as its own).
    public static let exec = CommandFlags(rawValue: 1 << 12)
    /// Deletes its keys (DEL, UNLINK, GETDEL): a node that serves the keys for a node that is
    /// down remembers the deletion, to make on that node when it returns.
    public static let deletes = CommandFlags(rawValue: 1 << 13)
    /// Its effect does not depend on its keys' old values (SET without NX or XX, MSET, DEL…): a
    /// node may run it on a key it serves for a node that is down, without that key's value.
    public static let overwrites = CommandFlags(rawValue: 1 << 14)
    /// Acts on every key of a database (DBSIZE, KEYS, SCAN, RANDOMKEY, FLUSHDB, FLUSHALL, and
    /// INFO's keyspace section): in proxy mode, on every node of the ring, so that the ring
    /// answers as one server.
    public static let wholeKeyspace = CommandFlags(rawValue: 1 << 15)
    /// May wait for another client's write (BLPOP, BLMOVE, BZPOPMIN…): in proxy mode it is
    /// forwarded on a connection of its own, so that it holds up no other client's replies.
    public static let blocking = CommandFlags(rawValue: 1 << 16)
    /// Refused by a script's `redis.call` (Redis's `noscript`: MULTI, EVAL, blocking pops…).
    public static let noScript = CommandFlags(rawValue: 1 << 17)
    /// Served while a script runs past `busy-reply-threshold` (Redis's `allow_busy`).
    public static let allowBusy = CommandFlags(rawValue: 1 << 18)
    /// Runs other commands (EVAL, EVALSHA): treated as a write for L3 durability, since its
    /// writes are only known once it has run. Not shown by COMMAND INFO.
    public static let runsScripts = CommandFlags(rawValue: 1 << 19)
    /// Publishes or subscribes (Redis's `pubsub` flag).
    public static let pubsub = CommandFlags(rawValue: 1 << 20)

    /// The names COMMAND INFO reports.
    var names: [String] {
        var result: [String] = []
        if contains(.write) { result.append("write") }
        if contains(.readonly) { result.append("readonly") }
        if contains(.denyOOM) { result.append("denyoom") }
        if contains(.admin) { result.append("admin") }
        if contains(.pubsub) { result.append("pubsub") }
        if contains(.noScript) { result.append("noscript") }
        if contains(.noAuth) { result.append("no_auth") }
        if contains(.noMulti) { result.append("no_multi") }
        if contains(.loading) { result.append("loading") }
        if contains(.stale) { result.append("stale") }
        if contains(.fast) { result.append("fast") }
        if contains(.blocking) { result.append("blocking") }
        if contains(.allowBusy) { result.append("allow_busy") }
        return result
    }
}

/// A command implementation: reads `context.arguments`, writes one reply to `context.reply`.
public typealias CommandHandler = @Sendable (inout CommandContext) -> Void

/// One row of the command table: everything the dispatcher and COMMAND INFO/DOCS need.
///
/// A class, so that handing a command around on the hot path costs one reference count, not
/// one per string field.
public final class CommandSpec: Sendable {
    /// Lower-case name; `parent|sub` for subcommands.
    public let name: String
    /// Redis's convention: N means exactly N arguments (the name included), -N at least N.
    public let arity: Int
    public let flags: CommandFlags
    /// Key positions (1-based, 0 when none; a negative last counts from the end).
    public let firstKey: Int
    public let lastKey: Int
    public let keyStep: Int
    /// For commands whose keys are counted by an argument (ZUNIONSTORE, LMPOP, SINTERCARD…):
    /// the position of that count; the keys follow it. 0 otherwise. A key before the count
    /// (ZUNIONSTORE's destination) is given by `firstKey`.
    public let numKeysAt: Int
    /// One-line description, the Redis version it appeared in, and its group, for COMMAND DOCS.
    public let summary: String
    public let since: String
    public let group: String
    public let complexity: String
    /// The argument syntax after the name, as Redis's documentation writes it, e.g.
    /// `key value [NX | XX] [EX seconds | PX milliseconds]`; parsed for COMMAND DOCS hints.
    public let syntax: String
    public let handler: CommandHandler?
    public let subcommands: [CommandSpec]
    /// A number of its own, given when the spec is made: where ``CommandRecorder`` keeps its
    /// counters (below ``indexCount``).
    public let statsIndex: Int
    private static let nextIndex = Synchronization.Atomic<Int>(0)
    /// How many specs have been made so far.
    public static var indexCount: Int { nextIndex.load(ordering: .relaxed) }

    public init(
        _ name: String, arity: Int, flags: CommandFlags, keys: (Int, Int, Int) = (0, 0, 0), numKeysAt: Int = 0,
        group: String, since: String, complexity: String = "O(1)", summary: String, syntax: String = "",
        subcommands: [CommandSpec] = [], handler: CommandHandler?
    ) {
        self.name = name
        self.arity = arity
        self.flags = flags
        self.firstKey = keys.0
        self.lastKey = keys.1
        self.keyStep = keys.2
        self.numKeysAt = numKeysAt
        self.group = group
        self.since = since
        self.complexity = complexity
        self.summary = summary
        self.syntax = syntax
        self.subcommands = subcommands
        self.handler = handler
        self.statsIndex = CommandSpec.nextIndex.wrappingAdd(1, ordering: .relaxed).oldValue
    }

    /// The same command with `extra` flags on it and on those of its subcommands whose names
    /// are in `names` (used to mark Redis's `noscript` and `allow_busy` commands by name).
    func adding(_ extra: CommandFlags, toNames names: Set<String>) -> CommandSpec {
        let subs = subcommands.map { $0.adding(extra, toNames: names) }
        let mine = names.contains(name)
        guard mine || zip(subs, subcommands).contains(where: { $0 !== $1 }) else { return self }
        return CommandSpec(name, arity: arity, flags: mine ? flags.union(extra) : flags, keys: (firstKey, lastKey, keyStep),
                           numKeysAt: numKeysAt, group: group, since: since, complexity: complexity, summary: summary,
                           syntax: syntax, subcommands: subs, handler: handler)
    }

    /// Whether `count` arguments (name included) satisfy the arity.
    @inline(__always)
    public func acceptsArgumentCount(_ count: Int) -> Bool {
        arity >= 0 ? count == arity : count >= -arity
    }

    /// Whether the command names any key.
    @inline(__always)
    public var hasKeys: Bool { firstKey > 0 || numKeysAt > 0 }

    /// Whether the command names exactly one key, at `firstKey`.
    @inline(__always)
    public var isSingleKey: Bool { firstKey > 0 && lastKey == firstKey && numKeysAt == 0 }

    /// The positions of keys among `arguments`.
    public func keyPositions(_ arguments: CommandArguments) -> [Int] {
        let argumentCount = arguments.count
        if numKeysAt > 0 {
            var positions = firstKey > 0 && firstKey < numKeysAt ? [firstKey] : []
            guard numKeysAt < argumentCount, let n = arguments.integer(numKeysAt), n > 0 else { return positions }
            // n comes from the client and may be as large as Int.max: compare before adding.
            let last = n >= argumentCount - numKeysAt ? argumentCount - 1 : numKeysAt + n
            if last > numKeysAt { positions += Array(numKeysAt + 1...last) }
            return positions
        }
        guard firstKey > 0 else { return [] }
        let last = lastKey < 0 ? argumentCount + lastKey : lastKey
        guard last >= firstKey else { return [] }
        return Array(stride(from: firstKey, through: min(last, argumentCount - 1), by: max(1, keyStep)))
    }
}

/// Finds commands by name, case-insensitively and without allocating.
///
/// Names are folded to lower case into a fixed stack buffer and hashed; the table is an
/// open-addressed array built once from ``CommandTable/all``.
public struct CommandLookup: Sendable {
    private let slots: [CommandSpec?]
    private let mask: Int
    public let commands: [CommandSpec]

    public init(_ commands: [CommandSpec]) {
        self.commands = commands
        var size = 16
        while size < commands.count * 4 { size *= 2 }
        var slots = [CommandSpec?](repeating: nil, count: size)
        for command in commands {
            var index = CommandLookup.hash(Array(command.name.utf8)) & (size - 1)
            while slots[index] != nil { index = (index + 1) & (size - 1) }
            slots[index] = command
        }
        self.slots = slots
        self.mask = size - 1
    }

    @inline(__always)
    static func fold(_ c: UInt8) -> UInt8 { c >= UInt8(ascii: "A") && c <= UInt8(ascii: "Z") ? c | 0x20 : c }

    static func hash(_ bytes: [UInt8]) -> Int { bytes.withUnsafeBytes { hash($0) } }

    @inline(__always)
    static func hash(_ bytes: UnsafeRawBufferPointer) -> Int {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for b in bytes { h = (h ^ UInt64(fold(b))) &* 0x100_0000_01b3 }
        return Int(truncatingIfNeeded: h ^ (h >> 32))
    }

    /// The command named by `name` in any case, or nil.
    @inline(__always)
    public func find(_ name: UnsafeRawBufferPointer) -> CommandSpec? {
        guard name.count <= 32 else { return nil }
        var index = CommandLookup.hash(name) & mask
        while let candidate = slots[index] {
            if CommandLookup.equalFolded(candidate.name, name) { return candidate }
            index = (index + 1) & mask
        }
        return nil
    }

    public func find(_ name: String) -> CommandSpec? {
        var name = name
        return name.withUTF8 { find(UnsafeRawBufferPointer($0)) }
    }

    @inline(__always)
    static func equalFolded(_ lowerName: String, _ bytes: UnsafeRawBufferPointer) -> Bool {
        var lowerName = lowerName
        return lowerName.withUTF8 { stored in
            guard stored.count == bytes.count else { return false }
            for i in 0..<stored.count where stored[i] != fold(bytes[i]) { return false }
            return true
        }
    }
}
