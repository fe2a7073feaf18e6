import LoopCheckpoint
import LoopKernels
import LoopModel

/// AdamW with decoupled weight decay on matrices and embeddings only (nanoGPT's rule:
/// tensors of two or more dimensions), bias-corrected moments and global-norm clipping.
public final class AdamW {
    public var hyper: AdamWHyperparameters
    public var weightDecay: Float
    /// Clip the global gradient norm to this (PyTorch's clip_grad_norm_); nil: no clipping.
    public var maxGradientNorm: Float?
    public let firstMoment: FloatBuffer  // m, same layout as the parameters
    public let secondMoment: FloatBuffer  // v
    public internal(set) var step = 0
    private let ranges: [(range: Range<Int>, decays: Bool)]

    /// clip_grad_norm_ divides by (norm + 1e-6) so a zero gradient stays finite.
    static let clipEpsilon: Float = 1e-6
    /// Squares summed in float before a block's sum joins the double total.
    static let normBlock = 4096

    /// `only`: the tensors to update, by name (nil: all); the others stay exactly as they are
    /// (no step, no weight decay), as when only the exit gate trains.
    public init(
        table: ParameterTable, hyper: AdamWHyperparameters = AdamWHyperparameters(),
        weightDecay: Float = 0.1, maxGradientNorm: Float? = 1.0, only: Set<String>? = nil
    ) throws(MemoryError) {
        self.hyper = hyper
        self.weightDecay = weightDecay
        self.maxGradientNorm = maxGradientNorm
        firstMoment = try FloatBuffer(count: table.totalCount)
        secondMoment = try FloatBuffer(count: table.totalCount)
        // Adjacent tensors with the same decay rule merge into one range.
        var merged: [(range: Range<Int>, decays: Bool)] = []
        for spec in table.tensors where only?.contains(spec.name) ?? true {
            let range = spec.offset..<(spec.offset + spec.allocatedCount)
            if let last = merged.last, last.decays == spec.decays, last.range.upperBound == range.lowerBound {
                merged[merged.count - 1].range = last.range.lowerBound..<range.upperBound
            } else {
                merged.append((range, spec.decays))
            }
        }
        ranges = merged
    }

    /// Global L2 norm of the gradients, accumulated in Double over parts that do not depend on
    /// the thread count (so neither does the clipped update).
    public static func gradientNorm(_ gradients: FloatBuffer, workers: Workers) -> Float {
        var partial = [Double](repeating: 0, count: Workers.reductionParts)
        partial.withUnsafeMutableBufferPointer { sums in
            let sumsPointer = sums.baseAddress!
            workers.forEachPart(gradients.count, parts: Workers.reductionParts) { range, part in
                // Eight float lanes at a time, flushed to Double every normBlock elements.
                let p = gradients.pointer, width = 8
                var total: Double = 0, start = range.lowerBound
                while start < range.upperBound {
                    let end = min(start + normBlock, range.upperBound), vectors = (end - start) / width
                    var lanes = SIMD8<Float>(repeating: 0)
                    for v in 0..<vectors {
                        let g = UnsafeRawPointer(p + start + v * width).loadUnaligned(as: SIMD8<Float>.self)
                        lanes += g * g
                    }
                    var sum = lanes.sum()
                    for i in (start + vectors * width)..<end { sum += p[i] * p[i] }
                    total += Double(sum)
                    start = end
                }
                sumsPointer[part] = total
            }
        }
        return Float(partial.reduce(0, +).squareRoot())
    }

    /// Clips, then applies one update with learning rate `learningRate`.
    /// Returns the gradient norm before clipping; pass it in if the caller already has it.
    @discardableResult
    public func update(model: LoopGPT, learningRate: Float, gradientNorm: Float? = nil) -> Float {
        let norm = gradientNorm ?? Self.gradientNorm(model.gradients, workers: model.workers)
        var scale: Float = 1
        if let maxGradientNorm {
            scale = min(1, maxGradientNorm / (norm + Self.clipEpsilon))
        }
        step += 1
        for (range, decays) in ranges {
            AdamWKernel.update(
                parameters: model.parameters.pointer + range.lowerBound,
                gradients: model.gradients.pointer + range.lowerBound,
                firstMoment: firstMoment.pointer + range.lowerBound,
                secondMoment: secondMoment.pointer + range.lowerBound,
                count: range.count, step: step, learningRate: learningRate,
                weightDecay: decays ? weightDecay : 0, gradientScale: scale, hyper: hyper,
                workers: model.workers)
        }
        return norm
    }

    /// Tensor names of the moments in `training_state.safetensors`.
    static let firstMomentName = "adam.m", secondMomentName = "adam.v"

    /// Restores the step and moments saved in `file`; each moment must have exactly as many
    /// elements as the model has parameters, and be finite.
    public func restore(step: Int, from file: SafeTensorsFile) throws(CheckpointError) {
        for (name, buffer) in [(Self.firstMomentName, firstMoment), (Self.secondMomentName, secondMoment)] {
            guard let entry = file.entries[name] else { throw .missingTensor(file.path, tensor: name) }
            guard entry.shape == [buffer.count] else {
                throw .shapeMismatch(file.path, tensor: name, expected: [buffer.count], found: entry.shape)
            }
            try file.readFloats(name, into: buffer.bufferPointer)
            for i in 0..<buffer.count where !buffer[i].isFinite || (name == Self.secondMomentName && buffer[i] < 0) {
                throw .badValues(file.path, tensor: name, detail: "element \(i) is \(buffer[i])")
            }
        }
        self.step = step
    }
}
