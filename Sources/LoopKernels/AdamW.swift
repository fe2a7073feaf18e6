import CKernels

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
    /// The AVX2 kernel (`CKernels/adamw.c`) where the CPU has it; the Swift loop (baseline x86-64,
    /// so 4-wide SSE) otherwise and in the tests that compare the two.
    public static func update(
        parameters: UnsafeMutablePointer<Float>, gradients: UnsafePointer<Float>,
        firstMoment m: UnsafeMutablePointer<Float>, secondMoment v: UnsafeMutablePointer<Float>,
        count: Int, step: Int, learningRate lr: Float, weightDecay: Float,
        gradientScale: Float, hyper: AdamWHyperparameters, workers: Workers, useAVX2: Bool = CPU.hasAVX2Kernels
    ) {
        let beta1 = hyper.beta1, beta2 = hyper.beta2, eps = hyper.epsilon
        let correction1 = 1 - Float(Double(beta1).power(step))
        let correction2Root = Float((1 - Double(beta2).power(step)).squareRoot())
        let stepSize = lr / correction1
        let decay = 1 - lr * weightDecay
        typealias V = VectorMath.Vector
        let w = VectorMath.width
        @inline(__always) func update(_ i: Int, _ g: V, _ mOld: V, _ vOld: V, _ p: V) -> (V, V, V) {
            let scaled = g * gradientScale
            let mi = beta1 * mOld + (1 - beta1) * scaled
            let vi = beta2 * vOld + (1 - beta2) * scaled * scaled
            let denominator = vi.squareRoot() / correction2Root + eps
            return (mi, vi, p * decay - stepSize * mi / denominator)
        }
        let vectors = count / w
        workers.forEachChunk(vectors, minPerChunk: 2048) { range, _ in
            if useAVX2 {  // the same operations in the same order, eight lanes at a time: the same bits
                let i = range.lowerBound * w
                looplm_adamw_avx2(parameters + i, gradients + i, m + i, v + i, range.count * w, gradientScale,
                                  beta1, beta2, eps, correction2Root, stepSize, decay)
                return
            }
            for vector in range {
                let i = vector * w
                let (mi, vi, pi) = update(i, VectorMath.load(gradients + i), VectorMath.load(m + i),
                                          VectorMath.load(v + i), VectorMath.load(parameters + i))
                VectorMath.store(mi, m + i)
                VectorMath.store(vi, v + i)
                VectorMath.store(pi, parameters + i)
            }
        }
        for i in (vectors * w)..<count {
            let (mi, vi, pi) = update(i, V(repeating: gradients[i]), V(repeating: m[i]),
                                      V(repeating: v[i]), V(repeating: parameters[i]))
            m[i] = mi[0]
            v[i] = vi[0]
            parameters[i] = pi[0]
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
