import LoopModel

/// Chains of variable assignments to resolve. A sequence holds `statements` assignments in a
/// random order, each one token: `a=b` (variable a takes variable b's value) or `a=k` (a takes
/// the constant k). They form chains v₁=k, v₂=v₁, …, v_d=v_{d−1}; each variable is assigned once.
/// Then come questions `? v` whose answer is the constant v resolves to. A variable at depth d
/// needs d lookups, one after another: depth is the difficulty.
///
/// Tokens: constants 0..<C, variables C..<C+V (in questions), `?`, padding, then the V·V
/// statements `a=b` and the V·C statements `a=k`.
public struct VariableChains: ReasoningTask {
    public let variables: Int  // V
    public let constants: Int  // C
    public let statements: Int  // S, per sequence
    public let questionsPerSequence: Int

    public init(variables: Int = 16, constants: Int = 8, statements: Int = 16, questionsPerSequence: Int = 4) {
        precondition(variables >= statements, "every statement assigns a different variable")
        self.variables = variables
        self.constants = constants
        self.statements = statements
        self.questionsPerSequence = questionsPerSequence
    }

    public var name: String { "chains" }
    var question: Int32 { Int32(constants + variables) }
    public var padding: Int32 { question + 1 }
    var variableStatements: Int { constants + variables + 2 }
    var constantStatements: Int { variableStatements + variables * variables }
    public var vocabularySize: Int { constantStatements + variables * constants }
    public var format: String {
        "\(statements) one-token assignments `a=b` / `a=k` in random order, then up to \(questionsPerSequence) questions `? v` answered by a constant (\(variables) variables, \(constants) constants)"
    }

    public func sequenceLength(maximumDifficulty: Int) -> Int { statements + 3 * questionsPerSequence }

    func statement(_ target: Int, _ source: Int, constant: Bool) -> Int32 {
        Int32(constant ? constantStatements + target * constants + source : variableStatements + target * variables + source)
    }

    /// Chains of the given lengths (summing to `statements`), each asked about at a depth.
    func problem(lengths: [Int], depths: [Int?], generator: inout SeededGenerator) -> Problem {
        var names = Array(0..<variables)
        names.shuffle(using: &generator)
        var tokens: [Int32] = [], asked: [(variable: Int, answer: Int, depth: Int)] = []
        var next = 0
        for (length, depth) in zip(lengths, depths) {
            let chain = Array(names[next..<(next + length)])
            next += length
            let value = Int(generator.next() % UInt64(constants))
            tokens.append(statement(chain[0], value, constant: true))
            for j in 1..<length { tokens.append(statement(chain[j], chain[j - 1], constant: false)) }
            if let depth { asked.append((chain[depth - 1], value, depth)) }
        }
        tokens.shuffle(using: &generator)
        asked.shuffle(using: &generator)
        var questions: [Question] = []
        for item in asked.prefix(questionsPerSequence) {
            tokens += [question, Int32(constants + item.variable), Int32(item.answer)]
            questions.append(Question(positions: [tokens.count - 1], difficulty: item.depth))
        }
        return Problem(tokens: tokens, questions: questions)
    }

    public func trainingProblem(maximumDifficulty: Int, generator: inout SeededGenerator) -> Problem {
        var lengths: [Int] = [], depths: [Int?] = [], left = statements
        while left > 0 {
            let length = min(left, 1 + Int(generator.next() % UInt64(maximumDifficulty)))
            lengths.append(length)
            depths.append(1 + Int(generator.next() % UInt64(length)))
            left -= length
        }
        return problem(lengths: lengths, depths: depths, generator: &generator)
    }

    public func problem(difficulty: Int, generator: inout SeededGenerator) -> Problem {
        let full = statements / difficulty, rest = statements % difficulty
        let lengths = Array(repeating: difficulty, count: full) + (rest > 0 ? [rest] : [])
        let depths: [Int?] = Array(repeating: difficulty, count: full) + (rest > 0 ? [nil] : [])
        return problem(lengths: lengths, depths: depths, generator: &generator)
    }

    /// Follows the assignments from each questioned variable until a constant.
    public func solve(_ problem: Problem) -> [[Int32]] {
        var assigned: [Int: (source: Int, constant: Bool)] = [:]
        for token in problem.tokens.prefix(statements) {
            let t = Int(token)
            if t >= constantStatements {
                assigned[(t - constantStatements) / constants] = ((t - constantStatements) % constants, true)
            } else {
                assigned[(t - variableStatements) / variables] = ((t - variableStatements) % variables, false)
            }
        }
        return problem.questions.map { question in
            var current = Int(problem.tokens[question.positions[0] - 1]) - constants
            while let (source, constant) = assigned[current] {
                if constant { return [Int32(source)] }
                current = source
            }
            return [padding]  // unresolved: not a valid problem
        }
    }
}
