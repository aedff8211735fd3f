import NIOConcurrencyHelpers
import Synchronization

/// Counters of one shard; ``Keyspace/statistics()`` adds them up.
public struct TierStatistics: Sendable, Equatable {
    public var keys = 0
    public var bytes = 0
    public var hits = 0
    public var misses = 0
    public var promotions = 0
    public var demotions = 0
    public var evictions = 0

    public init() {}

    static func + (a: TierStatistics, b: TierStatistics) -> TierStatistics {
        var r = a
        r.keys += b.keys; r.bytes += b.bytes; r.hits += b.hits; r.misses += b.misses
        r.promotions += b.promotions; r.demotions += b.demotions; r.evictions += b.evictions
        return r
    }
}

public struct ShardStatistics: Sendable, Equatable {
    public var l1 = TierStatistics()
    public var l2 = TierStatistics()
    public var keyspaceHits = 0
    public var keyspaceMisses = 0
    public var expiredKeys = 0
    public var evictedKeys = 0
    public var volatileKeys = 0
    public var bytes = 0
    /// Reads that found only a cold stub (value fetched from L3).
    public var l3Hits = 0
    /// Values dropped from memory because L3 holds them.
    public var demotedToL3 = 0
    public var l3IndexKeys = 0
    public var l3IndexBytes = 0

    public init() {}

    static func + (a: ShardStatistics, b: ShardStatistics) -> ShardStatistics {
        var r = a
        r.l1 = a.l1 + b.l1; r.l2 = a.l2 + b.l2
        r.keyspaceHits += b.keyspaceHits; r.keyspaceMisses += b.keyspaceMisses
        r.expiredKeys += b.expiredKeys; r.evictedKeys += b.evictedKeys
        r.volatileKeys += b.volatileKeys; r.bytes += b.bytes
        r.l3Hits += b.l3Hits; r.demotedToL3 += b.demotedToL3
        r.l3IndexKeys += b.l3IndexKeys; r.l3IndexBytes += b.l3IndexBytes
        return r
    }
}

/// How a lookup counts towards statistics and recency.
public enum Access: Sendable {
    /// A read: counts a keyspace hit or miss and refreshes the key's recency (may promote it).
    case read
    /// A read that must not change recency or statistics (TTL, TYPE, EXISTS, OBJECT, SCAN).
    case peek
    /// A write to an existing key: refreshes recency, counts nothing.
    case write
}

/// Marks a client's transaction as failed when a key it WATCHes changes.
public final class WatchToken: Sendable {
    private let dirtyFlag = Atomic<Bool>(false)
    public init() {}
    public var isDirty: Bool { dirtyFlag.load(ordering: .acquiring) }
    public func markDirty() { dirtyFlag.store(true, ordering: .releasing) }
}

struct WatchKey: Hashable {
    var database: Int
    var key: [UInt8]
}

/// One slice of the keyspace, chosen by the key's hash, with its own lock.
///
/// `@unchecked Sendable`: every mutable property is guarded by ``lock``. Callers take it through
/// ``Keyspace`` (one shard for a single-key command, several in index order for multi-key commands,
/// all of them for EXEC), and every method here assumes it is held.
public final class Shard: @unchecked Sendable {
    /// Guards all of this shard's state. A pthread mutex: critical sections are a hash lookup or two.
    public let lock = ShardLock()
    public let index: Int
    private(set) var tables: [HashTable]
    /// Bytes of every database's bucket array, kept in step by ``changeTable(_:_:)`` (summing
    /// the tables after every write cost two reference-count operations per database).
    private var bucketBytes = 0
    var l1 = TierList()
    var l2 = TierList()
    /// Keys with a TTL, for active expiry and the volatile-* policies.
    var volatile: [Entry] = []
    var statistics = ShardStatistics()
    var watchers: [WatchKey: [WatchToken]] = [:]
    /// Changes not yet taken by the cold tier (see Journal.swift).
    var journal: [PendingChange] = []
    /// Flush markers in `journal`: while there are any, drains take every shard at once.
    var journalFlushes = 0
    /// Bytes this shard last reported to the keyspace's global counter.
    private var reportedBytes = 0
    private var generator: SplitMix64
    // unowned(unsafe): the keyspace owns its shards and outlives them; a checked unowned read
    // costs a reference-count round trip on every lookup.
    unowned(unsafe) let keyspace: Keyspace

