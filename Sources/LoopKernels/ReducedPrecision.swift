import CKernels

/// A matrix stored as int8 with one float scale per group of `groupSize` inputs of each
/// output row: w[j, i] ≈ scales[j, i / groupSize] · values[j, i]. Layout (out, in).
public struct QuantizedMatrix {
    public let values: UnsafePointer<Int8>  // (out, in)
    public let scales: UnsafePointer<Float>  // (out, in / groupSize)
    public let groupSize: Int

    public init(values: UnsafePointer<Int8>, scales: UnsafePointer<Float>, groupSize: Int) {
        self.values = values
        self.scales = scales
        self.groupSize = groupSize
    }

    public func groupsPerRow(inputs: Int) -> Int { inputs / groupSize }
}

/// Conversions to reduced precision (round to nearest) and the products on int8 weights,
/// accumulating in float32.
public enum ReducedPrecision {
    /// Inputs per int8 scale, when the row length allows it; otherwise one scale per row.
    public static let preferredGroupSize = 64
    /// Largest int8 magnitude used, so that −w and w quantize symmetrically.
    static let int8Limit: Float = 127

    /// The group size for rows of `inputs` values.
    public static func groupSize(inputs: Int) -> Int {
        inputs % preferredGroupSize == 0 ? preferredGroupSize : inputs
    }

    /// bfloat16 bits of x, rounded to nearest with ties to even (NaN stays NaN).
    @inline(__always)
    public static func bfloat16(_ x: Float) -> UInt16 {
        let bits = x.bitPattern
        if x.isNaN { return UInt16(truncatingIfNeeded: bits >> 16) | 0x0040 }
        let roundingBias = 0x7FFF + ((bits >> 16) & 1)
        return UInt16(truncatingIfNeeded: (bits &+ roundingBias) >> 16)
    }

    @inline(__always)
    public static func float(bfloat16 bits: UInt16) -> Float { Float(bitPattern: UInt32(bits) << 16) }

    /// Quantizes one row of `count` finite values (a whole number of groups) into `values` and
    /// `scales`: scale = max |w| / 127 per group, value = round(w · (1 / scale)), ties away from
    /// zero. A group whose scale is not a normal float (its largest magnitude below about
    /// 1.5e-36, where 1 / scale would overflow) is stored as zeros with scale 0: its weights are
    /// smaller than anything int8 with a float scale can tell from zero.
    public static func quantize(
        row: UnsafePointer<Float>, stride: Int = 1, count: Int, groupSize: Int,
        values: UnsafeMutablePointer<Int8>, scales: UnsafeMutablePointer<Float>
    ) {
        for group in 0..<(count / groupSize) {
            var largest: Float = 0
            for i in (group * groupSize)..<((group + 1) * groupSize) { largest = max(largest, abs(row[i * stride])) }
            let scale = largest / int8Limit
            let inverse = 1 / scale
            guard scale.isNormal, inverse.isFinite else {
                scales[group] = 0
                (values + group * groupSize).update(repeating: 0, count: groupSize)
                continue
            }
            scales[group] = scale
            for i in (group * groupSize)..<((group + 1) * groupSize) {
                let q = (row[i * stride] * inverse).rounded(.toNearestOrAwayFromZero)
                values[i] = Int8(max(-int8Limit, min(int8Limit, q)))  // |q| ≤ 127 up to rounding of the product
            }
        }
    }

    /// Rows processed together in the matrix–vector kernel: each weight is loaded once for them.
    static let rowGroup = 4
    /// Up to this many rows, products read the reduced weights directly (in passes of
    /// `rowGroup` rows); past it, widening tiles to float32 for sgemm costs less than the passes.
    static let vectorRows = 16
    /// Outputs converted to a float32 tile at a time when many rows go through sgemm.
    static let tileOutputs = 64

