import NIOConcurrencyHelpers
import Synchronization

/// What happened to a key, as the shard saw it: the raw material of keyspace notifications.
/// Which command did it, and so the event's name (`lpush`, `rename_to`…), is the command
/// layer's business (see `KeyspaceNotifier` in StrataCommands).
public enum KeyEvent: UInt8, Sendable {
    /// A key that did not exist was stored (Redis's `new`), followed by `.written`.
    case created
    /// A key's value was stored or changed.
    case written
    /// A key was deleted by a command, or an emptied collection went away.
    case deleted
    /// A TTL was set (EXPIRE, SET EX…).
    case expireSet
    /// A TTL was removed (PERSIST, GETEX PERSIST).
    case persisted
    /// A key was deleted because its TTL passed.
    case expired
    /// A key was deleted by `maxmemory` eviction (no L3).
    case evicted
    /// A key's value left memory for L3 under `maxmemory` (the key stays, read back on access).
    case evictedToL3
}

/// Receives every ``KeyEvent`` while keyspace notifications are on.
public protocol KeyEventSink: AnyObject, Sendable {
    /// Called with the key's shard locked: it must not take a shard lock.
    func keyEvent(_ event: KeyEvent, database: Int, key: UnsafeRawBufferPointer)
}

/// Where shards report key events: one relaxed load per write while notifications are off.
public final class KeyEventHook: Sendable {
    private let enabled = Atomic<Bool>(false)
    private let sinkBox = NIOLockedValueBox<(any KeyEventSink)?>(nil)
    /// Read without the lock on the hot path: set once, before `enabled` first turns on.
    private nonisolated(unsafe) var cachedSink: (any KeyEventSink)?

    init() {}

    /// Installs the receiver (once, at startup) and turns delivery on or off.
    public func configure(sink: any KeyEventSink, enabled on: Bool) {
        sinkBox.withLockedValue { box in
            if box == nil {
                box = sink
                cachedSink = sink
            }
        }
        enabled.store(on, ordering: .releasing)
    }

    public var isEnabled: Bool { enabled.load(ordering: .relaxed) }

    @inline(__always)
    func report(_ event: KeyEvent, database: Int, key: UnsafeRawBufferPointer) {
        guard enabled.load(ordering: .acquiring), let sink = cachedSink else { return }
        sink.keyEvent(event, database: database, key: key)
    }
}
