/// How the block stack runs: `prelude` blocks once, then the `looped` blocks (one set of
/// weights) `loops` times in order, then `coda` blocks once.
///
/// Each pass over the looped blocks is the update x⁽ⁿ⁾ = x⁽ⁿ⁻¹⁾ + f(x⁽ⁿ⁻¹⁾), f being the
/// looped blocks' residual branches. `prelude = 0, looped = L, coda = 0, loops = 1` is GPT-2.
public struct LoopLayout: Codable, Equatable, Hashable, Sendable {
    public var prelude: Int
    public var looped: Int
    public var coda: Int
    public var loops: Int

    public init(prelude: Int = 0, looped: Int, coda: Int = 0, loops: Int = 1) {
        self.prelude = prelude
        self.looped = looped
        self.coda = coda
        self.loops = loops
    }

    /// Blocks with their own weights: what the parameter count depends on.
    public var uniqueBlocks: Int { prelude + looped + coda }

    /// Block applications per forward pass (the depth an unrolled GPT-2 would need).
    public var effectiveDepth: Int { prelude + looped * loops + coda }

    /// The same layout run with another loop count (for evaluation and sampling).
    public func with(loops: Int) -> LoopLayout {
        LoopLayout(prelude: prelude, looped: looped, coda: coda, loops: loops)
    }

    /// The unique block that application `application` (0..<effectiveDepth) runs.
    public func block(forApplication application: Int) -> Int {
        if application < prelude { return application }
        let loopedEnd = prelude + looped * loops
        if application < loopedEnd { return prelude + (application - prelude) % looped }
        return application - loopedEnd + prelude + looped
    }

    /// The loop pass (0..<loops) of application `a` and its index inside the pass, or nil for
    /// prelude and coda applications.
    public func pass(ofApplication a: Int) -> (pass: Int, index: Int)? {
        guard a >= prelude, a < prelude + looped * loops else { return nil }
        return ((a - prelude) / looped, (a - prelude) % looped)
    }

    /// The unique block indices in execution order, one per application.
    public var executionOrder: [Int] { (0..<effectiveDepth).map(block(forApplication:)) }

    /// Short description such as `1+2×3+1` (prelude + looped × loops + coda).
    public var summary: String {
        var parts: [String] = []
        if prelude > 0 { parts.append("\(prelude)") }
        parts.append("\(looped)×\(loops)")
        if coda > 0 { parts.append("\(coda)") }
        return parts.joined(separator: "+")
    }

    func validate() throws(ConfigurationError) {
        let blocks = 0...ModelConfiguration.Limit.blocks
        guard blocks.contains(prelude), blocks.contains(coda) else {
            throw .invalid("prelude and coda block counts must be in \(blocks) (got \(prelude), \(coda))")
        }
        guard blocks.contains(looped), (1...ModelConfiguration.Limit.loops).contains(loops) else {
            throw .invalid("looped blocks must be in \(blocks) and loops in 1...\(ModelConfiguration.Limit.loops) (got \(looped) × \(loops))")
        }
        guard uniqueBlocks >= 1 else { throw .invalid("the model needs at least one block") }
    }
}
