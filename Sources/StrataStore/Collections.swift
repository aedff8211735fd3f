import DequeModule

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

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
///
/// Small hashes are packed, as Redis's listpack: while the hash holds at most
/// ``EncodingLimits/hashListpackEntries`` fields and no field or value longer than
/// ``EncodingLimits/listpackValue`` bytes, its pairs sit in one malloc'd block, in insertion
/// order, each as `[field length: 1 byte][field][value length: 1 byte][value]`, found by a linear
/// scan (at most 512 entries of at most 130 bytes, as Redis scans a listpack). The block is
/// resized with `realloc` to exactly what it holds, so a hash of ten short fields costs this
/// object and one block about the size of its bytes. The first pair past a limit converts the
/// hash, one way, to a ``DenseMap`` of ``Blob``s (OBJECT ENCODING: listpack, then hashtable).
public final class HashValue: CollectionValue {
    private enum Storage {
        /// The packed pairs (nil while empty); ``packedCount`` pairs in ``packedBytes`` bytes.
        case packed(UnsafeMutableRawPointer?)
        case table(HashFieldTable)
    }

    // 9 + 2 + 4 bytes after CollectionValue's 40: the object is a 56-byte request, a 64-byte chunk.
    private var storage: Storage = .packed(nil)
    private var packedCount: UInt16 = 0
    private var packedBytes: UInt32 = 0

    public init() {
        super.init(kind: .hash, cost: CollectionValue.objectOverhead)
    }

    /// A hash held as a table from the start (a decoded hash known to be past the limits).
    init(tableCapacity: Int) {
        super.init(kind: .hash, cost: CollectionValue.objectOverhead)
        storage = .table(HashFieldTable(minimumCapacity: tableCapacity))
        updateCost()
    }

    deinit {
        if case .packed(let block?) = storage { free(block) }
    }

    public override var count: Int {
        switch storage {
        case .packed: Int(packedCount)
        case .table(let table): table.map.count
        }
    }

    /// Whether the pairs are packed (Redis's listpack); false once converted to a table.
    public var isPacked: Bool {
        if case .packed = storage { return true }
        return false
    }

    public override var encodingName: String { isPacked ? "listpack" : "hashtable" }

    /// The table, once converted (for tests).
    var table: HashFieldTable? {
        if case .table(let table) = storage { return table }
        return nil
    }

    public subscript(field: Blob) -> Blob? {
        field.withBytes { raw in withValue(of: raw) { $0.map { Blob($0) } } }
    }

    /// Calls `body` with the bytes of `field`'s value (nil: absent), valid only during the call.
    public func withValue<R>(of field: UnsafeRawBufferPointer, _ body: (UnsafeRawBufferPointer?) -> R) -> R {
        switch storage {
        case .packed(let block):
            guard let block, let at = PackedPairs.find(field, in: block, bytes: Int(packedBytes)) else { return body(nil) }
            return body(PackedPairs.value(at: at, in: block))
        case .table(let table):
            guard let p = table.map.position(ofBytes: field) else { return body(nil) }
            return table.map.values[p].withBytes { body($0) }
        }
    }

    /// Sets `field`; returns true if it is new.
    @discardableResult
    public func set(_ field: Blob, _ value: Blob) -> Bool {
        if case .table(let table) = storage { return table.set(field, value, updating: self) }
        return field.withBytes { f in value.withBytes { v in set(field: f, value: v) } }
    }

