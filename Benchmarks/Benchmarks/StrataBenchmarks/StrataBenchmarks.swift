import Benchmark
import NIOCore
import StrataCommands
import StrataConfig
import StrataRESP
import StrataStore

// Micro-benchmarks of the request path, one operation per inner iteration.
//
// Every benchmark runs `scalingFactor` (1,000) operations per measured iteration, so the figures
// marked `*` in the output (time, mallocs) are per operation: per parsed frame, per reply, per
// keyspace call, per pipelined command. State is built once, outside the measurement, and warmed
// up, so the malloc counts are the steady state.
//
// The per-operation malloc figure is an integer, so a fraction (one malloc per read of 16 commands)
// would show as 0: `--allocation-stacks` gives the exact total and where each allocation comes from.
//
// Run from this directory: `swift package --disable-sandbox benchmark`
// (`--filter 'Pipeline.*'` for some; `benchmark run --allocation-stacks --filter ...` for sites).

let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(
        metrics: [.wallClock, .throughput, .mallocCountTotal],
        timeUnits: .nanoseconds,
        warmupIterations: 20,
        scalingFactor: .kilo,
        maxDuration: .milliseconds(500),
        maxIterations: 2_000
    )

    // MARK: - RESP decode

    let decoder = Carry((parser: RESPCommandParser(), input: Fixtures.pipeline(count: 16) { _ in ["GET", "key:000123"] }))
    Benchmark("RESP decode GET frame, 16 pipelined") { benchmark in
        decoder.with { state in
            for _ in benchmark.scaledIterations {
                guard case .multibulk(let length)? = try? state.parser.parse(state.input) else { fatalError("bad frame") }
                blackHole(state.parser.spans.count)
                state.input.moveReaderIndex(forwardBy: length)
                if state.input.readableBytes == 0 { state.input.moveReaderIndex(to: 0) }
            }
        }
    }

    // MARK: - Reply encode (into one reused buffer, cleared when it reaches 4 KiB)

    let writer = Carry(RESPReplyWriter(buffer: ByteBufferAllocator().buffer(capacity: 4096)))
    let value64 = [UInt8](repeating: UInt8(ascii: "v"), count: 64)

    Benchmark("Reply encode bulk 64 B") { benchmark in
        writer.with { writer in
            value64.withUnsafeBytes { value in
                for _ in benchmark.scaledIterations {
                    writer.bulk(value)
                    if writer.buffer.readableBytes >= 4000 { writer.buffer.clear() }
                }
            }
        }
    }

    Benchmark("Reply encode integer") { benchmark in
        writer.with { writer in
            for i in benchmark.scaledIterations {
                writer.integer(1_000_000 + i)
                if writer.buffer.readableBytes >= 4000 { writer.buffer.clear() }
            }
        }
    }

    Benchmark("Reply encode simple string") { benchmark in
        let text: StaticString = "OK"
        writer.with { writer in
            for _ in benchmark.scaledIterations {
                writer.simpleString(text)
                if writer.buffer.readableBytes >= 4000 { writer.buffer.clear() }
            }
        }
    }

    // MARK: - Keyspace

    let store = StoreFixture()
    let presentKeys = store.presentKeys, absentKeys = store.absentKeys, newKeys = store.newKeys
    let keyspace = store.keyspace, now = store.now

    Benchmark("Keyspace get hit") { benchmark in
        var i = 0
        for _ in benchmark.scaledIterations {
            StoreFixture.withKey(presentKeys, i) { key in
                let hash = keyspace.hasher.hash(key)
                let shard = keyspace.shard(for: hash)
                shard.lock.lock()
                let entry = shard.find(database: 0, key: key, hash: hash, now: now, access: .read)
                blackHole(entry!.withValue { $0.count })
                shard.lock.unlock()
            }
            i = (i + 1) % StoreFixture.keyCount
        }
    }

    Benchmark("Keyspace get miss") { benchmark in
        var i = 0
        for _ in benchmark.scaledIterations {
            StoreFixture.withKey(absentKeys, i) { key in
                let hash = keyspace.hasher.hash(key)
                let shard = keyspace.shard(for: hash)
                shard.lock.lock()
                let entry = shard.find(database: 0, key: key, hash: hash, now: now, access: .read)
                precondition(entry == nil)
                shard.lock.unlock()
            }
            i = (i + 1) % StoreFixture.keyCount
        }
    }

    Benchmark("Keyspace set overwrite") { benchmark in
        var i = 0
        value64.withUnsafeBytes { value in
            for _ in benchmark.scaledIterations {
                StoreFixture.withKey(presentKeys, i) { key in
                    let hash = keyspace.hasher.hash(key)
                    let shard = keyspace.shard(for: hash)
                    shard.lock.lock()
                    let entry = shard.find(database: 0, key: key, hash: hash, now: now, access: .write)
                    shard.replaceValue(entry!, with: value, now: now)
                    shard.lock.unlock()
                }
                i = (i + 1) % StoreFixture.keyCount
            }
        }
    }

    // New keys each iteration; they are deleted again after the measurement stops.
    Benchmark("Keyspace set new") { benchmark in
        value64.withUnsafeBytes { value in
            for i in benchmark.scaledIterations {
                StoreFixture.withKey(newKeys, i) { key in
                    let hash = keyspace.hasher.hash(key)
                    let shard = keyspace.shard(for: hash)
                    shard.lock.lock()
                    let entry = shard.find(database: 0, key: key, hash: hash, now: now, access: .write)
                    precondition(entry == nil)
                    shard.insert(database: 0, key: key, hash: hash, value: value, expireAt: 0, now: now)
                    shard.lock.unlock()
                }
            }
        }
        benchmark.stopMeasurement()
        for i in benchmark.scaledIterations {
            StoreFixture.withKey(newKeys, i) { key in
                let hash = keyspace.hasher.hash(key)
                let shard = keyspace.shard(for: hash)
                shard.lock.withLock {
                    let entry = shard.find(database: 0, key: key, hash: hash, now: now, access: .peek)
                    shard.remove(entry!)
                }
            }
        }
    }

    // MARK: - Full pipeline: parse + dispatch + reply, as ConnectionHandler.channelRead does

    // 16 different keys, all present: each reply is a 64-byte bulk (`$64` CRLF, value, CRLF).
    let getPipeline = PipelineFixture(store: store, replyBytes: 16 * 71) { i in ["GET", StoreFixture.key("key:", 123 + i)] }
    Benchmark("Pipeline GET hit, 16 pipelined") { benchmark in
        getPipeline.run(commands: benchmark.scaledIterations.count)
    }

    // Overwrites of 16 present keys with a 64-byte value: each reply is `+OK` CRLF.
    let setPipeline = PipelineFixture(store: store, replyBytes: 16 * 5) { i in
        ["SET", StoreFixture.key("key:", 123 + i), String(repeating: "w", count: 64)]
    }
    Benchmark("Pipeline SET overwrite, 16 pipelined") { benchmark in
        setPipeline.run(commands: benchmark.scaledIterations.count)
    }
}

