import Foundation
import LoopModel

/// Mean loss of a model over fixed batches, in nats per scored token.
public struct EvaluationResult: Sendable, Equatable, Codable {
    public let loss: Double  // nats/token
    public let tokens: Int  // scored tokens
    public var perplexity: Double { exp(loss) }
    /// Bits per byte of text, given how many bytes the evaluated tokens stand for.
    public func bitsPerByte(bytes: Int) -> Double { loss * Double(tokens) / log(2) / Double(max(bytes, 1)) }
}

public enum Evaluation {
    /// Loss over `batches`, split over the ranks of `communicator` (rank r takes batches
    /// r, r + size, …) and summed across them, so every rank gets the same result.
    /// `onBatch` is told (batches done, batches) after each of this rank's batches.
    public static func run(
        model: LanguageModel, batches: [Batch], loops: Int? = nil, communicator: any Communicator = SingleProcess(),
        onBatch: (Int, Int) -> Void = { _, _ in }
    ) throws -> EvaluationResult {
        var sum = 0.0, rows = 0, overflowed = 0.0
        for (index, b) in batches.enumerated() where index % communicator.size == communicator.rank {
            let part: (sum: Double, rows: Int)
            do throws(ModelError) {
                part = try model.loss(tokens: b.tokens, targets: b.targets, batch: b.rows, time: b.time, loops: loops)
            } catch {
                guard error == .overflow else { throw error }
                overflowed = 1  // every rank must still reach the all-reduce, then all throw
                continue
            }
            sum += part.sum
            rows += part.rows
            onBatch(index + 1, batches.count)
        }
        let total = try communicator.allReduceSum([sum, Double(rows), overflowed])
        if total[2] > 0 { throw ModelError.overflow }
        return EvaluationResult(loss: total[1] > 0 ? total[0] / total[1] : .nan, tokens: Int(total[1]))
    }
}

/// Evaluation with adaptive exit: each window goes through the key/value cache, every token
/// looping until `exit` says it has converged (at most `maxLoops` passes).
public struct AdaptiveEvaluationResult: Sendable {
    public let loss: Double  // nats/token
    public let tokens: Int
    public let meanLoops: Double  // loop passes per token
    public let loopsPerToken: [Int]  // in evaluation order
}

extension Evaluation {
    public static func adaptive(
        model: LanguageModel, batches: [Batch], exit: ExitRule?, maxLoops: Int
    ) throws(ModelError) -> AdaptiveEvaluationResult {
        let decoder: IncrementalDecoder
        do throws(MemoryError) {
            decoder = try IncrementalDecoder(model: model, loops: maxLoops, maxRows: model.config.contextLength)
        } catch { throw .outOfMemory(error) }
        var total = 0.0, scored = 0, loops: [Int] = []
        for b in batches {
            for row in 0..<b.rows {
                let window = Array(b.tokens[(row * b.time)..<((row + 1) * b.time)])
                let targets = Array(b.targets[(row * b.time)..<((row + 1) * b.time)])
                decoder.cache.reset()
                // Token by token: each prediction's logits are read before the next token goes in.
                for (token, target) in zip(window, targets) {
                    let logits = try decoder.step(token: token, exit: exit)
                    loops += decoder.loopsPerRow
                    guard target != -1 else { continue }
                    var maxLogit = -Float.infinity
                    for value in logits { maxLogit = max(maxLogit, value) }
                    var sum = 0.0
                    for value in logits { sum += exp(Double(value - maxLogit)) }
                    total += log(sum) - (Double(logits[Int(target)]) - Double(maxLogit))
                    scored += 1
                }
            }
        }
        return AdaptiveEvaluationResult(loss: total / Double(max(scored, 1)), tokens: scored,
                                        meanLoops: Double(loops.reduce(0, +)) / Double(max(loops.count, 1)),
                                        loopsPerToken: loops)
    }
}
