import StrataRESP
import StrataStore

enum KeyCommands {
    /// DEL and UNLINK.
    static func del(_ c: inout CommandContext) {
        let count = c.arguments.count - 1
        let hashes = (1...count).map { c.hash($0) }
        let db = c.database, now = c.now, arguments = c.arguments, keyspace = c.keyspace
        let removed = c.withShards(for: hashes) { () -> Int in
            var removed = 0
            for i in 1...count {
                let shard = keyspace.shard(for: hashes[i - 1])
                // A deletion is not an access: it must not promote the key on its way out.
                let entry = arguments.withBytes(i) {
                    shard.find(database: db, key: $0, hash: hashes[i - 1], now: now, access: .peek)
                }
                if let entry {
                    shard.remove(entry)
                    removed += 1
                }
            }
            return removed
        }
        c.reply.integer(removed)
    }

    /// EXISTS (and TOUCH with `access: .read`): how many of the keys exist, repeats counted.
    static func exists(_ c: inout CommandContext) { countExisting(&c, access: .peek) }
    static func touch(_ c: inout CommandContext) { countExisting(&c, access: .write) }

    private static func countExisting(_ c: inout CommandContext, access: Access) {
        var found = 0
        let db = c.database, now = c.now
        for i in 1..<c.arguments.count {
            let exists = c.withKey(i) { shard, key, hash in
                shard.find(database: db, key: key, hash: hash, now: now, access: access) != nil
            }
            if exists { found += 1 }
        }
        c.reply.integer(found)
    }

    static func type(_ c: inout CommandContext) {
        let db = c.database, now = c.now
        let kind = c.withKey(1) { shard, key, hash in
            shard.find(database: db, key: key, hash: hash, now: now, access: .peek)?.kind
        }
        c.reply.simpleString(kind?.name ?? "none")
    }

    static func rename(_ c: inout CommandContext) { renameGeneric(&c, onlyIfAbsent: false) }
    static func renamenx(_ c: inout CommandContext) { renameGeneric(&c, onlyIfAbsent: true) }

    private enum RenameResult { case noSuchKey, unchanged, renamed }

    private static func renameGeneric(_ c: inout CommandContext, onlyIfAbsent: Bool) {
        let sourceHash = c.hash(1), targetHash = c.hash(2)
        let db = c.database, now = c.now
        let arguments = c.arguments
        let keyspace = c.keyspace
        let sameKey = arguments.withBytes(1) { a in arguments.withBytes(2) { b in a.elementsEqual(b) } }
        let result = c.withShards(for: [sourceHash, targetHash]) { () -> RenameResult in
            guard let source = c.find(1, hash: sourceHash, access: .write) else { return .noSuchKey }
            if sameKey { return .unchanged }
            let targetShard = keyspace.shard(for: targetHash)
            if let target = c.find(2, hash: targetHash, access: .write) {
                if onlyIfAbsent { return .unchanged }
                targetShard.remove(target)
            }
            let expireAt = source.header.expireAt
            // The source leaves first: a collection then moves to its new key as it is (the
            // removed entry, kept alive by `source`, still holds it).
            keyspace.shard(for: sourceHash).remove(source)
            arguments.withBytes(2) { key in
                if let collection = source.collection {
                    _ = targetShard.insert(database: db, key: key, hash: targetHash, collection: collection, expireAt: expireAt, now: now)
                } else {
                    source.withValue { value in
                        // The same string object in Redis: it keeps its OBJECT ENCODING.
                        targetShard.insert(database: db, key: key, hash: targetHash, value: value, expireAt: expireAt, now: now)
                            .stringEncoding = source.stringEncoding
                    }
                }
            }
            return .renamed
        }
        switch result {
        case .noSuchKey: c.error("ERR no such key")
        case .unchanged: if onlyIfAbsent { c.reply.integer(0) } else { c.reply.ok() }
        case .renamed: if onlyIfAbsent { c.reply.integer(1) } else { c.reply.ok() }
        }
    }

