import Testing
@testable import StrataRESP

@Suite("RESPNumber")
struct RESPNumberTests {
    /// Inputs and what Redis's `string2ll` makes of them.
    @Test("parseInt matches string2ll", arguments: [
        ("0", 0), ("1", 1), ("-1", -1), ("10", 10), ("123456789", 123456789),
        ("9223372036854775807", Int.max), ("-9223372036854775808", Int.min),
        ("-9223372036854775807", -Int.max),
        ("9223372036854775808", nil), ("-9223372036854775809", nil),
        ("18446744073709551615", nil), ("18446744073709551616", nil), ("99999999999999999999", nil),
        ("123456789012345678901", nil), ("-12345678901234567890", nil),
        ("", nil), ("-", nil), ("+", nil), ("+1", nil), ("-0", nil), ("00", nil), ("01", nil), ("-01", nil),
        (" 1", nil), ("1 ", nil), ("1a", nil), ("0x10", nil), ("1.0", nil), ("1e3", nil), ("--1", nil),
    ] as [(String, Int?)])
    func parseInt(_ text: String, _ expected: Int?) {
        #expect(RESPNumber.parseInt(Array(text.utf8)) == expected)
    }

    @Test("decimal formatting of the edges", arguments: [0, 1, -1, 9, 10, -10, 99, 100, Int.max, Int.min, Int.min + 1])
    func decimal(_ value: Int) {
        let text = String(value)
        #expect(RESPNumber.decimalLength(value) == text.utf8.count)
        #expect(RESPNumber.decimalBytes(value) == Array(text.utf8))
    }
}
