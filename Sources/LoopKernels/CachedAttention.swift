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

    /// Positions per part of a decoded row's attention over the cache. Each part is one task:
    /// its scores, their exponentials against the part's own maximum per head, and the weighted
    /// sum of its values; the parts are then folded together in order (an online softmax), so a
    /// row whose parts are spread over threads gets the bits of a row one thread computes.
    static let cachedPartPositions = 64

    /// Floats of scratch `forwardCached` needs for sequences of at most `rows` new rows over a
    /// cache of `capacity` positions: `cachedScratchStride` per thread, then what a row spread
    /// over the threads keeps: its scores of every head, every part's sums, maxima and sums of
    /// exponentials, and the running maxima and sums of the fold.
    public static func cachedScratchCount(rows: Int, capacity: Int, heads: Int, channels: Int, threads: Int) -> Int {
        threads * cachedScratchStride(rows: rows, capacity: capacity, heads: heads, channels: channels)
            + heads * capacity + parts(capacity) * (channels + 2 * heads) + 2 * heads
    }

    /// Floats of one thread's scratch: a BLAS sequence's scores, or one row's scores of every
    /// head, one part's sums, its maxima and sums of exponentials per head, and the fold's.
    static func cachedScratchStride(rows: Int, capacity: Int, heads: Int, channels: Int) -> Int {
        max(max(rows, 1) * capacity, heads * capacity + channels + 4 * heads)
    }

    static func parts(_ positions: Int) -> Int { (positions + cachedPartPositions - 1) / cachedPartPositions }

    /// Writes the new rows' keys and values into the cache, then computes causal attention of
    /// every new row over its sequence's cached positions (itself included).
    ///
    /// Sequences of more than `cachedProductRows` new rows (prefill) go head by head through BLAS
    /// products. A decoded row reads the cache once for all its heads, position by position,
    /// in order (see cached_attention.c), in parts of `cachedPartPositions` positions: each
    /// part's scores, exponentials and weighted sum in one task, the parts folded in order. Rows
    /// are shared among the threads; a lone row is instead cut by parts across them in one
    /// dispatch, each thread streaming whole rows of the cache (cutting it by heads made each
    /// core's prefetcher fetch the other's half of every row).
    package static func forwardCached(
        out: UnsafeMutablePointer<Float>,  // (N, C) heads concatenated
        qkv: UnsafePointer<Float>,  // (N, 3C)
        cache: CacheLayer, sequences: [CachedSequence], heads: Int, channels c: Int,
        scratch: UnsafeMutablePointer<Float>,  // cachedScratchCount(...)
        scratchRows: Int, workers: Workers, useAVX2: Bool = CPU.hasAVX2Kernels
    ) {
        let hs = c / heads, capacity = cache.capacity
        let stride = cachedScratchStride(rows: scratchRows, capacity: capacity, heads: heads, channels: c)
        storeKeysAndValues(qkv: qkv, cache: cache, sequences: sequences, channels: c)
        let row = CachedRow(heads: heads, headSize: hs, channels: c, scale: 1 / Float(hs).squareRoot(), avx2: useAVX2 && hs % 8 == 0)
        let prefill = sequences.filter { $0.count > cachedProductRows }
        workers.forEachChunk(prefill.count * heads) { tasks, chunk in
            let scores = scratch + chunk * stride
            for task in tasks {
                let sequence = prefill[task / heads], h = task % heads, total = sequence.position + sequence.count
                let keys = cache.keys + sequence.slot * capacity * c + h * hs
                let values = cache.values + sequence.slot * capacity * c + h * hs
                BLAS.gemm(transposeB: true, m: sequence.count, n: total, k: hs, alpha: row.scale,
                          a: qkv + sequence.firstRow * 3 * c + h * hs, lda: 3 * c, b: keys, ldb: c, beta: 0, c: scores,
                          ldc: total, kernel: workers.sgemm)
                for i in 0..<sequence.count {
                    let valid = sequence.position + i + 1, s = scores + i * total
                    Softmax.inPlace(s, count: valid)
                    (s + valid).update(repeating: 0, count: total - valid)
                }
                BLAS.gemm(m: sequence.count, n: hs, k: total, a: scores, lda: total, b: values, ldb: c, beta: 0,
                          c: out + sequence.firstRow * c + h * hs, ldc: c, kernel: workers.sgemm)
            }
        }
        var decoded: [CachedRowPlace] = []
        for sequence in sequences where sequence.count <= cachedProductRows {
            for i in 0..<sequence.count {
                let at = sequence.slot * capacity * c
                decoded.append(CachedRowPlace(q: qkv + (sequence.firstRow + i) * 3 * c, keys: cache.keys + at,
                                              values: cache.values + at, positions: sequence.position + i + 1,
                                              y: out + (sequence.firstRow + i) * c))
            }
        }
        if decoded.count == 1, workers.threads > 1, parts(decoded[0].positions) > 1 {
            row.spread(decoded[0], scratch: scratch + workers.threads * stride, workers: workers)
            return
        }
        workers.forEachClaimed(decoded.count, grain: 1) { rows, chunk in
            for r in rows { row.alone(decoded[r], scratch: scratch + chunk * stride) }
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

/// Where one decoded row's attention reads and writes: its query (heads side by side), its
/// sequence's cached keys and values (rows of C), the positions it attends to, its output.
struct CachedRowPlace {
    let q: UnsafePointer<Float>
    let keys: UnsafePointer<Float>
    let values: UnsafePointer<Float>
    let positions: Int
    let y: UnsafeMutablePointer<Float>
}

/// One decoded row's attention over the cache, computed alike by one thread (`alone`) or
/// spread over several (`spread`). Each part of `Attention.cachedPartPositions` positions gives,
/// per head h, its scores' maximum m, the sum l of exp(score − m) and the sum y of those
/// exponentials times the values; the parts are folded in order into the running (m, l, y) of
/// an online softmax, and y / l is the output. Spread, the parts are one dispatch (scores, a
/// softmax and the weighted sum were three, each a hand-off between the threads per layer).
struct CachedRow {
    let heads: Int
    let headSize: Int
    let channels: Int
    let scale: Float
    /// The AVX2 kernels (head sizes that are multiples of 8); else the portable loops.
    let avx2: Bool

    /// scores[h · positions + j] for j in `part`, every head.
    func scores(_ row: CachedRowPlace, _ part: Range<Int>, into scores: UnsafeMutablePointer<Float>) {
        let c = channels, hs = headSize
        if avx2 {
            looplm_attention_scores_heads_avx2(row.q, row.keys + part.lowerBound * c, c, part.count, hs, heads, scale,
                                               scores + part.lowerBound, row.positions)
            return
        }
        for j in part {
            for h in 0..<heads {
                scores[h * row.positions + j] = scale * Attention.dot(row.q + h * hs, row.keys + j * c + h * hs, hs)
            }
        }
    }

    /// sums (C) = Σ_{j in part} weights_h[j] · values[j] per head, each output one chain in j
    /// order from zero.
    func weightedSum(_ row: CachedRowPlace, _ part: Range<Int>, weights: UnsafePointer<Float>,
                     into sums: UnsafeMutablePointer<Float>) {
        let c = channels, hs = headSize
        sums.update(repeating: 0, count: c)
        if avx2 {
            looplm_attention_weighted_sum_heads_avx2(weights + part.lowerBound, row.positions, row.values + part.lowerBound * c,
                                                     c, part.count, hs, heads, sums)
            return
        }
        for j in part {
            for h in 0..<heads {
                Attention.axpy(weights[h * row.positions + j], row.values + j * c + h * hs, sums + h * hs, hs)
            }
        }
    }

    func part(_ p: Int, of positions: Int) -> Range<Int> {
        (p * Attention.cachedPartPositions)..<min((p + 1) * Attention.cachedPartPositions, positions)
    }

    /// One part's task: its scores into `weights` (heads × positions, the part's columns), then
    /// per head its maximum (maxima[h]), the exponentials against it in place, their sum
    /// (expSums[h]) and the weighted sum of the part's values (sums, C).
    func attendPart(_ row: CachedRowPlace, _ part: Range<Int>, weights: UnsafeMutablePointer<Float>,
                    maxima: UnsafeMutablePointer<Float>, expSums: UnsafeMutablePointer<Float>,
                    sums: UnsafeMutablePointer<Float>) {
        scores(row, part, into: weights)
        for h in 0..<heads {
            let x = weights + h * row.positions + part.lowerBound
            if avx2 {
                looplm_softmax_exponentiate_avx2(x, part.count, maxima + h, expSums + h)
            } else {
                (maxima[h], expSums[h]) = Softmax.exponentiate(x, count: part.count)
            }
        }
        weightedSum(row, part, weights: weights, into: sums)
    }

    /// Folds part `p`'s (maxima, expSums, sums) into the running ones kept in (runningMaxima,
    /// runningSums, row.y); part 0 starts them.
    func fold(_ p: Int, maxima: UnsafePointer<Float>, expSums: UnsafePointer<Float>, sums: UnsafePointer<Float>,
              runningMaxima: UnsafeMutablePointer<Float>, runningSums: UnsafeMutablePointer<Float>, y: UnsafeMutablePointer<Float>) {
        let hs = headSize
        if p == 0 {
            runningMaxima.update(from: maxima, count: heads)
            runningSums.update(from: expSums, count: heads)
            y.update(from: sums, count: channels)
            return
        }
        for h in 0..<heads {
            let largest = max(runningMaxima[h], maxima[h])
            let old = VectorMath.exp(runningMaxima[h] - largest), new = VectorMath.exp(maxima[h] - largest)
            runningMaxima[h] = largest
            runningSums[h] = old * runningSums[h] + new * expSums[h]
            for i in (h * hs)..<((h + 1) * hs) { y[i] = old * y[i] + new * sums[i] }
        }
    }

    /// y ← y / l per head, once every part is folded.
    func normalize(_ y: UnsafeMutablePointer<Float>, runningSums: UnsafePointer<Float>) {
        for h in 0..<heads {
            let sum = runningSums[h]
            for i in (h * headSize)..<((h + 1) * headSize) { y[i] /= sum }
        }
    }

    /// The whole row on the calling thread; scratch: heads · positions + C + 4 · heads floats.
    func alone(_ row: CachedRowPlace, scratch: UnsafeMutablePointer<Float>) {
        let weights = scratch, sums = scratch + heads * row.positions
        let maxima = sums + channels, expSums = maxima + heads
        let runningMaxima = expSums + heads, runningSums = runningMaxima + heads
        for p in 0..<Attention.parts(row.positions) {
            attendPart(row, part(p, of: row.positions), weights: weights, maxima: maxima, expSums: expSums, sums: sums)
            fold(p, maxima: maxima, expSums: expSums, sums: sums, runningMaxima: runningMaxima, runningSums: runningSums, y: row.y)
        }
        normalize(row.y, runningSums: runningSums)
    }

    /// The row's parts shared among the threads in one dispatch, then folded in order on the
    /// calling thread; scratch: heads · positions + parts · (C + 2 · heads) + 2 · heads floats.
    func spread(_ row: CachedRowPlace, scratch: UnsafeMutablePointer<Float>, workers: Workers) {
        let parts = Attention.parts(row.positions)
        let weights = scratch, sums = scratch + heads * row.positions
        let maxima = sums + parts * channels, expSums = maxima + parts * heads
        let runningMaxima = expSums + parts * heads, runningSums = runningMaxima + heads
        workers.forEachClaimed(parts, grain: 1) { range, _ in
            for p in range {
                attendPart(row, part(p, of: row.positions), weights: weights, maxima: maxima + p * heads,
                           expSums: expSums + p * heads, sums: sums + p * channels)
            }
        }
        for p in 0..<parts {
            fold(p, maxima: maxima + p * heads, expSums: expSums + p * heads, sums: sums + p * channels,
                 runningMaxima: runningMaxima, runningSums: runningSums, y: row.y)
        }
        normalize(row.y, runningSums: runningSums)
    }
}
