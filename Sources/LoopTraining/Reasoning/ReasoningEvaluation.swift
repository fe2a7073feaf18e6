import Dispatch
import LoopKernels
import LoopModel

/// Exact-match accuracy: a question is solved when every answer token is the model's most
/// likely next token given the tokens before it, which is exactly when greedy decoding writes
/// the whole answer.
public enum ReasoningEvaluation {
    /// Problems per forward pass.
    static let chunk = 128

    /// Questions solved and asked, over `problems`, at `loops`.
    public static func accuracy(
        model: LanguageModel, task: any ReasoningTask, problems: [Problem], loops: Int?
    ) throws -> (solved: Int, asked: Int) {
        let time = problems.map { $0.tokens.count - 1 }.max() ?? 1
        let v = model.config.vocabSize
        var solved = 0, asked = 0
        var start = 0
        while start < problems.count {
            let part = Array(problems[start..<min(start + chunk, problems.count)])
            let batch = task.batch(part, time: time)
            let logits = try model.logits(tokens: batch.tokens, batch: batch.rows, time: time, loops: loops)
            for (row, problem) in part.enumerated() {
                for question in problem.questions {
                    asked += 1
                    let right = question.positions.allSatisfy { position in
                        let base = (row * time + position - 1) * v
                        var best = 0
                        for id in 1..<v where logits[base + id] > logits[base + best] { best = id }
                        return Int32(best) == problem.tokens[position]
                    }
                    if right { solved += 1 }
                }
            }
            start += chunk
        }
        return (solved, asked)
    }

    /// What an exit rule scores and spends on `problems`: questions solved and asked, the mean
    /// passes per real token (padding left out), tokens and seconds of the forward passes.
    public struct AdaptiveAccuracy: Sendable {
        public let solved: Int, asked: Int
        public let meanLoops: Double
        public let tokens: Int
        public let seconds: Double
        public var accuracy: Double { Double(solved) / Double(max(asked, 1)) }
    }

    /// Accuracy with every token looping until `exit` stops it (at most `maxLoops` passes),
    /// the rows that have exited leaving the batch.
    public static func accuracy(
        model: LanguageModel, task: any ReasoningTask, problems: [Problem], exit: ExitRule, maxLoops: Int
    ) throws -> AdaptiveAccuracy {
        let time = problems.map { $0.tokens.count - 1 }.max() ?? 1, rows = min(chunk, problems.count)
        let decoder = try IncrementalDecoder(model: model, slots: rows, loops: maxLoops, maxRows: rows * time)
        var solved = 0, asked = 0, loops = 0, tokens = 0, seconds = 0.0, start = 0
        // One untimed pass first: the decoder's buffers and cache are mapped pages that cost a
        // fault at their first write, which would otherwise be timed as part of the rule.
        let warm = Array(problems.prefix(chunk))
        if !warm.isEmpty {
            _ = try decoder.predict(tokens: task.batch(warm, time: time).tokens, batch: warm.count, time: time, exit: exit)
        }
        while start < problems.count {
            let part = Array(problems[start..<min(start + chunk, problems.count)])
            let batch = task.batch(part, time: time)
            let clock = DispatchTime.now().uptimeNanoseconds
            let (next, used) = try decoder.predict(tokens: batch.tokens, batch: part.count, time: time, exit: exit)
            seconds += Double(DispatchTime.now().uptimeNanoseconds - clock) / 1e9
            for (row, problem) in part.enumerated() {
                let real = problem.tokens.count - 1
                loops += used[(row * time)..<(row * time + real)].reduce(0, +)
                tokens += real
                for question in problem.questions {
                    asked += 1
                    if question.positions.allSatisfy({ next[row * time + $0 - 1] == problem.tokens[$0] }) { solved += 1 }
                }
            }
            start += chunk
        }
        return AdaptiveAccuracy(solved: solved, asked: asked, meanLoops: Double(loops) / Double(max(tokens, 1)),
                                tokens: tokens, seconds: seconds)
    }

    /// Held-out problems of one difficulty, the same for every model: drawn from a generator
    /// seeded by the difficulty alone, apart from the training stream.
    public static func heldOut(task: any ReasoningTask, difficulty: Int, questions: Int, seed: UInt64) -> [Problem] {
        var generator = SeededGenerator(seed: seed &+ 0x9E37_79B9 &* UInt64(difficulty))
        var problems: [Problem] = [], asked = 0
        while asked < questions {
            let problem = task.problem(difficulty: difficulty, generator: &generator)
            problems.append(problem)
            asked += problem.questions.count
        }
        return problems
    }
}
