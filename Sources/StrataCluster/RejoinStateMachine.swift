/// Whether this node may serve its own slots: a pure state machine over an injected clock, run
/// by the health monitor (see docs/cluster.md, "Failure and return").
///
/// A node that starts, or finds it has been stopped or starved for part of a node timeout (so the
/// others may have taken its slots over), rejoins: it holds every command on its own slots back
/// while it asks each peer (``Action/poll(_:)``) whether that peer still holds keys it wrote for
/// it. A peer answers "done" once it has handed them back and serves this node's slots no more.
/// When every peer has answered done, or cannot be reached (connection refused: it is not
/// running, so it serves nothing), the node serves again. A peer that neither answers nor refuses
/// (stopped, partitioned) is waited for until `deadline`, then given up on (``Action/serve(waited:forced:)``
/// names it; the log says so).
public struct RejoinStateMachine<Instant: InstantProtocol>: Sendable where Instant: Sendable, Instant.Duration: Sendable {
    public enum Action: Equatable, Sendable {
        /// Ask this peer whether it is done handing back.
        case poll(String)
        /// Serve again; `forced` are the peers given up on at the deadline.
        case serve(waited: Instant.Duration, forced: [String])
    }

    public enum State: Equatable, Sendable {
        case serving
        case rejoining(waiting: Set<String>, started: Instant, lastPoll: Instant)
    }

    public let deadline: Instant.Duration
    public let pollInterval: Instant.Duration
    public private(set) var state: State = .serving

    public init(deadline: Instant.Duration, pollInterval: Instant.Duration) {
        self.deadline = deadline
        self.pollInterval = pollInterval
    }

    public var isRejoining: Bool {
        if case .rejoining = state { return true }
        return false
    }

    /// Starts rejoining with `peers` (every other member); a rejoin already running keeps its
    /// start and also waits for `peers`.
    public mutating func begin(peers: [String], now: Instant) -> [Action] {
        var waiting = Set(peers)
        var started = now
        if case .rejoining(let already, let since, _) = state {
            waiting.formUnion(already)
            started = since
        }
        state = .rejoining(waiting: waiting, started: started, lastPoll: now)
        return finishIfDone(now: now) ?? waiting.sorted().map(Action.poll)
    }

    /// A peer's answer: `done` when it holds nothing of this node's and serves none of its slots.
    public mutating func answer(from peer: String, done: Bool, now: Instant) -> [Action] {
        guard done else { return [] }
        return remove(peer, now: now)
    }

    /// The peer refused the connection: it is not running, so it serves nothing.
    public mutating func unreachable(_ peer: String, now: Instant) -> [Action] {
        remove(peer, now: now)
    }

    /// The members changed: a peer no longer listed is not waited for.
    public mutating func members(_ peers: [String], now: Instant) -> [Action] {
        guard case .rejoining(let waiting, let started, let lastPoll) = state else { return [] }
        state = .rejoining(waiting: waiting.intersection(peers), started: started, lastPoll: lastPoll)
        return finishIfDone(now: now) ?? []
    }

    /// Polls the peers still waited for, every `pollInterval`; at the deadline, serves anyway.
    public mutating func tick(now: Instant) -> [Action] {
        guard case .rejoining(let waiting, let started, let lastPoll) = state else { return [] }
        if started.advanced(by: deadline) <= now {
            state = .serving
            return [.serve(waited: started.duration(to: now), forced: waiting.sorted())]
        }
        guard lastPoll.advanced(by: pollInterval) <= now else { return [] }
        state = .rejoining(waiting: waiting, started: started, lastPoll: now)
        return waiting.sorted().map(Action.poll)
    }

    private mutating func remove(_ peer: String, now: Instant) -> [Action] {
        guard case .rejoining(var waiting, let started, let lastPoll) = state, waiting.remove(peer) != nil else { return [] }
        state = .rejoining(waiting: waiting, started: started, lastPoll: lastPoll)
        return finishIfDone(now: now) ?? []
    }

    private mutating func finishIfDone(now: Instant) -> [Action]? {
        guard case .rejoining(let waiting, let started, _) = state, waiting.isEmpty else { return nil }
        state = .serving
        return [.serve(waited: started.duration(to: now), forced: [])]
    }
}
