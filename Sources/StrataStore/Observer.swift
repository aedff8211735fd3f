/// Receives every change to the keyspace, under the shard lock of the key, in the order the
/// changes happen. The L3 write batcher implements it. Implementations must be quick: they run
/// on the hot path of every write.
public protocol KeyspaceObserver: AnyObject, Sendable {
    /// A key was created or changed (value or TTL); `entry` is its current version.
    func entryWritten(_ entry: Entry)
    /// A key was deleted (DEL, expiry, overwrite by RENAME…).
    func entryDeleted(_ entry: Entry)
    /// A cold key's TTL changed (its value is not in memory, so the row is updated in place).
    func stubExpireChanged(_ entry: Entry)
    /// One database (or all, when nil) was emptied.
    func databaseFlushed(_ database: Int?)
}
