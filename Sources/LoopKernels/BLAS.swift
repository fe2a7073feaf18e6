#if canImport(Accelerate)
import Accelerate
#else
import CBLAS
#endif

/// The few BLAS calls LoopLM uses, with labelled arguments. Row-major throughout.
///
/// `C (M×N) = alpha · op(A) · op(B) + beta · C`, where op(A) is M×K and op(B) is K×N.
public enum BLAS {
    @inline(__always)
    public static func gemm(
        transposeA: Bool = false, transposeB: Bool = false,
        m: Int, n: Int, k: Int,
        alpha: Float = 1,
        a: UnsafePointer<Float>, lda: Int,
        b: UnsafePointer<Float>, ldb: Int,
        beta: Float,
        c: UnsafeMutablePointer<Float>, ldc: Int
    ) {
        cblas_sgemm(
            CblasRowMajor,
            transposeA ? CblasTrans : CblasNoTrans,
            transposeB ? CblasTrans : CblasNoTrans,
            Int32(m), Int32(n), Int32(k), alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
    }

    /// `y (N) = alpha · Aᵀ · x + beta · y` for a row-major A of M×N: column sums when x is ones.
    @inline(__always)
    public static func gemvTransposed(
        m: Int, n: Int, alpha: Float = 1, a: UnsafePointer<Float>, lda: Int,
        x: UnsafePointer<Float>, beta: Float, y: UnsafeMutablePointer<Float>
    ) {
        cblas_sgemv(
            CblasRowMajor, CblasTrans, Int32(m), Int32(n), alpha, a, Int32(lda), x, 1, beta, y, 1)
    }

    /// Sets the number of threads BLAS uses (OpenBLAS only; Accelerate chooses its own).
    public static func setThreads(_ threads: Int) {
        #if !canImport(Accelerate)
        openblas_set_num_threads(Int32(threads))
        #endif
    }
}
