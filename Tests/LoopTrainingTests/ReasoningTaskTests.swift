import Foundation
import LoopKernels
import LoopModel
import LoopTraining
import Testing

/// The reasoning generators against plain reference solvers, the answer-only mask, and the
/// model's loss and gradient on masked targets.
@Suite struct ReasoningTaskTests {
    static let tasks: [any ReasoningTask] = [PointerChasing(), PHopInduction(), Addition()]

    @Test(arguments: 0..<3)
    func generatorsAgreeWithTheReferenceSolver(index: Int) {
        let task = Self.tasks[index]
        var generator = SeededGenerator(seed: UInt64(100 + index))
        for difficulty in 1...6 {
            for _ in 0..<50 {
                let problem = task.problem(difficulty: difficulty, generator: &generator)
                #expect(task.solve(problem) == problem.answers, "\(task.name) difficulty \(difficulty)")
                #expect(!problem.questions.isEmpty && problem.questions.allSatisfy { $0.difficulty == difficulty })
                #expect(problem.tokens.count <= task.sequenceLength(maximumDifficulty: 6))
                #expect(problem.tokens.allSatisfy { $0 >= 0 && Int($0) < task.vocabularySize && $0 != task.padding })
            }
        }
        for _ in 0..<100 {
            let problem = task.trainingProblem(maximumDifficulty: 4, generator: &generator)
            #expect(task.solve(problem) == problem.answers)
            #expect(problem.questions.allSatisfy { (1...4).contains($0.difficulty) })
        }
    }

    /// Hops, written out by hand on one sequence.
    @Test func pHopFollowsPreviousOccurrences() {
        // positions:      0  1  2  3  4  5  6  7
        let letters: [Int32] = [1, 2, 0, 1, 3, 2, 0, 1]
        // From 7 (letter 1): previous 1 at 3 → 4 (letter 3): no earlier 3 → undefined.
        #expect(PHopInduction.hops(letters, count: 1) == [7, 4])
        #expect(PHopInduction.hops(letters, count: 2) == nil)
        let other: [Int32] = [0, 2, 1, 0, 1, 2, 0]
        // From 6 (letter 0): previous 0 at 3 → 4 (letter 1); previous 1 at 2 → 3 (letter 0); previous 0 at 0 → 1.
        #expect(PHopInduction.hops(other, count: 3) == [6, 4, 3, 1])
    }

    @Test func additionIsWrittenMostSignificantDigitFirst() {
        var generator = SeededGenerator(seed: 3)
        let problem = Addition().problem(difficulty: 3, generator: &generator)
        let digits = problem.tokens
        let a = digits[0..<3].reduce(0) { $0 * 10 + Int($1) }, b = digits[4..<7].reduce(0) { $0 * 10 + Int($1) }
        let sum = digits[8..<12].reduce(0) { $0 * 10 + Int($1) }
        #expect(digits[3] == 10 && digits[7] == 11 && sum == a + b)
        #expect(problem.questions == [Question(positions: [8, 9, 10, 11], difficulty: 3)])
    }

    /// Only answer tokens are targets; everything else, padding included, is −1.
    @Test func batchesScoreOnlyAnswers() {
        let task = PointerChasing(cells: 8, maxHops: 4, questionsPerSequence: 2)
        var generator = SeededGenerator(seed: 5)
        let problems = (0..<3).map { _ in task.problem(difficulty: 2, generator: &generator) }
        let batch = task.batch(problems, time: 20)
        #expect(batch.rows == 3 && batch.tokens.count == 60)
        for (row, problem) in problems.enumerated() {
            for t in 0..<20 {
                let target = batch.targets[row * 20 + t]
                if problem.questions.contains(where: { $0.positions.contains(t + 1) }) {
                    #expect(target == problem.tokens[t + 1])
                } else {
                    #expect(target == CrossEntropy.ignored)
                }
                #expect(batch.tokens[row * 20 + t] == (t < problem.tokens.count ? problem.tokens[t] : task.padding))
            }
        }
    }

    /// The model's loss over answer tokens only, and its gradient, by finite differences.
    @Test func maskedLossGradientMatchesFiniteDifferences() throws {
        let task = PointerChasing(cells: 8, maxHops: 4, questionsPerSequence: 2)
        let config = try ModelConfiguration(vocabSize: task.vocabularySize, contextLength: 16, channels: 16, heads: 2,
                                            layout: LoopLayout(looped: 1, loops: 2))
        var generator = SeededGenerator(seed: 8)
        let model = LoopGPT(config: config, generator: &generator, workers: Workers(threads: 1))
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
            sum += (x.map { Foundation.exp($0 - m) }.reduce(0, +)).logValue + m - x[Int(target)]
            answers += 1
        }
        let total = try loss()
        #expect(answers == 4 && abs(total - sum / Double(answers)) < 1e-4)
        try checkFiniteDifferences(model, tensors: model.table.tensors.filter { $0.shape.count == 2 }, loss: loss)
    }
}

/// Central difference along each tensor's own gradient direction.
func checkFiniteDifferences(_ model: LoopGPT, tensors: [TensorSpec], loss: () throws -> Double) throws {
    let step: Float = 1e-2
    for spec in tensors {
        let gradient = Array(UnsafeBufferPointer(start: model.gradients.pointer + spec.offset, count: spec.count))
        let norm = gradient.reduce(0) { $0 + Double($1) * Double($1) }.squareRoot()
        guard norm > 1e-7 else { continue }
        let p = model.parameters.pointer + spec.offset
        let original = Array(UnsafeBufferPointer(start: p, count: spec.count))
        for i in 0..<spec.count { p[i] = original[i] + step * gradient[i] / Float(norm) }
        let plus = try loss()
        for i in 0..<spec.count { p[i] = original[i] - step * gradient[i] / Float(norm) }
        let minus = try loss()
        p.update(from: original, count: spec.count)
        let numeric = (plus - minus) / Double(2 * step)
        #expect(abs(numeric - norm) <= 2e-2 * norm + 1e-4, "\(spec.name): finite difference \(numeric), analytic \(norm)")
    }
}

extension Double {
    var logValue: Double { Foundation.log(self) }
}
