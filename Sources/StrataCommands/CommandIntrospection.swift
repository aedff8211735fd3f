import StrataRESP

/// COMMAND and its subcommands, all derived from ``CommandTable``.
enum CommandIntrospection {
    static func all(_ c: inout CommandContext) {
        let commands = c.server.commands.commands
        c.reply.arrayHeader(commands.count)
        for spec in commands { writeInfo(spec, &c.reply) }
    }

    static func count(_ c: inout CommandContext) {
        c.reply.integer(c.server.commands.commands.count)
    }

    static func list(_ c: inout CommandContext) {
        if c.arguments.count > 2 { c.syntaxError(); return }
        let names = c.server.commands.commands.flatMap { [$0.name] + $0.subcommands.map(\.name) }
        c.reply.arrayHeader(names.count)
        for name in names { c.reply.bulk(name) }
    }

    static func info(_ c: inout CommandContext) {
        if c.arguments.count == 2 { all(&c); return }
        c.reply.arrayHeader(c.arguments.count - 2)
        for i in 2..<c.arguments.count {
            if let spec = find(c.arguments.string(i), in: c.server.commands) {
                writeInfo(spec, &c.reply)
            } else {
                c.reply.null()
            }
        }
    }

    static func docs(_ c: inout CommandContext) {
        var specs: [CommandSpec] = []
        if c.arguments.count == 2 {
            specs = c.server.commands.commands
        } else {
            for i in 2..<c.arguments.count {
                if let spec = find(c.arguments.string(i), in: c.server.commands) { specs.append(spec) }
            }
        }
        c.reply.mapHeader(specs.count)
        for spec in specs {
            c.reply.bulk(spec.name)
            writeDocs(spec, &c.reply)
        }
    }

    static func getkeys(_ c: inout CommandContext) {
        guard let spec = find(c.arguments.string(2), in: c.server.commands) else {
            c.error("ERR Invalid command specified")
            return
        }
        let count = c.arguments.count - 2
        guard spec.acceptsArgumentCount(count) else {
            c.error("ERR Invalid number of arguments specified for command")
            return
        }
        let commandArguments = c.arguments.slice(2..<c.arguments.count)
        let positions = spec.keyPositions(commandArguments)
        guard !positions.isEmpty else {
            c.error("ERR The command has no key arguments")
            return
        }
        c.reply.arrayHeader(positions.count)
        for position in positions { commandArguments.withBytes(position) { c.reply.bulk($0) } }
    }

    /// A command or `parent|sub` subcommand by name.
    static func find(_ name: String, in lookup: CommandLookup) -> CommandSpec? {
        let parts = name.lowercased().split(separator: "|", maxSplits: 1)
        guard let first = parts.first, let spec = lookup.find(String(first)) else { return nil }
        if parts.count == 1 { return spec }
        return spec.subcommands.first { $0.name == "\(first)|\(parts[1])" }
    }

    static func aclCategories(_ spec: CommandSpec) -> [String] {
        var categories: [String] = []
        if spec.flags.contains(.write) { categories.append("@write") }
        // EVAL_RO's readonly says what its script may do: Redis gives it no @read.
        if spec.flags.contains(.readonly) && spec.group != "scripting" { categories.append("@read") }
        switch spec.group {
        case "string": categories.append("@string")
        case "bitmap": categories.append("@bitmap")
        case "generic": categories.append("@keyspace")
        case "list": categories.append("@list")
        case "hash": categories.append("@hash")
        case "set": categories.append("@set")
        case "sorted-set": categories.append("@sortedset")
        case "connection": categories.append("@connection")
        case "transactions": categories.append("@transaction")
        case "pubsub": categories.append("@pubsub")
        case "scripting" where spec.subcommands.isEmpty: categories.append("@scripting")
        default: break
        }
        if spec.flags.contains(.fast) { categories.append("@fast") } else { categories.append("@slow") }
        if spec.flags.contains(.blocking) { categories.append("@blocking") }
        if spec.flags.contains(.admin) || spec.name == "lastsave" { categories += ["@admin", "@dangerous"] }
        else if dangerous.contains(spec.name) { categories.append("@dangerous") }
        if wholeKeyspace.contains(spec.name) { categories.insert("@keyspace", at: 0) }
        return categories
    }

