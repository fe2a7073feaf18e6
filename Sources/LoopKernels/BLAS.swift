#if canImport(Accelerate)
import Accelerate
#else
import CBLAS
#endif
import CKernels

/// Which sgemm runs LoopLM's matrix products: the BLAS library, or LoopLM's own AVX2+FMA kernel
/// (Sources/CKernels/sgemm_avx2.c). Both compute the same products; their roundings differ.
public enum SGEMMKernel: String, Sendable, CaseIterable {
    case openBLAS = "openblas"
    case avx2

    /// The faster one on this CPU, as measured (docs/performance.md): LoopLM's kernel on CPUs with
    /// AVX2 and FMA but no AVX-512 (Zen 3), where it beat OpenBLAS 0.3.21 on the training step, and
    /// on Zen 4, whose 512-bit operations run as two 256-bit halves (there it was 3–6% faster than
    /// OpenBLAS's 512-bit kernels on every product of the `small` and reference steps, one at a
    /// time, and faster in 9 of 10 alternating `small` steps); the BLAS library elsewhere (CPUs
    /// with full-width AVX-512 do twice the work per instruction in its 512-bit kernels).
    public static let preferred: SGEMMKernel =
        CPU.hasAVX2Kernels && (CPU.simd == .avx2 || CPU.splitsWideVectors) ? .avx2 : .openBLAS

    /// Whether this CPU can run it.
    public var isSupported: Bool { self == .openBLAS || CPU.hasAVX2Kernels }

    /// The library that runs `.openBLAS`'s products: OpenBLAS on Linux, Accelerate on Apple
    /// platforms (the case keeps its name so saved runs and scripts keep working).
    public static let blasLibrary: String = {
        #if canImport(Accelerate)
        return "Accelerate"
        #else
        return "OpenBLAS"
        #endif
    }()

    /// What runs the products, for reports: "OpenBLAS", "Accelerate" or "LoopLM AVX2+FMA".
    public var implementation: String { self == .openBLAS ? Self.blasLibrary : "LoopLM AVX2+FMA" }

