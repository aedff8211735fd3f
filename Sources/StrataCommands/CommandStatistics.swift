import NIOConcurrencyHelpers
import NIOCore
import StrataConfig
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Nanoseconds of a clock that never goes back, for durations.
public enum MonotonicClock {
    @inline(__always)
    public static func nanoseconds() -> UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return UInt64(ts.tv_sec) &* 1_000_000_000 &+ UInt64(ts.tv_nsec)
    }
}

/// A fixed-bucket log-linear histogram of durations in nanoseconds (Redis uses HdrHistogram).
///
/// Values below 32 ns have a bucket each; above, every power of two is cut into 32 equal
/// buckets, so a value is known to within 1/32 (3.1%) of itself. Values from 2^37 ns (137 s) on
/// share the last bucket. A reported value is the highest of its bucket, as HdrHistogram reports
/// its "highest equivalent value".
public enum LatencyHistogram {
    static let subBits = 5
    static let subCount = 1 << subBits
    static let maxExponent = 36
    /// 32 exact buckets, then 32 for each power of two from 2^5 to 2^36.
    public static let bucketCount = subCount * (maxExponent - subBits + 2)

    /// The bucket of a duration.
    @inline(__always)
    public static func bucket(_ nanoseconds: UInt64) -> Int {
        if nanoseconds < UInt64(subCount) { return Int(nanoseconds) }
        let exponent = 63 - nanoseconds.leadingZeroBitCount
        if exponent > maxExponent { return bucketCount - 1 }
        return (exponent - subBits + 1) * subCount + Int((nanoseconds >> UInt64(exponent - subBits)) & UInt64(subCount - 1))
    }

    /// The lowest duration that falls in `index`.
    public static func lowestValue(_ index: Int) -> UInt64 {
        if index < subCount { return UInt64(index) }
        let shift = UInt64(index / subCount - 1)
        return UInt64(subCount + index % subCount) << shift
    }

    /// The highest duration that falls in `index`.
    public static func highestValue(_ index: Int) -> UInt64 {
        if index < subCount { return UInt64(index) }
        let shift = UInt64(index / subCount - 1)
        return lowestValue(index) + (1 << shift) - 1
    }

    /// The value at `percentile` (0–100) of the counts, as HdrHistogram's
    /// `hdr_value_at_percentile` finds it: the highest value of the bucket where the running
    /// count first reaches `percentile` of the total (rounded, at least one). 0 when empty.
    public static func value(atPercentile percentile: Double, _ counts: [UInt64]) -> UInt64 {
        let total = counts.reduce(0, &+)
        guard total > 0 else { return 0 }
        let wanted = max(1, UInt64((min(percentile, 100) / 100 * Double(total) + 0.5).rounded(.down)))
        var running: UInt64 = 0
        for (index, count) in counts.enumerated() where count > 0 {
            running += count
            if running >= wanted { return highestValue(index) }
        }
        return highestValue(counts.count - 1)
    }

    /// LATENCY HISTOGRAM's buckets: for each power of two from 1024 ns, the running count of
    /// durations up to it, keyed by its value in microseconds as HdrHistogram's log iterator
    /// names it (the highest value of its 2-significant-digit bucket: 1, 2, 4, …, 33, 66…);
    /// only where the running count grew, until every value is counted.
    public static func cumulativeMicroseconds(_ counts: [UInt64]) -> [(Int, UInt64)] {
        let total = counts.reduce(0, &+)
        var result: [(Int, UInt64)] = []
        var running: UInt64 = 0
        var previous: UInt64 = 0
        var index = 0
        var step: UInt64 = 1024
        while previous < total && step <= (UInt64(1) << 40) {
            while index < counts.count && highestValue(index) < step {
                running += counts[index]
                index += 1
            }
            if step == (UInt64(1) << 40) { running = total }
            if running > previous {
                // HdrHistogram (2 significant digits) buckets 2^n by 2^(n-7).
                result.append((Int((step + (step >> 7) - 1) / 1000), running))
                previous = running
            }
            step <<= 1
        }
        return result
    }
}