// MARK: - Fixtures

/// State a benchmark keeps from one measured iteration to the next, built once. Each iteration
/// takes it out (leaving nil, so its buffers stay uniquely referenced and are never copied on
/// write) and puts it back.
final class Carry<Value>: @unchecked Sendable {
    private var value: Value?
    init(_ value: Value) { self.value = value }

    func with(_ body: (inout Value) -> Void) {
        var taken = value!
        value = nil
        body(&taken)
        value = taken
    }
}

enum Fixtures {
    /// `count` RESP multibulk frames, one after another, as one read would deliver them.
    static func pipeline(count: Int, _ command: (Int) -> [String]) -> ByteBuffer {
        var buffer = ByteBufferAllocator().buffer(capacity: 1024)
        for i in 0..<count {
            let words = command(i)
            buffer.writeString("*\(words.count)\r\n")
            for word in words { buffer.writeString("$\(word.utf8.count)\r\n\(word)\r\n") }
        }
        return buffer
    }
}

/// A keyspace of `keyCount` keys (`key:000000` …) with 64-byte values in database 0, and every key
/// name the benchmarks use, pre-encoded so that building them costs nothing while measuring.
final class StoreFixture: Sendable {
    static let keyCount = 1_000
    /// Keys are a 4-byte prefix and 6 digits.
    static let keyLength = 10

    let keyspace: Keyspace
    let now: Int64
    /// `key:000000` … (present), `nokey000000` … (absent), `new:000000` … (absent, for inserts).
    let presentKeys: [UInt8]
    let absentKeys: [UInt8]
    let newKeys: [UInt8]

