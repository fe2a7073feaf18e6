@testable import LoopKernels
import Testing

/// The AVX2 AdamW kernel does the Swift loop's operations in the Swift loop's order: the same
/// bits, step after step (resuming a run bit for bit depends on it).
@Suite struct AdamWKernelTests {
    @Test func theAVX2KernelEqualsTheSwiftLoopBitForBit() throws {
        try #require(CPU.hasAVX2Kernels || CPU.simd < .avx2, "an AVX2 CPU has the AVX2 kernel")
        guard CPU.hasAVX2Kernels else { return }  // nothing to compare on this CPU
        let count = 1_003  // a tail the vector loop leaves to Swift
        let start = ReducedDotTests.values(count, seed: 11)
        var states: [[[Float]]] = []  // per kernel: parameters, m, v
        for useAVX2 in [false, true] {
            var p = start, m = [Float](repeating: 0, count: count), v = m
            for step in 1...5 {
                let g = ReducedDotTests.values(count, seed: UInt64(20 + step)).map { $0 * Float(step) }
                g.withUnsafeBufferPointer { gp in
                    AdamWKernel.update(parameters: &p, gradients: gp.baseAddress!, firstMoment: &m, secondMoment: &v,
                                       count: count, step: step, learningRate: 3e-3, weightDecay: step == 3 ? 0 : 0.1,
                                       gradientScale: step == 2 ? 0.37 : 1, hyper: AdamWHyperparameters(),
                                       workers: Workers(threads: 2), useAVX2: useAVX2)
                }
            }
            states.append([p, m, v])
        }
        #expect(states[0] == states[1])
        #expect(states[0][0] != start, "the parameters moved")
    }
}
