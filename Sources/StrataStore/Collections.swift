import DequeModule

/// Redis 7.0's size limits for its compact encodings (the defaults of `hash-max-listpack-*`,
/// `set-max-intset-entries`, `zset-max-listpack-*`): OBJECT ENCODING reports the compact name
/// while a value stays within them, and the other name from the first time it does not, as
/// Redis converts one way only.
public enum EncodingLimits {
    /// `zset-max-listpack-entries`.
    public static let listpackEntries = 128
    /// `hash-max-listpack-entries`.
    public static let hashListpackEntries = 512
    public static let listpackValue = 64
    public static let intsetEntries = 512
}

// MARK: - Hash

/// A hash: fields and their values.
public final class HashValue: CollectionValue {
    public private(set) var map = DenseMap<Blob>()
    private var heapBytes = 0
    private var compact = true

    public init() {
        super.init(kind: .hash, cost: CollectionValue.objectOverhead)
    }

    public override var count: Int { map.count }
    public override var encodingName: String { compact ? "listpack" : "hashtable" }

    public subscript(field: Blob) -> Blob? { map[field] }

    /// Sets `field`; returns true if it is new.
    @discardableResult
    public func set(_ field: Blob, _ value: Blob) -> Bool {
        let old = map.set(field, value)
        if let old {
            heapBytes += value.heapCost - old.heapCost
        } else {
            heapBytes += field.heapCost + value.heapCost
        }
        if compact && (map.count > EncodingLimits.hashListpackEntries || field.count > EncodingLimits.listpackValue
                       || value.count > EncodingLimits.listpackValue) {
            compact = false
        }
        updateCost()
        return old == nil
    }

    /// Removes `field`; returns true if it was there.
    @discardableResult
    public func remove(_ field: Blob) -> Bool {
        guard let old = map.remove(field) else { return false }
        heapBytes -= field.heapCost + old.heapCost
        updateCost()
        return true
    }

    private func updateCost() {
        cost = CollectionValue.objectOverhead + map.storageCost + heapBytes
    }

    override func encodeElements(into writer: inout ValueWriter) {
        writer.varint(map.count)
        for i in 0..<map.count {
            writer.blob(map.keys[i])
            writer.blob(map.values[i])
        }
    }

    static func decodeElements(_ reader: inout ValueReader) -> HashValue? {
        guard let n = reader.count(minimumBytes: 2) else { return nil }
        let value = HashValue()
        for _ in 0..<n {
            guard let field = reader.blob(), let v = reader.blob() else { return nil }
            value.set(field, v)
        }
        return value
    }

    public override func copy() -> CollectionValue {
        let other = HashValue()
        other.map = map
        other.heapBytes = heapBytes
        other.compact = compact
        other.updateCost()
        return other
    }
}

// MARK: - Set

/// A set of members.
public final class SetValue: CollectionValue {
    public private(set) var map = DenseMap<Void>()
    private var heapBytes = 0
    /// Every member so far was an integer and there were never more than 512 (Redis's intset).
    private var integers = true

    public init() {
        super.init(kind: .set, cost: CollectionValue.objectOverhead)
    }

    public override var count: Int { map.count }
    public override var encodingName: String { integers ? "intset" : "hashtable" }
    /// Whether Redis would hold this set as an intset (SMEMBERS then lists it in numeric order).
    public var isIntset: Bool { integers }

    public func contains(_ member: Blob) -> Bool { map.contains(member) }

    /// Adds `member`; returns true if it is new.
    @discardableResult
    public func insert(_ member: Blob) -> Bool {
        guard map.set(member, ()) == nil else { return false }
        heapBytes += member.heapCost
        if integers && (map.count > EncodingLimits.intsetEntries || member.integerValue == nil) { integers = false }
        updateCost()
        return true
    }

    @discardableResult
    public func remove(_ member: Blob) -> Bool {
        guard map.remove(member) != nil else { return false }
        heapBytes -= member.heapCost
        updateCost()
        return true
    }

    /// Removes and returns the member at `position` (0 ..< count).
    public func remove(at position: Int) -> Blob {
        let (member, _) = map.remove(at: position)
        heapBytes -= member.heapCost
        updateCost()
        return member
    }

    /// The members, in Redis's order for an intset (ascending numbers), else in storage order.
    public var members: [Blob] {
        guard integers else { return map.keys }
        return map.keys.sorted { ($0.integerValue ?? 0) < ($1.integerValue ?? 0) }
    }

