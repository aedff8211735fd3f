import StrataRESP
import StrataStore

/// A key as a command on one value type finds it.
public enum Lookup<T: CollectionValue> {
    case missing
    /// The key holds a value of another type (the command replies WRONGTYPE).
    case wrongType
    case found(Entry, T)

    /// The collection, or nil when missing or of another type.
    public var value: T? {
        if case .found(_, let value) = self { return value }
        return nil
    }
}

/// A command's keys without its reply writer: what the cores that write into a reply while they
/// hold shard locks (LPOP's pop, SMOVE's move, ZPOPMIN's pop…) need to find and store keys.
///
/// Hand these cores `c.keyAccess`, never a copy of the whole ``CommandContext``: a copy shares
/// the context's reply buffer, so the first reply byte written would copy that whole buffer.
public struct KeyAccess {
    public let arguments: CommandArguments
    public let keyspace: Keyspace
    public let database: Int
    public let now: Int64

    /// The hash of argument `index`.
    @inline(__always)
    public func hash(_ index: Int) -> UInt64 { arguments.withBytes(index) { keyspace.hasher.hash($0) } }

    /// Looks argument `index` up in the client's database; its shard's lock must be held.
    @inline(__always)
    public func find(_ index: Int, hash: UInt64, access: Access) -> Entry? {
        arguments.withBytes(index) { key in
            keyspace.shard(for: hash).find(database: database, key: key, hash: hash, now: now, access: access)
        }
    }

    /// Looks argument `index` up as a `T`, with its shard's lock held.
    public func lookup<T: CollectionValue>(_ index: Int, hash: UInt64, as type: T.Type, access: Access) -> Lookup<T> {
        guard let entry = find(index, hash: hash, access: access) else { return .missing }
        guard let value = entry.collection as? T else { return .wrongType }
        return .found(entry, value)
    }

    /// Whether argument `index` holds a value of a type other than `T`, with its shard's lock held.
    public func holdsOtherType<T: CollectionValue>(_ index: Int, hash: UInt64, than type: T.Type) -> Bool {
        if case .wrongType = lookup(index, hash: hash, as: type, access: .peek) { return true }
        return false
    }

    /// With the locks held: stores `value` under argument `index` (hash `hash`), replacing whatever
    /// is there and dropping its TTL, as Redis's *STORE commands do; an empty or nil `value`
    /// deletes the key instead. Returns the number of elements stored.
    @discardableResult
    public func store(_ index: Int, hash: UInt64, _ value: CollectionValue?) -> Int {
        let db = database, now = self.now
        return arguments.withBytes(index) { key in
            let shard = keyspace.shard(for: hash)
            let existing = shard.find(database: db, key: key, hash: hash, now: now, access: .write)
            guard let value, value.count > 0 else {
                if let existing { shard.remove(existing) }
                return 0
            }
            if let existing {
                shard.replaceValue(existing, with: value, expireAt: 0, now: now)
            } else {
                shard.insert(database: db, key: key, hash: hash, collection: value, expireAt: 0, now: now)
            }
            return value.count
        }
    }

    /// Records a change made in place to the collection of `entry`, the key at hash `hash`
    /// (``Shard/collectionChanged(_:)``).
    public func changed(_ entry: Entry, hash: UInt64) { keyspace.shard(for: hash).collectionChanged(entry) }
}

extension CommandContext {
    public static let wrongTypeMessage: StaticString = "WRONGTYPE Operation against a key holding the wrong kind of value"

    public mutating func wrongType() { reply.error(CommandContext.wrongTypeMessage) }

    /// The command's keys without its reply (see ``KeyAccess``).
    @inline(__always)
    public var keyAccess: KeyAccess { KeyAccess(arguments: arguments, keyspace: keyspace, database: database, now: now) }

    /// Looks argument `index` up as a `T`, with its shard's lock held by the caller (inside
    /// ``withKeyAndReply(_:_:)`` or ``withShardsAndReply(for:_:)``).
    public func lookup<T: CollectionValue>(_ index: Int, hash: UInt64, as type: T.Type, access: Access) -> Lookup<T> {
        keyAccess.lookup(index, hash: hash, as: type, access: access)
    }