    /// Sets the field with these bytes to these bytes (copied); returns true if it is new. A
    /// table reuses the field it already holds, so an overwrite makes no new field ``Blob``.
    @discardableResult
    public func set(field: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer) -> Bool {
        guard case .packed(let block) = storage else {
            guard case .table(let table) = storage else { preconditionFailure() }
            return table.set(field: field, value: value, updating: self)
        }
        let found = block.flatMap { PackedPairs.find(field, in: $0, bytes: Int(packedBytes)) }
        if field.count > EncodingLimits.listpackValue || value.count > EncodingLimits.listpackValue
            || (found == nil && Int(packedCount) >= EncodingLimits.hashListpackEntries) {
            let table = convertToTable()
            return table.set(field: field, value: value, updating: self)
        }
        if let found, let block {
            // Overwrite: the value's bytes change size in place, the rest of the block moves.
            let valueAt = found + 1 + Int(block.load(fromByteOffset: found, as: UInt8.self))
            let oldLength = Int(block.load(fromByteOffset: valueAt, as: UInt8.self))
            let start = resize(at: valueAt + 1 + oldLength, by: value.count - oldLength)
            start.storeBytes(of: UInt8(value.count), toByteOffset: valueAt, as: UInt8.self)
            if value.count > 0 { (start + valueAt + 1).copyMemory(from: value.baseAddress!, byteCount: value.count) }
            updateCost()
            return false
        }
        let at = Int(packedBytes)
        let start = resize(at: at, by: 2 + field.count + value.count)
        PackedPairs.write(field, value, at: at, in: start)
        packedCount += 1
        updateCost()
        return true
    }

    /// Removes `field`; returns true if it was there.
    @discardableResult
    public func remove(_ field: Blob) -> Bool {
        field.withBytes { remove(field: $0) }
    }

    /// Removes the field with these bytes; returns true if it was there.
    @discardableResult
    public func remove(field: UnsafeRawBufferPointer) -> Bool {
        switch storage {
        case .packed(let block):
            guard let block, let at = PackedPairs.find(field, in: block, bytes: Int(packedBytes)) else { return false }
            _ = resize(at: at + PackedPairs.pairLength(at: at, in: block), by: -PackedPairs.pairLength(at: at, in: block))
            packedCount -= 1
            updateCost()
            return true
        case .table(let table):
            return table.remove(field: field, updating: self)
        }
    }

    /// Calls `body` with every field and its value, in storage order (insertion order while packed).
    public func forEach(_ body: (_ field: UnsafeRawBufferPointer, _ value: UnsafeRawBufferPointer) -> Void) {
        switch storage {
        case .packed(let block):
            guard let block else { return }
            var at = 0
            while at < Int(packedBytes) {
                body(PackedPairs.field(at: at, in: block), PackedPairs.value(at: at, in: block))
                at += PackedPairs.pairLength(at: at, in: block)
            }
        case .table(let table):
            for i in 0..<table.map.count {
                table.map.keys[i].withBytes { f in table.map.values[i].withBytes { v in body(f, v) } }
            }
        }
    }

    /// Every field and value, in the order of ``forEach(_:)``.
    public var pairs: [(field: Blob, value: Blob)] {
        var out: [(field: Blob, value: Blob)] = []
        out.reserveCapacity(count)
        forEach { out.append((Blob($0), Blob($1))) }
        return out
    }

    /// The fields, in the order of ``forEach(_:)``.
    public var fields: [Blob] {
        if case .table(let table) = storage { return table.map.keys }
        var out: [Blob] = []
        out.reserveCapacity(count)
        forEach { f, _ in out.append(Blob(f)) }
        return out
    }

    /// The pair at `position` (0 ..< count) in the order of ``forEach(_:)``: O(1) for a table,
    /// a walk for a packed hash (take ``pairs`` once for many positions).
    public func pair(at position: Int) -> (field: Blob, value: Blob) {
        switch storage {
        case .packed(let block):
            precondition(position >= 0 && position < Int(packedCount), "position out of range")
            var at = 0
            for _ in 0..<position { at += PackedPairs.pairLength(at: at, in: block!) }
            return (Blob(PackedPairs.field(at: at, in: block!)), Blob(PackedPairs.value(at: at, in: block!)))
        case .table(let table):
            return (table.map.keys[position], table.map.values[position])
        }
    }

