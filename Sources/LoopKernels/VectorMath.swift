/// Vectorised elementwise functions on 8 floats at a time.
///
/// libm's `expf`/`tanhf` are scalar calls; softmax over a 50k vocabulary and GELU over
/// every MLP activation need them millions of times per step, so LoopLM carries its own:
/// Cody–Waite range reduction and the Cephes `expf` polynomial (relative error ≈ 2e-7).
public enum VectorMath {
    public typealias Vector = SIMD8<Float>
    public static let width = 8

    static let log2e: Float = 1.44269504088896341
    static let ln2High: Float = 0.693359375
    static let ln2Low: Float = -2.12194440e-4
    /// exp underflows to denormals below this and overflows above the upper bound.
    static let expLowerBound: Float = -87.3
    static let expUpperBound: Float = 88.3
    /// Adding 1.5·2²³ rounds a float to the nearest integer and leaves it in the low mantissa bits.
    static let roundingMagic: Float = 12_582_912
    static let roundingMagicBits: Int32 = 0x4B40_0000
    static let exponentBias: Int32 = 127

    @inline(__always)
    public static func exp(_ input: Vector) -> Vector {
        let x = clamp(input, Vector(repeating: expLowerBound), Vector(repeating: expUpperBound))
        let shifted = x * log2e + roundingMagic
        let n = shifted - roundingMagic
        let r = x - n * ln2High - n * ln2Low
        var p = Vector(repeating: 1.9875691500e-4)
        p = p * r + 1.3981999507e-3
        p = p * r + 8.3334519073e-3
        p = p * r + 4.1665795894e-2
        p = p * r + 1.6666665459e-1
        p = p * r + 5.0000001201e-1
        let y = p * (r * r) + r + 1
        let nBits = unsafeBitCast(shifted, to: SIMD8<Int32>.self) &- roundingMagicBits
        let scale = unsafeBitCast((nBits &+ exponentBias) &<< 23, to: Vector.self)
        return y * scale
    }

    /// min(max(x, lower), upper) by compare and blend: the standard library's `pointwiseMin`
    /// and `pointwiseMax` are not inlined, a call per vector.
    @inline(__always)
    static func clamp(_ x: Vector, _ lower: Vector, _ upper: Vector) -> Vector {
        let low = x.replacing(with: lower, where: x .< lower)
        return low.replacing(with: upper, where: low .> upper)
    }

    @inline(__always)
    static func maximum(_ a: Vector, _ b: Vector) -> Vector { a.replacing(with: b, where: b .> a) }

    /// tanh(u) = 1 − 2 / (exp(2u) + 1); saturates correctly at both ends.
    @inline(__always)
    public static func tanh(_ u: Vector) -> Vector {
        1 - 2 / (exp(u + u) + 1)
    }

    @inline(__always)
    public static func exp(_ x: Float) -> Float { exp(Vector(repeating: x))[0] }

    @inline(__always)
    public static func tanh(_ x: Float) -> Float { tanh(Vector(repeating: x))[0] }

    /// Whether every value is finite: x · 0 is NaN exactly when x is NaN or infinite, and NaN
    /// stays NaN through the sum, so one multiply-add per value and one test at the end.
    public static func allFinite(_ values: UnsafePointer<Float>, count: Int) -> Bool {
        var sums = Vector(), i = 0
        while i + width <= count {
            sums += load(values + i) * 0
            i += width
        }
        var tail: Float = 0
        while i < count {
            tail += values[i] * 0
            i += 1
        }
        return !(sums.sum() + tail).isNaN
    }

    @inline(__always)
    static func load(_ pointer: UnsafePointer<Float>) -> Vector {
        UnsafeRawPointer(pointer).loadUnaligned(as: Vector.self)
    }

    @inline(__always)
    static func store(_ value: Vector, _ pointer: UnsafeMutablePointer<Float>) {
        UnsafeMutableRawPointer(pointer).storeBytes(of: value, as: Vector.self)
    }
}