    init(index: Int, databases: Int, keyspace: Keyspace, seed: UInt64) {
        self.index = index
        self.tables = Array(repeating: HashTable(hasher: KeyHasher(seed: seed)), count: databases)
        self.keyspace = keyspace
        self.generator = SplitMix64(seed: seed &+ UInt64(index))
    }

    // MARK: - Lookups

    /// The live entry for `key`, expiring it lazily if its time has passed.
    @inline(__always)
    public func find(database: Int, key: UnsafeRawBufferPointer, hash: UInt64, now: Int64, access: Access) -> Entry? {
        guard let entry = tables[database].find(key, hash: hash) else {
            if case .read = access { recordMiss() }
            return nil
        }
        let expireAt = entry.header.expireAt
        if expireAt != 0 && now > expireAt {
            expire(entry)
            if case .read = access { recordMiss() }
            return nil
        }
        switch access {
        case .read:
            statistics.keyspaceHits += 1
            switch entry.header.tier {
            case .l1: statistics.l1.hits += 1
            case .l2: statistics.l1.misses += 1; statistics.l2.hits += 1
            case .l3: statistics.l1.misses += 1; statistics.l2.misses += 1; statistics.l3Hits += 1
            }
            touch(entry, now: now)
        case .write:
            touch(entry, now: now)
        case .peek:
            break
        }
        return entry
    }

    @inline(__always)
    private func recordMiss() {
        statistics.keyspaceMisses += 1
        statistics.l1.misses += 1
        statistics.l2.misses += 1
    }

    /// Refreshes recency: an L2 entry is promoted to L1, an L1 entry moves to L1's front unless
    /// it was last accessed in the same second.
    ///
    /// Moving an entry unlinks it from two neighbours, random entries whose cache lines are cold:
    /// with 100k keys that was 7% of the event loops' time at GET -P 16. Within a second the move
    /// changes nothing that matters: recency has Redis's LRU clock resolution (1 s), and an entry
    /// moved to the front less than a second ago is still among L1's most recent.
    @inline(__always)
    func touch(_ entry: Entry, now: Int64) {
        guard entry.isWarm else { return }
        let seconds = keyspace.clockSeconds(now)
        let previous = entry.header.lastAccess
        entry.header.lastAccess = seconds
        if entry.header.frequency < 255 { entry.header.frequency += 1 }
        if entry.header.tier == .l1 {
            if previous != seconds { l1.moveToFront(entry) }
        } else {
            l2.remove(entry)
            entry.header.tier = .l1
            l1.pushFront(entry)
            statistics.l1.promotions += 1
            demoteOverBudget()
        }
    }

    private func demoteOverBudget() {
        let l1Budget = keyspace.l1Budget
        guard l1Budget > 0 else { return }
        while l1.bytes > l1Budget, let victim = l1.tail {
            l1.remove(victim)
            victim.header.tier = .l2
            l2.pushFront(victim)
            statistics.l1.demotions += 1
        }
    }

    // MARK: - Writes

    /// Stores a new key (which must not exist) in L2.
    @discardableResult
    public func insert(database: Int, key: UnsafeRawBufferPointer, hash: UInt64, value: UnsafeRawBufferPointer,
                       expireAt: Int64, now: Int64) -> Entry {
        let entry = Entry.make(key: key, hash: hash, value: value, database: database, expireAt: expireAt,
                               now: keyspace.clockSeconds(now))
        changeTable(database) { $0.insert(entry) }
        l2.pushFront(entry)
        if expireAt != 0 { addVolatile(entry) }
        touchWatchers(database: database, key: key)
        reportMemory()
        journalWrite(entry, replacing: nil)
        if keyspace.keyEvents.isEnabled {
            report(.created, database: database, key: key)
            report(.written, database: database, key: key)
            if expireAt != 0 { report(.expireSet, database: database, key: key) }
        }
        return entry
    }

