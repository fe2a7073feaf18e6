import CKernels

/// Worker threads that wait for chunks by spinning for a while before they sleep (see
/// `thread_pool.h`): handing them a kernel's chunks costs a memory write, not a thread wake-up,
/// which on the virtual machines LoopLM runs on takes as long as a decoding product. Owned by
/// `Workers` (its copies share one pool); the threads stop when the last copy goes.
final class ThreadPool: @unchecked Sendable {  // the C pool synchronises every access itself
    /// How long idle workers spin before they sleep: long enough to bridge the gaps between
    /// one kernel and the next, short enough that a pool nobody uses costs nothing.
    static let spinMicroseconds: Int32 = 2_000

    private let pool: OpaquePointer

    /// `workers` threads besides the caller, or nil when the system will not start them.
    init?(workers: Int) {
        guard let pool = looplm_pool_create(Int32(workers), Self.spinMicroseconds) else { return nil }
        self.pool = pool
    }

    deinit { looplm_pool_destroy(pool) }

    /// Runs body(c) for every c < chunks, chunk 0 on the calling thread, and returns true; or
    /// returns false at once (running nothing) when the pool is in use or has too few threads.
    func run(chunks: Int, _ body: (Int) -> Void) -> Bool {
        withoutActuallyEscaping(body) { body in
            var task = body
            return withUnsafeMutablePointer(to: &task) { context in
                looplm_pool_run(pool, Int32(chunks), { context, chunk in
                    context!.assumingMemoryBound(to: ((Int) -> Void).self).pointee(Int(chunk))
                }, context) == LOOPLM_POOL_DONE
            }
        }
    }
}
