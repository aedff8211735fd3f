import Testing
@testable import StrataStore

/// Redis 7.0's `stringmatchlen_impl` (util.c), case-sensitive, ported line by line as the
/// reference. `at` reads past the end as NUL, as the C code reads the terminator.
enum RedisStringMatch {
    static func matches(_ pattern: [UInt8], _ string: [UInt8]) -> Bool {
        var skipLongerMatches = false
        return match(pattern, 0, string, 0, &skipLongerMatches)
    }

    private static func match(_ p: [UInt8], _ pStart: Int, _ s: [UInt8], _ sStart: Int, _ skip: inout Bool) -> Bool {
        var pi = pStart, patternLen = p.count - pStart
        var si = sStart, stringLen = s.count - sStart
        func at(_ k: Int) -> UInt8 { pi + k >= 0 && pi + k < p.count ? p[pi + k] : 0 }
        while patternLen > 0 && stringLen > 0 {
            switch at(0) {
            case UInt8(ascii: "*"):
                while patternLen > 0 && at(1) == UInt8(ascii: "*") { pi += 1; patternLen -= 1 }
                if patternLen == 1 { return true }
                while stringLen > 0 {
                    if match(p, pi + 1, s, si, &skip) { return true }
                    if skip { return false }
                    si += 1; stringLen -= 1
                }
                skip = true
                return false
            case UInt8(ascii: "?"):
                si += 1; stringLen -= 1
            case UInt8(ascii: "["):
                pi += 1; patternLen -= 1
                let not = at(0) == UInt8(ascii: "^")
                if not { pi += 1; patternLen -= 1 }
                var matched = false
                while true {
                    if at(0) == UInt8(ascii: "\\") && patternLen >= 2 {
                        pi += 1; patternLen -= 1
                        if at(0) == s[si] { matched = true }
                    } else if at(0) == UInt8(ascii: "]") {
                        break
                    } else if patternLen == 0 {
                        pi -= 1; patternLen += 1
                        break
                    } else if patternLen >= 3 && at(1) == UInt8(ascii: "-") {
                        var start = at(0), end = at(2)
                        if start > end { swap(&start, &end) }
                        pi += 2; patternLen -= 2
                        if s[si] >= start && s[si] <= end { matched = true }
                    } else if at(0) == s[si] {
                        matched = true
                    }
                    pi += 1; patternLen -= 1
                }
                if not { matched = !matched }
                if !matched { return false }
                si += 1; stringLen -= 1
            default:
                if at(0) == UInt8(ascii: "\\") && patternLen >= 2 { pi += 1; patternLen -= 1 }
                if at(0) != s[si] { return false }
                si += 1; stringLen -= 1
            }
            pi += 1; patternLen -= 1
            if stringLen == 0 {
                while at(0) == UInt8(ascii: "*") { pi += 1; patternLen -= 1 }
                break
            }
        }
        return patternLen == 0 && stringLen == 0
    }
}

private func glob(_ pattern: String, _ string: String) -> Bool {
    GlobPattern.matches(pattern: Array(pattern.utf8), Array(string.utf8))
}

@Suite("GlobPattern")
struct GlobPatternTests {
    @Test("the cases KEYS users rely on", arguments: [
        ("*", "anything", true), ("*", "", false), ("h*o", "hello", true), ("h*o", "hellx", false),
        ("h?llo", "hello", true), ("h?llo", "hllo", false), ("h??lo", "hello", true),
        ("h[ae]llo", "hallo", true), ("h[ae]llo", "hillo", false),
        ("h[^e]llo", "hallo", true), ("h[^e]llo", "hello", false),
        ("h[a-b]llo", "hbllo", true), ("h[a-b]llo", "hcllo", false), ("h[b-a]llo", "hallo", true),
        ("[a-z]*[0-9]", "user42", true), ("[a-z]*[0-9]", "User42", false),
        ("h\\*llo", "h*llo", true), ("h\\*llo", "hello", false), ("h\\?", "h?", true),
        ("[\\]]", "]", true), ("[\\^]x", "^x", true), ("a\\", "a\\", true),
        ("user:*:name", "user:1000:name", true), ("user:*:name", "user:1000:mail", false),
        ("*a*b*c*", "xxaxxbxxcxx", true), ("*a*b*c*", "xxaxxcxxbxx", false),
        ("", "", true), ("", "a", false), ("abc", "abc", true), ("abc", "abcd", false), ("abcd", "abc", false),
        ("a*", "a", true), ("a**", "a", true), ("a*b", "a", false), ("[", "a", false), ("[a", "a", true),
    ])
    func cases(_ pattern: String, _ string: String, _ expected: Bool) {
        #expect(glob(pattern, string) == expected)
    }

    @Test("agrees with Redis's stringmatchlen on the cases where the port found differences")
    func knownEdges() {
        // KEYS "**" in redis-server 7.0.15 does not list the key "": no pattern but "" matches
        // an empty string (KEYS and SCAN special-case the pattern "*" before matching).
        #expect(RedisStringMatch.matches(Array("**".utf8), []) == false)
        #expect(glob("**", "") == false)
        #expect(glob("*?", "") == false)
        // `[a\]` (no closing bracket; the escape is the last thing) matches "]" in redis-server 7.0.15.
        #expect(RedisStringMatch.matches(Array("[a\\]".utf8), Array("]".utf8)))
        #expect(glob("[a\\]", "]"))
    }

    @Test("agrees with Redis's stringmatchlen on random patterns and strings")
    func differential() {
        var generator = SeededGenerator(seed: 99)
        let patternAlphabet = Array("ab*?[]^-\\".utf8)
        let stringAlphabet = Array("ab*?[]^-\\".utf8)
        var matched = 0
        var disagreements: [(String, String)] = []
        for _ in 0..<40_000 {
            let pattern = (0..<Int.random(in: 0...7, using: &generator)).map { _ in patternAlphabet.randomElement(using: &generator)! }
            let string = (0..<Int.random(in: 0...6, using: &generator)).map { _ in stringAlphabet.randomElement(using: &generator)! }
            let expected = RedisStringMatch.matches(pattern, string)
            if expected { matched += 1 }
            if GlobPattern.matches(pattern: pattern, string) != expected, disagreements.count < 10 {
                disagreements.append((String(decoding: pattern, as: UTF8.self), String(decoding: string, as: UTF8.self)))
            }
        }
        #expect(disagreements.isEmpty, "pattern/string pairs: \(disagreements)")
        #expect(matched > 1000)
    }

    @Test("a pathological pattern ends quickly")
    func pathological() {
        let pattern = Array(String(repeating: "a*", count: 30).utf8) + [UInt8(ascii: "b")]
        let string = [UInt8](repeating: UInt8(ascii: "a"), count: 60)
        let clock = ContinuousClock()
        let elapsed = clock.measure { #expect(!GlobPattern.matches(pattern: pattern, string)) }
        #expect(elapsed < .seconds(2))
    }
}