    /// Stores a new key (which must not exist) holding `collection`, in L2.
    @discardableResult
    public func insert(database: Int, key: UnsafeRawBufferPointer, hash: UInt64, collection: CollectionValue,
                       expireAt: Int64, now: Int64) -> Entry {
        collection.accountedCost = collection.cost
        let entry = Entry.make(key: key, hash: hash, collection: collection, database: database, expireAt: expireAt,
                               now: keyspace.clockSeconds(now))
        changeTable(database) { $0.insert(entry) }
        l2.pushFront(entry)
        if expireAt != 0 { addVolatile(entry) }
        touchWatchers(database: database, key: key)
        reportMemory()
        journalWrite(entry, replacing: nil)
        if keyspace.keyEvents.isEnabled {
            report(.created, database: database, key: key)
            report(.written, database: database, key: key)
            if expireAt != 0 { report(.expireSet, database: database, key: key) }
        }
        return entry
    }

    /// Replaces an existing entry (of any type) by one holding `collection`, keeping its TTL
    /// unless `expireAt` is given.
    @discardableResult
    public func replaceValue(_ old: Entry, with collection: CollectionValue, expireAt: Int64? = nil, now: Int64) -> Entry {
        collection.accountedCost = collection.cost
        let new = old.withKey {
            Entry.make(key: $0, hash: UInt64(old.header.hashBits), collection: collection, database: Int(old.header.database),
                       expireAt: old.header.expireAt, now: old.header.lastAccess)
        }
        new.header.tier = old.header.tier == .l3 ? .l2 : old.header.tier
        new.header.frequency = old.header.frequency
        return install(new, replacing: old, expireAt: expireAt, now: now)
    }

    /// A collection entry's value was changed in place: counts its new size, records the change
    /// for L3 and WATCH, and deletes the key if the collection is now empty (as Redis deletes an
    /// emptied hash, list, set or sorted set). Call it once per command, after the change.
    public func collectionChanged(_ entry: Entry) {
        guard let collection = entry.collection else { return }
        if collection.count == 0 {
            // The command's own event (`lpop`, `srem`…), then `del`, as Redis sends them.
            report(.written, entry)
            remove(entry)
            return
        }
        let delta = collection.cost - collection.accountedCost
        if delta != 0 {
            // The tier list counted the old size; it must subtract the same on removal.
            switch entry.header.tier {
            case .l1: l1.adjustBytes(by: delta)
            case .l2: l2.adjustBytes(by: delta)
            case .l3: break
            }
            collection.accountedCost = collection.cost
            reportMemory()
        }
        entry.withKey { touchWatchers(database: Int(entry.header.database), key: $0) }
        // The committed row no longer holds this version: not evictable until recommitted.
        entry.header.l3Row = 0
        journalWrite(entry, replacing: nil)
        report(.written, entry)
    }

    /// Replaces an existing entry's value, keeping its TTL unless `expireAt` is given.
    @discardableResult
    public func replaceValue(_ old: Entry, with value: UnsafeRawBufferPointer, expireAt: Int64? = nil, now: Int64) -> Entry {
        // The key's last access, not this write's: `touch` below decides by it whether the new
        // version moves to L1's front (it takes `old`'s place in the list).
        let new = old.withValue(value, lastAccess: old.header.lastAccess)
        return install(new, replacing: old, expireAt: expireAt, now: now)
    }

    /// Puts `new` in `old`'s place: table, tier list, volatile index, journal.
    private func install(_ new: Entry, replacing old: Entry, expireAt: Int64?, now: Int64) -> Entry {
        let database = Int(old.header.database)
        tables[database].replace(old, with: new)
        switch old.header.tier {
        case .l1: l1.replace(old, with: new)
        case .l2: l2.replace(old, with: new)
        case .l3:
            forgetStub(old)
            new.header.tier = .l2
            l2.pushFront(new)
        }
        if old.header.volatileIndex >= 0 {
            let slot = Int(old.header.volatileIndex)
            volatile[slot] = new
            new.header.volatileIndex = old.header.volatileIndex
            old.header.volatileIndex = -1
        }
        if let expireAt { setExpire(new, at: expireAt, notify: false) }
        touch(new, now: now)
        new.withKey { touchWatchers(database: database, key: $0) }
        reportMemory()
        journalWrite(new, replacing: old)
        report(.written, new)
        if let expireAt, expireAt != 0 { report(.expireSet, new) }
        return new
    }

