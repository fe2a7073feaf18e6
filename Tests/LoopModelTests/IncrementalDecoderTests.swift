import LoopKernels
import LoopModel
import Testing

@Suite struct IncrementalDecoderTests {
    @Test(arguments: [1, 3])
    func cachedLogitsEqualFullForward(loops: Int) throws {
        let config = try ModelConfiguration(vocabSize: 61, contextLength: 16, channels: 24, heads: 3,
                                            layout: LoopLayout(prelude: 1, looped: 2, coda: 1, loops: 2))
        var generator = SeededGenerator(seed: 21)
        let model = LoopGPT(config: config, generator: &generator, workers: Workers(threads: 2))
        for i in 0..<model.parameters.count { model.parameters[i] += Float(generator.nextNormal() * 0.05) }
        let tokens = randomTokens(16, vocab: 61, generator: &generator)
        try model.forward(tokens: tokens, batch: 1, time: 16, loops: loops)
        let full = (0..<16).map { Array(model.logits(row: $0)) }
        let decoder = IncrementalDecoder(model: model)
        let cache = KVCache(config: config, loops: loops)
        for (position, token) in tokens.enumerated() {
            let cached = Array(try decoder.step(token: token, cache: cache))
            #expect(relativeError(cached, full[position]) < 1e-5, "position \(position)")
        }
        #expect(throws: ModelInputError.self) { try decoder.step(token: 0, cache: cache) }
        cache.reset()
        #expect(relativeError(Array(try decoder.step(token: tokens[0], cache: cache)), full[0]) < 1e-5)
    }
}
