import Foundation
import LoopCheckpoint

/// One line of `metrics.jsonl`: what a training step measured.
public struct StepMetrics: Codable, Sendable, Equatable {
    public var step: Int
    public var tokens: Int  // trained so far, over all ranks
    public var trainLoss: Double
    public var validationLoss: Double?
    public var learningRate: Double
    public var gradientNorm: Double
    public var tokensPerSecond: Double  // of the whole job
    public var stepSeconds: Double
    public var reduceSeconds: Double?  // gradient all-reduce, with more than one process
    public var loops: Int

    public init(
        step: Int, tokens: Int, trainLoss: Double, validationLoss: Double?, learningRate: Double, gradientNorm: Double,
        tokensPerSecond: Double, stepSeconds: Double, reduceSeconds: Double?, loops: Int
    ) {
        self.step = step
        self.tokens = tokens
        self.trainLoss = trainLoss
        self.validationLoss = validationLoss
        self.learningRate = learningRate
        self.gradientNorm = gradientNorm
        self.tokensPerSecond = tokensPerSecond
        self.stepSeconds = stepSeconds
        self.reduceSeconds = reduceSeconds
        self.loops = loops
    }

    enum CodingKeys: String, CodingKey {
        case step, tokens, loops
        case trainLoss = "train_loss", validationLoss = "val_loss", learningRate = "lr", gradientNorm = "grad_norm"
        case tokensPerSecond = "tokens_per_second", stepSeconds = "step_seconds", reduceSeconds = "reduce_seconds"
    }
}

/// How a run ended.
public struct RunSummary: Codable, Sendable, Equatable {
    public var step: Int
    public var tokens: Int
    public var trainLoss: Double?  // of the last step (nil: no step has run)
    public var validationLoss: Double?
    public var bestValidationLoss: Double?
    public var checkpoint: String
    /// Stopped before the end of its schedule (signal or `stopAt`); `--resume` continues it.
    public var interrupted: Bool
    /// Σ step times of the whole run (evaluation and checkpoints excluded).
    public var trainingSeconds: Double
    public var processes: Int
    /// FNV-1a hash of the weights' bytes, checked equal on every rank.
    public var weightsHash: String
    /// The most memory this process held at once.
    public var peakResidentBytes: Int

    enum CodingKeys: String, CodingKey {
        case step, tokens, checkpoint, interrupted, processes
        case weightsHash = "weights_hash", peakResidentBytes = "peak_resident_bytes"
        case trainLoss = "train_loss", validationLoss = "val_loss", bestValidationLoss = "best_val_loss"
        case trainingSeconds = "training_seconds"
    }
}

/// metrics.jsonl: one `StepMetrics` per line, appended through POSIX calls so a full disk is
/// a typed error like any other write failure.
public final class MetricsLog {
    public let path: String
    private let sink: FileSink

    public init(path: String) throws(CheckpointError) {
        self.path = path
        sink = try FileSink(appendingTo: path)
    }

    public func append(_ metrics: StepMetrics) throws(CheckpointError) {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        var data: Data
        do { data = try encoder.encode(metrics) } catch {
            throw .writeFailed(path, detail: "cannot encode step \(metrics.step): \(error)")
        }
        data.append(UInt8(ascii: "\n"))
        try sink.write(data)
    }

    /// Every line of a metrics file; a line that does not parse is an error.
    public static func read(path: String) throws -> [StepMetrics] {
        guard let data = FileManager.default.contents(atPath: path) else { throw DataError.missingFile(path) }
        let decoder = JSONDecoder()
        return try data.split(separator: UInt8(ascii: "\n")).enumerated().map { index, line in
            do { return try decoder.decode(StepMetrics.self, from: Data(line)) } catch {
                throw DataError.corrupt(path, "line \(index + 1) is not a metrics record")
            }
        }
    }

    /// Drops lines logged after `step` (steps a resumed run will redo), atomically. Lines
    /// that do not parse (a write cut short) are dropped too.
    public static func truncate(path: String, afterStep step: Int) throws {
        guard let data = FileManager.default.contents(atPath: path) else { return }
        let decoder = JSONDecoder()
        var kept = Data()
        for line in data.split(separator: UInt8(ascii: "\n")) {
            let record: StepMetrics
            do { record = try decoder.decode(StepMetrics.self, from: Data(line)) } catch { continue }  // cut short by a crash
            guard record.step <= step else { continue }
            kept.append(contentsOf: line)
            kept.append(UInt8(ascii: "\n"))
        }
        try AtomicFiles.write(to: path) { (sink) throws(CheckpointError) in try sink.write(kept) }
    }
}
