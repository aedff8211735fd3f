import NIOCore
import StrataRESP
import StrataStore

extension CommandTable {
    private static let list = "list"
    private static let sortedSet = "sorted-set"

    static let blocking: [CommandSpec] = [
        CommandSpec("blpop", arity: -3, flags: [.write, .blocking], keys: (1, -2, 1), group: list, since: "2.0.0",
                    complexity: "O(N) where N is the number of provided keys.",
                    summary: "Removes and returns the first element in a list. Blocks until an element is available otherwise. Deletes the list if the last element was popped.",
                    syntax: "key [key ...] timeout", handler: BlockingCommands.blpop),
        CommandSpec("brpop", arity: -3, flags: [.write, .blocking], keys: (1, -2, 1), group: list, since: "2.0.0",
                    complexity: "O(N) where N is the number of provided keys.",
                    summary: "Removes and returns the last element in a list. Blocks until an element is available otherwise. Deletes the list if the last element was popped.",
                    syntax: "key [key ...] timeout", handler: BlockingCommands.brpop),
        CommandSpec("brpoplpush", arity: 4, flags: [.write, .denyOOM, .blocking], keys: (1, 2, 1), group: list, since: "2.2.0",
                    summary: "Pops an element from a list, pushes it to another list and returns it. Block until an element is available otherwise. Deletes the list if the last element was popped.",
                    syntax: "source destination timeout", handler: BlockingCommands.brpoplpush),
        CommandSpec("blmove", arity: 6, flags: [.write, .denyOOM, .blocking], keys: (1, 2, 1), group: list, since: "6.2.0",
                    summary: "Pops an element from a list, pushes it to another list and returns it. Blocks until an element is available otherwise. Deletes the list if the last element was moved.",
                    syntax: "source destination LEFT | RIGHT LEFT | RIGHT timeout", handler: BlockingCommands.blmove),
        CommandSpec("blmpop", arity: -5, flags: [.write, .blocking], numKeysAt: 2, group: list, since: "7.0.0",
                    complexity: "O(N+M) where N is the number of provided keys and M is the number of elements returned.",
                    summary: "Pops the first element from one of multiple lists. Blocks until an element is available otherwise. Deletes the list if the last element was popped.",
                    syntax: "timeout numkeys key [key ...] LEFT | RIGHT [COUNT count]", handler: BlockingCommands.blmpop),
        CommandSpec("bzpopmin", arity: -3, flags: [.write, .fast, .blocking], keys: (1, -2, 1), group: sortedSet, since: "5.0.0",
                    complexity: "O(log(N)) with N being the number of elements in the sorted set.",
                    summary: "Removes and returns the member with the lowest score from one or more sorted sets. Blocks until a member is available otherwise. Deletes the sorted set if the last element was popped.",
                    syntax: "key [key ...] timeout", handler: BlockingCommands.bzpopmin),
        CommandSpec("bzpopmax", arity: -3, flags: [.write, .fast, .blocking], keys: (1, -2, 1), group: sortedSet, since: "5.0.0",
                    complexity: "O(log(N)) with N being the number of elements in the sorted set.",
                    summary: "Removes and returns the member with the highest score from one or more sorted sets. Blocks until a member available otherwise.  Deletes the sorted set if the last element was popped.",
                    syntax: "key [key ...] timeout", handler: BlockingCommands.bzpopmax),
        CommandSpec("bzmpop", arity: -5, flags: [.write, .blocking], numKeysAt: 2, group: sortedSet, since: "7.0.0",
                    complexity: "O(K) + O(M*log(N)) where K is the number of provided keys, N being the number of elements in the sorted set, and M being the number of elements popped.",
                    summary: "Removes and returns a member by score from one or more sorted sets. Blocks until a member is available otherwise. Deletes the sorted set if the last element was popped.",
                    syntax: "timeout numkeys key [key ...] MIN | MAX [COUNT count]", handler: BlockingCommands.bzmpop),
    ]
}

/// The blocking pops (BLPOP, BRPOP, BLMOVE, BRPOPLPUSH, BLMPOP, BZPOPMIN, BZPOPMAX, BZMPOP).
///
/// Each runs its non-blocking form with every key's shard locked (``attempt``). When that finds
/// nothing, the client registers on its keys in ``BlockedKeys`` — still under those locks, so no
/// push can slip in between — and its connection suspends with the command to run again
/// (`suspension` with `rerun`, `blockedOnKeys`). A write to one of the keys, the timeout or
/// CLIENT UNBLOCK wakes it, and the same command runs again through the dispatcher: it pops, or
/// replies as a timeout, or blocks again in the same place in line. On a run after a wake-up a
/// key of another type counts as empty, as Redis leaves a client blocked when the key it waits
/// for is replaced by another type. Inside MULTI (and wherever there is no connection to
/// suspend) the command does not block: it answers as a timeout at once.
enum BlockingCommands {
    // MARK: - The commands

    static func blpop(_ c: inout CommandContext) { blockingPop(&c, left: true) }
    static func brpop(_ c: inout CommandContext) { blockingPop(&c, left: false) }

