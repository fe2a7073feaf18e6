import Foundation

/// What training minimizes over the loop passes. With L passes, L_t is a token's cross-entropy
/// when the state after pass t is sent through the final norm and the tied head:
/// - `last`: L_{L−1}, the paper's objective;
/// - `all`: the mean of L_0 … L_{L−1}, so every pass learns to predict;
/// - `gate(entropy: β)`: Ouro's stage I, Σ_t p_t L_t − β H(p), where the exit gate gives
///   λ_t = σ(w · ln_f(h_t) + b), p_t = λ_t ∏_{j<t}(1 − λ_j) for t < L−1 and the last pass takes
///   the remaining mass; with a uniform prior this is an ELBO;
/// - `gateOnly(sharpness: k, margin: γ)`: Ouro's stage II, the model frozen and the gate alone
///   trained by binary cross-entropy of λ_t against 1 − σ(k · (max(0, L_t − L_{t+1}) − γ)),
///   the losses detached: exit when the next pass would not improve the loss by γ.
public enum LoopObjective: Codable, Sendable, Equatable, CustomStringConvertible {
    case last
    case all
    case gate(entropy: Float)
    case gateOnly(sharpness: Float, margin: Float)

    /// Ouro's β for stage I (0.1 at first, then 0.05).
    public static let defaultEntropy: Float = 0.05
    /// Ouro's stage II constants.
    public static let defaultSharpness: Float = 50, defaultMargin: Float = 0.005

    public var description: String {
        switch self {
        case .last: "last"
        case .all: "all"
        case .gate(let beta): "gate (β \(beta))"
        case .gateOnly(let k, let margin): "gate only (k \(k), γ \(margin))"
        }
    }

    /// Whether the objective reads the exit gate.
    public var usesGate: Bool {
        switch self {
        case .gate, .gateOnly: true
        case .last, .all: false
        }
    }

    /// Whether it needs every pass's prediction (all but `last`).
    public var perPass: Bool { self != .last }

    public var isValid: Bool {
        switch self {
        case .last, .all: true
        case .gate(let beta): beta.isFinite && beta >= 0
        case .gateOnly(let k, let margin): k.isFinite && k > 0 && margin.isFinite
        }
    }
}

/// The per-token arithmetic of the gate objectives, in Double, with exact derivatives.
enum GateObjective {
    /// Exit probabilities p_t of T passes from the gate's λ_0 … λ_{T−2}: p_t = λ_t S_t,
    /// S_t = ∏_{j<t}(1 − λ_j), and p_{T−1} = S_{T−1}.
    static func exitProbabilities(_ lambdas: [Double]) -> [Double] {
        var survival = 1.0, p: [Double] = []
        for lambda in lambdas {
            p.append(lambda * survival)
            survival *= 1 - lambda
        }
        p.append(survival)
        return p
    }

    /// Σ p_t L_t − β H(p) for one token, with its derivatives by each L_t and each λ_t.
    static func stageOne(losses: [Double], lambdas: [Double], entropy beta: Double)
        -> (value: Double, dLosses: [Double], dLambdas: [Double])
    {
        let p = exitProbabilities(lambdas), passes = losses.count
        precondition(p.count == passes, "one gate value per pass but the last")
        let smallest = 1e-30  // p log p → 0 as p → 0; the clamp keeps log finite
        var value = 0.0, dP = [Double](repeating: 0, count: passes)
        for t in 0..<passes {
            let logP = log(max(p[t], smallest))
            value += p[t] * losses[t] + beta * p[t] * logP
            dP[t] = losses[t] + beta * (logP + 1)
        }
        // ∂p_k/∂λ_k = S_k; for t > k, ∂p_t/∂λ_k = −λ'_t ∏_{j<t, j≠k}(1 − λ_j), λ'_{T−1} = 1.
        var dLambdas = [Double](repeating: 0, count: lambdas.count)
        var survival = 1.0
        for k in 0..<lambdas.count {
            var gradient = dP[k] * survival, excluding = survival
            for t in (k + 1)..<passes {
                let weight = t < passes - 1 ? lambdas[t] : 1
                gradient -= dP[t] * weight * excluding
                if t < passes - 1 { excluding *= 1 - lambdas[t] }
            }
            dLambdas[k] = gradient
            survival *= 1 - lambdas[k]
        }
        return (value, p, dLambdas)
    }

    /// Stage II's exit targets: 1 − σ(k · (max(0, L_t − L_{t+1}) − γ)) for t < T−1.
    static func exitTargets(losses: [Double], sharpness k: Double, margin: Double) -> [Double] {
        (0..<(losses.count - 1)).map { t in
            let improvement = max(0, losses[t] - losses[t + 1])
            return 1 - 1 / (1 + exp(-k * (improvement - margin)))
        }
    }

    /// Mean binary cross-entropy of λ against targets y, and its derivative by each gate logit.
    static func stageTwo(lambdas: [Double], targets: [Double]) -> (value: Double, dLogits: [Double]) {
        let smallest = 1e-12
        var value = 0.0
        for (lambda, y) in zip(lambdas, targets) {
            value -= y * log(max(lambda, smallest)) + (1 - y) * log(max(1 - lambda, smallest))
        }
        let count = Double(max(lambdas.count, 1))
        return (value / count, zip(lambdas, targets).map { ($0 - $1) / count })
    }
}
