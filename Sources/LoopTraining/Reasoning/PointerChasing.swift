import LoopModel

/// Pointers to follow: n cells, cell i holding a pointer f(i) to a cell (a random function of
/// 0..<n, written as n tokens in cell order), then questions `hop p from s` whose answer is
/// fᵖ(s), the cell reached after p steps. Each question's path visits p + 1 different cells.
/// It is a chain of variable assignments in its plainest form: "cell i takes the value of cell
/// f(i)", resolved p times, each step one lookup whose result is the next lookup's address.
/// The difficulty is p.
///
/// Tokens: cells 0..<n (pointers, starts and answers), queries n + p − 1 for p in 1...maxHops,
/// padding.
public struct PointerChasing: HopQuestionTask {
    public let cells: Int  // n
    public let maxHops: Int
    public let questionsPerSequence: Int

    public init(cells: Int = 32, maxHops: Int = 16, questionsPerSequence: Int = 4) {
        self.cells = cells
        self.maxHops = maxHops
        self.questionsPerSequence = questionsPerSequence
    }

    public var name: String { "pointers" }
    public var padding: Int32 { Int32(cells + maxHops) }
    public var vocabularySize: Int { cells + maxHops + 1 }
    public var format: String {
        "\(cells) cells each holding a pointer to a cell, then \(questionsPerSequence) questions `hop p from s` answered by the cell p pointers away"
    }

    public func sequenceLength(maximumDifficulty: Int) -> Int { cells + 3 * questionsPerSequence }

    /// The end of a path of `hops` steps from `start`, or nil when it revisits a cell.
    static func follow(_ pointers: [Int32], from start: Int, hops: Int) -> Int32? {
        var seen: Set<Int32> = [Int32(start)], current = Int32(start)
        for _ in 0..<hops {
            current = pointers[Int(current)]
            guard seen.insert(current).inserted else { return nil }
        }
        return current
    }

    /// Pointers, then one question per difficulty in `hops`.
    public var hardestQuestion: Int { maxHops }

    public func problem(hops: [Int], generator: inout SeededGenerator) -> Problem {
        while true {
            let pointers = (0..<cells).map { _ in Int32(generator.next() % UInt64(cells)) }
            var tokens = pointers, questions: [Question] = [], complete = true
            for p in hops {
                var answer: Int32?, start = 0
                for _ in 0..<(4 * cells) where answer == nil {
                    start = Int(generator.next() % UInt64(cells))
                    answer = Self.follow(pointers, from: start, hops: p)
                }
                guard let answer else {
                    complete = false
                    break
                }
                tokens += [Int32(cells + p - 1), Int32(start), answer]
                questions.append(Question(positions: [tokens.count - 1], difficulty: p))
            }
            if complete { return Problem(tokens: tokens, questions: questions) }
        }
    }

    /// Follows the pointers naively.
    public func solve(_ problem: Problem) -> [[Int32]] {
        let pointers = Array(problem.tokens[..<cells])
        return problem.questions.map { question in
            let p = Int(problem.tokens[question.positions[0] - 2]) - cells + 1
            var current = Int(problem.tokens[question.positions[0] - 1])
            for _ in 0..<p { current = Int(pointers[current]) }
            return [Int32(current)]
        }
    }
}
