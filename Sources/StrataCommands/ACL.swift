import NIOConcurrencyHelpers
import StrataStore
import Synchronization

// Access control lists, as in Redis 7.0 (`acl.c`): users with passwords, the commands, keys and
// channels each may use. The rules are kept as immutable snapshots (``ACLUser``); a user's
// ``ACLUserHandle`` swaps its snapshot atomically, so ACL SETUSER applies to its connected clients
// at their next command. The commands and the NOPERM checks are in ACLCommands.swift.

/// Redis's ACL command categories, in Redis's order (ACL CAT lists them so).
public enum ACLCategory: Int, CaseIterable, Sendable {
    case keyspace, read, write, set, sortedset, list, hash, string, bitmap, hyperloglog, geo, stream, pubsub,
         admin, fast, slow, blocking, dangerous, connection, transaction, scripting

    public var name: String { String(describing: self) }

    public static func named(_ name: String) -> ACLCategory? { allCases.first { $0.name == name.lowercased() } }
}

/// Every command and subcommand of ``CommandTable/all`` numbered once, with its categories:
/// a user's allowed commands are a bit set over these numbers.
public enum ACLCommandIndex {
    public struct Entry: Sendable {
        public let spec: CommandSpec
        public let categories: UInt32
        /// For a command with subcommands: their ids.
        public let subcommands: [Int]
    }

    public static let entries: [Entry] = {
        var entries: [Entry] = []
        func add(_ spec: CommandSpec) -> Int {
            let id = entries.count
            entries.append(Entry(spec: spec, categories: mask(spec), subcommands: []))
            guard !spec.subcommands.isEmpty else { return id }
            let subs = spec.subcommands.map(add)
            entries[id] = Entry(spec: spec, categories: entries[id].categories, subcommands: subs)
            return id
        }
        for spec in CommandTable.all { _ = add(spec) }
        return entries
    }()

    /// Top-level commands' ids, in table order.
    public static let topLevel: [Int] = {
        var ids: [Int] = []
        var id = 0
        while id < entries.count {
            ids.append(id)
            id += 1 + entries[id].subcommands.count
        }
        return ids
    }()

    private static let ids: [ObjectIdentifier: Int] = {
        var ids: [ObjectIdentifier: Int] = [:]
        for (id, entry) in entries.enumerated() { ids[ObjectIdentifier(entry.spec)] = id }
        return ids
    }()

    /// The id of a spec of the table (nil for a spec built elsewhere).
    @inline(__always)
    public static func id(of spec: CommandSpec) -> Int? { ids[ObjectIdentifier(spec)] }

    /// A command (`get`) or subcommand (`client|list`) by name.
    static func id(named name: String) -> Int? {
        CommandIntrospection.find(name, in: commands).flatMap(id(of:))
    }

    static let commands = CommandLookup(CommandTable.all)

    static func mask(_ spec: CommandSpec) -> UInt32 {
        var mask: UInt32 = 0
        for name in CommandIntrospection.aclCategories(spec) {
            if let category = ACLCategory.named(String(name.dropFirst())) { mask |= 1 << UInt32(category.rawValue) }
        }
        return mask
    }

    static func has(_ id: Int, _ category: ACLCategory) -> Bool { entries[id].categories & (1 << UInt32(category.rawValue)) != 0 }
}

/// A set of command ids.
public struct ACLCommandBits: Sendable, Equatable {
    private var words: [UInt64]

    public init(all: Bool) {
        words = [UInt64](repeating: all ? ~0 : 0, count: (ACLCommandIndex.entries.count + 63) / 64)
    }

    @inline(__always)
    public subscript(_ id: Int) -> Bool {
        get { words[id >> 6] & (1 << UInt64(id & 63)) != 0 }
        set {
            if newValue { words[id >> 6] |= 1 << UInt64(id & 63) } else { words[id >> 6] &= ~(1 << UInt64(id & 63)) }
        }
    }
}

