import StrataRESP
import StrataStore

extension CommandTable {
    private static let list = "list"

    static let lists: [CommandSpec] = [
        CommandSpec("lpush", arity: -3, flags: [.write, .denyOOM, .fast], keys: (1, 1, 1), group: list, since: "1.0.0",
                    complexity: "O(1) for each element added, so O(N) to add N elements when the command is called with multiple arguments.",
                    summary: "Prepend one or multiple elements to a list", syntax: "key element [element ...]",
                    handler: ListCommands.lpush),
        CommandSpec("rpush", arity: -3, flags: [.write, .denyOOM, .fast], keys: (1, 1, 1), group: list, since: "1.0.0",
                    complexity: "O(1) for each element added, so O(N) to add N elements when the command is called with multiple arguments.",
                    summary: "Append one or multiple elements to a list", syntax: "key element [element ...]",
                    handler: ListCommands.rpush),
        CommandSpec("lpushx", arity: -3, flags: [.write, .denyOOM, .fast], keys: (1, 1, 1), group: list, since: "2.2.0",
                    complexity: "O(1) for each element added, so O(N) to add N elements when the command is called with multiple arguments.",
                    summary: "Prepend an element to a list, only if the list exists", syntax: "key element [element ...]",
                    handler: ListCommands.lpushx),
        CommandSpec("rpushx", arity: -3, flags: [.write, .denyOOM, .fast], keys: (1, 1, 1), group: list, since: "2.2.0",
                    complexity: "O(1) for each element added, so O(N) to add N elements when the command is called with multiple arguments.",
                    summary: "Append an element to a list, only if the list exists", syntax: "key element [element ...]",
                    handler: ListCommands.rpushx),
        CommandSpec("lpop", arity: -2, flags: [.write, .fast], keys: (1, 1, 1), group: list, since: "1.0.0",
                    complexity: "O(N) where N is the number of elements returned",
                    summary: "Remove and get the first elements in a list", syntax: "key [count]", handler: ListCommands.lpop),
        CommandSpec("rpop", arity: -2, flags: [.write, .fast], keys: (1, 1, 1), group: list, since: "1.0.0",
                    complexity: "O(N) where N is the number of elements returned",
                    summary: "Remove and get the last elements in a list", syntax: "key [count]", handler: ListCommands.rpop),
        CommandSpec("llen", arity: 2, flags: [.readonly, .fast], keys: (1, 1, 1), group: list, since: "1.0.0",
                    summary: "Get the length of a list", syntax: "key", handler: ListCommands.llen),
        CommandSpec("lrange", arity: 4, flags: [.readonly], keys: (1, 1, 1), group: list, since: "1.0.0",
                    complexity: "O(S+N) where S is the distance of start offset from HEAD for small lists, from nearest end (HEAD or TAIL) for large lists; and N is the number of elements in the specified range.",
                    summary: "Get a range of elements from a list", syntax: "key start stop", handler: ListCommands.lrange),
        CommandSpec("lindex", arity: 3, flags: [.readonly], keys: (1, 1, 1), group: list, since: "1.0.0",
                    complexity: "O(N) where N is the number of elements to traverse to get to the element at index. This makes asking for the first or the last element of the list O(1).",
                    summary: "Get an element from a list by its index", syntax: "key index", handler: ListCommands.lindex),
        CommandSpec("lset", arity: 4, flags: [.write, .denyOOM], keys: (1, 1, 1), group: list, since: "1.0.0",
                    complexity: "O(N) where N is the length of the list. Setting either the first or the last element of the list is O(1).",
                    summary: "Set the value of an element in a list by its index", syntax: "key index element",
                    handler: ListCommands.lset),
        CommandSpec("linsert", arity: 5, flags: [.write, .denyOOM], keys: (1, 1, 1), group: list, since: "2.2.0",
                    complexity: "O(N) where N is the number of elements to traverse before seeing the value pivot. This means that inserting somewhere on the left end on the list (head) can be considered O(1) and inserting somewhere on the right end (tail) is O(N).",
                    summary: "Insert an element before or after another element in a list",
                    syntax: "key <BEFORE | AFTER> pivot element", handler: ListCommands.linsert),
        CommandSpec("lrem", arity: 4, flags: [.write], keys: (1, 1, 1), group: list, since: "1.0.0",
                    complexity: "O(N+M) where N is the length of the list and M is the number of elements removed.",
                    summary: "Remove elements from a list", syntax: "key count element", handler: ListCommands.lrem),
        CommandSpec("ltrim", arity: 4, flags: [.write], keys: (1, 1, 1), group: list, since: "1.0.0",
                    complexity: "O(N) where N is the number of elements to be removed by the operation.",
                    summary: "Trim a list to the specified range", syntax: "key start stop", handler: ListCommands.ltrim),
        CommandSpec("lpos", arity: -3, flags: [.readonly], keys: (1, 1, 1), group: list, since: "6.0.6",
                    complexity: "O(N) where N is the number of elements in the list, for the average case. When searching for elements near the head or the tail of the list, or when the MAXLEN option is provided, the command may run in constant time.",
                    summary: "Return the index of matching elements on a list",
                    syntax: "key element [RANK rank] [COUNT num-matches] [MAXLEN len]", handler: ListCommands.lpos),
        CommandSpec("lmove", arity: 5, flags: [.write, .denyOOM], keys: (1, 2, 1), group: list, since: "6.2.0",
                    summary: "Pop an element from a list, push it to another list and return it",
                    syntax: "source destination <LEFT | RIGHT> <LEFT | RIGHT>", handler: ListCommands.lmove),
        CommandSpec("rpoplpush", arity: 3, flags: [.write, .denyOOM], keys: (1, 2, 1), group: list, since: "1.2.0",
                    summary: "Remove the last element in a list, prepend it to another list and return it",
                    syntax: "source destination", handler: ListCommands.rpoplpush),
        CommandSpec("lmpop", arity: -4, flags: [.write], numKeysAt: 1, group: list, since: "7.0.0",
                    complexity: "O(N+M) where N is the number of provided keys and M is the number of elements returned.",
                    summary: "Pop elements from a list", syntax: "numkeys key [key ...] <LEFT | RIGHT> [COUNT count]",
                    handler: ListCommands.lmpop),
    ]
}

