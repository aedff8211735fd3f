import Foundation
import StrataCommands
import StrataConfig
import StrataRESP
import Testing

/// The fields of one INFO section, by name.
private func info(_ c: TestClient, _ section: String) -> [String: String] {
    var fields: [String: String] = [:]
    for line in (c.call("info", section).string ?? "").split(separator: "\r\n") where !line.hasPrefix("#") {
        guard let colon = line.firstIndex(of: ":") else { continue }
        fields[String(line[..<colon])] = String(line[line.index(after: colon)...])
    }
    return fields
}

/// `calls=1,usec=3,…` as a dictionary.
private func figures(_ text: String?) -> [String: String] {
    var result: [String: String] = [:]
    for pair in (text ?? "").split(separator: ",") {
        let parts = pair.split(separator: "=", maxSplits: 1)
        if parts.count == 2 { result[String(parts[0])] = String(parts[1]) }
    }
    return result
}

private func arguments(_ words: [String]) -> CommandArguments { CommandArguments(words) }

@Suite("Latency histogram")
struct LatencyHistogramTests {
    @Test("every value falls in a bucket whose bounds hold it, within 1/32 of itself")
    func buckets() {
        var values: [UInt64] = Array(0..<200) + [1023, 1024, 1025, 99_999, 1 << 20, (1 << 36) + 5, (1 << 37) - 1]
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<2000 { values.append(UInt64.random(in: 0...(1 << 37) - 1, using: &generator)) }
        for value in values {
            let index = LatencyHistogram.bucket(value)
            #expect(index >= 0 && index < LatencyHistogram.bucketCount)
            #expect(LatencyHistogram.lowestValue(index) <= value && value <= LatencyHistogram.highestValue(index), "\(value)")
            #expect(Double(LatencyHistogram.highestValue(index) - value) <= Double(value) / 32 + 1, "\(value)")
        }
        #expect(LatencyHistogram.bucket(UInt64.max) == LatencyHistogram.bucketCount - 1)
        // Buckets tile the line: each starts one past the previous one's end.
        for index in 1..<LatencyHistogram.bucketCount {
            #expect(LatencyHistogram.lowestValue(index) == LatencyHistogram.highestValue(index - 1) + 1)
        }
    }

    @Test("percentiles as HdrHistogram finds them: the highest value of the bucket reaching the rank")
    func percentiles() {
        var counts = [UInt64](repeating: 0, count: LatencyHistogram.bucketCount)
        // 1 µs … 1000 µs, one each.
        for micros in 1...1000 { counts[LatencyHistogram.bucket(UInt64(micros) * 1000)] += 1 }
        for (p, exact) in [(50.0, 500_000.0), (99.0, 990_000.0), (99.9, 999_000.0), (100.0, 1_000_000.0)] {
            let value = Double(LatencyHistogram.value(atPercentile: p, counts))
            #expect(value >= exact && value <= exact * (1 + 1.0 / 32), "p\(p) = \(value)")
        }
        #expect(LatencyHistogram.value(atPercentile: 0, counts) == LatencyHistogram.highestValue(LatencyHistogram.bucket(1000)))
        #expect(LatencyHistogram.value(atPercentile: 50, [UInt64](repeating: 0, count: 4)) == 0)
    }

    @Test("LATENCY HISTOGRAM's buckets: powers of two from 1024 ns, named as HdrHistogram names them, running counts")
    func cumulative() {
        var counts = [UInt64](repeating: 0, count: LatencyHistogram.bucketCount)
        counts[LatencyHistogram.bucket(500)] += 3      // ≤ 1024 ns
        counts[LatencyHistogram.bucket(3000)] += 2     // ≤ 4096 ns
        counts[LatencyHistogram.bucket(40_000)] += 1   // ≤ 65536 ns
        let buckets = LatencyHistogram.cumulativeMicroseconds(counts)
        #expect(buckets.map(\.0) == [1, 4, 66])
        #expect(buckets.map(\.1) == [3, 5, 6])
        #expect(LatencyHistogram.cumulativeMicroseconds([UInt64](repeating: 0, count: 8)).isEmpty)
    }
}