    /// Products with fewer rows in C go to the library even with `.avx2`: for a few rows (batched
    /// decoding) packing the whole weight matrix costs more than it saves, and a 6-row micro-tile
    /// wastes up to two thirds of its work. Measured with `looplm bench --generate --batches …
    /// --sgemm avx2|openblas`, alternating: OpenBLAS 10–25% faster at 8 and 12 sequences, even at 6
    /// and 16, about 5% ahead at 32; LoopLM's kernel 5–9% ahead at 64 and in prefill.
    public static let minimumRows = 48
}

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
        c: UnsafeMutablePointer<Float>, ldc: Int,
        kernel: SGEMMKernel
    ) {
        // The AVX2 kernel returns nonzero only when its packing space cannot be allocated; the
        // library then does the product.
        if kernel == .avx2, m >= SGEMMKernel.minimumRows,
            looplm_sgemm_avx2(transposeA ? 1 : 0, transposeB ? 1 : 0, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc) == 0
        {
            return
        }
        callerThreadOnly
        cblas_sgemm(
            CblasRowMajor,
            transposeA ? CblasTrans : CblasNoTrans,
            transposeB ? CblasTrans : CblasNoTrans,
            Int32(m), Int32(n), Int32(k), alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
    }

    /// C (M×N) = alpha · A · B + beta · C on the calling thread, with B (K×N) stored in column
    /// panels of `panelWidth` (the layout of `Panels`: each panel a row-major (K × width) matrix,
    /// one after another, the last narrower). LoopLM's kernel takes all the panels in one call, so
    /// A is packed once for them instead of once per panel; otherwise (the library, or too few
    /// rows) one call per panel. Either way each element gets the bits of that kernel's plain product.
    public static func gemm(
        m: Int, n: Int, k: Int, alpha: Float = 1, a: UnsafePointer<Float>, lda: Int,
        panels: UnsafePointer<Float>, panelWidth: Int, beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int,
        kernel: SGEMMKernel
    ) {
        if kernel == .avx2, m >= SGEMMKernel.minimumRows,
            looplm_sgemm_avx2_panels(m, n, k, alpha, a, lda, panels, panelWidth, beta, c, ldc) == 0
        {
            return
        }
        for first in stride(from: 0, to: n, by: panelWidth) {
            let width = min(panelWidth, n - first)
            gemm(m: m, n: width, k: k, alpha: alpha, a: a, lda: lda, b: panels + first * k, ldb: width, beta: beta,
                 c: c + first, ldc: ldc, kernel: kernel)
        }
    }

    /// The same product split over `workers`: each thread computes a band of rows of C
    /// (or of columns, when C is wide) with a single-threaded call of `workers.sgemm`. Used with BLAS set
    /// to one thread, so LoopLM's own threads are the only ones and none spin idle.
    public static func gemm(
        transposeA: Bool = false, transposeB: Bool = false,
        m: Int, n: Int, k: Int,
        alpha: Float = 1,
        a: UnsafePointer<Float>, lda: Int,
        b: UnsafePointer<Float>, ldb: Int,
        beta: Float,
        c: UnsafeMutablePointer<Float>, ldc: Int,
        workers: Workers
    ) {
        let minimumBand = 16
        if m >= n {
            workers.forEachChunk(m, minPerChunk: minimumBand) { rows, _ in
                let aStart = transposeA ? a + rows.lowerBound : a + rows.lowerBound * lda
                gemm(transposeA: transposeA, transposeB: transposeB, m: rows.count, n: n, k: k,
                     alpha: alpha, a: aStart, lda: lda, b: b, ldb: ldb, beta: beta,
                     c: c + rows.lowerBound * ldc, ldc: ldc, kernel: workers.sgemm)
            }
        } else {
            workers.forEachChunk(n, minPerChunk: minimumBand) { columns, _ in
                let bStart = transposeB ? b + columns.lowerBound * ldb : b + columns.lowerBound
                gemm(transposeA: transposeA, transposeB: transposeB, m: m, n: columns.count, k: k,
                     alpha: alpha, a: a, lda: lda, b: bStart, ldb: ldb, beta: beta,
                     c: c + columns.lowerBound, ldc: ldc, kernel: workers.sgemm)
            }
        }
    }

    /// `y (N) = alpha · Aᵀ · x + beta · y` for a row-major A of M×N: column sums when x is ones.
    @inline(__always)
    public static func gemvTransposed(
        m: Int, n: Int, alpha: Float = 1, a: UnsafePointer<Float>, lda: Int,
        x: UnsafePointer<Float>, beta: Float, y: UnsafeMutablePointer<Float>
    ) {
        callerThreadOnly
        cblas_sgemv(
            CblasRowMajor, CblasTrans, Int32(m), Int32(n), alpha, a, Int32(lda), x, 1, beta, y, 1)
    }

    /// `y (M) = alpha · A · x + beta · y` for a row-major A of M×N.
    @inline(__always)
    public static func gemv(
        m: Int, n: Int, alpha: Float = 1, a: UnsafePointer<Float>, lda: Int,
        x: UnsafePointer<Float>, beta: Float, y: UnsafeMutablePointer<Float>
    ) {
        callerThreadOnly
        cblas_sgemv(
            CblasRowMajor, CblasNoTrans, Int32(m), Int32(n), alpha, a, Int32(lda), x, 1, beta, y, 1)
    }

    /// LoopLM threads every product itself, so BLAS must run each call on the calling
    /// thread: a threaded OpenBLAS called from two threads at once gives wrong results
    /// (seen with 0.3.21), and its idle threads spin on the cores LoopLM's threads need.
    /// Evaluated once, before the first product; it is the library's setting, not ours to vary.
    static let callerThreadOnly: Void = {
        #if !canImport(Accelerate)
        openblas_set_num_threads(1)
        #endif
    }()
}
