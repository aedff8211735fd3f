/// A chained hash table of entries with a power-of-two bucket count.
///
/// Chaining (rather than open addressing) keeps an entry in its bucket until the table is resized,
/// which is what lets ``scan(cursor:_:)`` use Redis's reverse-binary cursor: every key present for
/// the whole of a SCAN is returned at least once, even when the table grows or shrinks in between.
///
/// Entries keep only the low 24 bits of their key's hash (``EntryHeader/hashBits``): they are the
/// bucket index while the table has at most 2^24 buckets. A larger table (over 16 million keys in
/// one shard's database) computes an entry's bucket from its key with `hasher` instead, when the
/// entry is placed, moved or removed; lookups always have the caller's full hash.
struct HashTable {
    private(set) var buckets: [Entry?] = []
    private(set) var count = 0
    /// The keyspace's hash function, for entries' full hashes in tables too large for their stored bits.
    let hasher: KeyHasher
    /// Masks up to this use the entries' stored bits (a parameter so that tests can lower it).
    private let storedMask: Int

    /// - Parameters:
    ///   - hasher: the keyspace's hash function (the one callers' hashes come from).
    ///   - storedHashBits: how many low bits of an entry's hash may serve as its bucket index;
    ///     tests lower it to exercise large tables.
    init(hasher: KeyHasher, storedHashBits: Int = EntryHeader.storedHashBits) {
        precondition(storedHashBits >= 1 && storedHashBits <= EntryHeader.storedHashBits)
        self.hasher = hasher
        self.storedMask = (1 << storedHashBits) - 1
    }

    /// The bucket of `entry` in a table of `mask` + 1 buckets.
    @inline(__always)
    private func bucket(of entry: Entry, mask: Int) -> Int {
        if mask <= storedMask { return Int(entry.header.hashBits) & mask }
        return Int(truncatingIfNeeded: entry.keyHash(hasher)) & mask
    }

    var isEmpty: Bool { count == 0 }
    /// Bytes of the bucket array.
    var memoryCost: Int { buckets.count * MemoryLayout<Entry?>.stride }

    @inline(__always)
    func find(_ key: UnsafeRawBufferPointer, hash: UInt64) -> Entry? {
        guard !buckets.isEmpty else { return nil }
        var candidate = buckets[Int(truncatingIfNeeded: hash) & (buckets.count - 1)]
        while let entry = candidate {
            if entry.keyEquals(key, hash: hash) { return entry }
            candidate = entry.header.chainNext
        }
        return nil
    }

    /// Adds an entry whose key is not in the table.
    mutating func insert(_ entry: Entry) {
        if count >= buckets.count { resize(to: max(16, buckets.count * 2)) }
        let index = bucket(of: entry, mask: buckets.count - 1)
        entry.header.chainNext = buckets[index]
        buckets[index] = entry
        count += 1
    }

    /// Removes `entry` (by identity). Returns whether it was there.
    @discardableResult
    mutating func remove(_ entry: Entry) -> Bool {
        guard !buckets.isEmpty else { return false }
        let index = bucket(of: entry, mask: buckets.count - 1)
        guard let head = buckets[index] else { return false }
        if head === entry {
            buckets[index] = entry.header.chainNext
        } else {
            var previous = head
            while let next = previous.header.chainNext, next !== entry { previous = next }
            guard previous.header.chainNext === entry else { return false }
            previous.header.chainNext = entry.header.chainNext
        }
        entry.header.chainNext = nil
        count -= 1
        if buckets.count > 16 && count < buckets.count / 8 { resize(to: buckets.count / 2) }
        return true
    }

    /// Puts `new` in the place of `old`, which has the same key.
    mutating func replace(_ old: Entry, with new: Entry) {
        let index = bucket(of: old, mask: buckets.count - 1)
        new.header.chainNext = old.header.chainNext
        old.header.chainNext = nil
        if buckets[index] === old {
            buckets[index] = new
            return
        }
        var previous = buckets[index]!
        while previous.header.chainNext !== old { previous = previous.header.chainNext! }
        previous.header.chainNext = new
    }

    /// Calls `body` for every entry. The table must not be changed during the call.
    func forEach(_ body: (Entry) -> Void) {
        for bucket in buckets {
            var candidate = bucket
            while let entry = candidate {
                candidate = entry.header.chainNext
                body(entry)
            }
        }
    }

