import StrataStore

/// Every setting of a Strata server, with Redis's defaults.
public struct Configuration: Sendable, Equatable {
    public var port = 6379
    public var bind = ["127.0.0.1"]
    public var dir = "./data"
    public var requirePass = ""
    /// `aclfile`: the users' file (ACL LOAD and SAVE), loaded at startup; empty: none.
    public var aclFile = ""
    /// `protected-mode`: with no password, refuse clients that are not on the loopback interface.
    public var protectedMode = true
    public var databases = 16
    public var maxClients = 10000
    /// Close a client idle this many seconds; 0 never.
    public var timeout = 0
    public var logLevel = LogLevel.notice
    public var protoMaxBulkLength = 512 * 1024 * 1024
    public var clientQueryBufferLimit = 1024 * 1024 * 1024
    /// Unsent replies beyond which a client is disconnected, per class of client.
    public var clientOutputBufferLimit = OutputBufferLimits()
    /// `notify-keyspace-events`: which keyspace notifications are published (none by default).
    public var notifyKeyspaceEvents = KeyspaceEventFlags()
    /// Memory of all client connections together beyond which the largest are disconnected.
    public var maxMemoryClients = MaxMemoryClients.bytes(0)
    /// Bytes of memory for L1 + L2; 0 is unlimited.
    public var maxMemory = 0
    public var maxMemoryPolicy = EvictionPolicy.allkeysLRU
    /// Percentage of `maxmemory` reserved for L1 (hot).
    public var l1Share = 20
    /// Active expiry cycles per second (Redis's `hz`).
    public var hz = 10
    /// Accepted and reported for clients that read them; Strata's durability is its L3 tier.
    public var save = ""
    public var appendOnly = false
    /// Event loop threads; 0 means one per core.
    public var ioThreads = 0
    /// Whether the L3 (SQLite) tier is on.
    public var persistence = true
    /// L3 durability (like `appendfsync`).
    public var l3Fsync = L3Fsync.everysec
    public var l3BatchMax = 10_000
    public var l3FlushInterval = 100
    public var l3QueueMax = 200_000
    /// The L3 database file, inside `dir`.
    public var l3File = "strata.db"
    /// Every node of the cluster, this one included; empty for a standalone node.
    public var clusterNodes: [ClusterNodeAddress] = []
    /// How a node treats a key it does not own.
    public var clusterMode = ClusterMode.proxy
    /// `host:port` by which this node appears in `cluster-nodes`; empty: found by `bind`/`port`.
    public var clusterAnnounce = ""
    /// Milliseconds without a reply after which a peer is marked down.
    public var clusterNodeTimeout = 2000
    /// Milliseconds a script may run before other clients get `-BUSY` and SCRIPT KILL may stop
    /// it (`busy-reply-threshold`, alias `lua-time-limit`); 0 never.
    public var busyReplyThreshold = 5000
    /// Most keys the client-tracking table remembers (`tracking-table-max-keys`); past it, keys
    /// are invalidated to make room. 0: no limit.
    public var trackingTableMaxKeys = 1_000_000
    /// Commands taking at least this many microseconds go to the slow log; negative: none, 0: all.
    public var slowlogLogSlowerThan = 10_000
    /// Entries the slow log keeps.
    public var slowlogMaxLength = 128
    /// Milliseconds from which a command (or a Strata event) is a latency-monitor sample; 0: off.
    public var latencyMonitorThreshold = 0
    /// Whether each command's latency histogram is kept (INFO latencystats, LATENCY HISTOGRAM).
    public var latencyTracking = true
    /// The percentiles INFO latencystats shows.
    public var latencyTrackingInfoPercentiles: [Double] = [50, 99, 99.9]

    public init() {}

    public enum LogLevel: String, Sendable, CaseIterable {
        case debug, verbose, notice, warning, nothing
    }

    /// When the L3 tier fsyncs its commits (Redis's `appendfsync` values).
    public enum L3Fsync: String, Sendable, CaseIterable {
        /// Before a write's reply is sent.
        case always
        /// Once a second.
        case everysec
        /// When the operating system decides.
        case no
    }

    /// `maxmemory-clients`: a number of bytes, or a percentage of `maxmemory`; 0 is no limit.
    public enum MaxMemoryClients: Sendable, Equatable, CustomStringConvertible {
        case bytes(Int)
        case percentOfMaxMemory(Int)

