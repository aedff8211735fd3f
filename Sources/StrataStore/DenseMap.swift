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
    /// -1: empty; otherwise a position in `keys`.
    private var slots: [Int32] = []

    public init() {}

    public init(minimumCapacity: Int) {
        keys.reserveCapacity(minimumCapacity)
        values.reserveCapacity(minimumCapacity)
        var size = 8
        while size * 3 < minimumCapacity * 4 { size *= 2 }
        slots = Array(repeating: -1, count: size)
    }

    public var count: Int { keys.count }
    public var isEmpty: Bool { keys.isEmpty }

    /// Bytes of the arrays (not of out-of-line key or value bytes).
    public var storageCost: Int {
        func array(_ capacity: Int, _ stride: Int) -> Int { capacity == 0 ? 0 : (32 + capacity * stride + 8 + 15) & ~15 }
        return array(keys.capacity, MemoryLayout<Blob>.stride) + array(values.capacity, MemoryLayout<Value>.stride)
            + array(slots.count, 4)
    }

    @inline(__always)
    private func home(_ key: Blob) -> Int { key.hashValue & (slots.count - 1) }

    /// The slot holding `key`'s position, or the empty slot where it would go.
    @inline(__always)
    private func probe(_ key: Blob) -> (slot: Int, found: Bool) {
        let mask = slots.count - 1
        var i = home(key)
        while true {
            let p = slots[i]
            if p < 0 { return (i, false) }
            if keys[Int(p)] == key { return (i, true) }
            i = (i + 1) & mask
        }
    }

    /// The position of `key`, or nil.
    public func position(of key: Blob) -> Int? {
        guard !slots.isEmpty else { return nil }
        let (slot, found) = probe(key)
        return found ? Int(slots[slot]) : nil
    }

    public subscript(key: Blob) -> Value? {
        position(of: key).map { values[$0] }
    }

    public func contains(_ key: Blob) -> Bool { position(of: key) != nil }

    /// Sets `key` to `value`; returns the value it replaces (nil: the key is new).
    @discardableResult
    public mutating func set(_ key: Blob, _ value: Value) -> Value? {
        if (keys.count + 1) * 4 > slots.count * 3 { grow() }
        let (slot, found) = probe(key)
        if found {
            let p = Int(slots[slot])
            let old = values[p]
            values[p] = value
            return old
        }
        slots[slot] = Int32(keys.count)
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
        let (slot, found) = probe(key)
        guard found else { return nil }
        return removeAt(slot: slot)
    }

    /// Removes the element at `position`; returns its key and value.
    @discardableResult
    public mutating func remove(at position: Int) -> (key: Blob, value: Value) {
        let key = keys[position]
        let (slot, _) = probe(key)
        let value = removeAt(slot: slot)
        return (key, value)
    }

    private mutating func removeAt(slot: Int) -> Value {
        let position = Int(slots[slot])
        let value = values[position]
        deleteSlot(slot)
        let last = keys.count - 1
        if position != last {
            // The last element moves into the hole; its slot learns its new position.
            let moved = keys[last]
            let mask = slots.count - 1
            var i = home(moved)
            while slots[i] != Int32(last) { i = (i + 1) & mask }
            slots[i] = Int32(position)
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
        let mask = slots.count - 1
        var hole = slot
        var i = (slot + 1) & mask
        while slots[i] >= 0 {
            let want = home(keys[Int(slots[i])])
            // Move the entry at i into the hole if its home is not within (hole, i].
            let distanceToI = (i - want) & mask
            let distanceToHole = (hole - want) & mask
            if distanceToHole < distanceToI {
                slots[hole] = slots[i]
                hole = i
            }
            i = (i + 1) & mask
        }
        slots[hole] = -1
    }

    private mutating func grow() {
        rebuild(size: max(8, slots.count * 2))
    }

    private mutating func rebuild(size: Int) {
        slots = Array(repeating: -1, count: size)
        let mask = size - 1
        for p in keys.indices {
            var i = keys[p].hashValue & mask
            while slots[i] >= 0 { i = (i + 1) & mask }
            slots[i] = Int32(p)
        }
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
