import StrataRESP
import StrataStore

enum TransactionCommands {
    static func multi(_ c: inout CommandContext) {
        guard c.client.transaction == nil else { c.error("ERR MULTI calls can not be nested"); return }
        c.client.transaction = []
        c.client.transactionFailed = false
        c.reply.ok()
    }

    static func discard(_ c: inout CommandContext) {
        guard c.client.transaction != nil else { c.error("ERR DISCARD without MULTI"); return }
        discardTransaction(c.client, keyspace: c.keyspace)
        c.reply.ok()
    }

    static func watch(_ c: inout CommandContext) {
        guard c.client.transaction == nil else { c.error("ERR WATCH inside MULTI is not allowed"); return }
        let token = c.client.watchToken ?? WatchToken()
        c.client.watchToken = token
        let db = c.database, now = c.now
        for i in 1..<c.arguments.count {
            let key = c.arguments.bytes(i)
            if c.client.watchedKeys.contains(where: { $0.database == db && $0.key == key }) { continue }
            // Look first (expiring a dead key now), then register: a key already expired when
            // watched does not count as changed when it is removed.
            let alive = c.withKey(i) { shard, keyBytes, hash in
                shard.find(database: db, key: keyBytes, hash: hash, now: now, access: .peek) != nil
            }
            c.keyspace.watch(database: db, key: key, token: token)
            c.client.watchedKeys.append((db, key, alive))
        }
        c.reply.ok()
    }

    static func unwatch(_ c: inout CommandContext) {
        // Inside EXEC (UNWATCH names no keys, so EXEC holds every shard lock) EXEC unwatches
        // everything afterwards anyway.
        if !c.shardsLocked { unwatchAll(c.client, keyspace: c.keyspace) }
        c.reply.ok()
    }

    static func exec(_ c: inout CommandContext) {
        guard let queue = c.client.transaction else { c.error("ERR EXEC without MULTI"); return }
        if c.client.transactionFailed {
            discardTransaction(c.client, keyspace: c.keyspace)
            c.error("EXECABORT Transaction discarded because of previous errors.")
            return
        }
        c.client.transaction = nil
        let keyspace = c.keyspace
        // The shards of every key the queue and the watches name, or all of them when a queued
        // command names no keys (KEYS, FLUSHDB, INFO, ... may touch any shard). Held from the
        // WATCH check to the last command: no other client's command on these keys interleaves.
        let shards = transactionShards(queue, watched: c.client.watchedKeys, keyspace: keyspace)
        keyspace.lock(shards)
        // A watched key that was alive when watched and has expired since counts as changed:
        // looking it up removes it, and the removal marks this client's token.
        let now = c.now
        for watched in c.client.watchedKeys where watched.existedAlive {
            watched.key.withUnsafeBytes { key in
                let hash = keyspace.hasher.hash(key)
                _ = keyspace.shard(for: hash).find(database: watched.database, key: key, hash: hash, now: now, access: .peek)
            }
        }
        let aborted = c.client.watchToken?.isDirty ?? false
        if aborted {
            keyspace.unlock(shards)
            unwatchAll(c.client, keyspace: keyspace)
            c.reply.nullArray()
            return
        }
        let savedArguments = c.arguments
        c.shardsLocked = true
        c.heldShards = shards
        c.reply.arrayHeader(queue.count)
        for command in queue {
            c.arguments = command.arguments
            if let refusal = ACLCommands.execRefusal(command.spec, &c) {
                c.reply.error(refusal)
                continue
            }
            CommandDispatcher.run(command.spec, &c)
        }
        c.shardsLocked = false
        c.heldShards = nil
        c.arguments = savedArguments
        keyspace.unlock(shards)
        unwatchAll(c.client, keyspace: keyspace)
        if keyspace.maxMemory > 0 { keyspace.evictIfNeeded(now: c.now) }
    }

    /// The indices (ascending, distinct) of the shards holding the keys the queued commands and
    /// the watches name; nil when a queued command names no keys, so EXEC must lock every shard.
    static func transactionShards(_ queue: [QueuedCommand], watched: [(database: Int, key: [UInt8], existedAlive: Bool)],
                                  keyspace: Keyspace) -> [Int]? {
        var hashes: [UInt64] = []
        for command in queue {
            let positions = command.spec.keyPositions(command.arguments)
            if positions.isEmpty { return nil }
            for position in positions {
                hashes.append(command.arguments.withBytes(position) { keyspace.hasher.hash($0) })
            }
        }
        for key in watched {
            hashes.append(key.key.withUnsafeBytes { keyspace.hasher.hash($0) })
        }
        return keyspace.lockOrder(for: hashes)
    }

    static func discardTransaction(_ client: ClientSession, keyspace: Keyspace) {
        client.transaction = nil
        client.transactionFailed = false
        unwatchAll(client, keyspace: keyspace)
    }

    static func unwatchAll(_ client: ClientSession, keyspace: Keyspace) {
        guard let token = client.watchToken else { return }
        for watched in client.watchedKeys {
            keyspace.unwatch(database: watched.database, key: watched.key, token: token)
        }
        client.watchedKeys = []
        client.watchToken = nil
    }
}
