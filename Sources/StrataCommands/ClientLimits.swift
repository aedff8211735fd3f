import StrataConfig
/// The limits on client memory, checked by the server's cron (Redis's `clientsCron` and
/// `evictClients`): `client-output-buffer-limit` per client, `maxmemory-clients` for all.
///
/// A connection already stops running commands while its unsent output is over its channel's
/// limit, so a normal client's output stays near 1 MB; these limits disconnect clients that
/// hold even that for too long, or too many of them together.
public struct ClientMemory: Sendable, Equatable {
    /// Every client's `tot-mem`, summed (INFO `mem_clients_normal`).
    public var total = 0
    /// The largest query buffer and unsent output of one client.
    public var largestQueryBuffer = 0
    public var largestOutput = 0
}

extension ClientRegistry {
    public func memory() -> ClientMemory {
        var memory = ClientMemory()
        for session in all {
            memory.total += session.totalMemory
            memory.largestQueryBuffer = max(memory.largestQueryBuffer, session.queryBufferBytes.load(ordering: .relaxed))
            memory.largestOutput = max(memory.largestOutput, session.unsentBytes)
        }
        return memory
    }
}

extension ServerContext {
    /// Disconnects the clients over their output limit, then, while all clients together use
    /// more than `maxmemory-clients`, the largest ones; records what the rest use (it counts
    /// against `maxmemory`). Returns what it disconnected, for the log.
    @discardableResult
    public func enforceClientLimits(now: Int64) -> [(id: Int, address: String, reason: String)] {
        let configuration = self.configuration
        let limits = configuration.clientOutputBufferLimit
        var closed: [(id: Int, address: String, reason: String)] = []
        // The ring's own links (named strata-cluster-…) are never cut: commands in flight on
        // them belong to many clients (as Redis exempts its replicas from maxmemory-clients).
        // Clients already closed (and not yet gone) are neither counted nor closed again.
        var sessions = clients.all.filter {
            !$0.killed.load(ordering: .relaxed) && !$0.shared.withLockedValue { $0.name.hasPrefix("strata-cluster-") }
        }
        sessions.removeAll { session in
            let output = session.unsentBytes
            // A subscribed client is of Redis's `pubsub` class (32 MB hard, 8 MB for 60 s soft).
            let limit = session.subscriptions.any ? limits.pubsub : limits.normal
            if let reason = Self.overOutputLimit(session, output: output, limit: limit, now: now) {
                statistics.outputBufferLimitDisconnections.add(1, ordering: .relaxed)
                closed.append((session.id, session.address, reason))
                session.killed.store(true, ordering: .relaxed)
                session.close()
                return true
            }
            return false
        }
        var total = sessions.reduce(0) { $0 + $1.totalMemory }
        defer { keyspace.setClientMemory(total) }
        let cap = configuration.maxMemoryClients.limit(maxMemory: configuration.maxMemory)
        guard cap > 0, total > cap else { return closed }
        // CLIENT NO-EVICT ON exempts a client (its memory still counts).
        let evictable = sessions.filter { !$0.noEvict.load(ordering: .relaxed) }
        for session in evictable.sorted(by: { $0.totalMemory > $1.totalMemory }) where total > cap {
            total -= session.totalMemory
            statistics.evictedClients.add(1, ordering: .relaxed)
            closed.append((session.id, session.address, "maxmemory-clients"))
            session.killed.store(true, ordering: .relaxed)
            session.close()
        }
        return closed
    }

    /// Why `session` is over its output limit, or nil; notes when it went over the soft limit.
    static func overOutputLimit(_ session: ClientSession, output: Int, limit: OutputBufferLimit, now: Int64) -> String? {
        if limit.hard > 0 && output >= limit.hard {
            return "output buffer of \(output) bytes over the hard limit \(limit.hard)"
        }
        guard limit.soft > 0 && output >= limit.soft else {
            session.softLimitSince.store(0, ordering: .relaxed)
            return nil
        }
        let since = session.softLimitSince.load(ordering: .relaxed)
        if since == 0 {
            session.softLimitSince.store(now, ordering: .relaxed)
            return nil
        }
        guard now - since >= Int64(limit.softSeconds) * 1000 else { return nil }
        return "output buffer of \(output) bytes over the soft limit \(limit.soft) for \(limit.softSeconds) s"
    }
}
