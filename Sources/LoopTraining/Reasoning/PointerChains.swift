import LoopModel

/// Chains of assignments to resolve to the end: n cells, cell i holding a pointer f(i) (n tokens
/// in cell order), where the pointers form a forest whose roots point to themselves, then
/// questions `? s` answered by the root that s's chain ends at. The difficulty is the number of
/// hops from s to its root. The question never says how many hops to take: the same tokens ask
/// for 1 hop or 8, and a root is a fixed point of f, so a model that does one hop per loop
/// answers every chain no longer than its loops, and more loops at test time reach further.
///
/// Each question's root is its own (no answer can be copied from the one before), its start the
/// end of a chain of exactly `difficulty` hops; `extraRoots` more roots are not asked about, so
/// seeing which cells point to themselves leaves 1 in (questions + extraRoots) to guess. The
/// other cells hang off all the roots at random, never deeper than the deepest question.
///
/// Tokens: cells 0..<n, the question mark n, padding n + 1.
public struct PointerChains: HopQuestionTask {
    public let cells: Int  // n
    public let questionsPerSequence: Int
    public let extraRoots: Int

    public init(cells: Int = 24, questionsPerSequence: Int = 2, extraRoots: Int = 4) {
        self.cells = cells
        self.questionsPerSequence = questionsPerSequence
        self.extraRoots = extraRoots
    }

    public var name: String { "chains" }
    var questionMark: Int32 { Int32(cells) }
    public var padding: Int32 { Int32(cells + 1) }
    public var vocabularySize: Int { cells + 2 }
    public var format: String {
        "\(cells) cells each pointing to a cell, roots pointing to themselves, then \(questionsPerSequence) questions `? s` answered by the root s's chain ends at"
    }

    /// The same for every difficulty: harder questions use no new token or position.
    public func sequenceLength(maximumDifficulty: Int) -> Int { cells + 3 * questionsPerSequence }

    /// The deepest difficulty every question of a sequence can have at once.
    public var maximumDifficulty: Int { (cells - extraRoots) / questionsPerSequence - 1 }

    /// The root s's chain ends at and the hops it takes, or nil when it does not end within n hops.
    public static func resolve(_ pointers: [Int32], from start: Int) -> (root: Int32, hops: Int)? {
        var current = start
        for hops in 0...pointers.count {
            let next = Int(pointers[current])
            if next == current { return (Int32(current), hops) }
            current = next
        }
        return nil
    }

    /// A forest with one chain per question, of exactly hops[i] steps, and the other cells hung
    /// off it at random, depth at most max(hops).
    public var hardestQuestion: Int { maximumDifficulty }

    public func problem(hops: [Int], generator: inout SeededGenerator) -> Problem {
        precondition(hops.allSatisfy { $0 >= 1 } && hops.reduce(extraRoots) { $0 + $1 + 1 } <= cells,
                     "chains do not fit the cells")
        var order = (0..<cells).map { Int32($0) }
        for i in stride(from: cells - 1, to: 0, by: -1) { order.swapAt(i, Int(generator.next() % UInt64(i + 1))) }
        var pointers = [Int32](repeating: -1, count: cells), depth = [Int](repeating: -1, count: cells)
        var used = 0, starts: [Int32] = []
        for p in hops {
            var previous = order[used]
            pointers[Int(previous)] = previous
            depth[Int(previous)] = 0
            used += 1
            for level in 1...p {
                let cell = order[used]
                pointers[Int(cell)] = previous
                depth[Int(cell)] = level
                previous = cell
                used += 1
            }
            starts.append(previous)
        }
        for cell in order[used..<(used + extraRoots)] {
            pointers[Int(cell)] = cell
            depth[Int(cell)] = 0
        }
        used += extraRoots
        let deepest = hops.max() ?? 1
        for cell in order[used...] {
            let parents = order[..<used].filter { depth[Int($0)] < deepest }
            let parent = parents[Int(generator.next() % UInt64(parents.count))]
            pointers[Int(cell)] = parent
            depth[Int(cell)] = depth[Int(parent)] + 1
            used += 1
        }
        var tokens = pointers, questions: [Question] = []
        for (start, p) in zip(starts, hops) {
            tokens += [questionMark, start, Self.resolve(pointers, from: Int(start))!.root]
            questions.append(Question(positions: [tokens.count - 1], difficulty: p))
        }
        return Problem(tokens: tokens, questions: questions)
    }

    /// Follows each question's pointers until a cell points to itself.
    public func solve(_ problem: Problem) -> [[Int32]] {
        let pointers = Array(problem.tokens[..<cells])
        return problem.questions.map { question in
            var current = Int(problem.tokens[question.positions[0] - 1])
            while Int(pointers[current]) != current { current = Int(pointers[current]) }
            return [Int32(current)]
        }
    }
}
