import CFuzzer
import Glibc
import NIOCore
import StrataRESP

/// Parses the input as a client's requests, whole and split in two at a point the first byte
/// chooses: the frames must be the same, and every frame must stay within the input.
func fuzzRequestParser(_ start: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    guard let start, count > 0 else { return 0 }
    let bytes = UnsafeRawBufferPointer(start: start, count: count)
    let limits = RESPLimits(maxBulkLength: 1 << 20, maxMultibulkLength: 1 << 12, maxInlineLength: 1 << 12)
    for authenticated in [true, false] {
        let whole = frames(ByteBuffer(bytes: bytes), limits: limits, authenticated: authenticated)
        if count > 1 {
            let cut = Int(bytes[0]) % count
            let split = frames(ByteBuffer(bytes: bytes[..<cut]), then: ByteBuffer(bytes: bytes[cut...]),
                               limits: limits, authenticated: authenticated)
            precondition(whole == split, "split at \(cut) changed the frames: \(whole) vs \(split)")
        }
    }
    return 0
}

/// The frames parsed from `first`, then from `first + second` as a connection would receive
/// them (the parser keeps its state between reads), and how parsing ended.
func frames(_ first: ByteBuffer, then second: ByteBuffer? = nil, limits: RESPLimits, authenticated: Bool) -> [String] {
    var parser = RESPCommandParser(limits: limits)
    var input = first
    var out: [String] = []
    var pendingSecond = second
    while true {
        do {
            guard let frame = try parser.parse(input, authenticated: authenticated) else {
                guard var more = pendingSecond else { return out + ["incomplete \(input.readableBytes)"] }
                pendingSecond = nil
                input.writeBuffer(&more)
                continue
            }
            switch frame {
            case .empty(let length), .multibulk(let length), .inline(let length, _):
                precondition(length > 0 && length <= input.readableBytes, "frame length \(length) of \(input.readableBytes)")
                if case .multibulk = frame {
                    for span in parser.spans { // relative to the frame's start
                        precondition(span.offset >= 0 && span.offset + span.length <= length,
                                     "span \(span) outside its frame")
                    }
                }
                out.append("\(frame)")
                input.moveReaderIndex(forwardBy: length)
            }
        } catch {
            return out + ["error \(error)"]
        }
    }
}

var arguments = CommandLine.argc
var argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = CommandLine.unsafeArgv
exit(LLVMFuzzerRunDriver(&arguments, &argv) { data, size in fuzzRequestParser(data, size) })
