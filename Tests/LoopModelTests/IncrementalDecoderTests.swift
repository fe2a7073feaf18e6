import LoopKernels
@testable import LoopModel
import Testing

/// The inference paths (cached decoding, batched prefill, several sequences at once, whole
/// windows) against the training forward, which the PyTorch fixtures check.
@Suite struct IncrementalDecoderTests {
    func model(layout: LoopLayout = LoopLayout(prelude: 1, looped: 2, coda: 1, loops: 2), injectInput: Bool = false,
               loopEmbeddings: Int = 0, seed: UInt64 = 21) throws -> LoopGPT {
        let config = try ModelConfiguration(vocabSize: 61, contextLength: 16, channels: 24, heads: 3, layout: layout,
                                            injectInput: injectInput, loopEmbeddings: loopEmbeddings)
        var generator = SeededGenerator(seed: seed)
        let model = try LoopGPT(config: config, generator: &generator, workers: Workers(threads: 2))
        for i in 0..<model.parameters.count { model.parameters[i] += Float(generator.nextNormal() * 0.05) }
        return model
    }

    func fullLogits(_ model: LoopGPT, _ tokens: [Int32], loops: Int) throws -> [[Float]] {
        try model.forward(tokens: tokens, batch: 1, time: tokens.count, loops: loops)
        return (0..<tokens.count).map { Array(model.logits(row: $0)) }
    }

    @Test(arguments: [1, 3])
    func cachedLogitsEqualFullForward(loops: Int) throws {
        let m = try model()
        var generator = SeededGenerator(seed: 5)
        let tokens = randomTokens(16, vocab: 61, generator: &generator)
        let full = try fullLogits(m, tokens, loops: loops)
        let decoder = try IncrementalDecoder(model: LanguageModel(m), loops: loops)
        for (position, token) in tokens.enumerated() {
            let cached = Array(try decoder.step(token: token))
            #expect(relativeError(cached, full[position]) < 1e-5, "position \(position)")
        }
        #expect(throws: ModelError.self) { try decoder.step(token: 0) }
        decoder.cache.reset()
        #expect(relativeError(Array(try decoder.step(token: tokens[0])), full[0]) < 1e-5)
    }

    @Test func prefillInChunksEqualsTokenByToken() throws {
        let m = try model(injectInput: true, loopEmbeddings: 2)
        var generator = SeededGenerator(seed: 6)
        let tokens = randomTokens(16, vocab: 61, generator: &generator)
        let full = try fullLogits(m, tokens, loops: 3)
        for maxRows in [3, 16] {
            let decoder = try IncrementalDecoder(model: LanguageModel(m), loops: 3, maxRows: maxRows)
            try decoder.append([SlotInput(slot: 0, tokens: Array(tokens[..<11]))])
            #expect(relativeError(Array(decoder.logits(0)), full[10]) < 1e-5, "prefill of 11 in passes of \(maxRows)")
            try decoder.append([SlotInput(slot: 0, tokens: Array(tokens[11...]))])
            #expect(relativeError(Array(decoder.logits(0)), full[15]) < 1e-5)
            #expect(decoder.cache.length == 16 && decoder.loopsPerRow == [3, 3, 3, 3, 3])
        }
    }

    @Test func severalSequencesAtOnceEqualEachAlone() throws {
        let m = try model()
        let language = LanguageModel(m)
        var generator = SeededGenerator(seed: 7)
        let prompts = [5, 1, 9].map { randomTokens($0, vocab: 61, generator: &generator) }
        let together = try IncrementalDecoder(model: language, slots: 3)
        try together.append(prompts.enumerated().map { SlotInput(slot: $0.offset, tokens: $0.element) })
        for (i, prompt) in prompts.enumerated() {
            let alone = try IncrementalDecoder(model: language)
            try alone.append([SlotInput(slot: 0, tokens: prompt)])
            #expect(relativeError(Array(together.logits(i)), Array(alone.logits(0))) < 1e-5, "prompt \(i)")
        }
        // One more token for two of them, in the other order.
        try together.append([SlotInput(slot: 2, tokens: [4]), SlotInput(slot: 0, tokens: [8])])
        let alone = try IncrementalDecoder(model: language)
        try alone.append([SlotInput(slot: 0, tokens: prompts[0] + [8])])
        #expect(relativeError(Array(together.logits(1)), Array(alone.logits(0))) < 1e-5)
        #expect(together.cache.lengths == [6, 1, 10])
        #expect(throws: ModelError.self) { try together.append([SlotInput(slot: 3, tokens: [1])]) }
        #expect(throws: ModelError.self) { try together.append([SlotInput(slot: 0, tokens: [99])]) }
    }

