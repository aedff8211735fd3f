import NIOCore
import StrataConfig
import StrataRESP

/// SLOWLOG, LATENCY, and INFO's commandstats, errorstats and latencystats sections, read from
/// the server's ``CommandRecorder``.
enum DiagnosticCommands {
    private static let server = "server"

    static let table: [CommandSpec] = [
        CommandSpec("slowlog", arity: -2, flags: [], group: server, since: "2.2.12", complexity: "Depends on subcommand.",
                    summary: "A container for slow log commands", subcommands: [
            CommandSpec("slowlog|get", arity: -2, flags: [.admin, .loading, .stale], group: server, since: "2.2.12",
                        complexity: "O(N) where N is the number of entries returned",
                        summary: "Get the slow log's entries", syntax: "[count]", handler: slowlogGet),
            CommandSpec("slowlog|len", arity: 2, flags: [.admin, .loading, .stale], group: server, since: "2.2.12",
                        summary: "Get the slow log's length", handler: slowlogLen),
            CommandSpec("slowlog|reset", arity: 2, flags: [.admin, .loading, .stale], group: server, since: "2.2.12",
                        complexity: "O(N) where N is the number of entries in the slowlog",
                        summary: "Clear all entries from the slow log", handler: slowlogReset),
            CommandSpec("slowlog|help", arity: 2, flags: [.loading, .stale], group: server, since: "6.2.0",
                        summary: "Show helpful text about the different subcommands", handler: slowlogHelp),
        ], handler: nil),
        CommandSpec("latency", arity: -2, flags: [], group: server, since: "2.8.13", complexity: "Depends on subcommand.",
                    summary: "A container for latency diagnostics commands", subcommands: [
            CommandSpec("latency|latest", arity: 2, flags: [.admin, .noScript, .loading, .stale], group: server, since: "2.8.13",
                        summary: "Return the latest latency samples for all events.", handler: latencyLatest),
            CommandSpec("latency|history", arity: 3, flags: [.admin, .noScript, .loading, .stale], group: server, since: "2.8.13",
                        summary: "Return timestamp-latency samples for the event.", syntax: "event", handler: latencyHistory),
            CommandSpec("latency|reset", arity: -2, flags: [.admin, .noScript, .loading, .stale], group: server, since: "2.8.13",
                        summary: "Reset latency data for one or more events.", syntax: "[event [event ...]]",
                        handler: latencyReset),
            CommandSpec("latency|doctor", arity: 2, flags: [.admin, .noScript, .loading, .stale], group: server, since: "2.8.13",
                        summary: "Return a human readable latency analysis report.", handler: latencyDoctor),
            CommandSpec("latency|histogram", arity: -2, flags: [.admin, .noScript, .loading, .stale], group: server,
                        since: "7.0.0",
                        complexity: "O(N) where N is the number of commands with latency information being retrieved.",
                        summary: "Return the cumulative distribution of latencies of a subset of commands or all.",
                        syntax: "[command [command ...]]", handler: latencyHistogram),
            CommandSpec("latency|help", arity: 2, flags: [.loading, .stale], group: server, since: "2.8.13",
                        summary: "Show helpful text about the different subcommands.", handler: latencyHelp),
        ], handler: nil),
    ]

    // MARK: - SLOWLOG

    static func slowlogGet(_ c: inout CommandContext) {
        var count = 10
        if c.arguments.count == 3 {
            guard let n = c.arguments.integer(2), n >= -1 else {
                c.error("ERR count should be greater than or equal to -1")
                return
            }
            count = n == -1 ? Int.max : n
        } else if c.arguments.count > 3 {
            c.error("ERR unknown subcommand or wrong number of arguments for '", quoting: c.arguments.bytes(1), "'. Try SLOWLOG HELP.")
            return
        }
        let entries = c.server.recorder.slowlog.withLockedValue { log in
            Array(log.entries.reversed().prefix(count))
        }
        c.reply.arrayHeader(entries.count)
        for entry in entries {
            c.reply.arrayHeader(6)
            c.reply.integer(entry.id)
            c.reply.integer(entry.time)
            c.reply.integer(entry.microseconds)
            c.reply.arrayHeader(entry.arguments.count)
            for argument in entry.arguments { c.reply.bulk(argument) }
            c.reply.bulk(entry.address)
            c.reply.bulk(entry.name)
        }
    }

