/// Objects that live until the process exits and that every event loop touches on every command:
/// the server context, the keyspace and its shards, the command table's specs, the L3 tier.
///
/// Swift retains and releases an object whenever code takes a reference to it, and a retain is an
/// atomic write to the object's header. With two event loops on two cores, the header's cache line
/// of such a shared object bounces between the cores, several times per command. The runtime
/// checks an object's *immortal* bit first and then leaves the count alone, so the retains and
/// releases of an immortal object only read its header, and the line stays in both caches.
/// Measured (docs/architecture.md, "Shared objects"): 6% less event-loop CPU per SET.
///
/// The entry point is the one the standard library uses to make its own static objects immortal.
/// An immortal object is never freed: only for objects that live until exit. Tests check that it
/// still does what this relies on (`ProcessLifetimeTests`).
public enum ProcessLifetime {
    /// Makes `object` immortal: it is never freed, and retaining or releasing it writes nothing.
    public static func makeImmortal(_ object: AnyObject) {
        #if os(Linux)
        swiftImmortalize(Unmanaged.passUnretained(object).toOpaque())
        #endif
    }
}

extension Keyspace {
    /// Makes the keyspace, its shards, their locks and the journal's counters immortal (see
    /// ``ProcessLifetime``): for the server's keyspace, which lives until exit.
    public func makeImmortal() {
        ProcessLifetime.makeImmortal(self)
        ProcessLifetime.makeImmortal(journalCounters)
        for shard in shards {
            ProcessLifetime.makeImmortal(shard)
            ProcessLifetime.makeImmortal(shard.lock)
        }
    }
}

#if os(Linux)
@_silgen_name("_swift_stdlib_immortalize")
private func swiftImmortalize(_ object: UnsafeMutableRawPointer)
#endif