    /// Runs `body` with argument `index` as a key, its hash and its shard, holding the shard's
    /// lock, and with the reply writer: for commands whose reply is made of what they read
    /// (a collection's elements are read only under the lock).
    @inline(__always)
    public mutating func withKeyAndReply<R>(_ index: Int, _ body: (Shard, UnsafeRawBufferPointer, UInt64, inout RESPReplyWriter) -> R) -> R {
        let arguments = self.arguments
        let keyspace = self.keyspace
        return arguments.withBytes(index) { key in
            let hash = keyspace.hasher.hash(key)
            let shard = keyspace.shard(for: hash)
            if shardsLocked {
                assert(holdsShard(keyspace.shardIndex(for: hash)), "\(commandName): key \(index) is in a shard EXEC did not lock")
                return body(shard, key, hash, &reply)
            }
            shard.lock.lock()
            defer { shard.lock.unlock() }
            return body(shard, key, hash, &reply)
        }
    }

    /// Runs `body` holding the locks of every shard that owns one of `keyHashes`, with the reply
    /// writer (multi-key commands on collections).
    public mutating func withShardsAndReply<R>(for keyHashes: [UInt64], _ body: (inout RESPReplyWriter) -> R) -> R {
        if shardsLocked {
            assert(keyHashes.allSatisfy { holdsShard(keyspace.shardIndex(for: $0)) }, "\(commandName): a key is in a shard EXEC did not lock")
            return body(&reply)
        }
        let indices = keyspace.lockOrder(for: keyHashes)
        keyspace.lock(indices)
        defer { keyspace.unlock(indices) }
        return body(&reply)
    }

    /// Reads argument `index` as a `T` and calls `body` with it (nil when the key is absent),
    /// under the shard's lock. When the key holds another type, replies WRONGTYPE instead.
    public mutating func read<T: CollectionValue>(_ index: Int, as type: T.Type, access: Access = .read,
                                                  _ body: (T?, inout RESPReplyWriter) -> Void) {
        let db = database, now = self.now
        withKeyAndReply(index) { shard, key, hash, reply in
            guard let entry = shard.find(database: db, key: key, hash: hash, now: now, access: access) else {
                return body(nil, &reply)
            }
            guard let value = entry.collection as? T else { return reply.error(CommandContext.wrongTypeMessage) }
            body(value, &reply)
        }
    }

    /// Changes argument `index`'s `T` in place, under the shard's lock.
    ///
    /// `body` gets the key's collection; when the key is absent it gets `create()`'s new one (or
    /// nil when `create` is nil). It returns whether it changed the collection. A new collection
    /// that `body` filled is stored under the key; a changed one is recorded
    /// (``Shard/collectionChanged(_:)``), which also deletes the key if it is now empty. When the
    /// key holds another type, replies WRONGTYPE instead.
    public mutating func modify<T: CollectionValue>(_ index: Int, as type: T.Type, create: (() -> T)?,
                                                    _ body: (T?, inout RESPReplyWriter) -> Bool) {
        let db = database, now = self.now
        withKeyAndReply(index) { shard, key, hash, reply in
            if let entry = shard.find(database: db, key: key, hash: hash, now: now, access: .write) {
                guard let value = entry.collection as? T else { return reply.error(CommandContext.wrongTypeMessage) }
                if body(value, &reply) { shard.collectionChanged(entry) }
                return
            }
            let fresh = create?()
            if body(fresh, &reply), let fresh, fresh.count > 0 {
                shard.insert(database: db, key: key, hash: hash, collection: fresh, expireAt: 0, now: now)
            }
        }
    }

    /// With the locks held: stores `value` under argument `index` (see ``KeyAccess/store(_:hash:_:)``).
    @discardableResult
    public func store(_ index: Int, hash: UInt64, _ value: CollectionValue?) -> Int {
        keyAccess.store(index, hash: hash, value)
    }

    /// Argument `index` as a Blob.
    public func blob(_ index: Int) -> Blob { arguments.withBytes(index) { Blob($0) } }
}
