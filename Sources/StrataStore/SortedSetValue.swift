/// One member of a sorted set with its score, ordered as Redis orders them: by score, then by
/// member bytes.
public struct ScoredMember: Comparable {
    public var score: Double
    public var member: Blob

    public init(score: Double, member: Blob) {
        self.score = score
        self.member = member
    }

    public static func < (a: ScoredMember, b: ScoredMember) -> Bool {
        if a.score != b.score { return a.score < b.score }
        return a.member < b.member
    }

    public static func == (a: ScoredMember, b: ScoredMember) -> Bool {
        a.score == b.score && a.member == b.member
    }
}

/// A sorted set: members with scores, kept in (score, member) order.
///
/// While Redis would hold it as a listpack (`compact`), a score is stored as Redis's listpack
/// stores it: as the text `d2string` writes, read back, which turns -0 into 0.
public final class SortedSetValue: CollectionValue {
    /// Member → score.
    public private(set) var scores = DenseMap<Double>()
    /// Every member in order.
    public private(set) var order = OrderedItems()
    private var heapBytes = 0
    private var compact = true

    /// A new, empty sorted set; `compact: false` starts it as Redis's skiplist encoding (as
    /// ZRANGESTORE does when it knows the result holds more than 128 members).
    public init(compact: Bool = true) {
        self.compact = compact
        super.init(kind: .zset, cost: CollectionValue.objectOverhead)
    }

    /// A sorted set of `items` (distinct members), built at once as Redis builds the result of
    /// ZUNIONSTORE, ZINTERSTORE and ZDIFFSTORE: a skiplist, converted to a listpack when it
    /// holds at most 128 members of at most 64 bytes.
    public static func build(_ items: [ScoredMember]) -> SortedSetValue {
        let value = SortedSetValue()
        value.compact = items.count <= EncodingLimits.listpackEntries
            && !items.contains { $0.member.count > EncodingLimits.listpackValue }
        var sorted = items
        if value.compact {
            for i in sorted.indices where sorted[i].score == 0 { sorted[i].score = 0 }
        }
        sorted.sort()
        var map = DenseMap<Double>(minimumCapacity: sorted.count)
        for item in sorted {
            map.set(item.member, item.score)
            value.heapBytes += item.member.heapCost
        }
        value.scores = map
        value.order = OrderedItems(sorted: sorted)
        value.updateCost()
        return value
    }

    public override var count: Int { scores.count }
    public override var encodingName: String { compact ? "listpack" : "skiplist" }
    /// Whether Redis would hold this set as a listpack.
    public var isCompact: Bool { compact }

    public func score(of member: Blob) -> Double? { scores[member] }

    /// Sets `member`'s score; returns its previous score (nil: it is new). A score equal to the
    /// current one (0 and -0 included) leaves the member as it is, as Redis does.
    @discardableResult
    public func set(_ member: Blob, score: Double) -> Double? {
        if let position = scores.position(of: member) {
            let old = scores.values[position]
            if old == score { return old }
            let stored = compact && score == 0 ? 0 : score
            scores.setValue(stored, at: position)
            order.remove(ScoredMember(score: old, member: member))
            order.insert(ScoredMember(score: stored, member: member))
            updateCost()
            return old
        }
        if compact && (scores.count + 1 > EncodingLimits.listpackEntries || member.count > EncodingLimits.listpackValue) {
            compact = false
        }
        let stored = compact && score == 0 ? 0 : score
        scores.set(member, stored)
        order.insert(ScoredMember(score: stored, member: member))
        heapBytes += member.heapCost
        updateCost()
        return nil
    }

    /// Removes `member`; returns true if it was there.
    @discardableResult
    public func remove(_ member: Blob) -> Bool {
        guard let old = scores.remove(member) else { return false }
        order.remove(ScoredMember(score: old, member: member))
        heapBytes -= member.heapCost
        updateCost()
        return true
    }

    /// Removes the members of ascending ranks `ranks` (within 0 ..< count) and returns them in
    /// ascending order.
    @discardableResult
    public func removeRanks(_ ranks: Range<Int>) -> [ScoredMember] {
        guard !ranks.isEmpty else { return [] }
        let removed = order.removeRanks(ranks)
        for item in removed {
            scores.remove(item.member)
            heapBytes -= item.member.heapCost
        }
        updateCost()
        return removed
    }

    /// The 0-based rank of `member` in ascending order, or nil.
    public func rank(of member: Blob) -> Int? {
        guard let score = scores[member] else { return nil }
        return order.rank(of: ScoredMember(score: score, member: member))
    }

    /// The member at ascending rank `rank` (0 ..< count).
    public subscript(rank rank: Int) -> ScoredMember { order[rank] }

    /// Calls `body` with `count` members from rank `start`, going up, or down when `reverse`.
    public func forEach(from start: Int, count: Int, reverse: Bool, _ body: (ScoredMember) -> Void) {
        order.forEach(from: start, count: count, reverse: reverse, body)
    }

