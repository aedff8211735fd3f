import NIOConcurrencyHelpers
import NIOCore
import Synchronization

/// CLIENT PAUSE and CLIENT UNPAUSE: while a pause holds, the commands it covers wait (they do
/// not fail) until CLIENT UNPAUSE or the pause's end, then run in order.
///
/// A held command suspends its connection the way a cold key does (`context.suspension` with
/// `rerun`): the connection runs nothing more and reads nothing more until the wait ends, then
/// runs the command again through the dispatcher (which holds it again if a new pause began).
/// With no pause, the dispatcher pays one relaxed atomic load per command (``isActive``).
///
/// What is held, as in Redis 7.0: with `ALL` every command of every client; with `WRITE` the
/// commands that may write or propagate: write commands, EVAL/EVALSHA/FCALL, PUBLISH,
/// SPUBLISH, PFCOUNT, and EXEC of a transaction holding one of them. The ring's own links are
/// never held (as Redis never pauses its replicas).
public final class ClientPause: Sendable {
    public enum Mode: Int, Sendable, Comparable {
        case none = 0
        case write = 1
        case all = 2

        public static func < (a: Mode, b: Mode) -> Bool { a.rawValue < b.rawValue }
    }

    private struct State {
        var mode = Mode.none
        /// Unix milliseconds at which the pause ends.
        var until: Int64 = 0
        var waiters: [EventLoopPromise<Void>] = []
    }

    private let current = Synchronization.Atomic<Int>(0)
    private let state = NIOLockedValueBox(State())

    public init() {}

    @inline(__always)
    public var isActive: Bool { current.load(ordering: .relaxed) != 0 }

    public var mode: Mode { state.withLockedValue { $0.mode } }

    /// CLIENT PAUSE: a pause already in effect keeps the stricter mode and the later end.
    public func pause(_ mode: Mode, until: Int64) {
        state.withLockedValue { state in
            state.mode = max(state.mode, mode)
            state.until = max(state.until, until)
            current.store(state.mode.rawValue, ordering: .relaxed)
        }
    }

    /// CLIENT UNPAUSE, or the pause's end: the held commands run again.
    public func unpause() {
        let waiters = state.withLockedValue { state -> [EventLoopPromise<Void>] in
            state.mode = .none
            state.until = 0
            current.store(0, ordering: .relaxed)
            defer { state.waiters = [] }
            return state.waiters
        }
        for waiter in waiters { waiter.succeed(()) }
    }

    /// Whether a pause in `mode` holds a command: `spec`, with `queued` the commands of the
    /// transaction when it is EXEC.
    public static func holds(_ mode: Mode, _ spec: CommandSpec, queued: [QueuedCommand]?) -> Bool {
        switch mode {
        case .none: return false
        case .all: return true
        case .write:
            if spec.flags.contains(.exec) {
                return (queued ?? []).contains { mayWrite($0.spec) }
            }
            return mayWrite(spec)
        }
    }

    /// Redis's `write` and `may_replicate` commands.
    static func mayWrite(_ spec: CommandSpec) -> Bool {
        if spec.flags.contains(.write) { return true }
        switch spec.name {
        case "eval", "evalsha", "fcall", "publish", "spublish", "pfcount": return true
        default: return false
        }
    }

    /// The wait for a command the pause holds, or nil when it may run now (a pause whose end
    /// has passed ends here).
    func hold(_ spec: CommandSpec, _ context: CommandContext) -> EventLoopFuture<Void>? {
        guard context.client.peerRole == nil, context.monitorOrigin == .client, let loop = context.eventLoop else {
            return nil
        }
        let now = WallClock.milliseconds()
        enum Decision { case run, expired, wait(EventLoopFuture<Void>, Int64) }
        let decision = state.withLockedValue { state -> Decision in
            guard state.mode != .none else { return .run }
            if now >= state.until { return .expired }
            guard Self.holds(state.mode, spec, queued: context.client.transaction) else { return .run }
            let promise = loop.makePromise(of: Void.self)
            state.waiters.append(promise)
            return .wait(promise.futureResult, state.until)
        }
        switch decision {
        case .run: return nil
        case .expired:
            unpause()
            return nil
        case .wait(let future, let until):
            scheduleEnd(at: until, on: loop)
            return future
        }
    }

    /// Ends the pause at `until` unless it was extended meanwhile (then checks again later).
    private func scheduleEnd(at until: Int64, on loop: any EventLoop) {
        let delay = max(0, until - WallClock.milliseconds())
        loop.scheduleTask(in: .milliseconds(delay)) { [self] in
            let end = state.withLockedValue { $0.mode == .none ? nil : $0.until }
            guard let end else { return }
            if WallClock.milliseconds() >= end {
                unpause()
            } else {
                scheduleEnd(at: end, on: loop)
            }
        }
    }
}
