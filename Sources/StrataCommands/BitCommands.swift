import StrataRESP
import StrataStore

extension CommandTable {
    private static let bitmap = "bitmap"

    static let bitmaps: [CommandSpec] = [
        CommandSpec("setbit", arity: 4, flags: [.write, .denyOOM], keys: (1, 1, 1), group: bitmap, since: "2.2.0",
                    summary: "Sets or clears the bit at offset of the string value. Creates the key if it doesn't exist.",
                    syntax: "key offset value", handler: BitCommands.setbit),
        CommandSpec("getbit", arity: 3, flags: [.readonly, .fast], keys: (1, 1, 1), group: bitmap, since: "2.2.0",
                    summary: "Returns a bit value by offset.", syntax: "key offset", handler: BitCommands.getbit),
        CommandSpec("bitcount", arity: -2, flags: [.readonly], keys: (1, 1, 1), group: bitmap, since: "2.6.0",
                    complexity: "O(N)", summary: "Counts the number of set bits (population counting) in a string.",
                    syntax: "key [start end [BYTE | BIT]]", handler: BitCommands.bitcount),
        CommandSpec("bitpos", arity: -3, flags: [.readonly], keys: (1, 1, 1), group: bitmap, since: "2.8.7",
                    complexity: "O(N)", summary: "Finds the first set (1) or clear (0) bit in a string.",
                    syntax: "key bit [start [end [BYTE | BIT]]]", handler: BitCommands.bitpos),
        CommandSpec("bitop", arity: -4, flags: [.write, .denyOOM], keys: (2, -1, 1), group: bitmap, since: "2.6.0",
                    complexity: "O(N)", summary: "Performs bitwise operations on multiple strings, and stores the result.",
                    syntax: "operation destkey key [key ...]", handler: BitCommands.bitop),
        CommandSpec("bitfield", arity: -2, flags: [.write, .denyOOM], keys: (1, 1, 1), group: bitmap, since: "3.2.0",
                    complexity: "O(1) for each subcommand specified",
                    summary: "Performs arbitrary bitfield integer operations on strings.",
                    syntax: "key [GET encoding offset] [OVERFLOW WRAP | SAT | FAIL] [SET encoding offset value] [INCRBY encoding offset increment]",
                    handler: BitCommands.bitfield),
        CommandSpec("bitfield_ro", arity: -2, flags: [.readonly, .fast], keys: (1, 1, 1), group: bitmap, since: "6.0.0",
                    complexity: "O(1) for each subcommand specified",
                    summary: "Performs arbitrary read-only bitfield integer operations on strings.",
                    syntax: "key [GET encoding offset [GET encoding offset ...]]", handler: BitCommands.bitfieldRO),
    ]
}

/// The bitmap commands (Redis's bitops.c). A bitmap is a string: bit 0 is the most significant
/// bit of the first byte. Writes store a new string in the key's entry (strings are immutable
/// bytes), named `raw` by OBJECT ENCODING as Redis names the unshared copy it edits.
enum BitCommands {
    static let offsetError: StaticString = "ERR bit offset is not an integer or out of range"
    static let bitValueError: StaticString = "ERR bit is not an integer or out of range"
    static let typeError: StaticString = "ERR Invalid bitfield type. Use something like i16 u8. Note that u64 is not supported but i64 is."

    // MARK: - Arguments

    /// A bit offset as Redis's `getBitOffsetFromArgument` reads it: a non-negative integer whose
    /// byte is below proto-max-bulk-len; with `fieldBits` > 0 (BITFIELD), `#n` means n fields of
    /// that width (the product wraps as Redis's does). Nil when invalid.
    static func bitOffset(_ arguments: CommandArguments, _ index: Int, fieldBits: Int = 0, limit: Int) -> Int? {
        arguments.withBytes(index) { bytes -> Int? in
            let byField = fieldBits > 0 && bytes.first == UInt8(ascii: "#")
            let digits = byField ? UnsafeRawBufferPointer(rebasing: bytes.dropFirst()) : bytes
            guard var offset = RESPNumber.parseInt(digits) else { return nil }
            if byField { offset = offset &* fieldBits }
            guard offset >= 0, offset >> 3 < limit else { return nil }
            return offset
        }
    }

