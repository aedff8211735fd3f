import NIOCore
import StrataRESP
import StrataStore

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

extension CommandTable {
    private static let sortedSet = "sorted-set"
    private static let logRange = "O(log(N)+M) with N being the number of elements in the sorted set and M the number of elements returned."
    private static let logRangeLimit = "O(log(N)+M) with N being the number of elements in the sorted set and M the number of elements being returned. If M is constant (e.g. always asking for the first 10 elements with LIMIT), you can consider it O(log(N))."
    private static let logRemoved = "O(log(N)+M) with N being the number of elements in the sorted set and M the number of elements removed by the operation."
    private static let union = "O(N)+O(M*log(M)) with N being the sum of the sizes of the input sorted sets, and M being the number of elements in the resulting sorted set."
    private static let inter = "O(N*K)+O(M*log(M)) worst case with N being the smallest input sorted set, K being the number of input sorted sets and M being the number of elements in the resulting sorted set."
    private static let diff = "O(L + (N-K)log(N)) worst case where L is the total number of elements in all the sets, N is the size of the first set, and K is the size of the result set."
    private static let pop = "O(log(N)*M) with N being the number of elements in the sorted set, and M being the number of elements popped."

    static let sortedSets: [CommandSpec] = [
        CommandSpec("zadd", arity: -4, flags: [.write, .denyOOM, .fast], keys: (1, 1, 1), group: sortedSet, since: "1.2.0",
                    complexity: "O(log(N)) for each item added, where N is the number of elements in the sorted set.",
                    summary: "Adds one or more members to a sorted set, or updates their scores. Creates the key if it doesn't exist.",
                    syntax: "key [NX | XX] [GT | LT] [CH] [INCR] score member [score member ...]", handler: SortedSetCommands.zadd),
        CommandSpec("zincrby", arity: 4, flags: [.write, .denyOOM, .fast], keys: (1, 1, 1), group: sortedSet, since: "1.2.0",
                    complexity: "O(log(N)) where N is the number of elements in the sorted set.",
                    summary: "Increments the score of a member in a sorted set.", syntax: "key increment member",
                    handler: SortedSetCommands.zincrby),
        CommandSpec("zrem", arity: -3, flags: [.write, .fast], keys: (1, 1, 1), group: sortedSet, since: "1.2.0",
                    complexity: "O(M*log(N)) with N being the number of elements in the sorted set and M the number of elements to be removed.",
                    summary: "Removes one or more members from a sorted set. Deletes the sorted set if all members were removed.",
                    syntax: "key member [member ...]", handler: SortedSetCommands.zrem),
        CommandSpec("zremrangebyrank", arity: 4, flags: [.write], keys: (1, 1, 1), group: sortedSet, since: "2.0.0",
                    complexity: logRemoved,
                    summary: "Removes members in a sorted set within a range of indexes. Deletes the sorted set if all members were removed.",
                    syntax: "key start stop", handler: SortedSetCommands.zremrangebyrank),
        CommandSpec("zremrangebyscore", arity: 4, flags: [.write], keys: (1, 1, 1), group: sortedSet, since: "1.2.0",
                    complexity: logRemoved,
                    summary: "Removes members in a sorted set within a range of scores. Deletes the sorted set if all members were removed.",
                    syntax: "key min max", handler: SortedSetCommands.zremrangebyscore),
        CommandSpec("zremrangebylex", arity: 4, flags: [.write], keys: (1, 1, 1), group: sortedSet, since: "2.8.9",
                    complexity: logRemoved,
                    summary: "Removes members in a sorted set within a lexicographical range. Deletes the sorted set if all members were removed.",
                    syntax: "key min max", handler: SortedSetCommands.zremrangebylex),
        CommandSpec("zcard", arity: 2, flags: [.readonly, .fast], keys: (1, 1, 1), group: sortedSet, since: "1.2.0",
                    summary: "Returns the number of members in a sorted set.", syntax: "key", handler: SortedSetCommands.zcard),
        CommandSpec("zscore", arity: 3, flags: [.readonly, .fast], keys: (1, 1, 1), group: sortedSet, since: "1.2.0",
                    summary: "Returns the score of a member in a sorted set.", syntax: "key member",
                    handler: SortedSetCommands.zscore),
        CommandSpec("zmscore", arity: -3, flags: [.readonly, .fast], keys: (1, 1, 1), group: sortedSet, since: "6.2.0",
                    complexity: "O(N) where N is the number of members being requested.",
                    summary: "Returns the score of one or more members in a sorted set.", syntax: "key member [member ...]",
                    handler: SortedSetCommands.zmscore),
        CommandSpec("zrank", arity: 3, flags: [.readonly, .fast], keys: (1, 1, 1), group: sortedSet, since: "2.0.0",
                    complexity: "O(log(N))",
                    summary: "Returns the index of a member in a sorted set ordered by ascending scores.", syntax: "key member",
                    handler: SortedSetCommands.zrank),
        CommandSpec("zrevrank", arity: 3, flags: [.readonly, .fast], keys: (1, 1, 1), group: sortedSet, since: "2.0.0",
                    complexity: "O(log(N))",
                    summary: "Returns the index of a member in a sorted set ordered by descending scores.", syntax: "key member",
                    handler: SortedSetCommands.zrevrank),
        CommandSpec("zcount", arity: 4, flags: [.readonly, .fast], keys: (1, 1, 1), group: sortedSet, since: "2.0.0",
                    complexity: "O(log(N)) with N being the number of elements in the sorted set.",
                    summary: "Returns the count of members in a sorted set that have scores within a range.", syntax: "key min max",
                    handler: SortedSetCommands.zcount),
        CommandSpec("zlexcount", arity: 4, flags: [.readonly, .fast], keys: (1, 1, 1), group: sortedSet, since: "2.8.9",
                    complexity: "O(log(N)) with N being the number of elements in the sorted set.",
                    summary: "Returns the number of members in a sorted set within a lexicographical range.", syntax: "key min max",
                    handler: SortedSetCommands.zlexcount),
        CommandSpec("zrange", arity: -4, flags: [.readonly], keys: (1, 1, 1), group: sortedSet, since: "1.2.0",
                    complexity: logRange, summary: "Returns members in a sorted set within a range of indexes.",
                    syntax: "key start stop [BYSCORE | BYLEX] [REV] [LIMIT offset count] [WITHSCORES]",
                    handler: SortedSetCommands.zrange),
        CommandSpec("zrevrange", arity: -4, flags: [.readonly], keys: (1, 1, 1), group: sortedSet, since: "1.2.0",
                    complexity: logRange, summary: "Returns members in a sorted set within a range of indexes in reverse order.",
                    syntax: "key start stop [WITHSCORES]", handler: SortedSetCommands.zrevrange),
        CommandSpec("zrangebyscore", arity: -4, flags: [.readonly], keys: (1, 1, 1), group: sortedSet, since: "1.0.5",
                    complexity: logRangeLimit, summary: "Returns members in a sorted set within a range of scores.",
                    syntax: "key min max [WITHSCORES] [LIMIT offset count]", handler: SortedSetCommands.zrangebyscore),
        CommandSpec("zrevrangebyscore", arity: -4, flags: [.readonly], keys: (1, 1, 1), group: sortedSet, since: "2.2.0",
                    complexity: logRangeLimit, summary: "Returns members in a sorted set within a range of scores in reverse order.",
                    syntax: "key max min [WITHSCORES] [LIMIT offset count]", handler: SortedSetCommands.zrevrangebyscore),
        CommandSpec("zrangebylex", arity: -4, flags: [.readonly], keys: (1, 1, 1), group: sortedSet, since: "2.8.9",
                    complexity: logRangeLimit, summary: "Returns members in a sorted set within a lexicographical range.",
                    syntax: "key min max [LIMIT offset count]", handler: SortedSetCommands.zrangebylex),
        CommandSpec("zrevrangebylex", arity: -4, flags: [.readonly], keys: (1, 1, 1), group: sortedSet, since: "2.8.9",
                    complexity: logRangeLimit,
                    summary: "Returns members in a sorted set within a lexicographical range in reverse order.",
                    syntax: "key max min [LIMIT offset count]", handler: SortedSetCommands.zrevrangebylex),
        CommandSpec("zrangestore", arity: -5, flags: [.write, .denyOOM], keys: (1, 2, 1), group: sortedSet, since: "6.2.0",
                    complexity: "O(log(N)+M) with N being the number of elements in the sorted set and M the number of elements stored into the destination key.",
                    summary: "Stores a range of members from sorted set in a key.",
                    syntax: "dst src min max [BYSCORE | BYLEX] [REV] [LIMIT offset count]", handler: SortedSetCommands.zrangestore),
        CommandSpec("zpopmin", arity: -2, flags: [.write, .fast], keys: (1, 1, 1), group: sortedSet, since: "5.0.0",
                    complexity: pop,
                    summary: "Returns the lowest-scoring members from a sorted set after removing them. Deletes the sorted set if the last member was popped.",
                    syntax: "key [count]", handler: SortedSetCommands.zpopmin),
        CommandSpec("zpopmax", arity: -2, flags: [.write, .fast], keys: (1, 1, 1), group: sortedSet, since: "5.0.0",
                    complexity: pop,
                    summary: "Returns the highest-scoring members from a sorted set after removing them. Deletes the sorted set if the last member was popped.",
                    syntax: "key [count]", handler: SortedSetCommands.zpopmax),
        CommandSpec("zmpop", arity: -4, flags: [.write], numKeysAt: 1, group: sortedSet, since: "7.0.0",
                    complexity: "O(K) + O(M*log(N)) where K is the number of provided keys, N being the number of elements in the sorted set, and M being the number of elements popped.",
                    summary: "Returns the highest- or lowest-scoring members from one or more sorted sets after removing them. Deletes the sorted set if the last member was popped.",
                    syntax: "numkeys key [key ...] <MIN | MAX> [COUNT count]", handler: SortedSetCommands.zmpop),
        CommandSpec("zrandmember", arity: -2, flags: [.readonly, .random], keys: (1, 1, 1), group: sortedSet, since: "6.2.0",
                    complexity: "O(N) where N is the number of elements returned",
                    summary: "Returns one or more random members from a sorted set.", syntax: "key [count [WITHSCORES]]",
                    handler: SortedSetCommands.zrandmember),
        CommandSpec("zunion", arity: -3, flags: [.readonly], numKeysAt: 1, group: sortedSet, since: "6.2.0",
                    complexity: union, summary: "Returns the union of multiple sorted sets.",
                    syntax: "numkeys key [key ...] [WEIGHTS weight [weight ...]] [AGGREGATE <SUM | MIN | MAX>] [WITHSCORES]",
                    handler: SortedSetCommands.zunion),
        CommandSpec("zinter", arity: -3, flags: [.readonly], numKeysAt: 1, group: sortedSet, since: "6.2.0",
                    complexity: inter, summary: "Returns the intersect of multiple sorted sets.",
                    syntax: "numkeys key [key ...] [WEIGHTS weight [weight ...]] [AGGREGATE <SUM | MIN | MAX>] [WITHSCORES]",
                    handler: SortedSetCommands.zinter),
        CommandSpec("zdiff", arity: -3, flags: [.readonly], numKeysAt: 1, group: sortedSet, since: "6.2.0",
                    complexity: diff, summary: "Returns the difference between multiple sorted sets.",
                    syntax: "numkeys key [key ...] [WITHSCORES]", handler: SortedSetCommands.zdiff),
        CommandSpec("zunionstore", arity: -4, flags: [.write, .denyOOM], keys: (1, 1, 1), numKeysAt: 2, group: sortedSet,
                    since: "2.0.0", complexity: union, summary: "Stores the union of multiple sorted sets in a key.",
                    syntax: "destination numkeys key [key ...] [WEIGHTS weight [weight ...]] [AGGREGATE <SUM | MIN | MAX>]",
                    handler: SortedSetCommands.zunionstore),
        CommandSpec("zinterstore", arity: -4, flags: [.write, .denyOOM], keys: (1, 1, 1), numKeysAt: 2, group: sortedSet,
                    since: "2.0.0", complexity: inter, summary: "Stores the intersect of multiple sorted sets in a key.",
                    syntax: "destination numkeys key [key ...] [WEIGHTS weight [weight ...]] [AGGREGATE <SUM | MIN | MAX>]",
                    handler: SortedSetCommands.zinterstore),
        CommandSpec("zdiffstore", arity: -4, flags: [.write, .denyOOM], keys: (1, 1, 1), numKeysAt: 2, group: sortedSet,
                    since: "6.2.0", complexity: diff, summary: "Stores the difference of multiple sorted sets in a key.",
                    syntax: "destination numkeys key [key ...]", handler: SortedSetCommands.zdiffstore),
        CommandSpec("zintercard", arity: -3, flags: [.readonly], numKeysAt: 1, group: sortedSet, since: "7.0.0",
                    complexity: "O(N*K) worst case with N being the smallest input sorted set, K being the number of input sorted sets.",
                    summary: "Returns the number of members of the intersect of multiple sorted sets.",
                    syntax: "numkeys key [key ...] [LIMIT limit]", handler: SortedSetCommands.zintercard),
        CommandSpec("zscan", arity: -3, flags: [.readonly, .random], keys: (1, 1, 1), group: sortedSet, since: "2.8.0",
                    complexity: "O(1) for every call. O(N) for a complete iteration, including enough command calls for the cursor to return back to 0. N is the number of elements inside the collection.",
                    summary: "Iterates over members and scores of a sorted set.", syntax: "key cursor [MATCH pattern] [COUNT count]",
                    handler: SortedSetCommands.zscan),
    ]
}