    static func slowlogLen(_ c: inout CommandContext) {
        c.reply.integer(c.server.recorder.slowlog.withLockedValue { $0.entries.count })
    }

    static func slowlogReset(_ c: inout CommandContext) {
        c.server.recorder.slowlog.withLockedValue { $0.reset() }
        c.reply.ok()
    }

    static func slowlogHelp(_ c: inout CommandContext) {
        CommandHelp.reply(&c, command: "SLOWLOG", [
            "GET [<count>]",
            "    Return top <count> entries from the slowlog (default: 10, -1 mean all).",
            "    Entries are made of:",
            "    id, timestamp, time in microseconds, arguments array, client IP and port,",
            "    client name",
            "LEN",
            "    Return the length of the slowlog.",
            "RESET",
            "    Reset the slowlog.",
        ])
    }

    // MARK: - LATENCY

    static func latencyLatest(_ c: inout CommandContext) {
        let events = c.server.recorder.latency.withLockedValue { $0.events }.sorted { $0.key < $1.key }
        c.reply.arrayHeader(events.count)
        for (name, series) in events {
            c.reply.arrayHeader(4)
            c.reply.bulk(name)
            c.reply.integer(series.samples.last?.time ?? 0)
            c.reply.integer(series.samples.last?.milliseconds ?? 0)
            c.reply.integer(series.max)
        }
    }

    static func latencyHistory(_ c: inout CommandContext) {
        let name = c.arguments.string(2)
        let samples = c.server.recorder.latency.withLockedValue { $0.events[name]?.samples } ?? []
        c.reply.arrayHeader(samples.count)
        for sample in samples {
            c.reply.arrayHeader(2)
            c.reply.integer(sample.time)
            c.reply.integer(sample.milliseconds)
        }
    }

    static func latencyReset(_ c: inout CommandContext) {
        let names = (2..<max(2, c.arguments.count)).map { c.arguments.string($0) }
        c.reply.integer(c.server.recorder.latency.withLockedValue { $0.reset(names) })
    }

    /// A short report in the manner of Redis's `latency.c` (its advice is not reproduced).
    static func latencyDoctor(_ c: inout CommandContext) {
        let events = c.server.recorder.latency.withLockedValue { $0.events }.sorted { $0.key < $1.key }
        guard c.server.configuration.latencyMonitorThreshold > 0 else {
            c.reply.verbatim("I'm sorry, Dave, I can't do that. Latency monitoring is disabled in this Redis instance. You may use \"CONFIG SET latency-monitor-threshold <milliseconds>.\" in order to enable it. If we weren't in a deep space mission I'd suggest to take a look at https://redis.io/topics/latency-monitor.\n")
            return
        }
        guard !events.isEmpty else {
            c.reply.verbatim("Dave, no latency spike was observed during the lifetime of this Redis instance, not in the slightest bit. I honestly think you ought to sit down calmly, take a stress pill, and think things over.\n")
            return
        }
        var text = "Dave, I have observed latency spikes in this Redis instance. You don't mind talking about it, do you Dave?\n\n"
        for (number, (name, series)) in events.enumerated() {
            let values = series.samples.map(\.milliseconds)
            let average = values.isEmpty ? 0 : values.reduce(0, +) / values.count
            let deviation = values.isEmpty ? 0 : values.map { abs($0 - average) }.reduce(0, +) / values.count
            let period = series.samples.count > 1
                ? Double(series.samples.last!.time - series.samples.first!.time) / Double(series.samples.count - 1) : 0
            text += "\(number + 1). \(name): \(values.count) latency spikes (average \(average)ms, mean deviation \(deviation)ms, "
                + "period \(String(format2: period)) sec). Worst all time event \(series.max)ms.\n"
        }
        text += "\nI have a few advices for you:\n\n"
        text += "- Check your Slow Log to understand what are the commands you are running which are too slow to execute. "
            + "Please check https://redis.io/commands/slowlog for more information.\n"
        if events.contains(where: { $0.key.hasPrefix("l3-") }) {
            text += "- L3 (SQLite) commits or fsyncs are slow: check the disk, or consider l3-fsync everysec.\n"
        }
        c.reply.verbatim(text)
    }