    /// Bytes below which a bit offset's byte must lie: proto-max-bulk-len, as in Redis, but never
    /// more than an entry can hold (a value's length is 32 bits; BITFIELD may reach 8 bytes further).
    static func byteLimit(_ server: ServerContext) -> Int {
        min(server.configuration.protoMaxBulkLength, Int(UInt32.max) - 16)
    }

    /// Whether argument `index` equals `word` ignoring ASCII case, read as C's `strcasecmp`
    /// reads it (up to the first NUL byte); `word` must be upper case.
    static func matchesWord(_ arguments: CommandArguments, _ index: Int, _ word: StaticString) -> Bool {
        arguments.withBytes(index) { bytes in
            let text = bytes.prefix { $0 != 0 }
            guard text.count == word.utf8CodeUnitCount else { return false }
            let expected = word.utf8Start
            for (i, byte) in text.enumerated() {
                let folded = byte >= UInt8(ascii: "a") && byte <= UInt8(ascii: "z") ? byte - 32 : byte
                if folded != expected[i] { return false }
            }
            return true
        }
    }

    /// BYTE or BIT (true), or nil after a syntax error.
    private static func unitIsBit(_ c: inout CommandContext, _ index: Int) -> Bool? {
        if matchesWord(c.arguments, index, "BIT") { return true }
        if matchesWord(c.arguments, index, "BYTE") { return false }
        c.syntaxError()
        return nil
    }

    /// Clamps `start` and `end` into `0..<total` as Redis's range commands do (negative ones count
    /// from the end); the range is empty when `start > end` afterwards.
    private static func clamp(_ start: inout Int, _ end: inout Int, total: Int) {
        if start < 0 { start = total + start }
        if end < 0 { end = total + end }
        if start < 0 { start = 0 }
        if end < 0 { end = 0 }
        if end >= total { end = total - 1 }
    }

    // MARK: - Reading and writing strings

    /// The key at argument 1, found under its shard's lock (the string's bytes never change, so
    /// they may be read after the lock is released).
    private static func findString(_ c: inout CommandContext) -> Entry? {
        let db = c.database, now = c.now
        return c.withKey(1) { shard, key, hash in shard.find(database: db, key: key, hash: hash, now: now, access: .read) }
    }

    /// With the shard's lock held: stores `bytes` as the key's string, in `existing`'s place
    /// (keeping its TTL unless `expireAt` is given) or as a new key; OBJECT ENCODING names it raw.
    static func storeRaw(_ bytes: [UInt8], replacing existing: Entry?, shard: Shard, database: Int,
                         key: UnsafeRawBufferPointer, hash: UInt64, expireAt: Int64? = nil, now: Int64) {
        let stored = bytes.withUnsafeBytes { value in
            if let existing {
                shard.replaceValue(existing, with: value, expireAt: expireAt, now: now)
            } else {
                shard.insert(database: database, key: key, hash: hash, value: value, expireAt: expireAt ?? 0, now: now)
            }
        }
        stored.stringEncoding = .raw
    }

    /// The value's bytes, zero-extended to at least `length`.
    private static func bytes(of entry: Entry?, length: Int) -> [UInt8] {
        let count = max(entry?.valueCount ?? 0, length)
        var bytes = [UInt8](repeating: 0, count: count)
        entry?.withValue { old in bytes.withUnsafeMutableBytes { $0.copyMemory(from: old) } }
        return bytes
    }

    // MARK: - SETBIT, GETBIT

    private enum BitResult { case bit(Int), wrongType }