// MARK: - Scores and ranges

/// A score range (`min`, `(min`, `-inf`, `+inf`), as Redis's `zslParseRange` reads it.
struct ScoreRange {
    var min: Double
    var max: Double
    var minExclusive: Bool
    var maxExclusive: Bool

    @inline(__always) func gteMin(_ score: Double) -> Bool { minExclusive ? score > min : score >= min }
    @inline(__always) func lteMax(_ score: Double) -> Bool { maxExclusive ? score < max : score <= max }
}

/// One end of a lexicographical range: `-`, `+`, `[member` or `(member`.
enum LexBound {
    case minimum
    case maximum
    case member(Blob, exclusive: Bool)

    var exclusive: Bool {
        if case .member(_, let exclusive) = self { return exclusive }
        return true // `-` and `+` are exclusive in Redis
    }

    /// Redis's `sdscmplex` of a member against this bound.
    @inline(__always) func compare(_ member: Blob) -> Int {
        switch self {
        case .minimum: return 1
        case .maximum: return -1
        case .member(let bound, _):
            return member.withBytes { a in bound.withBytes { b in Blob.compare(a, b) } }
        }
    }
}

/// A lexicographical range, as Redis's `zslParseLexRange` reads it.
struct LexRange {
    var min: LexBound
    var max: LexBound