/// The list commands (Redis's `t_list.c`).
///
/// The pops and moves are built from cores that BLPOP, BRPOP, BLMOVE, BRPOPLPUSH and BLMPOP
/// reuse: ``popOne(_:key:hash:left:withKey:reply:)``, ``popMany(_:key:hash:left:count:withKey:reply:)``,
/// ``mpop(_:keys:hashes:left:count:reply:)`` and
/// ``move(_:source:sourceHash:destination:destinationHash:fromLeft:toLeft:reply:)``. Each runs with
/// the locks of its keys' shards held (inside ``CommandContext/withShardsAndReply(for:_:)`` or
/// ``CommandContext/withKeyAndReply(_:_:)``, which also cover EXEC's `shardsLocked`), reads the keys
/// through a ``Keys`` made from the context before that call, writes the reply of the non-blocking
/// form's successful case (or WRONGTYPE), and returns whether it wrote a reply. False means the key
/// (every key, for `mpop`) is missing: nothing was written or changed, and the caller may block
/// (or, as the non-blocking forms do, reply null).
///
///     let keys = ListCommands.Keys(c)
///     c.withShardsAndReply(for: hashes) { reply in
///         for (i, key) in (1..<keys.arguments.count - 1).enumerated()
///         where ListCommands.popOne(keys, key: key, hash: hashes[i], left: true, withKey: true, reply: &reply) {
///             return   // BLPOP served (or WRONGTYPE)
///         }
///         // every key missing: block
///     }
enum ListCommands {
    /// What the cores read of a command's context: its keys and database, without the reply
    /// writer, so that holding one while the reply is written copies no buffer (a copy of the
    /// whole `CommandContext` would share the reply buffer and make every write copy it).
    struct Keys {
        let keyspace: Keyspace
        let database: Int
        let now: Int64
        let arguments: CommandArguments

        init(_ c: CommandContext) {
            keyspace = c.keyspace
            database = c.database
            now = c.now
            arguments = c.arguments
        }

        /// Argument `index` as a list, with its shard's lock held.
        func lookup(_ index: Int, hash: UInt64) -> Lookup<ListValue> {
            let db = database, now = self.now, shard = keyspace.shard(for: hash)
            let entry = arguments.withBytes(index) { shard.find(database: db, key: $0, hash: hash, now: now, access: .write) }
            guard let entry else { return .missing }
            guard let list = entry.collection as? ListValue else { return .wrongType }
            return .found(entry, list)
        }

