import NIOConcurrencyHelpers
import Synchronization

/// What to do when memory is over `maxmemory` (Redis's `maxmemory-policy`).
public enum EvictionPolicy: String, Sendable, CaseIterable {
    case noeviction = "noeviction"
    case allkeysLRU = "allkeys-lru"
    case volatileLRU = "volatile-lru"
    case allkeysRandom = "allkeys-random"
    case volatileRandom = "volatile-random"
    case volatileTTL = "volatile-ttl"
}

/// The whole in-memory keyspace: every database, split into independently locked shards.
///
/// A key's shard depends only on its hash, not on its database, so one lock covers a key in every
/// database and a command touching several keys locks their shards in index order (never two
/// orders, so never a deadlock). Statistics and memory use are per shard and summed on demand;
/// only the total of used bytes is a shared atomic, because eviction needs it on every write.
///
/// `@unchecked Sendable`: the shards guard themselves; the remaining mutable state (budgets, policy)
/// is in atomics.
public final class Keyspace: @unchecked Sendable {
    /// Set once in `init` and never changed: reading it needs no lock.
    public private(set) var shards: [Shard] = []
    public let databases: Int
    public let hasher: KeyHasher
    private let shardShift: UInt64
    private let startMilliseconds: Int64
    /// Written by every write on every event loop: kept off the lines of the fields around it,
    /// which every command reads (see ``CacheLinePadding``).
    private let paddingBeforeUsed = cacheLinePadding
    private let used = Atomic<Int>(0)
    private let clients = Atomic<Int>(0)
    private let paddingAfterUsed = cacheLinePadding
    private let maxMemoryBytes = Atomic<Int>(0)
    private let policyIndex = Atomic<Int>(1)
    private let l1SharePercent = Atomic<Int>(20)
    /// L1's byte budget in each shard; 0 means no limit.
    private let l1BudgetPerShard = Atomic<Int>(0)
    private let evictionCursor = Atomic<Int>(0)
    private let expiryCursor = Atomic<Int>(0)
    private let coldEntries = Atomic<Int>(0)

    /// Whether a cold tier (L3) holds every committed value: eviction then drops only values,
    /// keeping keys as stubs. Set once, before the server accepts connections.
    public var hasColdTier = false
    /// Whether changes are journaled (see Journal.swift). Changed only under every shard lock,
    /// so a reader holding any shard lock sees a stable value.
    var journalOpen = false
    /// Woken when the journal reaches its threshold. Set with `journalOpen`.
    var journalConsumer: (any JournalConsumer)?
    let journalCounters = JournalCounters()
    /// Clients blocked on keys (BLPOP…), woken by writes to them.
    public let blocked = BlockedKeys()
    /// Keyspace notifications' source (see ``KeyEvent``).
    public let keyEvents = KeyEventHook()

    /// - Parameters:
    ///   - databases: number of databases (SELECT 0 … databases-1).
    ///   - shardCount: a power of two; more shards, less lock contention.
    ///   - hasher: the key hash function; random-seeded by default.
    ///   - now: the current Unix time in milliseconds (the origin of idle-time clocks).
    public init(databases: Int = 16, shardCount: Int = 256, hasher: KeyHasher = .random(), now: Int64) {
        precondition(shardCount > 0 && shardCount & (shardCount - 1) == 0, "shardCount must be a power of two")
        precondition(databases > 0 && databases <= 256, "databases must be 1…256")
        self.databases = databases
        self.hasher = hasher
        self.shardShift = UInt64(64 - shardCount.trailingZeroBitCount)
        self.startMilliseconds = now
        let seed = hasher.seed
        self.shards = (0..<shardCount).map { Shard(index: $0, databases: databases, keyspace: self, seed: seed) }
    }

    // MARK: - Shard routing

    @inline(__always)
    public func shardIndex(for hash: UInt64) -> Int {
        shardShift == 64 ? 0 : Int(truncatingIfNeeded: hash >> shardShift)
    }

    @inline(__always)
    public func shard(for hash: UInt64) -> Shard {
        shards[shardIndex(for: hash)]
    }


