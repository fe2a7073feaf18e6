import Foundation

/// Softmax over the first V of Vp logits fused with the cross-entropy loss.
/// The padded columns V..<Vp get probability 0 and gradient 0.
public enum CrossEntropy {
    /// Turns logits into probabilities in place and writes each row's loss −log p[target].
    /// Returns the mean loss over the rows.
    @discardableResult
    public static func forward(
        probs: UnsafeMutablePointer<Float>,  // (N, Vp): logits in, probabilities out
        losses: UnsafeMutablePointer<Float>,  // (N)
        targets: UnsafePointer<Int32>,  // (N)
        rows n: Int, vocabSize v: Int, paddedVocabSize vp: Int, workers: Workers
    ) -> Float {
        workers.forEachChunk(n, minPerChunk: 1) { rows, _ in
            for row in rows {
                let p = probs + row * vp
                Softmax.inPlace(p, count: v)
                (p + v).update(repeating: 0, count: vp - v)
                losses[row] = -Foundation.log(max(p[Int(targets[row])], Float.leastNormalMagnitude))
            }
        }
        var total: Double = 0
        for row in 0..<n { total += Double(losses[row]) }
        return Float(total / Double(n))
    }

    /// dlogits = (probs − onehot(target)) · lossScale, in place over the probabilities.
    /// `lossScale` is d(loss)/d(row loss): 1/N for a mean, divided again by accumulation steps.
    public static func backward(
        probs: UnsafeMutablePointer<Float>,  // (N, Vp): probabilities in, dlogits out
        targets: UnsafePointer<Int32>,  // (N)
        lossScale: Float,
        rows n: Int, vocabSize v: Int, paddedVocabSize vp: Int, workers: Workers
    ) {
        workers.forEachChunk(n, minPerChunk: 1) { rows, _ in
            for row in rows {
                let p = probs + row * vp
                for i in 0..<v { p[i] *= lossScale }
                p[Int(targets[row])] -= lossScale
            }
        }
    }
}

/// Numerically stable softmax of a row, in place.
public enum Softmax {
    @inline(__always)
    public static func inPlace(_ x: UnsafeMutablePointer<Float>, count: Int) {
        let w = VectorMath.width
        let vectors = count / w
        var maxVector = VectorMath.Vector(repeating: -.infinity)
        for v in 0..<vectors { maxVector = pointwiseMax(maxVector, VectorMath.load(x + v * w)) }
        var maxValue = maxVector.max()
        for i in (vectors * w)..<count { maxValue = max(maxValue, x[i]) }
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
        let inverse = 1 / sum
        for v in 0..<vectors { VectorMath.store(VectorMath.load(x + v * w) * inverse, x + v * w) }
        for i in (vectors * w)..<count { x[i] *= inverse }
    }
}
