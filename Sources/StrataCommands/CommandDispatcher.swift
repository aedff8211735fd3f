import NIOCore
import StrataRESP
import StrataStore

/// Runs one command the way Redis's `processCommand` does: look it up, check arity, check
/// authentication, queue it inside MULTI, refuse it when out of memory, then call it.
public enum CommandDispatcher {
    /// Executes the command in `context.arguments`, appending exactly one reply; then wakes the
    /// clients blocked on keys it wrote (see ``BlockedKeys``).
    @inline(__always)
    public static func execute(_ context: inout CommandContext) {
        dispatch(&context)
        if context.client.trackingCaching && context.client.transaction == nil,
           context.command.map({ $0.name != "client|caching" }) ?? true {
            // CLIENT CACHING applies to the next command only (inside MULTI, to the EXEC).
            context.client.trackingCaching = false
        }
        let blocked = context.keyspace.blocked
        if blocked.hasReady && !context.shardsLocked { blocked.serveReady() }
    }

    private static func dispatch(_ context: inout CommandContext) {
        let server = context.server
        guard context.arguments.count > 0 else { return }
        let fromClient = context.monitorOrigin == .client
        context.command = nil // set once known: a refusal before counts against no command
        guard var spec = context.arguments.withBytes(0, { server.commands.find($0) }) else {
            if fromClient { context.client.lastCommand = nil }
            unknownCommand(&context)
            return
        }
        if !spec.subcommands.isEmpty && context.arguments.count >= 2 {
            guard let sub = subcommand(of: spec, &context) else {
                if fromClient { context.client.lastCommand = nil }
                if spec.acceptsArgumentCount(context.arguments.count) {
                    let parent = spec.name.uppercased()
                    reject(&context, bytes: Array("ERR unknown subcommand '".utf8) + CommandContext.cString(context.arguments.bytes(1).prefix(128))
                                                 + Array("'. Try \(parent) HELP.".utf8))
                } else {
                    reject(&context, "ERR wrong number of arguments for '\(spec.name)' command")
                }
                return
            }
            spec = sub
        }
        context.command = spec
        if fromClient { context.client.lastCommand = spec }
        guard spec.acceptsArgumentCount(context.arguments.count) else {
            reject(&context, "ERR wrong number of arguments for '\(spec.name)' command")
            return
        }
        if server.scripts.isBusy && !spec.flags.contains(.allowBusy) {
            reject(&context, server.scripts.busyMessage)
            return
        }
        let client = context.client
        if !client.authenticated && !spec.flags.contains(.noAuth) && server.requiresPassword {
            reject(&context, "NOAUTH Authentication required.")
            return
        }
        if let refusal = ACLCommands.refusal(spec, &context) {
            // Before routing: a forwarded command is checked against this client's user.
            reject(&context, refusal)
            return
        }
        if client.protocolVersion == .resp2 && client.subscriptions.any && !PubSubCommands.allowedWhileSubscribed(spec) {
            reject(&context, "ERR Can't execute '\(spec.name)': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context")
            return
        }
        if let cold = server.coldStorage {
            if cold.isLoading && !spec.flags.contains(.loading) {
                reject(&context, "LOADING Redis is loading the dataset in memory")
                return
            }
            if let failure = cold.failure, spec.flags.contains(.write) || spec.flags.contains(.denyOOM) {
                reject(&context, "MISCONF Errors writing to the L3 store (\(failure)). Writes are refused until it can write again; reads keep working.")
                return
            }
        }
        if server.pause.isActive, let wait = server.pause.hold(spec, context) {
            context.suspension = (wait, true)
            return
        }
        if let router = server.router, server.recorder.route(spec, &context, router.route) == .handled {
            // Forwarded (or fanned out, or refused by the router): shown on this node, the one
            // the client sent it to; the owner does not show what its peer links run.
            if server.monitors.isActive && !server.clusterRedirects { feedMonitors(spec, &context) }
            return
        }
        if server.keyspace.hasColdEntries, let cold = server.coldStorage, !spec.flags.contains(.keysOnly),
           client.transaction == nil || spec.flags.contains(.exec) {
            let stubs = coldEntries(for: spec, &context)
            if !stubs.isEmpty, let eventLoop = context.eventLoop {
                context.suspension = (cold.warm(stubs, on: eventLoop), true)
                return
            }
        }
        if spec.flags.contains(.denyOOM) && server.keyspace.maxMemory > 0 {
            if !context.shardsLocked && !server.keyspace.evictIfNeeded(now: context.now) {
                // With L3, values not yet committed cannot leave memory: rather than refuse the
                // write, wait for the batcher to commit them, then try again (backpressure).
                // Only while something is uncommitted: otherwise waiting cannot help.
                if let cold = server.coldStorage, server.keyspace.policy != .noeviction, cold.hasUncommittedWrites,
                   let eventLoop = context.eventLoop {
                    context.suspension = (cold.barrier(on: eventLoop), true)
                    return
                }
                reject(&context, "OOM command not allowed when used memory > 'maxmemory'.")
                return
            }
        }
        if client.transaction != nil && !spec.flags.contains(.noQueue) {
            if spec.flags.contains(.noMulti) {
                reject(&context, "ERR Command not allowed inside a transaction")
                return
            }
            client.transaction!.append(QueuedCommand(spec: spec, arguments: context.arguments.owned()))
            context.reply.simpleString("QUEUED")
            return
        }
        if let cold = server.coldStorage, !spec.flags.isDisjoint(with: [.write, .exec, .runsScripts]), let eventLoop = context.eventLoop {
            runDurably(spec, &context, cold, eventLoop)
        } else {
            run(spec, &context)
        }
    }