    /// The indices of the shards owning `keyHashes`, ascending and distinct: the order in which
    /// a command touching those keys locks their shards (``lock(_:)``).
    public func lockOrder(for keyHashes: [UInt64]) -> [Int] {
        var indices = keyHashes.map { shardIndex(for: $0) }
        indices.sort()
        // Drop repeats in place (one array for the whole call).
        var distinct = 0
        for i in indices.indices where distinct == 0 || indices[i] != indices[distinct - 1] {
            indices[distinct] = indices[i]
            distinct += 1
        }
        indices.removeSubrange(distinct...)
        return indices
    }

    /// Locks the shards at `indices` (ascending and distinct, see ``lockOrder(for:)``), or every
    /// shard when nil.
    public func lock(_ indices: [Int]?) {
        guard let indices else { return lockAll() }
        for index in indices { shards[index].lock.lock() }
    }

    /// Unlocks what ``lock(_:)`` with the same `indices` locked.
    public func unlock(_ indices: [Int]?) {
        guard let indices else { return unlockAll() }
        for index in indices.reversed() { shards[index].lock.unlock() }
    }

    /// Locks every shard (in index order), for EXEC and whole-keyspace commands.
    public func lockAll() {
        for shard in shards { shard.lock.lock() }
    }

    public func unlockAll() {
        for shard in shards.reversed() { shard.lock.unlock() }
    }

    // MARK: - Clock

    @inline(__always)
    func clockSeconds(_ now: Int64) -> UInt32 {
        UInt32(truncatingIfNeeded: max(0, (now - startMilliseconds) / 1000))
    }

    /// Seconds since `entry` was last accessed.
    public func idleSeconds(_ entry: Entry, now: Int64) -> Int {
        max(0, Int(clockSeconds(now)) - Int(entry.header.lastAccess))
    }

    /// Makes `entry` look last accessed `seconds` ago (RESTORE … IDLETIME); the caller holds its lock.
    public func setIdleSeconds(_ entry: Entry, _ seconds: Int, now: Int64) {
        let current = Int(clockSeconds(now))
        entry.header.lastAccess = UInt32(max(0, current - seconds))
    }

    // MARK: - Memory budget

    /// What counts against `maxmemory`: the data (``datasetMemory``) and the memory of client
    /// connections (``clientMemory``), as Redis's `used_memory` does.
    public var usedMemory: Int { used.load(ordering: .relaxed) + clients.load(ordering: .relaxed) }
    /// Keys, values and their index entries in L1 and L2.
    public var datasetMemory: Int { used.load(ordering: .relaxed) }
    /// The client connections' buffers, as last measured (the server's cron sets it).
    public var clientMemory: Int { clients.load(ordering: .relaxed) }

    /// Records the client connections' memory, measured outside the store.
    public func setClientMemory(_ bytes: Int) {
        clients.store(bytes, ordering: .relaxed)
    }
    public var maxMemory: Int { maxMemoryBytes.load(ordering: .relaxed) }
    public var policy: EvictionPolicy { EvictionPolicy.allCases[policyIndex.load(ordering: .relaxed)] }
    public var l1Share: Int { l1SharePercent.load(ordering: .relaxed) }
    var l1Budget: Int { l1BudgetPerShard.load(ordering: .relaxed) }

    /// Whether any key's value lives only in L3 (commands then check for cold keys).
    @inline(__always)
    public var hasColdEntries: Bool { coldEntries.load(ordering: .relaxed) > 0 }

    func adjustColdEntries(by delta: Int) {
        coldEntries.add(delta, ordering: .relaxed)
    }

    func adjustUsedMemory(by delta: Int) {
        used.add(delta, ordering: .relaxed)
    }

    /// Changes the budgets and policy; call ``evictIfNeeded(now:)`` afterwards to shrink at once.
    public func configureMemory(maxMemory: Int, policy: EvictionPolicy, l1Share: Int) {
        maxMemoryBytes.store(maxMemory, ordering: .relaxed)
        policyIndex.store(EvictionPolicy.allCases.firstIndex(of: policy)!, ordering: .relaxed)
        l1SharePercent.store(l1Share, ordering: .relaxed)
        let perShardL1 = maxMemory == 0 ? 0 : max(1, maxMemory / 100 * l1Share / shards.count)
        l1BudgetPerShard.store(perShardL1, ordering: .relaxed)
    }