    @inline(__always) func gteMin(_ member: Blob) -> Bool {
        let c = min.compare(member)
        return min.exclusive ? c > 0 : c >= 0
    }

    @inline(__always) func lteMax(_ member: Blob) -> Bool {
        let c = max.compare(member)
        return max.exclusive ? c < 0 : c <= 0
    }

    /// Whether no member can be in the range (`sdscmplex(min, max)` > 0, or equal with an
    /// exclusive end).
    var isEmpty: Bool {
        let c: Int
        switch (min, max) {
        case (.minimum, .minimum), (.maximum, .maximum): c = 0
        case (.minimum, _), (_, .maximum): c = -1
        case (.maximum, _), (_, .minimum): c = 1
        case (.member(let a, _), .member(let b, _)): c = a.withBytes { x in b.withBytes { y in Blob.compare(x, y) } }
        }
        return c > 0 || (c == 0 && (min.exclusive || max.exclusive))
    }
}

/// Ranks of a sorted set to reply with: `count` of them from `start`, going down when `reverse`.
struct RankSpan {
    var start = 0
    var count = 0
    var reverse = false

    static let empty = RankSpan()
}

enum SortedSetCommands {
    static let notFloatRange: StaticString = "ERR min or max is not a float"
    static let notLexRange: StaticString = "ERR min or max not valid string range item"
    static let nanScore: StaticString = "ERR resulting score is not a number (NaN)"

    /// Calls `body` with `bytes` followed by a NUL, as C functions want them.
    @inline(__always)
    static func withCString<R>(_ bytes: UnsafeRawBufferPointer, _ body: (UnsafePointer<CChar>) -> R) -> R {
        withUnsafeTemporaryAllocation(of: CChar.self, capacity: bytes.count + 1) { buffer in
            let raw = UnsafeMutableRawBufferPointer(buffer)
            if bytes.count > 0 { raw.baseAddress!.copyMemory(from: bytes.baseAddress!, byteCount: bytes.count) }
            buffer[bytes.count] = 0
            return body(UnsafePointer(buffer.baseAddress!))
        }
    }

    @inline(__always)
    private static func isSpace(_ byte: UInt8) -> Bool { byte == 0x20 || (byte >= 0x09 && byte <= 0x0D) }

    /// A score, an increment or a weight, read as Redis's `string2d`: all of it `strtod`'s
    /// (`inf`, hexadecimal included), no leading space, no overflow, no NaN.
    static func parseScore(_ bytes: UnsafeRawBufferPointer) -> Double? {
        guard bytes.count > 0, !isSpace(bytes[0]) else { return nil }
        return withCString(bytes) { text -> Double? in
            errno = 0
            var end: UnsafeMutablePointer<CChar>?
            let value = strtod(text, &end)
            guard let end, UnsafePointer(end) - text == bytes.count else { return nil }
            if errno == ERANGE && (value.isInfinite || value == 0) { return nil }
            return value.isNaN ? nil : value
        }
    }

    /// One end of a score range as `zslParseRange` reads it: `(` makes it exclusive, then
    /// `strtod` must stop at a NUL (so an empty bound is 0 and an overflow is infinite).
    static func parseScoreBound(_ bytes: UnsafeRawBufferPointer) -> (Double, Bool)? {
        let exclusive = bytes.first == UInt8(ascii: "(")
        let text = exclusive ? UnsafeRawBufferPointer(rebasing: bytes[1...]) : bytes
        return withCString(text) { pointer -> (Double, Bool)? in
            var end: UnsafeMutablePointer<CChar>?
            let value = strtod(pointer, &end)
            guard let end, end.pointee == 0, !value.isNaN else { return nil }
            return (value, exclusive)
        }
    }

    static func parseScoreRange(_ arguments: CommandArguments, _ minIndex: Int, _ maxIndex: Int) -> ScoreRange? {
        guard let (min, minExclusive) = arguments.withBytes(minIndex, parseScoreBound),
              let (max, maxExclusive) = arguments.withBytes(maxIndex, parseScoreBound) else { return nil }
        return ScoreRange(min: min, max: max, minExclusive: minExclusive, maxExclusive: maxExclusive)
    }

    static func parseLexBound(_ bytes: UnsafeRawBufferPointer) -> LexBound? {
        guard let first = bytes.first else { return nil }
        switch first {
        case UInt8(ascii: "+"), UInt8(ascii: "-"):
            // Redis checks that the next byte is the string's terminating NUL.
            guard bytes.count == 1 || bytes[1] == 0 else { return nil }
            return first == UInt8(ascii: "+") ? .maximum : .minimum
        case UInt8(ascii: "("), UInt8(ascii: "["):
            return .member(Blob(UnsafeRawBufferPointer(rebasing: bytes[1...])), exclusive: first == UInt8(ascii: "("))
        default:
            return nil
        }
    }

    static func parseLexRange(_ arguments: CommandArguments, _ minIndex: Int, _ maxIndex: Int) -> LexRange? {
        guard let min = arguments.withBytes(minIndex, parseLexBound),
              let max = arguments.withBytes(maxIndex, parseLexBound) else { return nil }
        return LexRange(min: min, max: max)
    }

