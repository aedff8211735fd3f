import Synchronization
import Testing
@testable import StrataStore

/// ``ProcessLifetime`` relies on a runtime entry point; these tests check it still does what the
/// server relies on: an immortal object survives every release, a mortal one does not.
@Suite struct ProcessLifetimeTests {
    final class Tracked {
        let onFree: () -> Void
        init(onFree: @escaping () -> Void) { self.onFree = onFree }
        deinit { onFree() }
    }

    static let mortalFreed = Atomic<Int>(0)
    static let immortalFreed = Atomic<Int>(0)

    @Test func aMortalObjectIsFreedWhenItsLastReferenceGoes() {
        do {
            let object = Tracked { Self.mortalFreed.add(1, ordering: .relaxed) }
            Unmanaged.passRetained(object).release()
        }
        #expect(Self.mortalFreed.load(ordering: .relaxed) == 1)
    }

    #if os(Linux)
    @Test func anImmortalObjectOutlivesEveryRelease() {
        do {
            let object = Tracked { Self.immortalFreed.add(1, ordering: .relaxed) }
            ProcessLifetime.makeImmortal(object)
            // More releases than retains: an ordinary object would be freed (or crash) here.
            for _ in 0..<3 { Unmanaged.passUnretained(object).release() }
            #expect(Unmanaged.passUnretained(object).takeUnretainedValue() === object)
        }
        #expect(Self.immortalFreed.load(ordering: .relaxed) == 0)
    }
    #endif
}
