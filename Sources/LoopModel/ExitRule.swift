/// When a token stops looping: after a pass, the chosen measure of how much that pass
/// changed things falls under `threshold` (or the maximum loop count is reached).
public struct ExitRule: Sendable, Equatable {
    public enum Criterion: String, CaseIterable, Sendable {
        /// ‖x_n − x_{n−1}‖ / ‖x_{n−1}‖ of the token's hidden state.
        case change
        /// KL(p_n ‖ p_{n−1}) between the next-token predictions after two successive passes.
        case kl
    }

    public let criterion: Criterion
    public let threshold: Float

    public init(criterion: Criterion, threshold: Float) {
        self.criterion = criterion
        self.threshold = threshold
    }

    /// ‖now − before‖ / ‖before‖ over `count` values.
    static func relativeChange(_ now: UnsafePointer<Float>, _ before: UnsafePointer<Float>, count: Int) -> Float {
        var difference: Float = 0, norm: Float = 0
        for i in 0..<count {
            let d = now[i] - before[i]
            difference += d * d
            norm += before[i] * before[i]
        }
        return (difference / max(norm, .leastNormalMagnitude)).squareRoot()
    }

    /// KL(p ‖ q) of two probability vectors.
    static func divergence(_ p: UnsafePointer<Float>, _ q: UnsafePointer<Float>, count: Int) -> Float {
        var kl: Float = 0
        for i in 0..<count where p[i] > 0 {
            kl += p[i] * Float(_log(Double(p[i]) / Double(max(q[i], .leastNormalMagnitude))))
        }
        return kl
    }
}
