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
                var sum: Float = 0
                for i in 0..<c { sum += x[i] }
                let m = sum / Float(c)
                var squares: Float = 0
                for i in 0..<c {
                    let d = x[i] - m
                    squares += d * d
                }
                let s = 1 / (squares / Float(c) + epsilon).squareRoot()
                let y = out + row * c
                for i in 0..<c { y[i] = (x[i] - m) * s * weight[i] + bias[i] }
                mean[row] = m
                rstd[row] = s
            }
        }
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
                var dnormMean: Float = 0
                var dnormNormMean: Float = 0
                for i in 0..<c {
                    let norm = (x[i] - m) * s
                    let dnorm = weight[i] * dy[i]
                    dnormMean += dnorm
                    dnormNormMean += dnorm * norm
                }
                dnormMean /= Float(c)
                dnormNormMean /= Float(c)
                for i in 0..<c {
                    let norm = (x[i] - m) * s
                    let dnorm = weight[i] * dy[i]
                    partialBias[i] += dy[i]
                    partialWeight[i] += norm * dy[i]
                    dx[i] += (dnorm - dnormMean - norm * dnormNormMean) * s
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
