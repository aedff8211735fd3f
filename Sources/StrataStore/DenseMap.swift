/// A hash map from ``Blob`` keys, stored as two dense arrays (keys, values) and an
/// open-addressing index of positions into them: the layout of CPython's compact dict.
///
/// Why not `Dictionary`: a hash or set member here costs its 16-byte key (plus 16 for a hash's
/// value) and about 5–11 bytes of index, where a `Dictionary<Blob, Blob>` costs 43–85 bytes a
/// slot at its load factors; and a random member (SPOP, SRANDMEMBER, HRANDFIELD) is one array
/// read, where a `Dictionary` must walk to a random bucket.
///
/// Removal moves the last element into the hole. SCAN walks positions from the end down, so an
/// element moved that way has already been visited, and an element present for the whole scan
/// is never missed (added ones go to the end, behind the cursor).
public struct DenseMap<Value> {
    public private(set) var keys: [Blob] = []
    public private(set) var values: [Value] = []
    /// 0: empty; otherwise the key's position plus one in the high 32 bits and the low 32 bits
    /// of its hash (``Blob/mapHash``) in the low ones. The stored hash gives the slot's home
    /// (`hash & mask`) and rules out almost every non-matching slot without reading `keys` (a
    /// cache miss, and for a long key a second one for its bytes); growing and backward-shift
    /// deletion never rehash a key.
    private var slots: [UInt64] = []

    public init() {}

    public init(minimumCapacity: Int) {
        keys.reserveCapacity(minimumCapacity)
        values.reserveCapacity(minimumCapacity)
        var size = 8
        while size * 3 < minimumCapacity * 4 { size *= 2 }
        slots = Array(repeating: 0, count: size)
    }

    public var count: Int { keys.count }
    public var isEmpty: Bool { keys.isEmpty }

    /// Bytes of the arrays (not of out-of-line key or value bytes).
    public var storageCost: Int {
        func array(_ capacity: Int, _ stride: Int) -> Int { capacity == 0 ? 0 : (32 + capacity * stride + 8 + 15) & ~15 }
        return array(keys.capacity, MemoryLayout<Blob>.stride) + array(values.capacity, MemoryLayout<Value>.stride)
            + array(slots.count, MemoryLayout<UInt64>.stride)
    }

    @inline(__always)
    private static func tag(_ hash: UInt64) -> UInt64 { hash & 0xffff_ffff }

    @inline(__always)
    private static func slot(position: Int, tag: UInt64) -> UInt64 { UInt64(position + 1) << 32 | tag }

    @inline(__always)
    private static func position(_ slot: UInt64) -> Int { Int(slot >> 32) - 1 }

    /// The slot holding `key`'s position, or the empty slot where it would go.
    @inline(__always)
    private func probe(_ key: Blob, tag: UInt64) -> (slot: Int, found: Bool) {
        slots.withUnsafeBufferPointer { slots in
            let mask = slots.count - 1
            var i = Int(tag) & mask
            while true {
                let s = slots[i]
                if s == 0 { return (i, false) }
                if s & 0xffff_ffff == tag && keys[DenseMap.position(s)] == key { return (i, true) }
                i = (i + 1) & mask
            }
        }
    }

    /// The position of `key`, or nil.
    public func position(of key: Blob) -> Int? {
        guard !slots.isEmpty else { return nil }
        let (slot, found) = probe(key, tag: DenseMap.tag(key.mapHash))
        return found ? DenseMap.position(slots[slot]) : nil
    }

    /// The position of the key with these bytes, or nil: a lookup that makes no ``Blob`` (a
    /// long one would cost an allocation) for a command argument that is usually present.
    public func position(ofBytes bytes: UnsafeRawBufferPointer) -> Int? {
        if bytes.count <= Blob.inlineCapacity { return position(of: Blob(bytes)) }
        guard !slots.isEmpty else { return nil }
        let tag = DenseMap.tag(Blob.mapHasher.hash(bytes))
        return slots.withUnsafeBufferPointer { slots in
            let mask = slots.count - 1
            var i = Int(tag) & mask
            while true {
                let s = slots[i]
                if s == 0 { return nil }
                if s & 0xffff_ffff == tag {
                    let p = DenseMap.position(s)
                    if keys[p].withBytes({ $0.count == bytes.count && Blob.compare($0, bytes) == 0 }) { return p }
                }
                i = (i + 1) & mask
            }
        }
    }

    public subscript(key: Blob) -> Value? {
        position(of: key).map { values[$0] }
    }

