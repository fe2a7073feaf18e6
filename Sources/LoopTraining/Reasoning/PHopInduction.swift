import LoopModel

/// p-hop induction (Sanford et al. 2024; Saunshi et al. 2025). A sequence x₁ … x_n over an
/// alphabet of A letters, then a query token that names p. A hop from position i goes to the
/// position just after the previous occurrence of x_i: hop(i) = 1 + max{ j < i : x_j = x_i }.
/// Starting from the last position n, the answer is the letter at hopᵖ(n). Sequences are drawn
/// until every one of the p hops exists and moves strictly backwards. The difficulty is p.
///
/// Tokens: letters 0..<A, queries A + p − 1 for p in 1...maxHops, padding.
public struct PHopInduction: ReasoningTask {
    public let alphabet: Int  // A
    public let length: Int  // n
    public let maxHops: Int

    public init(alphabet: Int = 4, length: Int = 32, maxHops: Int = 16) {
        self.alphabet = alphabet
        self.length = length
        self.maxHops = maxHops
    }

    public var name: String { "p-hop" }
    public var padding: Int32 { Int32(alphabet + maxHops) }
    public var vocabularySize: Int { alphabet + maxHops + 1 }
    public var format: String { "\(length) letters of \(alphabet), a query token naming p, the answer letter" }

    public func sequenceLength(maximumDifficulty: Int) -> Int { length + 2 }

    /// The positions of the hops from the end of `letters`, or nil when a hop is missing or
    /// does not move backwards.
    public static func hops(_ letters: [Int32], count: Int) -> [Int]? {
        var i = letters.count - 1, path = [i]
        for _ in 0..<count {
            guard let j = letters[..<i].lastIndex(of: letters[i]), j + 1 < i else { return nil }
            i = j + 1
            path.append(i)
        }
        return path
    }

    public func problem(difficulty p: Int, generator: inout SeededGenerator) -> Problem {
        precondition((1...maxHops).contains(p), "hops out of range")
        while true {
            let letters = (0..<length).map { _ in Int32(generator.next() % UInt64(alphabet)) }
            guard let path = Self.hops(letters, count: p) else { continue }
            let tokens = letters + [Int32(alphabet + p - 1), letters[path.last!]]
            return Problem(tokens: tokens, questions: [Question(positions: [length + 1], difficulty: p)])
        }
    }

    public func trainingProblem(maximumDifficulty: Int, generator: inout SeededGenerator) -> Problem {
        problem(difficulty: 1 + Int(generator.next() % UInt64(maximumDifficulty)), generator: &generator)
    }

    /// Hops naively, one occurrence search at a time.
    public func solve(_ problem: Problem) -> [[Int32]] {
        let letters = Array(problem.tokens[..<length])
        let p = Int(problem.tokens[length]) - alphabet + 1
        var position = length - 1
        for _ in 0..<p {
            var previous = position - 1
            while previous >= 0 && letters[previous] != letters[position] { previous -= 1 }
            guard previous >= 0 else { return [[padding]] }
            position = previous + 1
        }
        return [[letters[position]]]
    }
}

/// Addition of two n-digit numbers, written most significant digit first, as is the answer:
/// `a₁…aₙ + b₁…bₙ = c₀c₁…cₙ` (numbers zero-padded to n digits, the sum to n + 1). The first
/// answer digit depends on the carry out of every lower digit, so a model must settle the
/// whole carry chain before it writes anything: depth, not the order of writing, has to carry
/// it. (Least-significant-first order would let each digit follow from its neighbours as they
/// are written, which needs no depth.) The difficulty is n.
///
/// Tokens: digits 0–9, `+`, `=`, padding.
public struct Addition: ReasoningTask {
    public let maxDigits: Int

    public init(maxDigits: Int = 12) { self.maxDigits = maxDigits }

    public var name: String { "addition" }
    static let plus: Int32 = 10, equals: Int32 = 11
    public var padding: Int32 { 12 }
    public var vocabularySize: Int { 13 }
    public var format: String { "a + b = c with n-digit a, b and the (n+1)-digit sum, most significant digit first" }

    public func sequenceLength(maximumDifficulty: Int) -> Int { 3 * maximumDifficulty + 3 }

    public func problem(difficulty n: Int, generator: inout SeededGenerator) -> Problem {
        precondition((1...maxDigits).contains(n), "digits out of range")
        let a = (0..<n).map { _ in Int32(generator.next() % 10) }
        let b = (0..<n).map { _ in Int32(generator.next() % 10) }
        var sum = [Int32](repeating: 0, count: n + 1), carry: Int32 = 0
        for i in stride(from: n - 1, through: 0, by: -1) {
            let digit = a[i] + b[i] + carry
            sum[i + 1] = digit % 10
            carry = digit / 10
        }
        sum[0] = carry
        let tokens = a + [Self.plus] + b + [Self.equals] + sum
        return Problem(tokens: tokens, questions: [Question(positions: Array((2 * n + 2)..<(3 * n + 3)), difficulty: n)])
    }

    public func trainingProblem(maximumDifficulty: Int, generator: inout SeededGenerator) -> Problem {
        problem(difficulty: 1 + Int(generator.next() % UInt64(maximumDifficulty)), generator: &generator)
    }

    /// Schoolbook addition with arbitrary precision in a string of digits.
    public func solve(_ problem: Problem) -> [[Int32]] {
        let plus = problem.tokens.firstIndex(of: Self.plus)!, equals = problem.tokens.firstIndex(of: Self.equals)!
        let a = problem.tokens[..<plus].reduce(0) { $0 * 10 + Int($1) }
        let b = problem.tokens[(plus + 1)..<equals].reduce(0) { $0 * 10 + Int($1) }
        let n = plus
        let digits = String(a + b).compactMap { $0.wholeNumberValue }.map(Int32.init)
        return [Array(repeating: 0, count: n + 1 - digits.count) + digits]
    }
}
