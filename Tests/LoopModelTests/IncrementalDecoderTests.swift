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

@Suite struct AdaptiveExitTests {
    func model() throws -> LoopGPT {
        let config = try ModelConfiguration(vocabSize: 61, contextLength: 16, channels: 24, heads: 3,
                                            layout: LoopLayout(prelude: 1, looped: 1, coda: 1, loops: 4),
                                            injectInput: true, loopEmbeddings: 2)
        var generator = SeededGenerator(seed: 4)
        let model = LoopGPT(config: config, generator: &generator, workers: Workers(threads: 2))
        for i in 0..<model.parameters.count { model.parameters[i] += Float(generator.nextNormal() * 0.05) }
        return model
    }

    func tokens() -> [Int32] {
        var generator = SeededGenerator(seed: 17)
        return randomTokens(16, vocab: 61, generator: &generator)
    }

    func decode(_ model: LoopGPT, _ tokens: [Int32], exit: ExitRule?, loops: Int = 6) throws -> ([[Float]], [Int]) {
        let decoder = IncrementalDecoder(model: model)
        let cache = KVCache(config: model.config, loops: loops)
        var logits: [[Float]] = [], used: [Int] = []
        for token in tokens {
            let (l, n) = try decoder.step(token: token, cache: cache, exit: exit)
            logits.append(Array(l))
            used.append(n)
        }
        return (logits, used)
    }

    @Test func thresholdZeroEqualsTheFixedLoopOutputExactly() throws {
        let m = try model(), input = tokens()
        let (fixed, fixedLoops) = try decode(m, input, exit: nil)
        for criterion in ExitRule.Criterion.allCases {
            let (adaptive, loops) = try decode(m, input, exit: ExitRule(criterion: criterion, threshold: 0))
            #expect(adaptive == fixed, "\(criterion)")
            #expect(loops == fixedLoops && loops.allSatisfy { $0 == 6 })
        }
        // …and the fixed-loop decoder equals a full forward (injection and step embeddings included).
        try m.forward(tokens: input, batch: 1, time: 16, loops: 6)
        for row in 0..<16 { #expect(relativeError(fixed[row], Array(m.logits(row: row))) < 1e-5) }
    }

    @Test(arguments: ExitRule.Criterion.allCases)
    func cachedAdaptiveExitEqualsRecomputation(criterion: ExitRule.Criterion) throws {
        let m = try model(), input = tokens()
        let rule = ExitRule(criterion: criterion, threshold: criterion == .change ? 0.3 : 0.05)
        let (cached, loops) = try decode(m, input, exit: rule)
        #expect(loops.contains { $0 < 6 }, "some tokens exit early: \(loops)")
        #expect(loops.allSatisfy { $0 >= 1 && $0 <= 6 })
        // Recompute: a fresh cache for every prefix, the whole prefix fed again.
        for end in 1...input.count {
            let (again, againLoops) = try decode(m, Array(input[..<end]), exit: rule)
            #expect(again.last! == cached[end - 1] && againLoops == Array(loops[..<end]))
        }
    }
}
