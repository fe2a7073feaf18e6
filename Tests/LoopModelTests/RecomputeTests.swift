import LoopKernels
import LoopModel
import Testing

/// Recomputing each block's internals in backward changes memory, never the numbers.
@Suite struct RecomputeTests {
    func gradients(_ config: ModelConfiguration, recompute: Bool, batch: Int, time: Int, loops: Int? = nil,
                   gradientLoops: Int? = nil) throws -> (loss: Float, gradients: [Float]) {
        var generator = SeededGenerator(seed: 31)
        let model = try LoopGPT(config: config, generator: &generator, workers: Workers(threads: 2))
        for i in 0..<model.parameters.count { model.parameters[i] += Float(generator.nextNormal() * 0.02) }
        model.recompute = recompute
        let tokens = randomTokens(batch * time, vocab: config.vocabSize, generator: &generator)
        var targets = randomTokens(batch * time, vocab: config.vocabSize, generator: &generator)
        targets[1] = -1
        model.zeroGradients()
        let loss = try #require(try model.forward(tokens: tokens, targets: targets, batch: batch, time: time, loops: loops,
                                                  gradientLoops: gradientLoops))
        model.backward()
        return (loss, model.gradients.array)
    }

    @Test(arguments: [false, true])
    func gradientsAreBitIdentical(injection: Bool) throws {
        let config = try ModelConfiguration(vocabSize: 70, contextLength: 300, channels: 16, heads: 2,
                                            layout: LoopLayout(prelude: 1, looped: 2, coda: 1, loops: 3),
                                            injectInput: injection, loopEmbeddings: injection ? 2 : 0)
        // 600 rows: the head works in two chunks of rows.
        for (loops, gradientLoops) in [(3, nil), (4, 2)] as [(Int, Int?)] {
            let plain = try gradients(config, recompute: false, batch: 2, time: 300, loops: loops, gradientLoops: gradientLoops)
            let recomputed = try gradients(config, recompute: true, batch: 2, time: 300, loops: loops, gradientLoops: gradientLoops)
            #expect(plain.gradients == recomputed.gradients, "loops \(loops), kept \(String(describing: gradientLoops))")
            #expect(plain.loss == recomputed.loss)
        }
    }

    @Test func activationMemoryNoLongerGrowsWithLoops() throws {
        func config(_ loops: Int) throws -> ModelConfiguration {
            try ModelConfiguration(vocabSize: 50257, contextLength: 1024, channels: 768, heads: 12,
                                   layout: LoopLayout(looped: 6, loops: loops))
        }
        let kept = try ActivationMemory(config: config(6), batch: 4, time: 1024).total!
        let recomputed = try ActivationMemory(config: config(6), batch: 4, time: 1024, recompute: true).total!
        #expect(kept > 12_000_000_000 && recomputed < 1_500_000_000, "\(kept) → \(recomputed)")
        let deeper = try ActivationMemory(config: config(12), batch: 4, time: 1024, recompute: true).total!
        #expect(deeper - recomputed < 500_000_000, "only the C floats per row per application grow")
    }
}