/// A key pattern with the access it grants (`~p` both, `%R~p` read, `%W~p` write).
public struct ACLKeyPattern: Sendable, Equatable {
    public var pattern: [UInt8]
    public var read: Bool
    public var write: Bool

    var description: String {
        let text = String(decoding: pattern, as: UTF8.self)
        if read && write { return "~" + text }
        return (read ? "%R~" : "%W~") + text
    }
}

/// What a key position asks of the user's key patterns.
public struct ACLKeyAccess: OptionSet, Sendable {
    public let rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }
    public static let read = ACLKeyAccess(rawValue: 1)
    public static let write = ACLKeyAccess(rawValue: 2)
}

/// Why a rule was refused, with Redis's text (`ACLSetUserStringError`).
public struct ACLRuleError: Error, Equatable, Sendable {
    public let message: String
    public init(message: String) { self.message = message }

    static let syntax = ACLRuleError(message: "Syntax error")
    static let unknown = ACLRuleError(message: "Unknown command or category name in ACL")
    static let keyAfterAll = ACLRuleError(message: "Adding a pattern after the * pattern (or the 'allkeys' flag) is not valid and does not have any effect. Try 'resetkeys' to start with an empty list of patterns")
    static let channelAfterAll = ACLRuleError(message: "Adding a pattern after the * pattern (or the 'allchannels' flag) is not valid and does not have any effect. Try 'resetchannels' to start with an empty list of channels")
    static let noSuchPassword = ACLRuleError(message: "The password you are trying to remove from the user does not exist")
    static let badHash = ACLRuleError(message: "The password hash must be exactly 64 characters and contain only lowercase hexadecimal characters")
    static let firstArgument = ACLRuleError(message: "Allowing first-arg of a subcommand is not supported")
}

/// One user's rules: an immutable value, changed by applying ACL SETUSER's modifiers to a copy.
public struct ACLUser: Sendable, Equatable {
    public enum Sanitize: Sendable, Equatable { case unset, sanitize, skip }

    public let name: String
    public var enabled = false
    public var noPass = false
    public var sanitize = Sanitize.unset
    /// SHA-256 hex digests, in the order they were added.
    public var passwords: [String] = []
    public var commands = ACLCommandBits(all: false)
    /// Set by `+@all`: commands added later would be allowed (ACL LIST starts with `+@all`).
    public var futureCommands = false
    public var allKeys = false
    public var keys: [ACLKeyPattern] = []
    public var allChannels = false
    public var channels: [[UInt8]] = []

    /// A new user as ACL SETUSER creates it: off, no password, no commands, keys or channels
    /// (Redis 7.0's `acl-pubsub-default` is `resetchannels`).
    public init(name: String) { self.name = name }

    /// The `default` user before any rule: `on nopass ~* &* +@all`.
    public static func makeDefault() -> ACLUser {
        var user = ACLUser(name: "default")
        for rule in ["on", "nopass", "~*", "&*", "+@all"] { try! user.apply(rule) }
        return user
    }

    /// Whether it may run anything on any key and channel (the check is skipped).
    public var unrestricted: Bool { futureCommands && allKeys && allChannels && commands == ACLCommandBits(all: true) }