    /// The number of members ordered before the first one for which `isAtOrAfter` is true
    /// (`isAtOrAfter` must be false, then true, along the order).
    public func partitionRank(_ isAtOrAfter: (ScoredMember) -> Bool) -> Int {
        order.partitionRank(isAtOrAfter)
    }

    private func updateCost() {
        cost = CollectionValue.objectOverhead + scores.storageCost + order.storageCost + heapBytes
    }

    override func encodeElements(into writer: inout ValueWriter) {
        writer.varint(count)
        order.forEach(from: 0, count: count, reverse: false) { item in
            writer.blob(item.member)
            writer.double(item.score)
        }
    }

    static func decodeElements(_ reader: inout ValueReader) -> SortedSetValue? {
        guard let n = reader.count(minimumBytes: 9) else { return nil }
        let value = SortedSetValue()
        for _ in 0..<n {
            guard let member = reader.blob(), let score = reader.double(), !score.isNaN else { return nil }
            value.set(member, score: score)
        }
        return value
    }

    public override func copy() -> CollectionValue {
        let other = SortedSetValue()
        other.scores = scores
        other.order = order
        other.heapBytes = heapBytes
        other.compact = compact
        other.updateCost()
        return other
    }
}

/// Sorted members with rank lookups.
///
/// A two-level structure: members in chunks of at most `chunkLimit`, each chunk sorted, chunks
/// in order. Finding a member is a binary search over the chunks' last members, then within the
/// chunk; an insert or removal moves at most one chunk's elements. Rank needs the counts of the
/// chunks before: kept as prefix sums, refreshed lazily from the first changed chunk.
public struct OrderedItems {
    static let chunkLimit = 256
    private var chunks: [[ScoredMember]] = []
    /// `starts[i]`: the rank of `chunks[i][0]`; valid below `validStarts`.
    private var starts: [Int] = []
    private var validStarts = 0
    /// The chunks' own storage bytes, kept as they change (summing them each time would cost a
    /// pass over every chunk per change).
    private var chunkBytes = 0
    public private(set) var count = 0

    public init() {}

    /// The members of `sorted`, which must be in ascending order and distinct.
    init(sorted: [ScoredMember]) {
        let size = OrderedItems.chunkLimit / 2
        var rank = 0
        while rank < sorted.count {
            let chunk = Array(sorted[rank..<min(rank + size, sorted.count)])
            chunkBytes += OrderedItems.cost(of: chunk)
            chunks.append(chunk)
            starts.append(rank)
            rank += chunk.count
        }
        validStarts = chunks.count
        count = sorted.count
    }

    var storageCost: Int { 32 + chunks.capacity * 8 + starts.capacity * 8 + chunkBytes }

    private static func cost(of chunk: [ScoredMember]) -> Int { 32 + chunk.capacity * MemoryLayout<ScoredMember>.stride }

    /// Changes chunk `c` in place, keeping `chunkBytes` current.
    @inline(__always)
    private mutating func changeChunk<R>(_ c: Int, _ body: (inout [ScoredMember]) -> R) -> R {
        chunkBytes -= OrderedItems.cost(of: chunks[c])
        let result = body(&chunks[c])
        chunkBytes += OrderedItems.cost(of: chunks[c])
        return result
    }

    private mutating func removeChunk(_ c: Int) {
        chunkBytes -= OrderedItems.cost(of: chunks[c])
        chunks.remove(at: c)
        starts.remove(at: c)
        // The chunk now at `c` starts where the removed one did: its start must be recomputed.
        validStarts = min(validStarts, c)
    }

    /// The chunk that holds `item`, or would: the first whose last member is not below it.
    private func chunkIndex(for item: ScoredMember) -> Int {
        var low = 0, high = chunks.count - 1
        guard high >= 0 else { return 0 }
        while low < high {
            let mid = (low + high) / 2
            if chunks[mid][chunks[mid].count - 1] < item { low = mid + 1 } else { high = mid }
        }
        return low
    }

    private static func lowerBound(_ chunk: [ScoredMember], _ item: ScoredMember) -> Int {
        var low = 0, high = chunk.count
        while low < high {
            let mid = (low + high) / 2
            if chunk[mid] < item { low = mid + 1 } else { high = mid }
        }
        return low
    }

    mutating func insert(_ item: ScoredMember) {
        count += 1
        if chunks.isEmpty {
            let chunk = [item]
            chunkBytes += OrderedItems.cost(of: chunk)
            chunks = [chunk]
            starts = [0]
            validStarts = 1
            return
        }
        let c = chunkIndex(for: item)
        let position = OrderedItems.lowerBound(chunks[c], item)
        changeChunk(c) { $0.insert(item, at: position) }
        if chunks[c].count > OrderedItems.chunkLimit {
            let half = chunks[c].count / 2
            let tail = Array(chunks[c][half...])
            changeChunk(c) { $0.removeSubrange(half...) }
            chunkBytes += OrderedItems.cost(of: tail)
            chunks.insert(tail, at: c + 1)
            starts.insert(0, at: c + 1)
        }
        validStarts = min(validStarts, c + 1)
    }

