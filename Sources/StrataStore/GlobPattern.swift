/// Redis's glob-style patterns for KEYS and SCAN MATCH: `*`, `?`, `[abc]`, `[^a-z]`, and `\` to
/// escape, matched against raw bytes.
public enum GlobPattern {
    public static func matches(pattern: [UInt8], _ string: UnsafeRawBufferPointer) -> Bool {
        // As Redis's stringmatchlen: an empty string matches only the empty pattern (KEYS and
        // SCAN treat the pattern "*" before matching).
        if string.isEmpty { return pattern.isEmpty }
        return pattern.withUnsafeBytes { p in
            var budget = 1_000_000 // bounds pathological patterns such as many stars.
            return match(p, 0, string, 0, &budget)
        }
    }

    public static func matches(pattern: [UInt8], _ string: [UInt8]) -> Bool {
        string.withUnsafeBytes { matches(pattern: pattern, $0) }
    }

    private static func match(_ p: UnsafeRawBufferPointer, _ pi: Int, _ s: UnsafeRawBufferPointer, _ si: Int,
                              _ budget: inout Int) -> Bool {
        var pi = pi, si = si
        budget -= 1
        if budget < 0 { return false }
        while pi < p.count {
            switch p[pi] {
            case UInt8(ascii: "*"):
                while pi + 1 < p.count && p[pi + 1] == UInt8(ascii: "*") { pi += 1 }
                if pi + 1 == p.count { return true }
                var start = si
                while start <= s.count {
                    if match(p, pi + 1, s, start, &budget) { return true }
                    if budget < 0 { return false }
                    start += 1
                }
                return false
            case UInt8(ascii: "?"):
                if si >= s.count { return false }
                si += 1
            case UInt8(ascii: "["):
                if si >= s.count { return false }
                pi += 1
                let negate = pi < p.count && p[pi] == UInt8(ascii: "^")
                if negate { pi += 1 }
                var matched = false
                while true {
                    if pi >= p.count { pi -= 1; break }
                    let c = p[pi]
                    if c == UInt8(ascii: "\\") && pi + 1 < p.count {
                        pi += 1
                        if p[pi] == s[si] { matched = true }
                    } else if c == UInt8(ascii: "]") {
                        break
                    } else if pi + 2 < p.count && p[pi + 1] == UInt8(ascii: "-") {
                        var lo = p[pi], hi = p[pi + 2]
                        if lo > hi { swap(&lo, &hi) }
                        if s[si] >= lo && s[si] <= hi { matched = true }
                        pi += 2
                    } else if c == s[si] {
                        matched = true
                    }
                    pi += 1
                }
                if negate { matched = !matched }
                if !matched { return false }
                si += 1
            case UInt8(ascii: "\\") where pi + 1 < p.count:
                pi += 1
                if si >= s.count || p[pi] != s[si] { return false }
                si += 1
            default:
                if si >= s.count || p[pi] != s[si] { return false }
                si += 1
            }
            pi += 1
        }
        return si == s.count
    }
}