    /// Sets or clears (0) an entry's absolute expiry.
    public func setExpire(_ entry: Entry, at expireAt: Int64) {
        setExpire(entry, at: expireAt, notify: true)
        report(expireAt == 0 ? .persisted : .expireSet, entry)
    }

    func setExpire(_ entry: Entry, at expireAt: Int64, notify: Bool) {
        entry.header.expireAt = expireAt
        if expireAt == 0 {
            removeVolatile(entry)
        } else if entry.header.volatileIndex < 0 {
            addVolatile(entry)
        }
        reportMemory() // the volatile index may have grown or shrunk
        entry.withKey { touchWatchers(database: Int(entry.header.database), key: $0) }
        guard notify, keyspace.hasColdTier else { return }
        if entry.isWarm {
            // The committed row no longer holds this version: not evictable until recommitted.
            entry.header.l3Row = 0
            journalWrite(entry, replacing: nil)
        } else {
            journalExpire(entry)
        }
    }

    /// Deletes an entry (for keyspace notifications, as `event`: a command's deletion, an
    /// expiry or an eviction).
    public func remove(_ entry: Entry, as event: KeyEvent = .deleted) {
        unlink(entry)
        entry.withKey { touchWatchers(database: Int(entry.header.database), key: $0) }
        reportMemory()
        journalDelete(entry)
        report(event, entry)
    }

    /// Tells the keyspace's notifier (see ``KeyEvent``); nothing while notifications are off.
    @inline(__always)
    func report(_ event: KeyEvent, _ entry: Entry) {
        guard keyspace.keyEvents.isEnabled else { return }
        entry.withKey { keyspace.keyEvents.report(event, database: Int(entry.header.database), key: $0) }
    }

    @inline(__always)
    func report(_ event: KeyEvent, database: Int, key: UnsafeRawBufferPointer) {
        keyspace.keyEvents.report(event, database: database, key: key)
    }

    private func unlink(_ entry: Entry) {
        changeTable(Int(entry.header.database)) { $0.remove(entry) }
        switch entry.header.tier {
        case .l1: l1.remove(entry)
        case .l2: l2.remove(entry)
        case .l3: forgetStub(entry)
        }
        removeVolatile(entry)
    }

    // MARK: - L3 stubs

    /// Bytes and count of cold stubs (the in-memory index of keys whose values are only in L3).
    private(set) var stubBytes = 0
    private(set) var stubCount = 0

    private func forgetStub(_ stub: Entry) {
        stubBytes -= stub.cost
        stubCount -= 1
        keyspace.adjustColdEntries(by: -1)
    }

    private func rememberStub(_ stub: Entry) {
        stubBytes += stub.cost
        stubCount += 1
        keyspace.adjustColdEntries(by: 1)
    }

    /// Replaces a committed warm entry by a cold stub (its value stays in L3 only).
    private func makeCold(_ entry: Entry) {
        let stub = entry.withKey {
            Entry.makeStub(key: $0, hash: UInt64(entry.header.hashBits), database: Int(entry.header.database),
                           expireAt: entry.header.expireAt, row: entry.header.l3Row, now: entry.header.lastAccess,
                           kind: entry.kind)
        }
        tables[Int(entry.header.database)].replace(entry, with: stub)
        if entry.header.tier == .l1 { l1.remove(entry) } else { l2.remove(entry) }
        if entry.header.volatileIndex >= 0 {
            volatile[Int(entry.header.volatileIndex)] = stub
            stub.header.volatileIndex = entry.header.volatileIndex
            entry.header.volatileIndex = -1
        }
        rememberStub(stub)
    }

    /// Loads a stub's string value (read from L3) into L2. Returns false if the key changed meanwhile.
    @discardableResult
    public func warm(_ stub: Entry, value: UnsafeRawBufferPointer, now: Int64) -> Bool {
        warm(stub, string: value, collection: nil, now: now)
    }

