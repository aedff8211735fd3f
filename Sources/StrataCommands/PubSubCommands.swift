import StrataRESP
import StrataStore

/// SUBSCRIBE, PUBLISH and their kin (see ``PubSubHub``).
///
/// A connection subscribed to anything is in Redis's "subscribed context": in RESP2 it may run
/// only these commands, PING, QUIT and RESET (the dispatcher refuses the rest); in RESP3 its
/// messages are push frames among ordinary replies. Each (un)subscription is confirmed with a
/// reply of its own, so one SUBSCRIBE of three channels writes three replies.
enum PubSubCommands {
    static func subscribe(_ c: inout CommandContext) { subscribe(&c, .channel) }
    static func psubscribe(_ c: inout CommandContext) { subscribe(&c, .pattern) }
    static func ssubscribe(_ c: inout CommandContext) { subscribe(&c, .shardChannel) }
    static func unsubscribe(_ c: inout CommandContext) { unsubscribe(&c, .channel) }
    static func punsubscribe(_ c: inout CommandContext) { unsubscribe(&c, .pattern) }
    static func sunsubscribe(_ c: inout CommandContext) { unsubscribe(&c, .shardChannel) }

    private static func subscribe(_ c: inout CommandContext, _ kind: SubscriptionKind) {
        let hub = c.server.pubsub
        for i in 1..<c.arguments.count {
            let name = c.arguments.bytes(i)
            hub.subscribe(c.client, kind, name)
            confirm(&c, kind.subscribeName, name, count(c.client, kind))
        }
    }

    private static func unsubscribe(_ c: inout CommandContext, _ kind: SubscriptionKind) {
        let hub = c.server.pubsub
        if c.arguments.count == 1 {
            let names = hub.unsubscribeAll(c.client, [kind])
            if names.isEmpty {
                confirm(&c, kind.unsubscribeName, nil, count(c.client, kind))
            }
            // Each confirmation carries the count left after it, as Redis's do.
            var left = count(c.client, kind) + names.count
            for name in names {
                left -= 1
                confirm(&c, kind.unsubscribeName, name, left)
            }
            return
        }
        for i in 1..<c.arguments.count {
            let name = c.arguments.bytes(i)
            hub.unsubscribe(c.client, kind, name)
            confirm(&c, kind.unsubscribeName, name, count(c.client, kind))
        }
    }

    /// The count a confirmation carries: channels and patterns together, or shard channels.
    private static func count(_ client: ClientSession, _ kind: SubscriptionKind) -> Int {
        kind == .shardChannel ? client.subscriptions.count(.shardChannel) : client.subscriptions.channelsAndPatterns
    }

    private static func confirm(_ c: inout CommandContext, _ kind: String, _ name: [UInt8]?, _ count: Int) {
        c.reply.pushHeader(3)
        c.reply.bulk(kind)
        if let name { c.reply.bulk(name) } else { c.reply.null() }
        c.reply.integer(count)
    }

    static func publish(_ c: inout CommandContext) { publish(&c, .channel) }
    static func spublish(_ c: inout CommandContext) { publish(&c, .shardChannel) }

    private static func publish(_ c: inout CommandContext, _ kind: SubscriptionKind) {
        let channel = c.arguments.bytes(1)
        let message = c.arguments.bytes(2)
        var own: [[UInt8]?] = []
        // Its own copies before its reply, as Redis writes them; not inside EXEC's (or a
        // script's) reply, where they would break the array: those go out as any message does.
        let publisher = c.shardsLocked ? nil : c.client
        let receivers = c.server.pubsub.publish(kind, channel: channel, message: message, publisher: publisher, own: &own,
                                                wakes: &c.subscribersToWake)
        if !c.batchesWakeups { c.wakeSubscribers() }
        for pattern in own {
            if let pattern {
                c.reply.pushHeader(4)
                c.reply.bulk("pmessage")
                c.reply.bulk(pattern)
            } else {
                c.reply.pushHeader(3)
                c.reply.bulk(kind == .shardChannel ? "smessage" : "message")
            }
            c.reply.bulk(channel)
            c.reply.bulk(message)
        }
        // On a ring, the other nodes' subscribers get it too (not what another node relayed here).
        if let router = c.server.router, c.client.peerRole != .relayingMessages {
            router.relayMessage(kind, channel: channel, message: message, from: c.eventLoop)
        }
        c.reply.integer(receivers)
    }

