import Foundation
import LoopModel

/// How a training step picks its loop count ("elastic depth"): drawn from the trainer's own
/// generator, so a resumed run draws the same counts. Off by default (the paper trains at a
/// fixed loop count).
public enum LoopSampling: Codable, Equatable, Sendable, CustomStringConvertible {
    /// Uniform over minimum...maximum.
    case uniform(minimum: Int, maximum: Int)
    /// A heavy tail around a mean: λ = exp(N(ln mean − σ²/2, σ)) (so E[λ] = mean), loops =
    /// max(1, Poisson(λ)), capped at `maximum` to bound memory.
    case logNormalPoisson(mean: Double, sigma: Double, maximum: Int)

    /// Parses `uniform:A-B` or `lognormal-poisson:MEAN[:SIGMA[:MAX]]`; nil unless the result
    /// `isValid`.
    public init?(argument: String) {
        let parts = argument.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
        switch parts.first {
        case "uniform":
            let bounds = parts.count == 2 ? parts[1].split(separator: "-").compactMap { Int($0) } : []
            guard bounds.count == 2 else { return nil }
            self = .uniform(minimum: bounds[0], maximum: bounds[1])
        case "lognormal-poisson":
            guard (2...4).contains(parts.count), let mean = Double(parts[1]), mean.isFinite, mean >= 1,
                mean <= Double(ModelConfiguration.Limit.loops)
            else { return nil }
            let sigma = parts.count > 2 ? Double(parts[2]) : 0.5
            let maximum = parts.count > 3 ? Int(parts[3]) : Int((4 * mean).rounded(.up))
            guard let sigma, let maximum else { return nil }
            self = .logNormalPoisson(mean: mean, sigma: sigma, maximum: maximum)
        default: return nil
        }
        guard isValid else { return nil }
    }

    public var description: String {
        switch self {
        case .uniform(let a, let b): return "uniform:\(a)-\(b)"
        case .logNormalPoisson(let mean, let sigma, let maximum): return "lognormal-poisson:\(mean):\(sigma):\(maximum)"
        }
    }

    /// The largest loop count it can draw (what activation memory must hold).
    public var maximum: Int {
        switch self {
        case .uniform(_, let b): return b
        case .logNormalPoisson(_, _, let maximum): return maximum
        }
    }

    public var isValid: Bool {
        let loops = 1...ModelConfiguration.Limit.loops
        switch self {
        case .uniform(let a, let b): return loops.contains(a) && loops.contains(b) && b >= a
        case .logNormalPoisson(let mean, let sigma, let maximum):
            return mean.isFinite && mean >= 1 && mean <= Double(loops.upperBound) && sigma.isFinite && sigma >= 0
                && sigma <= Self.maximumSigma && loops.contains(maximum)
        }
    }

    /// Spreads past this make λ overflow; they mean nothing for a loop count anyway.
    static let maximumSigma = 10.0
    /// Knuth's method multiplies uniforms down to exp(−λ), which underflows past λ ≈ 745; a
    /// larger λ is drawn as a sum of Poisson draws of at most this much (still exact).
    static let poissonPiece = 500.0

    public func draw(_ generator: inout SeededGenerator) -> Int {
        switch self {
        case .uniform(let a, let b):
            return a + Int(generator.next() % UInt64(b - a + 1))
        case .logNormalPoisson(let mean, let sigma, let maximum):
            var lambda = exp(log(mean) - sigma * sigma / 2 + sigma * generator.nextNormal())
            // Knuth's method per piece, cut off at `maximum` (so the tail costs at most
            // `maximum` draws in all).
            var k = 0
            while lambda > 0 && k < maximum {
                let piece = min(lambda, Self.poissonPiece)
                lambda -= piece
                let limit = exp(-piece)
                var product = generator.nextUniform()
                while product > limit && k < maximum {
                    k += 1
                    product *= generator.nextUniform()
                }
            }
            return min(max(k, 1), maximum)
        }
    }
}