@Suite("SLOWLOG")
struct SlowlogTests {
    @Test("entries keep 32 arguments and 128 bytes of each, saying how much more there was")
    func truncation() {
        let many = arguments(["rpush", "l"] + (1...40).map(String.init))
        let shown = SlowLog.entryArguments(many)
        #expect(shown.count == 32)
        #expect(String(decoding: shown[30], as: UTF8.self) == "29")
        #expect(String(decoding: shown[31], as: UTF8.self) == "... (11 more arguments)")
        let exactly = SlowLog.entryArguments(arguments(["rpush", "l"] + (1...30).map(String.init)))
        #expect(exactly.count == 32 && String(decoding: exactly[31], as: UTF8.self) == "30")

        let long = SlowLog.entryArguments(arguments(["set", "k", String(repeating: "x", count: 200), String(repeating: "y", count: 128)]))
        #expect(String(decoding: long[2], as: UTF8.self) == String(repeating: "x", count: 128) + "... (72 more bytes)")
        #expect(String(decoding: long[3], as: UTF8.self) == String(repeating: "y", count: 128))
    }

    @Test("SLOWLOG GET/LEN/RESET with slowlog-log-slower-than 0; newest first; ids go on after RESET")
    func log() {
        let server = TestServer { $0.slowlogLogSlowerThan = 0 }
        let c = server.client()
        c.call("client", "setname", "bob")
        c.call("set", "k", "v")
        c.call("get", "k")
        #expect(c.call("slowlog", "len") == int(3))
        let entries = c.call("slowlog", "get", "2").items
        #expect(entries.count == 2)
        #expect(entries[0].items[0] == int(3) && entries[1].items[0] == int(2), "newest first (slowlog len itself is 3)")
        #expect(entries[0].items[3] == .array([bulk("slowlog"), bulk("len")]))
        #expect(entries[1].items[3] == .array([bulk("get"), bulk("k")]))
        #expect(entries[1].items[4] == bulk("127.0.0.1:50000") && entries[1].items[5] == bulk("bob"))
        guard case .integer(let time) = entries[0].items[1], case .integer(let micros) = entries[0].items[2] else {
            Issue.record("timestamp and duration are integers")
            return
        }
        #expect(abs(time - Int(Date().timeIntervalSince1970)) < 5 && micros >= 0)
        #expect(c.call("slowlog", "get", "-1").items.count == 5)
        #expect(c.call("slowlog", "get", "0") == .array([]))
        #expect(c.call("slowlog", "get", "-2") == err("ERR count should be greater than or equal to -1"))
        #expect(c.call("slowlog", "get", "x") == err("ERR count should be greater than or equal to -1"))
        #expect(c.call("slowlog", "get", "1", "2") == err("ERR unknown subcommand or wrong number of arguments for 'get'. Try SLOWLOG HELP."))
        #expect(c.call("slowlog", "len", "x") == err("ERR wrong number of arguments for 'slowlog|len' command"))
        #expect(c.call("slowlog", "reset") == ok)
        let after = c.call("slowlog", "get").items
        #expect(after.count == 1 && after[0].items[0] == int(10) && after[0].items[3] == .array([bulk("slowlog"), bulk("reset")]))
        #expect(c.call("slowlog", "help").items.count == 12)
    }

    @Test("passwords are redacted; EXEC is not logged, the commands it runs are; max-len and a negative threshold")
    func redactionAndLimits() {
        let server = TestServer { $0.slowlogLogSlowerThan = 0 }
        let c = server.client()
        c.call("auth", "secret")
        c.call("hello", "2", "auth", "default", "pw")
        c.call("config", "set", "requirepass", "")
        c.call("multi")
        c.call("set", "a", "1")
        c.call("exec")
        let commands = c.call("slowlog", "get", "-1").items.map { $0.items[3] }
        #expect(commands == [
            .array([bulk("set"), bulk("a"), bulk("1")]),
            .array([bulk("multi")]),
            .array([bulk("config"), bulk("set"), bulk("requirepass"), bulk("(redacted)")]),
            .array([bulk("hello"), bulk("2"), bulk("auth"), bulk("(redacted)"), bulk("(redacted)")]),
            .array([bulk("auth"), bulk("(redacted)")]),
        ])
        #expect(c.call("config", "set", "slowlog-max-len", "2") == ok)
        #expect(c.call("slowlog", "len") == int(2))
        #expect(c.call("config", "set", "slowlog-log-slower-than", "-1") == ok)
        c.call("slowlog", "reset")
        c.call("set", "a", "2")
        #expect(c.call("slowlog", "len") == int(0))
    }
}

