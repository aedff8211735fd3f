import StrataRESP
import StrataStore

extension CommandTable {
    private static let hash = "hash"

    static let hashes: [CommandSpec] = [
        CommandSpec("hset", arity: -4, flags: [.write, .denyOOM, .fast], keys: (1, 1, 1), group: hash, since: "2.0.0",
                    complexity: "O(1) for each field/value pair added, so O(N) to add N field/value pairs when the command is called with multiple field/value pairs.",
                    summary: "Creates or modifies the value of a field in a hash.", syntax: "key field value [field value ...]",
                    handler: HashCommands.hset),
        CommandSpec("hsetnx", arity: 4, flags: [.write, .denyOOM, .fast], keys: (1, 1, 1), group: hash, since: "2.0.0",
                    summary: "Sets the value of a field in a hash only when the field doesn't exist.", syntax: "key field value",
                    handler: HashCommands.hsetnx),
        CommandSpec("hget", arity: 3, flags: [.readonly, .fast], keys: (1, 1, 1), group: hash, since: "2.0.0",
                    summary: "Returns the value of a field in a hash.", syntax: "key field", handler: HashCommands.hget),
        CommandSpec("hmget", arity: -3, flags: [.readonly, .fast], keys: (1, 1, 1), group: hash, since: "2.0.0",
                    complexity: "O(N) where N is the number of fields being requested.",
                    summary: "Returns the values of all fields in a hash.", syntax: "key field [field ...]",
                    handler: HashCommands.hmget),
        CommandSpec("hmset", arity: -4, flags: [.write, .denyOOM, .fast], keys: (1, 1, 1), group: hash, since: "2.0.0",
                    complexity: "O(N) where N is the number of fields being set.",
                    summary: "Sets the values of multiple fields.", syntax: "key field value [field value ...]",
                    handler: HashCommands.hmset),
        CommandSpec("hgetall", arity: 2, flags: [.readonly], keys: (1, 1, 1), group: hash, since: "2.0.0",
                    complexity: "O(N) where N is the size of the hash.",
                    summary: "Returns all fields and values in a hash.", syntax: "key", handler: HashCommands.hgetall),
        CommandSpec("hdel", arity: -3, flags: [.write, .fast], keys: (1, 1, 1), group: hash, since: "2.0.0",
                    complexity: "O(N) where N is the number of fields to be removed.",
                    summary: "Deletes one or more fields and their values from a hash. Deletes the hash if no fields remain.",
                    syntax: "key field [field ...]", handler: HashCommands.hdel),
        CommandSpec("hexists", arity: 3, flags: [.readonly, .fast], keys: (1, 1, 1), group: hash, since: "2.0.0",
                    summary: "Determines whether a field exists in a hash.", syntax: "key field", handler: HashCommands.hexists),
        CommandSpec("hlen", arity: 2, flags: [.readonly, .fast], keys: (1, 1, 1), group: hash, since: "2.0.0",
                    summary: "Returns the number of fields in a hash.", syntax: "key", handler: HashCommands.hlen),
        CommandSpec("hstrlen", arity: 3, flags: [.readonly, .fast], keys: (1, 1, 1), group: hash, since: "3.2.0",
                    summary: "Returns the length of the value of a field.", syntax: "key field", handler: HashCommands.hstrlen),
        CommandSpec("hkeys", arity: 2, flags: [.readonly], keys: (1, 1, 1), group: hash, since: "2.0.0",
                    complexity: "O(N) where N is the size of the hash.",
                    summary: "Returns all fields in a hash.", syntax: "key", handler: HashCommands.hkeys),
        CommandSpec("hvals", arity: 2, flags: [.readonly], keys: (1, 1, 1), group: hash, since: "2.0.0",
                    complexity: "O(N) where N is the size of the hash.",
                    summary: "Returns all values in a hash.", syntax: "key", handler: HashCommands.hvals),
        CommandSpec("hincrby", arity: 4, flags: [.write, .denyOOM, .fast], keys: (1, 1, 1), group: hash, since: "2.0.0",
                    summary: "Increments the integer value of a field in a hash by a number. Uses 0 as initial value if the field doesn't exist.",
                    syntax: "key field increment", handler: HashCommands.hincrby),
        CommandSpec("hincrbyfloat", arity: 4, flags: [.write, .denyOOM, .fast], keys: (1, 1, 1), group: hash, since: "2.6.0",
                    summary: "Increments the floating point value of a field by a number. Uses 0 as initial value if the field doesn't exist.",
                    syntax: "key field increment", handler: HashCommands.hincrbyfloat),
        CommandSpec("hrandfield", arity: -2, flags: [.readonly, .random], keys: (1, 1, 1), group: hash, since: "6.2.0",
                    complexity: "O(N) where N is the number of fields returned",
                    summary: "Returns one or more random fields from a hash.", syntax: "key [count [WITHVALUES]]",
                    handler: HashCommands.hrandfield),
        CommandSpec("hscan", arity: -3, flags: [.readonly, .random], keys: (1, 1, 1), group: hash, since: "2.8.0",
                    complexity: "O(1) for every call. O(N) for a complete iteration, including enough command calls for the cursor to return back to 0. N is the number of elements inside the collection.",
                    summary: "Iterates over fields and values of a hash.", syntax: "key cursor [MATCH pattern] [COUNT count]",
                    handler: HashCommands.hscan),
    ]
}

