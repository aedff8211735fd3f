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
}