@Suite("Command and error statistics")
struct CommandStatsTests {
    @Test("calls, rejected calls (refused before running) and failed calls (an error reply), as Redis counts them")
    func counting() {
        let server = TestServer()
        let c = server.client()
        c.call("set", "k", "v")
        c.call("get", "k")
        c.call("get")                       // arity: rejected
        c.call("incr", "k")                 // ERR not an integer: failed
        c.call("lpush", "k", "x")           // WRONGTYPE: failed
        c.call("nosuch")                    // no command: an error, no cmdstat
        c.call("client", "nosuch")          // no subcommand: likewise
        c.call("client", "id")
        let stats = info(c, "commandstats")
        #expect(figures(stats["cmdstat_set"])["calls"] == "1")
        #expect(figures(stats["cmdstat_get"]).filter { $0.key != "usec" && $0.key != "usec_per_call" }
                == ["calls": "1", "rejected_calls": "1", "failed_calls": "0"])
        #expect(figures(stats["cmdstat_incr"])["failed_calls"] == "1")
        #expect(figures(stats["cmdstat_lpush"])["failed_calls"] == "1")
        #expect(figures(stats["cmdstat_client|id"])["calls"] == "1")
        #expect(stats["cmdstat_nosuch"] == nil && stats["cmdstat_client"] == nil)
        #expect(stats["cmdstat_info"] == nil, "INFO counts once it has run")
        #expect(stats.keys.allSatisfy { $0.hasPrefix("cmdstat_") })
        let errors = info(c, "errorstats")
        #expect(errors == ["errorstat_ERR": "count=4", "errorstat_WRONGTYPE": "count=1"])
        #expect(info(c, "stats")["total_error_replies"] == "5")
        let latency = info(c, "latencystats")
        #expect(latency["latency_percentiles_usec_set"]?.hasPrefix("p50=") == true)
        #expect(latency["latency_percentiles_usec_set"]?.split(separator: ",").map { $0.split(separator: "=")[0] } == ["p50", "p99", "p99.9"])
        #expect(latency["latency_percentiles_usec_nosuch"] == nil)
    }

    @Test("inside MULTI: a refused command is rejected at once, queued ones count when EXEC runs them; EXECABORT fails EXEC")
    func transactions() {
        let server = TestServer()
        let c = server.client()
        c.call("multi")
        c.call("set", "a", "1")
        c.call("incr", "a")
        c.call("hset", "a", "f", "v")
        #expect(figures(info(c, "commandstats")["cmdstat_set"])["calls"] == nil, "queued, not run")
        c.call("exec")
        var stats = info(c, "commandstats")
        #expect(figures(stats["cmdstat_set"])["calls"] == "1")
        #expect(figures(stats["cmdstat_incr"])["calls"] == "1")
        #expect(figures(stats["cmdstat_hset"])["failed_calls"] == "1")
        #expect(figures(stats["cmdstat_exec"])["failed_calls"] == "0")
        c.call("multi")
        c.call("get")
        #expect(c.call("exec") == err("EXECABORT Transaction discarded because of previous errors."))
        stats = info(c, "commandstats")
        #expect(figures(stats["cmdstat_get"])["rejected_calls"] == "1")
        #expect(figures(stats["cmdstat_exec"])["calls"] == "2" && figures(stats["cmdstat_exec"])["failed_calls"] == "1")
        #expect(info(c, "errorstats") == ["errorstat_WRONGTYPE": "count=1", "errorstat_ERR": "count=1", "errorstat_EXECABORT": "count=1"])
    }

    @Test("NOAUTH counts as a rejected call")
    func noauth() {
        let server = TestServer { $0.requirePass = "pw" }
        let c = server.client()
        c.call("get", "k")
        c.call("auth", "pw")
        #expect(figures(info(c, "commandstats")["cmdstat_get"])["rejected_calls"] == "1")
        #expect(info(c, "errorstats")["errorstat_NOAUTH"] == "count=1")
    }

    @Test("CONFIG RESETSTAT starts commandstats, errorstats, latencystats and total_error_replies from zero")
    func reset() {
        let server = TestServer()
        let c = server.client()
        for _ in 0..<5 { c.call("set", "k", "v") }
        c.call("get")
        #expect(c.call("config", "resetstat") == ok)
        #expect(info(c, "commandstats").keys.sorted() == ["cmdstat_config|resetstat"])
        #expect(info(c, "errorstats").isEmpty)
        #expect(info(c, "stats")["total_error_replies"] == "0")
        #expect(info(c, "latencystats").keys.sorted() == ["latency_percentiles_usec_config|resetstat", "latency_percentiles_usec_info"])
        c.call("set", "k", "v")
        #expect(figures(info(c, "commandstats")["cmdstat_set"])["calls"] == "1")
    }

    @Test("commands from several threads at once are all counted")
    func concurrent() {
        let server = TestServer()
        let threads = 4, perThread = 2000
        // Each thread drives its own client (a connection belongs to one thread at a time).
        nonisolated(unsafe) let clients = (0..<threads).map { _ in server.client() }
        DispatchQueue.concurrentPerform(iterations: threads) { t in
            for i in 0..<perThread { clients[t].call("set", "k\(t)-\(i)", "v") }
        }
        let c = server.client()
        #expect(figures(info(c, "commandstats")["cmdstat_set"])["calls"] == String(threads * perThread))
        #expect(c.call("latency", "histogram", "set")[field: "set"]?[field: "calls"] == int(threads * perThread))
    }

    @Test("INFO: commandstats and latencystats only in all/everything or by name; errorstats by default")
    func sections() {
        let c = TestServer().client()
        func titles(_ words: String...) -> [String] {
            (c.call(words).string ?? "").split(separator: "\r\n").filter { $0.hasPrefix("#") }.map(String.init)
        }
        let byDefault = titles("info")
        #expect(byDefault.contains("# Errorstats") && !byDefault.contains("# Commandstats") && !byDefault.contains("# Latencystats"))
        #expect(titles("info", "default") == byDefault)
        for all in ["all", "everything"] {
            let sections = titles("info", all)
            #expect(sections.firstIndex(of: "# Commandstats")! < sections.firstIndex(of: "# Errorstats")!)
            #expect(sections.firstIndex(of: "# Errorstats")! < sections.firstIndex(of: "# Latencystats")!)
            #expect(sections.firstIndex(of: "# Latencystats")! < sections.firstIndex(of: "# Keyspace")!)
        }
        #expect(titles("info", "commandstats", "latencystats") == ["# Commandstats", "# Latencystats"])
    }
}

