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
        let model = LoopGPT(config: config, generator: &generator, workers: Workers(threads: 2))
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
        let step: Float = 1e-2
        for spec in model.table.tensors {
            let gradient = parameterArray(model, spec, gradients: true)
            let norm = gradient.reduce(0) { $0 + Double($1) * Double($1) }.squareRoot()
            try #require(norm > 1e-6, "\(spec.name) has no gradient")
            let p = model.parameters.pointer + spec.offset
            let original = Array(UnsafeBufferPointer(start: p, count: spec.count))
            for i in 0..<spec.count { p[i] = original[i] + step * gradient[i] / Float(norm) }
            let plus = try loss()
            for i in 0..<spec.count { p[i] = original[i] - step * gradient[i] / Float(norm) }
            let minus = try loss()
            p.update(from: original, count: spec.count)
            let numeric = (plus - minus) / Double(2 * step)
            #expect(abs(numeric - norm) <= 2e-2 * norm + 1e-4,
                    "\(spec.name): finite difference \(numeric), analytic \(norm)")
        }
    }
}
