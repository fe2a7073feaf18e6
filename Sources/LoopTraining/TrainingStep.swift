import LoopKernels
import LoopModel

/// One optimizer step over `microBatches` forward/backward passes (gradient accumulation):
/// the loss of each micro-batch is scaled by 1/microBatches so the gradient is that of
/// the mean over the whole batch.
public struct StepResult: Sendable {
    public let loss: Float  // mean over micro-batches
    public let gradientNorm: Float  // before clipping
}

public enum TrainingStep {
    public static func run(
        model: LoopGPT, optimizer: AdamW, learningRate: Float,
        microBatches: [(tokens: [Int32], targets: [Int32])], batch: Int, time: Int,
        loops: Int? = nil
    ) throws(ModelInputError) -> StepResult {
        model.zeroGradients()
        var total: Float = 0
        let scale = 1 / Float(microBatches.count)
        for micro in microBatches {
            let loss = try model.forward(tokens: micro.tokens, targets: micro.targets,
                                         batch: batch, time: time, loops: loops) ?? .nan
            total += loss
            model.backward(lossScale: scale)
        }
        let norm = optimizer.update(model: model, learningRate: learningRate)
        return StepResult(loss: total * scale, gradientNorm: norm)
    }
}
