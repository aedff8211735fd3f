#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Builds a ``Configuration`` the way redis-server does: an optional file of `directive value`
/// lines, then `--directive value` arguments, later settings winning.
public enum ConfigurationLoader {
    /// Parses the text of a configuration file.
    /// - Parameter source: named in error messages (the file's path).
    public static func apply(fileText: String, source: String, to configuration: inout Configuration) throws(ConfigurationError) {
        var lineNumber = 0
        // "\r\n" is one Character, so it must be named as a separator too (CRLF files).
        for rawLine in fileText.split(omittingEmptySubsequences: false, whereSeparator: { $0 == "\n" || $0 == "\r\n" }) {
            lineNumber += 1
            let line = rawLine.trimmingWhitespace()
            if line.isEmpty || line.hasPrefix("#") { continue }
            let words = splitWords(line)
            guard let name = words.first else { continue }
            guard words.count >= 2 else {
                throw ConfigurationError(directive: name, reason: "missing value (\(source):\(lineNumber))")
            }
            try applyDirective(name, words.dropFirst().joined(separator: " "), source: "\(source):\(lineNumber)", to: &configuration)
        }
    }

    /// Parses command-line arguments: an optional config file path first, then `--name value …`
    /// (a value may span several words until the next `--name`, as redis-server allows).
    public static func load(arguments: [String], readFile: (String) throws -> String = ConfigurationLoader.readFile) throws -> Configuration {
        var configuration = Configuration()
        var rest = arguments[...]
        if let first = rest.first, !first.hasPrefix("--") {
            let text: String
            do { text = try readFile(first) } catch {
                throw ConfigurationError(directive: first, reason: "cannot read configuration file: \(error)")
            }
            try apply(fileText: text, source: first, to: &configuration)
            rest = rest.dropFirst()
        }
        while let word = rest.first {
            rest = rest.dropFirst()
            guard word.hasPrefix("--"), word.count > 2 else {
                throw ConfigurationError(directive: word, reason: "expected --directive value")
            }
            let name = String(word.dropFirst(2))
            var values: [String] = []
            // As redis-server: every `--word` starts a new directive.
            while let next = rest.first, !(next.hasPrefix("--") && next.count > 2) {
                values.append(next)
                rest = rest.dropFirst()
            }
            guard !values.isEmpty || name == "save" else {
                throw ConfigurationError(directive: name, reason: "missing value (command line)")
            }
            try applyDirective(name, values.joined(separator: " "), source: "command line", to: &configuration)
        }
        return configuration
    }

    /// Directives earlier versions had, with what replaced them, so that an old config file
    /// gets a reason rather than "unknown directive".
    static let removedDirectives = [
        "cluster-virtual-nodes": "the ring lays slots out in contiguous blocks, balanced without virtual nodes (docs/cluster.md)",
    ]

    static func applyDirective(_ name: String, _ value: String, source: String, to configuration: inout Configuration) throws(ConfigurationError) {
        guard let directive = Configuration.directive(named: name) else {
            if let why = removedDirectives[name.lowercased()] {
                throw ConfigurationError(directive: name, reason: "no longer exists: \(why) (\(source))")
            }
            throw ConfigurationError(directive: name, reason: "unknown directive (\(source))")
        }
        try directive.apply(value, to: &configuration)
    }

    /// Splits a config line into words, honouring double and single quotes.
    static func splitWords(_ line: Substring) -> [String] {
        var words: [String] = []
        var current = ""
        var quote: Character?
        var hasWord = false
        for c in line {
            if let q = quote {
                if c == q { quote = nil } else { current.append(c) }
            } else if c == "\"" || c == "'" {
                quote = c
                hasWord = true
            } else if c == " " || c == "\t" {
                if hasWord { words.append(current); current = ""; hasWord = false }
            } else {
                current.append(c)
                hasWord = true
            }
        }
        if hasWord { words.append(current) }
        return words
    }

    public static func readFile(_ path: String) throws -> String {
        guard let file = fopen(path, "r") else {
            throw ConfigurationError(directive: path, reason: String(cString: strerror(errno)))
        }
        defer { fclose(file) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = fread(&chunk, 1, chunk.count, file)
            if n <= 0 { break }
            bytes.append(contentsOf: chunk[0..<n])
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}

extension Substring {
    func trimmingWhitespace() -> Substring {
        var s = self
        while let f = s.first, f == " " || f == "\t" || f == "\r" { s = s.dropFirst() }
        while let l = s.last, l == " " || l == "\t" || l == "\r" { s = s.dropLast() }
        return s
    }
}
