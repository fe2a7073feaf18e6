import CKernels
import Dispatch

/// The machine's memory read bandwidth, measured the way decoding uses memory: every thread
/// streams its own part of a buffer far larger than the caches and sums it.
///
/// The buffer is allocated and touched once, so a caller can measure again and again, beside
/// what it times: on a shared machine the bandwidth moves within minutes, and a fraction of it
/// means something only against the bandwidth of the same minute.
public struct MemoryBandwidth {
    public let workers: Workers
    let buffer: FloatBuffer

    /// A buffer of `bytes` (512 MB: well past any cache), every page touched.
    public init(bytes: Int = 1 << 29, workers: Workers) throws(MemoryError) {
        self.workers = workers
        buffer = try FloatBuffer(count: bytes / MemoryLayout<Float>.stride, hugePages: true)  // as decoding's weights
        for i in stride(from: 0, to: buffer.count, by: 1024) { buffer[i] = 1 }
    }

    /// Bytes read per second: the best of `repeats` passes over the buffer.
    public func measure(repeats: Int = 3) -> Double {
        let count = buffer.count, pointer = buffer.pointer, threads = workers.threads
        var partial = [Float](repeating: 0, count: threads)
        var best = Double.infinity
        for _ in 0..<repeats {
            let start = DispatchTime.now().uptimeNanoseconds
            partial.withUnsafeMutableBufferPointer { sums in
                let out = sums.baseAddress!
                workers.forEachChunk(threads) { chunks, _ in
                    for chunk in chunks {
                        let first = count * chunk / threads, end = count * (chunk + 1) / threads
                        out[chunk] = CPU.hasAVX2Kernels ? looplm_read_sum_avx2(pointer + first, end - first)
                            : looplm_read_sum_portable(pointer + first, end - first)
                    }
                }
            }
            best = min(best, Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
        }
        precondition(partial.reduce(0, +).isFinite)
        return Double(count * MemoryLayout<Float>.stride) / best
    }
}
