import StrataCommands
import Testing

@Suite struct HashSlotTests {
    @Test func matchesRedisKeyslot() {
        // Values from Redis's CLUSTER KEYSLOT.
        #expect(HashSlot.slot("foo") == 12182)
        #expect(HashSlot.slot("bar") == 5061)
        #expect(HashSlot.slot("") == 0)
        #expect(HashSlot.slot("123456789") == Int(0x31C3) & 0x3FFF) // CRC16/XMODEM check value 0x31C3
    }

    @Test func hashTags() {
        #expect(HashSlot.slot("{user1000}.following") == HashSlot.slot("{user1000}.followers"))
        #expect(HashSlot.slot("{user1000}.following") == HashSlot.slot("user1000"))
        // Empty tag: the whole key is hashed.
        #expect(HashSlot.slot("foo{}{bar}") == HashSlot.slot(Array("foo{}{bar}".utf8)))
        #expect(HashSlot.slot("foo{}{bar}") != HashSlot.slot("bar"))
        // Only the first `{` counts, up to the first `}` after it.
        #expect(HashSlot.slot("foo{{bar}}zap") == HashSlot.slot("{bar"))
        #expect(HashSlot.slot("foo{bar}{zap}") == HashSlot.slot("bar"))
        // No closing brace: whole key.
        #expect(HashSlot.slot("foo{bar") == HashSlot.slot(Array("foo{bar".utf8)))
    }
}
