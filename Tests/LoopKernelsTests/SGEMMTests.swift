import CKernels
@testable import LoopKernels
import Testing

/// LoopLM's AVX2+FMA sgemm (CKernels/sgemm_avx2.c) and OpenBLAS against a float64 reference, on
/// shapes that cross every blocking edge of the kernel (micro-tile 6 × 16, depth block 256, row block
/// 72, column block 4080), in all four transposes, with leading dimensions wider than the matrices,
/// alpha ≠ 1 and beta 0, 1 and −½.
@Suite struct SGEMMTests {
    struct Shape: CustomStringConvertible, Sendable {
        let m: Int, n: Int, k: Int
        var description: String { "\(m)×\(n)×\(k)" }
    }

    static let shapes = [
        Shape(m: 1, n: 1, k: 1), Shape(m: 5, n: 15, k: 7), Shape(m: 6, n: 16, k: 8), Shape(m: 7, n: 17, k: 9),
        Shape(m: 73, n: 33, k: 257), Shape(m: 150, n: 40, k: 600), Shape(m: 13, n: 4100, k: 20),
        Shape(m: 2, n: 3, k: 0),
    ]

    static func values(_ count: Int, seed: UInt64) -> [Float] {
        var state = seed
        return (0..<count).map { _ in
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return Float(Int64(bitPattern: state >> 11) % 2001 - 1000) / 1000
        }
    }

    /// C = alpha·op(A)·op(B) + beta·C in float64, the same row-major layouts as BLAS.gemm.
    static func reference(
        transposeA: Bool, transposeB: Bool, shape: Shape, alpha: Float, a: [Float], lda: Int, b: [Float], ldb: Int,
        beta: Float, c: [Float], ldc: Int
    ) -> [Double] {
        var out = c.map(Double.init)
        for i in 0..<shape.m {
            for j in 0..<shape.n {
                var sum = 0.0
                for p in 0..<shape.k {
                    let x = transposeA ? a[p * lda + i] : a[i * lda + p]
                    let y = transposeB ? b[j * ldb + p] : b[p * ldb + j]
                    sum += Double(x) * Double(y)
                }
                let old = beta == 0 ? 0 : Double(beta) * Double(c[i * ldc + j])
                out[i * ldc + j] = Double(alpha) * sum + old
            }
        }
        return out
    }