enum HashCommands {
    // MARK: - Writes

    static func hset(_ c: inout CommandContext) {
        guard c.arguments.count % 2 == 0 else { c.wrongArity(); return }
        setFields(&c, replyOK: false)
    }

    static func hmset(_ c: inout CommandContext) {
        guard c.arguments.count % 2 == 0 else { c.wrongArity(); return }
        setFields(&c, replyOK: true)
    }

    /// HSET's and HMSET's work: sets every field/value pair from argument 2 on, then replies
    /// with the number of new fields (HSET) or OK (HMSET).
    private static func setFields(_ c: inout CommandContext, replyOK: Bool) {
        let arguments = c.arguments
        c.modify(1, as: HashValue.self, create: HashValue.init) { hash, reply in
            guard let hash else { return false }
            var added = 0
            for i in stride(from: 2, to: arguments.count, by: 2) {
                // From the argument bytes: a packed hash copies them, a table reuses a field it holds.
                let new = arguments.withBytes(i) { field in arguments.withBytes(i + 1) { hash.set(field: field, value: $0) } }
                if new { added += 1 }
            }
            if replyOK { reply.ok() } else { reply.integer(added) }
            return true
        }
    }

    static func hsetnx(_ c: inout CommandContext) {
        let field = c.blob(2), value = c.blob(3)
        c.modify(1, as: HashValue.self, create: HashValue.init) { hash, reply in
            guard let hash else { return false }
            if hash[field] != nil {
                reply.integer(0)
                return false
            }
            hash.set(field, value)
            reply.integer(1)
            return true
        }
    }

    static func hdel(_ c: inout CommandContext) {
        let arguments = c.arguments
        c.modify(1, as: HashValue.self, create: nil) { hash, reply in
            guard let hash else { reply.integer(0); return false }
            var removed = 0
            for i in 2..<arguments.count where arguments.withBytes(i, { hash.remove(field: $0) }) { removed += 1 }
            reply.integer(removed)
            return removed > 0
        }
    }

    static func hincrby(_ c: inout CommandContext) {
        guard let increment = c.arguments.integer(3) else { c.notInteger(); return }
        let field = c.blob(2)
        c.modify(1, as: HashValue.self, create: HashValue.init) { hash, reply in
            guard let hash else { return false }
            var current = 0
            if let old = hash[field] {
                guard let parsed = old.integerValue else {
                    reply.error("ERR hash value is not an integer")
                    return false
                }
                current = Int(parsed)
            }
            let (sum, overflow) = current.addingReportingOverflow(increment)
            if overflow {
                reply.error("ERR increment or decrement would overflow")
                return false
            }
            hash.set(field, Blob(RESPNumber.decimalBytes(sum)))
            reply.integer(sum)
            return true
        }
    }

    static func hincrbyfloat(_ c: inout CommandContext) {
        guard let increment = c.arguments.withBytes(3, { LongDouble.parseRedis($0) }) else { c.notFloat(); return }
        guard !increment.isNaN && !increment.isInfinite else { c.error("ERR value is NaN or Infinity"); return }
        let field = c.blob(2)
        c.modify(1, as: HashValue.self, create: HashValue.init) { hash, reply in
            guard let hash else { return false }
            var current: LongDouble = 0
            if let old = hash[field] {
                guard let parsed = old.withBytes({ LongDouble.parseRedis($0) }) else {
                    reply.error("ERR hash value is not a float")
                    return false
                }
                current = parsed
            }
            let sum = current + increment
            if sum.isNaN || sum.isInfinite {
                reply.error("ERR increment would produce NaN or Infinity")
                return false
            }
            let text = LongDouble.formatHuman(sum)
            hash.set(field, Blob(text))
            reply.bulk(text)
            return true
        }
    }

