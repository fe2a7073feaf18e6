import CKernels
import Foundation

/// Softmax over the first V of Vp logits fused with the cross-entropy loss.
/// The padded columns V..<Vp get gradient 0.
///
/// The logits buffer is B·T·Vp floats (200 MB at GPT-2 scale), so passes over it are what
/// this costs: forward only reads it once (keeping each row's max and 1/Σexp), and backward
/// turns it into dlogits in a single read–write pass.
public enum CrossEntropy {
    /// Writes each row's loss −log p[target] and returns the mean over the rows that have a
    /// target. A target of −1 (`ignored`) masks its row out: loss 0, no gradient.
    /// The logits are left as they are.
    @discardableResult
    public static func forward(
        logits: UnsafePointer<Float>,  // (N, Vp)
        rowMax: UnsafeMutablePointer<Float>,  // (N) max logit of each row
        normalizers: UnsafeMutablePointer<Float>,  // (N) 1 / Σ exp(logit − max)
        losses: UnsafeMutablePointer<Float>,  // (N)
        targets: UnsafePointer<Int32>,  // (N)
        rows n: Int, vocabSize v: Int, paddedVocabSize vp: Int, workers: Workers, avx2: Bool = CPU.hasAVX2Kernels
    ) -> Float {
        workers.forEachChunk(n, minPerChunk: 1) { rows, _ in
            for row in rows {
                guard targets[row] != ignored else {
                    losses[row] = 0
                    continue
                }
                let x = logits + row * vp
                var maxValue: Float = 0, sum: Float = 0
                if avx2 {
                    looplm_softmax_max_sum_avx2(x, v, &maxValue, &sum)
                } else {
                    (maxValue, sum) = Softmax.maxAndSum(x, count: v)
                }
                rowMax[row] = maxValue
                normalizers[row] = 1 / sum
                losses[row] = Float(Foundation.log(Double(sum))) - (x[Int(targets[row])] - maxValue)  // the difference first: exact for huge logits
            }
        }
        var total: Double = 0
        for row in 0..<n { total += Double(losses[row]) }
        let counted = targetCount(targets, rows: n)
        return counted == 0 ? 0 : Float(total / Double(counted))
    }

    /// The target id that masks a row out of the loss.
    public static let ignored: Int32 = -1

    /// Rows whose target is not `ignored`.
    public static func targetCount(_ targets: UnsafePointer<Int32>, rows n: Int) -> Int {
        var count = 0
        for row in 0..<n where targets[row] != ignored { count += 1 }
        return count
    }

    /// dlogits = (softmax − onehot(target)) · lossScale, in place over the logits; 0 for
    /// masked rows.
    /// `lossScale` is d(loss)/d(row loss): 1/N for a mean, divided again by accumulation steps;
    /// `rowScales` (N), when given, multiplies it row by row (a weighted sum of row losses).
    public static func backward(
        logits: UnsafeMutablePointer<Float>,  // (N, Vp): logits in, dlogits out
        rowMax: UnsafePointer<Float>, normalizers: UnsafePointer<Float>,  // (N)
        targets: UnsafePointer<Int32>,  // (N)
        lossScale: Float, rowScales: UnsafePointer<Float>? = nil,
        rows n: Int, vocabSize v: Int, paddedVocabSize vp: Int, workers: Workers, avx2: Bool = CPU.hasAVX2Kernels
    ) {
        let w = VectorMath.width
        workers.forEachChunk(n, minPerChunk: 1) { rows, _ in
            for row in rows {
                let x = logits + row * vp
                guard targets[row] != ignored else {
                    x.update(repeating: 0, count: vp)
                    continue
                }
                let scale = lossScale * (rowScales?[row] ?? 1)
                let maxValue = rowMax[row], factor = normalizers[row] * scale
                if avx2 {
                    looplm_softmax_scale_avx2(x, v, maxValue, factor)
                } else {
                    let vectors = v / w
                    for vector in 0..<vectors {
                        let p = x + vector * w
                        VectorMath.store(VectorMath.exp(VectorMath.load(p) - maxValue) * factor, p)
                    }
                    for i in (vectors * w)..<v { x[i] = VectorMath.exp(x[i] - maxValue) * factor }
                }
                (x + v).update(repeating: 0, count: vp - v)
                x[Int(targets[row])] -= scale
            }
        }
    }
}

/// Numerically stable softmax of a row, in place.
public enum Softmax {
    @inline(__always)
    public static func inPlace(_ x: UnsafeMutablePointer<Float>, count: Int) {
        let (_, sum) = exponentiate(x, count: count)
        Vectorised.scale(x, count: count, by: 1 / sum)
    }

    /// Max of x and Σ exp(x − max), reading x once: blocks small enough to stay in L1 are
    /// read twice (max, then exponentials), and the running sum is rescaled per block.
    @inline(__always)
    public static func maxAndSum(_ x: UnsafePointer<Float>, count: Int) -> (max: Float, sum: Float) {
        let w = VectorMath.width, block = 1024
        var runningMax = -Float.infinity, runningSum: Float = 0
        var start = 0
        while start < count {
            let length = min(block, count - start), p = x + start
            let vectors = length / w
            let blockMax = Vectorised.maximum(p, count: length)
            var sumVector = VectorMath.Vector(repeating: 0)
            for v in 0..<vectors { sumVector += VectorMath.exp(VectorMath.load(p + v * w) - blockMax) }
            var blockSum = sumVector.sum()
            for i in (vectors * w)..<length { blockSum += VectorMath.exp(p[i] - blockMax) }
            if blockMax > runningMax {
                runningSum = runningSum * VectorMath.exp(runningMax - blockMax) + blockSum
                runningMax = blockMax
            } else {
                runningSum += blockSum * VectorMath.exp(blockMax - runningMax)
            }
            start += length
        }
        return (runningMax, runningSum)
    }

    /// x ← exp(x − max x); returns the max and the sum of the exponentials.
    @inline(__always)
    public static func exponentiate(
        _ x: UnsafeMutablePointer<Float>, count: Int
    ) -> (max: Float, sum: Float) {
        let w = VectorMath.width
        let vectors = count / w
        let maxValue = Vectorised.maximum(x, count: count)
        var sumVector = VectorMath.Vector(repeating: 0)
        for v in 0..<vectors {
            let e = VectorMath.exp(VectorMath.load(x + v * w) - maxValue)
            VectorMath.store(e, x + v * w)
            sumVector += e
        }
        var sum = sumVector.sum()
        for i in (vectors * w)..<count {
            x[i] = VectorMath.exp(x[i] - maxValue)
            sum += x[i]
        }
        return (maxValue, sum)
    }
}

/// Small vectorised loops the compiler would not vectorise through possibly aliasing pointers.
public enum Vectorised {
    @inline(__always)
    public static func maximum(_ x: UnsafePointer<Float>, count: Int) -> Float {
        let w = VectorMath.width, vectors = count / w
        var maxVector = VectorMath.Vector(repeating: -.infinity)
        for v in 0..<vectors { maxVector = VectorMath.maximum(maxVector, VectorMath.load(x + v * w)) }
        var maxValue = maxVector.max()
        for i in (vectors * w)..<count { maxValue = max(maxValue, x[i]) }
        return maxValue
    }

    @inline(__always)
    public static func scale(_ x: UnsafeMutablePointer<Float>, count: Int, by factor: Float) {
        let w = VectorMath.width, vectors = count / w
        for v in 0..<vectors { VectorMath.store(VectorMath.load(x + v * w) * factor, x + v * w) }
        for i in (vectors * w)..<count { x[i] *= factor }
    }
}