        /// Stores `list` under argument `index`, which must be missing, with its shard's lock held.
        func create(_ index: Int, hash: UInt64, _ list: ListValue) {
            let db = database, now = self.now, shard = keyspace.shard(for: hash)
            arguments.withBytes(index) { _ = shard.insert(database: db, key: $0, hash: hash, collection: list, expireAt: 0, now: now) }
        }

        /// A changed list's entry: counts its size, journals it, deletes it if empty.
        func changed(_ entry: Entry, hash: UInt64) { keyspace.shard(for: hash).collectionChanged(entry) }
    }

    // MARK: - Pushes

    static func lpush(_ c: inout CommandContext) { push(&c, left: true, onlyIfExists: false) }
    static func rpush(_ c: inout CommandContext) { push(&c, left: false, onlyIfExists: false) }
    static func lpushx(_ c: inout CommandContext) { push(&c, left: true, onlyIfExists: true) }
    static func rpushx(_ c: inout CommandContext) { push(&c, left: false, onlyIfExists: true) }

    private static func push(_ c: inout CommandContext, left: Bool, onlyIfExists: Bool) {
        let arguments = c.arguments
        c.modify(1, as: ListValue.self, create: onlyIfExists ? nil : { ListValue() }) { list, reply in
            guard let list else {
                reply.integer(0)
                return false
            }
            for i in 2..<arguments.count {
                let item = arguments.withBytes(i) { Blob($0) }
                if left { list.pushFront(item) } else { list.pushBack(item) }
            }
            reply.integer(list.count)
            return true
        }
    }

    // MARK: - Pops

    static func lpop(_ c: inout CommandContext) { pop(&c, left: true) }
    static func rpop(_ c: inout CommandContext) { pop(&c, left: false) }

    /// LPOP and RPOP: `key` pops one element (a bulk, null when missing); `key count` pops up to
    /// `count` (an array, a null array when missing, an empty array for 0).
    private static func pop(_ c: inout CommandContext, left: Bool) {
        guard c.arguments.count <= 3 else { return c.wrongArity() }
        var count: Int?
        if c.arguments.count == 3 {
            guard let n = c.arguments.integer(2), n >= 0 else {
                return c.error("ERR value is out of range, must be positive")
            }
            count = n
        }
        let keys = ListCommands.Keys(c)
        c.withKeyAndReply(1) { _, _, hash, reply in
            if let count {
                if !popMany(keys, key: 1, hash: hash, left: left, count: count, withKey: false, reply: &reply) {
                    reply.nullArray()
                }
            } else if !popOne(keys, key: 1, hash: hash, left: left, withKey: false, reply: &reply) {
                reply.null()
            }
        }
    }

    /// With argument `key`'s shard locked: pops one element from the head (`left`) or the tail
    /// of the list at argument `key` (hash `hash`), deleting the key if it is now empty, and writes
    /// it as a bulk string (LPOP's reply), or, with `withKey`, as the array [key, element]
    /// (BLPOP's). Writes WRONGTYPE for a key of another type. Returns false, having written and
    /// changed nothing, when the key is missing.
    static func popOne(_ c: Keys, key: Int, hash: UInt64, left: Bool, withKey: Bool,
                       reply: inout RESPReplyWriter) -> Bool {
        switch c.lookup(key, hash: hash) {
        case .missing:
            return false
        case .wrongType:
            reply.error(CommandContext.wrongTypeMessage)
            return true
        case .found(let entry, let list):
            guard let item = left ? list.popFront() : list.popBack() else { return false }
            if withKey {
                reply.arrayHeader(2)
                c.arguments.withBytes(key) { reply.bulk($0) }
            }
            item.withBytes { reply.bulk($0) }
            c.changed(entry, hash: hash)
            return true
        }
    }

