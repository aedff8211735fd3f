import Testing
@testable import StrataStore

@Suite("EntryHeader packing")
struct EntryHeaderTests {
    private func entry(_ key: String, hash: UInt64, value: String = "v", database: Int = 0,
                       expireAt: Int64 = 0) -> Entry {
        var key = key, value = value
        return key.withUTF8 { keyBytes in
            value.withUTF8 { valueBytes in
                Entry.make(key: UnsafeRawBufferPointer(keyBytes), hash: hash, value: UnsafeRawBufferPointer(valueBytes),
                           database: database, expireAt: expireAt, now: 7)
            }
        }
    }

    @Test("the header is 64 bytes (it was 72); an entry of a 10-byte key and a collection takes 112")
    func size() {
        print("MemoryLayout<EntryHeader>.size = \(MemoryLayout<EntryHeader>.size)")
        #expect(EntryHeader.size == 64)
        #expect(MemoryLayout<EntryHeader>.stride == 64)
        // 16 (object header) + 64 + 10 + 8 = 98 bytes requested: a 112-byte malloc chunk.
        #expect(Entry.cost(keyLength: 10, valueLength: 8) == 112)
    }

    @Test("a new entry's fields read back as made")
    func fresh() {
        let e = entry("key", hash: 0xDEAD_BEEF_CAFE_F00D, value: "value", database: 255, expireAt: 1234)
        #expect(e.header.expireAt == 1234)
        #expect(e.header.l3Row == 0)
        #expect(e.header.frequency == 0)
        #expect(e.header.tier == .l2)
        #expect(e.kind == .string)
        #expect(e.stringEncoding == .byContent)
        #expect(e.header.hashBits == 0xFE_F00D)
        #expect(e.header.database == 255)
        #expect(e.header.lastAccess == 7)
        #expect(e.header.volatileIndex == -1)
        #expect(e.header.journalSlot == -1)
        #expect(e.key == Array("key".utf8))
        #expect(e.value == Array("value".utf8))
    }

    @Test("each packed field holds its extremes without touching its neighbours")
    func extremes() {
        let e = entry("k", hash: 0xFFFF_FFFF_FFFF_FFFF, database: 0)
        e.header.expireAt = Int64.max
        e.header.l3Row = EntryHeader.maxL3Row
        e.header.frequency = 255
        e.header.tier = .l3
        e.header.kind = .hash
        e.header.stringEncoding = .text
        #expect(e.header.expireAt == 9_223_372_036_854_775_807)
        #expect(e.header.l3Row == 281_474_976_710_655)
        #expect(e.header.frequency == 255)
        #expect(e.header.tier == .l3)
        #expect(e.header.kind == .hash)
        #expect(e.header.stringEncoding == .text)
        #expect(e.header.database == 0)
        #expect(e.header.hashBits == 0xFF_FFFF)

        e.header.l3Row = 0
        e.header.frequency = 0
        e.header.tier = .l1
        e.header.kind = .string
        e.header.stringEncoding = .byContent
        e.header.database = 255
        #expect(e.header.l3Row == 0)
        #expect(e.header.frequency == 0)
        #expect(e.header.tier == .l1)
        #expect(e.header.kind == .string)
        #expect(e.header.stringEncoding == .byContent)
        #expect(e.header.database == 255)
        #expect(e.header.hashBits == 0xFF_FFFF)
        #expect(e.header.expireAt == Int64.max)

        e.header.l3Row = 0x1234_5678_9ABC
        e.header.frequency = 0x5A
        #expect(e.header.l3Row == 0x1234_5678_9ABC)
        #expect(e.header.frequency == 0x5A)
        #expect(e.header.tier == .l1)
    }

    @Test("the length fields take any 32-bit length (the largest key or string)")
    func lengths() {
        var header = EntryHeader(expireAt: 0, hash: 0, keyLength: UInt32.max, valueLength: UInt32.max,
                                 lastAccess: UInt32.max, database: 255, typeBits: 0x1F)
        #expect(header.keyLength == 4_294_967_295)
        #expect(header.valueLength == 4_294_967_295)
        #expect(header.lastAccess == 4_294_967_295)
        #expect(header.database == 255)
        #expect(header.typeBits == 0x1F)
        #expect(header.tier == .l2)
        #expect(header.l3Row == 0)
        header.volatileIndex = Int32.max
        header.journalSlot = Int32.max
        #expect(header.volatileIndex == 2_147_483_647)
        #expect(header.journalSlot == 2_147_483_647)
        #expect(header.keyLength == UInt32.max)
    }

    @Test("keys are compared by bytes when their hashes differ only above the stored 24 bits")
    func hashPrefix() {
        let e = entry("abc", hash: 0x0000_0001_0012_3456)
        var same = "abc", other = "abd"
        same.withUTF8 { key in
            let raw = UnsafeRawBufferPointer(key)
            #expect(e.keyEquals(raw, hash: 0x0000_0001_0012_3456))
            #expect(e.keyEquals(raw, hash: 0xFFFF_FFFF_FF12_3456))
            #expect(!e.keyEquals(raw, hash: 0x0000_0001_0012_3457))
        }
        other.withUTF8 { key in #expect(!e.keyEquals(UnsafeRawBufferPointer(key), hash: 0x0012_3456)) }
        #expect(e.keyHash(KeyHasher(seed: 9)) == KeyHasher(seed: 9).hash(Array("abc".utf8)))
    }

    @Test("a table larger than the stored hash bits finds, replaces and removes by the full hash")
    func largeTable() {
        let hasher = KeyHasher(seed: 3)
        // Stored bits lowered to 4: every table past 16 buckets takes the full-hash path.
        var table = HashTable(hasher: hasher, storedHashBits: 4)
        func make(_ key: String) -> Entry {
            var key = key
            return key.withUTF8 { bytes in
                let raw = UnsafeRawBufferPointer(bytes)
                return Entry.make(key: raw, hash: hasher.hash(raw), value: raw, database: 0, expireAt: 0, now: 0)
            }
        }
        func find(_ key: String) -> Entry? {
            var key = key
            return key.withUTF8 { table.find(UnsafeRawBufferPointer($0), hash: hasher.hash(UnsafeRawBufferPointer($0))) }
        }
        let entries = (0..<2_000).map { make("key\($0)") }
        entries.forEach { table.insert($0) }
        #expect(table.buckets.count == 2_048)
        for i in 0..<2_000 { #expect(find("key\(i)") === entries[i]) }
        let replacement = make("key5")
        table.replace(entries[5], with: replacement)
        #expect(find("key5") === replacement)
        var removed = 0
        for i in 0..<1_990 where table.remove(i == 5 ? replacement : entries[i]) { removed += 1 }
        #expect(removed == 1_990)
        #expect(table.count == 10)
        #expect(table.buckets.count == 64)
        for i in 0..<1_990 where i % 10 == 0 { #expect(find("key\(i)") == nil) }
        for i in 1_990..<2_000 { #expect(find("key\(i)") === entries[i]) }
    }
}
