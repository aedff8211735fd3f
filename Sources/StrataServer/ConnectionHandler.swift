import NIOCore
import StrataCommands
import StrataConfig
import StrataRESP

/// One client connection: parses requests from each read, executes them in order on the event
/// loop, appends every reply to one buffer, and writes it once per read batch (pipelining).
///
/// Backpressure: when the socket stops being writable (the client does not read its replies),
/// reading pauses, so neither input nor output grows without bound.
final class ConnectionHandler: ChannelInboundHandler, ReplyStream {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private let server: ServerContext
    private var parser: RESPCommandParser
    /// Bytes received but not yet parsed into whole commands.
    private var pending: ByteBuffer?
    private var commandContext: CommandContext?
    private var session: ClientSession?
    private var closing = false
    private var paused = false
    /// A command is waiting (cold read or write backpressure): later commands wait too.
    private var suspended = false
    /// Replies were written without a flush (the batch outgrew the high-water mark).
    private var unflushed = false
    /// Replies waiting behind a deferred one, in order. Empty in the common case, where every
    /// reply is ready when its command returns and goes straight to the reply buffer.
    private var queue = CircularBuffer<Segment>(initialCapacity: 16)
    /// The place number (see ``ReplyStream``) of `queue.first`; the next is one more, and so on.
    private var queueHead = 0
    /// How many places in `queue` are still empty.
    private var empty = 0
    /// Under `l3-fsync always`: the reply buffer holds the reply of a write that is not known to
    /// be durable yet. Whenever replies leave the buffer (a place reserved after them, the end of
    /// a batch, the high-water mark), they first go behind one L3 barrier.
    private var repliesAwaitDurability = false
    private var closeWhenDrained = false
    /// Set while the connection is open: fills and flushes from elsewhere write through it.
    private var channelContext: ChannelHandlerContext?

    private enum Segment {
        case ready(ByteBuffer)
        case pending
    }
    private let queryBufferLimit: Int
    /// Write replies out early when a batch produces more than this, to bound the output buffer.
    private static let outputHighWater = 256 * 1024

    init(server: ServerContext, limits: RESPLimits, queryBufferLimit: Int) {
        self.server = server
        self.parser = RESPCommandParser(limits: limits)
        self.queryBufferLimit = queryBufferLimit
    }

    func channelActive(context: ChannelHandlerContext) {
        let now = WallClock.milliseconds()
        let id = server.clients.makeID()
        let session = ClientSession(
            id: id,
            address: Self.describe(context.channel.remoteAddress),
            localAddress: Self.describe(context.channel.localAddress),
            authenticated: !server.requiresPassword,
            now: now)
        let channel = context.channel
        session.close = { channel.close(promise: nil) }
        server.statistics.connectionsReceived.add(1, ordering: .relaxed)
        if server.clients.count >= server.configuration.maxClients {
            server.statistics.rejectedConnections.add(1, ordering: .relaxed)
            var buffer = context.channel.allocator.buffer(capacity: 64)
            buffer.writeStaticString("-ERR max number of clients reached\r\n")
            context.writeAndFlush(wrapOutboundOut(buffer)).whenComplete { _ in channel.close(promise: nil) }
            closing = true
            return
        }
        server.clients.add(session)
        self.session = session
        var commandContext = CommandContext(
            server: server, client: session, arguments: CommandArguments(buffer: ByteBuffer(), spans: []),
            reply: RESPReplyWriter(buffer: context.channel.allocator.buffer(capacity: 4096)), now: now)
        commandContext.eventLoop = context.eventLoop
        commandContext.replyStream = self
        self.commandContext = commandContext
        channelContext = context
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        if let session {
            server.clients.remove(session)
            if var commandContext {
                commandContext.arguments = CommandArguments(buffer: ByteBuffer(), spans: [])
                CommandDispatcher.disconnect(&commandContext)
            }
        }
        session = nil
        commandContext = nil // also breaks the cycle through its replyStream
        channelContext = nil
        pending = nil
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !closing, session != nil else { return }
        var input = unwrapInboundIn(data)
        server.statistics.netInputBytes.add(input.readableBytes, ordering: .relaxed)
        if var buffered = pending {
            pending = nil
            buffered.writeBuffer(&input)
            input = buffered
        }
        if input.readableBytes > queryBufferLimit {
            // Redis closes such a client without a reply.
            closing = true
            context.close(promise: nil)
            return
        }
        pending = input
        if suspended { return } // parsed once the suspension ends
        process(context: context)
    }