    private static func blockingPop(_ c: inout CommandContext, left: Bool) {
        guard let timeout = timeout(&c, c.arguments.count - 1) else { return }
        let keys = Array(1..<c.arguments.count - 1)
        block(&c, keys: keys, timeout: timeout, refusedReply: { $0.nullArray() }) { c, woken in
            let view = c.keyAccess
            for index in keys {
                let hash = c.hash(index)
                if woken && view.holdsOtherType(index, hash: hash, than: ListValue.self) { continue }
                if ListCommands.popOne(view, key: index, hash: hash, left: left, withKey: true, reply: &c.reply) { return true }
            }
            return false
        }
    }

    static func brpoplpush(_ c: inout CommandContext) {
        guard let timeout = timeout(&c, 3) else { return }
        blockingMove(&c, fromLeft: false, toLeft: true, timeout: timeout)
    }

    static func blmove(_ c: inout CommandContext) {
        guard let fromLeft = ListCommands.side(c.arguments, 3), let toLeft = ListCommands.side(c.arguments, 4) else {
            return c.syntaxError()
        }
        guard let timeout = timeout(&c, 5) else { return }
        blockingMove(&c, fromLeft: fromLeft, toLeft: toLeft, timeout: timeout)
    }

    private static func blockingMove(_ c: inout CommandContext, fromLeft: Bool, toLeft: Bool, timeout: Int64) {
        block(&c, keys: [1, 2], timeout: timeout, refusedReply: { $0.null() }) { c, woken in
            let view = c.keyAccess
            let sourceHash = c.hash(1), destinationHash = c.hash(2)
            if woken && view.holdsOtherType(1, hash: sourceHash, than: ListValue.self) { return false }
            return ListCommands.move(view, source: 1, sourceHash: sourceHash, destination: 2, destinationHash: destinationHash,
                                     fromLeft: fromLeft, toLeft: toLeft, reply: &c.reply)
        }
    }

    static func blmpop(_ c: inout CommandContext) {
        guard let pop = MultiPop.parse(&c, sides: ("LEFT", "RIGHT")), let timeout = timeout(&c, 1) else { return }
        block(&c, keys: pop.keys, timeout: timeout, refusedReply: { $0.nullArray() }) { c, woken in
            let view = c.keyAccess
            for index in pop.keys {
                let hash = c.hash(index)
                if woken && view.holdsOtherType(index, hash: hash, than: ListValue.self) { continue }
                if ListCommands.popMany(view, key: index, hash: hash, left: pop.first, count: pop.count, withKey: true,
                                        reply: &c.reply) {
                    return true
                }
            }
            return false
        }
    }

    static func bzpopmin(_ c: inout CommandContext) { blockingZPop(&c, min: true) }
    static func bzpopmax(_ c: inout CommandContext) { blockingZPop(&c, min: false) }

    private static func blockingZPop(_ c: inout CommandContext, min: Bool) {
        guard let timeout = timeout(&c, c.arguments.count - 1) else { return }
        let keys = Array(1..<c.arguments.count - 1)
        block(&c, keys: keys, timeout: timeout, refusedReply: { $0.nullArray() }) { c, woken in
            zpop(&c, keys: keys, woken: woken, max: !min, count: 1, format: .keyedFlat)
        }
    }

    static func bzmpop(_ c: inout CommandContext) {
        guard let pop = MultiPop.parse(&c, sides: ("MIN", "MAX")), let timeout = timeout(&c, 1) else { return }
        block(&c, keys: pop.keys, timeout: timeout, refusedReply: { $0.nullArray() }) { c, woken in
            zpop(&c, keys: pop.keys, woken: woken, max: !pop.first, count: pop.count, format: .keyedNested)
        }
    }

    /// Pops from the first of `keys` that holds a sorted set, as ZPOPMIN/ZMPOP do; false when
    /// none does (a key of another type gets WRONGTYPE, unless the client was woken).
    private static func zpop(_ c: inout CommandContext, keys: [Int], woken: Bool, max: Bool, count: Int,
                             format: SortedSetCommands.PopReply) -> Bool {
        let view = c.keyAccess
        for index in keys {
            let hash = view.hash(index)
            switch view.lookup(index, hash: hash, as: SortedSetValue.self, access: .write) {
            case .missing: continue
            case .wrongType:
                if woken { continue }
                c.wrongType()
                return true
            case .found(let entry, let set):
                SortedSetCommands.pop(set, entry: entry, shard: c.keyspace.shard(for: hash), max: max, count: count,
                                      format: format, reply: &c.reply)
                return true
            }
        }
        return false
    }

    // MARK: - Arguments

    /// LMPOP/ZMPOP's arguments after the timeout: `numkeys key [key ...] first|last [COUNT count]`,
    /// checked as Redis checks them (before the timeout).
    struct MultiPop {
        var keys: [Int]
        /// LEFT or MIN.
        var first: Bool
        var count: Int