    /// Loads a stub's collection (read from L3 and decoded) into L2. Returns false if the key
    /// changed meanwhile.
    @discardableResult
    public func warm(_ stub: Entry, collection: CollectionValue, now: Int64) -> Bool {
        warm(stub, string: UnsafeRawBufferPointer(start: nil, count: 0), collection: collection, now: now)
    }

    private func warm(_ stub: Entry, string value: UnsafeRawBufferPointer, collection: CollectionValue?, now: Int64) -> Bool {
        guard !stub.isWarm, stub.withKey({ tables[Int(stub.header.database)].find($0, hash: keyspace.hasher.hash($0)) }) === stub else {
            return false
        }
        let entry: Entry
        if let collection {
            collection.accountedCost = collection.cost
            entry = stub.withKey {
                Entry.make(key: $0, hash: UInt64(stub.header.hashBits), collection: collection, database: Int(stub.header.database),
                           expireAt: stub.header.expireAt, now: keyspace.clockSeconds(now))
            }
            entry.header.frequency = stub.header.frequency
        } else {
            entry = stub.withValue(value, lastAccess: keyspace.clockSeconds(now))
        }
        entry.header.tier = .l2
        entry.header.l3Row = stub.header.l3Row
        tables[Int(stub.header.database)].replace(stub, with: entry)
        journalMove(from: stub, to: entry)
        forgetStub(stub)
        statistics.l3Hits += 1
        l2.pushFront(entry)
        if stub.header.volatileIndex >= 0 {
            volatile[Int(stub.header.volatileIndex)] = entry
            entry.header.volatileIndex = stub.header.volatileIndex
            stub.header.volatileIndex = -1
        }
        reportMemory()
        return true
    }

    /// The key's entry if it is still a cold stub whose value is at `row` (nil: the key was
    /// replaced, warmed, deleted or written again meanwhile).
    public func coldStub(database: Int, key: UnsafeRawBufferPointer, hash: UInt64, row: Int64) -> Entry? {
        guard let entry = tables[database].find(key, hash: hash), !entry.isWarm, entry.header.l3Row == row else { return nil }
        return entry
    }


    /// Adds (or replaces) a stub while loading L3 at start-up; no observer call.
    public func loadStub(database: Int, key: UnsafeRawBufferPointer, hash: UInt64, expireAt: Int64, row: Int64, now: Int64,
                         kind: ValueKind = .string) {
        if let existing = tables[database].find(key, hash: hash) { unlink(existing) }
        let stub = Entry.makeStub(key: key, hash: hash, database: database, expireAt: expireAt, row: row,
                                  now: keyspace.clockSeconds(now), kind: kind)
        changeTable(database) { $0.insert(stub) }
        if expireAt != 0 { addVolatile(stub) }
        rememberStub(stub)
        reportMemory()
    }

    /// Removes a key while loading L3 (a tombstone row); no observer call.
    public func loadTombstone(database: Int, key: UnsafeRawBufferPointer, hash: UInt64) {
        if let existing = tables[database].find(key, hash: hash) {
            unlink(existing)
            reportMemory()
        }
    }

    func expire(_ entry: Entry) {
        statistics.expiredKeys += 1
        remove(entry, as: .expired)
    }

    /// Removes every key of one database (or all of them), marking watchers of existing keys.
    func flush(database: Int?) {
        let targets = database.map { [$0] } ?? Array(tables.indices)
        if !watchers.isEmpty {
            for (watched, tokens) in watchers where targets.contains(watched.database) {
                let exists = watched.key.withUnsafeBytes {
                    tables[watched.database].find($0, hash: keyspace.hasher.hash($0)) != nil
                }
                if exists { tokens.forEach { $0.markDirty() } }
            }
        }
        if database == nil || tables.count == 1 {
            for i in tables.indices { changeTable(i) { $0.removeAll() } }
            l1.removeAll()
            l2.removeAll()
            volatile.removeAll()
            keyspace.adjustColdEntries(by: -stubCount)
            stubBytes = 0
            stubCount = 0
        } else {
            for target in targets {
                var doomed: [Entry] = []
                doomed.reserveCapacity(tables[target].count)
                tables[target].forEach { doomed.append($0) }
                for entry in doomed {
                    switch entry.header.tier {
                    case .l1: l1.remove(entry)
                    case .l2: l2.remove(entry)
                    case .l3: forgetStub(entry)
                    }
                    removeVolatile(entry)
                }
                changeTable(target) { $0.removeAll() }
            }
        }
        reportMemory()
    }

