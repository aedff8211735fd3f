import CFuzzer
import Glibc
import StrataStore

/// Matches a pattern against a string (the input split at its first zero byte); also checks
/// that `*` matches every non-empty string and a pattern without special characters matches
/// only itself.
func fuzzGlob(_ start: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    guard let start, count > 0 else { return 0 }
    let bytes = Array(UnsafeRawBufferPointer(start: start, count: count))
    let cut = bytes.firstIndex(of: 0) ?? bytes.count
    let pattern = Array(bytes[..<cut])
    let string = cut < bytes.count ? Array(bytes[(cut + 1)...]) : []
    _ = GlobPattern.matches(pattern: pattern, string)
    // (As in Redis, an empty string matches only the empty pattern; KEYS treats `*` before.)
    precondition(string.isEmpty || GlobPattern.matches(pattern: Array("*".utf8), string))
    if !pattern.contains(where: { "*?[\\".utf8.contains($0) }) {
        precondition(GlobPattern.matches(pattern: pattern, string) == (pattern == string))
    }
    return 0
}

var arguments = CommandLine.argc
var argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = CommandLine.unsafeArgv
exit(LLVMFuzzerRunDriver(&arguments, &argv) { data, size in fuzzGlob(data, size) })
