/// One AdamW update over a contiguous parameter range, with PyTorch's order of operations:
/// p ← p·(1 − lr·wd); m ← β₁m + (1−β₁)g; v ← β₂v + (1−β₂)g²;
/// p ← p − (lr / (1−β₁ᵗ)) · m / (√v / √(1−β₂ᵗ) + ε).
public struct AdamWHyperparameters: Sendable, Equatable, Codable {
    public var beta1: Float
    public var beta2: Float
    public var epsilon: Float

    public init(beta1: Float = 0.9, beta2: Float = 0.95, epsilon: Float = 1e-8) {
        self.beta1 = beta1
        self.beta2 = beta2
        self.epsilon = epsilon
    }
}

public enum AdamWKernel {
    public static func update(
        parameters: UnsafeMutablePointer<Float>, gradients: UnsafePointer<Float>,
        firstMoment m: UnsafeMutablePointer<Float>, secondMoment v: UnsafeMutablePointer<Float>,
        count: Int, step: Int, learningRate lr: Float, weightDecay: Float,
        gradientScale: Float, hyper: AdamWHyperparameters, workers: Workers
    ) {
        let beta1 = hyper.beta1, beta2 = hyper.beta2, eps = hyper.epsilon
        let correction1 = 1 - Float(Double(beta1).power(step))
        let correction2Root = Float((1 - Double(beta2).power(step)).squareRoot())
        let stepSize = lr / correction1
        let decay = 1 - lr * weightDecay
        workers.forEachChunk(count, minPerChunk: 16384) { range, _ in
            for i in range {
                let g = gradients[i] * gradientScale
                let mi = beta1 * m[i] + (1 - beta1) * g
                let vi = beta2 * v[i] + (1 - beta2) * g * g
                m[i] = mi
                v[i] = vi
                let denominator = vi.squareRoot() / correction2Root + eps
                parameters[i] = parameters[i] * decay - stepSize * mi / denominator
            }
        }
    }
}

extension Double {
    @inline(__always)
    func power(_ exponent: Int) -> Double {
        var result = 1.0
        for _ in 0..<exponent { result *= self }
        return result
    }
}
