import LoopKernels

/// When a token stops looping, decided after each loop pass (every rule stops at the cap):
/// - `fixed`: never early;
/// - `change(τ)`: the pass changed the token's hidden state by less than τ, relative
///   (‖h_t − h_{t−1}‖ / ‖h_{t−1}‖);
/// - `kl(τ)`: the pass changed its next-token prediction by less than τ, KL(p_t ‖ p_{t−1});
/// - `gate(q)`: the learned exit gate's cumulative exit probability reached q (Ouro's Q-exit):
///   with λ_j = σ(w · ln_f(h_j) + b), the token exits after the first pass t where
///   1 − ∏_{j≤t}(1 − λ_j) ≥ q. `gate(1)` is never early.
public enum ExitRule: Sendable, Equatable, CustomStringConvertible {
    case fixed
    case change(Float)
    case kl(Float)
    case gate(Float)

    /// Parses `fixed`, `change:τ`, `kl:τ` or `gate:q`; nil for anything else or a value out of
    /// range (τ ≥ 0 and finite; q in (0, 1]).
    public init?(argument: String) {
        let parts = argument.split(separator: ":", maxSplits: 1).map(String.init)
        if parts == ["fixed"] { self = .fixed; return }
        guard parts.count == 2, let value = Float(parts[1]), value.isFinite else { return nil }
        switch parts[0] {
        case "change" where value >= 0: self = .change(value)
        case "kl" where value >= 0: self = .kl(value)
        case "gate" where value > 0 && value <= 1: self = .gate(value)
        default: return nil
        }
    }

    public var description: String {
        switch self {
        case .fixed: "fixed"
        case .change(let t): "change:\(Self.format(t))"
        case .kl(let t): "kl:\(Self.format(t))"
        case .gate(let q): "gate:\(Self.format(q))"
        }
    }

    /// The rule's name without its setting.
    public var name: String { String(description.prefix { $0 != ":" }) }

    /// "0.3", not "0.30000001".
    public static func format(_ value: Float) -> String {
        let rounded = (Double(value) * 1e6).rounded() / 1e6
        return rounded == rounded.rounded() ? String(Int(rounded)) : String(rounded)
    }

    /// Whether a token may stop before the cap.
    public var canExitEarly: Bool {
        switch self {
        case .fixed: false
        case .gate(let q): q < 1
        case .change, .kl: true
        }
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

    /// σ(w · z + b): the exit gate's probability for a normed state z (C values).
    static func gateProbability(_ z: UnsafePointer<Float>, weight: UnsafePointer<Float>, bias: Float, count: Int) -> Float {
        var a = bias
        for i in 0..<count { a += weight[i] * z[i] }
        return 1 / (1 + VectorMath.exp(-a))
    }
}
