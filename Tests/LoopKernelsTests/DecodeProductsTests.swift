@testable import LoopKernels
import Testing

/// Decode products: each output is the same bits whichever rows share the call, and close to
/// a float64 product.
@Suite struct DecodeProductsTests {
    /// Inputs and weights from a fixed linear congruential sequence in [-1, 1].
    static func values(_ count: Int, seed: UInt64) -> [Float] { ReducedDotTests.values(count, seed: seed) }

    /// Sizes with ragged edges: columns not a multiple of any vector width, C odd.
    static let inChannels = 77, outChannels = 203

    func linear(_ weights: LinearWeights, x: [Float], rows: Int, bias: [Float], threads: Int) -> [Float] {
        var out = [Float](repeating: 0, count: rows * Self.outChannels)
        x.withUnsafeBufferPointer { xp in
            bias.withUnsafeBufferPointer { bp in
                Linear.forward(out: &out, inp: xp.baseAddress!, weights: weights, bias: bp.baseAddress!, rows: rows,
                               inChannels: Self.inChannels, outChannels: Self.outChannels,
                               workers: Workers(threads: threads))
            }
        }
        return out
    }

    @Test(arguments: [false, true]) func everyRowIsTheSameBitsAloneAsInABatch(outputMajor: Bool) {
        let c = Self.inChannels, oc = Self.outChannels, rows = Linear.vectorRows
        let w = Self.values(c * oc, seed: 1), x = Self.values(rows * c, seed: 2), bias = Self.values(oc, seed: 3)
        w.withUnsafeBufferPointer { wp in
            let weights: LinearWeights = outputMajor ? .outputMajor(wp.baseAddress!) : .inputMajor(wp.baseAddress!)
            let batch = linear(weights, x: x, rows: rows, bias: bias, threads: 2)
            for r in 0..<rows {
                let row = Array(x[(r * c)..<((r + 1) * c)])
                for threads in [1, 2] {
                    let alone = linear(weights, x: row, rows: 1, bias: bias, threads: threads)
                    #expect(alone == Array(batch[(r * oc)..<((r + 1) * oc)]), "row \(r), \(threads) threads")
                }
                // The row in a batch of three at another position.
                let three = linear(weights, x: Array(x[0..<c]) + row + Array(x[0..<c]), rows: 3, bias: bias, threads: 2)
                #expect(Array(three[oc..<(2 * oc)]) == Array(batch[(r * oc)..<((r + 1) * oc)]))
            }
            // Against float64.
            for r in 0..<rows {
                for j in 0..<oc {
                    var exact = Double(bias[j])
                    for k in 0..<c {
                        let wk = outputMajor ? w[j * c + k] : w[k * oc + j]
                        exact += Double(x[r * c + k]) * Double(wk)
                    }
                    #expect(abs(Double(batch[r * oc + j]) - exact) < 1e-4, "row \(r) output \(j)")
                }
            }
        }
    }

    /// The AVX-512 and AVX2 input-major kernels (lanes are outputs) and BLAS agree: the first
    /// two bit for bit, BLAS to rounding.
    @Test func theKernelsAgree() {
        let c = Self.inChannels, oc = Self.outChannels, rows = 7
        let w = Self.values(c * oc, seed: 4), x = Self.values(rows * c, seed: 5)
        var kernels: [DecodeProducts.Kernel] = [.blas]
        if DecodeProducts.kernel != .blas { kernels.append(.avx2) }
        if DecodeProducts.kernel == .avx512 { kernels.append(.avx512) }
        var results: [DecodeProducts.Kernel: [Float]] = [:]
        for kernel in kernels {
            var y = [Float](repeating: 0.5, count: rows * oc)
            DecodeProducts.inputMajor(w, ldw: oc, x: x, rows: rows, inChannels: c, columns: oc, y: &y, ldy: oc,
                                      kernel: kernel)
            results[kernel] = y
        }
        if let avx512 = results[.avx512] { #expect(avx512 == results[.avx2]) }
        for (a, b) in zip(results[.blas]!, results[kernels.last!]!) { #expect(abs(a - b) < 1e-4) }
    }
}
