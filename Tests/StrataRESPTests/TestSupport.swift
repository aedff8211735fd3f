import NIOCore
@testable import StrataRESP

/// A seeded generator, so that every randomised test is reproducible.
struct SeededGenerator: RandomNumberGenerator {
    private var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

extension Array where Element == UInt8 {
    init(_ text: String) { self = Array(text.utf8) }
}

/// Splits `bytes` into consecutive chunks: each one byte, or random lengths in `1...maxChunk`.
func chunks(of bytes: [UInt8], maxChunk: Int?, using generator: inout SeededGenerator) -> [[UInt8]] {
    var result: [[UInt8]] = []
    var offset = 0
    while offset < bytes.count {
        let size = maxChunk.map { Int.random(in: 1...$0, using: &generator) } ?? 1
        let end = Swift.min(bytes.count, offset + size)
        result.append(Array(bytes[offset..<end]))
        offset = end
    }
    return result
}

/// What feeding a byte stream to a parser produced: the values, then possibly an error.
struct ParseOutcome<Value: Equatable>: Equatable {
    var values: [Value] = []
    var error: RESPProtocolError?
}

/// Feeds `pieces` one after another to a ``RESPValueParser``, parsing every complete value after
/// each piece, as a client would.
func parseValues(_ pieces: [[UInt8]], parser: RESPValueParser = RESPValueParser()) -> ParseOutcome<RESPValue> {
    var outcome = ParseOutcome<RESPValue>()
    var buffer = ByteBuffer()
    for piece in pieces {
        buffer.writeBytes(piece)
        while true {
            let before = buffer.readerIndex
            do {
                guard let value = try parser.parse(&buffer) else {
                    precondition(buffer.readerIndex == before, "an incomplete parse must not consume")
                    break
                }
                outcome.values.append(value)
            } catch {
                outcome.error = error
                return outcome
            }
        }
    }
    return outcome
}

/// Feeds `pieces` to a ``RESPCommandParser`` the way the connection handler does and returns the
/// argument lists of every frame (`[]` for an empty frame).
func parseCommands(_ pieces: [[UInt8]], parser: inout RESPCommandParser, authenticated: Bool = true)
    -> ParseOutcome<[[UInt8]]> {
    var outcome = ParseOutcome<[[UInt8]]>()
    var buffer = ByteBuffer()
    for piece in pieces {
        buffer.writeBytes(piece)
        while true {
            do {
                guard let frame = try parser.parse(buffer, authenticated: authenticated) else { break }
                switch frame {
                case .empty(let length):
                    outcome.values.append([])
                    buffer.moveReaderIndex(forwardBy: length)
                case .multibulk(let length):
                    outcome.values.append(parser.spans.map {
                        buffer.getBytes(at: buffer.readerIndex + $0.offset, length: $0.length)!
                    })
                    buffer.moveReaderIndex(forwardBy: length)
                case .inline(let length, let arguments):
                    outcome.values.append(parser.spans.map {
                        arguments.getBytes(at: arguments.readerIndex + $0.offset, length: $0.length)!
                    })
                    buffer.moveReaderIndex(forwardBy: length)
                }
            } catch {
                outcome.error = error
                return outcome
            }
        }
        // As the handler does between reads, sometimes compact the buffer.
        if buffer.readerIndex > 0 && buffer.readableBytes < 8 { buffer.discardReadBytes() }
    }
    return outcome
}

func parseCommands(_ text: String, authenticated: Bool = true) -> ParseOutcome<[[UInt8]]> {
    var parser = RESPCommandParser()
    return parseCommands([Array(text)], parser: &parser, authenticated: authenticated)
}

func words(_ list: String...) -> [[UInt8]] { list.map { Array($0) } }
