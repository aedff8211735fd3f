import NIOCore
import StrataConfig
import StrataRESP
import StrataStore

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

enum ServerCommands {
    static func time(_ c: inout CommandContext) {
        let micros = WallClock.microseconds()
        c.reply.arrayHeader(2)
        c.reply.bulkInteger(Int(micros / 1_000_000))
        c.reply.bulkInteger(Int(micros % 1_000_000))
    }

    static func lastsave(_ c: inout CommandContext) {
        c.reply.integer(Int(c.server.coldStorage?.lastSave ?? c.server.startTime / 1000))
    }

    /// SAVE: with L3, waits until every write so far is committed (the reply comes then).
    static func save(_ c: inout CommandContext) {
        guard let cold = c.server.coldStorage, let eventLoop = c.eventLoop else {
            c.error("ERR persistence is disabled (persistence no)")
            return
        }
        var reply = RESPReplyWriter(buffer: ByteBuffer(), version: c.reply.version)
        reply.ok()
        let ok = reply.buffer
        c.deferredReply = cold.save(on: eventLoop).map { _ in ok }
    }

    /// BGSAVE: commits everything pending in the background.
    static func bgsave(_ c: inout CommandContext) {
        if c.arguments.count > 2 || (c.arguments.count == 2 && !c.arguments.matches(1, "SCHEDULE")) {
            c.syntaxError()
            return
        }
        guard let cold = c.server.coldStorage, let eventLoop = c.eventLoop else {
            c.error("ERR persistence is disabled (persistence no)")
            return
        }
        _ = cold.save(on: eventLoop)
        c.reply.simpleString("Background saving started")
    }

    static func shutdown(_ c: inout CommandContext) {
        var abort = false
        for j in 1..<max(1, c.arguments.count) {
            if c.arguments.matches(j, "ABORT") { abort = true }
            else if c.arguments.matches(j, "NOSAVE") || c.arguments.matches(j, "SAVE")
                        || c.arguments.matches(j, "NOW") || c.arguments.matches(j, "FORCE") { continue }
            else { c.syntaxError(); return }
        }
        if abort {
            c.error("ERR No shutdown in progress.")
            return
        }
        // Like Redis, a successful SHUTDOWN sends no reply: the connection just closes.
        c.client.closeAfterReply = true
        c.server.hooks.shutdown()
    }

    // MARK: - CONFIG

    static func configGet(_ c: inout CommandContext) {
        let configuration = c.server.configuration
        var seen = Set<String>()
        var pairs: [(String, String)] = []
        for i in 2..<c.arguments.count {
            let pattern = c.arguments.bytes(i).map { $0 >= 65 && $0 <= 90 ? $0 + 32 : $0 }
            for directive in Configuration.directives where !seen.contains(directive.name) {
                if GlobPattern.matches(pattern: pattern, Array(directive.name.utf8)) {
                    seen.insert(directive.name)
                    pairs.append((directive.name, directive.value(in: configuration)))
                }
            }
        }
        c.reply.mapHeader(pairs.count)
        for (name, value) in pairs {
            c.reply.bulk(name)
            c.reply.bulk(value)
        }
    }

    static func configSet(_ c: inout CommandContext) {
        guard c.arguments.count % 2 == 0 else { c.wrongArity(); return }
        var changes: [(Directive, String)] = []
        for i in stride(from: 2, to: c.arguments.count, by: 2) {
            let name = c.arguments.string(i)
            guard let directive = Configuration.directive(named: name) else {
                c.error("ERR Unknown option or number of arguments for CONFIG SET - '", quoting: c.arguments.bytes(i), "'")
                return
            }
            guard directive.mutable else {
                c.error("ERR CONFIG SET failed (possibly related to argument '\(directive.name)') - can't set immutable config")
                return
            }
            if changes.contains(where: { $0.0.name == directive.name }) {
                c.error("ERR CONFIG SET failed (possibly related to argument '\(directive.name)') - duplicate parameter")
                return
            }
            changes.append((directive, c.arguments.string(i + 1)))
        }
        var failure: String?
        var updated = c.server.configuration
        for (directive, value) in changes {
            do {
                try directive.apply(value, to: &updated)
            } catch {
                failure = "ERR CONFIG SET failed (possibly related to argument '\(directive.name)') - \(error.reason)"
                break
            }
        }
        if let failure { c.error(failure); return }
        c.server.updateConfiguration(evict: !c.shardsLocked) { configuration in
            for (directive, value) in changes { try? directive.apply(value, to: &configuration) }
        }
        c.reply.ok()
    }