    /// Parses and executes every complete command in `pending`, in order, until the input runs
    /// out, the connection closes, or a command suspends it.
    private func process(context: ChannelHandlerContext) {
        guard !closing, var commandContext, let session, var input = pending else { return }
        pending = nil
        self.commandContext = nil // keep the reply buffer uniquely referenced while we work
        var processed = 0
        let emptyBuffer = ByteBuffer()
        while !closing {
            let frame: RESPCommandParser.Frame?
            do {
                frame = try parser.parse(input, authenticated: session.authenticated)
            } catch {
                commandContext.reply.error("ERR \(error)")
                closing = true
                break
            }
            guard let frame else { break }
            switch frame {
            case .empty(let length):
                input.moveReaderIndex(forwardBy: length)
                continue
            case .multibulk(let length):
                commandContext.arguments = CommandArguments(buffer: input, spans: parser.spans)
                commandContext.frameLength = length
                run(&commandContext, session)
                commandContext.frameLength = 0
                input.moveReaderIndex(forwardBy: length)
            case .inline(let length, let arguments):
                commandContext.arguments = CommandArguments(buffer: arguments, spans: parser.spans)
                run(&commandContext, session)
                input.moveReaderIndex(forwardBy: length)
            }
            processed += 1
            noteDurability(&commandContext)
            let suspension = commandContext.suspension
            commandContext.suspension = nil
            let rerun = suspension?.rerun == true ? commandContext.arguments.owned() : nil
            // Drop the references so that neither the parser's spans nor the input are shared.
            commandContext.arguments = CommandArguments(buffer: emptyBuffer, spans: [])
            if let deferred = commandContext.deferredReply {
                commandContext.deferredReply = nil
                enqueueDeferred(deferred, context: context, &commandContext.reply.buffer)
            }
            if session.closeAfterReply { closing = true }
            if commandContext.reply.buffer.readableBytes >= Self.outputHighWater {
                if repliesAwaitDurability {
                    holdForDurability(&commandContext.reply.buffer)
                } else if queue.isEmpty {
                    write(context: context, &commandContext.reply.buffer, flush: false)
                }
            }
            if let suspension {
                suspend(until: suspension.until, rerun: rerun, context: context)
                break
            }
        }
        if repliesAwaitDurability { holdForDurability(&commandContext.reply.buffer) }
        if processed > 0 { server.statistics.commandsProcessed.add(processed, ordering: .relaxed) }
        if input.readableBytes > 0 && !closing {
            if input.readerIndex > 64 * 1024 && input.readerIndex > input.readableBytes { input.discardReadBytes() }
            pending = input
        }
        self.commandContext = commandContext
        if closing {
            flushReplies(context: context)
            if queue.isEmpty { context.close(promise: nil) } else { closeWhenDrained = true }
        }
    }

    /// Stops executing this connection's commands until `future` completes (a cold read from
    /// L3, or the write queue draining). Other connections are not affected; replies so far are
    /// flushed; reading pauses so input cannot pile up meanwhile.
    private func suspend(until future: EventLoopFuture<Void>, rerun: CommandArguments?, context: ChannelHandlerContext) {
        suspended = true
        context.channel.setOption(ChannelOptions.autoRead, value: false).whenFailure { _ in }
        let loop = context.eventLoop
        let loopBound = NIOLoopBound((self, context, rerun), eventLoop: loop)
        future.hop(to: loop).whenComplete { result in
            // Always on a later tick: a future that is already complete must not resume (and
            // perhaps suspend again) recursively inside this call.
            loop.execute {
                let (handler, context, rerun) = loopBound.value
                handler.resume(rerun: rerun, failure: { if case .failure(let e) = result { return e } else { return nil } }(),
                               context: context)
            }
        }
    }