    /// Applies one ACL SETUSER modifier (`on`, `>pass`, `~pattern`, `+@read`, `-config|set`…).
    public mutating func apply(_ rule: String) throws(ACLRuleError) {
        let lower = rule.lowercased()
        switch lower {
        case "on": enabled = true; return
        case "off": enabled = false; return
        case "nopass": noPass = true; passwords = []; return
        case "resetpass": noPass = false; passwords = []; return
        case "allkeys", "~*": allKeys = true; keys = [ACLKeyPattern(pattern: [UInt8(ascii: "*")], read: true, write: true)]; return
        case "resetkeys": allKeys = false; keys = []; return
        case "allchannels", "&*":
            allChannels = true
            channels = [[UInt8(ascii: "*")]]
            return
        case "resetchannels": allChannels = false; channels = []; return
        case "allcommands", "+@all": setAll(true); return
        case "nocommands", "-@all": setAll(false); return
        case "sanitize-payload": sanitize = .sanitize; return
        case "skip-sanitize-payload": sanitize = .skip; return
        case "clearselectors": return
        case "reset":
            for step in ["resetpass", "resetkeys", "resetchannels", "off", "sanitize-payload", "-@all"] { try apply(step) }
            return
        default: break
        }
        let bytes = Array(rule.utf8)
        guard let first = bytes.first else { throw .syntax }
        switch first {
        case UInt8(ascii: ">"):
            addPassword(SHA256.hex(bytes.dropFirst()))
        case UInt8(ascii: "<"):
            try removePassword(SHA256.hex(bytes.dropFirst()))
        case UInt8(ascii: "#"):
            let hash = String(rule.dropFirst())
            guard Self.validHash(hash) else { throw .badHash }
            addPassword(hash)
        case UInt8(ascii: "!"):
            let hash = String(rule.dropFirst())
            guard Self.validHash(hash) else { throw .badHash }
            try removePassword(hash)
        case UInt8(ascii: "~"):
            guard !allKeys else { throw .keyAfterAll }
            appendKey(ACLKeyPattern(pattern: Array(bytes.dropFirst()), read: true, write: true))
        case UInt8(ascii: "%"):
            var read = false, write = false
            var i = 1
            while i < bytes.count && bytes[i] != UInt8(ascii: "~") {
                switch bytes[i] {
                case UInt8(ascii: "R"), UInt8(ascii: "r"): read = true
                case UInt8(ascii: "W"), UInt8(ascii: "w"): write = true
                default: throw .syntax
                }
                i += 1
            }
            guard i < bytes.count, read || write else { throw .syntax }
            let pattern = Array(bytes[(i + 1)...])
            if pattern == [UInt8(ascii: "*")] && read && write { allKeys = true }
            else if allKeys { throw .keyAfterAll }
            appendKey(ACLKeyPattern(pattern: pattern, read: read, write: write))
        case UInt8(ascii: "&"):
            guard !allChannels else { throw .channelAfterAll }
            let pattern = Array(bytes.dropFirst())
            if !channels.contains(pattern) { channels.append(pattern) }
        case UInt8(ascii: "+"), UInt8(ascii: "-"):
            let allow = first == UInt8(ascii: "+")
            let name = String(lower.dropFirst())
            if name.hasPrefix("@") {
                guard let category = ACLCategory.named(String(name.dropFirst())) else { throw .unknown }
                setCategory(category, allow)
            } else if let bar = name.firstIndex(of: "|") {
                guard let parent = ACLCommandIndex.id(named: String(name[..<bar])) else { throw .unknown }
                guard !ACLCommandIndex.entries[parent].subcommands.isEmpty else {
                    // Redis 7.0's first-argument rules (`+select|0`) are not supported.
                    throw .unknown
                }
                guard let sub = ACLCommandIndex.id(named: name), sub != parent else { throw .unknown }
                commands[sub] = allow
            } else {
                guard let id = ACLCommandIndex.id(named: name) else { throw .unknown }
                setCommand(id, allow)
            }
        case UInt8(ascii: "("):
            // Selectors (Redis 7.0's `(...)`) are not supported.
            throw .syntax
        default:
            throw .syntax
        }
    }

    private mutating func appendKey(_ key: ACLKeyPattern) {
        if let index = keys.firstIndex(where: { $0.pattern == key.pattern }) {
            keys[index].read = keys[index].read || key.read
            keys[index].write = keys[index].write || key.write
        } else {
            keys.append(key)
        }
    }

    private mutating func addPassword(_ hash: String) {
        noPass = false
        if !passwords.contains(hash) { passwords.append(hash) }
    }

