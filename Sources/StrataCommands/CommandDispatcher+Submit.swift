import NIOCore
import StrataRESP

extension CommandDispatcher {
    /// Runs a command that no client connection sent (one node's part of a split multi-key
    /// command, a key handed to or from another node) through ``execute(_:)``: the same steps as
    /// a client's command, in the same order (arity, auth, routing, cold-key loading, OOM,
    /// durability, the journal). No handler is ever called around it.
    ///
    /// Where a connection would hold the command back, this waits instead, and the future holds
    /// the command's final reply as one complete RESP value:
    /// - a key whose value is only in L3 is read from disk, then the command runs again;
    /// - a reply from another node (a forwarded command) is waited for;
    /// - under `l3-fsync always`, a write's reply waits until L3 has committed it;
    /// - when the L3 write queue is over its limit, the reply waits until it drains.
    ///
    /// Must be called on `loop`, the loop whose state `client` belongs to. With `localOnly`, a
    /// command that acts on every node's keys acts on this node's only.
    public static func submit(_ arguments: CommandArguments, as client: ClientSession, server: ServerContext,
                              on loop: any EventLoop, localOnly: Bool = false) -> EventLoopFuture<ByteBuffer> {
        loop.preconditionInEventLoop()
        var context = CommandContext(server: server, client: client, arguments: arguments,
                                     reply: RESPReplyWriter(buffer: ByteBuffer(), version: client.protocolVersion),
                                     now: WallClock.milliseconds())
        context.eventLoop = loop
        context.localOnly = localOnly
        context.monitorOrigin = .hidden
        execute(&context)
        if let suspension = context.suspension, suspension.rerun {
            // Nothing ran: the command's values are being read from L3 (or its keys are fenced).
            let again = NIOLoopBound(arguments, eventLoop: loop)
            return suspension.until.hop(to: loop).flatMap {
                submit(again.value, as: client, server: server, on: loop, localOnly: localOnly)
            }.flatMapErrorThrowing { error in
                errorReply(CommandError.reply(for: error))
            }
        }
        var reply = context.deferredReply ?? loop.makeSucceededFuture(context.reply.buffer)
        if context.awaitsDurability, let cold = server.coldStorage {
            reply = cold.barrier(on: loop).and(reply).map { $0.1 }
        }
        if let suspension = context.suspension {
            // It ran; the L3 write queue is over its limit: the reply waits for it to drain.
            reply = suspension.until.and(reply).map { $0.1 }
        }
        return reply
    }

    /// A complete RESP error reply.
    public static func errorReply(_ message: String) -> ByteBuffer {
        var writer = RESPReplyWriter(buffer: ByteBuffer())
        writer.error(message)
        return writer.buffer
    }
}

/// An error a command's wait can end with, carrying the reply the client gets (`-TRYAGAIN …`).
public struct CommandError: Error, Sendable, CustomStringConvertible {
    /// The whole error line without its `-`: code, space, message.
    public var reply: String
    public init(_ reply: String) { self.reply = reply }
    public var description: String { reply }

    /// The reply for a wait that failed with `error`: its own reply, or an L3 read failure.
    public static func reply(for error: any Error) -> String {
        (error as? CommandError)?.reply ?? "ERR L3 read failed: \(error)"
    }
}