/// One thread's counters, written only by that thread (relaxed atomic loads and stores, no
/// read-modify-write) and read by INFO from any thread.
///
/// `@unchecked Sendable`: its pointers are fixed at init and freed in deinit; every access to
/// the memory behind them is atomic (a histogram's address is published with release/acquire).
final class StatisticsBlock: @unchecked Sendable {
    /// calls, nanoseconds, rejected calls, failed calls: four per command.
    static let fields = 4
    let recorder: Int
    let capacity: Int
    private let counters: UnsafeMutablePointer<Synchronization.Atomic<UInt64>>
    /// Per command, the address of its histogram (0 until its first call on this thread).
    private let histograms: UnsafeMutablePointer<Synchronization.Atomic<UInt>>

    init(recorder: Int, capacity: Int) {
        self.recorder = recorder
        self.capacity = capacity
        counters = .allocate(capacity: capacity * Self.fields)
        for i in 0..<capacity * Self.fields { (counters + i).initialize(to: Synchronization.Atomic(0)) }
        histograms = .allocate(capacity: capacity)
        for i in 0..<capacity { (histograms + i).initialize(to: Synchronization.Atomic(0)) }
    }

    deinit {
        for i in 0..<capacity {
            if let buckets = histogram(i) {
                buckets.deinitialize(count: LatencyHistogram.bucketCount)
                buckets.deallocate()
            }
        }
        counters.deinitialize(count: capacity * Self.fields)
        counters.deallocate()
        histograms.deinitialize(count: capacity)
        histograms.deallocate()
    }

    /// Owner thread only.
    @inline(__always)
    func add(_ index: Int, field: Int, _ amount: UInt64) {
        let counter = counters + (index * Self.fields + field)
        counter.pointee.store(counter.pointee.load(ordering: .relaxed) &+ amount, ordering: .relaxed)
    }

    /// Owner thread only: counts a duration in the command's histogram (made on first use).
    @inline(__always)
    func addDuration(_ index: Int, _ nanoseconds: UInt64) {
        var buckets = histogram(index)
        if buckets == nil { buckets = makeHistogram(index) }
        let counter = buckets! + LatencyHistogram.bucket(nanoseconds)
        counter.pointee.store(counter.pointee.load(ordering: .relaxed) &+ 1, ordering: .relaxed)
    }

    private func makeHistogram(_ index: Int) -> UnsafeMutablePointer<Synchronization.Atomic<UInt64>> {
        let buckets = UnsafeMutablePointer<Synchronization.Atomic<UInt64>>.allocate(capacity: LatencyHistogram.bucketCount)
        for i in 0..<LatencyHistogram.bucketCount { (buckets + i).initialize(to: Synchronization.Atomic(0)) }
        (histograms + index).pointee.store(UInt(bitPattern: buckets), ordering: .releasing)
        return buckets
    }

    @inline(__always)
    private func histogram(_ index: Int) -> UnsafeMutablePointer<Synchronization.Atomic<UInt64>>? {
        UnsafeMutablePointer(bitPattern: (histograms + index).pointee.load(ordering: .acquiring))
    }

    /// Any thread.
    func counter(_ index: Int, field: Int) -> UInt64 {
        (counters + (index * Self.fields + field)).pointee.load(ordering: .relaxed)
    }

    /// Any thread: the command's bucket counts, nil before its first timed call here.
    func histogramCounts(_ index: Int) -> [UInt64]? {
        guard let buckets = histogram(index) else { return nil }
        return (0..<LatencyHistogram.bucketCount).map { (buckets + $0).pointee.load(ordering: .relaxed) }
    }
}

/// The figures of one command, summed over the threads that ran it.
public struct CommandFigures: Equatable, Sendable {
    public var calls: UInt64 = 0
    public var nanoseconds: UInt64 = 0
    public var rejectedCalls: UInt64 = 0
    public var failedCalls: UInt64 = 0
    /// Bucket counts (see ``LatencyHistogram``); nil when never timed.
    public var histogram: [UInt64]?

    public var isEmpty: Bool { calls == 0 && rejectedCalls == 0 && failedCalls == 0 }
}