    // MARK: - PUBSUB

    static func channels(_ c: inout CommandContext) { channels(&c, .channel) }
    static func shardChannels(_ c: inout CommandContext) { channels(&c, .shardChannel) }

    private static func channels(_ c: inout CommandContext, _ kind: SubscriptionKind) {
        guard c.arguments.count <= 3 else {
            // The subcommand as the client wrote it, as Redis quotes it.
            c.error("ERR unknown subcommand or wrong number of arguments for '", quoting: c.arguments.bytes(1), "'. Try PUBSUB HELP.")
            return
        }
        let pattern = c.arguments.count == 3 ? c.arguments.bytes(2) : nil
        let names = c.server.pubsub.activeChannels(kind, matching: pattern)
        c.reply.arrayHeader(names.count)
        for name in names { c.reply.bulk(name) }
    }

    static func numsub(_ c: inout CommandContext) { numsub(&c, .channel) }
    static func shardNumsub(_ c: inout CommandContext) { numsub(&c, .shardChannel) }

    private static func numsub(_ c: inout CommandContext, _ kind: SubscriptionKind) {
        let hub = c.server.pubsub
        // A flat array in RESP3 too, as Redis 7.0 answers.
        c.reply.arrayHeader(2 * (c.arguments.count - 2))
        for i in 2..<c.arguments.count {
            let name = c.arguments.bytes(i)
            c.reply.bulk(name)
            c.reply.integer(hub.subscriberCount(kind, name))
        }
    }

    static func numpat(_ c: inout CommandContext) {
        c.reply.integer(c.server.pubsub.count(.pattern))
    }

    static func help(_ c: inout CommandContext) {
        CommandHelp.reply(&c, command: "PUBSUB", [
            "CHANNELS [<pattern>]",
            "    Return the currently active channels matching a <pattern> (default: '*').",
            "NUMPAT",
            "    Return number of subscriptions to patterns.",
            "NUMSUB [<channel> ...]",
            "    Return the number of subscribers for the specified channels, excluding",
            "    pattern subscriptions(default: no channels).",
            "SHARDCHANNELS [<pattern>]",
            "    Return the currently active shard level channels matching a <pattern> (default: '*').",
            "SHARDNUMSUB [<shardchannel> ...]",
            "    Return the number of subscribers for the specified shard level channel(s)",
        ])
    }

    /// The commands a RESP2 connection may run while subscribed.
    static func allowedWhileSubscribed(_ spec: CommandSpec) -> Bool {
        switch spec.name {
        case "subscribe", "psubscribe", "ssubscribe", "unsubscribe", "punsubscribe", "sunsubscribe",
             "ping", "quit", "reset": true
        default: false
        }
    }
}

