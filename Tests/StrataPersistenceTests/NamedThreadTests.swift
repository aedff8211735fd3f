import Dispatch
import Foundation
import Testing
@testable import StrataPersistence

@Suite struct NamedThreadTests {
    /// The name is what `top -H`, `perf` and /proc show for L3's threads.
    @Test func theThreadRunsUnderItsName() throws {
        #if os(Linux)
        final class Seen: @unchecked Sendable { var name = "" } // written before `done`, read after
        let seen = Seen()
        let done = DispatchSemaphore(value: 0)
        NamedThread.start("strata-test-nm") {
            seen.name = (try? String(contentsOfFile: "/proc/thread-self/comm", encoding: .utf8)) ?? ""
            done.signal()
        }
        #expect(done.wait(timeout: .now() + 10) == .success)
        #expect(seen.name.trimmingCharacters(in: .whitespacesAndNewlines) == "strata-test-nm")
        #endif
    }
}
