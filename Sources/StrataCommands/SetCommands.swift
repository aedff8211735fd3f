import StrataRESP
import StrataStore

extension CommandTable {
    private static let set = "set"

    static let sets: [CommandSpec] = [
        CommandSpec("sadd", arity: -3, flags: [.write, .denyOOM, .fast], keys: (1, 1, 1), group: set, since: "1.0.0",
                    complexity: "O(1) for each element added, so O(N) to add N elements when the command is called with multiple arguments.",
                    summary: "Adds one or more members to a set. Creates the key if it doesn't exist.",
                    syntax: "key member [member ...]", handler: SetCommands.sadd),
        CommandSpec("srem", arity: -3, flags: [.write, .fast], keys: (1, 1, 1), group: set, since: "1.0.0",
                    complexity: "O(N) where N is the number of members to be removed.",
                    summary: "Removes one or more members from a set. Deletes the set if the last member was removed.",
                    syntax: "key member [member ...]", handler: SetCommands.srem),
        CommandSpec("smembers", arity: 2, flags: [.readonly], keys: (1, 1, 1), group: set, since: "1.0.0",
                    complexity: "O(N) where N is the set cardinality.",
                    summary: "Returns all members of a set.", syntax: "key", handler: SetCommands.smembers),
        CommandSpec("sismember", arity: 3, flags: [.readonly, .fast], keys: (1, 1, 1), group: set, since: "1.0.0",
                    summary: "Determines whether a member belongs to a set.", syntax: "key member",
                    handler: SetCommands.sismember),
        CommandSpec("smismember", arity: -3, flags: [.readonly, .fast], keys: (1, 1, 1), group: set, since: "6.2.0",
                    complexity: "O(N) where N is the number of elements being checked for membership",
                    summary: "Determines whether multiple members belong to a set.", syntax: "key member [member ...]",
                    handler: SetCommands.smismember),
        CommandSpec("scard", arity: 2, flags: [.readonly, .fast], keys: (1, 1, 1), group: set, since: "1.0.0",
                    summary: "Returns the number of members in a set.", syntax: "key", handler: SetCommands.scard),
        CommandSpec("spop", arity: -2, flags: [.write, .fast, .random], keys: (1, 1, 1), group: set, since: "1.0.0",
                    complexity: "Without the count argument O(1), otherwise O(N) where N is the value of the passed count.",
                    summary: "Returns one or more random members from a set after removing them. Deletes the set if the last member was popped.",
                    syntax: "key [count]", handler: SetCommands.spop),
        CommandSpec("srandmember", arity: -2, flags: [.readonly, .random], keys: (1, 1, 1), group: set, since: "1.0.0",
                    complexity: "Without the count argument O(1), otherwise O(N) where N is the absolute value of the passed count.",
                    summary: "Get one or multiple random members from a set", syntax: "key [count]",
                    handler: SetCommands.srandmember),
        CommandSpec("smove", arity: 4, flags: [.write, .fast], keys: (1, 2, 1), group: set, since: "1.0.0",
                    summary: "Moves a member from one set to another.", syntax: "source destination member",
                    handler: SetCommands.smove),
        CommandSpec("sinter", arity: -2, flags: [.readonly], keys: (1, -1, 1), group: set, since: "1.0.0",
                    complexity: "O(N*M) worst case where N is the cardinality of the smallest set and M is the number of sets.",
                    summary: "Returns the intersect of multiple sets.", syntax: "key [key ...]", handler: SetCommands.sinter),
        CommandSpec("sintercard", arity: -3, flags: [.readonly], numKeysAt: 1, group: set, since: "7.0.0",
                    complexity: "O(N*M) worst case where N is the cardinality of the smallest set and M is the number of sets.",
                    summary: "Returns the number of members of the intersect of multiple sets.",
                    syntax: "numkeys key [key ...] [LIMIT limit]", handler: SetCommands.sintercard),
        CommandSpec("sinterstore", arity: -3, flags: [.write, .denyOOM], keys: (1, -1, 1), group: set, since: "1.0.0",
                    complexity: "O(N*M) worst case where N is the cardinality of the smallest set and M is the number of sets.",
                    summary: "Stores the intersect of multiple sets in a key.", syntax: "destination key [key ...]",
                    handler: SetCommands.sinterstore),
        CommandSpec("sunion", arity: -2, flags: [.readonly], keys: (1, -1, 1), group: set, since: "1.0.0",
                    complexity: "O(N) where N is the total number of elements in all given sets.",
                    summary: "Returns the union of multiple sets.", syntax: "key [key ...]", handler: SetCommands.sunion),
        CommandSpec("sunionstore", arity: -3, flags: [.write, .denyOOM], keys: (1, -1, 1), group: set, since: "1.0.0",
                    complexity: "O(N) where N is the total number of elements in all given sets.",
                    summary: "Stores the union of multiple sets in a key.", syntax: "destination key [key ...]",
                    handler: SetCommands.sunionstore),
        CommandSpec("sdiff", arity: -2, flags: [.readonly], keys: (1, -1, 1), group: set, since: "1.0.0",
                    complexity: "O(N) where N is the total number of elements in all given sets.",
                    summary: "Returns the difference of multiple sets.", syntax: "key [key ...]", handler: SetCommands.sdiff),
        CommandSpec("sdiffstore", arity: -3, flags: [.write, .denyOOM], keys: (1, -1, 1), group: set, since: "1.0.0",
                    complexity: "O(N) where N is the total number of elements in all given sets.",
                    summary: "Stores the difference of multiple sets in a key.", syntax: "destination key [key ...]",
                    handler: SetCommands.sdiffstore),
        CommandSpec("sscan", arity: -3, flags: [.readonly, .random], keys: (1, 1, 1), group: set, since: "2.8.0",
                    complexity: "O(1) for every call. O(N) for a complete iteration, including enough command calls for the cursor to return back to 0. N is the number of elements inside the collection.",
                    summary: "Iterates over members of a set.", syntax: "key cursor [MATCH pattern] [COUNT count]",
                    handler: SetCommands.sscan),
    ]
}