        public static func parse(_ text: String) -> MaxMemoryClients? {
            if text.hasSuffix("%") {
                guard let n = Int(text.dropLast()), (1...100).contains(n) else { return nil }
                return .percentOfMaxMemory(n)
            }
            return MemoryUnits.parse(text).map { .bytes($0) }
        }

        /// The limit in bytes (0: none).
        public func limit(maxMemory: Int) -> Int {
            switch self {
            case .bytes(let n): n
            case .percentOfMaxMemory(let p): maxMemory / 100 * p
            }
        }

        public var description: String {
            switch self {
            case .bytes(let n): String(n)
            case .percentOfMaxMemory(let p): "\(p)%"
            }
        }
    }

    /// How a node treats a key it does not own.
    public enum ClusterMode: String, Sendable, CaseIterable {
        /// Forwards the command to the owner and relays its reply.
        case proxy
        /// Answers `-MOVED slot host:port`, as Redis Cluster does.
        case redirect
    }
}

/// `notify-keyspace-events`: the classes of keyspace events published, and on which channels
/// (`K`: `__keyspace@<db>__:<key>`, `E`: `__keyevent@<db>__:<event>`), as Redis 7.0 spells them.
public struct KeyspaceEventFlags: OptionSet, Sendable, Equatable, CustomStringConvertible {
    public let rawValue: UInt16
    public init(rawValue: UInt16) { self.rawValue = rawValue }

    public static let keyspace = KeyspaceEventFlags(rawValue: 1 << 0)   // K
    public static let keyevent = KeyspaceEventFlags(rawValue: 1 << 1)   // E
    public static let generic = KeyspaceEventFlags(rawValue: 1 << 2)    // g
    public static let string = KeyspaceEventFlags(rawValue: 1 << 3)     // $
    public static let list = KeyspaceEventFlags(rawValue: 1 << 4)       // l
    public static let set = KeyspaceEventFlags(rawValue: 1 << 5)        // s
    public static let hash = KeyspaceEventFlags(rawValue: 1 << 6)       // h
    public static let zset = KeyspaceEventFlags(rawValue: 1 << 7)       // z
    public static let expired = KeyspaceEventFlags(rawValue: 1 << 8)    // x
    public static let evicted = KeyspaceEventFlags(rawValue: 1 << 9)    // e
    public static let stream = KeyspaceEventFlags(rawValue: 1 << 10)    // t
    public static let keyMiss = KeyspaceEventFlags(rawValue: 1 << 11)   // m
    public static let module = KeyspaceEventFlags(rawValue: 1 << 12)    // d
    public static let new = KeyspaceEventFlags(rawValue: 1 << 13)       // n
    /// `A`: every class but key misses and new keys.
    public static let all: KeyspaceEventFlags = [.generic, .string, .list, .set, .hash, .zset, .expired, .evicted,
                                                 .stream, .module]

    /// Whether any event would be published: a class, and a channel kind to publish it on.
    public var publishesAny: Bool { !isDisjoint(with: [.keyspace, .keyevent]) && rawValue & ~0b11 != 0 }

    private static let letters: [(Character, KeyspaceEventFlags)] = [
        ("g", .generic), ("$", .string), ("l", .list), ("s", .set), ("h", .hash), ("z", .zset), ("x", .expired),
        ("e", .evicted), ("t", .stream), ("d", .module), ("n", .new),
    ]

    /// Parses Redis's letters; nil for an unknown one.
    public static func parse(_ text: String) -> KeyspaceEventFlags? {
        var flags = KeyspaceEventFlags()
        for character in text {
            switch character {
            case "A": flags.formUnion(.all)
            case "K": flags.insert(.keyspace)
            case "E": flags.insert(.keyevent)
            case "m": flags.insert(.keyMiss)
            default:
                guard let flag = letters.first(where: { $0.0 == character })?.1 else { return nil }
                flags.insert(flag)
            }
        }
        return flags
    }

    /// As Redis 7.0 prints it: `A` when every class of `A` is on (and then, as Redis does, no
    /// `n`), else the class letters; then `K`, `E` and `m`.
    public var description: String {
        var text = ""
        if isSuperset(of: .all) {
            text = "A"
        } else {
            for (letter, flag) in Self.letters where contains(flag) { text.append(letter) }
        }
        if contains(.keyspace) { text += "K" }
        if contains(.keyevent) { text += "E" }
        if contains(.keyMiss) { text += "m" }
        return text
    }
}