    /// Redis's @dangerous commands that are not admin commands.
    private static let dangerous: Set<String> = ["flushall", "flushdb", "info", "keys", "restore", "sort", "sort_ro", "migrate", "swapdb"]
    /// Server commands Redis counts in @keyspace.
    private static let wholeKeyspace: Set<String> = ["dbsize", "flushall", "flushdb"]

    static func writeInfo(_ spec: CommandSpec, _ reply: inout RESPReplyWriter) {
        reply.arrayHeader(10)
        reply.bulk(spec.name)
        reply.integer(spec.arity)
        let flags = spec.flags.names
        reply.setHeader(flags.count)
        for flag in flags { reply.simpleString(flag) }
        reply.integer(spec.firstKey)
        reply.integer(spec.lastKey)
        reply.integer(spec.keyStep)
        let categories = aclCategories(spec)
        reply.setHeader(categories.count)
        for category in categories { reply.simpleString(category) }
        reply.arrayHeader(0) // tips
        if spec.firstKey > 0 {
            // One key specification: keys from `firstKey`, a range up to `lastKey`.
            reply.arrayHeader(1)
            reply.mapHeader(4)
            reply.bulk("flags")
            let keyFlags = spec.flags.contains(.write) ? ["RW", "update"] : ["RO", "access"]
            reply.setHeader(keyFlags.count)
            for flag in keyFlags { reply.simpleString(flag) }
            reply.bulk("begin_search")
            reply.mapHeader(2)
            reply.bulk("type"); reply.bulk("index")
            reply.bulk("spec"); reply.mapHeader(1); reply.bulk("index"); reply.integer(spec.firstKey)
            reply.bulk("find_keys")
            reply.mapHeader(2)
            reply.bulk("type"); reply.bulk("range")
            reply.bulk("spec"); reply.mapHeader(3)
            reply.bulk("lastkey"); reply.integer(spec.lastKey < 0 ? spec.lastKey : spec.lastKey - spec.firstKey)
            reply.bulk("keystep"); reply.integer(spec.keyStep)
            reply.bulk("limit"); reply.integer(0)
            reply.bulk("notes"); reply.bulk("")
        } else {
            reply.arrayHeader(0)
        }
        reply.arrayHeader(spec.subcommands.count)
        for sub in spec.subcommands { writeInfo(sub, &reply) }
    }

    static func writeDocs(_ spec: CommandSpec, _ reply: inout RESPReplyWriter) {
        let arguments = CommandSyntax.parse(spec.syntax)
        var fields = 4
        if !arguments.isEmpty { fields += 1 }
        if !spec.subcommands.isEmpty { fields += 1 }
        reply.mapHeader(fields)
        reply.bulk("summary"); reply.bulk(spec.summary)
        reply.bulk("since"); reply.bulk(spec.since)
        reply.bulk("group"); reply.bulk(spec.group)
        reply.bulk("complexity"); reply.bulk(spec.complexity)
        if !arguments.isEmpty {
            reply.bulk("arguments")
            writeArguments(arguments, &reply)
        }
        if !spec.subcommands.isEmpty {
            reply.bulk("subcommands")
            reply.mapHeader(spec.subcommands.count)
            for sub in spec.subcommands {
                reply.bulk(sub.name)
                writeDocs(sub, &reply)
            }
        }
    }

    private static func writeArguments(_ arguments: [CommandSyntax.Argument], _ reply: inout RESPReplyWriter) {
        reply.arrayHeader(arguments.count)
        for argument in arguments {
            var fields = 2
            if argument.token != nil { fields += 1 }
            if !argument.flags.isEmpty { fields += 1 }
            if !argument.children.isEmpty { fields += 1 }
            reply.mapHeader(fields)
            reply.bulk("name"); reply.bulk(argument.name)
            reply.bulk("type"); reply.bulk(argument.type)
            if let token = argument.token { reply.bulk("token"); reply.bulk(token) }
            if !argument.flags.isEmpty {
                reply.bulk("flags")
                reply.arrayHeader(argument.flags.count)
                for flag in argument.flags { reply.simpleString(flag) }
            }
            if !argument.children.isEmpty {
                reply.bulk("arguments")
                writeArguments(argument.children, &reply)
            }
        }
    }
}