    static func configResetStat(_ c: inout CommandContext) {
        c.server.statistics.reset()
        c.server.recorder.reset()
        if c.shardsLocked {
            for shard in c.keyspace.shards { shard.resetStatisticsLocked() }
        } else {
            c.keyspace.resetStatistics()
        }
        c.reply.ok()
    }

    static func configRewrite(_ c: inout CommandContext) {
        c.error("ERR The server is running without a config file")
    }

    static func configHelp(_ c: inout CommandContext) {
        let lines = [
            "GET <pattern>", "    Return parameters matching the glob-like <pattern> and their values.",
            "SET <directive> <value>", "    Set the configuration <directive> to <value>.",
            "RESETSTAT", "    Reset statistics reported by the INFO command.",
            "REWRITE", "    Rewrite the configuration file.",
        ]
        CommandHelp.reply(&c, command: "CONFIG", lines)
    }

    // MARK: - INFO

    /// Every section, in Redis's order (`all` and `everything`); `default` leaves out
    /// commandstats and latencystats, as Redis does.
    static let allSections = ["server", "clients", "memory", "persistence", "stats", "replication", "cpu", "tiers",
                              "commandstats", "errorstats", "latencystats", "cluster", "keyspace"]
    static let defaultSections = allSections.filter { $0 != "commandstats" && $0 != "latencystats" }

    static func info(_ c: inout CommandContext) {
        var sections: [String] = []
        if c.arguments.count == 1 {
            sections = defaultSections
        } else {
            for i in 1..<c.arguments.count {
                let name = c.arguments.string(i).lowercased()
                switch name {
                case "all", "everything": sections.append(contentsOf: allSections)
                case "default": sections.append(contentsOf: defaultSections)
                default: sections.append(name)
                }
            }
        }
        var seen = Set<String>()
        var text = ""
        for section in sections where !seen.contains(section) {
            seen.insert(section)
            guard let body = infoSection(section, &c) else { continue }
            if !text.isEmpty { text += "\r\n" }
            text += body
        }
        c.reply.verbatim(text)
    }

    private static func humanBytes(_ n: Int) -> String {
        let units: [(Double, String)] = [(1_073_741_824, "G"), (1_048_576, "M"), (1024, "K")]
        for (size, unit) in units where Double(n) >= size {
            return String(format2(Double(n) / size)) + unit
        }
        return "\(n)B"
    }

    private static func format2(_ value: Double) -> String {
        let scaled = (value * 100).rounded()
        let whole = Int(scaled) / 100
        let fraction = Int(scaled) % 100
        return "\(whole).\(fraction < 10 ? "0" : "")\(fraction)"
    }

    static func residentBytes() -> Int {
        guard let file = fopen("/proc/self/statm", "r") else { return 0 }
        defer { fclose(file) }
        var size = 0, resident = 0
        guard withUnsafeMutablePointer(to: &size, { sizePointer in
            withUnsafeMutablePointer(to: &resident) { residentPointer in
                withVaList([sizePointer, residentPointer]) { vfscanf(file, "%ld %ld", $0) }
            }
        }) == 2 else { return 0 }
        return resident * Int(sysconf(Int32(_SC_PAGESIZE)))
    }

