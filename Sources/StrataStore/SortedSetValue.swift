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
public final class SortedSetValue: CollectionValue {
    /// Member → score.
    public private(set) var scores = DenseMap<Double>()
    /// Every member in order.
    public private(set) var order = OrderedItems()
    private var heapBytes = 0
    private var compact = true

    public init() {
        super.init(kind: .zset, cost: CollectionValue.objectOverhead)
    }

    public override var count: Int { scores.count }
    public override var encodingName: String { compact ? "listpack" : "skiplist" }

    public func score(of member: Blob) -> Double? { scores[member] }

    /// Sets `member`'s score; returns its previous score (nil: it is new).
    @discardableResult
    public func set(_ member: Blob, score: Double) -> Double? {
        let old = scores.set(member, score)
        if let old {
            if old != score {
                order.remove(ScoredMember(score: old, member: member))
                order.insert(ScoredMember(score: score, member: member))
            }
        } else {
            order.insert(ScoredMember(score: score, member: member))
            heapBytes += member.heapCost
            if compact && (scores.count > EncodingLimits.listpackEntries || member.count > EncodingLimits.listpackValue) {
                compact = false
            }
        }
        updateCost()
        return old
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

    /// The 0-based rank of `member` in ascending order, or nil.
    public func rank(of member: Blob) -> Int? {
        guard let score = scores[member] else { return nil }
        return order.rank(of: ScoredMember(score: score, member: member))
    }

    /// The member at ascending rank `rank` (0 ..< count).
    public subscript(rank rank: Int) -> ScoredMember { order[rank] }

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
        for i in 0..<count {
            let item = order[i]
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
    public private(set) var count = 0

    public init() {}

    var storageCost: Int {
        chunks.reduce(32 + chunks.capacity * 8 + starts.capacity * 8) { $0 + 32 + $1.capacity * MemoryLayout<ScoredMember>.stride }
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
            chunks = [[item]]
            starts = [0]
            validStarts = 1
            return
        }
        let c = chunkIndex(for: item)
        let position = OrderedItems.lowerBound(chunks[c], item)
        chunks[c].insert(item, at: position)
        if chunks[c].count > OrderedItems.chunkLimit {
            let half = chunks[c].count / 2
            let tail = Array(chunks[c][half...])
            chunks[c].removeSubrange(half...)
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
        chunks[c].remove(at: position)
        count -= 1
        if chunks[c].isEmpty {
            chunks.remove(at: c)
            starts.remove(at: c)
        }
        validStarts = min(validStarts, c + 1)
        if count == 0 { chunks = []; starts = []; validStarts = 0 }
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
            refreshStarts(through: chunks.count - 1)
            var low = 0, high = chunks.count - 1
            while low < high {
                let mid = (low + high + 1) / 2
                if starts[mid] <= rank { low = mid } else { high = mid - 1 }
            }
            return chunks[low][rank - starts[low]]
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