    static func setbit(_ c: inout CommandContext) {
        guard let offset = bitOffset(c.arguments, 2, limit: byteLimit(c.server)) else {
            c.error(offsetError)
            return
        }
        guard let on = c.arguments.integer(3), on & ~1 == 0 else { c.error(bitValueError); return }
        let db = c.database, now = c.now
        let byte = offset >> 3
        let mask = UInt8(0x80) >> UInt8(offset & 7)
        let result = c.withKey(1) { shard, key, hash -> BitResult in
            let existing = shard.find(database: db, key: key, hash: hash, now: now, access: .write)
            if let existing, existing.kind != .string { return .wrongType }
            let length = existing?.valueCount ?? 0
            let old: UInt8 = byte < length ? existing!.withValue { $0[byte] } : 0
            let previous = old & mask != 0 ? 1 : 0
            if let existing, byte < length, previous == on {
                // Nothing changes, and Redis signals no change; but it has made the string an
                // unshared raw one.
                existing.stringEncoding = .raw
                return .bit(previous)
            }
            var bytes = bytes(of: existing, length: byte + 1)
            if on == 1 { bytes[byte] |= mask } else { bytes[byte] &= ~mask }
            storeRaw(bytes, replacing: existing, shard: shard, database: db, key: key, hash: hash, now: now)
            return .bit(previous)
        }
        switch result {
        case .bit(let bit): c.reply.integer(bit)
        case .wrongType: c.wrongType()
        }
    }

    static func getbit(_ c: inout CommandContext) {
        guard let offset = bitOffset(c.arguments, 2, limit: byteLimit(c.server)) else {
            c.error(offsetError)
            return
        }
        guard let entry = findString(&c) else { c.reply.integer(0); return }
        guard entry.kind == .string else { c.wrongType(); return }
        let byte = offset >> 3
        let bit = byte < entry.valueCount ? entry.withValue { $0[byte] } & (UInt8(0x80) >> UInt8(offset & 7)) : 0
        c.reply.integer(bit != 0 ? 1 : 0)
    }

    // MARK: - BITCOUNT, BITPOS

    static func bitcount(_ c: inout CommandContext) {
        // Redis 7.0 looks the key up first: a missing key counts 0 whatever the arguments.
        guard let entry = findString(&c) else { c.reply.integer(0); return }
        guard entry.kind == .string else { c.wrongType(); return }
        let length = entry.valueCount
        var start = 0, end = length - 1, inBits = false
        switch c.arguments.count {
        case 2:
            break
        case 4, 5:
            guard let first = c.arguments.integer(2), let last = c.arguments.integer(3) else { c.notInteger(); return }
            if first < 0 && last < 0 && first > last { c.reply.integer(0); return }
            if c.arguments.count == 5 {
                guard let bit = unitIsBit(&c, 4) else { return }
                inBits = bit
            }
            start = first
            end = last
            clamp(&start, &end, total: inBits ? length * 8 : length)
        default:
            c.syntaxError()
            return
        }
        guard start <= end else { c.reply.integer(0); return }
        let firstBit = inBits ? start : start * 8
        let lastBit = inBits ? end : end * 8 + 7
        c.reply.integer(entry.withValue { countBits($0, from: firstBit, through: lastBit) })
    }

    static func bitpos(_ c: inout CommandContext) {
        guard let bit = c.arguments.integer(2) else { c.notInteger(); return }
        guard bit == 0 || bit == 1 else { c.error("ERR The bit argument must be 1 or 0."); return }
        // A missing key is an endless run of clear bits.
        guard let entry = findString(&c) else { c.reply.integer(bit == 1 ? -1 : 0); return }
        guard entry.kind == .string else { c.wrongType(); return }
        let length = entry.valueCount
        var start = 0, end = length - 1, inBits = false, endGiven = false
        let count = c.arguments.count
        switch count {
        case 3:
            break
        case 4, 5, 6:
            guard let first = c.arguments.integer(3) else { c.notInteger(); return }
            if count == 6 {
                guard let unit = unitIsBit(&c, 5) else { return }
                inBits = unit
            }
            start = first
            if count >= 5 {
                guard let last = c.arguments.integer(4) else { c.notInteger(); return }
                end = last
                endGiven = true
            } else {
                end = inBits ? length * 8 + 7 : length - 1
            }
            clamp(&start, &end, total: inBits ? length * 8 : length)
        default:
            c.syntaxError()
            return
        }
        // An empty range holds neither a 0 nor a 1.
        guard start <= end else { c.reply.integer(-1); return }
        let firstBit = inBits ? start : start * 8
        let lastBit = inBits ? end : end * 8 + 7
        if let found = entry.withValue({ findBit(bit == 1, in: $0, from: firstBit, through: lastBit) }) {
            c.reply.integer(found)
        } else if bit == 0 && !endGiven {
            // Past the end of the string every bit is clear: the first one after the range.
            c.reply.integer(lastBit + 1)
        } else {
            c.reply.integer(-1)
        }
    }

