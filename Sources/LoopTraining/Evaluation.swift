import Dispatch
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

/// Evaluation under an exit rule: what it cost and what it scored.
public struct AdaptiveEvaluationResult: Sendable {
    public let loss: Double  // nats/token
    public let tokens: Int
    public let meanLoops: Double  // loop passes per token
    public let loopsPerToken: [Int]  // in evaluation order
    public let seconds: Double  // wall time of the forward passes
}

extension Evaluation {
    /// Loss over `batches` with every token looping until `exit` stops it (at most `maxLoops`
    /// passes): each batch's windows go through a key/value cache in one pass, the rows that
    /// have exited leaving the batch, so the time follows the mean loop count.
    public static func adaptive(
        model: LanguageModel, batches: [Batch], exit: ExitRule, maxLoops: Int
    ) throws(ModelError) -> AdaptiveEvaluationResult {
        guard let rows = batches.map(\.rows).max(), let time = batches.map(\.time).max() else {
            return AdaptiveEvaluationResult(loss: .nan, tokens: 0, meanLoops: 0, loopsPerToken: [], seconds: 0)
        }
        let decoder: IncrementalDecoder
        do throws(MemoryError) {
            decoder = try IncrementalDecoder(model: model, slots: rows, loops: maxLoops, maxRows: rows * time)
        } catch { throw .outOfMemory(error) }
        var total = 0.0, scored = 0, loops: [Int] = [], seconds = 0.0
        // One untimed batch first, so that the first writes to the decoder's mapped pages are not timed.
        if let b = batches.first {
            _ = try decoder.score(tokens: b.tokens, targets: b.targets, batch: b.rows, time: b.time, exit: exit)
        }
        for b in batches {
            let start = DispatchTime.now().uptimeNanoseconds
            let part = try decoder.score(tokens: b.tokens, targets: b.targets, batch: b.rows, time: b.time, exit: exit)
            seconds += Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
            total += part.sum
            scored += part.rows
            loops += part.loops
        }
        return AdaptiveEvaluationResult(loss: total / Double(max(scored, 1)), tokens: scored,
                                        meanLoops: Double(loops.reduce(0, +)) / Double(max(loops.count, 1)),
                                        loopsPerToken: loops, seconds: seconds)
    }
}