    /// Runs a write with L3 on: under `always` its reply is held until its batch has committed
    /// (the connection waits once for all the writes it has run; see `awaitsDurability`);
    /// when the write queue is over its limit, the connection pauses until it drains.
    private static func runDurably(_ spec: CommandSpec, _ context: inout CommandContext, _ cold: any ColdStorage,
                                   _ eventLoop: any EventLoop) {
        run(spec, &context)
        if cold.syncsEveryWrite { context.awaitsDurability = true }
        if cold.isBehind && context.suspension == nil {
            context.suspension = (cold.drained(on: eventLoop), false)
        }
    }

    /// Cold stubs among the keys `spec` will read (for EXEC, the keys of every queued command).
    private static func coldEntries(for spec: CommandSpec, _ context: inout CommandContext) -> [Entry] {
        var stubs: [Entry] = []
        let keyspace = context.keyspace
        let db = context.database
        let now = context.now
        func collect(_ spec: CommandSpec, _ arguments: CommandArguments) {
            guard !spec.flags.contains(.keysOnly) else { return }
            for position in spec.keyPositions(arguments) {
                arguments.withBytes(position) { key in
                    let hash = keyspace.hasher.hash(key)
                    let shard = keyspace.shard(for: hash)
                    shard.lock.withLock {
                        if let entry = shard.find(database: db, key: key, hash: hash, now: now, access: .peek), !entry.isWarm {
                            stubs.append(entry)
                        }
                    }
                }
            }
        }
        if spec.flags.contains(.exec) {
            for queued in context.client.transaction ?? [] { collect(queued.spec, queued.arguments) }
        } else {
            collect(spec, context.arguments)
        }
        return stubs
    }

    /// Calls a command that passed every check (EXEC replays its queue through this), and
    /// shows it to the clients in MONITOR mode if there are any.
    @inline(__always)
    static func run(_ spec: CommandSpec, _ context: inout CommandContext) {
        context.server.recorder.record(spec, &context, runRecorded)
    }

    @inline(__always)
    private static func runRecorded(_ spec: CommandSpec, _ context: inout CommandContext) {
        if context.server.monitors.isActive {
            runMonitored(spec, &context)
        } else {
            runUnmonitored(spec, &context)
        }
    }

