import LoopKernels
import LoopModel
import Testing

/// Finite differences through the whole model with prelude, looped (loops > 1) and coda
/// blocks: for every parameter tensor, the derivative along its own gradient direction.
@Suite struct ModelGradientTests {
    @Test func everyTensorOfALoopedModel() throws {
        let config = try ModelConfiguration(
            vocabSize: 37, contextLength: 8, channels: 16, heads: 2,
            layout: LoopLayout(prelude: 1, looped: 2, coda: 1, loops: 3))
        var generator = SeededGenerator(seed: 7)
        let model = try LoopGPT(config: config, generator: &generator, workers: Workers(threads: 2))
        // Larger weights than GPT-2's init so every path carries signal.
        for i in 0..<model.parameters.count { model.parameters[i] += Float(generator.nextNormal() * 0.1) }
        let batch = 2, time = 8
        let tokens = randomTokens(batch * time, vocab: 37, generator: &generator)
        let targets = randomTokens(batch * time, vocab: 37, generator: &generator)
        func loss() throws -> Double {
            Double(try model.forward(tokens: tokens, targets: targets, batch: batch, time: time)!)
        }
        model.zeroGradients()
        _ = try loss()
        model.backward()
        try checkFiniteDifferences(model, tensors: model.table.tensors, loss: loss)
    }
}