    /// Redis 7's reply: a map from command name to `calls` and `histogram_usec` (a map from a
    /// bucket's upper bound in microseconds to the running count).
    static func latencyHistogram(_ c: inout CommandContext) {
        var specs: [CommandSpec] = []
        if c.arguments.count == 2 {
            specs = allSpecs(c.server)
        } else {
            for i in 2..<c.arguments.count {
                let name = c.arguments.string(i).lowercased()
                let parts = name.split(separator: "|", maxSplits: 1).map(String.init)
                guard let parent = c.server.commands.find(parts.first ?? name) else { continue }
                if parts.count == 2 {
                    if let sub = parent.subcommands.first(where: { $0.name == name }) { specs.append(sub) }
                } else {
                    specs.append(parent)
                    specs += parent.subcommands
                }
            }
        }
        let recorder = c.server.recorder
        let rows: [(String, UInt64, [(Int, UInt64)])] = specs.compactMap { spec in
            guard let counts = recorder.figures(spec.statsIndex).histogram else { return nil }
            return (spec.name, counts.reduce(0, &+), LatencyHistogram.cumulativeMicroseconds(counts))
        }
        c.reply.mapHeader(rows.count)
        for (name, calls, buckets) in rows {
            c.reply.bulk(name)
            c.reply.mapHeader(2)
            c.reply.bulk("calls")
            c.reply.integer(Int(calls))
            c.reply.bulk("histogram_usec")
            c.reply.mapHeader(buckets.count)
            for (bound, count) in buckets {
                c.reply.integer(bound)
                c.reply.integer(Int(count))
            }
        }
    }

    static func latencyHelp(_ c: inout CommandContext) {
        CommandHelp.reply(&c, command: "LATENCY", [
            "DOCTOR",
            "    Return a human readable latency analysis report.",
            "HISTORY <event>",
            "    Return time-latency samples for the <event> class.",
            "LATEST",
            "    Return the latest latency samples for all events.",
            "RESET [<event> ...]",
            "    Reset latency data of one or more <event> classes.",
            "    (default: reset all data for all event classes)",
            "HISTOGRAM [COMMAND ...]",
            "    Return a cumulative distribution of latencies in the format of a histogram for the specified command names.",
            "    If no commands are specified then all histograms are replied.",
        ])
    }

    // MARK: - INFO sections

    /// Every command and subcommand, in table order.
    static func allSpecs(_ server: ServerContext) -> [CommandSpec] {
        server.commands.commands.flatMap { [$0] + $0.subcommands }
    }

    static func commandstats(_ server: ServerContext) -> [(String, String)] {
        allSpecs(server).compactMap { spec in
            let figures = server.recorder.figures(spec.statsIndex)
            guard !figures.isEmpty else { return nil }
            let usec = figures.nanoseconds / 1000
            let perCall = figures.calls == 0 ? 0 : Double(figures.nanoseconds) / 1000 / Double(figures.calls)
            return ("cmdstat_\(spec.name)",
                    "calls=\(figures.calls),usec=\(usec),usec_per_call=\(String(format2: perCall)),"
                        + "rejected_calls=\(figures.rejectedCalls),failed_calls=\(figures.failedCalls)")
        }
    }

    static func errorstats(_ server: ServerContext) -> [(String, String)] {
        server.recorder.errorCounts.map { ("errorstat_\($0.0)", "count=\($0.1)") }
    }

    static func latencystats(_ server: ServerContext) -> [(String, String)] {
        let percentiles = server.recorder.percentiles
        return allSpecs(server).compactMap { spec in
            guard let counts = server.recorder.figures(spec.statsIndex).histogram else { return nil }
            let values = percentiles.map { p in
                "p\(Percentiles.format(p))=\(String(format3: Double(LatencyHistogram.value(atPercentile: p, counts)) / 1000))"
            }
            return ("latency_percentiles_usec_\(spec.name)", values.joined(separator: ","))
        }
    }
}

extension String {
    /// `%.2f`.
    init(format2 value: Double) { self = String(fixed: value, decimals: 2) }
    /// `%.3f`.
    init(format3 value: Double) { self = String(fixed: value, decimals: 3) }

    init(fixed value: Double, decimals: Int) {
        var scale = 1.0
        for _ in 0..<decimals { scale *= 10 }
        let scaled = (abs(value) * scale).rounded()
        guard scaled < 9e18 else { self = String(value); return }
        let n = Int(scaled)
        let whole = n / Int(scale)
        let fraction = String(n % Int(scale))
        self = (value < 0 && n > 0 ? "-" : "") + "\(whole)." + String(repeating: "0", count: decimals - fraction.count) + fraction
    }
}