/// Command statistics, error statistics, the slow log and the latency monitor (INFO
/// commandstats/errorstats/latencystats, SLOWLOG, LATENCY), recorded by ``CommandDispatcher``
/// around every command it runs.
///
/// Per command counters and histograms live in one block per thread (see ``StatisticsBlock``),
/// found through a thread-local, indexed by ``CommandSpec/statsIndex``: the event loops never
/// share a cache line or take a lock to count a command. CONFIG RESETSTAT does not write the
/// blocks: it records a baseline that readers subtract.
public final class CommandRecorder: Sendable {
    private static let serials = Synchronization.Atomic<Int>(1)
    private let serial: Int
    private let capacity: Int
    private struct Blocks {
        var byThread: [UInt: StatisticsBlock] = [:]
        /// What CONFIG RESETSTAT saw, per command index: subtracted from the sums.
        var baseline: [Int: CommandFigures] = [:]
    }
    private let blocks = NIOLockedValueBox(Blocks())
    private let errors = NIOLockedValueBox<[String: Int]>([:])

    // Settings, copied from the configuration when it changes (read on every command).
    private let tracksLatency = Synchronization.Atomic<Bool>(true)
    private let slowlogThreshold = Synchronization.Atomic<Int>(10_000)
    private let latencyThreshold = Synchronization.Atomic<Int>(0)
    private let slowlogTrimPending = Synchronization.Atomic<Bool>(false)
    private let percentilesBox = NIOLockedValueBox<[Double]>([50, 99, 99.9])

    /// SLOWLOG's entries.
    public let slowlog = NIOLockedValueBox(SlowLog())
    /// LATENCY's events.
    public let latency = NIOLockedValueBox(LatencyEvents())

    public init(configuration: Configuration) {
        serial = Self.serials.wrappingAdd(1, ordering: .relaxed).oldValue
        capacity = CommandSpec.indexCount
        configure(configuration)
    }

    public func configure(_ configuration: Configuration) {
        tracksLatency.store(configuration.latencyTracking, ordering: .relaxed)
        slowlogThreshold.store(configuration.slowlogLogSlowerThan, ordering: .relaxed)
        latencyThreshold.store(configuration.latencyMonitorThreshold, ordering: .relaxed)
        percentilesBox.withLockedValue { $0 = configuration.latencyTrackingInfoPercentiles }
        let longer = slowlog.withLockedValue { log in
            log.maxLength = configuration.slowlogMaxLength
            return log.entries.count > log.maxLength
        }
        if longer { slowlogTrimPending.store(true, ordering: .relaxed) }
    }

    public var percentiles: [Double] { percentilesBox.withLockedValue { $0 } }

    // MARK: - Recording

    /// Runs `body` (a command that passed every check) and records it: its call and duration,
    /// whether it failed (its reply is an error), the error's code, the slow log and the
    /// latency monitor. The one entry point the dispatcher calls.
    @inline(__always)
    public func record(_ spec: CommandSpec, _ context: inout CommandContext,
                       _ body: (CommandSpec, inout CommandContext) -> Void) {
        let replyStart = context.reply.buffer.writerIndex
        let wasBlocked = context.client.blocked != nil
        let start = MonotonicClock.nanoseconds()
        body(spec, &context)
        // A command waiting for a key (BLPOP…) or for its values to come from L3 runs again
        // later: it is counted then, as Redis counts a blocked command once it is served; one
        // that timed out (its null reply) is not counted at all, as in Redis 7.0.
        if context.blockedOnKeys || context.suspension?.rerun == true { return }
        if wasBlocked && Self.isNullArray(context.reply.buffer, at: replyStart) { return }
        let elapsed = MonotonicClock.nanoseconds() &- start
        let failed = context.reply.buffer.writerIndex > replyStart
            && context.reply.buffer.getInteger(at: replyStart, as: UInt8.self) == UInt8(ascii: "-")
        let block = currentBlock()
        let index = spec.statsIndex
        if index < block.capacity {
            block.add(index, field: 0, 1)
            block.add(index, field: 1, elapsed)
            if failed { block.add(index, field: 3, 1) }
            if tracksLatency.load(ordering: .relaxed) { block.addDuration(index, elapsed) }
        }
        if failed { countError(context.reply.buffer, at: replyStart, context.server) }
        let micros = Int(elapsed / 1000)
        let slower = slowlogThreshold.load(ordering: .relaxed)
        if slower >= 0 && !Self.skipsSlowlog(spec) {
            if micros >= slower {
                logSlow(spec, context, micros: micros)
            } else if slowlogTrimPending.load(ordering: .relaxed) {
                // As Redis, a shorter slowlog-max-len takes effect at the next command.
                slowlogTrimPending.store(false, ordering: .relaxed)
                slowlog.withLockedValue { $0.push(nil) }
            }
        }
        let threshold = latencyThreshold.load(ordering: .relaxed)
        if threshold > 0 && micros / 1000 >= threshold {
            addLatencySample(spec.flags.contains(.fast) ? "fast-command" : "command", milliseconds: micros / 1000)
        }
    }