/// One class's `client-output-buffer-limit`: past `hard` bytes of unsent replies a client is
/// disconnected at once; past `soft` for `softSeconds` in a row, too. 0 disables a limit.
public struct OutputBufferLimit: Sendable, Equatable {
    public var hard: Int
    public var soft: Int
    public var softSeconds: Int
    public init(hard: Int, soft: Int, softSeconds: Int) {
        self.hard = hard
        self.soft = soft
        self.softSeconds = softSeconds
    }
}

/// `client-output-buffer-limit` for Redis's three classes of clients, with Redis's defaults.
/// Strata has no replicas; the `replica` (`slave`) class is accepted and shown for clients that
/// set it. The `pubsub` class applies to clients once they subscribe.
public struct OutputBufferLimits: Sendable, Equatable, CustomStringConvertible {
    public var normal = OutputBufferLimit(hard: 0, soft: 0, softSeconds: 0)
    public var replica = OutputBufferLimit(hard: 256 << 20, soft: 64 << 20, softSeconds: 60)
    public var pubsub = OutputBufferLimit(hard: 32 << 20, soft: 8 << 20, softSeconds: 60)

    public init() {}

    /// Applies `class hard soft seconds [class hard soft seconds ...]` over these limits (the
    /// classes not named keep theirs), with Redis's error texts.
    public func applying(_ text: String) -> Result<OutputBufferLimits, ConfigurationError> {
        let words = text.split(separator: " ").map(String.init)
        func failure(_ reason: String) -> Result<OutputBufferLimits, ConfigurationError> {
            .failure(ConfigurationError(directive: "client-output-buffer-limit", reason: reason))
        }
        guard !words.isEmpty, words.count % 4 == 0 else {
            return failure("Wrong number of arguments in buffer limit configuration.")
        }
        var result = self
        for start in stride(from: 0, to: words.count, by: 4) {
            guard let hard = MemoryUnits.parse(words[start + 1]), let soft = MemoryUnits.parse(words[start + 2]),
                  let seconds = Int(words[start + 3]), seconds >= 0 else {
                return failure("Error in hard, soft or soft_seconds setting in buffer limit configuration.")
            }
            let limit = OutputBufferLimit(hard: hard, soft: soft, softSeconds: seconds)
            switch words[start].lowercased() {
            case "normal": result.normal = limit
            case "replica", "slave": result.replica = limit
            case "pubsub": result.pubsub = limit
            default: return failure("Invalid client class specified in buffer limit configuration.")
            }
        }
        return .success(result)
    }

    public var description: String {
        [("normal", normal), ("slave", replica), ("pubsub", pubsub)]
            .map { "\($0.0) \($0.1.hard) \($0.1.soft) \($0.1.softSeconds)" }.joined(separator: " ")
    }
}

/// A directive that could not be applied, with a message naming it.
public struct ConfigurationError: Error, Equatable, Sendable, CustomStringConvertible {
    public var directive: String
    public var reason: String
    public init(directive: String, reason: String) {
        self.directive = directive
        self.reason = reason
    }
    public var description: String { "'\(directive)': \(reason)" }
}

/// One configuration directive: its name, how its value is parsed and printed, and whether
/// CONFIG SET may change it while the server runs. The table below is the only list of directives.
public struct Directive: Sendable {
    public enum Kind: Sendable {
        case integer(ClosedRange<Int>)
        case memory(ClosedRange<Int>)
        case boolean
        case choice([String])
        case string
        case list
        /// Free text checked by a parser that returns the reason it is invalid, or nil.
        case validated(@Sendable (String) -> String?)
    }

    public let name: String
    public let kind: Kind
    public let mutable: Bool
    let get: @Sendable (Configuration) -> String
    let set: @Sendable (inout Configuration, String) -> Void