    /// Whether memory is over budget (writes that add data are refused under `noeviction`).
    @inline(__always)
    public var isOverBudget: Bool {
        let limit = maxMemory
        return limit > 0 && usedMemory > limit
    }

    /// Evicts keys until memory is within budget. Must be called with no shard lock held.
    /// - Returns: false if memory is still over budget (the policy found nothing it may evict).
    @discardableResult
    public func evictIfNeeded(now: Int64) -> Bool {
        guard isOverBudget else { return true }
        let policy = self.policy
        guard policy != .noeviction else { return false }
        var fruitless = 0
        while isOverBudget {
            // Round-robin over shards: keys are spread evenly by hash, so each shard's LRU tail is
            // about as old as any other's, and no shard is drained while others stay full.
            let i = evictionCursor.wrappingAdd(1, ordering: .relaxed).oldValue & (shards.count - 1)
            let shard = shards[i]
            let evicted = shard.lock.withLock { shard.evictOne(policy: policy, now: now) != nil }
            if evicted {
                fruitless = 0
            } else {
                fruitless += 1
                if fruitless >= shards.count { return false }
            }
        }
        return true
    }

    // MARK: - Active expiry

    /// One active-expiry cycle, as Redis's: sample keys with a TTL shard by shard, delete the
    /// expired ones, and keep going on a shard while more than a quarter of its sample was expired,
    /// until the time budget is spent.
    /// - Returns: the number of keys expired.
    @discardableResult
    public func activeExpireCycle(now: Int64, deadline: () -> Bool) -> Int {
        var expired = 0
        for _ in 0..<shards.count {
            let i = expiryCursor.wrappingAdd(1, ordering: .relaxed).oldValue & (shards.count - 1)
            let shard = shards[i]
            while true {
                let (sampled, gone) = shard.lock.withLock { shard.expireSample(now: now, samples: 20) }
                expired += gone
                if sampled == 0 || gone * 4 <= sampled || deadline() { break }
            }
            if deadline() { break }
        }
        return expired
    }

    /// Bytes one entry costs, including its share of the bucket array (MEMORY USAGE).
    public static func memoryCost(of entry: Entry) -> Int {
        entry.cost + MemoryLayout<Entry?>.stride
    }

    // MARK: - Whole-keyspace operations
    //
    // Each takes `locked`: true when the caller already holds every shard lock (inside EXEC).

    @inline(__always)
    private func access<R>(_ shard: Shard, locked: Bool, _ body: () -> R) -> R {
        locked ? body() : shard.lock.withLock(body)
    }

    /// Keys in all databases, stubs included.
    public func totalKeyCount() -> Int {
        shards.reduce(0) { total, shard in total + shard.lock.withLock { shard.totalKeyCount } }
    }

    public func keyCount(database: Int, locked: Bool = false) -> Int {
        var total = 0
        for shard in shards { total += access(shard, locked: locked) { shard.keyCount(database: database) } }
        return total
    }

    /// Removes every key of `database`, or of every database when nil.
    /// The caller either holds all locks (`locked`) or none.
    public func flush(database: Int?, locked: Bool = false) {
        // All shards at once, each journaling the flush before emptying: no write can fall
        // between the flush recorded for L3 and the flush of memory.
        if !locked { lockAll() }
        for shard in shards {
            shard.journalFlush(database)
            shard.flush(database: database)
        }
        if !locked { unlockAll() }
    }

    /// Per-database key counts and volatile counts, for INFO keyspace.
    public func databaseSizes(locked: Bool = false) -> [(keys: Int, volatile: Int)] {
        var sizes = Array(repeating: (keys: 0, volatile: 0), count: databases)
        for shard in shards {
            access(shard, locked: locked) {
                for db in 0..<databases { sizes[db].keys += shard.tables[db].count }
                for entry in shard.volatile { sizes[Int(entry.header.database)].volatile += 1 }
            }
        }
        return sizes
    }