    init() {
        now = WallClock.milliseconds()
        keyspace = Keyspace(databases: 16, shardCount: 64, hasher: KeyHasher(seed: 0x5EED), now: now)
        func flat(_ prefix: String) -> [UInt8] {
            (0..<Self.keyCount).flatMap { Array(Self.key(prefix, $0).utf8) }
        }
        presentKeys = flat("key:")
        absentKeys = flat("nokey")
        newKeys = flat("new:")
        let value = [UInt8](repeating: UInt8(ascii: "v"), count: 64)
        for i in 0..<Self.keyCount {
            Self.withKey(presentKeys, i) { key in
                value.withUnsafeBytes { value in
                    let hash = keyspace.hasher.hash(key)
                    let shard = keyspace.shard(for: hash)
                    shard.lock.withLock {
                        _ = shard.insert(database: 0, key: key, hash: hash, value: value, expireAt: 0, now: now)
                    }
                }
            }
        }
    }

    /// `prefix` (first 4 characters) followed by `index` in six digits, e.g. `key:000123`.
    static func key(_ prefix: String, _ index: Int) -> String {
        let digits = String(index)
        return prefix.prefix(Self.keyLength - 6) + String(repeating: "0", count: 6 - digits.count) + digits
    }

    /// Key `index` of one of the key lists.
    @inline(__always)
    static func withKey<R>(_ keys: [UInt8], _ index: Int, _ body: (UnsafeRawBufferPointer) -> R) -> R {
        keys.withUnsafeBytes { all in
            body(UnsafeRawBufferPointer(rebasing: all[(index * keyLength)..<((index + 1) * keyLength)]))
        }
    }
}

/// One client connection without a socket: the per-command loop of `ConnectionHandler.channelRead`
/// over a read of 16 pipelined commands, replayed. The reply buffer is cleared after each read, as
/// `channelReadComplete` does once it has written it.
final class PipelineFixture: @unchecked Sendable {
    private let server: ServerContext
    private let session: ClientSession
    private var parser = RESPCommandParser()
    private var commandContext: CommandContext?
    private var input: ByteBuffer
    /// The size of the replies to one read, checked after each (a GET that missed would show).
    private let replyBytes: Int

    init(store: StoreFixture, replyBytes: Int, command: (Int) -> [String]) {
        self.replyBytes = replyBytes
        server = ServerContext(configuration: Configuration(), keyspace: store.keyspace, now: store.now)
        session = ClientSession(id: 1, address: "127.0.0.1:1", localAddress: "127.0.0.1:6379", authenticated: true,
                                now: store.now)
        input = Fixtures.pipeline(count: 16, command)
        commandContext = CommandContext(
            server: server, client: session, arguments: CommandArguments(buffer: ByteBuffer(), spans: []),
            reply: RESPReplyWriter(buffer: ByteBufferAllocator().buffer(capacity: 4096)), now: store.now)
    }

    /// Parses and executes `commands` commands, wrapping around the 16-command read.
    func run(commands: Int) {
        guard var commandContext else { return }
        self.commandContext = nil  // keep the reply buffer uniquely referenced, as the handler does
        var input = self.input
        self.input = ByteBuffer()
        let emptyBuffer = ByteBuffer()
        var processed = 0
        for _ in 0..<commands {
            let frame: RESPCommandParser.Frame?
            do {
                frame = try parser.parse(input, authenticated: session.authenticated)
            } catch {
                fatalError("\(error)")
            }
            guard case .multibulk(let length)? = frame else { fatalError("unexpected frame \(String(describing: frame))") }
            commandContext.arguments = CommandArguments(buffer: input, spans: parser.spans)
            commandContext.now = WallClock.milliseconds()
            session.lastInteraction.store(commandContext.now, ordering: .relaxed)
            CommandDispatcher.execute(&commandContext)
            input.moveReaderIndex(forwardBy: length)
            commandContext.arguments = CommandArguments(buffer: emptyBuffer, spans: [])
            processed += 1
            if input.readableBytes == 0 {
                // End of the read: count it, "write" the replies, take the next read.
                server.statistics.commandsProcessed.add(processed, ordering: .relaxed)
                processed = 0
                precondition(commandContext.reply.buffer.readableBytes == replyBytes, "unexpected replies")
                commandContext.reply.buffer.clear()
                input.moveReaderIndex(to: 0)
            }
        }
        self.input = input
        self.commandContext = commandContext
    }
}