    private mutating func removePassword(_ hash: String) throws(ACLRuleError) {
        guard let index = passwords.firstIndex(of: hash) else { throw .noSuchPassword }
        noPass = false
        passwords.remove(at: index)
    }

    static func validHash(_ hash: String) -> Bool {
        hash.utf8.count == 64 && hash.utf8.allSatisfy { ($0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9")) || ($0 >= UInt8(ascii: "a") && $0 <= UInt8(ascii: "f")) }
    }

    private mutating func setAll(_ allow: Bool) {
        commands = ACLCommandBits(all: allow)
        futureCommands = allow
    }

    /// A command and all its subcommands.
    private mutating func setCommand(_ id: Int, _ allow: Bool) {
        commands[id] = allow
        for sub in ACLCommandIndex.entries[id].subcommands { commands[sub] = allow }
    }

    private mutating func setCategory(_ category: ACLCategory, _ allow: Bool) {
        for id in ACLCommandIndex.topLevel {
            if ACLCommandIndex.has(id, category) { setCommand(id, allow) }
            for sub in ACLCommandIndex.entries[id].subcommands where ACLCommandIndex.has(sub, category) { commands[sub] = allow }
        }
    }

    /// Whether `password` is one of its passwords (or it needs none).
    public func accepts(password: [UInt8]) -> Bool {
        noPass || passwords.contains(SHA256.hex(password))
    }

    // MARK: Checks

    @inline(__always)
    public func mayRun(_ spec: CommandSpec) -> Bool {
        guard let id = ACLCommandIndex.id(of: spec) else { return futureCommands }
        return commands[id]
    }

    public func mayAccess(key: UnsafeRawBufferPointer, _ access: ACLKeyAccess) -> Bool {
        if allKeys { return true }
        var needed = access
        for pattern in keys {
            var granted: ACLKeyAccess = []
            if pattern.read { granted.insert(.read) }
            if pattern.write { granted.insert(.write) }
            guard !granted.isDisjoint(with: needed) else { continue }
            if GlobPattern.matches(pattern: pattern.pattern, key) {
                needed.subtract(granted)
                if needed.isEmpty { return true }
            }
        }
        return false
    }

    /// A channel (or, for PSUBSCRIBE, a pattern, which must be one of the user's patterns as written).
    public func mayAccess(channel: [UInt8], isPattern: Bool) -> Bool {
        if allChannels { return true }
        for allowed in channels {
            if isPattern ? allowed == channel : GlobPattern.matches(pattern: allowed, channel) { return true }
        }
        return false
    }

    // MARK: Description

    /// GETUSER's and LIST's flags.
    public var flagNames: [String] {
        var flags = [enabled ? "on" : "off"]
        if noPass { flags.append("nopass") }
        switch sanitize {
        case .unset: break
        case .sanitize: flags.append("sanitize-payload")
        case .skip: flags.append("skip-sanitize-payload")
        }
        return flags
    }

    /// GETUSER's `keys`: `~cache:* %R~r*`.
    public var keysDescription: String { keys.map(\.description).joined(separator: " ") }

    /// GETUSER's `channels`: `&chan*`.
    public var channelsDescription: String {
        channels.map { "&" + String(decoding: $0, as: UTF8.self) }.joined(separator: " ")
    }

    /// The command rules as Redis 7.0 describes them (`ACLDescribeSelectorCommandRules`): `+@all`
    /// or `-@all`, then the categories that best fit what is allowed, one after the other, then
    /// the single commands and subcommands that still differ.
    public var commandsDescription: String {
        // From `+@all`, categories are taken away; from `-@all`, added.
        let additive = !futureCommands
        var rules = [futureCommands ? "+@all" : "-@all"]
        var fake = ACLUser(name: "")
        fake.setAll(futureCommands)
        var temp = self
        var applied = Set<ACLCategory>()
        while true {
            var best: ACLCategory?
            var minDiff = Int.max, maxSame = 0
            for category in ACLCategory.allCases where !applied.contains(category) {
                var on = 0, off = 0
                for (id, _) in ACLCommandIndex.entries.enumerated() where ACLCommandIndex.has(id, category) {
                    if temp.commands[id] { on += 1 } else { off += 1 }
                }
                let diff = additive ? off : on
                let same = additive ? on : off
                if same > diff && (diff < minDiff || (diff == minDiff && same > maxSame)) {
                    best = category
                    minDiff = diff
                    maxSame = same
                }
            }
            guard let best else { break }
            rules.append((additive ? "+@" : "-@") + best.name)
            fake.setCategory(best, additive)
            temp.setCategory(best, !additive)
            applied.insert(best)
        }
        for id in ACLCommandIndex.topLevel {
            if commands[id] != fake.commands[id] {
                rules.append((commands[id] ? "+" : "-") + ACLCommandIndex.entries[id].spec.name)
                fake.setCommand(id, commands[id])
            }
            for sub in ACLCommandIndex.entries[id].subcommands where commands[sub] != fake.commands[sub] {
                rules.append((commands[sub] ? "+" : "-") + ACLCommandIndex.entries[sub].spec.name)
                fake.commands[sub] = commands[sub]
            }
        }
        return rules.joined(separator: " ")
    }

    /// ACL LIST's line (and the aclfile's): `user default on nopass ~* &* +@all`.
    public var description: String {
        var parts = ["user", name] + flagNames + passwords.map { "#" + $0 }
        if !keys.isEmpty { parts.append(keysDescription) }
        // As Redis: `&*`, or `resetchannels` and the patterns.
        parts.append(allChannels ? "&*" : (["resetchannels"] + channels.map { "&" + String(decoding: $0, as: UTF8.self) }).joined(separator: " "))
        parts.append(commandsDescription)
        return parts.joined(separator: " ")
    }

    /// Redis's rule for user names: no spaces or NUL.
    static func validName(_ name: [UInt8]) -> Bool {
        !name.contains(UInt8(ascii: " ")) && !name.contains(0)
    }
}

/// A user as clients refer to it: its name and its current rules, swapped atomically by ACL
/// SETUSER (clients see the new rules at their next command). Deleted users' handles are marked.
public final class ACLUserHandle: Sendable {
    public let name: String
    private let box: NIOLockedValueBox<ACLUser>
    public let deleted = Synchronization.Atomic<Bool>(false)

    init(_ user: ACLUser) {
        self.name = user.name
        self.box = NIOLockedValueBox(user)
    }

    public var user: ACLUser {
        get { box.withLockedValue { $0 } }
        set { box.withLockedValue { $0 = newValue } }
    }
}

/// What a client keeps to skip the handle's lock while no rule changed (event-loop state).
public struct ACLClientCache {
    var version: Int
    var user: ACLUser
    var unrestricted: Bool
}

/// All users, by name.
public final class ACLRegistry: Sendable {
    /// The name of the user peer links of a ring authenticate as (docs/cluster.md).
    public static let peerUserName = "strata-peer"

    private let users: NIOLockedValueBox<[String: ACLUserHandle]>
    /// Bumped by every change of any user: clients reload their user's rules when it moves.
    let version = Synchronization.Atomic<Int>(0)
    public let defaultUser: ACLUserHandle
    /// The built-in user of peer links: not listed, not changed by ACL commands.
    public let peerUser: ACLUserHandle
    /// Whether a new connection must authenticate (the default user has a password or is off).
    private let authRequired = Synchronization.Atomic<Bool>(false)
    public let log = ACLLog()

    public init(requirePass: String = "") {
        let defaultHandle = ACLUserHandle(ACLUser.makeDefault())
        defaultUser = defaultHandle
        users = NIOLockedValueBox(["default": defaultHandle])
        var peer = ACLUser(name: Self.peerUserName)
        for rule in ["~*", "&*", "+@all", "-@admin"] { try! peer.apply(rule) }
        peerUser = ACLUserHandle(peer)
        setDefaultPassword(requirePass)
    }

    /// `requirepass`: the default user's password (empty: `nopass`), and the ring's shared
    /// secret, the password of the peer user (empty: the peer user is off).
    public func setDefaultPassword(_ password: String) {
        update(defaultUser) { user in
            try! user.apply("resetpass")
            try! user.apply(password.isEmpty ? "nopass" : ">" + password)
        }
        var peer = peerUser.user
        try! peer.apply("resetpass")
        try! peer.apply(password.isEmpty ? "off" : "on")
        if !password.isEmpty { try! peer.apply(">" + password) }
        peerUser.user = peer
        version.add(1, ordering: .releasing)
    }

    @inline(__always)
    public var requiresAuthentication: Bool { authRequired.load(ordering: .relaxed) }

    private func refreshAuthRequired() {
        let user = defaultUser.user
        authRequired.store(!user.noPass || !user.enabled, ordering: .relaxed)
    }

    public func handle(named name: String) -> ACLUserHandle? {
        if name == Self.peerUserName { return peerUser.user.enabled ? peerUser : nil }
        return users.withLockedValue { $0[name] }
    }

    /// The listed users, sorted by name (ACL LIST, USERS, SAVE).
    public var all: [ACLUserHandle] { users.withLockedValue { $0.values.sorted { $0.name < $1.name } } }

    /// ACL SETUSER: applies `rules` to the user (created when missing); all or nothing.
    public func setUser(_ name: String, rules: [String]) throws(ACLSetUserError) {
        guard name != Self.peerUserName else { throw ACLSetUserError(rule: name, error: .syntax) }
        let existing = users.withLockedValue { $0[name] }
        var user = existing?.user ?? ACLUser(name: name)
        for rule in rules {
            do { try user.apply(rule) } catch { throw ACLSetUserError(rule: rule, error: error) }
        }
        if let existing {
            existing.user = user
        } else {
            users.withLockedValue { $0[name] = $0[name] ?? ACLUserHandle(user) }
        }
        changed()
    }

    func update(_ handle: ACLUserHandle, _ change: (inout ACLUser) -> Void) {
        var user = handle.user
        change(&user)
        handle.user = user
        changed()
    }

    private func changed() {
        refreshAuthRequired()
        version.add(1, ordering: .releasing)
    }

    /// ACL DELUSER: removes the users, returning the handles removed.
    public func delete(_ names: [String]) -> [ACLUserHandle] {
        let removed = users.withLockedValue { users in names.compactMap { users.removeValue(forKey: $0) } }
        for handle in removed { handle.deleted.store(true, ordering: .relaxed) }
        changed()
        return removed
    }

    /// ACL LOAD: replaces every user with `loaded` (a default user is added when missing).
    /// Users kept by name keep their handles (their clients see the new rules); the others'
    /// handles are returned, marked deleted.
    public func replaceAll(with loaded: [ACLUser]) -> [ACLUserHandle] {
        var incoming = Dictionary(loaded.map { ($0.name, $0) }, uniquingKeysWith: { $1 })
        if incoming["default"] == nil { incoming["default"] = ACLUser.makeDefault() }
        let removed = users.withLockedValue { users -> [ACLUserHandle] in
            var removed: [ACLUserHandle] = []
            for (name, handle) in users where incoming[name] == nil {
                removed.append(handle)
                users.removeValue(forKey: name)
            }
            for (name, user) in incoming {
                if let handle = users[name] { handle.user = user } else { users[name] = ACLUserHandle(user) }
            }
            return removed
        }
        for handle in removed { handle.deleted.store(true, ordering: .relaxed) }
        changed()
        return removed
    }
}

public struct ACLSetUserError: Error, Equatable {
    public let rule: String
    public let error: ACLRuleError
    /// ACL SETUSER's reply.
    public var message: String { "ERR Error in ACL SETUSER modifier '\(rule)': \(error.message)" }
}

/// The aclfile's format: one `user <name> <rules>` line per user (`ACLLoadFromFile`).
public enum ACLFile {
    /// Parses the file's text; on errors, Redis's message naming each bad line.
    public static func parse(_ text: String, path: String) -> Result<[ACLUser], ACLFileError> {
        var errors = ""
        var users: [ACLUser] = []
        var seen: Set<String> = []
        for (index, rawLine) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let number = index + 1
            let line = rawLine.trimmingCharacters(" \t\r\n")
            if line.isEmpty { continue }
            guard let words = splitArguments(line) else {
                errors += "\(path):\(number): unbalanced quotes in acl line. "
                continue
            }
            guard words.count >= 2, words[0] == "user" else {
                errors += "\(path):\(number) should start with user keyword followed by the username. "
                continue
            }
            let name = words[1]
            guard ACLUser.validName(Array(name.utf8)) else {
                errors += "\(path):\(number): Usernames can't contain spaces or null characters. "
                continue
            }
            if seen.contains(name) {
                errors += "WARNING: Duplicate user '\(name)' found on line \(number). "
                continue
            }
            seen.insert(name)
            var user = ACLUser(name: name)
            var failed = false
            for rule in words.dropFirst(2) {
                do { try user.apply(rule) } catch {
                    errors += "\(path):\(number): \(error.message). "
                    failed = true
                    break
                }
            }
            if !failed { users.append(user) }
        }
        if !errors.isEmpty {
            return .failure(ACLFileError(message: errors + "WARNING: ACL errors detected, no change to the previously active ACL rules was performed"))
        }
        return .success(users)
    }

    /// The file ACL SAVE writes.
    public static func render(_ users: [ACLUser]) -> String {
        users.map { $0.description + "\n" }.joined()
    }

    /// Words separated by spaces, with Redis's double and single quotes (`sdssplitargs`, simplified).
    static func splitArguments(_ line: String) -> [String]? {
        var words: [String] = []
        var current: [UInt8] = []
        var inWord = false
        var quote: UInt8?
        for byte in line.utf8 {
            if let q = quote {
                if byte == q { quote = nil } else { current.append(byte) }
            } else if byte == UInt8(ascii: " ") || byte == UInt8(ascii: "\t") {
                if inWord { words.append(String(decoding: current, as: UTF8.self)); current = []; inWord = false }
            } else if (byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "'")) && !inWord {
                quote = byte
                inWord = true
            } else {
                current.append(byte)
                inWord = true
            }
        }
        if quote != nil { return nil }
        if inWord { words.append(String(decoding: current, as: UTF8.self)) }
        return words
    }
}