    static func copy(_ c: inout CommandContext) {
        var replace = false
        var targetDatabase = c.database
        var j = 3
        while j < c.arguments.count {
            if c.arguments.matches(j, "REPLACE") {
                replace = true
            } else if c.arguments.matches(j, "DB") && j + 1 < c.arguments.count {
                guard let db = c.arguments.integer(j + 1) else { c.notInteger(); return }
                guard db >= Int(Int32.min), db <= Int(Int32.max) else {
                    c.error("ERR value is out of range, value must between -2147483648 and 2147483647")
                    return
                }
                guard db >= 0 && db < c.keyspace.databases else { c.error("ERR DB index is out of range"); return }
                targetDatabase = db
                j += 1
            } else {
                c.syntaxError()
                return
            }
            j += 1
        }
        let sourceHash = c.hash(1), targetHash = c.hash(2)
        let db = c.database, now = c.now
        let arguments = c.arguments
        let keyspace = c.keyspace
        let sameKey = arguments.withBytes(1) { a in arguments.withBytes(2) { b in a.elementsEqual(b) } }
        if sameKey && targetDatabase == db {
            c.error("ERR source and destination objects are the same")
            return
        }
        let copied = c.withShards(for: [sourceHash, targetHash]) { () -> Bool in
            guard let source = c.find(1, hash: sourceHash, access: .write) else { return false }
            let targetShard = keyspace.shard(for: targetHash)
            let existing = arguments.withBytes(2) {
                targetShard.find(database: targetDatabase, key: $0, hash: targetHash, now: now, access: .write)
            }
            if let existing {
                guard replace else { return false }
                targetShard.remove(existing)
            }
            let expireAt = source.header.expireAt
            arguments.withBytes(2) { key in
                if let collection = source.collection {
                    _ = targetShard.insert(database: targetDatabase, key: key, hash: targetHash, collection: collection.copy(),
                                           expireAt: expireAt, now: now)
                } else {
                    source.withValue { value in
                        // Redis's copy of a string keeps its encoding (raw stays raw).
                        targetShard.insert(database: targetDatabase, key: key, hash: targetHash, value: value,
                                           expireAt: expireAt, now: now).stringEncoding = source.stringEncoding
                    }
                }
            }
            return true
        }
        c.reply.integer(copied ? 1 : 0)
    }

    static func keys(_ c: inout CommandContext) {
        let pattern = c.arguments.bytes(1)
        let all = pattern == [UInt8(ascii: "*")]
        let found = c.keyspace.keys(database: c.database, matching: all ? nil : pattern, now: c.now,
                                    locked: c.shardsLocked)
        c.reply.arrayHeader(found.count)
        for key in found { c.reply.bulk(key) }
    }

    static func scan(_ c: inout CommandContext) {
        guard let cursor = parseCursor(c.arguments, 1) else { c.error("ERR invalid cursor"); return }
        var count = 10
        var pattern: [UInt8]?
        var typeName: [UInt8]?
        var i = 2
        while i < c.arguments.count {
            let remaining = c.arguments.count - i
            if c.arguments.matches(i, "COUNT") && remaining >= 2 {
                guard let n = c.arguments.integer(i + 1) else { c.notInteger(); return }
                guard n >= 1 else { c.syntaxError(); return }
                count = min(n, Int.max / 10) // Keyspace.scan bounds its work by count * 10
            } else if c.arguments.matches(i, "MATCH") && remaining >= 2 {
                let p = c.arguments.bytes(i + 1)
                pattern = p == [UInt8(ascii: "*")] ? nil : p
            } else if c.arguments.matches(i, "TYPE") && remaining >= 2 {
                typeName = c.arguments.bytes(i + 1).map { $0 >= 65 && $0 <= 90 ? $0 + 32 : $0 }
            } else {
                c.syntaxError()
                return
            }
            i += 2
        }
        var keys: [[UInt8]] = []
        // A type name Redis does not know matches no key, as in Redis 7.0.
        let wanted: ValueKind?? = typeName.map { ValueKind(name: String(decoding: $0, as: UTF8.self)) }
        let next = c.keyspace.scan(database: c.database, cursor: cursor, count: count, now: c.now,
                                   locked: c.shardsLocked) { entry in
            if let wanted, entry.kind != wanted { return }
            entry.withKey { key in
                if let pattern, !GlobPattern.matches(pattern: pattern, key) { return }
                keys.append(Array(key))
            }
        }
        c.reply.arrayHeader(2)
        c.reply.bulk(String(next))
        c.reply.arrayHeader(keys.count)
        for key in keys { c.reply.bulk(key) }
    }