    private func resume(rerun: CommandArguments?, failure: (any Error)?, context: ChannelHandlerContext) {
        suspended = false
        if !paused { context.channel.setOption(ChannelOptions.autoRead, value: true).whenFailure { _ in } }
        guard !closing, var commandContext, let session else { return }
        if let rerun {
            self.commandContext = nil
            if let failure {
                commandContext.reply.error(CommandError.reply(for: failure))
            } else {
                commandContext.arguments = rerun
                run(&commandContext, session)
                commandContext.arguments = CommandArguments(buffer: ByteBuffer(), spans: [])
            }
            noteDurability(&commandContext)
            if let deferred = commandContext.deferredReply {
                commandContext.deferredReply = nil
                enqueueDeferred(deferred, context: context, &commandContext.reply.buffer)
            }
            if repliesAwaitDurability { holdForDurability(&commandContext.reply.buffer) }
            if session.closeAfterReply { closing = true }
            let suspension = commandContext.suspension
            commandContext.suspension = nil
            self.commandContext = commandContext
            if let suspension {
                // Still cold (evicted again meanwhile): read again.
                suspend(until: suspension.until, rerun: suspension.rerun ? rerun : nil, context: context)
                flushReplies(context: context)
                return
            }
        }
        if pending != nil { process(context: context) }
        flushReplies(context: context)
        if closing && queue.isEmpty { context.close(promise: nil) }
    }

    /// Takes over a command's `awaitsDurability`: from now on the reply buffer must not leave
    /// without a barrier (see `repliesAwaitDurability`).
    @inline(__always)
    private func noteDurability(_ commandContext: inout CommandContext) {
        guard commandContext.awaitsDurability else { return }
        commandContext.awaitsDurability = false
        repliesAwaitDurability = true
    }

    /// Under `l3-fsync always`: the replies produced so far (this read batch's) wait for one L3
    /// barrier, then go out together.
    private func holdForDurability(_ replies: inout ByteBuffer) {
        repliesAwaitDurability = false
        guard let cold = server.coldStorage, let context = channelContext, replies.readableBytes > 0 else { return }
        let held = replies
        replies = context.channel.allocator.buffer(capacity: 4096)
        var nothingBefore = ByteBuffer()
        enqueueDeferred(cold.barrier(on: context.eventLoop).map { held }, context: context, &nothingBefore)
    }

    /// Puts the replies so far and a placeholder for `deferred` in the queue.
    private func enqueueDeferred(_ deferred: EventLoopFuture<ByteBuffer>, context: ChannelHandlerContext, _ reply: inout ByteBuffer) {
        let place = reserve(after: &reply)
        let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        deferred.hop(to: context.eventLoop).whenComplete { result in
            let (handler, context) = loopBound.value
            var buffer: ByteBuffer
            switch result {
            case .success(let reply): buffer = reply
            case .failure(let error):
                buffer = context.channel.allocator.buffer(capacity: 64)
                var writer = RESPReplyWriter(buffer: buffer)
                writer.error("ERR \(error)")
                buffer = writer.buffer
            }
            handler.fill(place, with: buffer)
            handler.drainQueue(context: context)
        }
    }

    // MARK: - ReplyStream

    func reserve(after replies: inout ByteBuffer) -> Int {
        // A write's reply among them must not go out with a later reply before it is durable.
        if repliesAwaitDurability { holdForDurability(&replies) }
        if replies.readableBytes > 0 {
            queue.append(.ready(replies))
            replies = ByteBuffer()
        }
        queue.append(.pending)
        empty += 1
        return queueHead + queue.count - 1
    }

    func fill(_ place: Int, with reply: ByteBuffer) {
        let index = place - queueHead
        guard index >= 0, index < queue.count, case .pending = queue[queue.index(queue.startIndex, offsetBy: index)] else {
            return
        }
        queue[queue.index(queue.startIndex, offsetBy: index)] = .ready(reply)
        empty -= 1
    }