public struct ACLFileError: Error, Equatable, Sendable {
    public let message: String
    public init(message: String) { self.message = message }
}

extension Substring {
    func trimmingCharacters(_ set: String) -> String {
        let chars = Set(set)
        var slice = self[...]
        while let first = slice.first, chars.contains(first) { slice = slice.dropFirst() }
        while let last = slice.last, chars.contains(last) { slice = slice.dropLast() }
        return String(slice)
    }
}

/// ACL LOG: the most recent refusals, newest first, similar ones counted together.
public final class ACLLog: Sendable {
    public enum Reason: String, Sendable { case command, key, channel, auth }
    public enum Context: String, Sendable { case toplevel, multi, lua }

    public struct Entry: Sendable {
        public var count: Int
        public var reason: Reason
        public var context: Context
        public var object: String
        public var username: String
        /// Unix milliseconds of the last occurrence.
        public var time: Int64
        public var clientInfo: String
    }

    /// Redis's `acllog-max-len` default.
    public static let maxLength = 128
    /// Entries this close in time are grouped (`ACL_LOG_GROUPING_MAX_TIME_DELTA`).
    static let groupingWindow: Int64 = 60_000

    private let entries = NIOLockedValueBox<[Entry]>([])

    public init() {}

    public func add(_ entry: Entry) {
        entries.withLockedValue { entries in
            if let index = entries.firstIndex(where: {
                $0.reason == entry.reason && $0.context == entry.context && $0.object == entry.object
                    && $0.username == entry.username && entry.time - $0.time < Self.groupingWindow
            }) {
                var merged = entries.remove(at: index)
                merged.count += 1
                merged.time = entry.time
                merged.clientInfo = entry.clientInfo
                entries.insert(merged, at: 0)
            } else {
                entries.insert(entry, at: 0)
                if entries.count > Self.maxLength { entries.removeLast() }
            }
        }
    }

