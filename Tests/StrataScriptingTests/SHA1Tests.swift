import Testing
@testable import StrataScripting

@Suite struct SHA1Tests {
    @Test func knownDigests() {
        #expect(SHA1.hex([UInt8]()) == "da39a3ee5e6b4b0d3255bfef95601890afd80709")
        #expect(SHA1.hex(Array("abc".utf8)) == "a9993e364706816aba3e25717850c26c9cd0d89d")
        #expect(SHA1.hex(Array("return 1".utf8)) == "e0e1f9fabfc9d4800c877a703b823ac0578ff8db")
        // Two blocks.
        #expect(SHA1.hex(Array(String(repeating: "a", count: 100).utf8)) == "7f9000257a4918d7072655ea468540cdcbd42e0c")
    }
}
