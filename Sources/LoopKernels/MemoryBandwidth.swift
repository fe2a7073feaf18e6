import Dispatch

/// The machine's memory read bandwidth, measured the way decoding uses memory: every thread
/// streams its own part of a buffer far larger than the caches and sums it.
public enum MemoryBandwidth {
    /// Bytes read per second (best of `repeats` passes over `bytes`).
    public static func measure(bytes: Int = 1 << 29, repeats: Int = 5, workers: Workers) throws(MemoryError) -> Double {
        let count = bytes / MemoryLayout<Float>.stride
        let buffer = try FloatBuffer(count: count)
        for i in stride(from: 0, to: count, by: 1024) { buffer[i] = 1 }  // touch every page
        var partial = [Float](repeating: 0, count: workers.threads)
        var best = Double.infinity
        for _ in 0..<repeats {
            let start = DispatchTime.now().uptimeNanoseconds
            partial.withUnsafeMutableBufferPointer { sums in
                let out = sums.baseAddress!
                workers.forEachChunk(count / VectorMath.width, minPerChunk: 1 << 16) { vectors, chunk in
                    var a = VectorMath.Vector(), b = VectorMath.Vector()
                    var v = vectors.lowerBound
                    while v + 1 < vectors.upperBound {
                        a += VectorMath.load(buffer.pointer + v * VectorMath.width)
                        b += VectorMath.load(buffer.pointer + (v + 1) * VectorMath.width)
                        v += 2
                    }
                    out[chunk] = (a + b).sum()
                }
            }
            best = min(best, Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
        }
        precondition(partial.reduce(0, +).isFinite)
        return Double(count * MemoryLayout<Float>.stride) / best
    }
}