    /// Products on int8 weights (bfloat16 ones are stored in `Panels` and go through `PanelProducts`).
    static func forward(
        out: UnsafeMutablePointer<Float>, inp: UnsafePointer<Float>, weights: QuantizedMatrix,
        bias: UnsafePointer<Float>?, rows n: Int, inChannels c: Int, outChannels oc: Int,
        accumulate: Bool, workers: Workers
    ) {
        if n > vectorRows {
            // Prefill: widen a tile of weight rows to float32 (per thread), then sgemm on it.
            let tiles = (oc + tileOutputs - 1) / tileOutputs
            // Scratch of a few hundred kilobytes per call (threads × 64 × C), not worth a buffer the caller owns.
            withUnsafeTemporaryAllocation(of: Float.self, capacity: workers.threads * tileOutputs * c) { scratch in
                let base = scratch.baseAddress!
                workers.forEachChunk(tiles) { range, chunk in
                    let tile = base + chunk * tileOutputs * c
                    for t in range {
                        let first = t * tileOutputs, count = min(tileOutputs, oc - first)
                        widen(weights, rows: first..<(first + count), inChannels: c, into: tile)
                        for row in 0..<n {
                            Linear.prepare(out + row * oc + first, bias: bias.map { $0 + first }, count: count,
                                           accumulate: accumulate)
                        }
                        BLAS.gemm(transposeB: true, m: n, n: count, k: c, a: inp, lda: c, b: tile, ldb: c,
                                  beta: 1, c: out + first, ldc: oc, kernel: workers.sgemm)
                    }
                }
            }
            return
        }
        workers.forEachChunk(oc, minPerChunk: 64) { outputs, _ in
            var row = 0
            while row < n {
                let count = min(rowGroup, n - row)
                for j in outputs {
                    let sums = dot(weights, output: j, inp + row * c, rows: count, c)
                    for r in 0..<count {
                        let y = out + (row + r) * oc + j
                        let b = bias?[j] ?? 0
                        y.pointee = accumulate ? y.pointee + sums[r] + b : sums[r] + b
                    }
                }
                row += count
            }
        }
    }

    static var useAVX2: Bool { CPU.hasAVX2Kernels }

    /// One output row's dot products with up to four rows of x: AVX2 kernels where the CPU has
    /// them (the Swift kernels below are compiled for baseline x86-64), portable ones otherwise.
    @inline(__always)
    static func dot(_ q: QuantizedMatrix, output j: Int, _ x: UnsafePointer<Float>, rows: Int, _ c: Int,
                    avx2: Bool = useAVX2) -> SIMD4<Float> {
        guard avx2 else { return dotInt8(q, output: j, x, rows: rows, c) }
        var sums = SIMD4<Float>(repeating: 0)
        withUnsafeMutableBytes(of: &sums) { raw in
            looplm_dot_int8_avx2(q.values + j * c, q.scales + j * (c / q.groupSize), Int32(q.groupSize), x,
                                 Int32(rows), Int32(c), raw.baseAddress!.assumingMemoryBound(to: Float.self))
        }
        return sums
    }

    /// Σ_g scale[g] · Σ_{i∈g} x_r[i] · q[i] for up to four rows of x, one output row of q.
    @inline(__always)
    static func dotInt8(
        _ q: QuantizedMatrix, output j: Int, _ x: UnsafePointer<Float>, rows: Int, _ c: Int
    ) -> SIMD4<Float> {
        typealias V = SIMD8<Float>
        let values = q.values + j * c, scales = q.scales + j * (c / q.groupSize)
        var result = SIMD4<Float>(repeating: 0)
        for group in 0..<(c / q.groupSize) {
            var a0 = V(), a1 = V(), a2 = V(), a3 = V()
            let start = group * q.groupSize, end = start + q.groupSize
            var i = start
            while i + 8 <= end {
                let raw = UnsafeRawPointer(values + i).loadUnaligned(as: SIMD8<Int8>.self)
                let wv = V(SIMD8<Int32>(truncatingIfNeeded: raw))
                a0 += wv * load(x + i)
                if rows > 1 { a1 += wv * load(x + c + i) }
                if rows > 2 { a2 += wv * load(x + 2 * c + i) }
                if rows > 3 { a3 += wv * load(x + 3 * c + i) }
                i += 8
            }
            var partial = SIMD4<Float>(a0.sum(), a1.sum(), a2.sum(), a3.sum())
            while i < end {
                let wi = Float(values[i])
                for r in 0..<rows { partial[r] += wi * x[r * c + i] }
                i += 1
            }
            result += partial * scales[group]
        }
        return result
    }

    /// Weight rows `outputs` as float32 (count, c) into `tile`.
    static func widen(_ q: QuantizedMatrix, rows outputs: Range<Int>, inChannels c: Int, into tile: UnsafeMutablePointer<Float>) {
        let groups = c / q.groupSize
        for (r, j) in outputs.enumerated() {
            let y = tile + r * c
            for i in 0..<c { y[i] = Float(q.values[j * c + i]) * q.scales[j * groups + i / q.groupSize] }
        }
    }

    @inline(__always)
    static func load(_ p: UnsafePointer<Float>) -> SIMD8<Float> {
        UnsafeRawPointer(p).loadUnaligned(as: SIMD8<Float>.self)
    }
}
