/// Linear layer: out (N, OC) = inp (N, C) · weight (C, OC) + bias (OC), or `out +=` that
/// when `accumulate` (a residual branch added straight into the stream).
///
/// Weights use Hugging Face GPT-2's Conv1D layout, [in, out], so a checkpoint tensor
/// is copied as it is. N is the number of rows (B·T).
public enum Matmul {
    public static func forward(
        out: UnsafeMutablePointer<Float>,  // (N, OC)
        inp: UnsafePointer<Float>,  // (N, C)
        weight: UnsafePointer<Float>,  // (C, OC)
        bias: UnsafePointer<Float>?,  // (OC)
        rows n: Int, inChannels c: Int, outChannels oc: Int,
        accumulate: Bool = false, workers: Workers
    ) {
        if let bias {
            workers.forEachChunk(n, minPerChunk: 64) { rows, _ in
                for row in rows {
                    let y = out + row * oc
                    if accumulate {
                        for i in 0..<oc { y[i] += bias[i] }
                    } else {
                        y.update(from: bias, count: oc)
                    }
                }
            }
        }
        BLAS.gemm(m: n, n: oc, k: c, a: inp, lda: c, b: weight, ldb: oc,
                  beta: bias == nil && !accumulate ? 0 : 1, c: out, ldc: oc, workers: workers)
    }

    /// dinp = dout · weightᵀ (assigned, or added when `accumulateInput`);
    /// dweight += inpᵀ · dout; dbias += column sums of dout.
    public static func backward(
        dinp: UnsafeMutablePointer<Float>?,  // (N, C)
        dweight: UnsafeMutablePointer<Float>,  // (C, OC)
        dbias: UnsafeMutablePointer<Float>?,  // (OC)
        dout: UnsafePointer<Float>,  // (N, OC)
        inp: UnsafePointer<Float>,  // (N, C)
        weight: UnsafePointer<Float>,  // (C, OC)
        ones: UnsafePointer<Float>,  // (N) all ones, for the bias column sums
        rows n: Int, inChannels c: Int, outChannels oc: Int,
        accumulateInput: Bool = false, workers: Workers
    ) {
        if let dinp {
            BLAS.gemm(transposeB: true, m: n, n: c, k: oc, a: dout, lda: oc, b: weight, ldb: oc,
                      beta: accumulateInput ? 1 : 0, c: dinp, ldc: c, workers: workers)
        }
        BLAS.gemm(transposeA: true, m: c, n: oc, k: n, a: inp, lda: c, b: dout, ldb: oc,
                  beta: 1, c: dweight, ldc: oc, workers: workers)
        if let dbias {
            workers.forEachChunk(oc, minPerChunk: 64) { columns, _ in
                BLAS.gemvTransposed(m: n, n: columns.count, a: dout + columns.lowerBound, lda: oc,
                                    x: ones, beta: 1, y: dbias + columns.lowerBound)
            }
        }
    }
}
