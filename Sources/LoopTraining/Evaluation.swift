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

/// Evaluation with adaptive exit: each window is decoded token by token through the key/value
/// cache, every token looping until `exit` says it has converged (at most `maxLoops` passes).
public struct AdaptiveEvaluationResult: Sendable {
    public let loss: Double  // nats/token
    public let tokens: Int
    public let meanLoops: Double  // loop passes per token
    public let loopsPerToken: [Int]  // in evaluation order
}

extension Evaluation {
    public static func adaptive(
        model: LoopGPT, windows: [[Int32]], targets: [[Int32]], exit: ExitRule?, maxLoops: Int
    ) throws(ModelInputError) -> AdaptiveEvaluationResult {
        let decoder = IncrementalDecoder(model: model)
        let cache = KVCache(config: model.config, loops: maxLoops)
        var total = 0.0, loops: [Int] = []
        for (window, next) in zip(windows, targets) {
            cache.reset()
            for (token, target) in zip(window, next) {
                let (logits, used) = try decoder.step(token: token, cache: cache, exit: exit)
                var maxLogit = -Float.infinity
                for value in logits { maxLogit = max(maxLogit, value) }
                var sum = 0.0
                for value in logits { sum += exp(Double(value - maxLogit)) }
                total += log(sum) + Double(maxLogit) - Double(logits[Int(target)])
                loops.append(used)
            }
        }
        let count = max(loops.count, 1)
        return AdaptiveEvaluationResult(loss: total / Double(count), tokens: loops.count,
                                        meanLoops: Double(loops.reduce(0, +)) / Double(count), loopsPerToken: loops)
    }
}