    @Test func wholeWindowLossEqualsTheTrainingForward() throws {
        let m = try model(layout: LoopLayout(looped: 2, loops: 3), injectInput: true)
        var generator = SeededGenerator(seed: 8)
        let tokens = randomTokens(2 * 16, vocab: 61, generator: &generator)
        var targets = randomTokens(2 * 16, vocab: 61, generator: &generator)
        targets[3] = -1  // masked rows are left out of both
        targets[20] = -1
        let training = try #require(try m.forward(tokens: tokens, targets: targets, batch: 2, time: 16, loops: 4))
        let (sum, rows) = try LanguageModel(m).loss(tokens: tokens, targets: targets, batch: 2, time: 16, loops: 4)
        #expect(rows == 30)
        #expect(abs(sum / Double(rows) - Double(training)) < 1e-5)
    }
}

/// Reduced-precision weights against float32, through every inference path.
@Suite struct ReducedPrecisionModelTests {
    @Test(arguments: [(WeightPrecision.bfloat16, 0.01), (.int8, 0.03)])
    func logitsStayWithinTolerance(precision: WeightPrecision, tolerance: Double) throws {
        let config = try ModelConfiguration(vocabSize: 97, contextLength: 16, channels: 64, heads: 4,
                                            layout: LoopLayout(prelude: 1, looped: 1, coda: 1, loops: 3))
        var generator = SeededGenerator(seed: 12)
        let model = try LoopGPT(config: config, generator: &generator, workers: Workers(threads: 2))
        let tokens = randomTokens(16, vocab: 97, generator: &generator)
        let exact = try LanguageModel(model).logits(tokens: tokens, batch: 1, time: 16)
        let reduced = LanguageModel(weights: try model.weights.converted(to: precision, workers: model.workers), workers: model.workers)
        let approximate = try reduced.logits(tokens: tokens, batch: 1, time: 16)
        let error = relativeError(approximate, exact)
        #expect(error < tolerance, "\(precision): relative error \(error)")
        #expect(error > 0, "the weights really were converted")
        // The cached decoder on reduced weights gives what the whole-window pass gives.
        let decoder = try IncrementalDecoder(model: reduced)
        for (position, token) in tokens.enumerated() {
            let cached = Array(try decoder.step(token: token))
            #expect(relativeError(cached, Array(approximate[(position * 97)..<((position + 1) * 97)])) < 1e-4)
        }
    }
}

@Suite struct AdaptiveExitTests {
    func model(gate: Bool = false) throws -> LoopGPT {
        let config = try ModelConfiguration(vocabSize: 61, contextLength: 16, channels: 24, heads: 3,
                                            layout: LoopLayout(prelude: 1, looped: 1, coda: 1, loops: 4),
                                            injectInput: true, loopEmbeddings: 2, exitGate: gate)
        var generator = SeededGenerator(seed: 4)
        let model = try LoopGPT(config: config, generator: &generator, workers: Workers(threads: 2))
        for i in 0..<model.parameters.count { model.parameters[i] += Float(generator.nextNormal() * 0.05) }
        if let weight = model.table.exitGateWeight, let bias = model.table.exitGateBias {  // a gate that says something
            for i in 0..<weight.count { model.parameters[weight.offset + i] = Float(generator.nextNormal() * 0.8) }
            model.parameters[bias.offset] = -0.5
        }
        return model
    }

