import Dispatch

/// How many threads the Swift kernels spread over. BLAS threads are set separately
/// (see `BLAS.setThreads`). A value, not a global: each model owns one.
public struct Workers: Sendable, Equatable {
    public let threads: Int

    public init(threads: Int) { self.threads = max(1, threads) }

    /// Runs `body` over `0..<count` split into at most `threads` contiguous ranges.
    /// `body` gets the range and the index of its chunk (for per-thread scratch).
    /// Small jobs (fewer than `minPerChunk` items per chunk) run on the calling thread.
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
        DispatchQueue.concurrentPerform(iterations: chunks) { chunk in
            let start = count * chunk / chunks
            let end = count * (chunk + 1) / chunks
            body(start..<end, chunk)
        }
    }
}
