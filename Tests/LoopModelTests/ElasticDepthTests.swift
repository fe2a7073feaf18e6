import LoopKernels
@testable import LoopModel
import Testing

/// Input injection, step embeddings and truncated backpropagation: exact gradients for what
/// they cover, by finite differences.
@Suite struct ElasticDepthTests {
    let workers = Workers(threads: 2)
    let batch = 2, time = 8

    func model(_ layout: LoopLayout, inject: Bool = false, embeddings: Int = 0, seed: UInt64 = 13) throws -> LoopGPT {
        let config = try ModelConfiguration(vocabSize: 37, contextLength: 8, channels: 16, heads: 2, layout: layout,
                                            injectInput: inject, loopEmbeddings: embeddings)
        var generator = SeededGenerator(seed: seed)
        let model = try LoopGPT(config: config, generator: &generator, workers: workers)
        for i in 0..<model.parameters.count { model.parameters[i] += Float(generator.nextNormal() * 0.1) }
        return model
    }

    func data(_ seed: UInt64) -> ([Int32], [Int32]) {
        var generator = SeededGenerator(seed: seed)
        return (randomTokens(batch * time, vocab: 37, generator: &generator),
                randomTokens(batch * time, vocab: 37, generator: &generator))
    }

    @Test(arguments: [2, 3, 5])
    func injectionAndStepEmbeddingsAtAnySampledLoopCount(loops: Int) throws {
        // Trained with 3 loops and a 4-row table; drawn loop counts 2, 3 and 5 (past the table).
        let m = try model(LoopLayout(prelude: 1, looped: 2, coda: 1, loops: 3), inject: true, embeddings: 4)
        let spec = try #require(m.table.loopEmbedding)
        for i in 0..<spec.count { m.parameters[spec.offset + i] = Float(i % 7) * 0.01 - 0.03 }
        let (tokens, targets) = data(5)
        func loss() throws -> Double {
            Double(try m.forward(tokens: tokens, targets: targets, batch: batch, time: time, loops: loops)!)
        }
        m.zeroGradients()
        _ = try loss()
        m.backward()
        // Rows of the step-embedding table that this loop count uses get gradient; others none.
        let used = Set((0..<loops).map { min($0, 3) })
        for row in 0..<4 {
            let values = (0..<16).map { m.gradients[spec.offset + row * 16 + $0] }
            #expect(values.contains { $0 != 0 } == used.contains(row), "row \(row)")
        }
        try checkFiniteDifferences(m, tensors: m.table.tensors.filter { $0.name != "loop_embedding.weight" }, loss: loss)
        // The used rows, one at a time.
        for row in used.sorted() {
            let rowSpec = TensorSpec(name: "loop_embedding.weight[\(row)]", shape: [16], offset: spec.offset + row * 16,
                                     allocatedCount: 16, decays: true, initialisation: .zeros)
            try checkFiniteDifferences(m, tensors: [rowSpec], loss: loss)
        }
    }

    /// Truncated to the last k passes, the gradient of the looped blocks and everything after
    /// them equals the full gradient of a model whose earlier passes are separate prelude
    /// blocks — checked there by finite differences.
    @Test(arguments: [1, 2])
    func truncatedBackpropagationIsExactForTheLastPasses(gradientLoops: Int) throws {
        let loops = 3, layout = LoopLayout(prelude: 1, looped: 2, coda: 1, loops: loops)
        let looped = try model(layout)
        let (tokens, targets) = data(8)
        looped.zeroGradients()
        let truncatedLoss = try looped.forward(tokens: tokens, targets: targets, batch: batch, time: time,
                                               gradientLoops: gradientLoops)!
        looped.backward()

        // The same function with the first (loops − k) passes unrolled into the prelude.
        let early = loops - gradientLoops
        let split = try model(LoopLayout(prelude: 1 + 2 * early, looped: 2, coda: 1, loops: gradientLoops))
        let s = looped.table, t = split.table
        for (from, to) in [(s.wte, t.wte), (s.wpe, t.wpe), (s.lnfWeight, t.lnfWeight), (s.lnfBias, t.lnfBias)] {
            (split.parameters.pointer + to.offset).update(from: looped.parameters.pointer + from.offset, count: from.allocatedCount)
        }
        let mapping = [0] + (0..<early).flatMap { _ in [1, 2] } + [1, 2, 3]  // split block → looped block
        for (target, source) in mapping.enumerated() {
            for tensor in BlockTensor.allCases {
                let count = tensor.shape(channels: 16).reduce(1, *)
                (split.parameters.pointer + t.offset(block: target, tensor))
                    .update(from: looped.parameters.pointer + s.offset(block: source, tensor), count: count)
            }
        }
        func loss() throws -> Double { Double(try split.forward(tokens: tokens, targets: targets, batch: batch, time: time)!) }
        split.zeroGradients()
        #expect(abs(try loss() - Double(truncatedLoss)) < 1e-6, "same function")
        split.backward()
        let covered = [(1 + 2 * early, 1), (2 + 2 * early, 2), (3 + 2 * early, 3)]  // (split block, looped block)
        for (target, source) in covered {
            for tensor in BlockTensor.allCases {
                let count = tensor.shape(channels: 16).reduce(1, *)
                let a = Array(UnsafeBufferPointer(start: looped.gradients.pointer + s.offset(block: source, tensor), count: count))
                let b = Array(UnsafeBufferPointer(start: split.gradients.pointer + t.offset(block: target, tensor), count: count))
                #expect(relativeError(a, b) < 1e-5, "block \(source) \(tensor.suffix)")
            }
        }
        #expect(relativeError(parameterArray(looped, s.lnfWeight, gradients: true), parameterArray(split, t.lnfWeight, gradients: true)) < 1e-5)
        // The prelude sits before the truncated passes: no gradient reaches it.
        #expect(parameterArray(looped, s.tensors.first { $0.name == "h.0.mlp.c_fc.weight" }!, gradients: true).allSatisfy { $0 == 0 })
        let coveredSpecs = t.tensors.filter { spec in covered.contains { spec.name.hasPrefix("h.\($0.0).") } }
        try checkFiniteDifferences(split, tensors: coveredSpecs, loss: loss)
    }

    @Test func truncationKeepsFewerActivationsAndTheSameLoss() throws {
        let m = try model(LoopLayout(looped: 2, loops: 6), inject: true)
        let (tokens, targets) = data(3)
        let full = try m.forward(tokens: tokens, targets: targets, batch: batch, time: time)!
        let truncated = try m.forward(tokens: tokens, targets: targets, batch: batch, time: time, gradientLoops: 1)!
        #expect(full == truncated, "truncation changes gradients, not the forward")
        m.zeroGradients()
        m.backward()
        let spec = m.table.tensors.first { $0.name == "wpe.weight" }!
        #expect(parameterArray(m, spec, gradients: true).contains { $0 != 0 }, "injection carries gradient to the embeddings")
    }
}