enum SetCommands {
    // MARK: - One set

    static func sadd(_ c: inout CommandContext) {
        let arguments = c.arguments
        c.modify(1, as: SetValue.self, create: SetValue.init) { set, reply in
            guard let set else { return false }
            var added = 0
            for i in 2..<arguments.count {
                // A member already there costs a lookup, not a Blob (an allocation past 14 bytes).
                if arguments.withBytes(i, { set.map.position(ofBytes: $0) }) != nil { continue }
                if set.insert(arguments.elementBlob(i)) { added += 1 }
            }
            reply.integer(added)
            return added > 0
        }
    }

    static func srem(_ c: inout CommandContext) {
        let arguments = c.arguments
        c.modify(1, as: SetValue.self, create: nil) { set, reply in
            guard let set else { reply.integer(0); return false }
            var removed = 0
            for i in 2..<arguments.count where set.remove(arguments.elementBlob(i)) { removed += 1 }
            reply.integer(removed)
            return removed > 0
        }
    }

    static func smembers(_ c: inout CommandContext) {
        c.read(1, as: SetValue.self) { set, reply in reply.setOfElements(set?.members ?? []) }
    }

    static func sismember(_ c: inout CommandContext) {
        let member = c.blob(2)
        c.read(1, as: SetValue.self) { set, reply in reply.integer(set?.contains(member) == true ? 1 : 0) }
    }

    static func smismember(_ c: inout CommandContext) {
        let arguments = c.arguments
        c.read(1, as: SetValue.self) { set, reply in
            reply.arrayHeader(arguments.count - 2)
            for i in 2..<arguments.count { reply.integer(set?.contains(arguments.elementBlob(i)) == true ? 1 : 0) }
        }
    }

    static func scard(_ c: inout CommandContext) {
        c.read(1, as: SetValue.self) { set, reply in reply.integer(set?.count ?? 0) }
    }

    static func spop(_ c: inout CommandContext) {
        guard c.arguments.count <= 3 else { c.syntaxError(); return }
        guard c.arguments.count == 3 else {
            c.modify(1, as: SetValue.self, create: nil) { set, reply in
                guard let set, set.count > 0 else { reply.null(); return false }
                set.remove(at: Int.random(in: 0..<set.count)).withBytes { reply.bulk($0) }
                return true
            }
            return
        }
        guard let count = c.arguments.integer(2), count >= 0 else {
            c.error("ERR value is out of range, must be positive")
            return
        }
        c.modify(1, as: SetValue.self, create: nil) { set, reply in
            guard let set, count > 0 else { reply.setHeader(0); return false }
            if count >= set.count {
                reply.setOfElements(set.members)
                while set.count > 0 { _ = set.remove(at: set.count - 1) }
                return true
            }
            reply.setHeader(count)
            for _ in 0..<count {
                set.remove(at: Int.random(in: 0..<set.count)).withBytes { reply.bulk($0) }
            }
            return true
        }
    }

