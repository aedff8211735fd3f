/// Health of the other nodes, as one node sees it: a pure state machine over an injected clock.
///
/// The caller calls ``tick(now:)`` periodically and performs the actions it returns (send a
/// PING, mark a peer down or up); it reports replies with ``pong(_:now:)`` and failures with
/// ``pingFailed(_:now:)``. A peer that has not answered for `timeout` is down; the first reply
/// after that brings it back.
///
/// With `stallAfter` set, ticks further apart than that mean this node itself was stopped or starved: the peers'
/// silence was its own, so none is marked down for it, and ``Action/stalled(_:)`` tells the
/// caller that the others may have taken its slots over meanwhile (it must rejoin).
public struct HealthStateMachine<Instant: InstantProtocol>: Sendable where Instant: Sendable, Instant.Duration: Sendable {
    public enum Action: Equatable, Sendable {
        case ping(Int)
        case markDown(Int)
        case markUp(Int)
        /// This node did not run for the given time (SIGSTOP, a starved process).
        case stalled(Instant.Duration)
    }

    struct Peer: Sendable {
        var lastReply: Instant
        var pingSent: Instant?
        var lastPing: Instant?
        var up = true
    }

    public let timeout: Instant.Duration
    public let interval: Instant.Duration
    /// A gap between ticks longer than this is this node's own stall (nil: not checked).
    public let stallAfter: Instant.Duration?
    private(set) var peers: [Peer]
    private var lastTick: Instant?

    /// - Parameters:
    ///   - peerCount: the number of peers (this node excluded); each starts up, as of `now`.
    ///   - timeout: silence after which a peer is down (`cluster-node-timeout`).
    ///   - interval: time between two PINGs to one peer.
    ///   - stallAfter: a gap between two ticks after which this node counts itself as stalled.
    public init(peerCount: Int, now: Instant, timeout: Instant.Duration, interval: Instant.Duration,
                stallAfter: Instant.Duration? = nil) {
        self.timeout = timeout
        self.interval = interval
        self.stallAfter = stallAfter
        self.peers = Array(repeating: Peer(lastReply: now), count: peerCount)
    }

    public func isUp(_ peer: Int) -> Bool { peers[peer].up }

    /// When `peer` last answered.
    public func lastReply(_ peer: Int) -> Instant { peers[peer].lastReply }

    public mutating func tick(now: Instant) -> [Action] {
        var actions: [Action] = []
        if let stallAfter, let lastTick, lastTick.advanced(by: stallAfter) < now {
            actions.append(.stalled(lastTick.duration(to: now)))
            for i in peers.indices {
                peers[i].lastReply = now
                peers[i].pingSent = nil
                peers[i].lastPing = nil
            }
        }
        lastTick = now
        for i in peers.indices {
            if peers[i].up && peers[i].lastReply.advanced(by: timeout) < now {
                peers[i].up = false
                actions.append(.markDown(i))
            }
            if let sent = peers[i].pingSent {
                // A PING unanswered for a whole timeout is lost; send another.
                if sent.advanced(by: timeout) < now { peers[i].pingSent = nil }
            }
            if peers[i].pingSent == nil && (peers[i].lastPing.map { $0.advanced(by: interval) <= now } ?? true) {
                peers[i].pingSent = now
                peers[i].lastPing = now
                actions.append(.ping(i))
            }
        }
        return actions
    }

    public mutating func pong(_ peer: Int, now: Instant) -> Action? {
        peers[peer].lastReply = now
        peers[peer].pingSent = nil
        guard !peers[peer].up else { return nil }
        peers[peer].up = true
        return .markUp(peer)
    }

    public mutating func pingFailed(_ peer: Int, now: Instant) {
        peers[peer].pingSent = nil
    }
}