        static func parse(_ c: inout CommandContext, sides: (StaticString, StaticString), numKeysAt: Int = 2) -> MultiPop? {
            let args = c.arguments
            guard let numKeys = args.integer(numKeysAt), numKeys > 0 else {
                c.error("ERR numkeys should be greater than 0")
                return nil
            }
            // The keys, then the side: numKeysAt + numKeys + 1 < count, said without overflow
            // (numkeys comes from the client).
            guard numKeys < args.count - numKeysAt - 1 else {
                c.syntaxError()
                return nil
            }
            let whereIndex = numKeysAt + numKeys + 1
            let first: Bool
            if args.matches(whereIndex, sides.0) {
                first = true
            } else if args.matches(whereIndex, sides.1) {
                first = false
            } else {
                c.syntaxError()
                return nil
            }
            var count: Int?
            var j = whereIndex + 1
            while j < args.count {
                if count == nil && args.matches(j, "COUNT") && j + 1 < args.count {
                    j += 1
                    guard let n = args.integer(j), n > 0 else {
                        c.error("ERR count should be greater than 0")
                        return nil
                    }
                    count = n
                } else {
                    c.syntaxError()
                    return nil
                }
                j += 1
            }
            return MultiPop(keys: Array(numKeysAt + 1..<whereIndex), first: first, count: count ?? 1)
        }
    }

    /// The timeout in argument `index`, in seconds with decimals as Redis takes it, as
    /// milliseconds (0: wait for ever), or nil after replying with Redis's error.
    static func timeout(_ c: inout CommandContext, _ index: Int) -> Int64? {
        let text = c.arguments.string(index)
        guard let seconds = Double(text), !seconds.isNaN, text.first.map({ !$0.isWhitespace }) ?? false else {
            c.error("ERR timeout is not a float or out of range")
            return nil
        }
        // Redis 7.0 converts the milliseconds to a long long: what does not fit comes out negative.
        let milliseconds = (seconds * 1000).rounded(.up)
        guard milliseconds >= 0, milliseconds < 9.223_372_036_854_775_807e18 else {
            c.error("ERR timeout is negative")
            return nil
        }
        return Int64(milliseconds)
    }

    // MARK: - Blocking

    /// Runs `attempt` with every key's shard locked; when it did not reply (nothing to pop),
    /// blocks the client on `keys` until one is written, `timeout` ms pass (0: never) or CLIENT
    /// UNBLOCK, then runs the command again. `attempt`'s second argument is whether this run
    /// follows a wake-up. A client that timed out (or was unblocked as if it had) gets a null
    /// array, as Redis answers every blocking pop that times out; where it may not block at all
    /// (inside MULTI) it gets `refusedReply`, the non-blocking form's null.
    private static func block(_ c: inout CommandContext, keys: [Int], timeout: Int64,
                              refusedReply: (inout RESPReplyWriter) -> Void,
                              _ attempt: (inout CommandContext, Bool) -> Bool) {
        let client = c.client
        let registry = c.keyspace.blocked
        let previous = client.blocked
        let woken = previous != nil
        if woken {
            client.blocked = nil
            switch UnblockRequest(rawValue: client.unblockRequest.exchange(0, ordering: .relaxed)) ?? .none {
            case .timeout:
                registry.unblock(clientID: client.id)
                return c.reply.nullArray()
            case .error:
                registry.unblock(clientID: client.id)
                return c.error("UNBLOCKED client unblocked via CLIENT UNBLOCK")
            case .none:
                break
            }
        }
        // Inside EXEC (or a script) the shards are held already, and the command may not wait.
        let mayBlock = !c.shardsLocked && c.eventLoop != nil
        let hashes = keys.map { c.hash($0) }
        let locked = c.shardsLocked ? nil : c.keyspace.lockOrder(for: hashes)
        if let locked {
            c.keyspace.lock(locked)
            c.shardsLocked = true
            c.heldShards = locked
        }
        defer {
            if let locked {
                c.shardsLocked = false
                c.heldShards = nil
                c.keyspace.unlock(locked)
            }
        }
        if attempt(&c, woken) {
            if woken { registry.unblock(clientID: client.id) }
            return
        }
        let deadline = previous?.deadline ?? (timeout == 0 || timeout > Int64.max - c.now ? 0 : c.now + timeout)
        guard mayBlock, let eventLoop = c.eventLoop, deadline == 0 || c.now < deadline else {
            if woken {
                registry.unblock(clientID: client.id)
                return c.reply.nullArray()
            }
            return refusedReply(&c.reply)
        }
        let promise = eventLoop.makePromise(of: Void.self)
        let wakeup = BlockedKeys.Wakeup { promise.succeed(()) }
        let keyBytes = keys.map { c.arguments.bytes($0) }
        let sequence = registry.block(clientID: client.id, database: c.database, keys: keyBytes,
                                      sequence: previous?.sequence, wakeup: wakeup)
        client.blocked = (deadline, sequence)
        if deadline != 0 {
            eventLoop.scheduleTask(in: .milliseconds(deadline - c.now)) { wakeup.fire() }
        }
        c.suspension = (promise.futureResult, true)
        c.blockedOnKeys = true
    }
}
