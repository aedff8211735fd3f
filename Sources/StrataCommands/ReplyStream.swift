import NIOCore

/// A connection's stream of replies, for replies that arrive after their command has returned
/// (commands forwarded to another node), without a future per reply.
///
/// A command reserves its place with ``reserve(after:)`` and returns; whoever produces the reply
/// later puts it there with ``fill(_:with:)`` and, after a batch of fills, calls ``flush()`` once.
/// Replies are written in request order. Every call must be made on the connection's event loop.
public protocol ReplyStream: AnyObject {
    /// Reserves the next place in the stream and returns its number. The replies already in
    /// `replies` (those of earlier commands) go before it: the stream takes them over and leaves
    /// `replies` empty.
    func reserve(after replies: inout ByteBuffer) -> Int
    /// Puts a complete RESP reply in place `place`. Nothing is written before ``flush()``; a
    /// place of a connection that has closed is ignored.
    func fill(_ place: Int, with reply: ByteBuffer)
    /// Writes, in order, every reply ready before the first place still empty, and flushes.
    func flush()
    /// Whether some reserved place is still empty.
    var isWaiting: Bool { get }
}
