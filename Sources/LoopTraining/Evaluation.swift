import Foundation
import LoopModel

/// Mean loss of a model over fixed batches, in nats per token.
public struct EvaluationResult: Sendable, Equatable {
    public let loss: Double  // nats/token
    public let tokens: Int
    public var perplexity: Double { exp(loss) }
    /// Bits per byte of text, given how many bytes the evaluated tokens stand for.
    public func bitsPerByte(bytes: Int) -> Double { loss * Double(tokens) / log(2) / Double(bytes) }
}

public enum Evaluation {
    public static func run(
        model: LoopGPT, batches: [Batch], batch: Int, time: Int, loops: Int? = nil
    ) throws(ModelInputError) -> EvaluationResult {
        var total = 0.0
        for b in batches {
            let loss = try model.forward(tokens: b.tokens, targets: b.targets, batch: batch,
                                         time: time, loops: loops) ?? .nan
            total += Double(loss)
        }
        return EvaluationResult(loss: total / Double(max(batches.count, 1)), tokens: batches.count * batch * time)
    }
}