    /// Parses `value` and stores it in `configuration`.
    public func apply(_ value: String, to configuration: inout Configuration) throws(ConfigurationError) {
        let normalized: String
        switch kind {
        case .integer(let range):
            // Redis's CONFIG SET wording, so that clients see the same errors.
            guard let n = Int(value) else {
                throw ConfigurationError(directive: name, reason: "argument couldn't be parsed into an integer")
            }
            guard range.contains(n) else {
                throw ConfigurationError(directive: name, reason: "argument must be between \(range.lowerBound) and \(range.upperBound) inclusive")
            }
            normalized = String(n)
        case .memory(let range):
            guard let n = MemoryUnits.parse(value) else {
                throw ConfigurationError(directive: name, reason: "argument must be a memory value")
            }
            guard range.contains(n) else {
                throw ConfigurationError(directive: name, reason: "argument must be between \(range.lowerBound) and \(range.upperBound) inclusive")
            }
            normalized = String(n)
        case .boolean:
            switch value.lowercased() {
            case "yes": normalized = "yes"
            case "no": normalized = "no"
            default: throw ConfigurationError(directive: name, reason: "argument must be 'yes' or 'no'")
            }
        case .choice(let options):
            guard options.contains(value.lowercased()) else {
                throw ConfigurationError(directive: name, reason: "argument(s) must be one of the following: \(options.joined(separator: ", "))")
            }
            normalized = value.lowercased()
        case .string, .list:
            normalized = value
        case .validated(let check):
            if let reason = check(value) { throw ConfigurationError(directive: name, reason: reason) }
            normalized = value
        }
        set(&configuration, normalized)
    }

    public func value(in configuration: Configuration) -> String { get(configuration) }
}