    // MARK: - Reads

    static func hget(_ c: inout CommandContext) {
        let arguments = c.arguments
        c.read(1, as: HashValue.self) { hash, reply in
            guard let hash else { reply.null(); return }
            arguments.withBytes(2) { field in
                hash.withValue(of: field) { if let value = $0 { reply.bulk(value) } else { reply.null() } }
            }
        }
    }

    static func hmget(_ c: inout CommandContext) {
        let arguments = c.arguments
        c.read(1, as: HashValue.self) { hash, reply in
            reply.arrayHeader(arguments.count - 2)
            for i in 2..<arguments.count {
                guard let hash else { reply.null(); continue }
                arguments.withBytes(i) { field in
                    hash.withValue(of: field) { if let value = $0 { reply.bulk(value) } else { reply.null() } }
                }
            }
        }
    }

    static func hgetall(_ c: inout CommandContext) {
        c.read(1, as: HashValue.self) { hash, reply in
            guard let hash else { reply.mapHeader(0); return }
            reply.mapHeader(hash.count)
            hash.forEach { field, value in
                reply.bulk(field)
                reply.bulk(value)
            }
        }
    }

    static func hkeys(_ c: inout CommandContext) {
        c.read(1, as: HashValue.self) { hash, reply in
            reply.arrayHeader(hash?.count ?? 0)
            hash?.forEach { field, _ in reply.bulk(field) }
        }
    }

    static func hvals(_ c: inout CommandContext) {
        c.read(1, as: HashValue.self) { hash, reply in
            reply.arrayHeader(hash?.count ?? 0)
            hash?.forEach { _, value in reply.bulk(value) }
        }
    }

    static func hexists(_ c: inout CommandContext) {
        let arguments = c.arguments
        c.read(1, as: HashValue.self) { hash, reply in
            reply.integer(arguments.withBytes(2) { field in hash?.withValue(of: field) { $0 != nil } ?? false } ? 1 : 0)
        }
    }

    static func hlen(_ c: inout CommandContext) {
        c.read(1, as: HashValue.self) { hash, reply in reply.integer(hash?.count ?? 0) }
    }

    static func hstrlen(_ c: inout CommandContext) {
        let arguments = c.arguments
        c.read(1, as: HashValue.self) { hash, reply in
            reply.integer(arguments.withBytes(2) { field in hash?.withValue(of: field) { $0?.count ?? 0 } ?? 0 })
        }
    }

    // MARK: - Random fields and scans

    static func hrandfield(_ c: inout CommandContext) {
        let arguments = c.arguments
        guard arguments.count >= 3 else {
            c.read(1, as: HashValue.self) { hash, reply in
                guard let hash, hash.count > 0 else { reply.null(); return }
                reply.bulkElement(hash.pair(at: Int.random(in: 0..<hash.count)).field)
            }
            return
        }
        guard let requested = RandomPick.parseCount(&c, 2) else { return }
        let withValues = arguments.count == 4
        if arguments.count > 4 || (withValues && !arguments.matches(3, "WITHVALUES")) { c.syntaxError(); return }
        if withValues && (requested < -Int.max / 2 || requested > Int.max / 2) {
            c.error("ERR value is out of range")
            return
        }
        c.read(1, as: HashValue.self) { hash, reply in
            guard let hash, requested != 0 else { reply.arrayHeader(0); return }
            let size = hash.count
            // A packed hash is walked once into an array; a table is read by position.
            let packed = hash.isPacked ? hash.pairs : []
            let nested = withValues && reply.version == .resp3
            func header(_ n: Int) { reply.arrayHeader(withValues && !nested ? n * 2 : n) }
            func write(_ p: Int) {
                let pair = hash.isPacked ? packed[p] : hash.pair(at: p)
                if nested { reply.arrayHeader(2) }
                reply.bulkElement(pair.field)
                if withValues { reply.bulkElement(pair.value) }
            }
            let count = requested.magnitude
            if requested < 0 || count == 1 {
                // Repeats allowed.
                header(Int(count))
                for _ in 0..<count { write(Int.random(in: 0..<size)) }
            } else if count >= UInt(size) {
                header(size)
                for p in 0..<size { write(p) }
            } else {
                let positions = RandomPick.distinctPositions(Int(count), of: size)
                header(positions.count)
                for p in positions { write(p) }
            }
        }
    }