    @inline(__always)
    static func runUnmonitored(_ spec: CommandSpec, _ context: inout CommandContext) {
        if let notifier = context.server.keyspaceNotifier {
            // What the shards report meanwhile is published once the command has returned.
            let record = CommandEvents(spec: spec, arguments: context.arguments)
            let previous = CommandEvents.push(record)
            runHandler(spec, &context)
            CommandEvents.pop(record, restoring: previous)
            notifier.publish(record, &context)
            if context.client.tracking != nil { TrackingCommands.remember(spec, &context) }
            return
        }
        runHandler(spec, &context)
    }

    @inline(__always)
    private static func runHandler(_ spec: CommandSpec, _ context: inout CommandContext) {
        context.command = spec
        spec.handler?(&context)
        if spec.flags.contains(.write) && !context.shardsLocked && context.server.keyspace.maxMemory > 0 {
            context.server.keyspace.evictIfNeeded(now: context.now)
        }
    }

    static func subcommand(of spec: CommandSpec, _ context: inout CommandContext) -> CommandSpec? {
        context.arguments.withBytes(1) { name in
            spec.subcommands.first { sub in
                let subName = sub.name.split(separator: "|").last.map(String.init) ?? sub.name
                return CommandLookup.equalFolded(subName, name)
            }
        }
    }

    /// Replies with an error and, inside MULTI, dooms the transaction.
    private static func reject(_ context: inout CommandContext, _ message: String) {
        reject(&context, bytes: Array(message.utf8))
    }

    private static func reject(_ context: inout CommandContext, bytes message: [UInt8]) {
        if context.client.transaction != nil { context.client.transactionFailed = true }
        context.server.recorder.rejected(context.command, message: message, context.server)
        context.reply.error(bytes: message)
    }

    /// Redis's text: the name (128 bytes at most), then quoted arguments while under 128 bytes.
    private static func unknownCommand(_ context: inout CommandContext) {
        var message = Array("ERR unknown command '".utf8) + CommandContext.cString(context.arguments.bytes(0).prefix(128))
        message += Array("', with args beginning with: ".utf8)
        var quoted: [UInt8] = []
        var i = 1
        while i < context.arguments.count && quoted.count < 128 {
            let room = 128 - quoted.count
            quoted += [UInt8(ascii: "'")] + CommandContext.cString(context.arguments.bytes(i).prefix(room)) + Array("' ".utf8)
            i += 1
        }
        reject(&context, bytes: message + quoted)
    }
}

/// Decides where a command runs when Strata is one node of several (see the cluster module).
public protocol CommandRouter: AnyObject, Sendable {
    /// Called after the arity and authentication checks, before MULTI queueing and execution.
    /// Return `.handled` after writing a reply (e.g. `-MOVED`) or setting `deferredReply`
    /// (a forwarded command); `.local` to run the command here.
    func route(_ spec: CommandSpec, _ context: inout CommandContext) -> RouteDecision

    /// Passes a message published here (by a client, a script or a keyspace notification) to
    /// the other nodes, whose subscribers must get it too. Returns at once; called on `loop`
    /// (nil off the event loops).
    func relayMessage(_ kind: SubscriptionKind, channel: [UInt8], message: [UInt8], from loop: (any EventLoop)?)
}

public enum RouteDecision: Sendable {
    case local
    case handled
}

extension CommandDispatcher {
    /// Releases what a closed connection held: its WATCHes and any open transaction.
    public static func disconnect(_ context: inout CommandContext) {
        TransactionCommands.discardTransaction(context.client, keyspace: context.keyspace)
        context.server.pubsub.unsubscribeAll(context.client)
        TrackingCommands.disable(context.client, context.server)
        context.server.monitors.remove(context.client)
        if context.client.blocked != nil {
            context.client.blocked = nil
            context.keyspace.blocked.unblock(clientID: context.client.id)
        }
    }

    /// Ends the client's transaction without running it here (a router sent it to another
    /// node, or refused it) and drops its WATCHes.
    public static func discardTransaction(_ context: inout CommandContext) {
        TransactionCommands.discardTransaction(context.client, keyspace: context.keyspace)
    }
}