    /// A command the dispatcher answered without running it (another node's, forwarded; or
    /// refused by the router with `-MOVED`…): an error reply counts it as rejected, otherwise it
    /// is a call taking the time spent here.
    @inline(__always)
    public func route(_ spec: CommandSpec, _ context: inout CommandContext,
                      _ body: (CommandSpec, inout CommandContext) -> RouteDecision) -> RouteDecision {
        let replyStart = context.reply.buffer.writerIndex
        let start = MonotonicClock.nanoseconds()
        let decision = body(spec, &context)
        guard decision == .handled else { return decision }
        let elapsed = MonotonicClock.nanoseconds() &- start
        let refused = context.reply.buffer.writerIndex > replyStart
            && context.reply.buffer.getInteger(at: replyStart, as: UInt8.self) == UInt8(ascii: "-")
        if refused {
            countError(context.reply.buffer, at: replyStart, context.server)
            count(spec, field: 2)
        } else {
            let block = currentBlock()
            let index = spec.statsIndex
            if index < block.capacity {
                block.add(index, field: 0, 1)
                block.add(index, field: 1, elapsed)
                if tracksLatency.load(ordering: .relaxed) { block.addDuration(index, elapsed) }
            }
        }
        return decision
    }

    /// An error reply for a command refused before it ran (arity, NOAUTH, OOM…): counts the
    /// error, and `spec`'s rejected calls when the command is known.
    public func rejected(_ spec: CommandSpec?, message: [UInt8], _ server: ServerContext) {
        if let spec { count(spec, field: 2) }
        countError(code: Self.errorCode(message), server)
    }

    private func count(_ spec: CommandSpec, field: Int) {
        let block = currentBlock()
        if spec.statsIndex < block.capacity { block.add(spec.statsIndex, field: field, 1) }
    }

    private func countError(_ buffer: ByteBuffer, at index: Int, _ server: ServerContext) {
        let end = min(buffer.writerIndex, index + 33)
        let head = buffer.getBytes(at: index + 1, length: max(0, end - index - 1)) ?? []
        countError(code: Self.errorCode(head), server)
    }

    private func countError(code: String, _ server: ServerContext) {
        server.statistics.errorReplies.add(1, ordering: .relaxed)
        errors.withLockedValue { $0[code, default: 0] += 1 }
    }

    /// The error's code as Redis's `afterErrorReply` takes it: the first word, when a space
    /// comes within its first 32 bytes; `ERR` otherwise.
    static func errorCode(_ message: [UInt8]) -> String {
        guard let space = message.prefix(32).firstIndex(of: UInt8(ascii: " ")), space > 0 else { return "ERR" }
        return String(decoding: message[..<space], as: UTF8.self)
    }

    private static func isNullArray(_ buffer: ByteBuffer, at index: Int) -> Bool {
        guard let first = buffer.getInteger(at: index, as: UInt8.self) else { return false }
        if first == UInt8(ascii: "_") { return true }
        return first == UInt8(ascii: "*") && buffer.getInteger(at: index + 1, as: UInt8.self) == UInt8(ascii: "-")
    }

    /// Redis's `skip_slowlog` commands: EXEC (the commands it runs are logged each).
    @inline(__always)
    static func skipsSlowlog(_ spec: CommandSpec) -> Bool { spec.flags.contains(.exec) }

    private func logSlow(_ spec: CommandSpec, _ context: CommandContext, micros: Int) {
        let arguments = SlowLog.entryArguments(context.arguments, redacting: SlowLog.redacted(spec, context.arguments))
        let name = context.client.shared.withLockedValue { $0.name }
        let entry = SlowLog.Entry(id: 0, time: Int(WallClock.milliseconds() / 1000), microseconds: micros,
                                  arguments: arguments, address: context.client.address, name: name)
        slowlog.withLockedValue { $0.push(entry) }
    }

    /// Adds a sample to the latency monitor's `event` when it reaches `latency-monitor-threshold`
    /// (Redis's `latencyAddSampleIfNeeded`); for Strata's own events too.
    public func addLatencySampleIfNeeded(_ event: String, milliseconds: Int) {
        let threshold = latencyThreshold.load(ordering: .relaxed)
        if threshold > 0 && milliseconds >= threshold { addLatencySample(event, milliseconds: milliseconds) }
    }