    /// Parses a SCAN cursor as Redis does (`strtoul`: optional sign, wraps negatives, empty is 0).
    static func parseCursor(_ arguments: CommandArguments, _ index: Int) -> UInt64? {
        arguments.withBytes(index) { bytes -> UInt64? in
            var i = 0
            var negative = false
            if i < bytes.count && (bytes[i] == UInt8(ascii: "+") || bytes[i] == UInt8(ascii: "-")) {
                negative = bytes[i] == UInt8(ascii: "-")
                i += 1
            }
            if i == bytes.count { return bytes.count == 0 ? 0 : nil }
            var value: UInt64 = 0
            while i < bytes.count {
                let b = bytes[i]
                guard b >= UInt8(ascii: "0") && b <= UInt8(ascii: "9") else { return nil }
                let (m, o1) = value.multipliedReportingOverflow(by: 10)
                let (s, o2) = m.addingReportingOverflow(UInt64(b - UInt8(ascii: "0")))
                if o1 || o2 { return nil }
                value = s
                i += 1
            }
            return negative ? 0 &- value : value
        }
    }

    static func randomkey(_ c: inout CommandContext) {
        if let key = c.keyspace.randomKey(database: c.database, now: c.now, locked: c.shardsLocked) {
            c.reply.bulk(key)
        } else {
            c.reply.null()
        }
    }

    static func dbsize(_ c: inout CommandContext) {
        if c.shardsLocked {
            c.reply.integer(c.keyspace.shards.reduce(0) { $0 + $1.keyCount(database: c.database) })
        } else {
            c.reply.integer(c.keyspace.keyCount(database: c.database))
        }
    }

    static func flushdb(_ c: inout CommandContext) {
        guard flushOptionValid(&c) else { return }
        c.keyspace.flush(database: c.database, locked: c.shardsLocked)
        if c.server.tracker.isActive {
            c.server.tracker.invalidateAll(wakes: &c.subscribersToWake)
            if !c.batchesWakeups { c.wakeSubscribers() }
        }
        c.reply.ok()
    }

    static func flushall(_ c: inout CommandContext) {
        guard flushOptionValid(&c) else { return }
        c.keyspace.flush(database: nil, locked: c.shardsLocked)
        if c.server.tracker.isActive {
            c.server.tracker.invalidateAll(wakes: &c.subscribersToWake)
            if !c.batchesWakeups { c.wakeSubscribers() }
        }
        c.reply.ok()
    }

    private static func flushOptionValid(_ c: inout CommandContext) -> Bool {
        if c.arguments.count > 2 || (c.arguments.count == 2 && !c.arguments.matches(1, "SYNC") && !c.arguments.matches(1, "ASYNC")) {
            c.syntaxError()
            return false
        }
        return true
    }

    // MARK: - Expiry

    static func expire(_ c: inout CommandContext) { expireGeneric(&c, base: c.now, seconds: true) }
    static func pexpire(_ c: inout CommandContext) { expireGeneric(&c, base: c.now, seconds: false) }
    static func expireat(_ c: inout CommandContext) { expireGeneric(&c, base: 0, seconds: true) }
    static func pexpireat(_ c: inout CommandContext) { expireGeneric(&c, base: 0, seconds: false) }

    private static func expireGeneric(_ c: inout CommandContext, base: Int64, seconds: Bool) {
        var nx = false, xx = false, gt = false, lt = false
        for j in 3..<max(3, c.arguments.count) {
            if c.arguments.matches(j, "NX") { nx = true }
            else if c.arguments.matches(j, "XX") { xx = true }
            else if c.arguments.matches(j, "GT") { gt = true }
            else if c.arguments.matches(j, "LT") { lt = true }
            else { c.error("ERR Unsupported option ", quoting: c.arguments.bytes(j)); return }
        }
        if nx && (xx || gt || lt) {
            c.error("ERR NX and XX, GT or LT options at the same time are not compatible")
            return
        }
        if gt && lt {
            c.error("ERR GT and LT options at the same time are not compatible")
            return
        }
        guard var when = c.arguments.integer(2) else { c.notInteger(); return }
        if seconds {
            if when > Int.max / 1000 || when < Int.min / 1000 {
                c.error("ERR invalid expire time in '\(c.commandName)' command")
                return
            }
            when *= 1000
        }
        if when > Int.max - Int(base) {
            c.error("ERR invalid expire time in '\(c.commandName)' command")
            return
        }
        when += Int(base)
        let db = c.database, now = c.now
        let target = Int64(when)
        let changed = c.withKey(1) { shard, key, hash -> Bool in
            guard let entry = shard.find(database: db, key: key, hash: hash, now: now, access: .write) else { return false }
            let current = entry.header.expireAt
            if nx && current != 0 { return false }
            if xx && current == 0 { return false }
            if gt && (current == 0 || target <= current) { return false }
            if lt && current != 0 && target >= current { return false }
            if target <= now {
                shard.remove(entry)
            } else {
                shard.setExpire(entry, at: target)
            }
            return true
        }
        c.reply.integer(changed ? 1 : 0)
    }