/// Parses the argument syntax of Redis's documentation (`key [NX | XX] [EX seconds | KEEPTTL]`,
/// `key [key ...]`) into the argument trees COMMAND DOCS reports, which redis-cli turns into hints.
enum CommandSyntax {
    struct Argument: Equatable {
        var name: String
        var type: String
        var token: String?
        var flags: [String] = []
        var children: [Argument] = []
    }

    static func parse(_ syntax: String) -> [Argument] {
        var tokens = tokenize(syntax)[...]
        return parseSequence(&tokens, until: nil)
    }

    private static func tokenize(_ syntax: String) -> [String] {
        var tokens: [String] = []
        var current = ""
        for ch in syntax {
            if ch == "[" || ch == "]" || ch == "|" || ch == "<" || ch == ">" {
                if !current.isEmpty { tokens.append(current); current = "" }
                tokens.append(String(ch))
            } else if ch == " " {
                if !current.isEmpty { tokens.append(current); current = "" }
            } else {
                current.append(ch)
            }
        }
        if !current.isEmpty { tokens.append(current) }
        return tokens
    }

    private static func isToken(_ word: String) -> Bool {
        word.contains { $0.isLetter } && word == word.uppercased()
    }

    private static func inferType(_ name: String) -> String {
        switch name {
        case "key", "newkey", "source", "destination": return "key"
        case "pattern": return "pattern"
        case "unix-time-seconds", "unix-time-milliseconds": return "unix-time"
        case "seconds", "milliseconds", "increment", "decrement", "offset", "start", "end", "count",
             "cursor", "index", "destination-db", "protover", "client-id",
             "stop", "numkeys", "rank", "num-matches", "len": return "integer"
        default: return "string"
        }
    }

    /// Parses items until `terminator` (or the end); alternatives split by `|` become a oneof.
    private static func parseSequence(_ tokens: inout ArraySlice<String>, until terminator: String?) -> [Argument] {
        var alternatives: [[Argument]] = [[]]
        while let token = tokens.first {
            if token == terminator { break }
            tokens.removeFirst()
            switch token {
            case "|":
                alternatives.append([])
            case "<":
                // `<MIN | MAX>`: a required choice.
                let inner = parseSequence(&tokens, until: ">")
                if tokens.first == ">" { tokens.removeFirst() }
                alternatives[alternatives.count - 1].append(inner.count == 1 ? inner[0]
                    : Argument(name: inner.map(\.name).joined(separator: "-"), type: "block", children: inner))
            case "[":
                var inner = parseSequence(&tokens, until: "]")
                if tokens.first == "]" { tokens.removeFirst() }
                var repeated = false
                // `[key ...]` after `key` marks the preceding argument as multiple.
                if inner.count == 1, inner[0].flags.contains("multiple"), let last = alternatives[alternatives.count - 1].last,
                   last.name == inner[0].name {
                    alternatives[alternatives.count - 1][alternatives[alternatives.count - 1].count - 1].flags.append("multiple")
                    repeated = true
                }
                if !repeated {
                    var argument = inner.count == 1 ? inner.removeFirst()
                        : Argument(name: inner.map(\.name).joined(separator: "-"), type: "block", children: inner)
                    argument.flags.insert("optional", at: 0)
                    alternatives[alternatives.count - 1].append(argument)
                }
            case "...":
                let index = alternatives.count - 1
                if !alternatives[index].isEmpty {
                    let last = alternatives[index].count - 1
                    if !alternatives[index][last].flags.contains("multiple") { alternatives[index][last].flags.append("multiple") }
                }
            default:
                if isToken(token) {
                    if let next = tokens.first, !["[", "]", "|", "...", "<", ">"].contains(next), !isToken(next) {
                        tokens.removeFirst()
                        alternatives[alternatives.count - 1].append(
                            Argument(name: next, type: inferType(next), token: token))
                    } else {
                        alternatives[alternatives.count - 1].append(
                            Argument(name: token.lowercased(), type: "pure-token", token: token))
                    }
                } else {
                    alternatives[alternatives.count - 1].append(Argument(name: token, type: inferType(token)))
                }
            }
        }
        if alternatives.count == 1 { return alternatives[0] }
        let children = alternatives.map { items -> Argument in
            items.count == 1 ? items[0] : Argument(name: items.map(\.name).joined(separator: "-"), type: "block", children: items)
        }
        return [Argument(name: children.map(\.name).joined(separator: "-"), type: "oneof", children: children)]
    }
}
