import Testing
@testable import StrataConfig

@Suite("Configuration")
struct ConfigurationTests {
    @Test("defaults are Redis's")
    func defaults() throws {
        let c = Configuration()
        #expect(c.port == 6379)
        #expect(c.bind == ["127.0.0.1"])
        #expect(c.requirePass == "")
        #expect(c.databases == 16)
        #expect(c.maxClients == 10000)
        #expect(c.timeout == 0)
        #expect(c.logLevel == .notice)
        #expect(c.protoMaxBulkLength == 512 * 1024 * 1024)
        #expect(c.clientQueryBufferLimit == 1024 * 1024 * 1024)
        #expect(c.maxMemory == 0)
        #expect(c.maxMemoryPolicy == .allkeysLRU)
        #expect(c.hz == 10)
        #expect(c.appendOnly == false)
        #expect(try ConfigurationLoader.load(arguments: []) == c)
    }

    @Test("every directive prints the value it was given")
    func directivesRoundTrip() throws {
        var c = Configuration()
        let names = Configuration.directives.map(\.name)
        #expect(Set(names).count == names.count, "directive names are unique")
        for directive in Configuration.directives {
            let value = directive.value(in: c)
            try directive.apply(value, to: &c)
            #expect(directive.value(in: c) == value, "\(directive.name)")
        }
        #expect(Configuration.directive(named: "MaxMemory")?.name == "maxmemory")
        #expect(Configuration.directive(named: "nosuch") == nil)
    }

    @Test("memory units: k and m and g are powers of 1000, kb and mb and gb of 1024", arguments: [
        ("0", 0), ("1", 1), ("100b", 100), ("1k", 1000), ("1K", 1000), ("1kb", 1024), ("1KB", 1024),
        ("2m", 2_000_000), ("2mb", 2 * 1024 * 1024), ("1g", 1_000_000_000), ("1gb", 1 << 30), ("3Gb", 3 << 30),
        ("-1", nil), ("1.5gb", nil), ("abc", nil), ("1tb", nil), ("gb", nil), ("", nil), ("10 mb", nil),
        ("9223372036854775807", Int.max), ("9223372036854775807k", nil), ("99999999999gb", nil),
    ] as [(String, Int?)])
    func memoryUnits(_ text: String, _ expected: Int?) {
        #expect(MemoryUnits.parse(text) == expected)
    }

    @Test("a configuration file with CRLF line endings, as Redis accepts")
    func crlfFile() throws {
        var c = Configuration()
        try ConfigurationLoader.apply(fileText: "port 7000\r\nmaxmemory 1mb\r\n# note\r\nhz 50\r\n", source: "win.conf", to: &c)
        #expect(c.port == 7000)
        #expect(c.maxMemory == 1 << 20)
        #expect(c.hz == 50)
    }

    @Test("a configuration file: comments, blank lines, quotes, later lines win")
    func file() throws {
        let text = """
            # Strata test configuration
            port 7000

               bind 127.0.0.1 ::1
            requirepass "secret with spaces"
            dir '/var/lib/strata data'
            save ""
            maxmemory 100mb
            MAXMEMORY-POLICY volatile-ttl
            appendonly no
            loglevel WARNING
            port 7001
            """
        var c = Configuration()
        try ConfigurationLoader.apply(fileText: text, source: "strata.conf", to: &c)
        #expect(c.port == 7001)
        #expect(c.bind == ["127.0.0.1", "::1"])
        #expect(c.requirePass == "secret with spaces")
        #expect(c.dir == "/var/lib/strata data")
        #expect(c.save == "")
        #expect(c.maxMemory == 100 * 1024 * 1024)
        #expect(c.maxMemoryPolicy == .volatileTTL)
        #expect(c.logLevel == .warning)
    }

