import CKernels

/// New rows of one sequence in a batch that attends over a key/value cache: rows
/// `firstRow ..< firstRow + count` of the batch sit at positions `position ..< position + count`
/// of the sequence held in cache slot `slot`.
public struct CachedSequence: Sendable, Equatable {
    public let firstRow: Int
    public let count: Int
    public let position: Int
    public let slot: Int

    public init(firstRow: Int, count: Int, position: Int, slot: Int) {
        self.firstRow = firstRow
        self.count = count
        self.position = position
        self.slot = slot
    }
}

/// The cache of one block application: keys and values of every slot, (slots, T, C) each.
public struct CacheLayer {
    public let keys: UnsafeMutablePointer<Float>
    public let values: UnsafeMutablePointer<Float>
    public let capacity: Int  // T

    public init(keys: UnsafeMutablePointer<Float>, values: UnsafeMutablePointer<Float>, capacity: Int) {
        self.keys = keys
        self.values = values
        self.capacity = capacity
    }
}

extension Attention {
    /// Rows past this count use BLAS products per head; fewer use plain dot products.
    static let cachedProductRows = 4

    /// Floats of per-thread scratch `forwardCached` needs for sequences of at most `rows` new
    /// rows over a cache of `capacity` positions.
    public static func cachedScratchCount(rows: Int, capacity: Int, threads: Int) -> Int {
        threads * max(rows, 1) * capacity
    }

    /// Writes the new rows' keys and values into the cache, then computes causal attention of
    /// every new row over its sequence's cached positions (itself included).
    package static func forwardCached(
        out: UnsafeMutablePointer<Float>,  // (N, C) heads concatenated
        qkv: UnsafePointer<Float>,  // (N, 3C)
        cache: CacheLayer, sequences: [CachedSequence], heads: Int, channels c: Int,
        scratch: UnsafeMutablePointer<Float>,  // cachedScratchCount(...)
        scratchRows: Int, workers: Workers, useAVX2: Bool = CPU.hasAVX2Kernels
    ) {
        let hs = c / heads, capacity = cache.capacity
        let scale = 1 / Float(hs).squareRoot()
        storeKeysAndValues(qkv: qkv, cache: cache, sequences: sequences, channels: c)
        workers.forEachChunk(sequences.count * heads) { tasks, chunk in
            let scores = scratch + chunk * max(scratchRows, 1) * capacity
            for task in tasks {
                let sequence = sequences[task / heads], h = task % heads
                let q = qkv + sequence.firstRow * 3 * c + h * hs
                let keys = cache.keys + sequence.slot * capacity * c + h * hs
                let values = cache.values + sequence.slot * capacity * c + h * hs
                let y = out + sequence.firstRow * c + h * hs
                let total = sequence.position + sequence.count
                if sequence.count > cachedProductRows {
                    BLAS.gemm(transposeB: true, m: sequence.count, n: total, k: hs, alpha: scale,
                              a: q, lda: 3 * c, b: keys, ldb: c, beta: 0, c: scores, ldc: total, kernel: workers.sgemm)
                    for i in 0..<sequence.count {
                        let valid = sequence.position + i + 1, s = scores + i * total
                        Softmax.inPlace(s, count: valid)
                        (s + valid).update(repeating: 0, count: total - valid)
                    }
                    BLAS.gemm(m: sequence.count, n: hs, k: total, a: scores, lda: total, b: values, ldb: c,
                              beta: 0, c: y, ldc: c, kernel: workers.sgemm)
                    continue
                }
                for i in 0..<sequence.count {
                    let valid = sequence.position + i + 1, qi = q + i * 3 * c, yi = y + i * c
                    if useAVX2 && hs % 8 == 0 {
                        looplm_attention_scores_avx2(qi, keys, c, valid, hs, scale, scores)
                        Softmax.inPlace(scores, count: valid)
                        looplm_attention_weighted_sum_avx2(scores, values, c, valid, hs, yi)
                        continue
                    }
                    for j in 0..<valid { scores[j] = scale * dot(qi, keys + j * c, hs) }
                    Softmax.inPlace(scores, count: valid)
                    yi.update(repeating: 0, count: hs)
                    for j in 0..<valid { axpy(scores[j], values + j * c, yi, hs) }
                }
            }
        }
    }

    /// Copies the keys and values of the new rows (from their qkv) into the cache.
    public static func storeKeysAndValues(
        qkv: UnsafePointer<Float>, cache: CacheLayer, sequences: [CachedSequence], channels c: Int
    ) {
        for sequence in sequences {
            for i in 0..<sequence.count {
                let row = qkv + (sequence.firstRow + i) * 3 * c
                let at = (sequence.slot * cache.capacity + sequence.position + i) * c
                (cache.keys + at).update(from: row + c, count: c)
                (cache.values + at).update(from: row + 2 * c, count: c)
            }
        }
    }

    @inline(__always)
    static func dot(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ count: Int) -> Float {
        let w = VectorMath.width
        var sum = VectorMath.Vector(repeating: 0), i = 0
        while i + w <= count {
            sum += VectorMath.load(a + i) * VectorMath.load(b + i)
            i += w
        }
        var total = sum.sum()
        while i < count {
            total += a[i] * b[i]
            i += 1
        }
        return total
    }

    /// y += alpha · x
    @inline(__always)
    static func axpy(_ alpha: Float, _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ count: Int) {
        let w = VectorMath.width
        var i = 0
        while i + w <= count {
            VectorMath.store(VectorMath.load(y + i) + alpha * VectorMath.load(x + i), y + i)
            i += w
        }
        while i < count {
            y[i] += alpha * x[i]
            i += 1
        }
    }
}