    public var all: [Entry] { entries.withLockedValue { $0 } }
    public func reset() { entries.withLockedValue { $0 = [] } }
}

/// SHA-256 (FIPS 180-4), for passwords: ACL stores and shows their lower-case hex digests.
public enum SHA256 {
    private static let k: [UInt32] = [
        0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
        0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
        0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
        0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
        0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
        0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
        0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
        0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
    ]

    public static func hex<C: Collection>(_ bytes: C) -> String where C.Element == UInt8 {
        let digits = Array("0123456789abcdef".utf8)
        var text: [UInt8] = []
        text.reserveCapacity(64)
        for word in hash(Array(bytes)) {
            for shift in stride(from: 28, through: 0, by: -4) { text.append(digits[Int((word >> UInt32(shift)) & 0xF)]) }
        }
        return String(decoding: text, as: UTF8.self)
    }

    static func hash(_ message: [UInt8]) -> [UInt32] {
        var h: [UInt32] = [0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19]
        var padded = message
        padded.append(0x80)
        while padded.count % 64 != 56 { padded.append(0) }
        let bitLength = UInt64(message.count) &* 8
        for shift in stride(from: 56, through: 0, by: -8) { padded.append(UInt8(truncatingIfNeeded: bitLength >> UInt64(shift))) }
        var w = [UInt32](repeating: 0, count: 64)
        func rotr(_ x: UInt32, _ n: UInt32) -> UInt32 { (x >> n) | (x << (32 - n)) }
        var chunk = 0
        while chunk < padded.count {
            for i in 0..<16 {
                let b = chunk + i * 4
                w[i] = UInt32(padded[b]) << 24 | UInt32(padded[b + 1]) << 16 | UInt32(padded[b + 2]) << 8 | UInt32(padded[b + 3])
            }
            for i in 16..<64 {
                let s0 = rotr(w[i - 15], 7) ^ rotr(w[i - 15], 18) ^ (w[i - 15] >> 3)
                let s1 = rotr(w[i - 2], 17) ^ rotr(w[i - 2], 19) ^ (w[i - 2] >> 10)
                w[i] = w[i - 16] &+ s0 &+ w[i - 7] &+ s1
            }
            var a = h[0], b = h[1], c = h[2], d = h[3], e = h[4], f = h[5], g = h[6], hh = h[7]
            for i in 0..<64 {
                let s1 = rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25)
                let ch = (e & f) ^ (~e & g)
                let t1 = hh &+ s1 &+ ch &+ k[i] &+ w[i]
                let s0 = rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22)
                let maj = (a & b) ^ (a & c) ^ (b & c)
                let t2 = s0 &+ maj
                hh = g; g = f; f = e; e = d &+ t1; d = c; c = b; b = a; a = t1 &+ t2
            }
            h[0] = h[0] &+ a; h[1] = h[1] &+ b; h[2] = h[2] &+ c; h[3] = h[3] &+ d
            h[4] = h[4] &+ e; h[5] = h[5] &+ f; h[6] = h[6] &+ g; h[7] = h[7] &+ hh
            chunk += 64
        }
        return h
    }
}