    /// One HSCAN step: a packed hash gives everything and cursor 0, as Redis does for a
    /// listpack; a table visits as ``DenseMap/scan(cursor:count:_:)``.
    public func scan(cursor: Int, count: Int, _ visit: (Blob, Blob) -> Void) -> Int {
        guard case .table(let table) = storage else {
            forEach { visit(Blob($0), Blob($1)) }
            return 0
        }
        return table.map.scan(cursor: cursor, count: count, visit)
    }

    /// Moves the block's bytes from `offset` on by `delta` (growing or shrinking the block to
    /// exactly its new size first or after); returns the block's (possibly new) address.
    private func resize(at offset: Int, by delta: Int) -> UnsafeMutableRawPointer {
        guard case .packed(var block) = storage else { preconditionFailure("not packed") }
        let old = Int(packedBytes), new = old + delta
        let tail = old - offset
        if delta > 0 {
            guard let grown = realloc(block, new) else { fatalError("out of memory") }
            block = grown
            if tail > 0 { memmove(grown + offset + delta, grown + offset, tail) }
        } else if delta < 0, let current = block {
            if tail > 0 { memmove(current + offset + delta, current + offset, tail) }
            if new == 0 {
                free(current)
                block = nil
            } else {
                block = realloc(current, new) ?? current
            }
        }
        storage = .packed(block)
        packedBytes = UInt32(new)
        return block ?? UnsafeMutableRawPointer(bitPattern: 1)!
    }

    /// Converts, one way, to a table holding the same pairs in the same order.
    private func convertToTable() -> HashFieldTable {
        let table = HashFieldTable(minimumCapacity: Int(packedCount) + 1)
        forEach { f, v in table.map.set(Blob(f), Blob(v)) }
        table.heapBytes = table.map.keys.reduce(0) { $0 + $1.heapCost } + table.map.values.reduce(0) { $0 + $1.heapCost }
        if case .packed(let block?) = storage { free(block) }
        storage = .table(table)
        packedCount = 0
        packedBytes = 0
        return table
    }

    fileprivate func updateCost() {
        switch storage {
        case .packed:
            cost = CollectionValue.objectOverhead + HashValue.mallocChunk(Int(packedBytes))
        case .table(let table):
            cost = CollectionValue.objectOverhead + HashFieldTable.objectCost + table.map.storageCost + table.heapBytes
        }
    }

    /// What glibc's malloc takes for a request of `bytes` (0: no allocation): the request and
    /// one word of chunk header, in 16-byte granules, at least 32.
    static func mallocChunk(_ bytes: Int) -> Int {
        bytes == 0 ? 0 : max(32, (bytes + 8 + 15) & ~15)
    }

    override func encodeElements(into writer: inout ValueWriter) {
        // The same bytes for both forms: the count, then each field and value as a length and bytes.
        writer.varint(count)
        forEach { f, v in
            writer.lengthPrefixed(f)
            writer.lengthPrefixed(v)
        }
    }

    static func decodeElements(_ reader: inout ValueReader) -> HashValue? {
        guard let n = reader.count(minimumBytes: 2) else { return nil }
        let value = n > EncodingLimits.hashListpackEntries ? HashValue(tableCapacity: n) : HashValue()
        for _ in 0..<n {
            guard let field = reader.lengthPrefixed(), let v = reader.lengthPrefixed() else { return nil }
            value.set(field: field, value: v)
        }
        return value
    }

    public override func copy() -> CollectionValue {
        let other = HashValue()
        switch storage {
        case .packed(let block):
            if let block, packedBytes > 0 {
                guard let mine = malloc(Int(packedBytes)) else { fatalError("out of memory") }
                mine.copyMemory(from: block, byteCount: Int(packedBytes))
                other.storage = .packed(mine)
            }
            other.packedCount = packedCount
            other.packedBytes = packedBytes
        case .table(let table):
            let copied = HashFieldTable(minimumCapacity: 0)
            copied.map = table.map
            copied.heapBytes = table.heapBytes
            other.storage = .table(copied)
        }
        other.updateCost()
        return other
    }
}