    /// Set bits among bits `first...last` of `bytes` (both inside it).
    static func countBits(_ bytes: UnsafeRawBufferPointer, from first: Int, through last: Int) -> Int {
        let firstByte = first >> 3, lastByte = last >> 3
        let head = UInt8(0xFF) >> UInt8(first & 7)
        let tail = UInt8(0xFF) << UInt8(7 - (last & 7))
        if firstByte == lastByte { return (bytes[firstByte] & head & tail).nonzeroBitCount }
        var count = (bytes[firstByte] & head).nonzeroBitCount + (bytes[lastByte] & tail).nonzeroBitCount
        var i = firstByte + 1
        while i + 8 <= lastByte {
            count += bytes.loadUnaligned(fromByteOffset: i, as: UInt64.self).nonzeroBitCount
            i += 8
        }
        while i < lastByte {
            count += bytes[i].nonzeroBitCount
            i += 1
        }
        return count
    }

    /// The position of the first bit equal to `set` among bits `first...last` of `bytes`, or nil.
    static func findBit(_ set: Bool, in bytes: UnsafeRawBufferPointer, from first: Int, through last: Int) -> Int? {
        let firstByte = first >> 3, lastByte = last >> 3
        let skip: UInt64 = set ? 0 : .max
        var i = firstByte
        while i <= lastByte {
            // Whole words that cannot hold the bit sought are skipped.
            if i > firstByte && i + 8 <= lastByte && bytes.loadUnaligned(fromByteOffset: i, as: UInt64.self) == skip {
                i += 8
                continue
            }
            var byte = set ? bytes[i] : ~bytes[i]
            if i == firstByte { byte &= UInt8(0xFF) >> UInt8(first & 7) }
            if i == lastByte { byte &= UInt8(0xFF) << UInt8(7 - (last & 7)) }
            if byte != 0 { return i * 8 + byte.leadingZeroBitCount }
            i += 1
        }
        return nil
    }

    // MARK: - BITOP

    private enum Operation { case and, or, xor, not }

    private enum OperationResult { case length(Int), wrongType }

    static func bitop(_ c: inout CommandContext) {
        let operation: Operation
        if matchesWord(c.arguments, 1, "AND") {
            operation = .and
        } else if matchesWord(c.arguments, 1, "OR") {
            operation = .or
        } else if matchesWord(c.arguments, 1, "XOR") {
            operation = .xor
        } else if matchesWord(c.arguments, 1, "NOT") {
            operation = .not
        } else {
            c.syntaxError()
            return
        }
        let count = c.arguments.count
        if operation == .not && count != 4 {
            c.error("ERR BITOP NOT must be called with a single source key.")
            return
        }
        let hashes = (2..<count).map { c.hash($0) }
        let db = c.database, now = c.now, arguments = c.arguments, keyspace = c.keyspace
        let result = c.withShards(for: hashes) { () -> OperationResult in
            var sources: [Entry?] = []
            for i in 3..<count {
                let entry = arguments.withBytes(i) {
                    keyspace.shard(for: hashes[i - 2]).find(database: db, key: $0, hash: hashes[i - 2], now: now, access: .read)
                }
                if let entry, entry.kind != .string { return .wrongType }
                sources.append(entry)
            }
            let bytes = combine(sources, operation)
            let shard = keyspace.shard(for: hashes[0])
            arguments.withBytes(2) { key in
                let target = shard.find(database: db, key: key, hash: hashes[0], now: now, access: .write)
                if bytes.isEmpty {
                    // Every source is empty: the destination is deleted, as Redis does.
                    if let target { shard.remove(target) }
                } else {
                    storeRaw(bytes, replacing: target, shard: shard, database: db, key: key, hash: hashes[0],
                             expireAt: 0, now: now)
                }
            }
            return .length(bytes.count)
        }
        switch result {
        case .length(let n): c.reply.integer(n)
        case .wrongType: c.wrongType()
        }
    }

