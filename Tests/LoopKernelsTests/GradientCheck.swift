import LoopKernels

/// Finite-difference check of a kernel's backward along random directions.
///
/// The objective is L = Σ out · r for a fixed random r, accumulated in Double; the
/// kernels are float32, so steps are ~1e-2 and tolerances ~1e-2 relative.
struct GradientCheck {
    var state: UInt64 = 0x1234_5678

    mutating func uniform() -> Float {
        state = state &* 6364136223846793005 &+ 1442695040888963407
        return Float(state >> 40) / Float(1 << 24) * 2 - 1
    }

    mutating func buffer(_ count: Int, scale: Float = 1, offset: Float = 0) throws -> FloatBuffer {
        let b = try FloatBuffer(count: count)
        for i in 0..<count { b[i] = uniform() * scale + offset }
        return b
    }

    static func dot(_ a: FloatBuffer, _ b: FloatBuffer) -> Double {
        var s = 0.0
        for i in 0..<a.count { s += Double(a[i]) * Double(b[i]) }
        return s
    }

    /// Central difference of `objective` along a random unit direction of `input`,
    /// compared with the analytic directional derivative Σ gradient · direction.
    /// Returns (numeric, analytic).
    mutating func directional(
        input: FloatBuffer, gradient: [Float], step: Float = 1e-2, objective: () -> Double
    ) -> (numeric: Double, analytic: Double) {
        var direction = [Float](repeating: 0, count: input.count)
        var norm: Float = 0
        for i in 0..<input.count {
            direction[i] = uniform()
            norm += direction[i] * direction[i]
        }
        norm = norm.squareRoot()
        var analytic = 0.0
        for i in 0..<input.count {
            direction[i] /= norm
            analytic += Double(gradient[i]) * Double(direction[i])
        }
        let original = input.array
        for i in 0..<input.count { input[i] = original[i] + step * direction[i] }
        let plus = objective()
        for i in 0..<input.count { input[i] = original[i] - step * direction[i] }
        let minus = objective()
        for i in 0..<input.count { input[i] = original[i] }
        return ((plus - minus) / Double(2 * step), analytic)
    }
}

func agrees(_ pair: (numeric: Double, analytic: Double), tolerance: Double = 2e-2) -> Bool {
    abs(pair.numeric - pair.analytic) <= tolerance * max(abs(pair.analytic), 1e-3)
}
