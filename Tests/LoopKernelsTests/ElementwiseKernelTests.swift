import CKernels
@testable import LoopKernels
import Testing

/// The AVX2+FMA softmax and GELU kernels (CKernels, chosen at run time) against the portable
/// Swift ones they replace: cross-entropy losses and gradients, GELU values and derivatives,
/// on rows whose lengths leave tails the vector loops do not cover, with masked rows and
/// extreme logits.
@Suite struct ElementwiseKernelTests {
    static func values(_ count: Int, seed: UInt64, spread: Float) -> [Float] {
        var state = seed
        return (0..<count).map { _ in
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return Float(Int64(bitPattern: state >> 11) % 20001 - 10000) / 10000 * spread
        }
    }

    static func relativeError(_ a: [Float], _ b: [Float]) -> Float {
        zip(a, b).map { abs($0 - $1) / max(abs($1), 1e-6) }.max() ?? 0
    }

    @Test(arguments: [(3, 1000, 1003), (4, 2051, 2056), (2, 7, 8)])
    func crossEntropyAgrees(rows: Int, vocab: Int, padded: Int) throws {
        guard CPU.hasAVX2Kernels else { return }  // nothing to compare on this CPU
        var logits = Self.values(rows * padded, seed: UInt64(vocab), spread: 30)
        logits[5] = 80  // a dominant logit: the running max moves between blocks
        let targets = (0..<rows).map { $0 == 1 ? CrossEntropy.ignored : Int32(($0 * 37) % vocab) }
        var results: [(loss: Float, gradients: [Float])] = []
        for avx2 in [true, false] {
            var x = logits, rowMax = [Float](repeating: 0, count: rows), normalizers = rowMax, losses = rowMax
            let loss = CrossEntropy.forward(logits: x, rowMax: &rowMax, normalizers: &normalizers, losses: &losses,
                                            targets: targets, rows: rows, vocabSize: vocab, paddedVocabSize: padded,
                                            workers: Workers(threads: 2), avx2: avx2)
            CrossEntropy.backward(logits: &x, rowMax: rowMax, normalizers: normalizers, targets: targets,
                                  lossScale: 0.5, rows: rows, vocabSize: vocab, paddedVocabSize: padded,
                                  workers: Workers(threads: 2), avx2: avx2)
            results.append((loss, x))
        }
        #expect(abs(results[0].loss - results[1].loss) <= 1e-5 * abs(results[1].loss))
        let (fast, plain) = (results[0].gradients, results[1].gradients)
        #expect(zip(fast, plain).allSatisfy { abs($0 - $1) <= 1e-6 * max(abs($1), 1e-3) })
        #expect(fast[padded..<(2 * padded)].allSatisfy { $0 == 0 }, "a masked row has no gradient")
    }

    @Test func geluAgrees() throws {
        guard CPU.hasAVX2Kernels else { return }
        let count = 4099  // a tail after the vectors, and chunks split over two threads
        let x = Self.values(count, seed: 9, spread: 12), dout = Self.values(count, seed: 10, spread: 1)
        var outputs: [[Float]] = [], derivatives: [[Float]] = []
        for avx2 in [true, false] {
            var out = [Float](repeating: 0, count: count), dinp = dout
            GELU.forward(out: &out, inp: x, count: count, workers: Workers(threads: 2), avx2: avx2)
            GELU.backward(dinp: &dinp, inp: x, dout: dinp, count: count, workers: Workers(threads: 2), avx2: avx2)
            outputs.append(out)
            derivatives.append(dinp)
        }
        #expect(zip(outputs[0], outputs[1]).allSatisfy { abs($0 - $1) <= 1e-6 * max(abs($1), 1) })
        #expect(zip(derivatives[0], derivatives[1]).allSatisfy { abs($0 - $1) <= 1e-6 * max(abs($1), 1) })
    }

    /// The AVX2 GELU works four vectors at a time and the rest one (masked) vector at a time:
    /// every value must be the same bits whichever path computes it. Each value of a 4,000-long run
    /// (most of it in groups of four) is compared with the same value alone (the single path), and
    /// runs of every length up to 40 with the long run's first values. The inputs are mostly where
    /// GELU is not yet saturated (|x| < 4), so a different rounding shows.
    @Test func geluIsTheSameInEveryPosition() throws {
        guard CPU.hasAVX2Kernels else { return }
        let count = 4000
        let x = Self.values(count, seed: 11, spread: 4), dout = Self.values(count, seed: 12, spread: 1)
        func run(_ first: Int, _ length: Int) -> (values: [UInt32], derivatives: [UInt32]) {
            let inp = Array(x[first..<(first + length)]), d = Array(dout[first..<(first + length)])
            var out = [Float](repeating: 0, count: length), dinp = [Float](repeating: 0, count: length)
            looplm_gelu_forward_avx2(&out, inp, length)
            looplm_gelu_backward_avx2(&dinp, inp, d, length)
            return (out.map(\.bitPattern), dinp.map(\.bitPattern))
        }
        let whole = run(0, count)
        var differing: [Int] = []
        for i in 0..<count {
            let alone = run(i, 1)
            if alone.values[0] != whole.values[i] || alone.derivatives[0] != whole.derivatives[i] { differing.append(i) }
        }
        #expect(differing.isEmpty, "values computed alone differ at \(differing.prefix(8))")
        for length in 1...40 {
            let prefix = run(0, length)
            #expect(prefix.values == Array(whole.values[0..<length]) &&
                    prefix.derivatives == Array(whole.derivatives[0..<length]), "a run of \(length)")
        }
    }
}
