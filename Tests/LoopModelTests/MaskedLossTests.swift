import Foundation
import LoopKernels
import LoopModel
import LoopTraining
import Testing

/// Targets of −1 are left out of the loss and its gradient: the loss is the mean over the
/// scored tokens alone, and its gradient agrees with finite differences.
@Suite struct MaskedLossTests {
    /// The model's loss over answer tokens only, and its gradient, by finite differences.
    @Test func maskedLossGradientMatchesFiniteDifferences() throws {
        let task = PointerChasing(cells: 8, maxHops: 4, questionsPerSequence: 2)
        let config = try ModelConfiguration(vocabSize: task.vocabularySize, contextLength: 16, channels: 16, heads: 2,
                                            layout: LoopLayout(looped: 1, loops: 2))
        var generator = SeededGenerator(seed: 8)
        let model = try LoopGPT(config: config, generator: &generator, workers: Workers(threads: 1))
        let batch = task.batch((0..<2).map { _ in task.problem(difficulty: 2, generator: &generator) }, time: 14)
        func loss() throws -> Double {
            Double(try model.forward(tokens: batch.tokens, targets: batch.targets, batch: 2, time: 14) ?? .nan)
        }
        model.zeroGradients()
        _ = try loss()
        model.backward()
        var gradientCount = 0
        for spec in model.table.tensors { gradientCount += (0..<spec.count).filter { model.gradients[spec.offset + $0] != 0 }.count }
        #expect(gradientCount > 0)
        // The loss is the mean over answer positions alone, computed here from the logits.
        let logits = try LanguageModel(model).logits(tokens: batch.tokens, batch: 2, time: 14)
        var sum = 0.0, answers = 0
        for (row, target) in batch.targets.enumerated() where target != CrossEntropy.ignored {
            let x = (0..<config.vocabSize).map { Double(logits[row * config.vocabSize + $0]) }
            let m = x.max()!
            sum += Foundation.log(x.map { Foundation.exp($0 - m) }.reduce(0, +)) + m - x[Int(target)]
            answers += 1
        }
        let total = try loss()
        #expect(answers == 4 && abs(total - sum / Double(answers)) < 1e-4)
        try checkFiniteDifferences(model, tensors: model.table.tensors.filter { $0.shape.count == 2 }, loss: loss)
    }
}