    /// A score as a listpack holds it (Redis's `d2string`): integers in ±2^62 in decimal, other
    /// values as `%.17g`. ZSCAN replies with it for a listpack-encoded set.
    static func listpackScore(_ value: Double) -> String {
        if value.isFinite && value == value.rounded() && abs(value) <= Double(Int64.max / 2) { // (double)(LLONG_MAX/2), as Redis compares
            return String(Int64(value))
        }
        return RESPReplyWriter.formatDouble(value)
    }

    // MARK: - Spans

    /// Ranks `start` … `end` (negative from the end), as ZRANGE reads them.
    static func rankSpan(_ length: Int, _ start: Int, _ end: Int, reverse: Bool) -> RankSpan {
        var start = start, end = end
        if start < 0 { start = length + start }
        if end < 0 { end = length + end }
        if start < 0 { start = 0 }
        guard start <= end, start < length else { return .empty }
        if end >= length { end = length - 1 }
        let count = end - start + 1
        return reverse ? RankSpan(start: length - 1 - start, count: count, reverse: true)
            : RankSpan(start: start, count: count, reverse: false)
    }

    /// Applies LIMIT to members of ranks `low ..< high`: Redis skips `offset` (a negative one
    /// skips everything) and replies with up to `limit` (negative: all).
    static func limitSpan(low: Int, high: Int, offset: Int, limit: Int, reverse: Bool) -> RankSpan {
        guard offset >= 0, low < high, offset < high - low else { return .empty }
        var count = high - low - offset
        if limit >= 0 { count = Swift.min(count, limit) }
        guard count > 0 else { return .empty }
        return RankSpan(start: reverse ? high - 1 - offset : low + offset, count: count, reverse: reverse)
    }

    static func scoreSpan(_ zset: SortedSetValue, _ range: ScoreRange, offset: Int = 0, limit: Int = -1,
                          reverse: Bool = false) -> RankSpan {
        let low = zset.partitionRank { range.gteMin($0.score) }
        let high = zset.partitionRank { !range.lteMax($0.score) }
        return limitSpan(low: low, high: high, offset: offset, limit: limit, reverse: reverse)
    }

    /// The members of a lexicographical range. On a listpack-sized set this walks the members
    /// as Redis walks its listpack (which decides the answer when the scores differ); on a
    /// larger one it searches, as Redis's skiplist does.
    static func lexSpan(_ zset: SortedSetValue, _ range: LexRange, offset: Int = 0, limit: Int = -1,
                        reverse: Bool = false) -> RankSpan {
        let n = zset.count
        guard n > 0, !range.isEmpty else { return .empty }
        if !zset.isCompact {
            let low = zset.partitionRank { range.gteMin($0.member) }
            let high = zset.partitionRank { !range.lteMax($0.member) }
            return limitSpan(low: low, high: high, offset: offset, limit: limit, reverse: reverse)
        }
        guard range.gteMin(zset[rank: n - 1].member), range.lteMax(zset[rank: 0].member) else { return .empty }
        guard offset >= 0, offset < n else { return .empty }
        if reverse {
            var s = n - 1
            while s >= 0 && !range.lteMax(zset[rank: s].member) { s -= 1 }
            guard s >= 0, range.gteMin(zset[rank: s].member), offset <= s else { return .empty }
            let start = s - offset
            var count = 0
            while start - count >= 0 && (limit < 0 || count < limit) && range.gteMin(zset[rank: start - count].member) {
                count += 1
            }
            return RankSpan(start: start, count: count, reverse: true)
        }
        var s = 0
        while s < n && !range.gteMin(zset[rank: s].member) { s += 1 }
        guard s < n, range.lteMax(zset[rank: s].member), offset < n - s else { return .empty }
        let start = s + offset
        var count = 0
        while start + count < n && (limit < 0 || count < limit) && range.lteMax(zset[rank: start + count].member) {
            count += 1
        }
        return RankSpan(start: start, count: count, reverse: false)
    }

    /// The ascending ranks a span covers.
    static func ascending(_ span: RankSpan) -> Range<Int> {
        span.reverse ? (span.start - span.count + 1)..<(span.start + 1) : span.start..<(span.start + span.count)
    }

    /// Writes the members of `span` (with their scores: flat pairs in RESP2, [member, score]
    /// arrays in RESP3).
    static func writeSpan(_ zset: SortedSetValue, _ span: RankSpan, withScores: Bool, _ reply: inout RESPReplyWriter) {
        let nested = withScores && reply.version == .resp3
        reply.arrayHeader(withScores && !nested ? span.count * 2 : span.count)
        zset.forEach(from: span.start, count: span.count, reverse: span.reverse) { item in
            if nested { reply.arrayHeader(2) }
            item.member.withBytes { reply.bulk($0) }
            if withScores { reply.double(item.score) }
        }
    }

    // MARK: - ZADD, ZINCRBY

    static func zadd(_ c: inout CommandContext) { add(&c, incrementCommand: false) }

    static func zincrby(_ c: inout CommandContext) { add(&c, incrementCommand: true) }

    /// Redis's `zaddGenericCommand` (ZINCRBY is ZADD INCR, and reads options too).
    private static func add(_ c: inout CommandContext, incrementCommand: Bool) {
        let args = c.arguments
        var nx = false, xx = false, gt = false, lt = false, ch = false, incr = incrementCommand
        var first = 2
        while first < args.count {
            if args.matches(first, "NX") { nx = true }
            else if args.matches(first, "XX") { xx = true }
            else if args.matches(first, "CH") { ch = true }
            else if args.matches(first, "INCR") { incr = true }
            else if args.matches(first, "GT") { gt = true }
            else if args.matches(first, "LT") { lt = true }
            else { break }
            first += 1
        }
        let elements = args.count - first
        guard elements > 0, elements % 2 == 0 else { return c.syntaxError() }
        let pairs = elements / 2
        if nx && xx { return c.error("ERR XX and NX options at the same time are not compatible") }
        if (gt && nx) || (lt && nx) || (gt && lt) {
            return c.error("ERR GT, LT, and/or NX options at the same time are not compatible")
        }
        if incr && pairs > 1 { return c.error("ERR INCR option supports a single increment-element pair") }
        var scores: [Double] = []
        scores.reserveCapacity(pairs) // bounded by the arguments received
        for j in 0..<pairs {
            guard let score = args.withBytes(first + 2 * j, parseScore) else { return c.notFloat() }
            scores.append(score)
        }
        c.modify(1, as: SortedSetValue.self, create: xx ? nil : { SortedSetValue() }) { zset, reply in
            guard let zset else {
                if incr { reply.null() } else { reply.integer(0) }
                return false
            }
            var added = 0, updated = 0, processed = 0
            var last = 0.0
            for j in 0..<pairs {
                // A member already there is reused rather than made again (an allocation past 14 bytes).
                let position = args.withBytes(first + 2 * j + 1) { zset.scores.position(ofBytes: $0) }
                let member = position.map { zset.scores.keys[$0] } ?? args.withBytes(first + 2 * j + 1) { Blob($0) }
                var score = scores[j]
                if let current = position.map({ zset.scores.values[$0] }) {
                    if nx { continue }
                    if incr {
                        score += current
                        if score.isNaN {
                            reply.error(nanScore)
                            return added + updated > 0
                        }
                    }
                    if (lt && score >= current) || (gt && score <= current) { continue }
                    processed += 1
                    last = score
                    if score != current {
                        zset.set(member, score: score)
                        updated += 1
                    }
                } else {
                    if xx { continue }
                    zset.set(member, score: score)
                    added += 1
                    processed += 1
                    last = score
                }
            }
            if incr {
                if processed > 0 { reply.double(last) } else { reply.null() }
            } else {
                reply.integer(ch ? added + updated : added)
            }
            return added + updated > 0
        }
    }