    /// Summed statistics of every shard.
    public func statistics(locked: Bool = false) -> ShardStatistics {
        var total = ShardStatistics()
        for shard in shards { total = total + access(shard, locked: locked) { shard.snapshot() } }
        return total
    }

    public func resetStatistics() {
        for shard in shards { shard.lock.withLock { shard.resetStatistics() } }
    }

    /// A random live key of `database`, or nil if it has none.
    public func randomKey(database: Int, now: Int64, locked: Bool = false) -> [UInt8]? {
        for _ in 0..<100 {
            let total = keyCount(database: database, locked: locked)
            guard total > 0 else { return nil }
            var pick = Int.random(in: 0..<total)
            for shard in shards {
                let result: [UInt8]?? = access(shard, locked: locked) {
                    let count = shard.tables[database].count
                    if pick >= count { pick -= count; return .none }
                    guard let entry = shard.randomEntry(database: database) else { return .some(nil) }
                    if entry.header.expireAt != 0 && now > entry.header.expireAt {
                        shard.expire(entry)
                        return .some(nil)
                    }
                    return .some(entry.key)
                }
                if let result {
                    if let key = result { return key }
                    break
                }
            }
        }
        return nil
    }

    /// One SCAN step over `database`. The cursor names a shard (low bits) and a bucket cursor in it.
    /// `visit` sees each live entry of at least the buckets visited; returns the next cursor.
    public func scan(database: Int, cursor: UInt64, count: Int, now: Int64, locked: Bool = false,
                     visit: (Entry) -> Void) -> UInt64 {
        let shardBits = UInt64(shards.count.trailingZeroBitCount)
        var shardIndex = Int(cursor & UInt64(shards.count - 1))
        var bucketCursor = cursor >> shardBits
        var visited = 0
        var steps = 0
        while shardIndex < shards.count {
            let shard = shards[shardIndex]
            var expiredEntries: [Entry] = []
            access(shard, locked: locked) {
                repeat {
                    bucketCursor = shard.tables[database].scan(cursor: bucketCursor) { entry in
                        if entry.header.expireAt != 0 && now > entry.header.expireAt {
                            expiredEntries.append(entry)
                        } else {
                            visit(entry)
                            visited += 1
                        }
                    }
                    steps += 1
                } while bucketCursor != 0 && visited < count && steps < count * 10
                for entry in expiredEntries { shard.expire(entry) }
            }
            if bucketCursor == 0 { shardIndex += 1 }
            if visited >= count || steps >= count * 10 { break }
        }
        if shardIndex >= shards.count { return 0 }
        return (bucketCursor << shardBits) | UInt64(shardIndex)
    }

    /// Every live key of `database` matching `pattern` (all of them when nil).
    public func keys(database: Int, matching pattern: [UInt8]?, now: Int64, locked: Bool = false) -> [[UInt8]] {
        var result: [[UInt8]] = []
        for shard in shards {
            access(shard, locked: locked) {
                shard.tables[database].forEach { entry in
                    if entry.header.expireAt != 0 && now > entry.header.expireAt { return }
                    entry.withKey { key in
                        if let pattern, !GlobPattern.matches(pattern: pattern, key) { return }
                        result.append(Array(key))
                    }
                }
            }
        }
        return result
    }

    // MARK: - WATCH

    public func watch(database: Int, key: [UInt8], token: WatchToken) {
        let shard = shard(for: hasher.hash(key))
        shard.lock.withLock { shard.watch(database: database, key: key, token: token) }
    }

    public func unwatch(database: Int, key: [UInt8], token: WatchToken) {
        let shard = shard(for: hasher.hash(key))
        shard.lock.withLock { shard.unwatch(database: database, key: key, token: token) }
    }
}

/// 64 bytes that keep a field written on every write off the cache line of fields that every
/// command only reads (see ``Keyspace`` and ``JournalCounters``). Stored properties of a final
/// class are laid out in declaration order, so padding before and after such a field leaves it
/// alone on its line; otherwise each change would take that line away from the other cores'
/// caches, and their next read of a neighbouring field would miss (false sharing).
typealias CacheLinePadding = (UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64)
let cacheLinePadding: CacheLinePadding = (0, 0, 0, 0, 0, 0, 0, 0)