    static func ttl(_ c: inout CommandContext) { ttlGeneric(&c, milliseconds: false, absolute: false) }
    static func pttl(_ c: inout CommandContext) { ttlGeneric(&c, milliseconds: true, absolute: false) }
    static func expiretime(_ c: inout CommandContext) { ttlGeneric(&c, milliseconds: false, absolute: true) }
    static func pexpiretime(_ c: inout CommandContext) { ttlGeneric(&c, milliseconds: true, absolute: true) }

    private static func ttlGeneric(_ c: inout CommandContext, milliseconds: Bool, absolute: Bool) {
        let db = c.database, now = c.now
        let expireAt: Int64? = c.withKey(1) { shard, key, hash in
            shard.find(database: db, key: key, hash: hash, now: now, access: .peek)?.header.expireAt
        }
        guard let expireAt else { c.reply.integer(-2); return }
        guard expireAt != 0 else { c.reply.integer(-1); return }
        let ttl = max(0, absolute ? expireAt : expireAt &- now)
        // Rounded to the nearest second without overflowing near the 64-bit limit.
        c.reply.integer(Int(milliseconds ? ttl : ttl / 1000 + (ttl % 1000 >= 500 ? 1 : 0)))
    }

    // MARK: - DUMP and RESTORE

    static func dump(_ c: inout CommandContext) {
        let db = c.database, now = c.now
        c.withKeyAndReply(1) { shard, key, hash, reply in
            guard let entry = shard.find(database: db, key: key, hash: hash, now: now, access: .read) else {
                return reply.null()
            }
            let payload = entry.collection.map { DumpPayload.make(collection: $0) }
                ?? entry.withValue { DumpPayload.make(string: $0) }
            reply.bulk(payload)
        }
    }

    /// RESTORE key ttl payload [REPLACE] [ABSTTL] [IDLETIME seconds] [FREQ frequency], with
    /// Redis's checks in Redis's order.
    static func restore(_ c: inout CommandContext) {
        var replace = false, absoluteTTL = false
        var idle: Int?, frequency: Int?
        var j = 4
        while j < c.arguments.count {
            let more = c.arguments.count - j - 1
            if c.arguments.matches(j, "REPLACE") {
                replace = true
            } else if c.arguments.matches(j, "ABSTTL") {
                absoluteTTL = true
            } else if c.arguments.matches(j, "IDLETIME"), more >= 1, frequency == nil {
                guard let value = c.arguments.integer(j + 1) else { c.notInteger(); return }
                guard value >= 0 else { c.error("ERR Invalid IDLETIME value, must be >= 0"); return }
                idle = value
                j += 1
            } else if c.arguments.matches(j, "FREQ"), more >= 1, idle == nil {
                guard let value = c.arguments.integer(j + 1) else { c.notInteger(); return }
                guard value >= 0 && value <= 255 else { c.error("ERR Invalid FREQ value, must be >= 0 and <= 255"); return }
                frequency = value
                j += 1
            } else {
                c.syntaxError()
                return
            }
            j += 1
        }
        let db = c.database, now = c.now
        let exists = c.withKey(1) { shard, key, hash in
            shard.find(database: db, key: key, hash: hash, now: now, access: .peek) != nil
        }
        if exists && !replace { c.error("BUSYKEY Target key name already exists."); return }
        guard let ttl = c.arguments.integer(2) else { c.notInteger(); return }
        guard ttl >= 0 else { c.error("ERR Invalid TTL value, must be >= 0"); return }
        let decoded = c.arguments.withBytes(3) { DumpPayload.decode($0) }
        let value: DumpPayload.Decoded
        switch decoded {
        case .failure(.versionOrChecksum): c.error("ERR DUMP payload version or checksum are wrong"); return
        case .failure(.badFormat): c.error("ERR Bad data format"); return
        case .success(let v): value = v
        }
        var expireAt: Int64 = 0
        if ttl > 0 {
            let (sum, overflow) = Int64(ttl).addingReportingOverflow(absoluteTTL ? 0 : now)
            expireAt = overflow ? Int64.max : sum
        }
        let keyspace = c.keyspace
        c.withKey(1) { shard, key, hash in
            let existing = shard.find(database: db, key: key, hash: hash, now: now, access: .write)
            if let existing, replace { shard.remove(existing) }
            // Already expired: nothing is stored (an existing key is still replaced, by nothing).
            if expireAt != 0 && expireAt <= now { return }
            let entry: Entry
            switch value {
            case .string(let bytes):
                entry = bytes.withUnsafeBytes {
                    shard.insert(database: db, key: key, hash: hash, value: $0, expireAt: expireAt, now: now)
                }
            case .collection(let collection):
                entry = shard.insert(database: db, key: key, hash: hash, collection: collection, expireAt: expireAt, now: now)
            }
            if let idle { keyspace.setIdleSeconds(entry, idle, now: now) }
        }
        c.reply.ok()
    }