@Suite("Latency settings and LATENCY")
struct LatencyCommandTests {
    @Test("latency-tracking and latency-tracking-info-percentiles: typed, with Redis's texts")
    func settings() {
        let c = TestServer().client()
        #expect(c.call("config", "get", "latency-tracking-info-percentiles") == .array([bulk("latency-tracking-info-percentiles"), bulk("50 99 99.9")]))
        #expect(c.call("config", "set", "latency-tracking-info-percentiles", "99.99 50.0 1e1 33.3333333") == ok)
        #expect(c.call("config", "get", "latency-tracking-info-percentiles")[field: "latency-tracking-info-percentiles"] == bulk("99.99 50 10 33.333333"))
        #expect(c.call("config", "set", "latency-tracking-info-percentiles", "50 abc") == err(
            "ERR CONFIG SET failed (possibly related to argument 'latency-tracking-info-percentiles') - Invalid latency-tracking-info-percentiles parameters"))
        #expect(c.call("config", "set", "latency-tracking-info-percentiles", "101") == err(
            "ERR CONFIG SET failed (possibly related to argument 'latency-tracking-info-percentiles') - latency-tracking-info-percentiles parameters should sit between [0.0,100.0]"))
        #expect(c.call("config", "set", "latency-tracking", "maybe") == err(
            "ERR CONFIG SET failed (possibly related to argument 'latency-tracking') - argument must be 'yes' or 'no'"))
        #expect(c.call("config", "set", "slowlog-log-slower-than", "-5") == err(
            "ERR CONFIG SET failed (possibly related to argument 'slowlog-log-slower-than') - argument must be between -1 and 9223372036854775807 inclusive"))
        #expect(c.call("config", "set", "latency-monitor-threshold", "-1") == err(
            "ERR CONFIG SET failed (possibly related to argument 'latency-monitor-threshold') - argument must be between 0 and 9223372036854775807 inclusive"))
        c.call("set", "k", "v")
        #expect(info(c, "latencystats")["latency_percentiles_usec_set"]?.split(separator: ",").map { $0.split(separator: "=")[0] }
                == ["p99.99", "p50", "p10", "p33.333333"])
        #expect(c.call("config", "set", "latency-tracking-info-percentiles", "") == ok)
        #expect(info(c, "latencystats")["latency_percentiles_usec_set"] == "")
    }

    @Test("latency-tracking no: no histograms, commandstats still counted")
    func trackingOff() {
        let c = TestServer { $0.latencyTracking = false }.client()
        c.call("set", "k", "v")
        #expect(info(c, "latencystats").isEmpty)
        #expect(figures(info(c, "commandstats")["cmdstat_set"])["calls"] == "1")
        #expect(c.call("latency", "histogram") == .array([]))
    }

    @Test("LATENCY LATEST/HISTORY/RESET/DOCTOR over the monitor's events; one sample a second, the largest")
    func monitor() {
        let server = TestServer { $0.latencyMonitorThreshold = 5 }
        let c = server.client()
        #expect(c.call("latency", "latest") == .array([]))
        #expect(c.call("latency", "doctor").string?.hasPrefix("Dave, no latency spike was observed") == true)
        #expect(TestServer().client().call("latency", "doctor").string?.hasPrefix("I'm sorry, Dave, I can't do that.") == true)
        let recorder = server.context.recorder
        recorder.addLatencySampleIfNeeded("command", milliseconds: 4)   // under the threshold
        recorder.addLatencySampleIfNeeded("command", milliseconds: 7)
        recorder.addLatencySampleIfNeeded("l3-fsync", milliseconds: 9)
        let latest = c.call("latency", "latest").items
        #expect(latest.count == 2)
        #expect(latest[0].items[0] == bulk("command") && latest[0].items[2] == int(7) && latest[0].items[3] == int(7))
        #expect(latest[1].items[0] == bulk("l3-fsync"))
        let history = c.call("latency", "history", "command").items
        #expect(history.count == 1 && history[0].items[1] == int(7))
        #expect(c.call("latency", "history", "nosuch") == .array([]))
        #expect(c.call("latency", "doctor").string?.contains("1. command: 1 latency spikes") == true)
        #expect(c.call("latency", "reset", "command", "nosuch") == int(1))
        #expect(c.call("latency", "reset") == int(1))
        #expect(c.call("latency", "latest") == .array([]))
        #expect(c.call("latency", "history") == err("ERR wrong number of arguments for 'latency|history' command"))
        #expect(c.call("latency", "help").items.count == 15)

        var events = LatencyEvents()
        events.add("e", milliseconds: 7, at: 10)
        events.add("e", milliseconds: 6, at: 10)
        #expect(events.events["e"]?.samples.map(\.milliseconds) == [7], "one sample a second: the largest")
        events.add("e", milliseconds: 8, at: 10)
        #expect(events.events["e"]?.samples.map(\.milliseconds) == [8])
        _ = events.reset([])
        for second in 0..<200 { events.add("e", milliseconds: second, at: 1000 + second) }
        #expect(events.events["e"]?.samples.count == LatencyEvents.samplesKept)
        #expect(events.events["e"]?.samples.first?.time == 1040 && events.events["e"]?.max == 199)
    }

    @Test("LATENCY HISTOGRAM: Redis 7's map of calls and cumulative buckets, for named commands and their subcommands")
    func histogram() {
        let c = TestServer().client()
        c.call("set", "k", "v")
        c.call("set", "k", "v")
        c.call("client", "id")
        let reply = c.call("latency", "histogram", "set", "client", "nosuch")
        #expect(reply.items.count == 4, "set and client|id")
        #expect(reply[field: "set"]?[field: "calls"] == int(2))
        let buckets = reply[field: "set"]?[field: "histogram_usec"]?.items ?? []
        #expect(buckets.count >= 2 && buckets.count % 2 == 0)
        #expect(buckets.last == int(2), "the last running count is every call")
        #expect(reply[field: "client|id"]?[field: "calls"] == int(1))
        #expect(c.call("latency", "histogram", "client|id").items.count == 2)
    }
}
