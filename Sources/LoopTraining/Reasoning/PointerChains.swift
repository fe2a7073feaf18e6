import LoopModel

/// Chains of assignments to resolve to the end: n cells, cell i holding a pointer f(i) (n tokens
/// in cell order), where the pointers form a forest whose roots point to themselves, then
/// questions `? s` answered by the root that s's chain ends at. The difficulty is the number of
/// hops from s to its root. The question never says how many hops to take: the same tokens ask
/// for 1 hop or 8, and a root is a fixed point of f, so a model that does one hop per loop
/// answers every chain no longer than its loops, and more loops at test time reach further.
///
/// Every root is equally likely to be an answer, whatever the forest looks like: the R =
/// questions + `extraRoots` trees are built alike (each a chain as deep as the deepest question,
/// then the other cells hung uniformly off cells above that depth, so all trees grow by the same
/// rule), and only then are the questions' trees drawn, without looking at them; each question
/// starts at a random cell of its tree at exactly its difficulty. A guess from the forest's shape
/// (the largest tree, the root with most children) is therefore right 1 time in R, and
/// `structuralGuesses` measures it. (An earlier generator built the questions' chains first and
/// hung the other cells off them, so the asked roots had the larger trees.)
///
/// Tokens: cells 0..<n, the question mark n, padding n + 1.
public struct PointerChains: HopQuestionTask {
    public let cells: Int  // n
    public let questionsPerSequence: Int
    public let extraRoots: Int

    public init(cells: Int = 32, questionsPerSequence: Int = 2, extraRoots: Int = 2) {
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

    /// Trees in every problem: one per question and the extra roots.
    public var trees: Int { questionsPerSequence + extraRoots }

    /// The deepest difficulty a sequence can ask: every tree must hold a chain that deep.
    public var maximumDifficulty: Int { cells / trees - 1 }

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

    public var hardestQuestion: Int { maximumDifficulty }

    /// A forest of `trees` alike trees, depth max(hops), then each question on its own tree
    /// drawn at random, starting at a random cell exactly hops[i] from the root.
    public func problem(hops: [Int], generator: inout SeededGenerator) -> Problem {
        let deepest = hops.max() ?? 1
        precondition(hops.count == questionsPerSequence && hops.allSatisfy { $0 >= 1 } && trees * (deepest + 1) <= cells,
                     "chains do not fit the cells")
        func below(_ n: Int) -> Int { Int(generator.next() % UInt64(n)) }
        var order = (0..<cells).map { Int32($0) }
        for i in stride(from: cells - 1, to: 0, by: -1) { order.swapAt(i, below(i + 1)) }
        var pointers = [Int32](repeating: -1, count: cells), depth = [Int](repeating: -1, count: cells)
        var tree = [Int](repeating: -1, count: cells), used = 0, roots: [Int32] = []
        for t in 0..<trees {  // every tree starts as a chain as deep as the deepest question
            var previous = order[used]
            pointers[Int(previous)] = previous
            (depth[Int(previous)], tree[Int(previous)]) = (0, t)
            roots.append(previous)
            used += 1
            for level in 1...deepest {
                let cell = order[used]
                pointers[Int(cell)] = previous
                (depth[Int(cell)], tree[Int(cell)]) = (level, t)
                previous = cell
                used += 1
            }
        }
        for cell in order[used...] {  // the rest hang off any cell above the deepest level, the same rule for every tree
            let parents = order[..<used].filter { depth[Int($0)] < deepest }
            let parent = parents[below(parents.count)]
            pointers[Int(cell)] = parent
            (depth[Int(cell)], tree[Int(cell)]) = (depth[Int(parent)] + 1, tree[Int(parent)])
            used += 1
        }
        var asked = Array(0..<trees)  // the questions' trees, drawn after the forest is built
        for i in stride(from: trees - 1, to: 0, by: -1) { asked.swapAt(i, below(i + 1)) }
        var tokens = pointers, questions: [Question] = []
        for (t, p) in zip(asked, hops) {
            let candidates = (0..<cells).filter { tree[$0] == t && depth[$0] == p }
            let start = candidates[below(candidates.count)]
            tokens += [questionMark, Int32(start), roots[t]]
            questions.append(Question(positions: [tokens.count - 1], difficulty: p))
        }
        return Problem(tokens: tokens, questions: questions)
    }

    /// How often guesses from the forest's shape alone are right, over `problems`: the root of
    /// the largest tree, and the root with the most cells pointing straight to it (ties split).
    public func structuralGuesses(_ problems: [Problem]) -> (largestTree: Double, mostChildren: Double) {
        var largest = 0.0, children = 0.0, asked = 0
        for problem in problems {
            let pointers = Array(problem.tokens[..<cells])
            var size: [Int32: Int] = [:], direct: [Int32: Int] = [:]
            for cell in 0..<cells {
                if let root = Self.resolve(pointers, from: cell)?.root { size[root, default: 0] += 1 }
                if Int(pointers[cell]) != cell { direct[pointers[cell], default: 0] += 1 }
            }
            let roots = size.keys
            for answer in problem.answers.map({ $0[0] }) {
                asked += 1
                let biggest = roots.filter { size[$0] == size.values.max() }
                if biggest.contains(answer) { largest += 1 / Double(biggest.count) }
                let most = roots.map { direct[$0] ?? 0 }.max() ?? 0
                let busiest = roots.filter { (direct[$0] ?? 0) == most }
                if busiest.contains(answer) { children += 1 / Double(busiest.count) }
            }
        }
        return (largest / Double(max(asked, 1)), children / Double(max(asked, 1)))
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