    static func srandmember(_ c: inout CommandContext) {
        guard c.arguments.count <= 3 else { c.syntaxError(); return }
        guard c.arguments.count == 3 else {
            c.read(1, as: SetValue.self) { set, reply in
                guard let map = set?.map, map.count > 0 else { reply.null(); return }
                reply.bulkElement(map.keys[Int.random(in: 0..<map.count)])
            }
            return
        }
        guard let requested = RandomPick.parseCount(&c, 2) else { return }
        c.read(1, as: SetValue.self) { set, reply in
            guard let set, requested != 0 else { reply.arrayHeader(0); return }
            let keys = set.map.keys
            let count = Int(requested.magnitude)
            if requested < 0 || count == 1 {
                // Repeats allowed.
                reply.arrayHeader(count)
                for _ in 0..<count { reply.bulkElement(keys[Int.random(in: 0..<keys.count)]) }
            } else if count >= keys.count {
                let members = set.members
                reply.arrayHeader(members.count)
                for member in members { reply.bulkElement(member) }
            } else {
                let positions = RandomPick.distinctPositions(count, of: keys.count)
                reply.arrayHeader(positions.count)
                for p in positions { reply.bulkElement(keys[p]) }
            }
        }
    }

    static func sscan(_ c: inout CommandContext) {
        guard let cursor = c.arguments.scanCursor(at: 2) else { c.error("ERR invalid cursor"); return }
        let arguments = c.arguments
        c.read(1, as: SetValue.self) { set, reply in
            guard let set else { CollectionScan.replyEmpty(&reply); return }
            guard let options = CollectionScan.parse(arguments, from: 3, &reply) else { return }
            var found: [Blob] = []
            var next = 0
            if set.isIntset {
                // As Redis does for an intset: everything in one reply, whatever the cursor.
                found = set.members.filter(options.matches)
            } else {
                next = set.map.scan(cursor: Int(clamping: cursor), count: options.count) { member, _ in
                    if options.matches(member) { found.append(member) }
                }
            }
            CollectionScan.reply(next, found, &reply)
        }
    }

    // MARK: - Two or more sets

    static func smove(_ c: inout CommandContext) {
        let hashes = [c.hash(1), c.hash(2)]
        let member = c.blob(3)
        let sameKey = c.arguments.bytes(1) == c.arguments.bytes(2)
        let view = c.keyAccess
        c.withShardsAndReply(for: hashes) { reply in
            let source = view.lookup(1, hash: hashes[0], as: SetValue.self, access: .write)
            let destination = view.lookup(2, hash: hashes[1], as: SetValue.self, access: .write)
            guard case .found(let sourceEntry, let sourceSet) = source else {
                if case .wrongType = source { return reply.error(CommandContext.wrongTypeMessage) }
                return reply.integer(0)
            }
            if case .wrongType = destination { return reply.error(CommandContext.wrongTypeMessage) }
            if sameKey { return reply.integer(sourceSet.contains(member) ? 1 : 0) }
            guard sourceSet.remove(member) else { return reply.integer(0) }
            view.keyspace.shard(for: hashes[0]).collectionChanged(sourceEntry)
            if case .found(let destinationEntry, let destinationSet) = destination {
                if destinationSet.insert(member) { view.keyspace.shard(for: hashes[1]).collectionChanged(destinationEntry) }
            } else {
                let created = SetValue()
                created.insert(member)
                view.store(2, hash: hashes[1], created)
            }
            reply.integer(1)
        }
    }

    static func sinter(_ c: inout CommandContext) { combine(&c, .intersection, keys: 1..<c.arguments.count, store: nil) }
    static func sunion(_ c: inout CommandContext) { combine(&c, .union, keys: 1..<c.arguments.count, store: nil) }
    static func sdiff(_ c: inout CommandContext) { combine(&c, .difference, keys: 1..<c.arguments.count, store: nil) }
    static func sinterstore(_ c: inout CommandContext) { combine(&c, .intersection, keys: 2..<c.arguments.count, store: 1) }
    static func sunionstore(_ c: inout CommandContext) { combine(&c, .union, keys: 2..<c.arguments.count, store: 1) }
    static func sdiffstore(_ c: inout CommandContext) { combine(&c, .difference, keys: 2..<c.arguments.count, store: 1) }

