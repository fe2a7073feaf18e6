import Dispatch
import Synchronization

/// How many threads the kernels spread over, and which sgemm their matrix products call. BLAS runs
/// on the calling thread (see `BLAS.callerThreadOnly`). A value, not a global: each model owns one.
public struct Workers: Sendable, Equatable {
    public let threads: Int
    public let sgemm: SGEMMKernel
    /// The threads besides the caller's, spinning between kernels (nil for one thread, or when
    /// the system would not start them: then Dispatch runs the chunks).
    let pool: ThreadPool?

    /// `sgemm` must run on this CPU (`isSupported`): callers check what users ask for.
    public init(threads: Int, sgemm: SGEMMKernel = .preferred) {
        precondition(sgemm.isSupported, "the \(sgemm.rawValue) sgemm needs AVX2 and FMA")
        self.threads = max(1, threads)
        self.sgemm = sgemm
        pool = self.threads > 1 ? ThreadPool(workers: self.threads - 1) : nil
    }

    public static func == (a: Workers, b: Workers) -> Bool { a.threads == b.threads && a.sgemm == b.sgemm }

    /// Runs `body` over `0..<count` split into at most `threads` contiguous ranges, and
    /// returns when every range is done. `body` gets the range and the index of its chunk
    /// (for per-thread scratch). Small jobs (fewer than `minPerChunk` items per chunk) run on
    /// the calling thread.
    ///
    /// The chunks run at the same time, so `body` must write only memory that belongs to its
    /// own range or chunk. That is the whole contract of a data-parallel kernel, and the
    /// compiler cannot check it through the raw pointers the kernels use; this is the one
    /// place in LoopLM where a closure crosses threads unchecked.
    @inline(__always)
    public func forEachChunk(
        _ count: Int, minPerChunk: Int = 1, _ body: (Range<Int>, Int) -> Void
    ) {
        if count <= 0 { return }
        let chunks = min(threads, max(1, count / max(1, minPerChunk)))
        if chunks == 1 {
            body(0..<count, 0)
            return
        }
        let work: (Int) -> Void = { chunk in
            let start = count * chunk / chunks
            let end = count * (chunk + 1) / chunks
            body(start..<end, chunk)
        }
        if let pool, pool.run(chunks: chunks, work) { return }
        // The pool is busy (a nested call, or another thread's): Dispatch runs the chunks.
        withoutActuallyEscaping(work) { work in
            let shared = unsafeBitCast(work, to: (@Sendable (Int) -> Void).self)
            DispatchQueue.concurrentPerform(iterations: chunks, execute: shared)
        }
    }

    /// Like `forEachChunk`, but each thread claims `grain` items at a time from a shared
    /// counter until none are left, so a thread that starts late or runs slow (another tenant
    /// on its core) takes fewer: for work that streams memory, where a fixed split leaves the
    /// faster thread waiting at the end of every product. `body` gets each claimed range and
    /// the index of the thread (for per-thread scratch); which thread gets which range varies
    /// from run to run, so `body`'s results must not depend on it. Jobs of fewer than
    /// `minPerChunk` items per thread run on the calling thread.
    @inline(__always)
    public func forEachClaimed(
        _ count: Int, grain: Int, minPerChunk: Int = 1, _ body: (Range<Int>, Int) -> Void
    ) {
        if count <= 0 { return }
        let grain = max(1, grain)
        if min(threads, count / max(1, minPerChunk)) <= 1 || count <= grain {
            body(0..<count, 0)
            return
        }
        let next = Atomic<Int>(0)
        forEachChunk(min(threads, (count + grain - 1) / grain)) { _, chunk in
            while true {
                let start = next.wrappingAdd(grain, ordering: .relaxed).oldValue
                if start >= count { return }
                body(start..<min(count, start + grain), chunk)
            }
        }
    }

    /// Like `forEachChunk`, but `0..<count` is always cut into the same `parts` ranges, whatever
    /// the thread count: per-part partial sums then add up in the same order on 1 thread or 8,
    /// so results do not depend on `--threads`.
    @inline(__always)
    public func forEachPart(_ count: Int, parts: Int, _ body: (Range<Int>, Int) -> Void) {
        if count <= 0 { return }
        forEachChunk(parts) { partRange, _ in
            for part in partRange {
                body((count * part / parts)..<(count * (part + 1) / parts), part)
            }
        }
    }

    /// Parts that thread-count-independent reductions are cut into.
    public static let reductionParts = 8
}