    private func addLatencySample(_ event: String, milliseconds: Int) {
        let now = Int(WallClock.milliseconds() / 1000)
        latency.withLockedValue { $0.add(event, milliseconds: milliseconds, at: now) }
    }

    // MARK: - Threads

    private enum ThreadSlot {
        /// A retained ``StatisticsBlock``: the block this thread used last.
        static let key: pthread_key_t = {
            var key = pthread_key_t()
            pthread_key_create(&key) { pointer in
                if let pointer { Unmanaged<StatisticsBlock>.fromOpaque(pointer).release() }
            }
            return key
        }()
    }

    /// This thread's block for this recorder.
    @inline(__always)
    private func currentBlock() -> StatisticsBlock {
        if let pointer = pthread_getspecific(ThreadSlot.key) {
            let block = Unmanaged<StatisticsBlock>.fromOpaque(pointer).takeUnretainedValue()
            if block.recorder == serial { return block }
        }
        return slowBlock()
    }

    @inline(never)
    private func slowBlock() -> StatisticsBlock {
        let thread = UInt(bitPattern: Int(bitPattern: UInt(pthread_self())))
        let block = blocks.withLockedValue { blocks in
            if let block = blocks.byThread[thread] { return block }
            let block = StatisticsBlock(recorder: serial, capacity: capacity)
            blocks.byThread[thread] = block
            return block
        }
        if let old = pthread_getspecific(ThreadSlot.key) { Unmanaged<StatisticsBlock>.fromOpaque(old).release() }
        pthread_setspecific(ThreadSlot.key, Unmanaged.passRetained(block).toOpaque())
        return block
    }

    // MARK: - Reading

    /// The figures of the command whose ``CommandSpec/statsIndex`` is `index`, since the last
    /// reset.
    public func figures(_ index: Int) -> CommandFigures {
        blocks.withLockedValue { blocks in
            var total = Self.sum(index, blocks)
            if let base = blocks.baseline[index] { total = total.subtracting(base) }
            return total
        }
    }

    private static func sum(_ index: Int, _ blocks: Blocks) -> CommandFigures {
        var total = CommandFigures()
        for block in blocks.byThread.values where index < block.capacity {
            total.calls &+= block.counter(index, field: 0)
            total.nanoseconds &+= block.counter(index, field: 1)
            total.rejectedCalls &+= block.counter(index, field: 2)
            total.failedCalls &+= block.counter(index, field: 3)
            if let counts = block.histogramCounts(index) {
                if total.histogram == nil {
                    total.histogram = counts
                } else {
                    for i in counts.indices { total.histogram![i] &+= counts[i] }
                }
            }
        }
        return total
    }

    /// Errors by code since the last reset, by code.
    public var errorCounts: [(String, Int)] {
        errors.withLockedValue { $0.sorted { $0.key < $1.key }.map { ($0.key, $0.value) } }
    }

    /// CONFIG RESETSTAT: commandstats, latencystats and errorstats start again from zero.
    public func reset() {
        blocks.withLockedValue { blocks in
            var baseline: [Int: CommandFigures] = [:]
            for index in 0..<capacity {
                let figures = Self.sum(index, blocks)
                if !figures.isEmpty || figures.histogram != nil { baseline[index] = figures }
            }
            blocks.baseline = baseline
        }
        errors.withLockedValue { $0.removeAll() }
    }
}

extension CommandFigures {
    func subtracting(_ base: CommandFigures) -> CommandFigures {
        var result = CommandFigures(calls: calls &- base.calls, nanoseconds: nanoseconds &- base.nanoseconds,
                                    rejectedCalls: rejectedCalls &- base.rejectedCalls,
                                    failedCalls: failedCalls &- base.failedCalls, histogram: histogram)
        if var counts = histogram, let old = base.histogram {
            for i in counts.indices { counts[i] &-= old[i] }
            result.histogram = counts.contains(where: { $0 > 0 }) ? counts : nil
        }
        return result
    }
}

// MARK: - Slow log