    // MARK: - Removal

    static func zrem(_ c: inout CommandContext) {
        let args = c.arguments
        c.modify(1, as: SortedSetValue.self, create: nil) { zset, reply in
            guard let zset else { reply.integer(0); return false }
            var removed = 0
            for i in 2..<args.count where args.withBytes(i, { zset.remove(Blob($0)) }) { removed += 1 }
            reply.integer(removed)
            return removed > 0
        }
    }

    static func zremrangebyrank(_ c: inout CommandContext) {
        guard let start = c.arguments.integer(2), let end = c.arguments.integer(3) else { return c.notInteger() }
        removeSpan(&c) { rankSpan($0.count, start, end, reverse: false) }
    }

    static func zremrangebyscore(_ c: inout CommandContext) {
        guard let range = parseScoreRange(c.arguments, 2, 3) else { return c.error(notFloatRange) }
        removeSpan(&c) { scoreSpan($0, range) }
    }

    static func zremrangebylex(_ c: inout CommandContext) {
        guard let range = parseLexRange(c.arguments, 2, 3) else { return c.error(notLexRange) }
        removeSpan(&c) { lexSpan($0, range) }
    }

    private static func removeSpan(_ c: inout CommandContext, _ span: (SortedSetValue) -> RankSpan) {
        c.modify(1, as: SortedSetValue.self, create: nil) { zset, reply in
            guard let zset else { reply.integer(0); return false }
            let ranks = ascending(span(zset))
            zset.removeRanks(ranks)
            reply.integer(ranks.count)
            return !ranks.isEmpty
        }
    }

    // MARK: - Reads

    static func zcard(_ c: inout CommandContext) {
        c.read(1, as: SortedSetValue.self) { zset, reply in reply.integer(zset?.count ?? 0) }
    }

    static func zscore(_ c: inout CommandContext) {
        let member = c.blob(2)
        c.read(1, as: SortedSetValue.self) { zset, reply in
            if let score = zset?.score(of: member) { reply.double(score) } else { reply.null() }
        }
    }

    static func zmscore(_ c: inout CommandContext) {
        let args = c.arguments
        c.read(1, as: SortedSetValue.self) { zset, reply in
            reply.arrayHeader(args.count - 2)
            for i in 2..<args.count {
                if let score = args.withBytes(i, { zset?.score(of: Blob($0)) }) { reply.double(score) } else { reply.null() }
            }
        }
    }

    static func zrank(_ c: inout CommandContext) { rank(&c, reverse: false) }

    static func zrevrank(_ c: inout CommandContext) { rank(&c, reverse: true) }

    private static func rank(_ c: inout CommandContext, reverse: Bool) {
        let member = c.blob(2)
        c.read(1, as: SortedSetValue.self) { zset, reply in
            guard let zset, let rank = zset.rank(of: member) else { return reply.null() }
            reply.integer(reverse ? zset.count - 1 - rank : rank)
        }
    }

    static func zcount(_ c: inout CommandContext) {
        guard let range = parseScoreRange(c.arguments, 2, 3) else { return c.error(notFloatRange) }
        c.read(1, as: SortedSetValue.self) { zset, reply in
            reply.integer(zset.map { scoreSpan($0, range).count } ?? 0)
        }
    }

    static func zlexcount(_ c: inout CommandContext) {
        guard let range = parseLexRange(c.arguments, 2, 3) else { return c.error(notLexRange) }
        c.read(1, as: SortedSetValue.self) { zset, reply in
            reply.integer(zset.map { lexSpan($0, range).count } ?? 0)
        }
    }

    // MARK: - Ranges

    enum RangeKind { case rank, score, lex }

    /// A parsed range request (Redis's `zrangeGenericCommand`, steps 1 and 2).
    struct RangeRequest {
        var kind = RangeKind.rank
        var reverse = false
        var withScores = false
        var offset = 0
        var limit = -1
        var start = 0
        var end = 0
        var scores = ScoreRange(min: 0, max: 0, minExclusive: false, maxExclusive: false)
        var lex = LexRange(min: .minimum, max: .maximum)

        func span(_ zset: SortedSetValue) -> RankSpan {
            switch kind {
            case .rank: return rankSpan(zset.count, start, end, reverse: reverse)
            case .score: return scoreSpan(zset, scores, offset: offset, limit: limit, reverse: reverse)
            case .lex: return lexSpan(zset, lex, offset: offset, limit: limit, reverse: reverse)
            }
        }
    }

    /// Parses the arguments after the key at `keyIndex`; `kind` and `reverse` are fixed by the
    /// legacy commands (ZRANGEBYSCORE…) and nil for ZRANGE and ZRANGESTORE. Nil after an error.
    static func parseRange(_ c: inout CommandContext, keyIndex: Int, store: Bool, kind: RangeKind?,
                           reverse: Bool?) -> RangeRequest? {
        let args = c.arguments
        var request = RangeRequest()
        var chosenKind = kind, chosenReverse = reverse
        var limited = false
        var j = keyIndex + 3
        while j < args.count {
            let left = args.count - j - 1
            if !store && args.matches(j, "WITHSCORES") {
                request.withScores = true
            } else if args.matches(j, "LIMIT") && left >= 2 {
                guard let offset = args.integer(j + 1), let limit = args.integer(j + 2) else { c.notInteger(); return nil }
                request.offset = offset
                request.limit = limit
                limited = true
                j += 2
            } else if chosenReverse == nil && args.matches(j, "REV") {
                chosenReverse = true
            } else if chosenKind == nil && args.matches(j, "BYLEX") {
                chosenKind = .lex
            } else if chosenKind == nil && args.matches(j, "BYSCORE") {
                chosenKind = .score
            } else {
                c.syntaxError()
                return nil
            }
            j += 1
        }
        request.kind = chosenKind ?? .rank
        request.reverse = chosenReverse ?? false
        // Redis tells an explicit LIMIT -1 from none by its value.
        if limited && request.limit != -1 && request.kind == .rank {
            c.error("ERR syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX")
            return nil
        }
        if request.withScores && request.kind == .lex {
            c.error("ERR syntax error, WITHSCORES not supported in combination with BYLEX")
            return nil
        }
        var minIndex = keyIndex + 1, maxIndex = keyIndex + 2
        if request.reverse && request.kind != .rank { swap(&minIndex, &maxIndex) }
        switch request.kind {
        case .rank:
            guard let start = args.integer(minIndex), let end = args.integer(maxIndex) else { c.notInteger(); return nil }
            request.start = start
            request.end = end
        case .score:
            guard let range = parseScoreRange(args, minIndex, maxIndex) else { c.error(notFloatRange); return nil }
            request.scores = range
        case .lex:
            guard let range = parseLexRange(args, minIndex, maxIndex) else { c.error(notLexRange); return nil }
            request.lex = range
        }
        return request
    }