    var isWaiting: Bool { empty > 0 }

    func flush() {
        guard let channelContext else { return }
        drainQueue(context: channelContext)
    }

    /// Writes the ready prefix of the queue; once it is empty, later replies go direct again.
    /// Small replies are gathered into one buffer, so a batch of forwarded replies costs one
    /// write, not one per reply.
    private func drainQueue(context: ChannelHandlerContext) {
        var wrote = false
        var gathered: ByteBuffer?
        func write(_ buffer: ByteBuffer) {
            server.statistics.netOutputBytes.add(buffer.readableBytes, ordering: .relaxed)
            context.write(wrapOutboundOut(buffer), promise: nil)
            wrote = true
        }
        while case .ready(var buffer) = queue.first {
            queue.removeFirst()
            queueHead += 1
            if buffer.readableBytes <= Self.gatherLimit {
                if gathered == nil { gathered = context.channel.allocator.buffer(capacity: 4096) }
                gathered!.writeBuffer(&buffer)
            } else {
                if let small = gathered { write(small) }
                gathered = nil
                write(buffer)
            }
        }
        if let small = gathered { write(small) }
        // The queue is empty: replies produced while waiting follow.
        if queue.isEmpty, var commandContext, commandContext.reply.buffer.readableBytes > 0 {
            self.commandContext = nil
            write(commandContext.reply.buffer)
            commandContext.reply.buffer.clear()
            self.commandContext = commandContext
        }
        if wrote { context.flush() }
        if queue.isEmpty && closeWhenDrained { context.close(promise: nil) }
    }

    /// Replies up to this size are copied together before writing; larger ones are written as they are.
    private static let gatherLimit = 2048

    @inline(__always)
    private func run(_ commandContext: inout CommandContext, _ session: ClientSession) {
        commandContext.now = WallClock.milliseconds()
        session.lastInteraction.store(commandContext.now, ordering: .relaxed)
        CommandDispatcher.execute(&commandContext)
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        flushReplies(context: context)
        if !context.channel.isWritable && !paused {
            paused = true
            context.channel.setOption(ChannelOptions.autoRead, value: false).whenFailure { _ in }
        }
        context.fireChannelReadComplete()
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable && paused {
            paused = false
            context.channel.setOption(ChannelOptions.autoRead, value: true).whenFailure { _ in }
        }
        context.fireChannelWritabilityChanged()
    }

    private func flushReplies(context: ChannelHandlerContext) {
        guard var commandContext else { return }
        // Behind a deferred reply, replies wait their turn in the queue.
        if !queue.isEmpty {
            if commandContext.reply.buffer.readableBytes > 0 {
                self.commandContext = nil
                queue.append(.ready(commandContext.reply.buffer))
                commandContext.reply.buffer = context.channel.allocator.buffer(capacity: 4096)
                self.commandContext = commandContext
            }
            drainQueue(context: context)
            return
        }
        self.commandContext = nil
        if commandContext.reply.buffer.readableBytes > 0 {
            write(context: context, &commandContext.reply.buffer, flush: true)
        } else if unflushed {
            context.flush()
        }
        unflushed = false
        self.commandContext = commandContext
    }

    private func write(context: ChannelHandlerContext, _ buffer: inout ByteBuffer, flush: Bool) {
        server.statistics.netOutputBytes.add(buffer.readableBytes, ordering: .relaxed)
        context.write(wrapOutboundOut(buffer), promise: nil)
        if flush { context.flush() } else { unflushed = true }
        // Usually the write has completed and released the buffer, so this reuses its memory.
        buffer.clear()
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        context.close(promise: nil)
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let event = event as? ChannelEvent, event == .inputClosed {
            flushReplies(context: context)
            context.close(promise: nil)
            return
        }
        context.fireUserInboundEventTriggered(event)
    }

    static func describe(_ address: SocketAddress?) -> String {
        guard let address else { return "?:0" }
        return "\(address.ipAddress ?? "?"):\(address.port ?? 0)"
    }
}
