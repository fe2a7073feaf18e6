import LoopKernels
import LoopModel
import Testing

/// A looped model is the plain GPT-2 whose layers repeat the shared weights.
@Suite struct LoopEquivalenceTests {
    let workers = Workers(threads: 2)
    let batch = 2, time = 12

    func config(_ layout: LoopLayout) throws -> ModelConfiguration {
        try ModelConfiguration(vocabSize: 50, contextLength: 16, channels: 24, heads: 3, layout: layout)
    }

    /// Copies block `from` of `source` into block `to` of `target`.
    func copyBlock(_ source: LoopGPT, _ from: Int, into target: LoopGPT, _ to: Int) {
        for tensor in BlockTensor.allCases {
            let count = tensor.shape(channels: source.config.channels).reduce(1, *)
            (target.parameters.pointer + target.table.offset(block: to, tensor))
                .update(from: source.parameters.pointer + source.table.offset(block: from, tensor), count: count)
        }
    }

    func copyShared(_ source: LoopGPT, into target: LoopGPT) {
        let s = source.table, t = target.table
        for (from, to) in [(s.wte, t.wte), (s.wpe, t.wpe), (s.lnfWeight, t.lnfWeight), (s.lnfBias, t.lnfBias)] {
            (target.parameters.pointer + to.offset).update(from: source.parameters.pointer + from.offset,
                                                           count: from.allocatedCount)
        }
    }

    func logits(_ model: LoopGPT, _ tokens: [Int32]) throws -> [Float] {
        try model.forward(tokens: tokens, batch: batch, time: time)
        return (0..<(batch * time)).flatMap { Array(model.logits(row: $0)) }
    }

    @Test func loopedEqualsUnrolledInOutputAndSummedGradients() throws {
        let layout = LoopLayout(prelude: 1, looped: 2, coda: 1, loops: 3)
        var generator = SeededGenerator(seed: 11)
        let looped = try LoopGPT(config: try config(layout), generator: &generator, workers: workers)
        let unrolled = try LoopGPT(config: try config(LoopLayout(looped: layout.effectiveDepth)), workers: workers)
        copyShared(looped, into: unrolled)
        for (application, block) in layout.executionOrder.enumerated() {
            copyBlock(looped, block, into: unrolled, application)
        }
        let tokens = randomTokens(batch * time, vocab: 50, generator: &generator)
        let targets = randomTokens(batch * time, vocab: 50, generator: &generator)
        let a = try logits(looped, tokens), b = try logits(unrolled, tokens)
        let identical = a == b
        #expect(identical, "bit-identical logits: relative error \(relativeError(a, b))")

        for model in [looped, unrolled] {
            model.zeroGradients()
            try model.forward(tokens: tokens, targets: targets, batch: batch, time: time)
            model.backward()
        }
        for tensor in BlockTensor.allCases {
            let count = tensor.shape(channels: 24).reduce(1, *)
            for block in 0..<layout.uniqueBlocks {
                var summed = [Float](repeating: 0, count: count)
                for (application, b) in layout.executionOrder.enumerated() where b == block {
                    let g = unrolled.gradients.pointer + unrolled.table.offset(block: application, tensor)
                    for i in 0..<count { summed[i] += g[i] }
                }
                let ours = Array(UnsafeBufferPointer(
                    start: looped.gradients.pointer + looped.table.offset(block: block, tensor), count: count))
                #expect(relativeError(ours, summed) < 1e-5, "block \(block) \(tensor.suffix)")
            }
        }
    }

    @Test func oneLoopWithoutPreludeOrCodaIsPlainGPT2() throws {
        // The same four blocks described as prelude/looped/coda run once equal GPT-2's stack.
        var generator = SeededGenerator(seed: 5)
        let plain = try LoopGPT(config: try config(LoopLayout(looped: 4)), generator: &generator, workers: workers)
        let split = try LoopGPT(config: try config(LoopLayout(prelude: 1, looped: 2, coda: 1)), workers: workers)
        split.parameters.pointer.update(from: plain.parameters.pointer, count: plain.parameters.count)
        let tokens = randomTokens(batch * time, vocab: 50, generator: &generator)
        #expect(try logits(plain, tokens) == logits(split, tokens))
        #expect(plain.table.tensors.map(\.name) == split.table.tensors.map(\.name))
    }

    @Test func parameterCountDoesNotDependOnLoops() throws {
        let counts = try [1, 2, 6].map { ParameterTable(try config(LoopLayout(looped: 3, loops: $0))).parameterCount }
        #expect(Set(counts).count == 1)
        let memory = try [1, 2].map { ActivationMemory(config: try config(LoopLayout(looped: 3, loops: $0)), batch: 2, time: 8) }
        #expect(memory[1].total! > memory[0].total!, "activation memory grows with applications")
    }

    @Test func evaluatingAtAnotherLoopCountMatchesThatLayout() throws {
        var generator = SeededGenerator(seed: 9)
        let model = try LoopGPT(config: try config(LoopLayout(looped: 2, loops: 2)), generator: &generator, workers: workers)
        let deeper = try LoopGPT(config: try config(LoopLayout(looped: 2, loops: 5)), workers: workers)
        deeper.parameters.pointer.update(from: model.parameters.pointer, count: model.parameters.count)
        let tokens = randomTokens(batch * time, vocab: 50, generator: &generator)
        try model.forward(tokens: tokens, batch: batch, time: time, loops: 5)
        let viaOverride = (0..<(batch * time)).flatMap { Array(model.logits(row: $0)) }
        #expect(try viaOverride == logits(deeper, tokens))
    }
}