    private static func range(_ c: inout CommandContext, kind: RangeKind?, reverse: Bool?) {
        guard let request = parseRange(&c, keyIndex: 1, store: false, kind: kind, reverse: reverse) else { return }
        c.read(1, as: SortedSetValue.self) { zset, reply in
            guard let zset else { return reply.arrayHeader(0) }
            writeSpan(zset, request.span(zset), withScores: request.withScores, &reply)
        }
    }

    static func zrange(_ c: inout CommandContext) { range(&c, kind: nil, reverse: nil) }
    static func zrevrange(_ c: inout CommandContext) { range(&c, kind: .rank, reverse: true) }
    static func zrangebyscore(_ c: inout CommandContext) { range(&c, kind: .score, reverse: false) }
    static func zrevrangebyscore(_ c: inout CommandContext) { range(&c, kind: .score, reverse: true) }
    static func zrangebylex(_ c: inout CommandContext) { range(&c, kind: .lex, reverse: false) }
    static func zrevrangebylex(_ c: inout CommandContext) { range(&c, kind: .lex, reverse: true) }

    static func zrangestore(_ c: inout CommandContext) {
        guard let request = parseRange(&c, keyIndex: 2, store: true, kind: nil, reverse: nil) else { return }
        let destination = c.hash(1), source = c.hash(2)
        let view = c.keyAccess
        c.withShardsAndReply(for: [destination, source]) { reply in
            var result: SortedSetValue?
            switch view.lookup(2, hash: source, as: SortedSetValue.self, access: .read) {
            case .wrongType:
                return reply.error(CommandContext.wrongTypeMessage)
            case .missing:
                result = nil
            case .found(_, let zset):
                let span = request.span(zset)
                // Redis sizes the result by the range when it knows it (ranks), else starts small.
                let value = SortedSetValue(compact: request.kind != .rank || span.count <= EncodingLimits.listpackEntries)
                zset.forEach(from: span.start, count: span.count, reverse: span.reverse) { value.set($0.member, score: $0.score) }
                result = value
            }
            reply.integer(view.store(1, hash: destination, result))
        }
    }

    // MARK: - Pops

    /// The shape of a pop's reply.
    enum PopReply {
        /// ZPOPMIN/ZPOPMAX without a count, or with one in RESP2: member, score, member, score…
        case flat
        /// ZPOPMIN/ZPOPMAX with a count in RESP3: [[member, score], …].
        case nested
        /// BZPOPMIN/BZPOPMAX: key, member, score, … (flat, in both protocols).
        case keyedFlat
        /// ZMPOP/BZMPOP: [key, [[member, score], …]] (in both protocols).
        case keyedNested
    }

    /// Pops up to `count` (at least 1) members of `zset` from its lowest scores (or its highest
    /// when `max`), writes the reply in the shape `format` and records the change, which
    /// deletes the key when the set is left empty. The caller holds the lock of `shard`, and
    /// `zset` is the (non-empty) sorted set of `entry`, found in `shard`.
    static func pop(_ zset: SortedSetValue, entry: Entry, shard: Shard, max: Bool, count: Int, format: PopReply,
                    reply: inout RESPReplyWriter) {
        let n = Swift.min(count, zset.count)
        switch format {
        case .flat: reply.arrayHeader(n * 2)
        case .nested: reply.arrayHeader(n)
        case .keyedFlat:
            reply.arrayHeader(n * 2 + 1)
            entry.withKey { reply.bulk($0) }
        case .keyedNested:
            reply.arrayHeader(2)
            entry.withKey { reply.bulk($0) }
            reply.arrayHeader(n)
        }
        let removed = zset.removeRanks(max ? (zset.count - n)..<zset.count : 0..<n)
        let nested = format == .nested || format == .keyedNested
        for i in 0..<n {
            let item = removed[max ? n - 1 - i : i]
            if nested { reply.arrayHeader(2) }
            item.member.withBytes { reply.bulk($0) }
            reply.double(item.score)
        }
        shard.collectionChanged(entry)
    }

    static func zpopmin(_ c: inout CommandContext) { popCommand(&c, max: false) }

    static func zpopmax(_ c: inout CommandContext) { popCommand(&c, max: true) }

    private static func popCommand(_ c: inout CommandContext, max: Bool) {
        guard c.arguments.count <= 3 else { return c.syntaxError() }
        var count = -1
        if c.arguments.count == 3 {
            guard let n = c.arguments.integer(2), n >= 0 else { return c.error("ERR value is out of range, must be positive") }
            count = n
        }
        let db = c.database, now = c.now
        let format: PopReply = c.reply.version == .resp3 && count != -1 ? .nested : .flat
        c.withKeyAndReply(1) { shard, key, hash, reply in
            guard let entry = shard.find(database: db, key: key, hash: hash, now: now, access: .write) else {
                return reply.arrayHeader(0)
            }
            guard let zset = entry.collection as? SortedSetValue else { return reply.error(CommandContext.wrongTypeMessage) }
            if count == 0 { return reply.arrayHeader(0) }
            pop(zset, entry: entry, shard: shard, max: max, count: count == -1 ? 1 : count, format: format, reply: &reply)
        }
    }