    /// With argument `key`'s shard locked: pops up to `count` elements (`count` ≥ 0) from the head
    /// (`left`) or the tail of the list at argument `key` (hash `hash`), deleting the key if it is
    /// now empty, and writes them in the order popped as an array (LPOP key count's reply), or,
    /// with `withKey`, as [key, [elements]] (LMPOP's and BLMPOP's). Writes WRONGTYPE for a key of
    /// another type. Returns false, having written and changed nothing, when the key is missing.
    static func popMany(_ c: Keys, key: Int, hash: UInt64, left: Bool, count: Int, withKey: Bool,
                        reply: inout RESPReplyWriter) -> Bool {
        switch c.lookup(key, hash: hash) {
        case .missing:
            return false
        case .wrongType:
            reply.error(CommandContext.wrongTypeMessage)
            return true
        case .found(let entry, let list):
            guard list.count > 0 else { return false }
            if withKey {
                reply.arrayHeader(2)
                c.arguments.withBytes(key) { reply.bulk($0) }
            }
            let n = min(count, list.count)
            reply.arrayHeader(n)
            guard n > 0 else { return true }
            for _ in 0..<n {
                guard let item = left ? list.popFront() : list.popBack() else { break }
                item.withBytes { reply.bulk($0) }
            }
            c.changed(entry, hash: hash)
            return true
        }
    }

    /// With the shards of arguments `keys` locked (`hashes[i]` is the hash of argument
    /// `keys.lowerBound + i`): pops up to `count` (> 0) elements from the first of the keys that
    /// holds a list, writing [key, [elements]] (LMPOP's and BLMPOP's reply). Missing keys are
    /// skipped; the first key of another type before a list ends it with WRONGTYPE. Returns false,
    /// having written nothing, when every key is missing.
    static func mpop(_ c: Keys, keys: Range<Int>, hashes: [UInt64], left: Bool, count: Int,
                     reply: inout RESPReplyWriter) -> Bool {
        for (offset, key) in keys.enumerated()
        where popMany(c, key: key, hash: hashes[offset], left: left, count: count, withKey: true, reply: &reply) {
            return true
        }
        return false
    }

    static func lmpop(_ c: inout CommandContext) {
        let arguments = c.arguments
        guard let numkeys = arguments.integer(1), numkeys > 0 else {
            return c.error("ERR numkeys should be greater than 0")
        }
        // The keys, then LEFT or RIGHT: numkeys + 3 arguments at least (said without overflow).
        guard numkeys <= arguments.count - 3 else { return c.syntaxError() }
        let whereIndex = 2 + numkeys
        guard let left = side(arguments, whereIndex) else { return c.syntaxError() }
        var count: Int?
        var j = whereIndex + 1
        while j < arguments.count {
            guard count == nil, arguments.matches(j, "COUNT"), j + 1 < arguments.count else { return c.syntaxError() }
            guard let n = arguments.integer(j + 1), n > 0 else { return c.error("ERR count should be greater than 0") }
            count = n
            j += 2
        }
        let keyRange = 2..<whereIndex
        let hashes = keyRange.map { c.hash($0) }
        let keys = ListCommands.Keys(c)
        c.withShardsAndReply(for: hashes) { reply in
            if !mpop(keys, keys: keyRange, hashes: hashes, left: left, count: count ?? 1, reply: &reply) {
                reply.nullArray()
            }
        }
    }

    /// LEFT (true) or RIGHT (false) at argument `index`, or nil.
    static func side(_ arguments: CommandArguments, _ index: Int) -> Bool? {
        if arguments.matches(index, "LEFT") { return true }
        if arguments.matches(index, "RIGHT") { return false }
        return nil
    }

    // MARK: - Moves

    static func lmove(_ c: inout CommandContext) {
        guard let from = side(c.arguments, 3), let to = side(c.arguments, 4) else { return c.syntaxError() }
        moveCommand(&c, fromLeft: from, toLeft: to)
    }

    static func rpoplpush(_ c: inout CommandContext) { moveCommand(&c, fromLeft: false, toLeft: true) }

    private static func moveCommand(_ c: inout CommandContext, fromLeft: Bool, toLeft: Bool) {
        let sourceHash = c.hash(1), destinationHash = c.hash(2)
        let keys = ListCommands.Keys(c)
        c.withShardsAndReply(for: [sourceHash, destinationHash]) { reply in
            if !move(keys, source: 1, sourceHash: sourceHash, destination: 2, destinationHash: destinationHash,
                     fromLeft: fromLeft, toLeft: toLeft, reply: &reply) {
                reply.null()
            }
        }
    }