extension Configuration {
    /// Every directive Strata knows, in the order CONFIG GET * lists them.
    public static let directives: [Directive] = [
        Directive(name: "port", kind: .integer(0...65535), mutable: false,
                  get: { String($0.port) }, set: { $0.port = Int($1)! }),
        Directive(name: "bind", kind: .list, mutable: false,
                  get: { $0.bind.joined(separator: " ") },
                  set: { $0.bind = $1.split(separator: " ").map(String.init) }),
        Directive(name: "dir", kind: .string, mutable: false,
                  get: { $0.dir }, set: { $0.dir = $1 }),
        Directive(name: "requirepass", kind: .string, mutable: true,
                  get: { $0.requirePass }, set: { $0.requirePass = $1 }),
        Directive(name: "aclfile", kind: .string, mutable: false,
                  get: { $0.aclFile }, set: { $0.aclFile = $1 }),
        Directive(name: "protected-mode", kind: .boolean, mutable: true,
                  get: { $0.protectedMode ? "yes" : "no" }, set: { $0.protectedMode = $1 == "yes" }),
        Directive(name: "databases", kind: .integer(1...256), mutable: false,
                  get: { String($0.databases) }, set: { $0.databases = Int($1)! }),
        Directive(name: "maxclients", kind: .integer(1...1_000_000), mutable: true,
                  get: { String($0.maxClients) }, set: { $0.maxClients = Int($1)! }),
        Directive(name: "timeout", kind: .integer(0...Int(Int32.max)), mutable: true,
                  get: { String($0.timeout) }, set: { $0.timeout = Int($1)! }),
        Directive(name: "loglevel", kind: .choice(LogLevel.allCases.map(\.rawValue)), mutable: true,
                  get: { $0.logLevel.rawValue }, set: { $0.logLevel = LogLevel(rawValue: $1)! }),
        Directive(name: "proto-max-bulk-len", kind: .memory((1024 * 1024)...Int(Int64.max)), mutable: true,
                  get: { String($0.protoMaxBulkLength) }, set: { $0.protoMaxBulkLength = Int($1)! }),
        Directive(name: "client-query-buffer-limit", kind: .memory((1024 * 1024)...Int(Int64.max)), mutable: true,
                  get: { String($0.clientQueryBufferLimit) }, set: { $0.clientQueryBufferLimit = Int($1)! }),
        Directive(name: "notify-keyspace-events",
                  kind: .validated({
                      KeyspaceEventFlags.parse($0) == nil ? "Invalid event class character. Use 'Ag$lshzxeKEtmdn'." : nil
                  }), mutable: true,
                  get: { $0.notifyKeyspaceEvents.description },
                  set: { $0.notifyKeyspaceEvents = KeyspaceEventFlags.parse($1) ?? [] }),
        Directive(name: "client-output-buffer-limit",
                  kind: .validated({ text in
                      if case .failure(let error) = OutputBufferLimits().applying(text) { return error.reason }
                      return nil
                  }), mutable: true,
                  get: { $0.clientOutputBufferLimit.description },
                  set: { configuration, text in
                      if case .success(let limits) = configuration.clientOutputBufferLimit.applying(text) {
                          configuration.clientOutputBufferLimit = limits
                      }
                  }),
        Directive(name: "maxmemory-clients",
                  kind: .validated({ MaxMemoryClients.parse($0) == nil ? "argument must be a memory or percent value" : nil }),
                  mutable: true, get: { $0.maxMemoryClients.description },
                  set: { configuration, text in
                      if let limit = MaxMemoryClients.parse(text) { configuration.maxMemoryClients = limit }
                  }),
        Directive(name: "maxmemory", kind: .memory(0...Int(Int64.max)), mutable: true,
                  get: { String($0.maxMemory) }, set: { $0.maxMemory = Int($1)! }),
        Directive(name: "maxmemory-policy", kind: .choice(EvictionPolicy.allCases.map(\.rawValue)), mutable: true,
                  get: { $0.maxMemoryPolicy.rawValue }, set: { $0.maxMemoryPolicy = EvictionPolicy(rawValue: $1)! }),
        Directive(name: "l1-share", kind: .integer(1...90), mutable: true,
                  get: { String($0.l1Share) }, set: { $0.l1Share = Int($1)! }),
        Directive(name: "hz", kind: .integer(1...500), mutable: true,
                  get: { String($0.hz) }, set: { $0.hz = Int($1)! }),
        Directive(name: "busy-reply-threshold", kind: .integer(0...Int(Int64.max)), mutable: true,
                  get: { String($0.busyReplyThreshold) }, set: { $0.busyReplyThreshold = Int($1)! }),
        Directive(name: "tracking-table-max-keys", kind: .integer(0...Int(Int64.max)), mutable: true,
                  get: { String($0.trackingTableMaxKeys) }, set: { $0.trackingTableMaxKeys = Int($1)! }),
        Directive(name: "lua-time-limit", kind: .integer(0...Int(Int64.max)), mutable: true,
                  get: { String($0.busyReplyThreshold) }, set: { $0.busyReplyThreshold = Int($1)! }),
        Directive(name: "save", kind: .string, mutable: true,
                  get: { $0.save }, set: { $0.save = $1 }),
        Directive(name: "appendonly", kind: .choice(["no"]), mutable: true,
                  get: { $0.appendOnly ? "yes" : "no" }, set: { $0.appendOnly = $1 == "yes" }),
        Directive(name: "persistence", kind: .boolean, mutable: false,
                  get: { $0.persistence ? "yes" : "no" }, set: { $0.persistence = $1 == "yes" }),
        Directive(name: "l3-fsync", kind: .choice(L3Fsync.allCases.map(\.rawValue)), mutable: true,
                  get: { $0.l3Fsync.rawValue }, set: { $0.l3Fsync = L3Fsync(rawValue: $1)! }),
        Directive(name: "l3-batch-max", kind: .integer(1...1_000_000), mutable: true,
                  get: { String($0.l3BatchMax) }, set: { $0.l3BatchMax = Int($1)! }),
        Directive(name: "l3-flush-interval", kind: .integer(1...10_000), mutable: true,
                  get: { String($0.l3FlushInterval) }, set: { $0.l3FlushInterval = Int($1)! }),
        Directive(name: "l3-queue-max", kind: .integer(1000...100_000_000), mutable: true,
                  get: { String($0.l3QueueMax) }, set: { $0.l3QueueMax = Int($1)! }),
        Directive(name: "l3-file", kind: .string, mutable: false,
                  get: { $0.l3File }, set: { $0.l3File = $1 }),
        Directive(name: "io-threads", kind: .integer(0...128), mutable: false,
                  get: { String($0.ioThreads) }, set: { $0.ioThreads = Int($1)! }),
        Directive(name: "cluster-nodes", kind: .validated({ ClusterNodeAddress.parseList($0).failure }), mutable: true,
                  get: { $0.clusterNodes.map(\.description).joined(separator: ",") },
                  set: { $0.clusterNodes = (try? ClusterNodeAddress.parseList($1).get()) ?? [] }),
        Directive(name: "cluster-mode", kind: .choice(ClusterMode.allCases.map(\.rawValue)), mutable: false,
                  get: { $0.clusterMode.rawValue }, set: { $0.clusterMode = ClusterMode(rawValue: $1)! }),
        Directive(name: "cluster-announce", kind: .validated({ $0.isEmpty ? nil : ClusterNodeAddress.parse($0).failure }),
                  mutable: false, get: { $0.clusterAnnounce }, set: { $0.clusterAnnounce = $1 }),
        Directive(name: "cluster-node-timeout", kind: .integer(10...3_600_000), mutable: true,
                  get: { String($0.clusterNodeTimeout) }, set: { $0.clusterNodeTimeout = Int($1)! }),
        Directive(name: "slowlog-log-slower-than", kind: .integer(-1...Int(Int64.max)), mutable: true,
                  get: { String($0.slowlogLogSlowerThan) }, set: { $0.slowlogLogSlowerThan = Int($1)! }),
        Directive(name: "slowlog-max-len", kind: .integer(0...Int(Int64.max)), mutable: true,
                  get: { String($0.slowlogMaxLength) }, set: { $0.slowlogMaxLength = Int($1)! }),
        Directive(name: "latency-monitor-threshold", kind: .integer(0...Int(Int64.max)), mutable: true,
                  get: { String($0.latencyMonitorThreshold) }, set: { $0.latencyMonitorThreshold = Int($1)! }),
        Directive(name: "latency-tracking", kind: .boolean, mutable: true,
                  get: { $0.latencyTracking ? "yes" : "no" }, set: { $0.latencyTracking = $1 == "yes" }),
        Directive(name: "latency-tracking-info-percentiles",
                  kind: .validated({ text in
                      if case .failure(let error) = Percentiles.parse(text) { return error.reason }
                      return nil
                  }), mutable: true,
                  get: { Percentiles.format($0.latencyTrackingInfoPercentiles) },
                  set: { $0.latencyTrackingInfoPercentiles = (try? Percentiles.parse($1).get()) ?? [] }),
    ]