    static func hscan(_ c: inout CommandContext) {
        guard let cursor = c.arguments.scanCursor(at: 2) else { c.error("ERR invalid cursor"); return }
        let arguments = c.arguments
        c.read(1, as: HashValue.self) { hash, reply in
            guard let hash else { CollectionScan.replyEmpty(&reply); return }
            guard let options = CollectionScan.parse(arguments, from: 3, &reply) else { return }
            var found: [Blob] = []
            let visit = { (field: Blob, value: Blob) in
                if options.matches(field) {
                    found.append(field)
                    found.append(value)
                }
            }
            // A packed hash gives everything in one reply, whatever the cursor, as Redis's listpack.
            let next = hash.scan(cursor: Int(clamping: cursor), count: options.count, visit)
            CollectionScan.reply(next, found, &reply)
        }
    }
}

fileprivate extension RESPReplyWriter {
    /// A collection element as a bulk string.
    mutating func bulkElement(_ blob: Blob) { blob.withBytes { bulk($0) } }
}

// MARK: - Shared by HSCAN and SSCAN, HRANDFIELD, SRANDMEMBER and SPOP

/// HSCAN's and SSCAN's options, as Redis's `scanGenericCommand` parses them for a key.
struct CollectionScan {
    var count = 10
    var pattern: [UInt8]?

    func matches(_ element: Blob) -> Bool {
        guard let pattern else { return true }
        return element.withBytes { GlobPattern.matches(pattern: pattern, $0) }
    }

    /// Parses MATCH and COUNT from argument `start` on; nil after replying with an error.
    static func parse(_ arguments: CommandArguments, from start: Int, _ reply: inout RESPReplyWriter) -> CollectionScan? {
        var options = CollectionScan()
        var i = start
        while i < arguments.count {
            let remaining = arguments.count - i
            if arguments.matches(i, "COUNT") && remaining >= 2 {
                guard let n = arguments.integer(i + 1) else {
                    reply.error("ERR value is not an integer or out of range")
                    return nil
                }
                guard n >= 1 else {
                    reply.error("ERR syntax error")
                    return nil
                }
                options.count = n
            } else if arguments.matches(i, "MATCH") && remaining >= 2 {
                let p = arguments.bytes(i + 1)
                options.pattern = p == [UInt8(ascii: "*")] ? nil : p
            } else {
                reply.error("ERR syntax error")
                return nil
            }
            i += 2
        }
        return options
    }

    /// A missing key's reply: cursor 0 and no elements.
    static func replyEmpty(_ reply: inout RESPReplyWriter) {
        reply.arrayHeader(2)
        reply.bulk("0")
        reply.arrayHeader(0)
    }

    static func reply(_ cursor: Int, _ elements: [Blob], _ reply: inout RESPReplyWriter) {
        reply.arrayHeader(2)
        reply.bulk(String(cursor))
        reply.arrayHeader(elements.count)
        for element in elements { element.withBytes { reply.bulk($0) } }
    }
}

/// Random picks for HRANDFIELD, SRANDMEMBER and SPOP.
enum RandomPick {
    /// The count argument of HRANDFIELD and SRANDMEMBER (Redis's range -LONG_MAX…LONG_MAX);
    /// nil after replying with an error.
    static func parseCount(_ c: inout CommandContext, _ index: Int) -> Int? {
        guard let n = c.arguments.integer(index) else { c.notInteger(); return nil }
        guard n != Int.min else {
            c.error("ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807")
            return nil
        }
        return n
    }

    /// `count` distinct positions in `0..<size` (`count < size`), in random order.
    static func distinctPositions(_ count: Int, of size: Int) -> [Int] {
        var generator = SystemRandomNumberGenerator()
        if count * 4 >= size {
            // Many of them: a partial Fisher–Yates shuffle of all positions.
            var all = Array(0..<size)
            for i in 0..<count { all.swapAt(i, Int.random(in: i..<size, using: &generator)) }
            return Array(all[0..<count])
        }
        var chosen = Set<Int>()
        var positions: [Int] = []
        positions.reserveCapacity(count)
        while positions.count < count {
            let p = Int.random(in: 0..<size, using: &generator)
            if chosen.insert(p).inserted { positions.append(p) }
        }
        return positions
    }
}