    mutating func remove(_ item: ScoredMember) {
        guard !chunks.isEmpty else { return }
        let c = chunkIndex(for: item)
        guard c < chunks.count else { return }
        let position = OrderedItems.lowerBound(chunks[c], item)
        guard position < chunks[c].count, chunks[c][position] == item else { return }
        changeChunk(c) { _ = $0.remove(at: position) }
        count -= 1
        validStarts = min(validStarts, c + 1)
        if chunks[c].isEmpty { removeChunk(c) }
        if count == 0 { self = OrderedItems() }
    }

    /// Removes the members of ranks `ranks` (within 0 ..< count); returns them in order.
    mutating func removeRanks(_ ranks: Range<Int>) -> [ScoredMember] {
        guard !ranks.isEmpty else { return [] }
        var (c, offset) = locate(ranks.lowerBound)
        var removed: [ScoredMember] = []
        removed.reserveCapacity(ranks.count)
        var remaining = ranks.count
        validStarts = min(validStarts, c + 1)
        while remaining > 0 {
            let take = min(remaining, chunks[c].count - offset)
            removed.append(contentsOf: chunks[c][offset..<offset + take])
            changeChunk(c) { $0.removeSubrange(offset..<offset + take) }
            remaining -= take
            if chunks[c].isEmpty { removeChunk(c) } else { c += 1 }
            offset = 0
        }
        count -= ranks.count
        if count == 0 { self = OrderedItems() }
        return removed
    }

    private mutating func refreshStarts(through chunk: Int) {
        guard validStarts <= chunk else { return }
        var i = max(validStarts, 1)
        if validStarts == 0 { starts[0] = 0 }
        while i <= chunk {
            starts[i] = starts[i - 1] + chunks[i - 1].count
            i += 1
        }
        validStarts = chunk + 1
    }

    /// The chunk and position within it of rank `rank` (0 ..< count). Prefix sums are
    /// refreshed only as far as that chunk.
    private mutating func locate(_ rank: Int) -> (Int, Int) {
        if validStarts == 0 {
            starts[0] = 0
            validStarts = 1
        }
        while validStarts < chunks.count && starts[validStarts - 1] + chunks[validStarts - 1].count <= rank {
            starts[validStarts] = starts[validStarts - 1] + chunks[validStarts - 1].count
            validStarts += 1
        }
        var low = 0, high = validStarts - 1
        while low < high {
            let mid = (low + high + 1) / 2
            if starts[mid] <= rank { low = mid } else { high = mid - 1 }
        }
        return (low, rank - starts[low])
    }

    /// The rank of `item`, which must be present.
    mutating func rank(of item: ScoredMember) -> Int? {
        let c = chunkIndex(for: item)
        guard c < chunks.count else { return nil }
        let position = OrderedItems.lowerBound(chunks[c], item)
        guard position < chunks[c].count, chunks[c][position] == item else { return nil }
        refreshStarts(through: c)
        return starts[c] + position
    }

    public subscript(rank: Int) -> ScoredMember {
        mutating get {
            let (c, position) = locate(rank)
            return chunks[c][position]
        }
    }

    /// Calls `body` with `count` members from rank `start` (which, with the ranks `count`
    /// covers, must be within 0 ..< count), going up, or down when `reverse`.
    mutating func forEach(from start: Int, count: Int, reverse: Bool, _ body: (ScoredMember) -> Void) {
        guard count > 0 else { return }
        var (c, position) = locate(start)
        for _ in 0..<count {
            body(chunks[c][position])
            if reverse {
                position -= 1
                if position < 0 && c > 0 {
                    c -= 1
                    position = chunks[c].count - 1
                }
            } else {
                position += 1
                if position == chunks[c].count && c + 1 < chunks.count {
                    c += 1
                    position = 0
                }
            }
        }
    }

    /// Members ordered before the first for which `isAtOrAfter` holds.
    mutating func partitionRank(_ isAtOrAfter: (ScoredMember) -> Bool) -> Int {
        var low = 0, high = chunks.count
        while low < high {
            let mid = (low + high) / 2
            if isAtOrAfter(chunks[mid][chunks[mid].count - 1]) { high = mid } else { low = mid + 1 }
        }
        guard low < chunks.count else { return count }
        refreshStarts(through: low)
        let chunk = chunks[low]
        var a = 0, b = chunk.count
        while a < b {
            let mid = (a + b) / 2
            if isAtOrAfter(chunk[mid]) { b = mid } else { a = mid + 1 }
        }
        return starts[low] + a
    }
}