    @Test(arguments: shapes)
    func matchesFloat64Reference(shape: Shape) throws {
        let kernels = SGEMMKernel.allCases.filter(\.isSupported)
        let sentinel: Float = 12345
        for (transposeA, transposeB) in [(false, false), (true, false), (false, true), (true, true)] {
            for (alpha, beta) in [(Float(1), Float(0)), (0.5, 1), (1, -0.5)] {
                // Leading dimensions 3 wider than needed; the gap in C must stay untouched.
                let lda = (transposeA ? shape.m : shape.k) + 3, ldb = (transposeB ? shape.k : shape.n) + 3
                let ldc = shape.n + 3
                let a = Self.values((transposeA ? shape.k : shape.m) * lda, seed: 1)
                let b = Self.values((transposeB ? shape.n : shape.k) * ldb, seed: 2)
                var start = Self.values(shape.m * ldc, seed: 3)
                for i in 0..<shape.m { for j in shape.n..<ldc { start[i * ldc + j] = sentinel } }
                if beta == 0 { for i in 0..<shape.m { for j in 0..<shape.n { start[i * ldc + j] = .nan } } }
                let expected = Self.reference(transposeA: transposeA, transposeB: transposeB, shape: shape, alpha: alpha,
                                              a: a, lda: lda, b: b, ldb: ldb, beta: beta, c: start, ldc: ldc)
                for kernel in kernels {
                    var c = start
                    if kernel == .avx2 {  // the kernel itself, also below `SGEMMKernel.minimumRows`
                        let status = looplm_sgemm_avx2(transposeA ? 1 : 0, transposeB ? 1 : 0, shape.m, shape.n, shape.k,
                                                       alpha, a, lda, b, ldb, beta, &c, ldc)
                        #expect(status == 0)
                    } else {
                        BLAS.gemm(transposeA: transposeA, transposeB: transposeB, m: shape.m, n: shape.n, k: shape.k,
                                  alpha: alpha, a: a, lda: lda, b: b, ldb: ldb, beta: beta, c: &c, ldc: ldc, kernel: kernel)
                    }
                    let tolerance = 2e-6 * Double(max(shape.k, 1)).squareRoot() + 1e-6
                    for i in 0..<shape.m {
                        for j in 0..<ldc {
                            let index = i * ldc + j
                            if j >= shape.n {
                                #expect(c[index] == sentinel, "\(kernel) wrote outside C at (\(i), \(j))")
                            } else {
                                #expect(abs(Double(c[index]) - expected[index]) <= tolerance,
                                        "\(kernel) \(shape) tA=\(transposeA) tB=\(transposeB) β=\(beta) at (\(i), \(j))")
                            }
                        }
                    }
                }
            }
        }
    }

    /// The split over threads gives the same bits as one call: each band is its own product and
    /// the kernel's results do not depend on where a band starts.
    @Test func bandsEqualOneCall() throws {
        guard CPU.hasAVX2Kernels else { return }
        let m = 100, n = 300, k = 70
        let a = Self.values(m * k, seed: 4), b = Self.values(k * n, seed: 5)
        var whole = [Float](repeating: 0, count: m * n), banded = whole
        BLAS.gemm(m: m, n: n, k: k, a: a, lda: k, b: b, ldb: n, beta: 0, c: &whole, ldc: n, kernel: .avx2)
        BLAS.gemm(m: m, n: n, k: k, a: a, lda: k, b: b, ldb: n, beta: 0, c: &banded, ldc: n,
                  workers: Workers(threads: 3, sgemm: .avx2))
        #expect(whole == banded)
    }

    /// Below `SGEMMKernel.minimumRows` rows the library does the product (bit for bit its result);
    /// from there on LoopLM's kernel does.
    @Test func fewRowsGoToTheLibrary() throws {
        guard CPU.hasAVX2Kernels else { return }
        let n = 40, k = 300
        for m in [SGEMMKernel.minimumRows - 8, SGEMMKernel.minimumRows] {
            let a = Self.values(m * k, seed: 6), b = Self.values(k * n, seed: 7)
            var routed = [Float](repeating: 0, count: m * n), library = routed, own = routed
            BLAS.gemm(m: m, n: n, k: k, a: a, lda: k, b: b, ldb: n, beta: 0, c: &routed, ldc: n, kernel: .avx2)
            BLAS.gemm(m: m, n: n, k: k, a: a, lda: k, b: b, ldb: n, beta: 0, c: &library, ldc: n, kernel: .openBLAS)
            #expect(looplm_sgemm_avx2(0, 0, m, n, k, 1, a, k, b, n, 0, &own, n) == 0)
            #expect(library != own, "the two kernels round differently, or this test shows nothing")
            #expect(routed == (m < SGEMMKernel.minimumRows ? library : own), "\(m) rows")
        }
    }

    /// B in column panels (the inference copies' layout, the last panel narrower): LoopLM's kernel
    /// in one call gives the bits of one plain call per panel, across depth blocks, and with too
    /// few rows (or the library) the product is one call per panel.
    @Test func panelledProductsEqualOneProductPerPanel() throws {
        guard CPU.hasAVX2Kernels else { return }
        let width = Panels.width
        for (m, n, k) in [(100, 200, 300), (SGEMMKernel.minimumRows - 1, 130, 40), (60, 64, 257)] {
            let lda = k + 3, ldc = n + 5
            let a = Self.values(m * lda, seed: 8), b = Self.values(k * n, seed: 9)  // b: (k, n) row-major
            var panels = [Float](repeating: 0, count: k * n)
            for first in stride(from: 0, to: n, by: width) {
                let w = min(width, n - first)
                for i in 0..<k { for j in 0..<w { panels[first * k + i * w + j] = b[i * n + first + j] } }
            }
            for kernel in [SGEMMKernel.avx2, .openBLAS] {
                let start = Self.values(m * ldc, seed: 10)
                var once = start, perPanel = start
                BLAS.gemm(m: m, n: n, k: k, alpha: 0.5, a: a, lda: lda, panels: panels, panelWidth: width, beta: 1,
                          c: &once, ldc: ldc, kernel: kernel)
                for first in stride(from: 0, to: n, by: width) {
                    let w = min(width, n - first)
                    panels.withUnsafeBufferPointer { p in
                        perPanel.withUnsafeMutableBufferPointer { c in
                            BLAS.gemm(m: m, n: w, k: k, alpha: 0.5, a: a, lda: lda, b: p.baseAddress! + first * k, ldb: w,
                                      beta: 1, c: c.baseAddress! + first, ldc: ldc, kernel: kernel)
                        }
                    }
                }
                #expect(once == perPanel, "\(m)×\(n)×\(k) \(kernel)")
                let reference = Self.reference(transposeA: false, transposeB: false, shape: Shape(m: m, n: n, k: k),
                                               alpha: 0.5, a: a, lda: lda, b: b, ldb: n, beta: 1, c: start, ldc: ldc)
                let worst = zip(once, reference).map { abs(Double($0) - $1) }.max() ?? 0
                #expect(worst < 1e-3, "\(m)×\(n)×\(k) \(kernel): \(worst)")
            }
        }
        var untouched = [Float](repeating: 7, count: 64)
        let zeros = [Float](repeating: 0, count: 64)
        #expect(looplm_sgemm_avx2_panels(8, 8, 8, 1, zeros, 8, zeros, 24, 0, &untouched, 8) == -1,
                "a panel width that is not a multiple of 16 is refused")
        #expect(untouched.allSatisfy { $0 == 7 })
    }

    /// `auto` picks LoopLM's kernel on AVX2 CPUs and on AMD family 25 with AVX-512 (Zen 4, which
    /// splits 512-bit operations in halves), the library on other AVX-512 CPUs; the vendor and
    /// family come from the first processor's block of /proc/cpuinfo.
    @Test func theFamilyIsReadFromTheFirstProcessor() {
        let zen4 = "processor\t: 0\nvendor_id\t: AuthenticAMD\ncpu family\t: 25\nmodel\t\t: 17\n\nprocessor\t: 1\n"
        let zen5 = "processor\t: 0\nvendor_id\t: AuthenticAMD\ncpu family\t: 26\nmodel\t\t: 2\n"
        let intel = "processor\t: 0\nvendor_id\t: GenuineIntel\ncpu family\t: 6\nmodel\t\t: 143\n"
        let laterBlock = "processor\t: 0\nvendor_id\t: GenuineIntel\ncpu family\t: 6\n\nvendor_id\t: AuthenticAMD\ncpu family\t: 25\n"
        #expect(CPU.isAMDFamily25(cpuinfo: zen4))
        #expect(!CPU.isAMDFamily25(cpuinfo: zen5))
        #expect(!CPU.isAMDFamily25(cpuinfo: intel))
        #expect(!CPU.isAMDFamily25(cpuinfo: laterBlock))
        #expect(!CPU.isAMDFamily25(cpuinfo: ""))
        if CPU.hasAVX2Kernels, CPU.simd == .avx512 {
            #expect(SGEMMKernel.preferred == (CPU.splitsWideVectors ? .avx2 : .openBLAS), "\(CPU.description)")
        }
    }
}
