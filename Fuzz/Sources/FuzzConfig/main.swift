import CFuzzer
import Glibc
import StrataConfig

/// Reads the input as a configuration file: it applies or throws a ConfigurationError, never
/// traps; a configuration that applied prints back values that apply again to the same result.
func fuzzConfig(_ start: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    guard let start, count > 0 else { return 0 }
    let text = String(decoding: UnsafeRawBufferPointer(start: start, count: count), as: UTF8.self)
    var configuration = Configuration()
    guard (try? ConfigurationLoader.apply(fileText: text, source: "fuzz", to: &configuration)) != nil else { return 0 }
    var again = Configuration()
    for directive in Configuration.directives {
        let value = directive.value(in: configuration)
        do {
            try directive.apply(value, to: &again)
        } catch {
            preconditionFailure("\(directive.name) printed \(value.debugDescription), which does not apply: \(error)")
        }
    }
    precondition(again == configuration, "printing and applying again changed the configuration")
    return 0
}

var arguments = CommandLine.argc
var argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = CommandLine.unsafeArgv
exit(LLVMFuzzerRunDriver(&arguments, &argv) { data, size in fuzzConfig(data, size) })