    /// With the shards of arguments `source` and `destination` locked: pops an element from the
    /// head (`fromLeft`) or tail of the list at `source`, pushes it onto the head (`toLeft`) or
    /// tail of the list at `destination` (created if missing; the same list rotates), deletes the
    /// source if it is now empty, and writes the element as a bulk string (LMOVE's and BLMOVE's
    /// reply). Writes WRONGTYPE, moving nothing, when either key holds another type. Returns false,
    /// having written and changed nothing, when the source is missing.
    static func move(_ c: Keys, source: Int, sourceHash: UInt64, destination: Int, destinationHash: UInt64,
                     fromLeft: Bool, toLeft: Bool, reply: inout RESPReplyWriter) -> Bool {
        let sourceEntry: Entry, sourceList: ListValue
        switch c.lookup(source, hash: sourceHash) {
        case .missing:
            return false
        case .wrongType:
            reply.error(CommandContext.wrongTypeMessage)
            return true
        case .found(let entry, let list):
            guard list.count > 0 else { return false }
            sourceEntry = entry
            sourceList = list
        }
        let target = c.lookup(destination, hash: destinationHash)
        if case .wrongType = target {
            reply.error(CommandContext.wrongTypeMessage)
            return true
        }
        guard let item = fromLeft ? sourceList.popFront() : sourceList.popBack() else { return false }
        switch target {
        case .found(let entry, let list):
            if toLeft { list.pushFront(item) } else { list.pushBack(item) }
            if entry !== sourceEntry { c.changed(entry, hash: destinationHash) }
        case .missing, .wrongType:
            let list = ListValue()
            list.pushBack(item)
            c.create(destination, hash: destinationHash, list)
        }
        c.changed(sourceEntry, hash: sourceHash)
        item.withBytes { reply.bulk($0) }
        return true
    }

    // MARK: - Reads

    static func llen(_ c: inout CommandContext) {
        c.read(1, as: ListValue.self) { list, reply in reply.integer(list?.count ?? 0) }
    }

    static func lrange(_ c: inout CommandContext) {
        guard let start = c.arguments.integer(2), let stop = c.arguments.integer(3) else { return c.notInteger() }
        c.read(1, as: ListValue.self) { list, reply in
            guard let list, let range = clampRange(start, stop, count: list.count) else {
                reply.arrayHeader(0)
                return
            }
            reply.arrayHeader(range.count)
            for i in range { list[i].withBytes { reply.bulk($0) } }
        }
    }

    /// Redis's range rule for LRANGE and LTRIM: negative indices count from the end, the start is
    /// clamped to 0 and the stop to the last element; nil when nothing is left.
    static func clampRange(_ start: Int, _ stop: Int, count: Int) -> Range<Int>? {
        var start = start, stop = stop
        if start < 0 { start += count }
        if stop < 0 { stop += count }
        if start < 0 { start = 0 }
        guard start <= stop, start < count else { return nil }
        return start..<(min(stop, count - 1) + 1)
    }

    static func lindex(_ c: inout CommandContext) {
        let arguments = c.arguments
        c.read(1, as: ListValue.self) { list, reply in
            guard let list else { return reply.null() }
            guard var index = arguments.integer(2) else {
                return reply.error("ERR value is not an integer or out of range")
            }
            if index < 0 { index += list.count }
            guard index >= 0, index < list.count else { return reply.null() }
            list[index].withBytes { reply.bulk($0) }
        }
    }

    static func lpos(_ c: inout CommandContext) {
        let arguments = c.arguments
        var rank = 1
        var count: Int?
        var maxlen = 0
        var j = 3
        while j < arguments.count {
            let hasValue = j + 1 < arguments.count
            if arguments.matches(j, "RANK") && hasValue {
                guard let n = arguments.integer(j + 1) else { return c.notInteger() }
                guard n != 0 else {
                    return c.error("ERR RANK can't be zero: use 1 to start from the first match, 2 from the second ... or use negative to start from the end of the list")
                }
                rank = n
            } else if arguments.matches(j, "COUNT") && hasValue {
                guard let n = arguments.integer(j + 1), n >= 0 else { return c.error("ERR COUNT can't be negative") }
                count = n
            } else if arguments.matches(j, "MAXLEN") && hasValue {
                guard let n = arguments.integer(j + 1), n >= 0 else { return c.error("ERR MAXLEN can't be negative") }
                maxlen = n
            } else {
                return c.syntaxError()
            }
            j += 2
        }
        let element = c.blob(2)
        c.read(1, as: ListValue.self) { list, reply in
            guard let list else {
                if count != nil { reply.arrayHeader(0) } else { reply.null() }
                return
            }
            let matches = positions(of: element, in: list, rank: rank, count: count ?? 1, maxlen: maxlen)
            if count != nil {
                reply.arrayHeader(matches.count)
                for index in matches { reply.integer(index) }
            } else if let index = matches.first {
                reply.integer(index)
            } else {
                reply.null()
            }
        }
    }

