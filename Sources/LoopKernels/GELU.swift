import CKernels

/// GELU with GPT-2's tanh approximation: 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))).
public enum GELU {
    static let scale: Float = 0.7978845608028654  // √(2/π)
    static let cubic: Float = 0.044715

    public static func forward(
        out: UnsafeMutablePointer<Float>, inp: UnsafePointer<Float>, count: Int, workers: Workers,
        avx2: Bool = CPU.hasAVX2Kernels
    ) {
        if avx2 {
            workers.forEachChunk(count, minPerChunk: 4096 * VectorMath.width) { range, _ in
                looplm_gelu_forward_avx2(out + range.lowerBound, inp + range.lowerBound, range.count)
            }
            return
        }
        workers.forEachChunk(count / VectorMath.width, minPerChunk: 4096) { vectors, _ in
            for v in vectors {
                let i = v * VectorMath.width
                VectorMath.store(value(VectorMath.load(inp + i)), out + i)
            }
        }
        for i in (count / VectorMath.width * VectorMath.width)..<count {
            out[i] = value(VectorMath.Vector(repeating: inp[i]))[0]
        }
    }

    /// dinp = dout · GELU′(inp). `dinp` may be the same buffer as `dout`.
    public static func backward(
        dinp: UnsafeMutablePointer<Float>, inp: UnsafePointer<Float>, dout: UnsafePointer<Float>,
        count: Int, workers: Workers, avx2: Bool = CPU.hasAVX2Kernels
    ) {
        if avx2 {
            workers.forEachChunk(count, minPerChunk: 4096 * VectorMath.width) { range, _ in
                let start = range.lowerBound
                looplm_gelu_backward_avx2(dinp + start, inp + start, dout + start, range.count)
            }
            return
        }
        workers.forEachChunk(count / VectorMath.width, minPerChunk: 4096) { vectors, _ in
            for v in vectors {
                let i = v * VectorMath.width
                let d = derivative(VectorMath.load(inp + i)) * VectorMath.load(dout + i)
                VectorMath.store(d, dinp + i)
            }
        }
        for i in (count / VectorMath.width * VectorMath.width)..<count {
            dinp[i] = derivative(VectorMath.Vector(repeating: inp[i]))[0] * dout[i]
        }
    }

    @inline(__always)
    static func value(_ x: VectorMath.Vector) -> VectorMath.Vector {
        let u = scale * (x + cubic * x * x * x)
        return 0.5 * x * (1 + VectorMath.tanh(u))
    }

    @inline(__always)
    static func derivative(_ x: VectorMath.Vector) -> VectorMath.Vector {
        let u = scale * (x + cubic * x * x * x)
        let t = VectorMath.tanh(u)
        let du = scale * (1 + 3 * cubic * x * x)
        return 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * du
    }
}
