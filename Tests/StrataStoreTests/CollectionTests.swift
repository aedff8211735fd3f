import Testing
@testable import StrataStore

@Suite struct BlobTests {
    @Test func roundTripsEveryLengthInlineAndOnTheHeap() {
        for length in 0...40 {
            let bytes = (0..<length).map { UInt8(truncatingIfNeeded: $0 &* 37 &+ length) }
            let blob = Blob(bytes)
            #expect(blob.count == length)
            #expect(blob.bytes == bytes)
            #expect(blob == Blob(bytes))
            #expect(blob.hashValue == Blob(bytes).hashValue)
            #expect((blob.heapCost == 0) == (length <= Blob.inlineCapacity))
            if length > 0 { #expect(blob != Blob(bytes.dropLast())) }
        }
    }

    @Test func ordersAsMemcmpThenLength() {
        #expect(Blob("a") < Blob("b"))
        #expect(Blob("a") < Blob("aa"))
        #expect(Blob("") < Blob("a"))
        #expect(Blob([0xFF]) > Blob("zzzzzzzzzzzzzzzzzzzzzz"))
        #expect(!(Blob("same") < Blob("same")))
    }

    @Test func integersOnlyInCanonicalForm() {
        #expect(Blob("0").integerValue == 0)
        #expect(Blob("-9223372036854775808").integerValue == Int64.min)
        #expect(Blob("9223372036854775807").integerValue == Int64.max)
        for text in ["9223372036854775808", "01", "-0", "+1", "", " 1", "1.0", "-"] {
            #expect(Blob(text).integerValue == nil, "\(text)")
        }
    }
}

@Suite struct DenseMapTests {
    /// Random sets, overwrites and removals against a Dictionary.
    @Test func agreesWithADictionary() {
        var generator = SeededGenerator(seed: 7)
        var map = DenseMap<Int>()
        var reference: [Blob: Int] = [:]
        for step in 0..<20_000 {
            let key = Blob("k\(Int.random(in: 0..<600, using: &generator))" + (step % 3 == 0 ? "-long-enough-for-the-heap" : ""))
            switch Int.random(in: 0..<10, using: &generator) {
            case 0..<5:
                #expect(map.set(key, step) == reference.updateValue(step, forKey: key))
            case 5..<8:
                #expect(map.remove(key) == reference.removeValue(forKey: key))
            case 8:
                if !map.isEmpty {
                    let (removed, value) = map.remove(at: Int.random(in: 0..<map.count, using: &generator))
                    #expect(reference.removeValue(forKey: removed) == value)
                }
            default:
                #expect(map[key] == reference[key])
            }
            #expect(map.count == reference.count)
        }
        for (key, value) in reference { #expect(map[key] == value) }
    }

    /// Growing to thousands of keys and shrinking back (the index rebuilt both ways from the
    /// hashes its slots hold), every key stays findable at the position it reports.
    @Test func growsAndShrinksKeepingEveryPosition() {
        var generator = SeededGenerator(seed: 11)
        var map = DenseMap<Int>()
        var reference: [Blob: Int] = [:]
        func check() {
            #expect(map.count == reference.count)
            for (key, value) in reference {
                let position = map.position(of: key)
                #expect(position.map { map.keys[$0] } == key)
                #expect(key.withBytes { map.position(ofBytes: $0) } == position)
                #expect(map[key] == value)
            }
        }
        for round in 0..<3 {
            for i in 0..<4000 {
                let key = Blob("element:\(String(Int.random(in: 0..<6000, using: &generator)))" + (i % 2 == 0 ? "" : "-x"))
                #expect(map.set(key, i) == reference.updateValue(i, forKey: key))
            }
            check()
            while map.count > 5 * round {
                if Bool.random(using: &generator) {
                    let (key, value) = map.remove(at: Int.random(in: 0..<map.count, using: &generator))
                    #expect(reference.removeValue(forKey: key) == value)
                } else {
                    let key = map.keys[Int.random(in: 0..<map.count, using: &generator)]
                    #expect(map.remove(key) == reference.removeValue(forKey: key))
                    #expect(map.remove(key) == nil)
                }
                if map.count % 500 == 0 { check() }
            }
            check()
        }
        #expect(Array("absent-and-long-enough".utf8).withUnsafeBytes { map.position(ofBytes: $0) } == nil)
        #expect(Blob("element:000000012345").mapHash == Blob(Array("element:000000012345".utf8)).mapHash)
        #expect(Blob("short").mapHash == Blob(Array("short".utf8)).mapHash)
    }

    /// A full SCAN returns every member present throughout, even with removals in between.
    @Test func scanMissesNoMemberPresentThroughout() {
        var map = DenseMap<Void>()
        for i in 0..<1000 { map.set(Blob("m\(i)"), ()) }
        var seen = Set<Blob>()
        var cursor = 0
        var round = 0
        repeat {
            cursor = map.scan(cursor: cursor, count: 37) { key, _ in seen.insert(key) }
            // Remove some members not yet guaranteed (odd ones above 900) between steps.
            map.remove(Blob("m\(901 + 2 * round)"))
            map.set(Blob("new\(round)"), ())
            round += 1
        } while cursor != 0
        for i in 0..<900 { #expect(seen.contains(Blob("m\(i)")), "m\(i)") }
    }
}

@Suite struct CollectionValueTests {
    @Test func encodingsRoundTrip() throws {
        let hash = HashValue()
        for i in 0..<300 { hash.set(Blob("field\(i)"), Blob(String(repeating: "v", count: i % 70))) }
        let list = ListValue()
        for i in 0..<50 { list.pushBack(Blob("item\(i)")) }
        list.pushFront(Blob(""))
        let set = SetValue()
        for i in 0..<100 { set.insert(Blob("\(i * 3)")) }
        let zset = SortedSetValue()
        for i in 0..<500 { zset.set(Blob("member\(i % 400)"), score: Double(i) * -0.5) }
        zset.set(Blob("inf"), score: .infinity)
        for value in [hash, list, set, zset] as [CollectionValue] {
            let bytes = value.encoded()
            let decoded = try #require(bytes.withUnsafeBytes { CollectionValue.decode(kind: value.kind, $0) })
            #expect(decoded.count == value.count)
            #expect(decoded.encoded() == bytes, "\(value.kind)")
            // Every truncation is refused, never a trap.
            for cut in [0, 1, bytes.count / 2, bytes.count - 1] {
                let prefix = Array(bytes.prefix(cut))
                #expect(prefix.withUnsafeBytes { CollectionValue.decode(kind: value.kind, $0) } == nil)
            }
        }
        // A forged count larger than the input is refused before anything is reserved.
        let forged: [UInt8] = [1, 0xFF, 0xFF, 0xFF, 0xFF, 0x07]
        #expect(forged.withUnsafeBytes { CollectionValue.decode(kind: .list, $0) } == nil)
    }

    @Test func sortedSetKeepsRedisOrderAndRanks() {
        let zset = SortedSetValue()
        var generator = SeededGenerator(seed: 3)
        var reference: [Blob: Double] = [:]
        for _ in 0..<5_000 {
            let member = Blob("m\(Int.random(in: 0..<700, using: &generator))")
            if Int.random(in: 0..<4, using: &generator) == 0 {
                zset.remove(member)
                reference[member] = nil
            } else {
                let score = Double(Int.random(in: -50..<50, using: &generator))
                zset.set(member, score: score)
                reference[member] = score
            }
        }
        let expected = reference.map { ScoredMember(score: $0.value, member: $0.key) }.sorted()
        #expect(zset.count == expected.count)
        for (rank, item) in expected.enumerated() {
            #expect(zset[rank: rank] == item)
            #expect(zset.rank(of: item.member) == rank)
        }
        #expect(zset.partitionRank { $0.score >= 0 } == expected.firstIndex { $0.score >= 0 })
    }

    /// Inserts, removals, rank-range removals and rank reads interleaved, against a sorted array.
    @Test func sortedSetRanksStayRightThroughRangeRemovals() {
        let zset = SortedSetValue()
        var generator = SeededGenerator(seed: 11)
        var reference: [ScoredMember] = []
        for step in 0..<6_000 {
            switch Int.random(in: 0..<10, using: &generator) {
            case 0..<6:
                let member = Blob("m\(Int.random(in: 0..<3000, using: &generator))")
                let score = Double(Int.random(in: -100..<100, using: &generator))
                reference.removeAll { $0.member == member }
                reference.append(ScoredMember(score: score, member: member))
                reference.sort()
                zset.set(member, score: score)
            case 6:
                guard !reference.isEmpty else { continue }
                let i = Int.random(in: 0..<reference.count, using: &generator)
                #expect(zset.remove(reference[i].member))
                reference.remove(at: i)
            case 7:
                guard !reference.isEmpty else { continue }
                let low = Int.random(in: 0..<reference.count, using: &generator)
                let high = min(reference.count, low + Int.random(in: 0..<(step % 7 == 0 ? 400 : 5), using: &generator))
                #expect(zset.removeRanks(low..<high) == Array(reference[low..<high]))
                reference.removeSubrange(low..<high)
            default:
                guard !reference.isEmpty else { continue }
                let i = Int.random(in: 0..<reference.count, using: &generator)
                #expect(zset[rank: i] == reference[i])
                #expect(zset.rank(of: reference[i].member) == i)
                var walked: [ScoredMember] = []
                let n = min(20, i + 1)
                zset.forEach(from: i, count: n, reverse: true) { walked.append($0) }
                #expect(walked == Array(reference[(i - n + 1)...i].reversed()))
            }
            #expect(zset.count == reference.count)
        }
        var all: [ScoredMember] = []
        zset.forEach(from: 0, count: zset.count, reverse: false) { all.append($0) }
        #expect(all == reference)
        // The chunks' byte count is kept as they change: emptied, it is what an emptied set costs.
        zset.removeRanks(0..<zset.count)
        let other = SortedSetValue()
        other.set(Blob("x"), score: 1)
        other.remove(Blob("x"))
        #expect(zset.cost == other.cost)
    }

    @Test func sortedSetScoresAsRedisStoresThem() {
        let zset = SortedSetValue()
        zset.set(Blob("z"), score: -0.0)
        #expect(zset.score(of: Blob("z"))?.sign == .plus, "a listpack stores -0 as 0")
        zset.set(Blob("z"), score: 5)
        zset.set(Blob("z"), score: -0.0)
        #expect(zset.score(of: Blob("z"))?.sign == .plus)
        let big = SortedSetValue(compact: false)
        big.set(Blob("z"), score: 0)
        big.set(Blob("z"), score: -0.0)
        #expect(big.score(of: Blob("z"))?.sign == .plus, "an equal score leaves the member alone")
        big.set(Blob("y"), score: -0.0)
        #expect(big.score(of: Blob("y"))?.sign == .minus)
        #expect(big.encodingName == "skiplist")
        let built = SortedSetValue.build([ScoredMember(score: -0.0, member: Blob("b")), ScoredMember(score: -1, member: Blob("a"))])
        #expect(built.encodingName == "listpack")
        #expect(built[rank: 0].member == Blob("a") && built.score(of: Blob("b"))?.sign == .plus)
        let large = SortedSetValue.build((0..<129).map { ScoredMember(score: -0.0, member: Blob("m\($0)")) })
        #expect(large.encodingName == "skiplist")
        #expect(large.score(of: Blob("m5"))?.sign == .minus)
        #expect(large.rank(of: Blob("m5")) == (0..<129).map { "m\($0)" }.sorted { Blob($0) < Blob($1) }.firstIndex(of: "m5"))
    }

    @Test func encodingNamesFollowRedis70() {
        let set = SetValue()
        set.insert(Blob("1"))
        #expect(set.encodingName == "intset")
        set.insert(Blob("x"))
        set.remove(Blob("x"))
        #expect(set.encodingName == "hashtable", "conversion is one way")
        let hash = HashValue()
        hash.set(Blob("f"), Blob("v"))
        #expect(hash.encodingName == "listpack")
        hash.set(Blob("f"), Blob(String(repeating: "x", count: 65)))
        #expect(hash.encodingName == "hashtable")
    }
}

@Suite struct CollectionInShardTests {
    /// Memory follows a collection as it grows and shrinks, and an emptied one deletes its key.
    @Test func memoryFollowsChangesAndEmptyDeletes() throws {
        let keyspace = makeKeyspace()
        // The shard's bucket array is allocated by a first key and stays.
        keyspace.set("h", "string first")
        keyspace.withShard("h") { shard, key, hash in
            shard.remove(shard.find(database: 0, key: key, hash: hash, now: t0, access: .peek)!)
        }
        let empty = keyspace.usedMemory
        let entry = keyspace.withShard("h") { shard, key, hash in
            shard.insert(database: 0, key: key, hash: hash, collection: HashValue(), expireAt: 0, now: t0)
        }
        let small = keyspace.usedMemory
        #expect(small > empty)
        keyspace.withShard("h") { shard, _, _ in
            let hash = entry.collection as! HashValue
            for i in 0..<1000 { hash.set(Blob("field-\(i)-with-a-long-name"), Blob("\(i)")) }
            shard.collectionChanged(entry)
        }
        let big = keyspace.usedMemory
        #expect(big > small + 1000 * 40)
        #expect(keyspace.usedMemory == keyspace.summedShardBytes)
        keyspace.withShard("h") { shard, _, _ in
            let hash = entry.collection as! HashValue
            for i in 0..<1000 { hash.remove(Blob("field-\(i)-with-a-long-name")) }
            shard.collectionChanged(entry)
        }
        #expect(keyspace.usedMemory == empty)
        let found = keyspace.withShard("h") { shard, key, hash in
            shard.find(database: 0, key: key, hash: hash, now: t0, access: .peek)
        }
        #expect(found == nil)
    }

    /// The journal carries a collection as its encoding and its type, as of the drain.
    @Test func journalEncodesTheCollectionAtTheDrain() throws {
        let keyspace = makeKeyspace()
        keyspace.openJournal(consumer: NoConsumer(), threshold: 0)
        let list = ListValue()
        list.pushBack(Blob("a"))
        let entry = keyspace.withShard("l") { shard, key, hash in
            shard.insert(database: 0, key: key, hash: hash, collection: list, expireAt: 0, now: t0)
        }
        keyspace.withShard("l") { shard, _, _ in
            list.pushBack(Blob("b"))
            shard.collectionChanged(entry)
        }
        var row: Int64 = 1
        let batch = keyspace.drainJournal(nextRow: &row)
        #expect(batch.count == 1)
        let record = try #require(batch.segments.first?.first)
        #expect(record.valueKind == .list)
        let decoded = try #require(batch.withValue(of: record) { CollectionValue.decode(kind: .list, $0) } as? ListValue)
        #expect(Array(decoded.items) == [Blob("a"), Blob("b")])
    }
}

private final class NoConsumer: JournalConsumer {
    func journalReachedThreshold() {}
}

@Suite struct DumpPayloadTests {
    @Test func crc64IsRedisJones() {
        // The check value of CRC-64/Jones, as Redis's crc64.c tests it.
        #expect(CRC64.checksum(Array("123456789".utf8)) == 0xE9C6_D914_C4B8_D9CA)
    }

    @Test func roundTripsStringsAndCollections() throws {
        let payload = Array("hello".utf8).withUnsafeBytes { DumpPayload.make(string: $0) }
        guard case .success(.string(let bytes)) = payload.withUnsafeBytes({ DumpPayload.decode($0) }) else {
            Issue.record("string payload did not decode")
            return
        }
        #expect(bytes == Array("hello".utf8))
        let set = SetValue()
        for i in 0..<10 { set.insert(Blob("m\(i)")) }
        let setPayload = DumpPayload.make(collection: set)
        guard case .success(.collection(let decoded)) = setPayload.withUnsafeBytes({ DumpPayload.decode($0) }) else {
            Issue.record("set payload did not decode")
            return
        }
        #expect(decoded.kind == .set && decoded.count == 10)
    }

    @Test func refusesDamagedOrForeignPayloads() {
        var payload = Array("value".utf8).withUnsafeBytes { DumpPayload.make(string: $0) }
        payload[2] ^= 1
        #expect(payload.withUnsafeBytes { DumpPayload.decode($0) }.failureValue == .versionOrChecksum)
        // Redis 7.0's DUMP of the string "hello".
        let redis: [UInt8] = [0x00, 0x05, 0x68, 0x65, 0x6C, 0x6C, 0x6F, 0x0A, 0x00, 0xB9, 0x62, 0x8E, 0x3A, 0x7D, 0x9E, 0x9C, 0x8B]
        #expect(redis.withUnsafeBytes { DumpPayload.decode($0) }.failureValue == .versionOrChecksum)
        #expect([UInt8]().withUnsafeBytes { DumpPayload.decode($0) }.failureValue == .versionOrChecksum)
    }
}

extension Result {
    var failureValue: Failure? {
        if case .failure(let failure) = self { return failure }
        return nil
    }
}
