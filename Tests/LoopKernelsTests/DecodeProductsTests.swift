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

    enum Layout: CaseIterable { case inputMajor, outputMajor, float32Panels, bfloat16Panels }

    /// `w` (in, out) in `layout`, kept alive by the returned storage, and the float32 values it holds.
    static func weights(_ w: [Float], layout: Layout, inputs c: Int, outputs oc: Int)
        -> (weights: LinearWeights, storage: AnyObject, values: [Float]) {
        final class Storage<T> {
            let pointer: UnsafeMutablePointer<T>
            init(_ values: [T]) {
                pointer = .allocate(capacity: values.count)
                pointer.initialize(from: values, count: values.count)
            }
            deinit { pointer.deallocate() }
        }
        let workers = Workers(threads: 2)
        switch layout {
        case .inputMajor:
            let s = Storage(w)
            return (.inputMajor(s.pointer), s, w)
        case .outputMajor:
            let s = Storage((0..<(c * oc)).map { w[($0 % c) * oc + $0 / c] })
            return (.outputMajor(s.pointer), s, w)
        case .float32Panels:
            let s = Storage(w)
            Panels.pack(inputs: c, outputs: oc, into: s.pointer, workers: workers) { w[$1 * oc + $0] }
            return (.float32Panels(s.pointer), s, w)
        case .bfloat16Panels:
            let s = Storage([UInt16](repeating: 0, count: c * oc))
            Panels.pack(inputs: c, outputs: oc, into: s.pointer, workers: workers) { ReducedPrecision.bfloat16(w[$1 * oc + $0]) }
            return (.bfloat16Panels(s.pointer), s, w.map { ReducedPrecision.float(bfloat16: ReducedPrecision.bfloat16($0)) })
        }
    }

    @Test(arguments: Layout.allCases) func everyRowIsTheSameBitsAloneAsInABatch(layout: Layout) {
        let c = Self.inChannels, oc = Self.outChannels, rows = Linear.vectorRows
        let x = Self.values(rows * c, seed: 2), bias = Self.values(oc, seed: 3)
        let (weights, storage, w) = Self.weights(Self.values(c * oc, seed: 1), layout: layout, inputs: c, outputs: oc)
        withExtendedLifetime(storage) {
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
                    for k in 0..<c { exact += Double(x[r * c + k]) * Double(w[k * oc + j]) }
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

    /// The same for the output-major kernels (the tied head), at every row count up to a batch:
    /// the AVX-512 version holds more rows in registers but sums each output in the same order.
    @Test func theOutputMajorKernelsAgree() {
        let c = Self.inChannels, oc = Self.outChannels
        let w = Self.values(c * oc, seed: 8)  // (oc, c)
        var kernels: [DecodeProducts.Kernel] = [.blas]
        if DecodeProducts.kernel != .blas { kernels.append(.avx2) }
        if DecodeProducts.kernel == .avx512 { kernels.append(.avx512) }
        for rows in [1, 2, 3, 4, 5, 7, Linear.vectorRows] {
            let x = Self.values(rows * c, seed: UInt64(20 + rows))
            var results: [DecodeProducts.Kernel: [Float]] = [:]
            for kernel in kernels {
                var y = [Float](repeating: 0.5, count: rows * oc)
                DecodeProducts.outputMajor(w, x: x, rows: rows, inChannels: c, outputs: oc, y: &y, ldy: oc, kernel: kernel)
                results[kernel] = y
            }
            if let avx512 = results[.avx512] {
                #expect(avx512.map(\.bitPattern) == results[.avx2]!.map(\.bitPattern), "\(rows) rows")
            }
            if let avx2 = results[.avx2] {
                for (a, b) in zip(results[.blas]!, avx2) { #expect(abs(a - b) < 1e-4, "\(rows) rows") }
            }
        }
    }

    /// Panels hold the same products as the training layout: decoding gives the same bits, and
    /// the prefill path (sgemm on each thread's panels, one call per panel below
    /// `SGEMMKernel.minimumRows` rows, one call for all of them from there on) agrees to rounding.
    @Test func panelsGiveTheTrainingLayoutsResults() {
        let c = Self.inChannels, oc = 333  // six panels, the last one 13 wide
        let w = Self.values(c * oc, seed: 6), bias = Self.values(oc, seed: 7)
        let (panels, storage, _) = Self.weights(w, layout: .float32Panels, inputs: c, outputs: oc)
        withExtendedLifetime(storage) {
            w.withUnsafeBufferPointer { wp in
                for rows in [1, 5, Linear.vectorRows, 40, SGEMMKernel.minimumRows + 52] {
                    let x = Self.values(rows * c, seed: UInt64(rows))
                    var training = [Float](repeating: 0, count: rows * oc), packed = training
                    for (weights, out) in [(LinearWeights.inputMajor(wp.baseAddress!), 0), (panels, 1)] {
                        var y = [Float](repeating: 0, count: rows * oc)
                        Linear.forward(out: &y, inp: x, weights: weights, bias: bias, rows: rows, inChannels: c,
                                       outChannels: oc, workers: Workers(threads: 2))
                        if out == 0 { training = y } else { packed = y }
                    }
                    if rows <= Linear.vectorRows {
                        #expect(training == packed, "\(rows) rows")
                    } else {
                        for (a, b) in zip(training, packed) { #expect(abs(a - b) < 1e-4, "\(rows) rows") }
                    }
                }
            }
        }
    }

    /// Prefill on bfloat16 panels (each widened into a float32 tile, one product per panel) gives
    /// exactly what float32 panels holding the same rounded weights give (one product for each
    /// thread's panels).
    @Test func bfloat16PrefillEqualsItsFloat32Panels() {
        let c = Self.inChannels, oc = 333, rows = SGEMMKernel.minimumRows + 52
        let w = Self.values(c * oc, seed: 11), x = Self.values(rows * c, seed: 12), bias = Self.values(oc, seed: 13)
        let (halves, halvesStorage, rounded) = Self.weights(w, layout: .bfloat16Panels, inputs: c, outputs: oc)
        let (floats, floatsStorage, _) = Self.weights(rounded, layout: .float32Panels, inputs: c, outputs: oc)
        withExtendedLifetime((halvesStorage, floatsStorage)) {
            var results: [[Float]] = []
            for weights in [halves, floats] {
                var y = [Float](repeating: 0, count: rows * oc)
                Linear.forward(out: &y, inp: x, weights: weights, bias: bias, rows: rows, inChannels: c, outChannels: oc,
                               workers: Workers(threads: 2))
                results.append(y)
            }
            #expect(results[0] == results[1])
            #expect(results[0].contains { $0 != 0 })
        }
    }

    /// The bfloat16 kernels (AVX-512, AVX2, plain C) give identical bits.
    @Test func theBFloat16KernelsAgree() {
        let c = Self.inChannels, oc = Self.outChannels, rows = 7
        let w = Self.values(c * oc, seed: 8).map(ReducedPrecision.bfloat16), x = Self.values(rows * c, seed: 9)
        var kernels: [DecodeProducts.Kernel] = [.blas]
        if DecodeProducts.kernel != .blas { kernels.append(.avx2) }
        if DecodeProducts.kernel == .avx512 { kernels.append(.avx512) }
        var results: [[Float]] = []
        for kernel in kernels {
            var y = [Float](repeating: 0.5, count: rows * oc)
            DecodeProducts.inputMajor(w, ldw: oc, x: x, rows: rows, inChannels: c, columns: oc, y: &y, ldy: oc,
                                      kernel: kernel)
            results.append(y)
        }
        for result in results.dropFirst() { #expect(result == results[0]) }
        #expect(results[0].contains { $0 != 0.5 })
    }
}