/// SLOWLOG's entries, newest last, at most `slowlog-max-len`.
public struct SlowLog: Sendable {
    public struct Entry: Sendable, Equatable {
        public var id: Int
        /// Unix seconds.
        public var time: Int
        public var microseconds: Int
        public var arguments: [[UInt8]]
        public var address: String
        public var name: String
    }

    public private(set) var entries = CircularBuffer<Entry>()
    /// As in Redis, a change applies at the next command logged or checked: until then the log
    /// may hold more.
    public var maxLength = 128
    private var nextID = 0

    public init() {}

    /// Redis's `slowlogPushEntryIfNeeded`: adds `entry` (nil: none, only trims), then drops the
    /// oldest beyond the length.
    public mutating func push(_ entry: Entry?) {
        if var entry {
            entry.id = nextID
            nextID += 1
            entries.append(entry)
        }
        while entries.count > maxLength { entries.removeFirst() }
    }

    public mutating func reset() { entries.removeAll() }

    /// At most 32 arguments; past that the last one says how many more there were. An argument
    /// over 128 bytes keeps its first 128 and says how many more bytes it had. Arguments at the
    /// positions in `redacting` are shown as `(redacted)`.
    public static func entryArguments(_ arguments: CommandArguments, redacting: Range<Int> = 0..<0) -> [[UInt8]] {
        let maxArguments = 32
        let maxString = 128
        let shown = min(arguments.count, maxArguments)
        var result: [[UInt8]] = []
        result.reserveCapacity(shown)
        for i in 0..<shown {
            if shown != arguments.count && i == shown - 1 {
                result.append(Array("... (\(arguments.count - shown + 1) more arguments)".utf8))
            } else if redacting.contains(i) {
                result.append(Array("(redacted)".utf8))
            } else if arguments.length(i) > maxString {
                let bytes = arguments.withBytes(i) { Array($0.prefix(maxString)) }
                result.append(bytes + Array("... (\(arguments.length(i) - maxString) more bytes)".utf8))
            } else {
                result.append(arguments.bytes(i))
            }
        }
        return result
    }

    /// The arguments Redis hides from the slow log (passwords): AUTH's, HELLO's after AUTH,
    /// CONFIG SET requirepass's value, ACL SETUSER's rules.
    static func redacted(_ spec: CommandSpec, _ arguments: CommandArguments) -> Range<Int> {
        switch spec.name {
        case "auth": return 1..<arguments.count
        case "acl|setuser": return 2..<arguments.count
        case "hello":
            for i in 1..<max(1, arguments.count) where arguments.matches(i, "AUTH") {
                return (i + 1)..<min(arguments.count, i + 3)
            }
            return 0..<0
        case "config|set":
            for i in stride(from: 2, to: arguments.count - 1, by: 2) {
                let name = arguments.string(i).lowercased()
                if name == "requirepass" || name == "masterauth" { return (i + 1)..<(i + 2) }
            }
            return 0..<0
        default: return 0..<0
        }
    }
}

// MARK: - Latency monitor

/// The latency monitor's events (Redis's `latency.c`): per event, one sample a second (the
/// largest of that second), the last 160, and the largest ever.
public struct LatencyEvents: Sendable {
    public static let samplesKept = 160

    public struct Series: Sendable, Equatable {
        public var samples: [(time: Int, milliseconds: Int)] = []
        public var max = 0

        public static func == (a: Series, b: Series) -> Bool {
            a.max == b.max && a.samples.elementsEqual(b.samples) { $0.time == $1.time && $0.milliseconds == $1.milliseconds }
        }
    }

    public private(set) var events: [String: Series] = [:]

    public init() {}

    public mutating func add(_ event: String, milliseconds: Int, at time: Int) {
        var series = events[event] ?? Series()
        series.max = Swift.max(series.max, milliseconds)
        if let last = series.samples.last, last.time == time {
            if milliseconds > last.milliseconds { series.samples[series.samples.count - 1].milliseconds = milliseconds }
        } else {
            series.samples.append((time, milliseconds))
            if series.samples.count > Self.samplesKept { series.samples.removeFirst() }
        }
        events[event] = series
    }

    /// Forgets the named events (every event when `names` is empty); returns how many were known.
    public mutating func reset(_ names: [String]) -> Int {
        if names.isEmpty {
            defer { events.removeAll() }
            return events.count
        }
        var count = 0
        for name in Set(names) where events.removeValue(forKey: name) != nil { count += 1 }
        return count
    }
}