    private func addVolatile(_ entry: Entry) {
        entry.header.volatileIndex = Int32(volatile.count)
        volatile.append(entry)
    }

    private func removeVolatile(_ entry: Entry) {
        let slot = Int(entry.header.volatileIndex)
        guard slot >= 0 else { return }
        let last = volatile.removeLast()
        if slot < volatile.count {
            volatile[slot] = last
            last.header.volatileIndex = Int32(slot)
        }
        entry.header.volatileIndex = -1
    }

    // MARK: - Memory

    /// Bytes this shard holds: entries plus bucket arrays plus the volatile index.
    var usedBytes: Int {
        l1.bytes + l2.bytes + volatile.capacity * 8 + bucketBytes
    }

    /// Changes one database's table, keeping `bucketBytes` in step with its resizes.
    @inline(__always)
    private func changeTable(_ database: Int, _ body: (inout HashTable) -> Void) {
        let before = tables[database].memoryCost
        body(&tables[database])
        bucketBytes += tables[database].memoryCost - before
    }

    /// Pushes this shard's change in size to the keyspace's global counter.
    func reportMemory() {
        let now = usedBytes
        if now != reportedBytes {
            keyspace.adjustUsedMemory(by: now - reportedBytes)
            reportedBytes = now
        }
    }

    // MARK: - Eviction and expiry

    /// Evicts one key chosen by `policy`; returns the bytes freed, or nil if nothing qualifies.
    func evictOne(policy: EvictionPolicy, now: Int64) -> Entry? {
        let victim: Entry?
        switch policy {
        case .noeviction:
            victim = nil
        case .allkeysLRU:
            victim = l2.tail ?? l1.tail
        case .allkeysRandom:
            victim = randomEntry()
        case .volatileRandom:
            victim = volatile.isEmpty ? nil : volatile[Int(generator.next() % UInt64(volatile.count))]
        case .volatileLRU, .volatileTTL:
            guard !volatile.isEmpty else { return nil }
            var best: Entry?
            for _ in 0..<min(5, volatile.count) {
                let candidate = volatile[Int(generator.next() % UInt64(volatile.count))]
                guard let current = best else { best = candidate; continue }
                if policy == .volatileTTL {
                    if candidate.header.expireAt < current.header.expireAt { best = candidate }
                } else if (candidate.header.tier.rawValue, UInt32.max - candidate.header.lastAccess)
                            > (current.header.tier.rawValue, UInt32.max - current.header.lastAccess) {
                    // Prefer warm (L2) entries, then the least recently used.
                    best = candidate
                }
            }
            victim = best
        }
        guard var victim else { return nil }
        if keyspace.hasColdTier {
            // With L3 the value leaves memory only: the key stays as a stub. A version not yet
            // committed cannot be dropped, so look up the LRU order for a committed one.
            if !keyspace.isCommitted(victim) {
                guard let clean = committedVictim(policy: policy) else { return nil }
                victim = clean
            }
            if victim.header.tier == .l1 { statistics.l1.evictions += 1 } else { statistics.l2.evictions += 1 }
            statistics.demotedToL3 += 1
            makeCold(victim)
            reportMemory()
            report(.evictedToL3, victim)
            return victim
        }
        if victim.header.tier == .l1 { statistics.l1.evictions += 1 } else { statistics.l2.evictions += 1 }
        statistics.evictedKeys += 1
        remove(victim, as: .evicted)
        return victim
    }

    /// The least recently used warm entry already committed to L3, looking at most 16 entries up
    /// from each tier's tail.
    private func committedVictim(policy: EvictionPolicy) -> Entry? {
        let anyKey = policy == .allkeysLRU || policy == .allkeysRandom
        if let found = committedEntry(from: l2.tail, anyKey: anyKey) { return found }
        return committedEntry(from: l1.tail, anyKey: anyKey)
    }

