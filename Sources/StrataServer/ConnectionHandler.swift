import NIOCore
import StrataCommands
import StrataConfig
import StrataRESP

/// One client connection: parses requests from each read, executes them in order on the event
/// loop, appends every reply to one buffer, and writes it once per read batch (pipelining).
///
/// Its life (commands running or waiting, reads held, closing) is a ``ConnectionStateMachine``.
/// Backpressure holds reads in ``read(context:)``: while a command waits, or while the unsent
/// output is over its limit (the client does not read its replies), no more commands run and no
/// more input is read; the commands already received stay unparsed until the output drains. So
/// a connection holds at most about `outputLimit` of unsent replies plus the one reply that
/// crossed it, however many commands it pipelines.
final class ConnectionHandler: ChannelDuplexHandler, ReplyStream {
    typealias InboundIn = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private let server: ServerContext
    private var parser: RESPCommandParser
    /// Bytes received but not yet parsed into whole commands.
    private var pending: ByteBuffer?
    private var commandContext: CommandContext?
    private var session: ClientSession?
    private var machine = ConnectionStateMachine()
    /// The close after the last write is arranged (see `closeWhenWritten`).
    private var closeRequested = false
    /// Replies were written without a flush (the batch outgrew the high-water mark).
    private var unflushed = false
    /// Replies waiting behind a deferred one, in order. Empty in the common case, where every
    /// reply is ready when its command returns and goes straight to the reply buffer.
    private var queue = CircularBuffer<Segment>(initialCapacity: 16)
    /// The place number (see ``ReplyStream``) of `queue.first`; the next is one more, and so on.
    private var queueHead = 0
    /// How many places in `queue` are still empty.
    private var empty = 0
    /// Places whose reply is left out when it comes (CLIENT REPLY OFF or SKIP).
    private var silenced = Set<Int>()
    /// Bytes of the ready replies in `queue`.
    private var queuedBytes = 0
    /// The unsent output last reported to the session (CLIENT LIST's `omem`).
    private var reportedOutput = 0
    /// Under `l3-fsync always`: the reply buffer holds the reply of a write that is not known to
    /// be durable yet. Whenever replies leave the buffer (a place reserved after them, the end of
    /// a batch, the high-water mark), they first go behind one L3 barrier.
    private var repliesAwaitDurability = false
    /// Set while the connection is open: fills and flushes from elsewhere write through it.
    private var channelContext: ChannelHandlerContext?

