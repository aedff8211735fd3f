import StrataRESP
import StrataStore

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Options shared by SET and GETEX (Redis's `parseExtendedStringArgumentsOrReply`).
struct ExpiryOptions {
    enum Unit { case seconds, milliseconds }
    var nx = false
    var xx = false
    var get = false
    var keepTTL = false
    var persist = false
    /// Which of EX/PX/EXAT/PXAT was given, and the argument index of its value.
    var expireKind: ExpireKind?
    var expireArgument = 0

    enum ExpireKind { case ex, px, exat, pxat }

    enum CommandType { case set, get }

    /// Parses options from argument `start` on; nil after replying with a syntax error.
    static func parse(_ context: inout CommandContext, from start: Int, type: CommandType) -> ExpiryOptions? {
        var options = ExpiryOptions()
        var j = start
        let args = context.arguments
        while j < args.count {
            let hasNext = j + 1 < args.count
            let hasTime = options.expireKind != nil
            if args.matches(j, "NX") && !options.xx && type == .set {
                options.nx = true
            } else if args.matches(j, "XX") && !options.nx && type == .set {
                options.xx = true
            } else if args.matches(j, "GET") && type == .set {
                options.get = true
            } else if args.matches(j, "KEEPTTL") && !options.persist && !hasTime && type == .set {
                options.keepTTL = true
            } else if args.matches(j, "PERSIST") && type == .get && !hasTime && !options.keepTTL {
                options.persist = true
            } else if let kind = ExpiryOptions.kind(args, j), hasNext, !options.keepTTL, !options.persist,
                      options.expireKind == nil || options.expireKind == kind {
                options.expireKind = kind
                options.expireArgument = j + 1
                j += 1
            } else {
                context.syntaxError()
                return nil
            }
            j += 1
        }
        return options
    }

    private static func kind(_ args: CommandArguments, _ j: Int) -> ExpireKind? {
        if args.matches(j, "EX") { return .ex }
        if args.matches(j, "PX") { return .px }
        if args.matches(j, "EXAT") { return .exat }
        if args.matches(j, "PXAT") { return .pxat }
        return nil
    }

    /// The absolute expiry in milliseconds, or nil after replying with an error.
    func expireAt(_ context: inout CommandContext) -> Int64? {
        guard let kind = expireKind else { return 0 }
        guard let value = context.arguments.integer(expireArgument) else {
            context.notInteger()
            return nil
        }
        let isSeconds = kind == .ex || kind == .exat
        if value <= 0 || (isSeconds && value > Int.max / 1000) {
            context.error("ERR invalid expire time in '\(context.commandName)' command")
            return nil
        }
        var milliseconds = isSeconds ? value * 1000 : value
        if kind == .ex || kind == .px {
            let (sum, overflow) = milliseconds.addingReportingOverflow(Int(context.now))
            milliseconds = overflow ? -1 : sum
        }
        if milliseconds <= 0 {
            context.error("ERR invalid expire time in '\(context.commandName)' command")
            return nil
        }
        return Int64(milliseconds)
    }
}

enum StringCommands {
    static func get(_ c: inout CommandContext) {
        // Closures here capture locals, never `c`: capturing the context would copy it.
        let db = c.database, now = c.now
        let entry = c.withKey(1) { shard, key, hash in
            shard.find(database: db, key: key, hash: hash, now: now, access: .read)
        }
        c.bulk(entry)
    }

    static func set(_ c: inout CommandContext) {
        guard let options = ExpiryOptions.parse(&c, from: 3, type: .set) else { return }
        setGeneric(&c, key: 1, value: 2, options: options)
    }

    /// SET's core, shared with SETEX and PSETEX.
    static func setGeneric(_ c: inout CommandContext, key: Int, value: Int, options: ExpiryOptions) {
        guard let expireAt = options.expireAt(&c) else { return }
        let db = c.database
        let now = c.now
        let arguments = c.arguments
        // (previous value for GET, whether the key was written)
        let (previous, written): (Entry?, Bool) = c.withKey(key) { shard, keyBytes, hash in
            let existing = shard.find(database: db, key: keyBytes, hash: hash, now: now,
                                      access: options.get ? .read : .write)
            if options.get, let existing, existing.kind != .string { return (existing, false) }
            if (options.nx && existing != nil) || (options.xx && existing == nil) {
                return (existing, false)
            }
            _ = arguments.withBytes(value) { valueBytes in
                if let existing {
                    shard.replaceValue(existing, with: valueBytes, expireAt: options.keepTTL ? nil : expireAt, now: now)
                } else {
                    shard.insert(database: db, key: keyBytes, hash: hash, value: valueBytes, expireAt: expireAt, now: now)
                }
            }
            return (existing, true)
        }
        if options.get {
            c.bulk(previous)
        } else if written {
            c.reply.ok()
        } else {
            c.reply.null()
        }
    }

    static func setnx(_ c: inout CommandContext) {
        let db = c.database, now = c.now, arguments = c.arguments
        let written = c.withKey(1) { shard, key, hash -> Bool in
            if shard.find(database: db, key: key, hash: hash, now: now, access: .write) != nil { return false }
            arguments.withBytes(2) { value in
                _ = shard.insert(database: db, key: key, hash: hash, value: value, expireAt: 0, now: now)
            }
            return true
        }
        c.reply.integer(written ? 1 : 0)
    }

    static func setex(_ c: inout CommandContext) {
        var options = ExpiryOptions()
        options.expireKind = .ex
        options.expireArgument = 2
        setGeneric(&c, key: 1, value: 3, options: options)
    }

    static func psetex(_ c: inout CommandContext) {
        var options = ExpiryOptions()
        options.expireKind = .px
        options.expireArgument = 2
        setGeneric(&c, key: 1, value: 3, options: options)
    }

    static func getset(_ c: inout CommandContext) {
        var options = ExpiryOptions()
        options.get = true
        setGeneric(&c, key: 1, value: 2, options: options)
    }

    static func getdel(_ c: inout CommandContext) {
        let db = c.database, now = c.now
        let entry = c.withKey(1) { shard, key, hash -> Entry? in
            guard let entry = shard.find(database: db, key: key, hash: hash, now: now, access: .read) else { return nil }
            if entry.kind == .string { shard.remove(entry) }
            return entry
        }
        c.bulk(entry)
    }

    static func getex(_ c: inout CommandContext) {
        guard let options = ExpiryOptions.parse(&c, from: 2, type: .get) else { return }
        let db = c.database, now = c.now
        let kind = c.withKey(1) { shard, key, hash in
            shard.find(database: db, key: key, hash: hash, now: now, access: .peek)?.kind
        }
        guard let kind else { c.reply.null(); return }
        guard kind == .string else { c.wrongType(); return }
        guard let expireAt = options.expireAt(&c) else { return }
        let entry = c.withKey(1) { shard, key, hash -> Entry? in
            guard let entry = shard.find(database: db, key: key, hash: hash, now: now, access: .read) else { return nil }
            if let kind = options.expireKind {
                if (kind == .exat || kind == .pxat) && expireAt <= now {
                    shard.remove(entry)
                } else {
                    shard.setExpire(entry, at: expireAt)
                }
            } else if options.persist && entry.header.expireAt != 0 {
                shard.setExpire(entry, at: 0)
            }
            return entry
        }
        c.bulk(entry)
    }

    static func mget(_ c: inout CommandContext) {
        let count = c.arguments.count - 1
        let hashes = (1...count).map { c.hash($0) }
        let db = c.database, now = c.now, arguments = c.arguments, keyspace = c.keyspace
        // All shards at once, so that MGET never sees half of a concurrent MSET.
        let entries: [Entry?] = c.withShards(for: hashes) {
            (1...count).map { i in
                arguments.withBytes(i) {
                    keyspace.shard(for: hashes[i - 1]).find(database: db, key: $0, hash: hashes[i - 1], now: now, access: .read)
                }
            }
        }
        c.reply.arrayHeader(count)
        // A key of another type reads as missing, as in Redis.
        for entry in entries { c.bulk(entry?.kind == .string ? entry : nil) }
    }

    static func mset(_ c: inout CommandContext) {
        guard c.arguments.count % 2 == 1 else { c.wrongArity(); return }
        msetGeneric(&c, onlyIfNoneExist: false)
    }

    static func msetnx(_ c: inout CommandContext) {
        guard c.arguments.count % 2 == 1 else { c.wrongArity(); return }
        msetGeneric(&c, onlyIfNoneExist: true)
    }

    private static func msetGeneric(_ c: inout CommandContext, onlyIfNoneExist: Bool) {
        let arguments = c.arguments
        let db = c.database, now = c.now
        let keyspace = c.keyspace
        let hashes = stride(from: 1, to: arguments.count, by: 2).map { c.hash($0) }
        let written = c.withShards(for: hashes) { () -> Bool in
            if onlyIfNoneExist {
                for (n, i) in stride(from: 1, to: arguments.count, by: 2).enumerated() {
                    let found = arguments.withBytes(i) {
                        keyspace.shard(for: hashes[n]).find(database: db, key: $0, hash: hashes[n], now: now, access: .write)
                    }
                    if found != nil { return false }
                }
            }
            for (n, i) in stride(from: 1, to: arguments.count, by: 2).enumerated() {
                let shard = keyspace.shard(for: hashes[n])
                _ = arguments.withBytes(i) { key in
                    arguments.withBytes(i + 1) { value in
                        if let existing = shard.find(database: db, key: key, hash: hashes[n], now: now, access: .write) {
                            shard.replaceValue(existing, with: value, expireAt: 0, now: now)
                        } else {
                            shard.insert(database: db, key: key, hash: hashes[n], value: value, expireAt: 0, now: now)
                        }
                    }
                }
            }
            return true
        }
        if onlyIfNoneExist { c.reply.integer(written ? 1 : 0) } else { c.reply.ok() }
    }

    // MARK: - Counters

    static func incr(_ c: inout CommandContext) { incrBy(&c, 1) }
    static func decr(_ c: inout CommandContext) { incrBy(&c, -1) }

    static func incrby(_ c: inout CommandContext) {
        guard let increment = c.arguments.integer(2) else { c.notInteger(); return }
        incrBy(&c, increment)
    }

    static func decrby(_ c: inout CommandContext) {
        guard let decrement = c.arguments.integer(2) else { c.notInteger(); return }
        guard decrement != Int.min else { c.error("ERR decrement would overflow"); return }
        incrBy(&c, -decrement)
    }

    private enum CounterResult { case value(Int), notInteger, overflow, wrongType }

    private static func incrBy(_ c: inout CommandContext, _ increment: Int) {
        let db = c.database, now = c.now
        let result = c.withKey(1) { shard, key, hash -> CounterResult in
            let existing = shard.find(database: db, key: key, hash: hash, now: now, access: .write)
            var current = 0
            if let existing {
                guard existing.kind == .string else { return .wrongType }
                guard let parsed = existing.withValue({ RESPNumber.parseInt($0) }) else { return .notInteger }
                current = parsed
            }
            let (sum, overflow) = current.addingReportingOverflow(increment)
            if overflow { return .overflow }
            var digits = RESPNumber.decimalBytes(sum)
            _ = digits.withUnsafeMutableBytes { value in
                if let existing {
                    shard.replaceValue(existing, with: UnsafeRawBufferPointer(value), now: now)
                } else {
                    shard.insert(database: db, key: key, hash: hash, value: UnsafeRawBufferPointer(value), expireAt: 0, now: now)
                }
            }
            return .value(sum)
        }
        switch result {
        case .value(let v): c.reply.integer(v)
        case .notInteger: c.notInteger()
        case .overflow: c.error("ERR increment or decrement would overflow")
        case .wrongType: c.wrongType()
        }
    }

    private enum FloatResult { case value([UInt8]), notFloat, nanOrInfinity, wrongType }

    static func incrbyfloat(_ c: inout CommandContext) {
        let db = c.database, now = c.now
        let arguments = c.arguments
        let result = c.withKey(1) { shard, key, hash -> FloatResult in
            let existing = shard.find(database: db, key: key, hash: hash, now: now, access: .write)
            var current: LongDouble = 0
            if let existing {
                guard existing.kind == .string else { return .wrongType }
                guard let parsed = existing.withValue({ LongDouble.parseRedis($0) }) else { return .notFloat }
                current = parsed
            }
            guard let increment = arguments.withBytes(2, { LongDouble.parseRedis($0) }) else { return .notFloat }
            let sum = current + increment
            if sum.isNaN || sum.isInfinite { return .nanOrInfinity }
            let text = LongDouble.formatHuman(sum)
            let stored = text.withUnsafeBytes { value in
                if let existing {
                    shard.replaceValue(existing, with: value, now: now)
                } else {
                    shard.insert(database: db, key: key, hash: hash, value: value, expireAt: 0, now: now)
                }
            }
            // Redis stores the text as a plain string object, not as an integer.
            stored.stringEncoding = .text
            return .value(text)
        }
        switch result {
        case .value(let text): c.reply.bulk(text)
        case .notFloat: c.notFloat()
        case .nanOrInfinity: c.error("ERR increment would produce NaN or Infinity")
        case .wrongType: c.wrongType()
        }
    }

    // MARK: - Byte ranges

    private enum LengthResult { case length(Int), tooLong, wrongType }

    static func append(_ c: inout CommandContext) {
        let db = c.database, now = c.now
        let arguments = c.arguments
        let limit = c.server.configuration.protoMaxBulkLength
        let result = c.withKey(1) { shard, key, hash -> LengthResult in
            arguments.withBytes(2) { suffix in
                guard let existing = shard.find(database: db, key: key, hash: hash, now: now, access: .write) else {
                    shard.insert(database: db, key: key, hash: hash, value: suffix, expireAt: 0, now: now)
                    return .length(suffix.count)
                }
                guard existing.kind == .string else { return .wrongType }
                let total = existing.valueCount + suffix.count
                guard total <= limit else { return .tooLong }
                var combined = [UInt8]()
                combined.reserveCapacity(total)
                existing.withValue { combined.append(contentsOf: $0) }
                combined.append(contentsOf: suffix)
                // Redis appends in place to an unshared raw copy: OBJECT ENCODING says raw.
                combined.withUnsafeBytes { shard.replaceValue(existing, with: $0, now: now) }.stringEncoding = .raw
                return .length(total)
            }
        }
        switch result {
        case .length(let n): c.reply.integer(n)
        case .tooLong: c.error("ERR string exceeds maximum allowed size (proto-max-bulk-len)")
        case .wrongType: c.wrongType()
        }
    }

    static func strlen(_ c: inout CommandContext) {
        let db = c.database, now = c.now
        let entry = c.withKey(1) { shard, key, hash in
            shard.find(database: db, key: key, hash: hash, now: now, access: .read)
        }
        guard entry?.kind ?? .string == .string else { c.wrongType(); return }
        c.reply.integer(entry?.valueCount ?? 0)
    }

    static func getrange(_ c: inout CommandContext) {
        guard var start = c.arguments.integer(2), var end = c.arguments.integer(3) else { c.notInteger(); return }
        let db = c.database, now = c.now
        guard let entry = c.withKey(1, { shard, key, hash in
            shard.find(database: db, key: key, hash: hash, now: now, access: .read)
        }) else {
            c.reply.bulk([])
            return
        }
        guard entry.kind == .string else { c.wrongType(); return }
        let length = entry.valueCount
        if start < 0 && end < 0 && start > end { c.reply.bulk([]); return }
        if start < 0 { start = length + start }
        if end < 0 { end = length + end }
        if start < 0 { start = 0 }
        if end < 0 { end = 0 }
        if end >= length { end = length - 1 }
        if start > end || length == 0 {
            c.reply.bulk([])
        } else {
            entry.withValue { c.reply.bulk(UnsafeRawBufferPointer(rebasing: $0[start...end])) }
        }
    }

    // MARK: - LCS

    /// One run of the LCS found by ``lcs(_:)``: where it is in each string, and its length.
    struct LCSMatch: Equatable {
        var a: ClosedRange<Int>
        var b: ClosedRange<Int>
        var length: Int { a.count }
    }

    /// LCS key1 key2 [LEN] [IDX] [MINMATCHLEN len] [WITHMATCHLEN], as Redis 7.0 (missing keys are
    /// empty strings; the table Redis would allocate is bounded by proto-max-bulk-len).
    static func lcs(_ c: inout CommandContext) {
        let hashes = [c.hash(1), c.hash(2)]
        let db = c.database, now = c.now, arguments = c.arguments, keyspace = c.keyspace
        let (first, second): (Entry?, Entry?) = c.withShards(for: hashes) {
            let found = (1...2).map { i in
                arguments.withBytes(i) {
                    keyspace.shard(for: hashes[i - 1]).find(database: db, key: $0, hash: hashes[i - 1], now: now, access: .read)
                }
            }
            return (found[0], found[1])
        }
        guard first?.kind ?? .string == .string, second?.kind ?? .string == .string else {
            c.error("ERR The specified keys must contain string values")
            return
        }
        var wantsIndexes = false, wantsLength = false, withMatchLength = false
        var minimumMatch = 0
        var j = 3
        while j < arguments.count {
            if BitCommands.matchesWord(arguments, j, "IDX") {
                wantsIndexes = true
            } else if BitCommands.matchesWord(arguments, j, "LEN") {
                wantsLength = true
            } else if BitCommands.matchesWord(arguments, j, "WITHMATCHLEN") {
                withMatchLength = true
            } else if BitCommands.matchesWord(arguments, j, "MINMATCHLEN") && j + 1 < arguments.count {
                guard let value = arguments.integer(j + 1) else { c.notInteger(); return }
                minimumMatch = max(value, 0)
                j += 1
            } else {
                c.syntaxError()
                return
            }
            j += 1
        }
        if wantsIndexes && wantsLength {
            c.error("ERR If you want both the length and indexes, please just use IDX.")
            return
        }
        let aLength = first?.valueCount ?? 0, bLength = second?.valueCount ?? 0
        if aLength >= Int(UInt32.max) - 1 || bLength >= Int(UInt32.max) - 1 {
            c.error("ERR String too long for LCS")
            return
        }
        // Redis refuses when its (n+1)*(m+1) table of 32-bit lengths would exceed proto-max-bulk-len.
        let (cells, overflow) = (aLength + 1).multipliedReportingOverflow(by: bLength + 1)
        if overflow || cells > c.server.configuration.protoMaxBulkLength / 4 {
            c.error("ERR Insufficient memory, transient memory for LCS exceeds proto-max-bulk-len")
            return
        }
        if wantsLength {
            c.reply.integer(withBytes(first) { a in withBytes(second) { b in lcsLength(a, b) } })
            return
        }
        let (common, matches) = withBytes(first) { a in
            withBytes(second) { b in lcsSequence(a, b, minimumMatch: minimumMatch) }
        }
        guard wantsIndexes else { c.reply.bulk(common); return }
        c.reply.mapHeader(2)
        c.reply.bulk("matches")
        c.reply.arrayHeader(matches.count)
        for match in matches {
            c.reply.arrayHeader(withMatchLength ? 3 : 2)
            c.reply.arrayHeader(2)
            c.reply.integer(match.a.lowerBound)
            c.reply.integer(match.a.upperBound)
            c.reply.arrayHeader(2)
            c.reply.integer(match.b.lowerBound)
            c.reply.integer(match.b.upperBound)
            if withMatchLength { c.reply.integer(match.length) }
        }
        c.reply.bulk("len")
        c.reply.integer(common.count)
    }

    /// Calls `body` with a string entry's bytes, or with no bytes for a missing key.
    static func withBytes<R>(_ entry: Entry?, _ body: (UnsafeRawBufferPointer) -> R) -> R {
        guard let entry else { return body(UnsafeRawBufferPointer(start: nil, count: 0)) }
        return entry.withValue(body)
    }

    /// The length of the longest common subsequence, in two rows of the table.
    static func lcsLength(_ a: UnsafeRawBufferPointer, _ b: UnsafeRawBufferPointer) -> Int {
        var previous = [UInt32](repeating: 0, count: b.count + 1)
        var current = previous
        for i in 0..<a.count {
            for j in 0..<b.count {
                current[j + 1] = a[i] == b[j] ? previous[j] + 1 : max(previous[j + 1], current[j])
            }
            swap(&previous, &current)
        }
        return Int(previous[b.count])
    }

    /// The longest common subsequence and its runs (last first, of at least `minimumMatch`
    /// bytes), walked back through the whole table as Redis walks it, so that of several
    /// subsequences of the same length it finds the one Redis finds.
    static func lcsSequence(_ a: UnsafeRawBufferPointer, _ b: UnsafeRawBufferPointer,
                            minimumMatch: Int) -> ([UInt8], [LCSMatch]) {
        let width = b.count + 1
        var table = [UInt32](repeating: 0, count: (a.count + 1) * width)
        if !a.isEmpty && !b.isEmpty {
            table.withUnsafeMutableBufferPointer { t in
                for i in 1...a.count {
                    let row = i * width, above = row - width
                    for j in 1...b.count {
                        t[row + j] = a[i - 1] == b[j - 1] ? t[above + j - 1] + 1 : max(t[above + j], t[row + j - 1])
                    }
                }
            }
        }
        var length = Int(table[a.count * width + b.count])
        var common = [UInt8](repeating: 0, count: length)
        var matches: [LCSMatch] = []
        var open: LCSMatch?
        var i = a.count, j = b.count
        while i > 0 && j > 0 {
            var emit = false
            if a[i - 1] == b[j - 1] {
                common[length - 1] = a[i - 1]
                if let run = open {
                    if run.a.lowerBound == i && run.b.lowerBound == j {
                        open = LCSMatch(a: (i - 1)...run.a.upperBound, b: (j - 1)...run.b.upperBound)
                    } else {
                        emit = true
                    }
                } else {
                    open = LCSMatch(a: (i - 1)...(i - 1), b: (j - 1)...(j - 1))
                }
                if let run = open, run.a.lowerBound == 0 || run.b.lowerBound == 0 { emit = true }
                length -= 1
                i -= 1
                j -= 1
            } else {
                if table[(i - 1) * width + j] > table[i * width + j - 1] { i -= 1 } else { j -= 1 }
                if open != nil { emit = true }
            }
            if emit, let run = open {
                if minimumMatch == 0 || run.length >= minimumMatch { matches.append(run) }
                open = nil
            }
        }
        return (common, matches)
    }

    static func setrange(_ c: inout CommandContext) {
        guard let offset = c.arguments.integer(2) else { c.notInteger(); return }
        guard offset >= 0 else { c.error("ERR offset is out of range"); return }
        let db = c.database, now = c.now
        let arguments = c.arguments
        let limit = c.server.configuration.protoMaxBulkLength
        let result = c.withKey(1) { shard, key, hash -> LengthResult in
            arguments.withBytes(3) { patch in
                let existing = shard.find(database: db, key: key, hash: hash, now: now, access: .write)
                if let existing, existing.kind != .string { return .wrongType }
                let oldLength = existing?.valueCount ?? 0
                if patch.isEmpty { return .length(oldLength) }
                let (total, overflow) = offset.addingReportingOverflow(patch.count)
                guard !overflow, total <= limit else { return .tooLong }
                var bytes = [UInt8](repeating: 0, count: max(oldLength, total))
                existing?.withValue { old in bytes.withUnsafeMutableBytes { $0.copyMemory(from: old) } }
                bytes.withUnsafeMutableBytes { out in
                    UnsafeMutableRawBufferPointer(rebasing: out[offset..<total]).copyMemory(from: patch)
                }
                let stored = bytes.withUnsafeBytes { value in
                    if let existing {
                        shard.replaceValue(existing, with: value, now: now)
                    } else {
                        shard.insert(database: db, key: key, hash: hash, value: value, expireAt: 0, now: now)
                    }
                }
                stored.stringEncoding = .raw
                return .length(bytes.count)
            }
        }
        switch result {
        case .length(let n): c.reply.integer(n)
        case .tooLong: c.error("ERR string exceeds maximum allowed size (proto-max-bulk-len)")
        case .wrongType: c.wrongType()
        }
    }
}

#if arch(x86_64) || arch(i386)
typealias LongDouble = Float80
#else
typealias LongDouble = Double
#endif

extension LongDouble {
    /// Parses a float exactly as Redis's `string2ld` (strtold, no spaces, no NaN).
    static func parseRedis(_ bytes: UnsafeRawBufferPointer) -> LongDouble? {
        guard bytes.count > 0 && bytes.count < 5 * 1024 else { return nil }
        var text = [CChar](repeating: 0, count: bytes.count + 1)
        for i in 0..<bytes.count { text[i] = CChar(bitPattern: bytes[i]) }
        let first = bytes[0]
        if first == 0x20 || (first >= 0x09 && first <= 0x0D) { return nil }
        errno = 0
        return text.withUnsafeBufferPointer { pointer -> LongDouble? in
            var end: UnsafeMutablePointer<CChar>?
            #if arch(x86_64) || arch(i386)
            let value = strtold(pointer.baseAddress!, &end)
            #else
            let value = strtod(pointer.baseAddress!, &end)
            #endif
            guard let end, end.pointee == 0 else { return nil }
            if end != pointer.baseAddress! + bytes.count { return nil }
            if errno == ERANGE && (value.isInfinite || value == 0) { return nil }
            if errno == EINVAL || value.isNaN { return nil }
            return value
        }
    }

    /// Formats as Redis's `ld2string(..., LD_STR_HUMAN)`: `%.17Lf` with trailing zeros removed.
    static func formatHuman(_ value: LongDouble) -> [UInt8] {
        var buffer = [CChar](repeating: 0, count: 5 * 1024)
        let length = buffer.withUnsafeMutableBufferPointer { out -> Int in
            #if arch(x86_64) || arch(i386)
            return Int(withVaList([value]) { vsnprintf(out.baseAddress!, out.count, "%.17Lf", $0) })
            #else
            return Int(withVaList([value]) { vsnprintf(out.baseAddress!, out.count, "%.17f", $0) })
            #endif
        }
        var bytes = buffer[0..<min(length, buffer.count - 1)].map { UInt8(bitPattern: $0) }
        if bytes.contains(UInt8(ascii: ".")) {
            while bytes.last == UInt8(ascii: "0") { bytes.removeLast() }
            if bytes.last == UInt8(ascii: ".") { bytes.removeLast() }
        }
        if bytes == [UInt8(ascii: "-"), UInt8(ascii: "0")] { bytes = [UInt8(ascii: "0")] }
        return bytes
    }
}
