/// LayerNorm over the last dimension, as GPT-2 (epsilon 1e-5, biased variance).
public enum LayerNorm {
    /// Whether every row's statistics were finite: a row whose variance overflowed (values
    /// past about 1e19 apart) gets rstd 0, which never happens otherwise.
    public static func rowsWereFinite(rstd: UnsafePointer<Float>, rows: Int) -> Bool {
        for row in 0..<rows where !(rstd[row] > 0 && rstd[row].isFinite) { return false }
        return true
    }

    public static let epsilon: Float = 1e-5

    /// out = (inp − mean) · rstd · weight + bias, per row; saves mean and rstd for backward.
    public static func forward(
        out: UnsafeMutablePointer<Float>,  // (N, C)
        mean: UnsafeMutablePointer<Float>,  // (N)
        rstd: UnsafeMutablePointer<Float>,  // (N)
        inp: UnsafePointer<Float>,  // (N, C)
        weight: UnsafePointer<Float>, bias: UnsafePointer<Float>,  // (C)
        rows n: Int, channels c: Int, workers: Workers
    ) {
        workers.forEachChunk(n, minPerChunk: 16) { rows, _ in
            for row in rows {
                let x = inp + row * c
                let m = rowSum(x, count: c) { $0 } / Float(c)
                let s = 1 / (rowSum(x, count: c) { ($0 - m) * ($0 - m) } / Float(c) + epsilon).squareRoot()
                let y = out + row * c
                let centre = VectorMath.Vector(repeating: m), scale = VectorMath.Vector(repeating: s)
                var i = 0
                while i + VectorMath.width <= c {
                    let normed = (VectorMath.load(x + i) - centre) * scale
                    VectorMath.store(normed * VectorMath.load(weight + i) + VectorMath.load(bias + i), y + i)
                    i += VectorMath.width
                }
                while i < c {
                    y[i] = (x[i] - m) * s * weight[i] + bias[i]
                    i += 1
                }
                mean[row] = m
                rstd[row] = s
            }
        }
    }

    /// Σ f(x[i]) over a row, in two vectors of partial sums (so the loop is not one long
    /// dependency chain), then the lanes, then the tail.
    @inline(__always)
    static func rowSum(_ x: UnsafePointer<Float>, count c: Int, _ f: (VectorMath.Vector) -> VectorMath.Vector) -> Float {
        let width = VectorMath.width
        var even = VectorMath.Vector(), odd = VectorMath.Vector(), i = 0
        while i + 2 * width <= c {
            even += f(VectorMath.load(x + i))
            odd += f(VectorMath.load(x + i + width))
            i += 2 * width
        }
        if i + width <= c {
            even += f(VectorMath.load(x + i))
            i += width
        }
        var total = (even + odd).sum()
        while i < c {
            total += f(VectorMath.Vector(repeating: x[i]))[0]
            i += 1
        }
        return total
    }

    /// Floats of scratch `backward` needs.
    public static func scratchCount(channels c: Int) -> Int { 2 * c * Workers.reductionParts }

    /// dinp += LayerNorm's input gradient; dweight, dbias += their gradients.
    ///
    /// `scratch` holds per-part partial sums: `scratchCount(channels:)` floats.
    /// The rows are cut into the same parts whatever the thread count, so the result does not
    /// depend on it.
    public static func backward(
        dinp: UnsafeMutablePointer<Float>,  // (N, C), accumulated
        dweight: UnsafeMutablePointer<Float>, dbias: UnsafeMutablePointer<Float>,  // (C)
        dout: UnsafePointer<Float>,  // (N, C)
        inp: UnsafePointer<Float>,  // (N, C)
        weight: UnsafePointer<Float>,  // (C)
        mean: UnsafePointer<Float>, rstd: UnsafePointer<Float>,  // (N)
        scratch scratchBuffer: UnsafeMutableBufferPointer<Float>,
        rows n: Int, channels c: Int, workers: Workers
    ) {
        let parts = Workers.reductionParts
        precondition(scratchBuffer.count >= scratchCount(channels: c), "LayerNorm.backward scratch is too small")
        let scratch = scratchBuffer.baseAddress!
        scratch.update(repeating: 0, count: 2 * c * parts)
        workers.forEachPart(n, parts: parts) { rows, chunk in
            let partialWeight = scratch + 2 * c * chunk
            let partialBias = partialWeight + c
            for row in rows {
                let x = inp + row * c, dy = dout + row * c, dx = dinp + row * c
                let m = mean[row], s = rstd[row]
                typealias V = VectorMath.Vector
                let width = VectorMath.width, centre = V(repeating: m), scale = V(repeating: s)
                // Σ dnorm and Σ dnorm·norm over the row, where norm = (x − mean)·rstd, dnorm = weight·dy.
                var sumDnorm = V(), sumDnormNorm = V(), i = 0
                while i + width <= c {
                    let norm = (VectorMath.load(x + i) - centre) * scale
                    let dnorm = VectorMath.load(weight + i) * VectorMath.load(dy + i)
                    sumDnorm += dnorm
                    sumDnormNorm += dnorm * norm
                    i += width
                }
                var dnormMean = sumDnorm.sum(), dnormNormMean = sumDnormNorm.sum()
                while i < c {
                    let norm = (x[i] - m) * s
                    let dnorm = weight[i] * dy[i]
                    dnormMean += dnorm
                    dnormNormMean += dnorm * norm
                    i += 1
                }
                dnormMean /= Float(c)
                dnormNormMean /= Float(c)
                let meanV = V(repeating: dnormMean), normMeanV = V(repeating: dnormNormMean)
                i = 0
                while i + width <= c {
                    let g = VectorMath.load(dy + i)
                    let norm = (VectorMath.load(x + i) - centre) * scale
                    let dnorm = VectorMath.load(weight + i) * g
                    VectorMath.store(VectorMath.load(partialBias + i) + g, partialBias + i)
                    VectorMath.store(VectorMath.load(partialWeight + i) + norm * g, partialWeight + i)
                    VectorMath.store(VectorMath.load(dx + i) + (dnorm - meanV - norm * normMeanV) * scale, dx + i)
                    i += width
                }
                while i < c {
                    let norm = (x[i] - m) * s
                    let dnorm = weight[i] * dy[i]
                    partialBias[i] += dy[i]
                    partialWeight[i] += norm * dy[i]
                    dx[i] += (dnorm - dnormMean - norm * dnormNormMean) * s
                    i += 1
                }
            }
        }
        for chunk in 0..<parts {
            let partialWeight = scratch + 2 * c * chunk
            let partialBias = partialWeight + c
            for i in 0..<c {
                dweight[i] += partialWeight[i]
                dbias[i] += partialBias[i]
            }
        }
    }
}
