import Testing
@testable import StrataStore

/// glibc's usable size of an allocation (malloc.h, which the Glibc module does not export): to
/// check that a hash's ``CollectionValue/cost`` is what malloc really gave it.
@_silgen_name("malloc_usable_size")
private func mallocUsableSize(_ pointer: UnsafeMutableRawPointer?) -> Int

/// Small hashes packed as Redis's listpack (see ``HashValue``), and their conversion to a table.
@Suite struct PackedHashTests {
    private func bytes(_ n: Int, _ seed: Int) -> Blob {
        Blob((0..<n).map { UInt8(truncatingIfNeeded: 97 + ($0 &* 7 &+ seed) % 26) })
    }

    /// The packed block's bytes for these pairs: one length byte before each field and value.
    private func packedSize(_ pairs: [(Blob, Blob)]) -> Int { pairs.reduce(0) { $0 + 2 + $1.0.count + $1.1.count } }

    /// Random sets, overwrites and removals against a model kept in insertion order, as a
    /// listpack keeps its pairs (an overwrite keeps the field's place; a removal closes the gap).
    @Test func setGetRemoveOverwriteKeepInsertionOrder() {
        let hash = HashValue()
        var model: [(Blob, Blob)] = []
        var generator = SeededGenerator(seed: 7)
        for step in 0..<20_000 {
            let field = bytes(Int.random(in: 0...5, using: &generator), Int.random(in: 0..<40, using: &generator))
            let roll = Int.random(in: 0..<10, using: &generator)
            if roll < 3 {
                let removed = hash.remove(field)
                let index = model.firstIndex { $0.0 == field }
                #expect(removed == (index != nil))
                if let index { model.remove(at: index) }
            } else {
                let value = bytes(Int.random(in: 0...64, using: &generator), step)
                let new = roll < 6 ? hash.set(field, value) : field.withBytes { f in value.withBytes { hash.set(field: f, value: $0) } }
                if let index = model.firstIndex(where: { $0.0 == field }) {
                    #expect(!new)
                    model[index].1 = value
                } else {
                    #expect(new)
                    model.append((field, value))
                }
            }
            #expect(hash.count == model.count)
            #expect(hash[field] == model.first { $0.0 == field }?.1)
            #expect(hash.cost == CollectionValue.objectOverhead + HashValue.mallocChunk(packedSize(model)))
        }
        #expect(hash.isPacked && hash.encodingName == "listpack")
        #expect(hash.pairs.map(\.field) == model.map(\.0))
        #expect(hash.pairs.map(\.value) == model.map(\.1))
        for (i, pair) in model.enumerated() { #expect(hash.pair(at: i) == (pair.0, pair.1)) }
        var visited = 0
        #expect(hash.scan(cursor: 12345, count: 1) { _, _ in visited += 1 } == 0, "a packed hash scans in one step")
        #expect(visited == model.count)
        // The empty field and the empty value are pairs like any other.
        #expect(hash.set(Blob(""), Blob("")))
        #expect(hash[Blob("")] == Blob(""))
        #expect(hash.remove(Blob("")))
        for (field, _) in model { #expect(hash.remove(field)) }
        #expect(hash.count == 0 && hash.cost == CollectionValue.objectOverhead, "an emptied hash holds no block")
    }

    @Test func convertsPastFiveHundredTwelveFields() {
        let hash = HashValue()
        for i in 0..<512 { #expect(hash.set(Blob("f\(i)"), Blob("\(i)"))) }
        #expect(hash.encodingName == "listpack")
        #expect(!hash.set(Blob("f7"), Blob("seven")), "an overwrite at the limit stays packed")
        #expect(hash.remove(Blob("f0")) && hash.set(Blob("f0"), Blob("0")))
        #expect(hash.encodingName == "listpack")
        let packedOrder = hash.pairs
        #expect(hash.set(Blob("f512"), Blob("512")))
        #expect(hash.encodingName == "hashtable" && !hash.isPacked)
        #expect(hash.count == 513)
        #expect(Array(hash.pairs.prefix(512)).elementsEqual(packedOrder) { $0 == $1 }, "conversion keeps the order")
        #expect(hash[Blob("f7")] == Blob("seven") && hash[Blob("f512")] == Blob("512"))
        for i in 0..<500 { hash.remove(Blob("f\(i)")) }
        #expect(hash.count == 13 && hash.encodingName == "hashtable", "conversion is one way")
    }

    @Test func convertsAtASixtyFiveByteFieldOrValue() {
        for (fieldLength, valueLength) in [(65, 1), (1, 65)] {
            let hash = HashValue()
            hash.set(Blob("a"), Blob("1"))
            hash.set(bytes(64, 1), bytes(64, 2))
            #expect(hash.encodingName == "listpack", "64 bytes fit")
            let field = bytes(fieldLength, 3), value = bytes(valueLength, 4)
            #expect(hash.set(field, value))
            #expect(hash.encodingName == "hashtable")
            #expect(hash[field] == value && hash[Blob("a")] == Blob("1") && hash[bytes(64, 1)] == bytes(64, 2))
            #expect(hash.count == 3)
        }
        // An overwrite with a long value converts too.
        let hash = HashValue()
        hash.set(Blob("a"), Blob("1"))
        #expect(!hash.set(Blob("a"), bytes(65, 0)))
        #expect(hash.encodingName == "hashtable" && hash[Blob("a")] == bytes(65, 0))
    }

    /// The cost is what malloc really holds for the object and its block.
    @Test func costIsTheAllocations() throws {
        let hash = HashValue()
        let object = Unmanaged.passUnretained(hash).toOpaque()
        #expect(mallocUsableSize(object) + 8 == CollectionValue.objectOverhead)
        var pairs: [(Blob, Blob)] = []
        for i in 0..<40 {
            pairs.append((Blob("field\(i)"), bytes(i, i)))
            hash.set(pairs[i].0, pairs[i].1)
            #expect(hash.cost == CollectionValue.objectOverhead + HashValue.mallocChunk(packedSize(pairs)))
        }
        // The table form: this object, the table object, the map's arrays, long elements.
        for i in 0..<600 { hash.set(Blob("field\(i)"), bytes(i % 60, i)) }
        var expected = CollectionValue.objectOverhead + HashFieldTable.objectCost
        let table = try #require(hash.table)
        #expect(mallocUsableSize(Unmanaged.passUnretained(table).toOpaque()) + 8 == HashFieldTable.objectCost)
        expected += table.map.storageCost
        hash.forEach { f, v in expected += Blob(f).heapCost + Blob(v).heapCost }
        #expect(hash.cost == expected)
    }

    @Test func copiesAreIndependent() throws {
        for size in [0, 10, 600] {
            let hash = HashValue()
            for i in 0..<size { hash.set(Blob("f\(i)"), Blob("value-\(i)-long-enough")) }
            let copy = try #require(hash.copy() as? HashValue)
            #expect(copy.cost == hash.cost && copy.encodingName == hash.encodingName)
            #expect(copy.encoded() == hash.encoded())
            copy.set(Blob("f1"), Blob("changed"))
            copy.set(Blob("extra"), Blob("x"))
            #expect(hash[Blob("extra")] == nil)
            #expect(hash[Blob("f1")] == (size > 1 ? Blob("value-1-long-enough") : nil))
        }
    }

    /// A packed hash encodes to the bytes a table holding the same pairs in the same order
    /// encodes to (the L3/DUMP format, unchanged), and decodes back to a packed hash.
    @Test func encodingIsTheTablesEncoding() throws {
        let packed = HashValue()
        let table = HashValue(tableCapacity: 16)
        for i in 0..<30 {
            packed.set(Blob("f\(i)"), bytes(i * 2, i))
            table.set(Blob("f\(i)"), bytes(i * 2, i))
        }
        #expect(packed.isPacked && !table.isPacked)
        let bytes = packed.encoded()
        #expect(bytes == table.encoded())
        let decoded = try #require(bytes.withUnsafeBytes { CollectionValue.decode(kind: .hash, $0) } as? HashValue)
        #expect(decoded.isPacked && decoded.encoded() == bytes && decoded.cost == packed.cost)
        // The format byte by byte, as older builds wrote it with ValueWriter.blob.
        let small = HashValue()
        small.set(Blob("f"), Blob("v"))
        small.set(Blob("gg"), Blob(""))
        var writer = ValueWriter()
        writer.byte(1)
        writer.varint(2)
        for blob in ["f", "v", "gg", ""] { writer.blob(Blob(blob)) }
        #expect(small.encoded() == writer.bytes)
        // A decoded hash past the limits is a table at once.
        let big = HashValue()
        for i in 0..<513 { big.set(Blob("f\(i)"), Blob("v")) }
        let bigDecoded = try #require(big.encoded().withUnsafeBytes { CollectionValue.decode(kind: .hash, $0) } as? HashValue)
        #expect(bigDecoded.encodingName == "hashtable" && bigDecoded.encoded() == big.encoded())
    }
}
