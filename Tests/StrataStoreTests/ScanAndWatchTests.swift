import Testing
@testable import StrataStore

@Suite("SCAN and WATCH")
struct ScanAndWatchTests {
    private func scanStep(_ keyspace: Keyspace, _ cursor: UInt64, count: Int, db: Int = 0, into seen: inout [String: Int]) -> UInt64 {
        var local: [String] = []
        let next = keyspace.scan(database: db, cursor: cursor, count: count, now: t0) { entry in
            local.append(String(decoding: entry.key, as: UTF8.self))
        }
        for key in local { seen[key, default: 0] += 1 }
        return next
    }

    @Test("a full scan of a quiet keyspace returns every key exactly once")
    func quietScan() {
        let keyspace = makeKeyspace(shards: 4)
        for i in 0..<1000 { keyspace.set("k\(i)", "v") }
        keyspace.set("other-db", "v", db: 1)
        var seen: [String: Int] = [:]
        var cursor: UInt64 = 0
        var steps = 0
        repeat {
            cursor = scanStep(keyspace, cursor, count: 7, into: &seen)
            steps += 1
        } while cursor != 0 && steps < 10_000
        #expect(cursor == 0)
        #expect(seen.count == 1000)
        #expect(seen.values.allSatisfy { $0 == 1 })
        #expect(seen["other-db"] == nil)
        #expect(steps > 1000 / 7 / 2)
    }

    @Test("every key present for the whole scan is returned while the table grows and shrinks",
          arguments: [1, 4])
    func scanUnderChange(shards: Int) {
        let keyspace = makeKeyspace(shards: shards)
        for i in 0..<2000 { keyspace.set("stable\(i)", "v") }
        for i in 0..<2000 { keyspace.set("doomed\(i)", "v") }
        var seen: [String: Int] = [:]
        var cursor: UInt64 = 0
        var step = 0
        repeat {
            cursor = scanStep(keyspace, cursor, count: 5, into: &seen)
            // Grow the table hard in the first half, then shrink it by deleting.
            if step < 400 {
                for j in 0..<20 { keyspace.set("added\(step)-\(j)", "v") }
            } else {
                for j in 0..<10 { keyspace.delete("doomed\((step - 400) * 10 + j)") }
                for j in 0..<20 { keyspace.delete("added\(step - 400)-\(j)") }
            }
            step += 1
        } while cursor != 0 && step < 100_000
        #expect(cursor == 0)
        let missing = (0..<2000).filter { seen["stable\($0)"] == nil }
        #expect(missing.isEmpty, "missed \(missing.count) stable keys")
    }

    @Test("scan skips and removes expired keys")
    func scanSkipsExpired() {
        let keyspace = makeKeyspace(shards: 2)
        for i in 0..<50 { keyspace.set("live\(i)", "v") }
        for i in 0..<50 { keyspace.set("dead\(i)", "v", expireAt: t0 - 1) }
        var seen: [String: Int] = [:]
        var cursor: UInt64 = 0
        repeat { cursor = scanStep(keyspace, cursor, count: 10, into: &seen) } while cursor != 0
        #expect(Set(seen.keys) == Set((0..<50).map { "live\($0)" }))
        #expect(keyspace.keyCount(database: 0) == 50)
    }

    @Test("a WATCH token gets dirty on write, delete and expiry of its key, and only of its key")
    func watchTokens() {
        let keyspace = makeKeyspace()
        keyspace.set("k", "v", expireAt: t0 + 100)
        keyspace.set("other", "v")
        func watching(_ key: String, db: Int = 0) -> WatchToken {
            let token = WatchToken()
            keyspace.watch(database: db, key: Array(key.utf8), token: token)
            return token
        }

        let untouched = watching("k")
        let otherDB = watching("k", db: 1)
        keyspace.set("other", "changed")
        keyspace.set("k", "v", db: 1 + 1)
        _ = keyspace.get("k")
        #expect(!untouched.isDirty)

        keyspace.set("k", "new", expireAt: t0 + 100)
        #expect(untouched.isDirty)
        #expect(!otherDB.isDirty)

        let onExpire = watching("k")
        keyspace.expire("k", at: t0 + 50)
        #expect(onExpire.isDirty)

        let onLazyExpiry = watching("k")
        #expect(keyspace.get("k", now: t0 + 51) == nil)
        #expect(onLazyExpiry.isDirty)

        let onInsert = watching("k")
        keyspace.set("k", "again")
        #expect(onInsert.isDirty)

        let onDelete = watching("k")
        keyspace.delete("k")
        #expect(onDelete.isDirty)

        let unwatched = watching("other")
        keyspace.unwatch(database: 0, key: Array("other".utf8), token: unwatched)
        keyspace.delete("other")
        #expect(!unwatched.isDirty)
    }

    @Test("flushing marks watchers of keys that existed, in that database only")
    func watchFlush() {
        let keyspace = makeKeyspace()
        keyspace.set("a", "v")
        let existing = WatchToken(), absent = WatchToken(), elsewhere = WatchToken()
        keyspace.watch(database: 0, key: Array("a".utf8), token: existing)
        keyspace.watch(database: 0, key: Array("missing".utf8), token: absent)
        keyspace.set("b", "v", db: 1)
        keyspace.watch(database: 1, key: Array("b".utf8), token: elsewhere)
        keyspace.flush(database: 0)
        #expect(existing.isDirty)
        #expect(!absent.isDirty)
        #expect(!elsewhere.isDirty)
    }
}
