import NIOConcurrencyHelpers
import Synchronization

/// The clients blocked on keys (BLPOP, BLMOVE, BZPOPMIN…) and the keys that may now serve them,
/// as Redis's `blocking_keys` and `ready_keys`.
///
/// A blocking command that finds nothing to pop registers a ``Waiter`` on each of its keys and
/// suspends its connection. Any write to a key someone waits on marks the key ready
/// (``touched(database:key:)``, called by the shard under its lock); after the command that
/// wrote, the dispatcher calls ``serveReady()``, which wakes, for each ready key, the waiter that
/// blocked first and has not been woken yet. The woken client's connection runs the same command
/// again through the dispatcher: it either pops (and, if the key still holds elements, marks it
/// ready again for the next waiter) or blocks again in the place it had.
///
/// Waiters are served in the order they blocked (their sequence number), whichever event loop
/// they are on. Lock order: a shard lock may be held while this lock is taken, never the reverse,
/// and no waiter is woken while this lock is held.
public final class BlockedKeys: Sendable {
    /// Wakes one blocked client once: the first call completes its suspension, later ones do nothing.
    public final class Wakeup: Sendable {
        private let fired = Atomic<Bool>(false)
        private let action: @Sendable () -> Void

        public init(_ action: @escaping @Sendable () -> Void) { self.action = action }

        public func fire() {
            guard !fired.exchange(true, ordering: .acquiringAndReleasing) else { return }
            action()
        }
    }

    struct KeyRef: Hashable {
        var database: Int
        var key: [UInt8]
    }

    struct Waiter {
        var sequence: UInt64
        var clientID: Int
        var woken: Bool
        var wakeup: Wakeup
    }

    struct State {
        var waiters: [KeyRef: [Waiter]] = [:]
        var keysOfClient: [Int: [KeyRef]] = [:]
        var ready: [KeyRef] = []
        var readySet: Set<KeyRef> = []
        var nextSequence: UInt64 = 1
    }

    private let state = NIOLockedValueBox(State())
    /// Clients blocked now: while 0, writes skip this class entirely (one relaxed load).
    private let blockedClients = Atomic<Int>(0)
    private let readyCount = Atomic<Int>(0)

    public init() {}

    /// Clients blocked now (INFO `blocked_clients`).
    public var count: Int { blockedClients.load(ordering: .relaxed) }

    /// Whether ``serveReady()`` has anything to do.
    @inline(__always)
    public var hasReady: Bool { readyCount.load(ordering: .relaxed) > 0 }

    /// Registers `clientID` as blocked on `keys` (of `database`). `sequence` is the place it had
    /// when it blocked before and was woken without being served (nil the first time): it keeps
    /// that place. Returns its sequence number.
    @discardableResult
    public func block(clientID: Int, database: Int, keys: [[UInt8]], sequence: UInt64?, wakeup: Wakeup) -> UInt64 {
        state.withLockedValue { state in
            if let old = state.keysOfClient[clientID] { Self.remove(clientID, from: old, in: &state) } else {
                blockedClients.add(1, ordering: .relaxed)
            }
            let sequence = sequence ?? { defer { state.nextSequence += 1 }; return state.nextSequence }()
            var refs: [KeyRef] = []
            for key in keys {
                let ref = KeyRef(database: database, key: key)
                guard !refs.contains(ref) else { continue }
                refs.append(ref)
                var list = state.waiters[ref, default: []]
                let waiter = Waiter(sequence: sequence, clientID: clientID, woken: false, wakeup: wakeup)
                let position = list.firstIndex { $0.sequence > sequence } ?? list.count
                list.insert(waiter, at: position)
                state.waiters[ref] = list
            }
            state.keysOfClient[clientID] = refs
            return sequence
        }
    }

    /// `clientID` is no longer blocked (it was served, timed out, was unblocked or disconnected).
    /// If it had been woken for a key it did not take, that key is made ready again for the next
    /// waiter. Returns whether it was blocked.
    @discardableResult
    public func unblock(clientID: Int) -> Bool {
        let wasBlocked: Bool = state.withLockedValue { state in
            guard let refs = state.keysOfClient.removeValue(forKey: clientID) else { return false }
            for ref in refs {
                if let waiter = state.waiters[ref]?.first(where: { $0.clientID == clientID }), waiter.woken {
                    markReady(ref, in: &state)
                }
            }
            Self.remove(clientID, from: refs, in: &state)
            return true
        }
        if wasBlocked { blockedClients.subtract(1, ordering: .relaxed) }
        return wasBlocked
    }

    /// Wakes `clientID` at once (CLIENT UNBLOCK, a timeout): returns whether it was blocked.
    public func wake(clientID: Int) -> Bool {
        let wakeup: Wakeup? = state.withLockedValue { state in
            guard let ref = state.keysOfClient[clientID]?.first else { return nil }
            return state.waiters[ref]?.first(where: { $0.clientID == clientID })?.wakeup
        }
        wakeup?.fire()
        return wakeup != nil
    }

    /// Whether `clientID` is blocked now.
    public func isBlocked(clientID: Int) -> Bool {
        state.withLockedValue { $0.keysOfClient[clientID] != nil }
    }

    /// A key was written (called by its shard, under the shard's lock).
    @inline(__always)
    func touched(database: Int, key: UnsafeRawBufferPointer) {
        guard blockedClients.load(ordering: .relaxed) > 0 else { return }
        markReady(database: database, key: Array(key))
    }

    /// Marks a key ready: a served client calls this when the key it popped from still holds elements.
    public func markReady(database: Int, key: [UInt8]) {
        state.withLockedValue { state in
            let ref = KeyRef(database: database, key: key)
            guard state.waiters[ref] != nil else { return }
            markReady(ref, in: &state)
        }
    }

    /// Wakes, for each ready key, the first waiter not woken yet. Call with no lock held.
    public func serveReady() {
        let wakeups: [Wakeup] = state.withLockedValue { state in
            let ready = state.ready
            state.ready = []
            state.readySet = []
            readyCount.store(0, ordering: .relaxed)
            var wakeups: [Wakeup] = []
            for ref in ready {
                guard var list = state.waiters[ref], let first = list.firstIndex(where: { !$0.woken }) else { continue }
                let clientID = list[first].clientID
                // Woken once for all its keys: its other keys' next waiters stay first in line there.
                for other in state.keysOfClient[clientID] ?? [] where other != ref {
                    if let i = state.waiters[other]?.firstIndex(where: { $0.clientID == clientID }) {
                        state.waiters[other]![i].woken = true
                    }
                }
                list[first].woken = true
                state.waiters[ref] = list
                wakeups.append(list[first].wakeup)
            }
            return wakeups
        }
        for wakeup in wakeups { wakeup.fire() }
    }

    private func markReady(_ ref: KeyRef, in state: inout State) {
        guard state.readySet.insert(ref).inserted else { return }
        state.ready.append(ref)
        readyCount.add(1, ordering: .relaxed)
    }

    private static func remove(_ clientID: Int, from refs: [KeyRef], in state: inout State) {
        for ref in refs {
            guard var list = state.waiters[ref] else { continue }
            list.removeAll { $0.clientID == clientID }
            state.waiters[ref] = list.isEmpty ? nil : list
        }
    }
}