    static func sintercard(_ c: inout CommandContext) {
        guard let numkeys = c.arguments.integer(1), numkeys >= 1 else {
            c.error("ERR numkeys should be greater than 0")
            return
        }
        guard numkeys <= c.arguments.count - 2 else {
            c.error("ERR Number of keys can't be greater than number of args")
            return
        }
        var limit = 0
        var i = 2 + numkeys
        while i < c.arguments.count {
            guard c.arguments.matches(i, "LIMIT"), i + 1 < c.arguments.count else { c.syntaxError(); return }
            guard let n = c.arguments.integer(i + 1), n >= 0 else { c.error("ERR LIMIT can't be negative"); return }
            limit = n
            i += 2
        }
        combine(&c, .intersection, keys: 2..<(2 + numkeys), store: nil, cardinalityLimit: limit)
    }

    enum Operation { case intersection, union, difference }

    /// SINTER, SUNION, SDIFF, their STORE forms and SINTERCARD: reads every key in `keys` (a
    /// missing one is an empty set) under all their shards' locks, then replies with the result,
    /// stores it under argument `store`, or (`cardinalityLimit` non-nil) counts it.
    private static func combine(_ c: inout CommandContext, _ operation: Operation, keys: Range<Int>, store: Int?,
                                cardinalityLimit: Int? = nil) {
        let hashes = keys.map { c.hash($0) }
        let destinationHash = store.map { c.hash($0) }
        let view = c.keyAccess
        c.withShardsAndReply(for: hashes + (destinationHash.map { [$0] } ?? [])) { reply in
            var sets: [SetValue?] = []
            sets.reserveCapacity(hashes.count)
            for (n, i) in keys.enumerated() {
                switch view.lookup(i, hash: hashes[n], as: SetValue.self, access: .read) {
                case .wrongType: return reply.error(CommandContext.wrongTypeMessage)
                case .missing: sets.append(nil)
                case .found(_, let set): sets.append(set)
                }
            }
            if let limit = cardinalityLimit {
                return reply.integer(intersectionCount(sets, limit: limit))
            }
            let result = SetCommands.result(operation, sets)
            if let store, let destinationHash {
                reply.integer(view.store(store, hash: destinationHash, result))
            } else {
                reply.setOfElements(result?.members ?? [])
            }
        }
    }

    /// The result of `operation` on `sets` (nil entries are missing keys); nil when empty. (Its
    /// `members` list an all-integer result in numeric order, as Redis's intset does.)
    private static func result(_ operation: Operation, _ sets: [SetValue?]) -> SetValue? {
        let result = SetValue()
        switch operation {
        case .intersection:
            let present = sets.compactMap { $0 }
            guard present.count == sets.count, let smallest = present.min(by: { $0.count < $1.count }) else { return nil }
            for member in smallest.map.keys where present.allSatisfy({ $0 === smallest || $0.contains(member) }) {
                result.insert(member)
            }
        case .union:
            for set in sets {
                for member in set?.map.keys ?? [] { result.insert(member) }
            }
        case .difference:
            guard let first = sets.first ?? nil else { return nil }
            let others = sets.dropFirst().compactMap { $0 }
            for member in first.map.keys where !others.contains(where: { $0.contains(member) }) {
                result.insert(member)
            }
        }
        return result.count > 0 ? result : nil
    }

    /// SINTERCARD's count: the size of the intersection, stopping at `limit` (0: no limit).
    private static func intersectionCount(_ sets: [SetValue?], limit: Int) -> Int {
        let present = sets.compactMap { $0 }
        guard present.count == sets.count, let smallest = present.min(by: { $0.count < $1.count }) else { return 0 }
        var count = 0
        for member in smallest.map.keys where present.allSatisfy({ $0 === smallest || $0.contains(member) }) {
            count += 1
            if limit > 0 && count >= limit { break }
        }
        return count
    }
}

fileprivate extension CommandArguments {
    /// Argument `index` as a collection element.
    func elementBlob(_ index: Int) -> Blob { withBytes(index) { Blob($0) } }
}

fileprivate extension RESPReplyWriter {
    /// A collection element as a bulk string.
    mutating func bulkElement(_ blob: Blob) { blob.withBytes { bulk($0) } }

    /// Members as a set reply (RESP3 `~`, an array in RESP2).
    mutating func setOfElements(_ members: [Blob]) {
        setHeader(members.count)
        for member in members { bulkElement(member) }
    }
}