    public static func directive(named name: String) -> Directive? {
        let lowered = name.lowercased()
        return directives.first { $0.name == lowered }
    }
}

/// Sizes written as Redis writes them: `1k` = 1000, `1kb` = 1024, `1m`, `1mb`, `1g`, `1gb`.
public enum MemoryUnits {
    public static func parse(_ text: String) -> Int? {
        let lowered = text.lowercased()
        let units: [(String, Int)] = [("gb", 1 << 30), ("mb", 1 << 20), ("kb", 1 << 10),
                                      ("g", 1_000_000_000), ("m", 1_000_000), ("k", 1000), ("b", 1)]
        for (suffix, multiplier) in units where lowered.hasSuffix(suffix) {
            guard let n = Int(lowered.dropLast(suffix.count)), n >= 0 else { return nil }
            let (product, overflow) = n.multipliedReportingOverflow(by: multiplier)
            return overflow ? nil : product
        }
        guard let n = Int(lowered), n >= 0 else { return nil }
        return n
    }
}

/// `latency-tracking-info-percentiles`: numbers from 0 to 100, separated by spaces (none is
/// allowed), printed as Redis prints them (`%f` without its trailing zeros).
public enum Percentiles {
    public static func parse(_ text: String) -> Result<[Double], ConfigurationError> {
        var values: [Double] = []
        for word in text.split(separator: " ") {
            guard let value = Double(word), value.isFinite else {
                return .failure(ConfigurationError(directive: "latency-tracking-info-percentiles",
                                                   reason: "Invalid latency-tracking-info-percentiles parameters"))
            }
            guard (0...100).contains(value) else {
                return .failure(ConfigurationError(directive: "latency-tracking-info-percentiles",
                                                   reason: "latency-tracking-info-percentiles parameters should sit between [0.0,100.0]"))
            }
            values.append(value)
        }
        return .success(values)
    }

    public static func format(_ values: [Double]) -> String {
        values.map(format).joined(separator: " ")
    }

    /// `%f` (six decimals), then without trailing zeros and point: 50, 99.9, 33.333333.
    public static func format(_ value: Double) -> String {
        let micro = (value * 1_000_000).rounded()
        let whole = Int(micro / 1_000_000)
        var fraction = String(Int(micro) % 1_000_000)
        fraction = String(repeating: "0", count: 6 - fraction.count) + fraction
        while fraction.hasSuffix("0") { fraction.removeLast() }
        return fraction.isEmpty ? String(whole) : "\(whole).\(fraction)"
    }
}