    private func committedEntry(from tail: Entry?, anyKey: Bool) -> Entry? {
        var candidate = tail
        var steps = 0
        while steps < 16, let entry = candidate {
            if keyspace.isCommitted(entry) && (anyKey || entry.header.volatileIndex >= 0) { return entry }
            candidate = entry.header.lruPrev
            steps += 1
        }
        return nil
    }

    /// A uniformly random entry of any database in this shard.
    func randomEntry(database: Int? = nil) -> Entry? {
        if let database { return tables[database].randomEntry(using: &generator) }
        let total = tables.reduce(0) { $0 + $1.count }
        guard total > 0 else { return nil }
        var pick = Int(generator.next() % UInt64(total))
        for table in tables {
            if pick < table.count { return table.randomEntry(using: &generator) }
            pick -= table.count
        }
        return nil
    }

    /// Samples up to `samples` keys with a TTL and deletes the expired ones; returns (sampled, expired).
    func expireSample(now: Int64, samples: Int) -> (Int, Int) {
        var sampled = 0, expired = 0
        while sampled < samples && !volatile.isEmpty {
            let entry = volatile[Int(generator.next() % UInt64(volatile.count))]
            sampled += 1
            if now > entry.header.expireAt {
                expire(entry)
                expired += 1
            }
        }
        return (sampled, expired)
    }

    // MARK: - WATCH

    func watch(database: Int, key: [UInt8], token: WatchToken) {
        watchers[WatchKey(database: database, key: key), default: []].append(token)
    }

    func unwatch(database: Int, key: [UInt8], token: WatchToken) {
        let watchKey = WatchKey(database: database, key: key)
        guard var tokens = watchers[watchKey] else { return }
        tokens.removeAll { $0 === token }
        watchers[watchKey] = tokens.isEmpty ? nil : tokens
    }

    @inline(__always)
    /// A key was written or deleted: WATCHes on it fail, and clients blocked on it may be served.
    func touchWatchers(database: Int, key: UnsafeRawBufferPointer) {
        keyspace.blocked.touched(database: database, key: key)
        guard !watchers.isEmpty else { return }
        if let tokens = watchers[WatchKey(database: database, key: Array(key))] {
            tokens.forEach { $0.markDirty() }
        }
    }

    /// A fresh statistics snapshot including current sizes.
    func snapshot() -> ShardStatistics {
        var s = statistics
        s.l1.keys = l1.count
        s.l1.bytes = l1.bytes
        s.l2.keys = l2.count
        s.l2.bytes = l2.bytes
        s.volatileKeys = volatile.count
        s.bytes = usedBytes
        s.l3IndexKeys = stubCount
        s.l3IndexBytes = stubBytes
        return s
    }

    func resetStatistics() {
        statistics = ShardStatistics()
    }

    /// Resets counters; the caller holds the lock (CONFIG RESETSTAT inside EXEC).
    public func resetStatisticsLocked() { resetStatistics() }

    /// Keys in one database of this shard; the caller holds the lock.
    public func keyCount(database: Int) -> Int { tables[database].count }

    /// Keys in every database of this shard.
    public var totalKeyCount: Int { tables.reduce(0) { $0 + $1.count } }

    /// What the keyspace says about a key's L3 rows, for compaction (see ``CommittedRow``).
    public func committedRow(database: Int, key: UnsafeRawBufferPointer, hash: UInt64) -> CommittedRow {
        guard database < tables.count, let entry = tables[database].find(key, hash: hash) else { return .absent }
        return keyspace.isCommittedRow(entry.header.l3Row) ? .row(entry.header.l3Row) : .pending
    }
}

/// A key's state as L3 compaction sees it.
public enum CommittedRow: Equatable, Sendable {
    /// No such key (deleted, expired, flushed): none of its rows is needed.
    case absent
    /// Its current version is not committed yet: its older rows may still be the durable copy.
    case pending
    /// Its current version is committed at this row.
    case row(Int64)
}

/// A small, fast pseudo-random generator for sampling (not for anything secret).
struct SplitMix64: RandomNumberGenerator {
    private var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
