/// Every limit the request parser enforces, in one place.
///
/// Each limit is checked before anything is allocated for the part of the request it governs,
/// so a client that announces a huge length cannot make the server reserve memory for it.
public struct RESPLimits: Sendable, Equatable {
    /// Largest bulk string accepted in a request (`proto-max-bulk-len`, 512 MiB by default).
    public var maxBulkLength: Int
    /// Largest number of elements in one multibulk request.
    public var maxMultibulkLength: Int
    /// Longest inline command line, and longest `*`/`$` header line, without a newline.
    public var maxInlineLength: Int
    /// Largest bulk string accepted from a client that has not authenticated yet.
    public var unauthenticatedMaxBulkLength: Int
    /// Largest multibulk count accepted from a client that has not authenticated yet.
    public var unauthenticatedMaxMultibulkLength: Int

    public init(
        maxBulkLength: Int = 512 * 1024 * 1024,
        maxMultibulkLength: Int = 1024 * 1024,
        maxInlineLength: Int = 64 * 1024,
        unauthenticatedMaxBulkLength: Int = 16 * 1024,
        unauthenticatedMaxMultibulkLength: Int = 10
    ) {
        self.maxBulkLength = maxBulkLength
        self.maxMultibulkLength = maxMultibulkLength
        self.maxInlineLength = maxInlineLength
        self.unauthenticatedMaxBulkLength = unauthenticatedMaxBulkLength
        self.unauthenticatedMaxMultibulkLength = unauthenticatedMaxMultibulkLength
    }
}

/// A malformed request. The server replies `-ERR Protocol error: <message>` and closes the connection,
/// as Redis does.
public struct RESPProtocolError: Error, Equatable, Sendable, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { "Protocol error: \(message)" }
}