    private func updateCost() {
        cost = CollectionValue.objectOverhead + map.storageCost + heapBytes
    }

    override func encodeElements(into writer: inout ValueWriter) {
        writer.varint(map.count)
        for member in map.keys { writer.blob(member) }
    }

    static func decodeElements(_ reader: inout ValueReader) -> SetValue? {
        guard let n = reader.count(minimumBytes: 1) else { return nil }
        let value = SetValue()
        for _ in 0..<n {
            guard let member = reader.blob() else { return nil }
            value.insert(member)
        }
        return value
    }

    public override func copy() -> CollectionValue {
        let other = SetValue()
        other.map = map
        other.heapBytes = heapBytes
        other.integers = integers
        other.updateCost()
        return other
    }
}

// MARK: - List

/// A list of items, with O(1) pushes and pops at both ends.
public final class ListValue: CollectionValue {
    public private(set) var items = Deque<Blob>()
    private var heapBytes = 0

    public init() {
        super.init(kind: .list, cost: CollectionValue.objectOverhead)
    }

    public override var count: Int { items.count }
    /// Redis 7.0 holds every list as a quicklist.
    public override var encodingName: String { "quicklist" }

    public func pushFront(_ item: Blob) {
        items.prepend(item)
        heapBytes += item.heapCost
        updateCost()
    }

    public func pushBack(_ item: Blob) {
        items.append(item)
        heapBytes += item.heapCost
        updateCost()
    }

    public func popFront() -> Blob? {
        guard let item = items.popFirst() else { return nil }
        heapBytes -= item.heapCost
        updateCost()
        return item
    }

    public func popBack() -> Blob? {
        guard let item = items.popLast() else { return nil }
        heapBytes -= item.heapCost
        updateCost()
        return item
    }

    public subscript(index: Int) -> Blob { items[index] }

    /// Replaces the item at `index`.
    public func set(_ item: Blob, at index: Int) {
        heapBytes += item.heapCost - items[index].heapCost
        items[index] = item
        updateCost()
    }

    public func insert(_ item: Blob, at index: Int) {
        items.insert(item, at: index)
        heapBytes += item.heapCost
        updateCost()
    }

    /// Replaces all items at once (LREM, LTRIM and the like rebuild the list).
    public func replaceItems(_ newItems: Deque<Blob>) {
        items = newItems
        heapBytes = newItems.reduce(0) { $0 + $1.heapCost }
        updateCost()
    }

    /// Removes up to `limit` items equal to `item`, the first ones from the head, or from the
    /// tail when `fromTail` (LREM); returns how many it removed.
    public func removeMatches(of item: Blob, limit: UInt, fromTail: Bool) -> Int {
        var removed: UInt = 0
        var kept = Deque<Blob>()
        if fromTail {
            for element in items.reversed() {
                if removed < limit && element == item { removed += 1 } else { kept.prepend(element) }
            }
        } else {
            for element in items {
                if removed < limit && element == item { removed += 1 } else { kept.append(element) }
            }
        }
        guard removed > 0 else { return 0 }
        heapBytes -= Int(removed) * item.heapCost
        items = kept
        updateCost()
        return Int(removed)
    }

    /// Removes the items in `range` (LTRIM).
    public func removeSubrange(_ range: Range<Int>) {
        for i in range { heapBytes -= items[i].heapCost }
        items.removeSubrange(range)
        updateCost()
    }

    private func updateCost() {
        let capacity = items.count == 0 ? 0 : (32 + items.count * MemoryLayout<Blob>.stride + 15) & ~15
        cost = CollectionValue.objectOverhead + capacity + heapBytes
    }

    override func encodeElements(into writer: inout ValueWriter) {
        writer.varint(items.count)
        for item in items { writer.blob(item) }
    }

    static func decodeElements(_ reader: inout ValueReader) -> ListValue? {
        guard let n = reader.count(minimumBytes: 1) else { return nil }
        let value = ListValue()
        var items = Deque<Blob>()
        items.reserveCapacity(n)
        for _ in 0..<n {
            guard let item = reader.blob() else { return nil }
            items.append(item)
        }
        value.replaceItems(items)
        return value
    }

    public override func copy() -> CollectionValue {
        let other = ListValue()
        other.items = items
        other.heapBytes = heapBytes
        other.updateCost()
        return other
    }
}
