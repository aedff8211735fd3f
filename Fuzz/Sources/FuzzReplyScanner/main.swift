import CFuzzer
import Glibc
import NIOCore
import StrataRESP

/// Scans the input as replies from a peer, whole and split in two: the reply boundaries must be
/// the same and within the input.
func fuzzReplyScanner(_ start: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    guard let start, count > 0 else { return 0 }
    let bytes = UnsafeRawBufferPointer(start: start, count: count)
    let whole = replies(ByteBuffer(bytes: bytes), nil)
    if count > 1 {
        let cut = Int(bytes[0]) % count
        let split = replies(ByteBuffer(bytes: bytes[..<cut]), ByteBuffer(bytes: bytes[cut...]))
        precondition(whole == split, "split at \(cut) changed the replies: \(whole) vs \(split)")
    }
    return 0
}

func replies(_ first: ByteBuffer, _ second: ByteBuffer?) -> [String] {
    var scanner = RESPReplyScanner(limits: RESPLimits(maxBulkLength: 1 << 20, maxMultibulkLength: 1 << 12))
    var input = first
    var rest = second
    var out: [String] = []
    while true {
        do {
            guard let length = try scanner.scan(input) else {
                guard var more = rest else { return out + ["incomplete \(input.readableBytes)"] }
                rest = nil
                input.writeBuffer(&more)
                continue
            }
            precondition(length > 0 && length <= input.readableBytes, "reply length \(length) of \(input.readableBytes)")
            out.append("reply \(length)")
            input.moveReaderIndex(forwardBy: length)
        } catch {
            return out + ["error \(error)"]
        }
    }
}

var arguments = CommandLine.argc
var argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = CommandLine.unsafeArgv
exit(LLVMFuzzerRunDriver(&arguments, &argv) { data, size in fuzzReplyScanner(data, size) })