    /// The operation over the sources, each read as zero-padded to the longest.
    private static func combine(_ sources: [Entry?], _ operation: Operation) -> [UInt8] {
        let length = sources.reduce(0) { max($0, $1?.valueCount ?? 0) }
        guard length > 0 else { return [] }
        var result = [UInt8](repeating: 0, count: length)
        result.withUnsafeMutableBytes { out in
            for (n, source) in sources.enumerated() {
                let apply = { (value: UnsafeRawBufferPointer) in
                    switch operation {
                    case .not:
                        for j in 0..<value.count { out[j] = ~value[j] }
                    case .and where n == 0:
                        for j in 0..<value.count { out[j] = value[j] }
                    case .and:
                        for j in 0..<value.count { out[j] &= value[j] }
                        for j in value.count..<length { out[j] = 0 }
                    case .or:
                        for j in 0..<value.count { out[j] |= value[j] }
                    case .xor:
                        for j in 0..<value.count { out[j] ^= value[j] }
                    }
                }
                StringCommands.withBytes(source, apply)
            }
        }
        return result
    }

    // MARK: - BITFIELD

    enum Overflow { case wrap, sat, fail }

    struct FieldOperation {
        enum Kind { case get, set, incrby }
        var kind: Kind
        var signed: Bool
        var bits: Int
        var offset: Int
        var value: Int64
        var overflow: Overflow
    }

    static func bitfield(_ c: inout CommandContext) { bitfieldGeneric(&c, readOnly: false) }
    static func bitfieldRO(_ c: inout CommandContext) { bitfieldGeneric(&c, readOnly: true) }

    /// The field type (`i1`…`i64`, `u1`…`u63`), read as Redis reads it (the width stops at a NUL).
    static func fieldType(_ arguments: CommandArguments, _ index: Int) -> (signed: Bool, bits: Int)? {
        arguments.withBytes(index) { bytes -> (Bool, Int)? in
            guard let first = bytes.first, first == UInt8(ascii: "i") || first == UInt8(ascii: "u") else { return nil }
            let signed = first == UInt8(ascii: "i")
            let width = bytes.dropFirst().prefix { $0 != 0 }
            guard let bits = RESPNumber.parseInt(UnsafeRawBufferPointer(rebasing: width)),
                  bits >= 1, bits <= (signed ? 64 : 63) else { return nil }
            return (signed, bits)
        }
    }

    /// Parses the subcommands as Redis does (all of them, before the key is looked up); nil after
    /// replying with an error.
    private static func parseFieldOperations(_ c: inout CommandContext) -> [FieldOperation]? {
        let arguments = c.arguments
        let limit = byteLimit(c.server)
        var operations: [FieldOperation] = []
        var overflow = Overflow.wrap
        var j = 2
        while j < arguments.count {
            let remaining = arguments.count - j - 1
            let kind: FieldOperation.Kind
            if matchesWord(arguments, j, "GET") && remaining >= 2 {
                kind = .get
            } else if matchesWord(arguments, j, "SET") && remaining >= 3 {
                kind = .set
            } else if matchesWord(arguments, j, "INCRBY") && remaining >= 3 {
                kind = .incrby
            } else if matchesWord(arguments, j, "OVERFLOW") && remaining >= 1 {
                if matchesWord(arguments, j + 1, "WRAP") {
                    overflow = .wrap
                } else if matchesWord(arguments, j + 1, "SAT") {
                    overflow = .sat
                } else if matchesWord(arguments, j + 1, "FAIL") {
                    overflow = .fail
                } else {
                    c.error("ERR Invalid OVERFLOW type specified")
                    return nil
                }
                j += 2
                continue
            } else {
                c.syntaxError()
                return nil
            }
            guard let (signed, bits) = fieldType(arguments, j + 1) else { c.error(typeError); return nil }
            guard let offset = bitOffset(arguments, j + 2, fieldBits: bits, limit: limit) else {
                c.error(offsetError)
                return nil
            }
            var value: Int64 = 0
            if kind != .get {
                guard let given = arguments.integer(j + 3) else { c.notInteger(); return nil }
                value = Int64(given)
            }
            operations.append(FieldOperation(kind: kind, signed: signed, bits: bits, offset: offset, value: value,
                                             overflow: overflow))
            j += kind == .get ? 3 : 4
        }
        return operations
    }

