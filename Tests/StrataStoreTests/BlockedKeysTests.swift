import Synchronization
import Testing
@testable import StrataStore

/// Which clients a ``BlockedKeys`` woke, in order.
final class WakeLog: Sendable {
    private let woken = Mutex<[Int]>([])
    var order: [Int] { woken.withLock { $0 } }
    func wakeup(_ id: Int) -> BlockedKeys.Wakeup { BlockedKeys.Wakeup { self.woken.withLock { $0.append(id) } } }
}

@Suite("BlockedKeys")
struct BlockedKeysTests {
    let queue = Array("queue".utf8)
    let other = Array("other".utf8)

    func touch(_ registry: BlockedKeys, _ key: [UInt8], database: Int = 0) {
        key.withUnsafeBytes { registry.touched(database: database, key: $0) }
    }

    @Test("a write to a key wakes the client that blocked on it first, and only that one")
    func firstComesFirst() {
        let registry = BlockedKeys(), log = WakeLog()
        for id in [7, 3, 5] { registry.block(clientID: id, database: 0, keys: [queue], sequence: nil, wakeup: log.wakeup(id)) }
        #expect(registry.count == 3)
        touch(registry, queue)
        #expect(registry.hasReady)
        registry.serveReady()
        #expect(log.order == [7])
        #expect(!registry.hasReady)
        // Served: the next write wakes the next one.
        registry.unblock(clientID: 7)
        touch(registry, queue)
        registry.serveReady()
        #expect(log.order == [7, 3])
        #expect(registry.count == 2)
    }

    @Test("writes to keys nobody waits on, or in another database, wake nobody")
    func otherKeys() {
        let registry = BlockedKeys(), log = WakeLog()
        registry.block(clientID: 1, database: 0, keys: [queue], sequence: nil, wakeup: log.wakeup(1))
        touch(registry, other)
        touch(registry, queue, database: 1)
        #expect(!registry.hasReady)
        registry.serveReady()
        #expect(log.order.isEmpty)
    }

    @Test("a woken client that found nothing blocks again in its old place, ahead of later ones")
    func keepsItsPlace() {
        let registry = BlockedKeys(), log = WakeLog()
        let first = registry.block(clientID: 1, database: 0, keys: [queue], sequence: nil, wakeup: log.wakeup(1))
        registry.block(clientID: 2, database: 0, keys: [queue], sequence: nil, wakeup: log.wakeup(2))
        touch(registry, queue)
        registry.serveReady()
        #expect(log.order == [1])
        // Another client took the element: client 1 blocks again with its sequence.
        registry.block(clientID: 1, database: 0, keys: [queue], sequence: first, wakeup: log.wakeup(1))
        #expect(registry.count == 2)
        touch(registry, queue)
        registry.serveReady()
        #expect(log.order == [1, 1])
    }

    @Test("a woken client that goes away passes its wake-up on to the next one")
    func wokenThenGone() {
        let registry = BlockedKeys(), log = WakeLog()
        registry.block(clientID: 1, database: 0, keys: [queue], sequence: nil, wakeup: log.wakeup(1))
        registry.block(clientID: 2, database: 0, keys: [queue], sequence: nil, wakeup: log.wakeup(2))
        touch(registry, queue)
        registry.serveReady()
        #expect(registry.unblock(clientID: 1))
        #expect(!registry.unblock(clientID: 1), "once")
        registry.serveReady()
        #expect(log.order == [1, 2])
        #expect(registry.count == 1)
    }

    @Test("a client blocked on two keys is woken once; each key's next waiter is woken for the other")
    func twoKeys() {
        let registry = BlockedKeys(), log = WakeLog()
        registry.block(clientID: 1, database: 0, keys: [queue, other], sequence: nil, wakeup: log.wakeup(1))
        registry.block(clientID: 2, database: 0, keys: [other], sequence: nil, wakeup: log.wakeup(2))
        touch(registry, queue)
        touch(registry, other)
        registry.serveReady()
        #expect(log.order == [1, 2])
    }

    @Test("a wake-up fires once, whoever fires it (a write, the timeout, CLIENT UNBLOCK)")
    func wakeupOnce() {
        let registry = BlockedKeys(), log = WakeLog()
        let wakeup = log.wakeup(9)
        registry.block(clientID: 9, database: 0, keys: [queue], sequence: nil, wakeup: wakeup)
        #expect(registry.wake(clientID: 9))
        wakeup.fire()
        touch(registry, queue)
        registry.serveReady()
        #expect(log.order == [9])
        #expect(registry.isBlocked(clientID: 9))
        registry.unblock(clientID: 9)
        #expect(!registry.isBlocked(clientID: 9) && registry.count == 0)
        #expect(!registry.wake(clientID: 9))
    }

    @Test("with nobody blocked a write costs one load and marks nothing")
    func idle() {
        let registry = BlockedKeys()
        touch(registry, queue)
        #expect(!registry.hasReady && registry.count == 0)
    }
}