    /// LPOS's search: the indices of up to `count` matches (0: all) of `element`, skipping the
    /// first |`rank`| - 1 matches, from the head (`rank` > 0) or the tail, among the first
    /// `maxlen` elements scanned (0: all).
    ///
    /// Redis 7.0 negates a negative rank in place, so `RANK -9223372036854775808` stays negative:
    /// every match then counts (as for rank -1) and COUNT never stops the search. Kept as Redis has it.
    static func positions(of element: Blob, in list: ListValue, rank: Int, count: Int, maxlen: Int) -> [Int] {
        let fromTail = rank < 0
        let skip = rank == Int.min ? 0 : rank.magnitude - 1
        let limit = rank == Int.min ? 0 : count
        let n = list.count
        let scan = maxlen == 0 ? n : min(maxlen, n)
        var seen: UInt = 0
        var found: [Int] = []
        for step in 0..<scan {
            let index = fromTail ? n - 1 - step : step
            guard list[index] == element else { continue }
            seen += 1
            if seen > skip {
                found.append(index)
                if limit == 0 ? false : found.count >= limit { break }
            }
        }
        return found
    }

    // MARK: - Changes in place

    static func lset(_ c: inout CommandContext) {
        let arguments = c.arguments
        c.modify(1, as: ListValue.self, create: nil) { list, reply in
            guard let list else {
                reply.error("ERR no such key")
                return false
            }
            guard var index = arguments.integer(2) else {
                reply.error("ERR value is not an integer or out of range")
                return false
            }
            if index < 0 { index += list.count }
            guard index >= 0, index < list.count else {
                reply.error("ERR index out of range")
                return false
            }
            list.set(arguments.withBytes(3) { Blob($0) }, at: index)
            reply.ok()
            return true
        }
    }

    static func linsert(_ c: inout CommandContext) {
        let after: Bool
        if c.arguments.matches(2, "AFTER") {
            after = true
        } else if c.arguments.matches(2, "BEFORE") {
            after = false
        } else {
            return c.syntaxError()
        }
        let pivot = c.blob(3), item = c.blob(4)
        c.modify(1, as: ListValue.self, create: nil) { list, reply in
            guard let list else {
                reply.integer(0)
                return false
            }
            guard let index = list.items.firstIndex(of: pivot) else {
                reply.integer(-1)
                return false
            }
            list.insert(item, at: after ? index + 1 : index)
            reply.integer(list.count)
            return true
        }
    }

    static func lrem(_ c: inout CommandContext) {
        guard let toRemove = c.arguments.integer(2) else { return c.notInteger() }
        let element = c.blob(3)
        c.modify(1, as: ListValue.self, create: nil) { list, reply in
            guard let list else {
                reply.integer(0)
                return false
            }
            // 0 removes every match; |toRemove| of Int.min is beyond any list's length.
            let removed = list.removeMatches(of: element, limit: toRemove == 0 ? UInt.max : toRemove.magnitude,
                                             fromTail: toRemove < 0)
            reply.integer(removed)
            return removed > 0
        }
    }

    static func ltrim(_ c: inout CommandContext) {
        guard let start = c.arguments.integer(2), let stop = c.arguments.integer(3) else { return c.notInteger() }
        c.modify(1, as: ListValue.self, create: nil) { list, reply in
            reply.ok()
            guard let list else { return false }
            let count = list.count
            guard let keep = clampRange(start, stop, count: count) else {
                list.removeSubrange(0..<count)
                return true
            }
            if keep.upperBound < count { list.removeSubrange(keep.upperBound..<count) }
            if keep.lowerBound > 0 { list.removeSubrange(0..<keep.lowerBound) }
            // Redis signals the key as modified even when nothing was trimmed.
            return true
        }
    }
}
