import NIOCore
import StrataStore

/// The L3 tier as the command layer sees it (implemented by StrataPersistence).
public protocol ColdStorage: AnyObject, Sendable {
    /// Start-up recovery is still running: data commands get -LOADING.
    var isLoading: Bool { get }
    /// The last commit failed (e.g. the disk is full): writes get -MISCONF.
    var failure: String? { get }
    /// `l3-fsync always`: a write's reply waits for its commit.
    var syncsEveryWrite: Bool { get }
    /// The write queue is over its limit: writers wait for it to drain.
    var isBehind: Bool { get }
    /// Some write is not committed yet (pending or in a batch being committed).
    var hasUncommittedWrites: Bool { get }
    /// Completes once everything written so far is committed.
    func barrier(on eventLoop: any EventLoop) -> EventLoopFuture<Void>
    /// Completes once the write queue is back under its limit.
    func drained(on eventLoop: any EventLoop) -> EventLoopFuture<Void>
    /// Reads the values of cold stubs from disk (off the event loop) and puts them in memory.
    func warm(_ stubs: [Entry], on eventLoop: any EventLoop) -> EventLoopFuture<Void>
    /// SAVE: commits everything pending; returns the save time (Unix seconds).
    func save(on eventLoop: any EventLoop) -> EventLoopFuture<Int64>
    /// Unix seconds of the last SAVE or start-up.
    var lastSave: Int64 { get }
    /// Fields for INFO persistence.
    func infoFields() -> [(String, String)]
    /// The function libraries kept (their FUNCTION LOAD payloads), read at start-up.
    func storedLibraries() -> [[UInt8]]
    /// Replaces the kept libraries with those `snapshot` returns when the write runs (off the
    /// event loop), durably; completes with nil, or the error.
    func storeLibraries(_ snapshot: @escaping @Sendable () -> [[UInt8]], on eventLoop: any EventLoop) -> EventLoopFuture<String?>
    /// The same, on the calling thread (inside EXEC).
    func storeLibraries(_ snapshot: @Sendable () -> [[UInt8]]) -> String?
}

extension ColdStorage {
    public func storedLibraries() -> [[UInt8]] { [] }
    public func storeLibraries(_ snapshot: @escaping @Sendable () -> [[UInt8]], on eventLoop: any EventLoop) -> EventLoopFuture<String?> {
        eventLoop.makeSucceededFuture(nil)
    }
    public func storeLibraries(_ snapshot: @Sendable () -> [[UInt8]]) -> String? { nil }
}