    private static func infoSection(_ name: String, _ c: inout CommandContext) -> String? {
        let server = c.server
        let configuration = server.configuration
        let locked = c.shardsLocked
        func lines(_ title: String, _ fields: [(String, String)]) -> String {
            "# \(title)\r\n" + fields.map { "\($0.0):\($0.1)\r\n" }.joined()
        }
        let now = c.now
        switch name {
        case "server":
            let uptime = Int((now - server.startTime) / 1000)
            return lines("Server", [
                ("redis_version", redisCompatibilityVersion), ("strata_version", strataVersion),
                ("redis_git_sha1", "00000000"), ("redis_git_dirty", "0"), ("redis_build_id", "0"),
                ("redis_mode", server.clusterRedirects ? "cluster" : "standalone"), ("os", "Linux"), ("arch_bits", "64"),
                ("multiplexing_api", "epoll"), ("process_id", String(getpid())), ("run_id", server.runID),
                ("tcp_port", String(server.listeningPort.load(ordering: .relaxed))),
                ("server_time_usec", String(WallClock.microseconds())),
                ("uptime_in_seconds", String(uptime)), ("uptime_in_days", String(uptime / 86400)),
                ("hz", String(configuration.hz)), ("configured_hz", String(configuration.hz)),
                ("io_threads_active", "0"),
            ])
        case "clients":
            let memory = server.clients.memory()
            return lines("Clients", [
                ("connected_clients", String(server.clients.count)), ("cluster_connections", "0"),
                ("maxclients", String(configuration.maxClients)),
                ("client_recent_max_input_buffer", String(memory.largestQueryBuffer)),
                ("client_recent_max_output_buffer", String(memory.largestOutput)), ("blocked_clients", String(c.keyspace.blocked.count)),
                ("tracking_clients", String(server.tracker.totalClients)), ("clients_in_timeout_table", "0"),
            ])
        case "memory":
            // used_memory counts the clients' buffers (as measured by the last cron tick), as
            // Redis's does, and maxmemory bounds both.
            let dataset = c.keyspace.datasetMemory
            let clients = c.keyspace.clientMemory
            let used = dataset + clients
            let rss = residentBytes()
            return lines("Memory", [
                ("used_memory", String(used)), ("used_memory_human", humanBytes(used)),
                ("used_memory_rss", String(rss)), ("used_memory_rss_human", humanBytes(rss)),
                ("used_memory_dataset", String(dataset)), ("mem_clients_normal", String(clients)),
                ("maxmemory", String(configuration.maxMemory)), ("maxmemory_human", humanBytes(configuration.maxMemory)),
                ("maxmemory_policy", configuration.maxMemoryPolicy.rawValue),
                ("maxmemory_clients", String(configuration.maxMemoryClients.limit(maxMemory: configuration.maxMemory))),
                ("mem_fragmentation_ratio", used > 0 ? format2(Double(rss) / Double(used)) : "0.00"),
                ("mem_allocator", "libc"),
            ])
        case "persistence":
            if let cold = server.coldStorage {
                return lines("Persistence", cold.infoFields())
            }
            return lines("Persistence", [
                ("loading", "0"), ("async_loading", "0"), ("rdb_changes_since_last_save", "0"),
                ("rdb_bgsave_in_progress", "0"), ("rdb_last_save_time", String(server.startTime / 1000)),
                ("rdb_last_bgsave_status", "ok"), ("aof_enabled", "0"), ("aof_rewrite_in_progress", "0"),
                ("aof_last_write_status", "ok"), ("l3_enabled", "0"),
            ])
        case "stats":
            let stats = c.keyspace.statistics(locked: locked)
            let s = server.statistics
            return lines("Stats", [
                ("total_connections_received", String(s.connectionsReceived.load(ordering: .relaxed))),
                ("total_commands_processed", String(s.commandsProcessed.load(ordering: .relaxed))),
                ("instantaneous_ops_per_sec", "0"),
                ("total_net_input_bytes", String(s.netInputBytes.load(ordering: .relaxed))),
                ("total_net_output_bytes", String(s.netOutputBytes.load(ordering: .relaxed))),
                ("rejected_connections", String(s.rejectedConnections.load(ordering: .relaxed))),
                ("expired_keys", String(stats.expiredKeys)), ("evicted_keys", String(stats.evictedKeys)),
                ("keyspace_hits", String(stats.keyspaceHits)), ("keyspace_misses", String(stats.keyspaceMisses)),
                ("pubsub_channels", String(server.pubsub.count(.channel))),
                ("pubsub_patterns", String(server.pubsub.count(.pattern))),
                ("pubsubshard_channels", String(server.pubsub.count(.shardChannel))),
                ("tracking_total_keys", String(server.tracker.totalKeys)),
                ("tracking_total_items", String(server.tracker.totalItems)),
                ("tracking_total_prefixes", String(server.tracker.totalPrefixes)),
                ("total_error_replies", String(s.errorReplies.load(ordering: .relaxed))),
                ("evicted_clients", String(s.evictedClients.load(ordering: .relaxed))),
                ("client_output_buffer_limit_disconnections", String(s.outputBufferLimitDisconnections.load(ordering: .relaxed)
                                                                    + server.pubsub.limitDisconnections.load(ordering: .relaxed))),
            ])
        case "replication":
            return lines("Replication", [
                ("role", "master"), ("connected_slaves", "0"), ("master_failover_state", "no-failover"),
                ("master_replid", server.runID), ("master_repl_offset", "0"),
            ])
        case "cpu":
            var usage = rusage()
            getrusage(__rusage_who_t(RUSAGE_SELF.rawValue), &usage)
            func seconds(_ t: timeval) -> String {
                let micros = Int(t.tv_usec)
                return "\(t.tv_sec).\(String(repeating: "0", count: 6 - String(micros).count))\(micros)"
            }
            return lines("CPU", [("used_cpu_sys", seconds(usage.ru_stime)), ("used_cpu_user", seconds(usage.ru_utime))])
        case "tiers":
            let stats = c.keyspace.statistics(locked: locked)
            var fields: [(String, String)] = []
            for (prefix, tier) in [("l1", stats.l1), ("l2", stats.l2)] {
                fields += [
                    ("\(prefix)_keys", String(tier.keys)), ("\(prefix)_bytes", String(tier.bytes)),
                    ("\(prefix)_hits", String(tier.hits)), ("\(prefix)_misses", String(tier.misses)),
                    ("\(prefix)_promotions", String(tier.promotions)), ("\(prefix)_demotions", String(tier.demotions)),
                    ("\(prefix)_evictions", String(tier.evictions)),
                ]
            }
            let l1Budget = configuration.maxMemory / 100 * configuration.l1Share
            fields += [
                ("l1_budget_bytes", String(l1Budget)), ("memory_budget_bytes", String(configuration.maxMemory)),
                // L3: keys whose value is only on disk (their in-memory index), reads served from
                // disk, and values moved out of memory because L3 holds them.
                ("l3_index_keys", String(stats.l3IndexKeys)), ("l3_index_bytes", String(stats.l3IndexBytes)),
                ("l3_hits", String(stats.l3Hits)), ("l3_demotions", String(stats.demotedToL3)),
            ]
            return lines("Tiers", fields)
        case "cluster":
            let recovery = (server.router as? any ClusterIntrospection)?.clusterSnapshot().recovery.fields ?? []
            // This node's own keys, every database (in proxy mode INFO keyspace counts the ring).
            let own = c.keyspace.databaseSizes(locked: locked).reduce(0) { $0 + $1.keys }
            return lines("Cluster", [("cluster_enabled", server.clusterRedirects ? "1" : "0")] + recovery
                         + (server.router == nil ? [] : [("cluster_node_keys", String(own))]))
        case "commandstats":
            return lines("Commandstats", DiagnosticCommands.commandstats(server))
        case "errorstats":
            return lines("Errorstats", DiagnosticCommands.errorstats(server))
        case "latencystats":
            return lines("Latencystats", DiagnosticCommands.latencystats(server))
        case "keyspace":
            let sizes = c.keyspace.databaseSizes(locked: locked)
            var fields: [(String, String)] = []
            for (db, size) in sizes.enumerated() where size.keys > 0 {
                fields.append(("db\(db)", "keys=\(size.keys),expires=\(size.volatile),avg_ttl=0"))
            }
            return lines("Keyspace", fields)
        default:
            return nil
        }
    }
}