extension CommandTable {
    static let pubsub: [CommandSpec] = {
        let group = "pubsub"
        let flags: CommandFlags = [.pubsub, .loading, .stale]
        return [
            CommandSpec("subscribe", arity: -2, flags: flags, group: group, since: "2.0.0",
                        complexity: "O(N) where N is the number of channels to subscribe to.",
                        summary: "Listens for messages published to channels.", syntax: "channel [channel ...]",
                        handler: PubSubCommands.subscribe),
            CommandSpec("unsubscribe", arity: -1, flags: flags, group: group, since: "2.0.0",
                        complexity: "O(N) where N is the number of channels to unsubscribe.",
                        summary: "Stops listening to messages posted to channels.", syntax: "[channel [channel ...]]",
                        handler: PubSubCommands.unsubscribe),
            CommandSpec("psubscribe", arity: -2, flags: flags, group: group, since: "2.0.0",
                        complexity: "O(N) where N is the number of patterns to subscribe to.",
                        summary: "Listens for messages published to channels that match one or more patterns.",
                        syntax: "pattern [pattern ...]", handler: PubSubCommands.psubscribe),
            CommandSpec("punsubscribe", arity: -1, flags: flags, group: group, since: "2.0.0",
                        complexity: "O(N) where N is the number of patterns to unsubscribe.",
                        summary: "Stops listening to messages published to channels that match one or more patterns.",
                        syntax: "[pattern [pattern ...]]", handler: PubSubCommands.punsubscribe),
            // The shard channels are keys for routing (one slot, its owner), never values.
            CommandSpec("ssubscribe", arity: -2, flags: flags.union(.keysOnly), keys: (1, -1, 1), group: group, since: "7.0.0",
                        complexity: "O(N) where N is the number of shard channels to subscribe to.",
                        summary: "Listens for messages published to shard channels.",
                        syntax: "shardchannel [shardchannel ...]", handler: PubSubCommands.ssubscribe),
            CommandSpec("sunsubscribe", arity: -1, flags: flags.union(.keysOnly), keys: (1, -1, 1), group: group, since: "7.0.0",
                        complexity: "O(N) where N is the number of shard channels to unsubscribe.",
                        summary: "Stops listening to messages posted to shard channels.",
                        syntax: "[shardchannel [shardchannel ...]]", handler: PubSubCommands.sunsubscribe),
            CommandSpec("publish", arity: 3, flags: flags.union(.fast), group: group, since: "2.0.0",
                        complexity: "O(N+M) where N is the number of clients subscribed to the receiving channel and M is the total number of subscribed patterns (by any client).",
                        summary: "Posts a message to a channel.", syntax: "channel message", handler: PubSubCommands.publish),
            CommandSpec("spublish", arity: 3, flags: flags.union([.fast, .keysOnly]), keys: (1, 1, 1), group: group, since: "7.0.0",
                        complexity: "O(N) where N is the number of clients subscribed to the receiving shard channel.",
                        summary: "Post a message to a shard channel", syntax: "shardchannel message",
                        handler: PubSubCommands.spublish),
            CommandSpec("pubsub", arity: -2, flags: [], group: group, since: "2.8.0", complexity: "Depends on subcommand.",
                        summary: "A container for Pub/Sub commands.", subcommands: [
                CommandSpec("pubsub|channels", arity: -2, flags: flags, group: group, since: "2.8.0",
                            complexity: "O(N) where N is the number of active channels, and assuming constant time pattern matching (relatively short channels and patterns)",
                            summary: "Returns the active channels.", syntax: "[pattern]", handler: PubSubCommands.channels),
                CommandSpec("pubsub|numsub", arity: -2, flags: flags, group: group, since: "2.8.0",
                            complexity: "O(N) for the NUMSUB subcommand, where N is the number of requested channels",
                            summary: "Returns a count of subscribers to channels.", syntax: "[channel [channel ...]]",
                            handler: PubSubCommands.numsub),
                CommandSpec("pubsub|numpat", arity: 2, flags: flags, group: group, since: "2.8.0",
                            summary: "Returns a count of unique pattern subscriptions.", handler: PubSubCommands.numpat),
                CommandSpec("pubsub|shardchannels", arity: -2, flags: flags, group: group, since: "7.0.0",
                            complexity: "O(N) where N is the number of active shard channels, and assuming constant time pattern matching (relatively short shard channels).",
                            summary: "Returns the active shard channels.", syntax: "[pattern]",
                            handler: PubSubCommands.shardChannels),
                CommandSpec("pubsub|shardnumsub", arity: -2, flags: flags, group: group, since: "7.0.0",
                            complexity: "O(N) for the SHARDNUMSUB subcommand, where N is the number of requested shard channels",
                            summary: "Returns the count of subscribers of shard channels.",
                            syntax: "[shardchannel [shardchannel ...]]", handler: PubSubCommands.shardNumsub),
                CommandSpec("pubsub|help", arity: 2, flags: [.loading, .stale], group: group, since: "6.2.0",
                            summary: "Returns helpful text about the different subcommands.", handler: PubSubCommands.help),
            ], handler: nil),
        ]
    }()
}
