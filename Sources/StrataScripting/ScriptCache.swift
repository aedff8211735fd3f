import NIOConcurrencyHelpers
import NIOCore
import StrataRESP
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// The flags a script declares in its shebang line (`#!lua flags=no-writes,allow-oom`).
public struct ScriptFlags: OptionSet, Sendable, Equatable {
    public let rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }

    public static let noWrites = ScriptFlags(rawValue: 1 << 0)
    public static let allowOOM = ScriptFlags(rawValue: 1 << 1)
    public static let allowStale = ScriptFlags(rawValue: 1 << 2)
    public static let noCluster = ScriptFlags(rawValue: 1 << 3)
    public static let allowCrossSlotKeys = ScriptFlags(rawValue: 1 << 4)

    /// The names of the flags set, in Redis's order (FUNCTION LIST).
    public var names: [String] { Self.byName.filter { contains($0.1) }.map(\.0) }

    static let byName: [(String, ScriptFlags)] = [
        ("no-writes", .noWrites), ("allow-oom", .allowOOM), ("allow-stale", .allowStale),
        ("no-cluster", .noCluster), ("allow-cross-slot-keys", .allowCrossSlotKeys),
    ]
}

/// A script of the cache: its body and what its shebang says.
public struct Script: Sendable, Equatable {
    public let sha: String
    public let body: [UInt8]
    /// Whether the body starts with a `#!lua` line; such scripts follow the stricter rules of
    /// Redis 7 (e.g. refused under OOM unless `allow-oom`).
    public let hasShebang: Bool
    public let flags: ScriptFlags
    /// Where the Lua code starts: after the shebang line, at its newline, so that line numbers
    /// in error messages count the shebang as line 1, as Redis's do.
    public let codeOffset: Int

    /// Parses the shebang, if any; the error is Redis's text.
    public static func parse(_ body: [UInt8], sha: String? = nil) -> Result<Script, ScriptError> {
        let sha = sha ?? SHA1.hex(body)
        guard body.count >= 2, body[0] == UInt8(ascii: "#"), body[1] == UInt8(ascii: "!") else {
            return .success(Script(sha: sha, body: body, hasShebang: false, flags: [], codeOffset: 0))
        }
        guard let newline = body.firstIndex(of: UInt8(ascii: "\n")) else {
            return .failure(ScriptError("ERR Invalid script shebang"))
        }
        let line = String(decoding: body[0..<newline], as: UTF8.self)
        let words = line.split(separator: " ", omittingEmptySubsequences: true)
        guard let engine = words.first, engine == "#!lua" else {
            return .failure(ScriptError("ERR Unexpected engine in script shebang: \(words.first.map(String.init) ?? line)"))
        }
        var flags: ScriptFlags = []
        for word in words.dropFirst() {
            guard word.hasPrefix("flags=") else {
                return .failure(ScriptError("ERR Unknown lua shebang option: \(word)"))
            }
            for name in word.dropFirst("flags=".count).split(separator: ",", omittingEmptySubsequences: true) {
                guard let flag = ScriptFlags.byName.first(where: { $0.0 == name })?.1 else {
                    return .failure(ScriptError("ERR Unexpected flag in script shebang: \(name)"))
                }
                flags.insert(flag)
            }
        }
        return .success(Script(sha: sha, body: body, hasShebang: true, flags: flags, codeOffset: newline))
    }
}

/// An error reply: the text after the `-`, starting with its code.
public struct ScriptError: Error, Sendable, Equatable {
    public let message: String
    public init(_ message: String) { self.message = message }
}

/// One script being run: what `SCRIPT KILL` and the `BUSY` replies of other clients need to see.
public final class RunningScript: Sendable {
    /// Monotonic milliseconds at the start.
    public let startedAt: Int64
    let killRequested = Atomic<Bool>(false)
    /// Set once the script has run a write command: it can no longer be killed.
    public let wrote = Atomic<Bool>(false)
    /// Set once it has run longer than `busy-reply-threshold`.
    let busy = Atomic<Bool>(false)

    /// FCALL's function and command (FUNCTION STATS); nil for EVAL.
    public let function: Command?

    /// The command that runs a function: its name and arguments.
    public struct Command: Sendable {
        public let name: String
        public let arguments: ByteBuffer
        public let spans: [ArgumentSpan]
        public init(name: String, arguments: ByteBuffer, spans: [ArgumentSpan]) {
            self.name = name
            self.arguments = arguments
            self.spans = spans
        }
    }

    init(startedAt: Int64, function: Command? = nil) {
        self.startedAt = startedAt
        self.function = function
    }

    public var isKillRequested: Bool { killRequested.load(ordering: .relaxed) }
}