    private enum Segment {
        case ready(ByteBuffer)
        case pending
    }
    private let queryBufferLimit: Int
    /// Write replies out early when a batch produces more than this, to bound the output buffer.
    private static let outputHighWater = 256 * 1024
    /// Replies waiting behind a deferred one, in bytes, beyond which no more commands run. (The
    /// channel's own buffer has its limit in its write-buffer water marks: past the high mark it
    /// is not writable, and no more commands run either.)
    static let queueLimit = 1024 * 1024
    /// Commands run again once the queued replies are below this and the channel is writable.
    static let queueLowWater = 256 * 1024
    /// Replies still to come from elsewhere (forwarded commands) beyond which no more commands
    /// run: bounds what they can bring at once, whatever their size.
    static let placeLimit = 32
    /// The channel's write-buffer water marks: unsent bytes past `high` make it not writable
    /// (no more commands run); below `low` it is writable again.
    static let writeBufferWaterMark = ChannelOptions.Types.WriteBufferWaterMark(low: 256 * 1024, high: 1024 * 1024)

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
        // Always on a later tick of the channel's loop: a caller may hold locks (a publisher
        // closing a subscriber past its limit, perhaps inside a shard lock for a keyspace
        // notification) that the connection's teardown takes.
        session.close = { channel.eventLoop.execute { channel.close(promise: nil) } }
        let pushTarget = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        let mailbox = PushMailbox.of(context.eventLoop)
        let write: @Sendable () -> Void = {
            let (handler, context) = pushTarget.value
            handler.writePushes(context: context)
        }
        session.wakeForPushes = { mailbox.post(write) }
        server.statistics.connectionsReceived.add(1, ordering: .relaxed)
        if server.clients.count >= server.configuration.maxClients {
            server.statistics.rejectedConnections.add(1, ordering: .relaxed)
            var buffer = context.channel.allocator.buffer(capacity: 64)
            buffer.writeStaticString("-ERR max number of clients reached\r\n")
            context.writeAndFlush(wrapOutboundOut(buffer)).whenComplete { _ in channel.close(promise: nil) }
            machine.close()
            return
        }
        if ProtectedMode.refuses(server.configuration, remoteIP: context.channel.remoteAddress?.ipAddress) {
            var buffer = context.channel.allocator.buffer(capacity: ProtectedMode.denial.utf8.count)
            buffer.writeString(ProtectedMode.denial)
            context.writeAndFlush(wrapOutboundOut(buffer)).whenComplete { _ in channel.close(promise: nil) }
            machine.close()
            return
        }
        machine.activated()
        server.clients.add(session)
        self.session = session
        var commandContext = CommandContext(
            server: server, client: session, arguments: CommandArguments(buffer: ByteBuffer(), spans: []),
            reply: RESPReplyWriter(buffer: context.channel.allocator.buffer(capacity: ClientSession.replyBufferSize)), now: now)
        commandContext.eventLoop = context.eventLoop
        commandContext.replyStream = self
        commandContext.batchesWakeups = true
        self.commandContext = commandContext
        channelContext = context
        context.fireChannelActive()
    }

    /// Puts the command context back after work that moved it out. If the channel closed
    /// meanwhile (a write error inside a flush closes it at once), `channelInactive` found no
    /// context to release: release it here (its WATCHes, and the cycle through `replyStream`).
    private func restore(_ commandContext: CommandContext) {
        guard machine.state == .closed else {
            self.commandContext = commandContext
            return
        }
        var released = commandContext
        released.arguments = CommandArguments(buffer: ByteBuffer(), spans: [])
        released.replyStream = nil
        CommandDispatcher.disconnect(&released)
    }

    func channelInactive(context: ChannelHandlerContext) {
        machine.inactive()
        if let session {
            session.queryBufferBytes.store(0, ordering: .relaxed)
            session.outputBytes.store(0, ordering: .relaxed)
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
        let disposition = machine.received()
        guard disposition != .drop, session != nil else { return }
        var input = unwrapInboundIn(data)
        server.statistics.netInputBytes.add(input.readableBytes, ordering: .relaxed)
        if var buffered = pending {
            pending = nil
            buffered.writeBuffer(&input)
            input = buffered
        }
        if input.readableBytes > queryBufferLimit {
            // Redis closes such a client without a reply.
            machine.close()
            context.close(promise: nil)
            return
        }
        pending = input
        guard disposition == .run else {
            // Parsed once commands may run again.
            session?.queryBufferBytes.store(input.readableBytes, ordering: .relaxed)
            return
        }
        process(context: context)
    }

    /// Reads are held while commands cannot run (see ``ConnectionStateMachine``).
    func read(context: ChannelHandlerContext) {
        if machine.readRequested() { context.read() }
    }

    /// Parses and executes every complete command in `pending`, in order, until the input runs
    /// out, the connection closes, a command suspends it, or the output fills.
    private func process(context: ChannelHandlerContext) {
        guard machine.mayRun, var commandContext, let session, var input = pending else { return }
        pending = nil
        self.commandContext = nil // keep the reply buffer uniquely referenced while we work
        var processed = 0
        let emptyBuffer = ByteBuffer()
        while machine.mayRun {
            let frame: RESPCommandParser.Frame?
            do {
                frame = try parser.parse(input, authenticated: session.authenticated)
            } catch {
                commandContext.reply.error("ERR \(error)")
                machine.close()
                break
            }
            guard let frame else {
                if machine.isDraining { input.moveReaderIndex(forwardBy: input.readableBytes) }
                break
            }
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
            let blocks = commandContext.blockedOnKeys
            commandContext.suspension = nil
            commandContext.blockedOnKeys = false
            let rerun = suspension?.rerun == true ? commandContext.arguments.owned() : nil
            // Drop the references so that neither the parser's spans nor the input are shared.
            commandContext.arguments = CommandArguments(buffer: emptyBuffer, spans: [])
            if let deferred = commandContext.deferredReply {
                commandContext.deferredReply = nil
                enqueueDeferred(deferred, context: context, &commandContext.reply.buffer)
            }
            if session.closeAfterReply { machine.close() }
            if commandContext.reply.buffer.readableBytes >= Self.outputHighWater {
                // Past the channel's high water mark the write makes it unwritable, and
                // `channelWritabilityChanged` stops the loop (the output is full).
                if repliesAwaitDurability {
                    holdForDurability(&commandContext.reply.buffer)
                } else if queue.isEmpty {
                    write(context: context, &commandContext.reply.buffer, flush: false)
                } else {
                    appendToQueue(&commandContext.reply.buffer, context: context)
                }
            }
            if let suspension {
                suspend(until: suspension.until, rerun: rerun, blocks: blocks, context: context)
                break
            }
        }
        commandContext.wakeSubscribers()
        if repliesAwaitDurability { holdForDurability(&commandContext.reply.buffer) }
        if processed > 0 { server.statistics.commandsProcessed.add(processed, ordering: .relaxed) }
        if input.readableBytes > 0 && !machine.isClosing {
            if input.readerIndex > 64 * 1024 && input.readerIndex > input.readableBytes { input.discardReadBytes() }
            pending = input
            session.queryBufferBytes.store(input.readableBytes, ordering: .relaxed)
        } else if processed > 0 {
            session.queryBufferBytes.store(0, ordering: .relaxed)
        }
        restore(commandContext)
        if machine.drained(inputLeft: pending != nil) || machine.isClosing {
            flushReplies(context: context)
            if queue.isEmpty { closeWhenWritten(context: context) }
        }
    }

    /// Closes once every reply written so far has reached the socket (closing at once would
    /// drop what NIO still buffers: the replies of a slow reader that sent QUIT or half-closed).
    private func closeWhenWritten(context: ChannelHandlerContext) {
        guard !closeRequested else { return }
        closeRequested = true
        let promise = context.eventLoop.makePromise(of: Void.self)
        context.writeAndFlush(wrapOutboundOut(ByteBuffer()), promise: promise)
        let loopBound = NIOLoopBound(context, eventLoop: context.eventLoop)
        promise.futureResult.whenComplete { _ in loopBound.value.close(promise: nil) }
    }

    /// Stops executing this connection's commands until `future` completes (a cold read from
    /// L3, or the write queue draining). Other connections are not affected; replies so far are
    /// flushed; reading pauses so input cannot pile up meanwhile.
    private func suspend(until future: EventLoopFuture<Void>, rerun: CommandArguments?, blocks: Bool = false,
                         context: ChannelHandlerContext) {
        if blocks { machine.commandBlocks() } else { machine.commandWaits() }
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
        machine.commandResumed()
        guard !machine.isClosing, var commandContext, let session else { return }
        if let rerun {
            self.commandContext = nil
            if let failure {
                commandContext.reply.error(CommandError.reply(for: failure))
            } else {
                commandContext.arguments = rerun
                run(&commandContext, session)
                commandContext.arguments = CommandArguments(buffer: ByteBuffer(), spans: [])
            }
            commandContext.wakeSubscribers()
            noteDurability(&commandContext)
            if let deferred = commandContext.deferredReply {
                commandContext.deferredReply = nil
                enqueueDeferred(deferred, context: context, &commandContext.reply.buffer)
            }
            if repliesAwaitDurability { holdForDurability(&commandContext.reply.buffer) }
            if session.closeAfterReply { machine.close() }
            let suspension = commandContext.suspension
            let blocks = commandContext.blockedOnKeys
            commandContext.suspension = nil
            commandContext.blockedOnKeys = false
            restore(commandContext)
            if let suspension {
                // Still cold (evicted again meanwhile): read again; or still blocked on its keys.
                suspend(until: suspension.until, rerun: suspension.rerun ? rerun : nil, blocks: blocks, context: context)
                flushReplies(context: context)
                return
            }
        }
        runPending(context: context)
    }

    /// Runs the input that waited (after a suspension or a full output), flushes, and passes on
    /// a read held meanwhile.
    private func runPending(context: ChannelHandlerContext) {
        if pending != nil { process(context: context) }
        _ = machine.drained(inputLeft: pending != nil)
        flushReplies(context: context)
        if machine.isClosing && queue.isEmpty {
            closeWhenWritten(context: context)
            return
        }
        if machine.takeHeldRead() { context.read() }
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

    // MARK: - Published messages

    /// Writes the messages published to this connection (see ``PushOutbox``). Replies produced
    /// so far go first, so a subscription's confirmation precedes its first message; replies
    /// still awaited from elsewhere do not hold messages back (RESP3 pushes may come between
    /// replies; a RESP2 subscriber runs no command that waits). While the channel is not
    /// writable the messages stay in the outbox, where the pubsub output limit counts them.
    private func writePushes(context: ChannelHandlerContext) {
        guard let session, !machine.isClosing else { return }
        guard context.channel.isWritable else {
            session.pushes.holdWhileBlocked()
            noteOutput(context: context)
            return
        }
        guard var messages = session.pushes.take() else { return }
        if queue.isEmpty, var commandContext, commandContext.reply.buffer.readableBytes > 0, !repliesAwaitDurability {
            self.commandContext = nil
            commandContext.reply.buffer.writeBuffer(&messages)
            write(context: context, &commandContext.reply.buffer, flush: true)
            restore(commandContext)
        } else {
            server.statistics.netOutputBytes.add(messages.readableBytes, ordering: .relaxed)
            context.writeAndFlush(wrapOutboundOut(messages), promise: nil)
        }
        noteOutput(context: context)
    }

    // MARK: - ReplyStream

    func reserve(after replies: inout ByteBuffer) -> Int {
        // A write's reply among them must not go out with a later reply before it is durable.
        if repliesAwaitDurability { holdForDurability(&replies) }
        if replies.readableBytes > 0 {
            queuedBytes += replies.readableBytes
            queue.append(.ready(replies))
            replies = ByteBuffer()
        }
        queue.append(.pending)
        empty += 1
        // Each place may bring a large reply (a forwarded GET of a big value): with this many
        // outstanding, no more commands run until some are written.
        if empty >= Self.placeLimit { machine.outputFull() }
        return queueHead + queue.count - 1
    }

    func fill(_ place: Int, with reply: ByteBuffer) {
        let index = place - queueHead
        guard index >= 0, index < queue.count, case .pending = queue[queue.index(queue.startIndex, offsetBy: index)] else {
            return
        }
        let reply = silenced.remove(place) == nil ? reply : ByteBuffer()
        queue[queue.index(queue.startIndex, offsetBy: index)] = .ready(reply)
        queuedBytes += reply.readableBytes
        empty -= 1
        if queuedBytes > Self.queueLimit { machine.outputFull() }
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
        // Not past the channel's high-water mark: the rest waits in the queue (counted in
        // `queuedBytes`) until it is writable again.
        while context.channel.isWritable, case .ready(var buffer) = queue.first {
            queue.removeFirst()
            queueHead += 1
            queuedBytes -= buffer.readableBytes
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
            restore(commandContext)
        }
        if wrote { context.flush() }
        if queue.isEmpty && machine.isClosing {
            closeWhenWritten(context: context)
            return
        }
        noteOutput(context: context)
    }

    /// Puts the replies so far at the end of the queue (behind a deferred one).
    private func appendToQueue(_ replies: inout ByteBuffer, context: ChannelHandlerContext) {
        queuedBytes += replies.readableBytes
        queue.append(.ready(replies))
        replies = context.channel.allocator.buffer(capacity: 4096)
        if queuedBytes > Self.queueLimit { machine.outputFull() }
    }

    /// Replies up to this size are copied together before writing; larger ones are written as they are.
    private static let gatherLimit = 2048

    @inline(__always)
    private func run(_ commandContext: inout CommandContext, _ session: ClientSession) {
        commandContext.now = WallClock.milliseconds()
        session.lastInteraction.store(commandContext.now, ordering: .relaxed)
        guard session.replyMode == .on else {
            runWithoutReply(&commandContext, session)
            return
        }
        CommandDispatcher.execute(&commandContext)
    }

    /// Under CLIENT REPLY OFF or SKIP: runs the command and leaves its reply out (written
    /// directly, deferred, or to come from another node), except CLIENT REPLY ON's.
    private func runWithoutReply(_ commandContext: inout CommandContext, _ session: ClientSession) {
        let skipping = session.replyMode == .skipNext
        if skipping { session.replyMode = .on }
        let start = commandContext.reply.buffer.writerIndex
        let places = queueHead + queue.count
        CommandDispatcher.execute(&commandContext)
        if commandContext.suspension?.rerun == true {
            // Nothing ran (a cold key, a pause): it runs again later, still without its reply.
            if skipping { session.replyMode = .skipNext }
            return
        }
        guard skipping || session.replyMode == .off else { return }
        if queueHead + queue.count != places {
            // The buffer went to the queue, before the places reserved for this command.
            commandContext.reply.buffer.moveWriterIndex(to: commandContext.reply.buffer.readerIndex)
            for offset in places..<(queueHead + queue.count) { silenced.insert(offset) }
        } else if commandContext.reply.buffer.writerIndex >= start {
            commandContext.reply.buffer.moveWriterIndex(to: start)
        }
        if let deferred = commandContext.deferredReply {
            let empty = ByteBuffer()
            commandContext.deferredReply = deferred.map { _ in empty }
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        flushReplies(context: context)
        context.fireChannelReadComplete()
    }

    /// Fired from inside this handler's own writes and flushes too: it only changes the state,
    /// and commands run again on a later tick, never inside the write that drained the output.
    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable {
            if let session, session.pushes.waitingBytes > 0 {
                let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
                context.eventLoop.execute {
                    let (handler, context) = loopBound.value
                    handler.writePushes(context: context)
                }
            }
            if case .ready = queue.first {
                // Ready replies waited for the channel: write them on a later tick (this may be
                // inside a flush), then commands may run again.
                let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
                context.eventLoop.execute {
                    let (handler, context) = loopBound.value
                    handler.drainQueue(context: context)
                }
            }
            resumeIfDrained(context: context)
        } else {
            machine.outputFull()
        }
        noteOutput(context: context)
        context.fireChannelWritabilityChanged()
    }

    /// Once the channel is writable and the queue small again, commands run again (later).
    private func resumeIfDrained(context: ChannelHandlerContext) {
        guard machine.waitsForOutput, queuedBytes <= Self.queueLowWater, empty < Self.placeLimit / 2,
              context.channel.isWritable, machine.outputDrained() else { return }
        let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        context.eventLoop.execute {
            let (handler, context) = loopBound.value
            guard handler.machine.mayRun else { return }
            handler.runPending(context: context)
        }
    }

    /// Reports the unsent output (CLIENT LIST's `omem`) when it is, or was, not trivially zero:
    /// the channel's unsent bytes, the queued replies and the reply buffer.
    private func noteOutput(context: ChannelHandlerContext) {
        guard let session else { return }
        let busy = queuedBytes > 0 || !context.channel.isWritable || machine.waitsForOutput
        guard busy || reportedOutput > 0 else { return }
        var total = queuedBytes + (commandContext?.reply.buffer.readableBytes ?? 0)
        if busy { total += (try? context.channel.syncOptions?.getOption(.bufferedWritableBytes)) ?? 0 }
        reportedOutput = total
        session.outputBytes.store(total, ordering: .relaxed)
        if queuedBytes <= Self.queueLowWater { resumeIfDrained(context: context) }
    }

    private func flushReplies(context: ChannelHandlerContext) {
        guard var commandContext else { return }
        // Behind a deferred reply, replies wait their turn in the queue.
        if !queue.isEmpty {
            if commandContext.reply.buffer.readableBytes > 0 {
                self.commandContext = nil
                appendToQueue(&commandContext.reply.buffer, context: context)
                restore(commandContext)
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
        restore(commandContext)
        noteOutput(context: context)
    }

    private func write(context: ChannelHandlerContext, _ buffer: inout ByteBuffer, flush: Bool) {
        server.statistics.netOutputBytes.add(buffer.readableBytes, ordering: .relaxed)
        context.write(wrapOutboundOut(buffer), promise: nil)
        if flush { context.flush() } else { unflushed = true }
        // Usually the write has completed and released the buffer, so this reuses its memory; a
        // buffer grown by a large batch is released rather than kept for the connection's life.
        if buffer.capacity > 16 * ClientSession.replyBufferSize {
            buffer = context.channel.allocator.buffer(capacity: ClientSession.replyBufferSize)
        } else {
            buffer.clear()
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        context.close(promise: nil)
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let event = event as? ChannelEvent, event == .inputClosed {
            // The commands already received still run; then the connection closes.
            machine.inputEnded()
            if machine.isClosing {
                // Blocked on keys: close now (the disconnect gives up its place).
                context.close(promise: nil)
                return
            }
            // What is left runs now (or once the output drains); an incomplete command left
            // over can never complete, and is dropped.
            if machine.mayRun { runPending(context: context) }
            return
        }
        context.fireUserInboundEventTriggered(event)
    }

    static func describe(_ address: SocketAddress?) -> String {
        guard let address else { return "?:0" }
        return "\(address.ipAddress ?? "?"):\(address.port ?? 0)"
    }
}
