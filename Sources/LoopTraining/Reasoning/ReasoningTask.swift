import LoopKernels
import LoopModel

/// A question inside a sequence: the positions of its answer tokens (the model must predict
/// `tokens[i]` from `tokens[..<i]` for each) and how hard it is (hops, digits…). It counts as
/// solved only when every answer token is the model's most likely one, which is exactly when
/// greedy decoding writes the whole answer.
public struct Question: Sendable, Equatable {
    public var positions: [Int]
    public var difficulty: Int

    public init(positions: [Int], difficulty: Int) {
        self.positions = positions
        self.difficulty = difficulty
    }
}

/// One generated sequence and its questions; only answer tokens are scored.
public struct Problem: Sendable, Equatable {
    public var tokens: [Int32]
    public var questions: [Question]

    public init(tokens: [Int32], questions: [Question]) {
        self.tokens = tokens
        self.questions = questions
    }

    /// The answer tokens, question by question.
    public var answers: [[Int32]] { questions.map { $0.positions.map { tokens[$0] } } }
}

/// A family of reasoning problems with a difficulty knob, generated from a seeded generator,
/// each with a plain reference solver that the tests check the generator against.
public protocol ReasoningTask: Sendable {
    var name: String { get }
    /// Tokens the problems use, padding included.
    var vocabularySize: Int { get }
    /// The token that fills sequences out to a batch's length (never scored).
    var padding: Int32 { get }
    /// The longest sequence any difficulty up to `maximumDifficulty` produces.
    func sequenceLength(maximumDifficulty: Int) -> Int
    /// A training problem: difficulties drawn from 1...maximum.
    func trainingProblem(maximumDifficulty: Int, generator: inout SeededGenerator) -> Problem
    /// An evaluation problem whose every answer has exactly `difficulty`.
    func problem(difficulty: Int, generator: inout SeededGenerator) -> Problem
    /// The answers a plain reference solver gives, question by question, from the problem's
    /// tokens before each answer (the tests check the generator against it).
    func solve(_ problem: Problem) -> [[Int32]]
    /// A line describing the format, for the README and `--help`.
    var format: String { get }
}

extension ReasoningTask {
    /// Problems laid out as next-token prediction: inputs are tokens[..<T], targets the next
    /// token at answer positions and −1 (ignored) everywhere else; short problems are padded.
    public func batch(_ problems: [Problem], time: Int) -> Batch {
        var inputs: [Int32] = [], targets: [Int32] = []
        for problem in problems {
            var row = problem.tokens
            precondition(row.count <= time + 1, "a problem longer than the batch's time")
            row += Array(repeating: padding, count: time + 1 - row.count)
            var scored = Array(repeating: CrossEntropy.ignored, count: time)
            for question in problem.questions { for position in question.positions { scored[position - 1] = row[position] } }
            inputs += row[..<time]
            targets += scored
        }
        return Batch(tokens: inputs, targets: targets, rows: problems.count, time: time)
    }
}

/// A task whose sequences ask `questionsPerSequence` questions of some number of hops each:
/// training draws each question's hops uniformly, evaluation asks them all at one difficulty.
public protocol HopQuestionTask: ReasoningTask {
    var questionsPerSequence: Int { get }
    /// The most hops a question can have.
    var hardestQuestion: Int { get }
    /// A problem whose questions have these hops, in order.
    func problem(hops: [Int], generator: inout SeededGenerator) -> Problem
}

extension HopQuestionTask {
    public func trainingProblem(maximumDifficulty: Int, generator: inout SeededGenerator) -> Problem {
        let hops = (0..<questionsPerSequence).map { _ in 1 + Int(generator.next() % UInt64(maximumDifficulty)) }
        return problem(hops: hops, generator: &generator)
    }

    public func problem(difficulty: Int, generator: inout SeededGenerator) -> Problem {
        precondition((1...hardestQuestion).contains(difficulty), "hops out of range")
        return problem(hops: Array(repeating: difficulty, count: questionsPerSequence), generator: &generator)
    }
}

/// Training batches of fresh problems from a task, difficulties up to a maximum.
public struct ReasoningSource: BatchSource {
    public let task: any ReasoningTask
    public let maximumDifficulty: Int

    public init(task: any ReasoningTask, maximumDifficulty: Int) {
        self.task = task
        self.maximumDifficulty = maximumDifficulty
    }

    public func batch(rows: Int, time: Int, generator: inout SeededGenerator) throws -> Batch {
        var problems: [Problem] = []
        for _ in 0..<rows { problems.append(task.trainingProblem(maximumDifficulty: maximumDifficulty, generator: &generator)) }
        return task.batch(problems, time: time)
    }
}
