import NIOConcurrencyHelpers
import NIOCore
import StrataCommands
import StrataStore

/// The subscribed connections of one event loop that have published messages to write.
///
/// Publishers on any thread post a connection here; the first post after the loop last drained
/// the mailbox schedules one task on the loop, which writes every posted connection's messages.
/// So a loop is woken once for however many subscribers and publishers are busy at a time, not
/// once per subscriber and batch (each cross-loop wake-up is a syscall and a context switch).
///
/// `@unchecked Sendable`: `_state` is only touched under `lock` (an adaptive mutex).
final class PushMailbox: @unchecked Sendable {
    private struct State {
        var posted: [@Sendable () -> Void] = []
        var scheduled = false
    }
    private let loop: any EventLoop
    private let lock = ShardLock()
    private var _state = State()

    init(loop: any EventLoop) { self.loop = loop }

    /// Asks the loop to run `write` (a connection's write of its messages) soon.
    func post(_ write: @escaping @Sendable () -> Void) {
        let schedule = lock.withLock { () -> Bool in
            _state.posted.append(write)
            if _state.scheduled { return false }
            _state.scheduled = true
            return true
        }
        guard schedule else { return }
        loop.execute { self.drain() }
    }

    private func drain() {
        let posted = lock.withLock { () -> [@Sendable () -> Void] in
            _state.scheduled = false
            let posted = _state.posted
            _state.posted = []
            return posted
        }
        for write in posted { write() }
    }

    /// One mailbox per event loop, made on first use.
    static func of(_ loop: any EventLoop) -> PushMailbox {
        registry.withLockedValue { boxes in
            let id = ObjectIdentifier(loop)
            if let box = boxes[id] { return box }
            let box = PushMailbox(loop: loop)
            boxes[id] = box
            return box
        }
    }

    private static let registry = NIOLockedValueBox<[ObjectIdentifier: PushMailbox]>([:])
}