/// The scripts every thread's Lua state may run (sha1 → body), and the scripts running now.
///
/// Shared by all event loops, under a lock. Each thread's ``LuaEngine`` compiles a script the
/// first time it meets it, and forgets what it compiled when ``generation`` changes
/// (`SCRIPT FLUSH`).
public final class ScriptCache: Sendable {
    private struct State {
        var scripts: [String: Script] = [:]
        var running: [ObjectIdentifier: RunningScript] = [:]
    }

    private let state = NIOLockedValueBox(State())
    /// Changes at every flush; a Lua state that saw another value drops its compiled functions.
    let generationCounter = Atomic<Int>(0)
    /// Scripts running past `busy-reply-threshold`: while non-zero, other clients get `-BUSY`.
    private let busyScripts = Atomic<Int>(0)
    /// `busy-reply-threshold` (alias `lua-time-limit`) in milliseconds; 0 turns BUSY off.
    public let busyThreshold = Atomic<Int>(5000)
    /// Tells engines apart (tests run several servers, and so caches, on the same threads).
    let identity: Int

    private static let identities = Atomic<Int>(1)

    public init() {
        identity = Self.identities.wrappingAdd(1, ordering: .relaxed).oldValue
    }

    public var generation: Int { generationCounter.load(ordering: .acquiring) }

    /// Adds a parsed script (EVAL, SCRIPT LOAD).
    public func add(_ script: Script) {
        state.withLockedValue { $0.scripts[script.sha] = script }
    }

    public func script(sha: String) -> Script? {
        state.withLockedValue { $0.scripts[sha] }
    }

    public func contains(sha: String) -> Bool {
        state.withLockedValue { $0.scripts[sha] != nil }
    }

    public var count: Int { state.withLockedValue { $0.scripts.count } }

    /// SCRIPT FLUSH.
    public func flush() {
        state.withLockedValue { $0.scripts.removeAll() }
        generationCounter.wrappingAdd(1, ordering: .releasing)
    }

    // MARK: - Running scripts

    /// Whether a script runs past the threshold: the dispatcher answers `-BUSY` to commands
    /// not allowed while it does.
    @inline(__always)
    public var isBusy: Bool { busyScripts.load(ordering: .relaxed) > 0 }

    /// A script starts. Only scripts that go busy are registered (under the lock), so a short
    /// script costs no lock here.
    func started(function: RunningScript.Command? = nil) -> RunningScript {
        RunningScript(startedAt: Self.monotonicMilliseconds(), function: function)
    }

    static let busyEval = "BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE."
    static let busyFunction = "BUSY Redis is busy running a script. You can only call FUNCTION KILL or SHUTDOWN NOSAVE."

    /// The -BUSY reply while ``isBusy``: it names the KILL that stops what runs.
    public var busyMessage: String {
        state.withLockedValue { $0.running.values.contains { $0.function != nil } } ? Self.busyFunction : Self.busyEval
    }

    /// The busy scripts (FUNCTION STATS).
    public var busyRuns: [RunningScript] { state.withLockedValue { Array($0.running.values) } }

    func finished(_ run: RunningScript) {
        guard run.busy.load(ordering: .relaxed) else { return }
        state.withLockedValue { _ = $0.running.removeValue(forKey: ObjectIdentifier(run)) }
        busyScripts.wrappingSubtract(1, ordering: .relaxed)
    }

    /// Called by the engine's instruction hook: marks the script busy once past the threshold.
    func checkBusy(_ run: RunningScript) {
        guard !run.busy.load(ordering: .relaxed) else { return }
        let threshold = busyThreshold.load(ordering: .relaxed)
        guard threshold > 0, Self.monotonicMilliseconds() - run.startedAt >= Int64(threshold) else { return }
        run.busy.store(true, ordering: .relaxed)
        state.withLockedValue { $0.running[ObjectIdentifier(run)] = run }
        busyScripts.wrappingAdd(1, ordering: .relaxed)
    }

    public enum KillOutcome: Sendable, Equatable {
        case killed, notBusy, unkillable
        /// SCRIPT KILL while a function runs, FUNCTION KILL while an EVAL does: the -BUSY text.
        case otherKind(String)
    }

    /// SCRIPT KILL (`functions` false) or FUNCTION KILL: stops the scripts running past the
    /// threshold, unless one has written.
    public func kill(functions: Bool = false) -> KillOutcome {
        let busy = state.withLockedValue { Array($0.running.values) }
        guard !busy.isEmpty else { return .notBusy }
        if busy.contains(where: { $0.wrote.load(ordering: .relaxed) }) { return .unkillable }
        if !functions && busy.contains(where: { $0.function != nil }) { return .otherKind(Self.busyFunction) }
        if functions && busy.contains(where: { $0.function == nil }) { return .otherKind(Self.busyEval) }
        for run in busy { run.killRequested.store(true, ordering: .relaxed) }
        return .killed
    }

    public static func monotonicMilliseconds() -> Int64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Int64(ts.tv_sec) * 1000 + Int64(ts.tv_nsec) / 1_000_000
    }
}