/// A converted hash's fields: a table of ``Blob``s and the bytes they hold out of line.
final class HashFieldTable {
    var map: DenseMap<Blob>
    var heapBytes = 0

    /// The object: header, map (three array references) and `heapBytes`, as malloc rounds it.
    static let objectCost = 64

    init(minimumCapacity: Int) {
        map = minimumCapacity > 0 ? DenseMap(minimumCapacity: minimumCapacity) : DenseMap()
    }

    func set(_ field: Blob, _ value: Blob, updating owner: HashValue) -> Bool {
        let old = map.set(field, value)
        if let old {
            heapBytes += value.heapCost - old.heapCost
        } else {
            heapBytes += field.heapCost + value.heapCost
        }
        owner.updateCost()
        return old == nil
    }

    func set(field: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer, updating owner: HashValue) -> Bool {
        guard let p = map.position(ofBytes: field) else { return set(Blob(field), Blob(value), updating: owner) }
        let new = Blob(value)
        heapBytes += new.heapCost - map.values[p].heapCost
        map.setValue(new, at: p)
        owner.updateCost()
        return false
    }

    func remove(field: UnsafeRawBufferPointer, updating owner: HashValue) -> Bool {
        guard let p = map.position(ofBytes: field) else { return false }
        let (key, old) = map.remove(at: p)
        heapBytes -= key.heapCost + old.heapCost
        owner.updateCost()
        return true
    }
}

/// The packed pairs' layout: `[field length][field][value length][value]`, lengths one byte
/// each (both at most ``EncodingLimits/listpackValue`` while packed).
enum PackedPairs {
    @inline(__always)
    static func pairLength(at offset: Int, in block: UnsafeMutableRawPointer) -> Int {
        let f = Int(block.load(fromByteOffset: offset, as: UInt8.self))
        return 2 + f + Int(block.load(fromByteOffset: offset + 1 + f, as: UInt8.self))
    }

    @inline(__always)
    static func field(at offset: Int, in block: UnsafeMutableRawPointer) -> UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(start: block + offset + 1, count: Int(block.load(fromByteOffset: offset, as: UInt8.self)))
    }

    @inline(__always)
    static func value(at offset: Int, in block: UnsafeMutableRawPointer) -> UnsafeRawBufferPointer {
        let valueAt = offset + 1 + Int(block.load(fromByteOffset: offset, as: UInt8.self))
        return UnsafeRawBufferPointer(start: block + valueAt + 1, count: Int(block.load(fromByteOffset: valueAt, as: UInt8.self)))
    }

    /// The offset of the pair whose field has these bytes, or nil.
    @inline(__always)
    static func find(_ field: UnsafeRawBufferPointer, in block: UnsafeMutableRawPointer, bytes: Int) -> Int? {
        let length = field.count
        guard length <= EncodingLimits.listpackValue else { return nil }
        var at = 0
        while at < bytes {
            let f = Int(block.load(fromByteOffset: at, as: UInt8.self))
            if f == length && (length == 0 || memcmp(block + at + 1, field.baseAddress!, length) == 0) { return at }
            at += 2 + f + Int(block.load(fromByteOffset: at + 1 + f, as: UInt8.self))
        }
        return nil
    }

    static func write(_ field: UnsafeRawBufferPointer, _ value: UnsafeRawBufferPointer, at offset: Int,
                      in block: UnsafeMutableRawPointer) {
        block.storeBytes(of: UInt8(field.count), toByteOffset: offset, as: UInt8.self)
        if field.count > 0 { (block + offset + 1).copyMemory(from: field.baseAddress!, byteCount: field.count) }
        let valueAt = offset + 1 + field.count
        block.storeBytes(of: UInt8(value.count), toByteOffset: valueAt, as: UInt8.self)
        if value.count > 0 { (block + valueAt + 1).copyMemory(from: value.baseAddress!, byteCount: value.count) }
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