    /// Drops every entry. Chains are released one bucket at a time, so no recursion runs deep.
    mutating func removeAll() {
        buckets = []
        count = 0
    }

    /// A uniformly chosen bucket's random entry; nil when empty.
    func randomEntry<G: RandomNumberGenerator>(using generator: inout G) -> Entry? {
        guard count > 0 else { return nil }
        let mask = buckets.count - 1
        while true {
            let index = Int(truncatingIfNeeded: generator.next()) & mask
            guard let head = buckets[index] else { continue }
            var length = 0
            var candidate: Entry? = head
            while let entry = candidate { length += 1; candidate = entry.header.chainNext }
            var pick = Int.random(in: 0..<length, using: &generator)
            var chosen = head
            while pick > 0 { chosen = chosen.header.chainNext!; pick -= 1 }
            return chosen
        }
    }

    /// Visits the bucket named by `cursor` and returns the next cursor (0 when the scan is done).
    func scan(cursor: UInt64, _ body: (Entry) -> Void) -> UInt64 {
        guard !buckets.isEmpty else { return 0 }
        let mask = UInt64(buckets.count - 1)
        var candidate = buckets[Int(cursor & mask)]
        while let entry = candidate {
            candidate = entry.header.chainNext
            body(entry)
        }
        var v = cursor | ~mask
        v = v.bitSwapped
        v &+= 1
        return v.bitSwapped
    }

    private mutating func resize(to newCount: Int) {
        var newBuckets = [Entry?](repeating: nil, count: newCount)
        let mask = newCount - 1
        for i in buckets.indices {
            var candidate = buckets[i]
            buckets[i] = nil
            while let entry = candidate {
                candidate = entry.header.chainNext
                let index = bucket(of: entry, mask: mask)
                entry.header.chainNext = newBuckets[index]
                newBuckets[index] = entry
            }
        }
        buckets = newBuckets
    }
}

extension UInt64 {
    /// The bits in reverse order.
    @inline(__always)
    var bitSwapped: UInt64 {
        var v = self
        v = ((v >> 1) & 0x5555_5555_5555_5555) | ((v & 0x5555_5555_5555_5555) << 1)
        v = ((v >> 2) & 0x3333_3333_3333_3333) | ((v & 0x3333_3333_3333_3333) << 2)
        v = ((v >> 4) & 0x0F0F_0F0F_0F0F_0F0F) | ((v & 0x0F0F_0F0F_0F0F_0F0F) << 4)
        return v.byteSwapped
    }
}

/// An intrusive doubly linked LRU list of entries (most recent at the head) with a byte count.
struct TierList {
    private(set) unowned(unsafe) var head: Entry?
    private(set) unowned(unsafe) var tail: Entry?
    private(set) var count = 0
    private(set) var bytes = 0

    mutating func pushFront(_ entry: Entry) {
        entry.header.lruPrev = nil
        entry.header.lruNext = head
        if let head { head.header.lruPrev = entry } else { tail = entry }
        head = entry
        count += 1
        bytes += entry.cost
    }

    mutating func remove(_ entry: Entry) {
        let prev = entry.header.lruPrev
        let next = entry.header.lruNext
        if let prev { prev.header.lruNext = next } else { head = next }
        if let next { next.header.lruPrev = prev } else { tail = prev }
        entry.header.lruPrev = nil
        entry.header.lruNext = nil
        count -= 1
        bytes -= entry.cost
    }

    /// A linked collection changed size (see ``Shard/collectionChanged(_:)``).
    mutating func adjustBytes(by delta: Int) {
        bytes += delta
    }

    mutating func moveToFront(_ entry: Entry) {
        guard head !== entry else { return }
        remove(entry)
        pushFront(entry)
    }

    /// Puts `new` at `old`'s position.
    mutating func replace(_ old: Entry, with new: Entry) {
        let prev = old.header.lruPrev
        let next = old.header.lruNext
        new.header.lruPrev = prev
        new.header.lruNext = next
        if let prev { prev.header.lruNext = new } else { head = new }
        if let next { next.header.lruPrev = new } else { tail = new }
        old.header.lruPrev = nil
        old.header.lruNext = nil
        bytes += new.cost - old.cost
    }

    mutating func removeAll() {
        head = nil
        tail = nil
        count = 0
        bytes = 0
    }
}