    private enum FieldResult { case replies([Int?]), wrongType }

    private static func bitfieldGeneric(_ c: inout CommandContext, readOnly: Bool) {
        guard let operations = parseFieldOperations(&c) else { return }
        let writes = operations.filter { $0.kind != .get }
        if writes.isEmpty {
            let entry = findString(&c)
            if let entry, entry.kind != .string { c.wrongType(); return }
            c.reply.arrayHeader(operations.count)
            StringCommands.withBytes(entry) { value in
                for operation in operations { c.reply.integer(readField(operation, value)) }
            }
            return
        }
        if readOnly { c.error("ERR BITFIELD_RO only supports the GET subcommand"); return }
        let highest = writes.reduce(0) { max($0, $1.offset + $1.bits - 1) }
        let db = c.database, now = c.now
        let result = c.withKey(1) { shard, key, hash -> FieldResult in
            let existing = shard.find(database: db, key: key, hash: hash, now: now, access: .write)
            if let existing, existing.kind != .string { return .wrongType }
            var bytes = bytes(of: existing, length: (highest >> 3) + 1)
            // As Redis: a change is a new key, a longer string, or a write that changed a field.
            var changed = existing?.valueCount != bytes.count
            let replies = bytes.withUnsafeMutableBytes { buffer in
                operations.map { run($0, on: buffer, changed: &changed) }
            }
            if let existing, !changed {
                existing.stringEncoding = .raw
            } else {
                storeRaw(bytes, replacing: existing, shard: shard, database: db, key: key, hash: hash, now: now)
            }
            return .replies(replies)
        }
        switch result {
        case .wrongType:
            c.wrongType()
        case .replies(let replies):
            c.reply.arrayHeader(replies.count)
            for reply in replies {
                if let reply { c.reply.integer(reply) } else { c.reply.null() }
            }
        }
    }

    /// Runs one operation on the (already long enough) buffer: its reply, nil when OVERFLOW FAIL
    /// refused it. Sets `changed` when it changed the field.
    private static func run(_ operation: FieldOperation, on buffer: UnsafeMutableRawBufferPointer, changed: inout Bool) -> Int? {
        let bits = operation.bits, offset = operation.offset
        if operation.kind == .get { return readField(operation, UnsafeRawBufferPointer(buffer)) }
        let old = getField(UnsafeRawBufferPointer(buffer), offset: offset, bits: bits)
        var newValue: UInt64, reply: Int, overflowed: Bool
        if operation.signed {
            let oldValue = signExtended(old, bits: bits)
            if operation.kind == .incrby {
                let (overflow, limit) = signedOverflow(oldValue, operation.value, bits: bits, operation.overflow)
                let sum = overflow ? limit : oldValue &+ operation.value
                newValue = UInt64(bitPattern: sum)
                reply = Int(sum)
                overflowed = overflow
            } else {
                let (overflow, limit) = signedOverflow(operation.value, 0, bits: bits, operation.overflow)
                newValue = UInt64(bitPattern: overflow ? limit : operation.value)
                reply = Int(oldValue)
                overflowed = overflow
            }
        } else {
            if operation.kind == .incrby {
                let (overflow, limit) = unsignedOverflow(old, operation.value, bits: bits, operation.overflow)
                newValue = overflow ? limit : old &+ UInt64(bitPattern: operation.value)
                reply = Int(truncatingIfNeeded: newValue)
                overflowed = overflow
            } else {
                let given = UInt64(bitPattern: operation.value)
                let (overflow, limit) = unsignedOverflow(given, 0, bits: bits, operation.overflow)
                newValue = overflow ? limit : given
                reply = Int(truncatingIfNeeded: old)
                overflowed = overflow
            }
        }
        if overflowed && operation.overflow == .fail { return nil }
        setField(buffer, offset: offset, bits: bits, value: newValue)
        if getField(UnsafeRawBufferPointer(buffer), offset: offset, bits: bits) != old { changed = true }
        return reply
    }