    static func zmpop(_ c: inout CommandContext) {
        let args = c.arguments
        guard let numkeys = args.integer(1), numkeys >= 1 else { return c.error("ERR numkeys should be greater than 0") }
        guard numkeys < args.count - 2 else { return c.syntaxError() }
        let whereIndex = numkeys + 2
        let max: Bool
        if args.matches(whereIndex, "MIN") { max = false } else if args.matches(whereIndex, "MAX") { max = true } else {
            return c.syntaxError()
        }
        var count = -1
        var j = whereIndex + 1
        while j < args.count {
            guard count == -1, args.matches(j, "COUNT"), j + 1 < args.count else { return c.syntaxError() }
            guard let n = args.integer(j + 1), n >= 1 else { return c.error("ERR count should be greater than 0") }
            count = n
            j += 2
        }
        let keys = 2..<(2 + numkeys)
        let hashes = keys.map { c.hash($0) }
        let view = c.keyAccess
        let keyspace = c.keyspace
        c.withShardsAndReply(for: hashes) { reply in
            for (index, hash) in zip(keys, hashes) {
                guard let entry = view.find(index, hash: hash, access: .write) else { continue }
                guard let zset = entry.collection as? SortedSetValue else { return reply.error(CommandContext.wrongTypeMessage) }
                pop(zset, entry: entry, shard: keyspace.shard(for: hash), max: max, count: count == -1 ? 1 : count,
                    format: .keyedNested, reply: &reply)
                return
            }
            reply.nullArray()
        }
    }

    // MARK: - ZRANDMEMBER

    static func zrandmember(_ c: inout CommandContext) {
        let args = c.arguments
        guard args.count >= 3 else {
            c.read(1, as: SortedSetValue.self) { zset, reply in
                guard let zset, zset.count > 0 else { return reply.null() }
                var random = PickGenerator()
                reply.bulkBlob(zset.scores.keys[random.below(zset.count)])
            }
            return
        }
        guard let l = args.integer(2) else { return c.notInteger() }
        guard l != Int.min else {
            return c.error("ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807")
        }
        var withScores = false
        if args.count > 4 || (args.count == 4 && !args.matches(3, "WITHSCORES")) { return c.syntaxError() }
        if args.count == 4 {
            withScores = true
            if l < -(Int.max / 2) || l > Int.max / 2 { return c.error("ERR value is out of range") }
        }
        c.read(1, as: SortedSetValue.self) { zset, reply in
            guard let zset else { return reply.arrayHeader(0) }
            randomMembers(zset, l, withScores: withScores, &reply)
        }
    }

    private static func randomMembers(_ zset: SortedSetValue, _ l: Int, withScores: Bool, _ reply: inout RESPReplyWriter) {
        let size = zset.count
        let count = l.magnitude
        let unique = l >= 0
        guard count > 0, size > 0 else { return reply.arrayHeader(0) }
        let nested = withScores && reply.version == .resp3
        func header(_ n: Int) { reply.arrayHeader(withScores && !nested ? n * 2 : n) }
        func write(_ member: Blob, _ score: Double) {
            if nested { reply.arrayHeader(2) }
            reply.bulkBlob(member)
            if withScores { reply.double(score) }
        }
        var random = PickGenerator()
        let keys = zset.scores.keys, values = zset.scores.values
        if !unique || count == 1 {
            // Repeats allowed: `count` independent picks (the client asked for them).
            let n = Int(count)
            header(n)
            for _ in 0..<n {
                let i = random.below(size)
                write(keys[i], values[i])
            }
            return
        }
        if count >= UInt(size) {
            // The whole set, as Redis's zset iterator walks it: from the highest score down.
            header(size)
            zset.forEach(from: size - 1, count: size, reverse: true) { write($0.member, $0.score) }
            return
        }
        let n = Int(count)
        header(n)
        if n * 3 > size {
            // Most of the set: a partial shuffle of all positions.
            var positions = Array(0..<size)
            for i in 0..<n {
                positions.swapAt(i, i + random.below(size - i))
                write(keys[positions[i]], values[positions[i]])
            }
        } else {
            var picked = Set<Int>()
            while picked.count < n {
                let i = random.below(size)
                if picked.insert(i).inserted { write(keys[i], values[i]) }
            }
        }
    }

    // MARK: - ZUNION, ZINTER, ZDIFF

    enum SetOperation { case union, inter, diff }
    enum Aggregate { case sum, min, max }

    /// One input of ZUNION/ZINTER/ZDIFF: a sorted set, or a set whose members score 1.
    enum Source {
        case none
        case zset(SortedSetValue)
        case set(SetValue)

        var count: Int {
            switch self {
            case .none: return 0
            case .zset(let z): return z.count
            case .set(let s): return s.count
            }
        }

        func score(of member: Blob) -> Double? {
            switch self {
            case .none: return nil
            case .zset(let z): return z.score(of: member)
            case .set(let s): return s.contains(member) ? 1 : nil
            }
        }

        /// Every member with its score, in Redis's iteration order for a sorted set (ascending).
        func forEach(_ body: (Blob, Double) -> Void) {
            switch self {
            case .none: break
            case .zset(let z): z.forEach(from: 0, count: z.count, reverse: false) { body($0.member, $0.score) }
            case .set(let s): for member in s.map.keys { body(member, 1) }
            }
        }
    }

    @inline(__always)
    static func aggregate(_ target: inout Double, _ value: Double, _ how: Aggregate) {
        switch how {
        case .sum:
            target += value
            if target.isNaN { target = 0 } // inf + -inf: Redis's convention is 0
        case .min: target = value < target ? value : target
        case .max: target = value > target ? value : target
        }
    }

    static func zunion(_ c: inout CommandContext) { combine(&c, .union, store: false) }
    static func zinter(_ c: inout CommandContext) { combine(&c, .inter, store: false) }
    static func zdiff(_ c: inout CommandContext) { combine(&c, .diff, store: false) }
    static func zunionstore(_ c: inout CommandContext) { combine(&c, .union, store: true) }
    static func zinterstore(_ c: inout CommandContext) { combine(&c, .inter, store: true) }
    static func zdiffstore(_ c: inout CommandContext) { combine(&c, .diff, store: true) }
    static func zintercard(_ c: inout CommandContext) { combine(&c, .inter, store: false, cardinalityOnly: true) }

