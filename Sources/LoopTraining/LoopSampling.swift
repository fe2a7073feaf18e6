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

    /// Parses `uniform:A-B` or `lognormal-poisson:MEAN[:SIGMA[:MAX]]`.
    public init?(argument: String) {
        let parts = argument.split(separator: ":").map(String.init)
        switch parts.first {
        case "uniform":
            let bounds = parts.count == 2 ? parts[1].split(separator: "-").compactMap { Int($0) } : []
            guard bounds.count == 2 else { return nil }
            self = .uniform(minimum: bounds[0], maximum: bounds[1])
        case "lognormal-poisson":
            guard parts.count >= 2, let mean = Double(parts[1]) else { return nil }
            let sigma = parts.count > 2 ? Double(parts[2]) : 0.5
            let maximum = parts.count > 3 ? Int(parts[3]) : Int((4 * mean).rounded(.up))
            guard let sigma, let maximum else { return nil }
            self = .logNormalPoisson(mean: mean, sigma: sigma, maximum: maximum)
        default: return nil
        }
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
        switch self {
        case .uniform(let a, let b): return a >= 1 && b >= a
        case .logNormalPoisson(let mean, let sigma, let maximum):
            return mean >= 1 && mean.isFinite && sigma >= 0 && sigma.isFinite && maximum >= 1
        }
    }

    public func draw(_ generator: inout SeededGenerator) -> Int {
        switch self {
        case .uniform(let a, let b):
            return a + Int(generator.next() % UInt64(b - a + 1))
        case .logNormalPoisson(let mean, let sigma, let maximum):
            let lambda = exp(log(mean) - sigma * sigma / 2 + sigma * generator.nextNormal())
            // Knuth's method, cut off at `maximum` (so λ's tail costs at most `maximum` draws).
            let limit = exp(-lambda)
            var k = 0, product = generator.nextUniform()
            while product > limit && k < maximum {
                k += 1
                product *= generator.nextUniform()
            }
            return min(max(k, 1), maximum)
        }
    }
}
