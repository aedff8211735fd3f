#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A shard's mutex: a pthread mutex that, on Linux, is of glibc's adaptive kind.
///
/// Critical sections under a shard lock are a hash lookup or a few, far shorter than putting a
/// thread to sleep and waking it. A default mutex sleeps in the kernel at the first collision,
/// which the two event loops hit all the time with multi-key commands (MGET locks up to ten
/// shards at once: a profile showed a third of the CPU in futex waits and context switches). An
/// adaptive mutex spins briefly first, so a collision usually costs a few hundred nanoseconds.
///
/// `@unchecked Sendable`: the mutex is the synchronization; its storage is allocated once and
/// never moves.
public final class ShardLock: @unchecked Sendable {
    private let mutex: UnsafeMutablePointer<pthread_mutex_t>

    public init() {
        mutex = .allocate(capacity: 1)
        var attributes = pthread_mutexattr_t()
        pthread_mutexattr_init(&attributes)
        #if canImport(Glibc)
        // PTHREAD_MUTEX_ADAPTIVE_NP (a GNU extension the Swift overlay does not name).
        pthread_mutexattr_settype(&attributes, 3)
        #endif
        let rc = pthread_mutex_init(mutex, &attributes)
        precondition(rc == 0, "pthread_mutex_init failed: \(rc)")
        pthread_mutexattr_destroy(&attributes)
    }

    deinit {
        pthread_mutex_destroy(mutex)
        mutex.deallocate()
    }

    @inline(__always)
    public func lock() {
        let rc = pthread_mutex_lock(mutex)
        assert(rc == 0, "pthread_mutex_lock failed: \(rc)")
    }

    @inline(__always)
    public func unlock() {
        let rc = pthread_mutex_unlock(mutex)
        assert(rc == 0, "pthread_mutex_unlock failed: \(rc)")
    }

    @inline(__always)
    public func withLock<T>(_ body: () throws -> T) rethrows -> T {
        lock()
        defer { unlock() }
        return try body()
    }
}
