import Foundation
import LoopKernels
import LoopModel
import LoopTraining
import Testing

/// The reasoning generators against plain reference solvers, the answer-only mask, and the
/// model's loss and gradient on masked targets.
@Suite struct ReasoningTaskTests {
    static let tasks: [any ReasoningTask] = [PointerChasing(), PointerChains(), PHopInduction(), Addition()]

    @Test(arguments: 0..<4)
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

    /// Chains: the pointers form a forest with questions + extraRoots roots, each question's start
    /// is exactly `difficulty` hops from its root, and no two questions share a root.
    @Test func chainsEndAtRootsExactlyDifficultyHopsAway() throws {
        let task = PointerChains(cells: 24, questionsPerSequence: 2, extraRoots: 4)
        #expect(task.maximumDifficulty == 3)
        var generator = SeededGenerator(seed: 11)
        for difficulty in 1...task.maximumDifficulty {
            for _ in 0..<20 {
                let problem = task.problem(difficulty: difficulty, generator: &generator)
                let pointers = Array(problem.tokens[..<24])
                #expect(pointers.enumerated().filter { $0.offset == Int($0.element) }.count == 6)
                var roots: Set<Int32> = []
                for question in problem.questions {
                    let start = Int(problem.tokens[question.positions[0] - 1])
                    let resolved = try #require(PointerChains.resolve(pointers, from: start))
                    #expect(resolved.hops == difficulty && resolved.root == problem.tokens[question.positions[0]])
                    roots.insert(resolved.root)
                }
                #expect(roots.count == 2)
                for cell in 0..<24 { #expect(PointerChains.resolve(pointers, from: cell)!.hops <= difficulty) }
            }
        }
    }

    /// Every root is equally likely to be asked: guessing from the forest's shape (the largest
    /// tree, the root with most direct children) is right 1 time in R = 4, at every difficulty.
    /// The earlier generator let these guesses reach 50–75%.
    @Test func chainsLeaveNoStructuralShortcut() {
        let task = PointerChains()
        #expect(task.trees == 4 && task.maximumDifficulty == 7)
        for difficulty in [1, 2, 4, 6] {
            var generator = SeededGenerator(seed: UInt64(100 + difficulty))
            let problems = (0..<3000).map { _ in task.problem(difficulty: difficulty, generator: &generator) }
            let guesses = task.structuralGuesses(problems)
            // 6000 questions: one standard error of a 25% rate is 0.56 points.
            #expect(abs(guesses.largestTree - 0.25) < 0.025 && abs(guesses.mostChildren - 0.25) < 0.025,
                    "difficulty \(difficulty): \(guesses)")
        }
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
}