    @Test("file errors name the directive, the file and the line")
    func fileErrors() {
        var c = Configuration()
        #expect(throws: ConfigurationError(directive: "nosuch", reason: "unknown directive (a.conf:3)")) {
            try ConfigurationLoader.apply(fileText: "port 1\n# comment\nnosuch 1\n", source: "a.conf", to: &c)
        }
        #expect(throws: ConfigurationError(directive: "port", reason: "missing value (a.conf:2)")) {
            try ConfigurationLoader.apply(fileText: "\nport\n", source: "a.conf", to: &c)
        }
        #expect(throws: ConfigurationError(directive: "port", reason: "argument couldn't be parsed into an integer")) {
            try ConfigurationLoader.apply(fileText: "port seven\n", source: "a.conf", to: &c)
        }
        let error = ConfigurationError(directive: "port", reason: "missing value (a.conf:2)")
        #expect(error.description == "'port': missing value (a.conf:2)")
    }

    @Test("command line: --name value, multi-word values, a file first, later settings win")
    func commandLine() throws {
        let c = try ConfigurationLoader.load(arguments: [
            "--port", "7002", "--save", "900", "1", "300", "10", "--bind", "0.0.0.0", "::", "--maxmemory", "1gb",
        ])
        #expect(c.port == 7002)
        #expect(c.save == "900 1 300 10")
        #expect(c.bind == ["0.0.0.0", "::"])
        #expect(c.maxMemory == 1 << 30)

        let emptySave = try ConfigurationLoader.load(arguments: ["--save", "--port", "1"])
        #expect(emptySave.save == "")
        #expect(emptySave.port == 1)

        let withFile = try ConfigurationLoader.load(arguments: ["/etc/strata.conf", "--port", "9"]) { path in
            #expect(path == "/etc/strata.conf")
            return "port 8\nhz 20\n"
        }
        #expect(withFile.port == 9)
        #expect(withFile.hz == 20)
    }

    @Test("command-line errors name the directive")
    func commandLineErrors() {
        #expect(throws: ConfigurationError(directive: "nosuch", reason: "unknown directive (command line)")) {
            try ConfigurationLoader.load(arguments: ["--nosuch", "1"])
        }
        #expect(throws: ConfigurationError(directive: "port", reason: "missing value (command line)")) {
            try ConfigurationLoader.load(arguments: ["--port"])
        }
        #expect(throws: ConfigurationError(directive: "b.conf", reason: "expected --directive value")) {
            try ConfigurationLoader.load(arguments: ["a.conf", "b.conf"]) { _ in "" }
        }
        #expect(throws: ConfigurationError.self) {
            try ConfigurationLoader.load(arguments: ["missing.conf"]) { _ in throw ConfigurationError(directive: "x", reason: "y") }
        }
    }

    @Test("bad values are rejected with Redis's CONFIG SET wording", arguments: [
        ("port", "abc", "argument couldn't be parsed into an integer"),
        ("port", "65536", "argument must be between 0 and 65535 inclusive"),
        ("port", "-1", "argument must be between 0 and 65535 inclusive"),
        ("timeout", "-1", "argument must be between 0 and 2147483647 inclusive"),
        ("databases", "0", "argument must be between 1 and 256 inclusive"),
        ("maxmemory", "abc", "argument must be a memory value"),
        ("maxmemory", "-1", "argument must be a memory value"),
        ("maxmemory", "1.5gb", "argument must be a memory value"),
        ("proto-max-bulk-len", "1000", "argument must be between 1048576 and 9223372036854775807 inclusive"),
        ("appendonly", "maybe", "argument(s) must be one of the following: no"),
        ("maxmemory-policy", "lru", "argument(s) must be one of the following: noeviction, allkeys-lru, volatile-lru, allkeys-random, volatile-random, volatile-ttl"),
        ("loglevel", "loud", "argument(s) must be one of the following: debug, verbose, notice, warning, nothing"),
    ])
    func badValues(_ name: String, _ value: String, _ reason: String) {
        var c = Configuration()
        #expect(throws: ConfigurationError(directive: name, reason: reason)) {
            try Configuration.directive(named: name)!.apply(value, to: &c)
        }
        #expect(c == Configuration(), "a rejected value changes nothing")
    }
}

@Suite("client memory limits")
struct ClientLimitSettingsTests {
    @Test("client-output-buffer-limit: classes named replace theirs, others stay; Redis's errors")
    func outputBufferLimit() throws {
        var c = Configuration()
        #expect(c.clientOutputBufferLimit.description == "normal 0 0 0 slave 268435456 67108864 60 pubsub 33554432 8388608 60")
        try Configuration.directive(named: "client-output-buffer-limit")!.apply("normal 1mb 512kb 10 replica 1 2 3", to: &c)
        #expect(c.clientOutputBufferLimit.normal == OutputBufferLimit(hard: 1 << 20, soft: 512 << 10, softSeconds: 10))
        #expect(c.clientOutputBufferLimit.replica == OutputBufferLimit(hard: 1, soft: 2, softSeconds: 3))
        #expect(c.clientOutputBufferLimit.pubsub == OutputBufferLimit(hard: 32 << 20, soft: 8 << 20, softSeconds: 60))
        for (text, reason) in [("normal 1 2", "Wrong number of arguments in buffer limit configuration."),
                               ("other 1 2 3", "Invalid client class specified in buffer limit configuration."),
                               ("pubsub 1 x 3", "Error in hard, soft or soft_seconds setting in buffer limit configuration.")] {
            #expect(throws: ConfigurationError(directive: "client-output-buffer-limit", reason: reason)) {
                try Configuration.directive(named: "client-output-buffer-limit")!.apply(text, to: &c)
            }
        }
    }

    @Test("maxmemory-clients: bytes or a percentage of maxmemory")
    func maxMemoryClients() throws {
        var c = Configuration()
        let directive = Configuration.directive(named: "maxmemory-clients")!
        try directive.apply("10%", to: &c)
        #expect(c.maxMemoryClients == .percentOfMaxMemory(10))
        #expect(c.maxMemoryClients.limit(maxMemory: 1000) == 100)
        try directive.apply("2mb", to: &c)
        #expect(directive.value(in: c) == "2097152")
        #expect(throws: ConfigurationError.self) { try directive.apply("0%", to: &c) }
        #expect(throws: ConfigurationError.self) { try directive.apply("abc", to: &c) }
    }
}

@Suite("cluster-nodes addresses")
struct ClusterNodeAddressTests {
    @Test("a host with '@' or a space is refused (it would print as another address)", arguments: [
        "12@7.0.0.1:7001@1", "a b:7000", "host\u{0}:7000", "@:7000",
    ])
    func refusesOddHosts(_ text: String) {
        #expect(throws: ClusterNodeAddress.ParseError.self) { try ClusterNodeAddress.parse(text).get() }
    }

    @Test("every list that parses prints as a list that parses to the same nodes", arguments: [
        "127.0.0.1:7000,127.0.0.1:7001@2", "localhost:1 node-2.example:65535@100", "::1:7000,[::1]:7001",
    ])
    func printsBack(_ text: String) throws {
        let nodes = try ClusterNodeAddress.parseList(text).get()
        let printed = nodes.map(\.description).joined(separator: ",")
        #expect(try ClusterNodeAddress.parseList(printed).get() == nodes)
    }
}
