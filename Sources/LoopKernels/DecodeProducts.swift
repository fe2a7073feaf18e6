import CKernels

/// Float32 products of a few rows (decoding) whose every output is computed the same way,
/// whichever other rows share the call. Batching sequences then changes no bit of any one of
/// them: what the server computes for a request in a batch equals what `sample` computes alone.
///
/// - Input-major weights (in, out), float32 or bfloat16, whole or one `Panels` panel: each output is one chain of fused multiply-adds in input
///   order, starting from its value in y; vector lanes are outputs, so the AVX-512 and AVX2
///   kernels and the scalar tails agree bit for bit.
/// - Output-major weights (the tied head): each output is a dot product in four chains of 8-lane
///   partial sums added in a fixed order, four rows of x per pass over the weights; the AVX-512
///   version only holds those rows' accumulators in more registers (the same bits).
///
/// Where the CPU has no AVX2 and FMA, BLAS matrix–vector products run one row at a time (the
/// same call for every row, so still independent of the batch), and bfloat16 runs in plain C.
public enum DecodeProducts {
    /// Outputs per band handed to a thread: bands start on a multiple of it so that the vector
    /// blocks line up.
    public static let band = 16

    enum Kernel { case avx512, avx2, blas }

    static let kernel: Kernel = {
        guard CPU.hasAVX2Kernels, looplm_has_decode_row_kernels() != 0 else { return .blas }
        return CPU.simd >= .avx512 ? .avx512 : .avx2
    }()

    /// y (rows, ldy) += x (rows, C) · w[:, 0..<columns], w input-major with row stride ldw.
    static func inputMajor(
        _ w: UnsafePointer<Float>, ldw: Int, x: UnsafePointer<Float>, rows: Int, inChannels c: Int, columns: Int,
        y: UnsafeMutablePointer<Float>, ldy: Int, kernel: Kernel = kernel
    ) {
        switch kernel {
        case .avx512:
            looplm_rows_f32_avx512(w, ldw, x, c, Int32(rows), Int32(c), Int32(columns), y, ldy)
        case .avx2:
            looplm_rows_f32_avx2(w, ldw, x, c, Int32(rows), Int32(c), Int32(columns), y, ldy)
        case .blas:
            for row in 0..<rows {
                BLAS.gemvTransposed(m: c, n: columns, a: w, lda: ldw, x: x + row * c, beta: 1, y: y + row * ldy)
            }
        }
    }

    /// The same with bfloat16 weights, each widened exactly to float32 before its multiply-add:
    /// every kernel gives the same bits.
    static func inputMajor(
        _ w: UnsafePointer<UInt16>, ldw: Int, x: UnsafePointer<Float>, rows: Int, inChannels c: Int, columns: Int,
        y: UnsafeMutablePointer<Float>, ldy: Int, kernel: Kernel = kernel
    ) {
        switch kernel {
        case .avx512:
            looplm_rows_bf16_avx512(w, ldw, x, c, Int32(rows), Int32(c), Int32(columns), y, ldy)
        case .avx2:
            looplm_rows_bf16_avx2(w, ldw, x, c, Int32(rows), Int32(c), Int32(columns), y, ldy)
        case .blas:
            looplm_rows_bf16_portable(w, ldw, x, c, Int32(rows), Int32(c), Int32(columns), y, ldy)
        }
    }

    /// y (rows, ldy) += x (rows, C) · wᵀ for `outputs` weight rows of w (outputs, C).
    static func outputMajor(
        _ w: UnsafePointer<Float>, x: UnsafePointer<Float>, rows: Int, inChannels c: Int, outputs: Int,
        y: UnsafeMutablePointer<Float>, ldy: Int, kernel: Kernel = kernel
    ) {
        guard kernel != .blas else {
            for row in 0..<rows {
                BLAS.gemv(m: outputs, n: c, a: w, lda: c, x: x + row * c, beta: 1, y: y + row * ldy)
            }
            return
        }
        if kernel == .avx512 {
            looplm_output_major_f32_avx512(w, x, Int32(rows), Int32(c), Int32(outputs), y, ldy)
        } else {
            looplm_output_major_f32_avx2(w, x, Int32(rows), Int32(c), Int32(outputs), y, ldy)
        }
    }
}