    /// A GET's reply: the field at its offset, signed or not.
    private static func readField(_ operation: FieldOperation, _ bytes: UnsafeRawBufferPointer) -> Int {
        let field = getField(bytes, offset: operation.offset, bits: operation.bits)
        return operation.signed ? Int(signExtended(field, bits: operation.bits)) : Int(truncatingIfNeeded: field)
    }

    /// `bits` bits from bit `offset` on, most significant first; bits past the end read as 0.
    static func getField(_ bytes: UnsafeRawBufferPointer, offset: Int, bits: Int) -> UInt64 {
        var value: UInt64 = 0
        for position in offset..<(offset + bits) {
            let byte = position >> 3
            let bit: UInt64 = byte < bytes.count ? UInt64(bytes[byte] >> UInt8(7 - (position & 7))) & 1 : 0
            value = value << 1 | bit
        }
        return value
    }

    /// Writes the low `bits` bits of `value` from bit `offset` on, most significant first.
    static func setField(_ bytes: UnsafeMutableRawBufferPointer, offset: Int, bits: Int, value: UInt64) {
        for j in 0..<bits {
            let position = offset + j
            let mask = UInt8(0x80) >> UInt8(position & 7)
            if value >> UInt64(bits - 1 - j) & 1 == 1 {
                bytes[position >> 3] |= mask
            } else {
                bytes[position >> 3] &= ~mask
            }
        }
    }

    static func signExtended(_ value: UInt64, bits: Int) -> Int64 {
        guard bits < 64, value >> UInt64(bits - 1) & 1 == 1 else { return Int64(bitPattern: value) }
        return Int64(bitPattern: value | UInt64.max << UInt64(bits))
    }

    /// Redis's `checkUnsignedBitfieldOverflow`: whether `value + increment` leaves the field's
    /// range, and what WRAP or SAT stores then.
    static func unsignedOverflow(_ value: UInt64, _ increment: Int64, bits: Int, _ overflow: Overflow) -> (Bool, UInt64) {
        let max: UInt64 = (1 << UInt64(bits)) - 1
        let maxIncrement = Int64(bitPattern: max &- value)
        let minIncrement = Int64(bitPattern: 0 &- value)
        let wrapped = (value &+ UInt64(bitPattern: increment)) & ~(UInt64.max << UInt64(bits))
        if value > max || (increment > 0 && increment > maxIncrement) {
            return (true, overflow == .wrap ? wrapped : max)
        }
        if increment < 0 && increment < minIncrement {
            return (true, overflow == .wrap ? wrapped : 0)
        }
        return (false, 0)
    }

    /// Redis's `checkSignedBitfieldOverflow`, with its arithmetic (which wraps where C's would).
    static func signedOverflow(_ value: Int64, _ increment: Int64, bits: Int, _ overflow: Overflow) -> (Bool, Int64) {
        let max: Int64 = bits == 64 ? .max : (1 << Int64(bits - 1)) - 1
        let min = -max - 1
        let maxIncrement = Int64(bitPattern: UInt64(bitPattern: max) &- UInt64(bitPattern: value))
        let minIncrement = min &- value
        var sum = UInt64(bitPattern: value) &+ UInt64(bitPattern: increment)
        if bits < 64 {
            let high = UInt64.max << UInt64(bits)
            if sum >> UInt64(bits - 1) & 1 == 1 { sum |= high } else { sum &= ~high }
        }
        let wrapped = Int64(bitPattern: sum)
        if value > max || (bits != 64 && increment > maxIncrement) || (value >= 0 && increment > 0 && increment > maxIncrement) {
            return (true, overflow == .wrap ? wrapped : max)
        }
        if value < min || (bits != 64 && increment < minIncrement) || (value < 0 && increment < 0 && increment < minIncrement) {
            return (true, overflow == .wrap ? wrapped : min)
        }
        return (false, 0)
    }
}
