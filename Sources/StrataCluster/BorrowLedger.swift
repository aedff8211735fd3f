import Synchronization

/// Keys this node wrote while their node was down: the node they belong to on the full ring
/// (every node up) could not be reached, so this node served their slots for it. When that node
/// returns, these keys go back to it, overwriting its older copies, before this node lets it
/// serve them (see docs/cluster.md, "Failure and return").
///
/// Touched only by writes to a borrowed slot, which happen only while some node is down; shared
/// by every event loop and the health loop, so it sits behind a mutex.
final class BorrowLedger: Sendable {
    struct Key: Hashable, Sendable {
        var database: Int
        var bytes: [UInt8]
    }

    /// What a write left: whether it deleted the key (DEL, UNLINK, GETDEL). A key that is absent
    /// here when it goes back is deleted on its node only if this node deleted it.
    struct Mark: Sendable, Equatable {
        var deleted: Bool
        /// Bumped by every record, so a hand-back only clears the marks it has sent.
        var generation: UInt64
    }

    private struct State {
        /// By the returning node's endpoint.
        var marks: [String: [Key: Mark]] = [:]
        /// Nodes whose keys are being handed back now.
        var returning: Set<String> = []
        var generation: UInt64 = 0
        /// Totals for INFO.
        var handedBack = 0
        var returns = 0
    }

    private let state = Mutex(State())

    /// Notes that this node wrote `key`, which belongs to `node`.
    func record(_ key: Key, for node: String, deleted: Bool) {
        state.withLock { state in
            state.generation &+= 1
            let previous = state.marks[node]?[key]
            state.marks[node, default: [:]][key] = Mark(deleted: deleted || (previous?.deleted ?? false),
                                                        generation: state.generation)
        }
    }

    /// Starts a hand-back to `node`; false when one is already running.
    func beginReturn(of node: String) -> Bool {
        state.withLock { $0.returning.insert(node).inserted }
    }

    /// Whether a hand-back to `node` is running.
    func isReturning(_ node: String) -> Bool {
        state.withLock { $0.returning.contains(node) }
    }

    /// Whether `key` was written here for `node` and not handed back yet.
    func holds(_ key: Key, for node: String) -> Bool {
        state.withLock { $0.marks[node]?[key] != nil }
    }

    /// What is held for `node` now.
    func marks(for node: String) -> [Key: Mark] {
        state.withLock { $0.marks[node] ?? [:] }
    }

    /// Forgets the marks in `sent` that no write has renewed since.
    func handedBack(_ sent: [Key: Mark], to node: String) {
        state.withLock { state in
            for (key, mark) in sent where state.marks[node]?[key] == mark {
                state.marks[node]?[key] = nil
            }
            state.handedBack += sent.count
            if state.marks[node]?.isEmpty == true { state.marks[node] = nil }
        }
    }

    /// Ends a hand-back. When nothing is left to send, `flip` runs under the ledger's lock (so no
    /// write can add a mark between the check and the flip) and true is returned; otherwise the
    /// caller runs another round.
    func endReturn(of node: String, flip: () -> Void) -> Bool {
        state.withLock { state in
            guard state.marks[node]?.isEmpty ?? true else { return false }
            state.returning.remove(node)
            state.returns += 1
            flip()
            return true
        }
    }

    /// Gives up a hand-back (the node went away again); the marks stay for its next return.
    func abandonReturn(of node: String) {
        _ = state.withLock { $0.returning.remove(node) }
    }

    /// Whether `node` may serve its slots as far as this node is concerned: nothing of its is
    /// held here, and no hand-back to it is running.
    func owesNothing(to node: String) -> Bool {
        state.withLock { ($0.marks[node]?.isEmpty ?? true) && !$0.returning.contains(node) }
    }

    /// For INFO: keys held for down nodes, keys handed back so far, completed returns.
    var figures: (held: Int, handedBack: Int, returns: Int) {
        state.withLock { state in
            (state.marks.values.reduce(0) { $0 + $1.count }, state.handedBack, state.returns)
        }
    }
}