    public func contains(_ key: Blob) -> Bool { position(of: key) != nil }

    /// Sets `key` to `value`; returns the value it replaces (nil: the key is new).
    @discardableResult
    public mutating func set(_ key: Blob, _ value: Value) -> Value? {
        if (keys.count + 1) * 4 > slots.count * 3 { grow() }
        let tag = DenseMap.tag(key.mapHash)
        let (slot, found) = probe(key, tag: tag)
        if found {
            let p = DenseMap.position(slots[slot])
            let old = values[p]
            values[p] = value
            return old
        }
        slots[slot] = DenseMap.slot(position: keys.count, tag: tag)
        keys.append(key)
        values.append(value)
        return nil
    }

    /// Replaces the value at `position`.
    public mutating func setValue(_ value: Value, at position: Int) {
        values[position] = value
    }

    /// Removes `key`; returns its value (nil: it was absent).
    @discardableResult
    public mutating func remove(_ key: Blob) -> Value? {
        guard !slots.isEmpty else { return nil }
        let (slot, found) = probe(key, tag: DenseMap.tag(key.mapHash))
        guard found else { return nil }
        return removeAt(slot: slot)
    }

    /// Removes the element at `position`; returns its key and value.
    @discardableResult
    public mutating func remove(at position: Int) -> (key: Blob, value: Value) {
        let key = keys[position]
        let value = removeAt(slot: slotIndex(of: position, tag: DenseMap.tag(key.mapHash)))
        return (key, value)
    }

    /// The slot that holds `position`, whose key's hash has `tag`.
    @inline(__always)
    private func slotIndex(of position: Int, tag: UInt64) -> Int {
        let wanted = DenseMap.slot(position: position, tag: tag)
        let mask = slots.count - 1
        var i = Int(tag) & mask
        while slots[i] != wanted { i = (i + 1) & mask }
        return i
    }

    private mutating func removeAt(slot: Int) -> Value {
        let position = DenseMap.position(slots[slot])
        let value = values[position]
        deleteSlot(slot)
        let last = keys.count - 1
        if position != last {
            // The last element moves into the hole; its slot learns its new position.
            let moved = keys[last]
            let tag = DenseMap.tag(moved.mapHash)
            slots[slotIndex(of: last, tag: tag)] = DenseMap.slot(position: position, tag: tag)
            keys[position] = moved
            values[position] = values[last]
        }
        keys.removeLast()
        values.removeLast()
        if keys.isEmpty {
            keys = []
            values = []
            slots = []
        } else if slots.count > 64 && keys.count * 8 < slots.count {
            rebuild(size: slots.count / 2)
            keys.reserveCapacity(0)
        }
        return value
    }

    /// Backward-shift deletion: later members of the probe run move up so none is cut off.
    private mutating func deleteSlot(_ slot: Int) {
        slots.withUnsafeMutableBufferPointer { slots in
            let mask = slots.count - 1
            var hole = slot
            var i = (slot + 1) & mask
            while slots[i] != 0 {
                let want = Int(slots[i] & 0xffff_ffff) & mask
                // Move the entry at i into the hole if its home is not within (hole, i].
                let distanceToI = (i - want) & mask
                let distanceToHole = (hole - want) & mask
                if distanceToHole < distanceToI {
                    slots[hole] = slots[i]
                    hole = i
                }
                i = (i + 1) & mask
            }
            slots[hole] = 0
        }
    }

    private mutating func grow() {
        rebuild(size: max(8, slots.count * 2))
    }

    /// Re-places every slot in a table of `size` slots, by the hashes the slots hold.
    private mutating func rebuild(size: Int) {
        var fresh = [UInt64](repeating: 0, count: size)
        let mask = size - 1
        fresh.withUnsafeMutableBufferPointer { fresh in
            for s in slots where s != 0 {
                var i = Int(s & 0xffff_ffff) & mask
                while fresh[i] != 0 { i = (i + 1) & mask }
                fresh[i] = s
            }
        }
        slots = fresh
    }

    public mutating func removeAll() {
        keys = []
        values = []
        slots = []
    }

    /// One SCAN step: visits positions below `cursor` (0: start) from the top down, at least
    /// `count` of them; returns the next cursor (0: done).
    public func scan(cursor: Int, count: Int, _ visit: (Blob, Value) -> Void) -> Int {
        var p = cursor == 0 ? keys.count : min(cursor, keys.count)
        var visited = 0
        while p > 0 && visited < count {
            p -= 1
            visit(keys[p], values[p])
            visited += 1
        }
        return p
    }
}