    static func persist(_ c: inout CommandContext) {
        let db = c.database, now = c.now
        let changed = c.withKey(1) { shard, key, hash -> Bool in
            guard let entry = shard.find(database: db, key: key, hash: hash, now: now, access: .write),
                  entry.header.expireAt != 0 else { return false }
            shard.setExpire(entry, at: 0)
            return true
        }
        c.reply.integer(changed ? 1 : 0)
    }

    // MARK: - OBJECT and MEMORY

    static func objectEncoding(_ c: inout CommandContext) {
        withEntry(&c) { c, entry, _ in
            // Read under the lock: a collection's encoding changes as it grows.
            let encoding: String = c.withKey(2) { _, _, _ in
                if let collection = entry.collection { return collection.encodingName }
                return entry.withValue { stringEncodingName(entry.stringEncoding, $0) }
            }
            c.reply.bulk(encoding)
        }
    }

    /// OBJECT ENCODING of a string, as Redis 7.0 names it for the same history.
    static func stringEncodingName(_ encoding: StringEncoding, _ value: UnsafeRawBufferPointer) -> String {
        switch encoding {
        case .raw: return "raw"
        case .text: return value.count <= 44 ? "embstr" : "raw"
        case .byContent:
            if value.count <= 20, RESPNumber.parseInt(value) != nil { return "int" }
            return value.count <= 44 ? "embstr" : "raw"
        }
    }

    static func objectIdletime(_ c: inout CommandContext) {
        withEntry(&c) { c, _, idle in c.reply.integer(idle) }
    }

    static func objectFreq(_ c: inout CommandContext) {
        // Strata offers only LRU-family and random policies, as Redis does when no LFU policy is set.
        withEntry(&c) { c, _, _ in
            c.error("ERR An LFU maxmemory policy is not selected, access frequency not tracked. Please note that when switching between policies at runtime LRU and LFU data will take some time to adjust.")
        }
    }

    static func objectRefcount(_ c: inout CommandContext) {
        withEntry(&c) { c, _, _ in c.reply.integer(1) }
    }

    static func memoryUsage(_ c: inout CommandContext) {
        if c.arguments.count > 3 {
            guard c.arguments.count == 5, c.arguments.matches(3, "SAMPLES") else { c.syntaxError(); return }
            guard c.arguments.integer(4) != nil else { c.notInteger(); return }
        }
        let db = c.database, now = c.now
        let cost: Int? = c.withKey(2) { shard, key, hash in
            shard.find(database: db, key: key, hash: hash, now: now, access: .peek).map { Keyspace.memoryCost(of: $0) }
        }
        if let cost { c.reply.integer(cost) } else { c.reply.null() }
    }

    /// Reads the entry named by argument 2 (OBJECT subcommands) and its idle seconds, replying
    /// null when absent.
    private static func withEntry(_ c: inout CommandContext, _ body: (inout CommandContext, Entry, Int) -> Void) {
        let db = c.database, now = c.now
        let keyspace = c.keyspace
        let found: (Entry, Int)? = c.withKey(2) { shard, key, hash in
            shard.find(database: db, key: key, hash: hash, now: now, access: .peek).map {
                ($0, keyspace.idleSeconds($0, now: now))
            }
        }
        guard let (entry, idle) = found else { c.reply.null(); return }
        body(&c, entry, idle)
    }
}

extension CommandArguments {
    /// Argument `index` as a SCAN cursor, parsed as Redis does; nil if it is not one.
    public func scanCursor(at index: Int) -> UInt64? { KeyCommands.parseCursor(self, index) }
}
