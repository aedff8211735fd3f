import Testing
@testable import StrataStore

@Suite("L1/L2 tiers and eviction")
struct TierTests {
    @Test("new keys go to L2; a read hit promotes to L1; L1 over budget demotes its LRU tail")
    func scriptedSequence() {
        let keyspace = makeKeyspace(databases: 1, shards: 1)
        let cost = Entry.cost(keyLength: 1, valueLength: 10)
        // L1 budget = maxMemory / 100 * share / shards: room for exactly two entries.
        let maxMemory = (2 * cost + cost / 2) * 5
        keyspace.configureMemory(maxMemory: maxMemory, policy: .allkeysLRU, l1Share: 20)
        #expect(keyspace.l1Budget >= 2 * cost && keyspace.l1Budget < 3 * cost)

        for key in ["a", "b", "c", "d"] { #expect(keyspace.set(key, "0123456789") == .l2) }
        var stats = keyspace.statistics()
        #expect(stats.l2.keys == 4 && stats.l1.keys == 0 && stats.l2.bytes == 4 * cost)

        // One access per second: an L1 hit reorders L1 at most once a second (the next test).
        _ = keyspace.get("a", now: t0 + 1000)    // promote a:         L1 [a]
        _ = keyspace.get("b", now: t0 + 2000)    // promote b:         L1 [b a]
        _ = keyspace.get("c", now: t0 + 3000)    // promote c, demote a: L1 [c b]
        #expect(keyspace.tier("a") == .l2)
        _ = keyspace.get("b", now: t0 + 4000)    // L1 hit:            L1 [b c]
        _ = keyspace.get("a", now: t0 + 5000)    // promote a, demote c: L1 [a b]
        _ = keyspace.get("x", now: t0 + 6000)    // miss
        _ = keyspace.get("d", now: t0 + 7000, access: .peek) // a peek changes nothing

        stats = keyspace.statistics()
        #expect(stats.l1.promotions == 4)
        #expect(stats.l1.demotions == 2)
        #expect(stats.l1.hits == 1)
        #expect(stats.l2.hits == 4)
        #expect(stats.l1.misses == 5)
        #expect(stats.l2.misses == 1)
        #expect(stats.keyspaceHits == 5 && stats.keyspaceMisses == 1)
        #expect(stats.l1.keys == 2 && stats.l2.keys == 2)
        #expect(stats.l1.bytes == 2 * cost && stats.l2.bytes == 2 * cost)
        #expect(keyspace.tier("a") == .l1 && keyspace.tier("b") == .l1)
        #expect(keyspace.tier("c") == .l2 && keyspace.tier("d") == .l2)
    }

    /// One shard whose L1 holds exactly two 10-byte values: a, b and c are set, then a and b read
    /// at `t0` (L1 [b a]; c stays in L2).
    static func twoKeysInL1() -> Keyspace {
        let keyspace = makeKeyspace(databases: 1, shards: 1)
        let cost = Entry.cost(keyLength: 1, valueLength: 10)
        keyspace.configureMemory(maxMemory: (2 * cost + cost / 2) * 5, policy: .allkeysLRU, l1Share: 20)
        for key in ["a", "b", "c"] { keyspace.set(key, "0123456789") }
        _ = keyspace.get("a", now: t0)
        _ = keyspace.get("b", now: t0)
        return keyspace
    }

    @Test("an L1 hit moves its key to L1's front at most once per second")
    func l1MovesOncePerSecond() {
        let keyspace = Self.twoKeysInL1()      // L1 [b a], c in L2
        // Same second as a's last access: a stays at the tail, and c's promotion demotes it.
        _ = keyspace.get("a", now: t0 + 999)
        _ = keyspace.get("c", now: t0 + 999)     // promote c, demote a: L1 [c b]
        #expect(keyspace.tier("a") == .l2 && keyspace.tier("b") == .l1 && keyspace.tier("c") == .l1)
        // A second later the hit moves b to the front, so c's demotion follows a's promotion.
        _ = keyspace.get("b", now: t0 + 1000)    // L1 hit, moved:       L1 [b c]
        _ = keyspace.get("a", now: t0 + 1000)    // promote a, demote c: L1 [a b]
        #expect(keyspace.tier("a") == .l1 && keyspace.tier("b") == .l1 && keyspace.tier("c") == .l2)
        let stats = keyspace.statistics()
        #expect(stats.l1.hits == 2 && stats.l1.promotions == 4 && stats.l1.demotions == 2)
    }

    @Test("a write to an L1 key last accessed in an earlier second moves its new version to the front")
    func overwriteRefreshesRecency() {
        let keyspace = Self.twoKeysInL1()      // L1 [b a], c in L2
        // A new value for a, a second later, without a lookup that would refresh it first.
        keyspace.withShard("a") { shard, key, hash in
            let old = shard.find(database: 0, key: key, hash: hash, now: t0 + 1000, access: .peek)!
            "9876543210".utf8.withContiguousStorageIfAvailable {
                _ = shard.replaceValue(old, with: UnsafeRawBufferPointer($0), now: t0 + 1000)
            }
        }                                        // a's new version:     L1 [a b]
        _ = keyspace.get("c", now: t0 + 1000)    // promote c, demote b: L1 [c a]
        #expect(keyspace.tier("a") == .l1 && keyspace.tier("b") == .l2 && keyspace.tier("c") == .l1)
        #expect(keyspace.get("a", now: t0 + 1000, access: .peek) == "9876543210")
    }

    @Test("without maxmemory L1 has no budget and nothing is demoted")
    func unlimited() {
        let keyspace = makeKeyspace(databases: 1, shards: 1)
        for i in 0..<100 { keyspace.set("k\(i)", "v") }
        for i in 0..<100 { _ = keyspace.get("k\(i)") }
        let stats = keyspace.statistics()
        #expect(stats.l1.keys == 100 && stats.l1.promotions == 100 && stats.l1.demotions == 0)
    }

    @Test("allkeys-lru evicts the coldest keys first: L2's tail, not promoted keys")
    func lruOrder() {
        let keyspace = makeKeyspace(databases: 1, shards: 1)
        for i in 100..<200 { keyspace.set("k\(i)", String(repeating: "x", count: 100)) }
        _ = keyspace.get("k100")
        _ = keyspace.get("k101")
        let used = keyspace.usedMemory
        keyspace.configureMemory(maxMemory: used - 10 * Entry.cost(keyLength: 4, valueLength: 100), policy: .allkeysLRU, l1Share: 20)
        #expect(keyspace.evictIfNeeded(now: t0))
        let left = keyspace.allKeys()
        #expect(left.count == 90)
        #expect(left.contains("k100") && left.contains("k101"))
        for i in 102..<112 { #expect(!left.contains("k\(i)")) }
        #expect(left.contains("k112") && left.contains("k199"))
        #expect(keyspace.statistics().evictedKeys == 10)
        #expect(keyspace.statistics().l2.evictions == 10)
    }

    @Test("eviction keeps used memory within maxmemory under every evicting policy",
          arguments: [EvictionPolicy.allkeysLRU, .allkeysRandom, .volatileLRU, .volatileRandom, .volatileTTL])
    func evictionWithinBudget(_ policy: EvictionPolicy) {
        let keyspace = makeKeyspace(databases: 2, shards: 4)
        for i in 0..<400 {
            keyspace.set("key\(i)", String(repeating: "v", count: 64), db: i % 2, expireAt: t0 + 1_000_000 + Int64(i))
        }
        let used = keyspace.usedMemory
        keyspace.configureMemory(maxMemory: used / 2, policy: policy, l1Share: 20)
        #expect(keyspace.isOverBudget)
        #expect(keyspace.evictIfNeeded(now: t0))
        #expect(keyspace.usedMemory <= used / 2)
        #expect(keyspace.usedMemory == keyspace.summedShardBytes)
        let evicted = keyspace.statistics().evictedKeys
        let remaining = keyspace.keyCount(database: 0) + keyspace.keyCount(database: 1)
        #expect(evicted > 100 && evicted < 400)
        #expect(evicted + remaining == 400)
        #expect(keyspace.statistics().l1.evictions + keyspace.statistics().l2.evictions == evicted)
        // Already within budget: nothing more goes.
        #expect(keyspace.evictIfNeeded(now: t0))
        #expect(keyspace.statistics().evictedKeys == evicted)
    }

    @Test("noeviction evicts nothing and reports failure")
    func noeviction() {
        let keyspace = makeKeyspace()
        for i in 0..<100 { keyspace.set("k\(i)", "value") }
        keyspace.configureMemory(maxMemory: keyspace.usedMemory / 2, policy: .noeviction, l1Share: 20)
        #expect(keyspace.isOverBudget)
        #expect(!keyspace.evictIfNeeded(now: t0))
        #expect(keyspace.keyCount(database: 0) == 100)
        #expect(keyspace.statistics().evictedKeys == 0)
    }

    @Test("volatile policies only evict keys with a TTL",
          arguments: [EvictionPolicy.volatileLRU, .volatileRandom, .volatileTTL])
    func volatileOnly(_ policy: EvictionPolicy) {
        let keyspace = makeKeyspace(shards: 4)
        for i in 0..<100 { keyspace.set("persistent\(i)", String(repeating: "p", count: 50)) }
        for i in 0..<100 { keyspace.set("volatile\(i)", String(repeating: "v", count: 50), expireAt: t0 + 100_000 + Int64(i)) }
        // Unreachable by evicting volatile keys alone.
        keyspace.configureMemory(maxMemory: keyspace.usedMemory / 4, policy: policy, l1Share: 20)
        #expect(!keyspace.evictIfNeeded(now: t0))
        let left = keyspace.allKeys()
        #expect(left.filter { $0.hasPrefix("persistent") }.count == 100)
        #expect(left.filter { $0.hasPrefix("volatile") }.isEmpty)
        #expect(keyspace.statistics().evictedKeys == 100)
    }

    @Test("volatile-ttl prefers the keys that expire soonest")
    func volatileTTLOrder() {
        let keyspace = makeKeyspace(shards: 1)
        for i in 0..<200 { keyspace.set("v\(1000 + i)", String(repeating: "v", count: 50), expireAt: t0 + 1000 * Int64(i + 1)) }
        keyspace.configureMemory(maxMemory: keyspace.usedMemory - 20 * Entry.cost(keyLength: 5, valueLength: 50),
                                 policy: .volatileTTL, l1Share: 20)
        #expect(keyspace.evictIfNeeded(now: t0))
        let left = keyspace.allKeys()
        let evicted = (0..<200).filter { !left.contains("v\(1000 + $0)") }
        #expect(evicted.count == 20)
        // Best of 5 samples: the victims lean heavily towards the short TTLs.
        #expect(evicted.reduce(0, +) / evicted.count < 70)
    }
}