    func tokens() -> [Int32] {
        var generator = SeededGenerator(seed: 17)
        return randomTokens(16, vocab: 61, generator: &generator)
    }

    func decode(_ model: LoopGPT, _ tokens: [Int32], exit: ExitRule, loops: Int = 6) throws -> ([[Float]], [Int]) {
        let decoder = try IncrementalDecoder(model: LanguageModel(model), loops: loops)
        var logits: [[Float]] = [], used: [Int] = []
        for token in tokens {
            logits.append(Array(try decoder.step(token: token, exit: exit)))
            used += decoder.loopsPerRow
        }
        return (logits, used)
    }

    static let earlyRules: [ExitRule] = [.change(0.3), .kl(0.05), .gate(0.6)]

    /// Threshold 0 and gate:1 never stop a token early: bit for bit the fixed-loop output.
    @Test func rulesThatNeverFireEqualFixedLoopingExactly() throws {
        let m = try model(gate: true), input = tokens()
        let (fixed, fixedLoops) = try decode(m, input, exit: .fixed)
        for rule in [ExitRule.change(0), .kl(0), .gate(1)] {
            let (adaptive, loops) = try decode(m, input, exit: rule)
            #expect(adaptive == fixed, "\(rule)")
            #expect(loops == fixedLoops && loops.allSatisfy { $0 == 6 })
        }
        // …and the fixed-loop decoder equals a full forward (injection and step embeddings included).
        try m.forward(tokens: input, batch: 1, time: 16, loops: 6)
        for row in 0..<16 { #expect(relativeError(fixed[row], Array(m.logits(row: row))) < 1e-5) }
    }

    /// Cached generation with exits equals recomputing the window with the same rule: token by
    /// token on a fresh cache for every prefix, and the whole window in one pass (where the
    /// rows that exit leave the batch).
    @Test(arguments: earlyRules)
    func cachedAdaptiveExitEqualsRecomputation(rule: ExitRule) throws {
        let m = try model(gate: true), input = tokens()
        let (cached, loops) = try decode(m, input, exit: rule)
        #expect(loops.contains { $0 < 6 }, "some tokens exit early: \(loops)")
        #expect(loops.allSatisfy { $0 >= 1 && $0 <= 6 })
        for end in 1...input.count {
            let (again, againLoops) = try decode(m, Array(input[..<end]), exit: rule)
            #expect(again.last! == cached[end - 1] && againLoops == Array(loops[..<end]))
        }
        let decoder = try IncrementalDecoder(model: LanguageModel(m), loops: 6)
        try decoder.append([SlotInput(slot: 0, tokens: input)], exit: rule)
        #expect(decoder.loopsPerRow == loops)
        #expect(relativeError(Array(decoder.logits(0)), cached.last!) < 1e-5)
    }

    /// What later passes read of an exited token: its keys and values from its last pass.
    @Test func anExitedTokenLeavesItsLastKeysAndValuesToLaterPasses() throws {
        let m = try model(gate: true), input = tokens()
        let decoder = try IncrementalDecoder(model: LanguageModel(m), loops: 6)
        try decoder.append([SlotInput(slot: 0, tokens: input)], exit: .gate(0.6))
        let layout = decoder.cache.layout, c = m.config.channels
        var checked = 0
        for (position, used) in decoder.loopsPerRow.enumerated() where used < layout.loops {
            let last = decoder.cache.layer(layout.prelude + (used - 1) * layout.looped)
            for later in used..<layout.loops {
                let layer = decoder.cache.layer(layout.prelude + later * layout.looped)
                let at = position * c
                #expect(Array(UnsafeBufferPointer(start: layer.keys + at, count: c)) == Array(UnsafeBufferPointer(start: last.keys + at, count: c)))
                #expect(Array(UnsafeBufferPointer(start: layer.values + at, count: c)) == Array(UnsafeBufferPointer(start: last.values + at, count: c)))
                checked += 1
            }
        }
        #expect(checked > 0)
    }

    /// Sequences of different requests in one batch, each with its own rule and loop cap, get
    /// bit for bit what each gets decoded alone in a decoder built for its cap (what the
    /// server's continuous batching relies on): prompts prefilled alone, then decoded together.
    @Test func sequencesWithTheirOwnRulesAndCapsInOneBatchEqualEachAlone() throws {
        let m = try model(gate: true), model = LanguageModel(m)
        let settings: [(ExitRule, Int)] = [(.fixed, 6), (.fixed, 2), (.kl(0.05), 6), (.gate(0.6), 5), (.change(0.3), 3)]
        var generator = SeededGenerator(seed: 9)
        let prompts = settings.indices.map { randomTokens(3 + $0, vocab: 61, generator: &generator) }
        let steps = 5
        // Alone: prefill, then greedy tokens one at a time, at the cap as the decoder's loops.
        var alone: [[Int]] = [], aloneLoops: [[Int]] = []
        for (i, (rule, cap)) in settings.enumerated() {
            let decoder = try IncrementalDecoder(model: model, loops: cap)
            try decoder.append([SlotInput(slot: 0, tokens: prompts[i])], exit: rule)
            var tokens: [Int] = [], used = decoder.loopsPerRow
            for _ in 0..<steps {
                var sampler = Sampler(temperature: 0, seed: 0)
                let next = sampler.sample(decoder.logits(0))
                tokens.append(next)
                try decoder.append([SlotInput(slot: 0, tokens: [Int32(next)])], exit: rule)
                used += decoder.loopsPerRow
            }
            alone.append(tokens)
            aloneLoops.append(used)
        }
        // Together: one decoder at the largest cap, each sequence in its slot with its own rule and cap.
        let decoder = try IncrementalDecoder(model: model, slots: settings.count, loops: 6)
        var logits: [[Float]] = [], together = settings.map { _ in [Int]() }, togetherLoops = settings.map { _ in [Int]() }
        for (i, (rule, cap)) in settings.enumerated() {
            try decoder.append([SlotInput(slot: i, tokens: prompts[i], exit: rule, loops: cap)])
            logits.append(Array(decoder.logits(0)))
            togetherLoops[i] = decoder.loopsPerRow
        }
        for _ in 0..<steps {
            var inputs: [SlotInput] = []
            for (i, (rule, cap)) in settings.enumerated() {
                var sampler = Sampler(temperature: 0, seed: 0)
                let next = logits[i].withUnsafeBufferPointer { sampler.sample($0) }
                together[i].append(next)
                inputs.append(SlotInput(slot: i, tokens: [Int32(next)], exit: rule, loops: cap))
            }
            try decoder.append(inputs)
            logits = settings.indices.map { Array(decoder.logits($0)) }
            for i in settings.indices { togetherLoops[i].append(decoder.loopsPerRow[i]) }
        }
        #expect(together == alone)
        #expect(togetherLoops == aloneLoops)
        #expect(togetherLoops[1].allSatisfy { $0 == 2 } && togetherLoops[4].allSatisfy { $0 <= 3 })
        #expect(togetherLoops[2].contains { $0 < 6 }, "the kl sequence exits early somewhere")
        #expect(throws: ModelError.self) { try decoder.append([SlotInput(slot: 0, tokens: [1], loops: 7)]) }
    }

    /// The gate rule needs a gate; a model without one is refused with a sentence.
    @Test func theGateRuleNeedsAGate() throws {
        let decoder = try IncrementalDecoder(model: LanguageModel(try model(gate: false)), loops: 4)
        #expect(throws: ModelError.self) { try decoder.append([SlotInput(slot: 0, tokens: [1, 2])], exit: .gate(0.5)) }
        #expect(ExitRule(argument: "gate:0") == nil && ExitRule(argument: "gate:1.5") == nil && ExitRule(argument: "gate:1") == .gate(1))
        #expect(ExitRule(argument: "change:-1") == nil && ExitRule(argument: "kl:0.01") == .kl(0.01) && ExitRule(argument: "fixed") == .fixed)
    }
}