    /// Redis's `zunionInterDiffGenericCommand`.
    private static func combine(_ c: inout CommandContext, _ operation: SetOperation, store: Bool,
                                cardinalityOnly: Bool = false) {
        let args = c.arguments
        let numkeysIndex = store ? 2 : 1
        guard let setCount = args.integer(numkeysIndex) else { return c.notInteger() }
        guard setCount >= 1 else { return c.error("ERR at least 1 input key is needed for '\(c.commandName)' command") }
        guard setCount <= args.count - (numkeysIndex + 1) else { return c.syntaxError() }
        let keys = (numkeysIndex + 1)..<(numkeysIndex + 1 + setCount)
        let hashes = keys.map { c.hash($0) }
        let destination = store ? c.hash(1) : 0
        let view = c.keyAccess
        c.withShardsAndReply(for: store ? hashes + [destination] : hashes) { reply in
            var sources: [Source] = []
            sources.reserveCapacity(setCount)
            for (index, hash) in zip(keys, hashes) {
                guard let entry = view.find(index, hash: hash, access: store ? .write : .read) else {
                    sources.append(.none)
                    continue
                }
                if let zset = entry.collection as? SortedSetValue {
                    sources.append(.zset(zset))
                } else if let set = entry.collection as? SetValue {
                    sources.append(.set(set))
                } else {
                    return reply.error(CommandContext.wrongTypeMessage)
                }
            }
            var weights = [Double](repeating: 1, count: setCount)
            var how = Aggregate.sum
            var withScores = false
            var limit = 0
            var j = keys.upperBound
            while j < args.count {
                let remaining = args.count - j
                if operation != .diff && !cardinalityOnly && remaining >= setCount + 1 && args.matches(j, "WEIGHTS") {
                    for i in 0..<setCount {
                        guard let weight = args.withBytes(j + 1 + i, parseScore) else {
                            return reply.error("ERR weight value is not a float")
                        }
                        weights[i] = weight
                    }
                    j += setCount + 1
                } else if operation != .diff && !cardinalityOnly && remaining >= 2 && args.matches(j, "AGGREGATE") {
                    if args.matches(j + 1, "SUM") { how = .sum }
                    else if args.matches(j + 1, "MIN") { how = .min }
                    else if args.matches(j + 1, "MAX") { how = .max }
                    else { return reply.error("ERR syntax error") }
                    j += 2
                } else if !store && !cardinalityOnly && args.matches(j, "WITHSCORES") {
                    withScores = true
                    j += 1
                } else if cardinalityOnly && remaining >= 2 && args.matches(j, "LIMIT") {
                    guard let n = args.integer(j + 1), n >= 0 else { return reply.error("ERR LIMIT can't be negative") }
                    limit = n
                    j += 2
                } else {
                    return reply.error("ERR syntax error")
                }
            }

            // Redis works through the inputs from the smallest (a stable sort), which decides the
            // order in which each member's scores are added up.
            let order = operation == .diff ? Array(0..<setCount)
                : Array(0..<setCount).sorted { (sources[$0].count, $0) < (sources[$1].count, $1) }
            var result: [ScoredMember] = []
            var cardinality = 0
            switch operation {
            case .inter:
                let first = order[0]
                guard sources[first].count > 0 else { break }
                var done = false
                sources[first].forEach { member, score in
                    if done { return }
                    var total = weights[first] * score
                    if total.isNaN { total = 0 }
                    for k in order.dropFirst() {
                        guard let other = sources[k].score(of: member) else { return }
                        aggregate(&total, other * weights[k], how)
                    }
                    if cardinalityOnly {
                        cardinality += 1
                        if limit > 0 && cardinality >= limit { done = true }
                    } else {
                        result.append(ScoredMember(score: total, member: member))
                    }
                }
            case .union:
                var totals = DenseMap<Double>()
                for k in order {
                    sources[k].forEach { member, score in
                        var value = weights[k] * score
                        if value.isNaN { value = 0 }
                        if let position = totals.position(of: member) {
                            var total = totals.values[position]
                            aggregate(&total, value, how)
                            totals.setValue(total, at: position)
                        } else {
                            totals.set(member, value)
                        }
                    }
                }
                result.reserveCapacity(totals.count)
                for i in 0..<totals.count { result.append(ScoredMember(score: totals.values[i], member: totals.keys[i])) }
            case .diff:
                sources[0].forEach { member, score in
                    for k in 1..<setCount where sources[k].score(of: member) != nil { return }
                    result.append(ScoredMember(score: score, member: member))
                }
            }

            if cardinalityOnly { return reply.integer(cardinality) }
            if store {
                let value = result.isEmpty ? nil : SortedSetValue.build(result)
                return reply.integer(view.store(1, hash: destination, value))
            }
            result.sort()
            let nested = withScores && reply.version == .resp3
            reply.arrayHeader(withScores && !nested ? result.count * 2 : result.count)
            for item in result {
                if nested { reply.arrayHeader(2) }
                reply.bulkBlob(item.member)
                if withScores { reply.double(item.score) }
            }
        }
    }

    // MARK: - ZSCAN

    static func zscan(_ c: inout CommandContext) {
        let args = c.arguments
        guard let cursor = args.scanCursor(at: 2) else { return c.error("ERR invalid cursor") }
        c.read(1, as: SortedSetValue.self) { zset, reply in
            guard let zset else {
                reply.arrayHeader(2)
                reply.bulk("0")
                reply.arrayHeader(0)
                return
            }
            var count = 10
            var pattern: [UInt8]?
            var i = 3
            while i < args.count {
                let remaining = args.count - i
                if args.matches(i, "COUNT") && remaining >= 2 {
                    guard let n = args.integer(i + 1) else { return reply.error("ERR value is not an integer or out of range") }
                    guard n >= 1 else { return reply.error("ERR syntax error") }
                    count = n
                } else if args.matches(i, "MATCH") && remaining >= 2 {
                    let p = args.bytes(i + 1)
                    pattern = p == [UInt8(ascii: "*")] ? nil : p
                } else {
                    return reply.error("ERR syntax error")
                }
                i += 2
            }
            var found: [(Blob, String)] = []
            func visit(_ member: Blob, _ text: String) {
                if let pattern, !member.withBytes({ GlobPattern.matches(pattern: pattern, $0) }) { return }
                found.append((member, text))
            }
            var next = 0
            if zset.isCompact {
                // A listpack is returned whole, in order, whatever the cursor (as Redis does).
                zset.forEach(from: 0, count: zset.count, reverse: false) { visit($0.member, listpackScore($0.score)) }
            } else {
                let start = cursor > UInt64(Int.max) ? Int.max : Int(cursor)
                next = zset.scores.scan(cursor: start, count: count) { visit($0, RESPReplyWriter.formatDouble($1)) }
            }
            reply.arrayHeader(2)
            reply.bulk(String(next))
            reply.arrayHeader(found.count * 2)
            for (member, score) in found {
                reply.bulkBlob(member)
                reply.bulk(score)
            }
        }
    }
}

// MARK: - Helpers

/// A small, fast generator for random picks, seeded from the system's (one draw per command).
private struct PickGenerator {
    private var state: UInt64

    init() {
        var system = SystemRandomNumberGenerator()
        state = system.next()
    }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// A number in 0 ..< bound (bound > 0).
    mutating func below(_ bound: Int) -> Int {
        Int(next().multipliedFullWidth(by: UInt64(bound)).high)
    }
}

extension RESPReplyWriter {
    /// A Blob as a bulk string.
    @inline(__always)
    fileprivate mutating func bulkBlob(_ blob: Blob) { blob.withBytes { bulk($0) } }
}
