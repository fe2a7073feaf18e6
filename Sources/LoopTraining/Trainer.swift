import Foundation
import LoopCheckpoint
import LoopKernels
import LoopModel

/// What one optimizer step did, for logs and progress.
public struct StepRecord: Sendable {
    public let step: Int
    public let loss: Float
    public let learningRate: Float
    public let gradientNorm: Float
    public let seconds: Double
    public let loops: Int  // the loop count this step ran
}

/// A training run: model, optimizer, data and the generator that draws batches.
/// Everything needed to continue bit for bit is in `TrainingState`.
public final class Trainer {
    public let model: LoopGPT
    public let optimizer: AdamW
    public let options: TrainingOptions
    public let train: TokenStream
    public let validation: TokenStream?
    public var generator: SeededGenerator
    public var bestValidationLoss: Double?
    public var step: Int { optimizer.step }

    public init(
        model: LoopGPT, options: TrainingOptions, train: TokenStream, validation: TokenStream?,
        generator: SeededGenerator
    ) {
        self.model = model
        self.options = options
        self.train = train
        self.validation = validation
        self.generator = generator
        optimizer = AdamW(table: model.table, hyper: options.adam, weightDecay: options.weightDecay,
                          maxGradientNorm: options.maxGradientNorm)
    }

    /// One optimizer step over `microBatches` random batches. A non-finite loss throws
    /// `divergence` before the weights are touched.
    public func trainStep() throws -> StepRecord {
        let start = Date()
        let batches = (0..<options.microBatches).map { _ in
            train.randomBatch(batch: options.batch, time: options.time, generator: &generator)
        }
        let loops = options.loopSampling?.draw(&generator)
        model.zeroGradients()
        var total: Float = 0
        for b in batches {
            let loss = try model.forward(tokens: b.tokens, targets: b.targets, batch: options.batch,
                                         time: options.time, loops: loops,
                                         gradientLoops: options.gradientLoops) ?? .nan
            guard loss.isFinite else { throw TrainingError.divergence(step: step + 1, loss: loss) }
            total += loss
            model.backward(lossScale: 1 / Float(options.microBatches))
        }
        let rate = options.schedule.rate(atStep: step + 1)
        let norm = AdamW.gradientNorm(model.gradients, workers: model.workers)
        guard norm.isFinite else { throw TrainingError.divergence(step: step + 1, loss: .nan) }
        optimizer.update(model: model, learningRate: rate, gradientNorm: norm)
        return StepRecord(step: step, loss: total / Float(options.microBatches), learningRate: rate,
                          gradientNorm: norm, seconds: Date().timeIntervalSince(start),
                          loops: loops ?? model.config.layout.loops)
    }

    /// Validation loss on the first `evalBatches` batches of the validation stream.
    public func validationLoss(loops: Int? = nil) throws -> Double? {
        guard let validation else { return nil }
        let batches = validation.sequentialBatches(batch: options.batch, time: options.time,
                                                   maxBatches: options.evalBatches)
        guard !batches.isEmpty else { return nil }
        return try Evaluation.run(model: model, batches: batches, batch: options.batch,
                                  time: options.time, loops: loops).loss
    }

    /// Writes the checkpoint and the training state into `directory`, atomically.
    public func save(to directory: String, tokenizer: String) throws {
        try checkHealthy()
        let state = TrainingState(step: step, generator: generator, bestValidationLoss: bestValidationLoss,
                                  options: options)
        try Checkpoint.save(model, tokenizer: tokenizer, to: directory) { (partial) throws(CheckpointError) in
            try state.write(optimizer: optimizer, to: partial + "/" + TrainingState.fileName)
        }
    }

    /// A checkpoint is only written from weights that are finite and give a finite loss on
    /// the first training window (which draws nothing from the generator), so a diverging
    /// run never replaces the last good checkpoint.
    public func checkHealthy() throws {
        let p = model.parameters.pointer
        for i in 0..<model.parameters.count where !p[i].isFinite {
            throw TrainingError.divergence(step: step, loss: .nan)
        }
        guard let probe = train.sequentialBatches(batch: 1, time: options.time, maxBatches: 1).first else { return }
        let loss = try model.forward(tokens: probe.tokens, targets: probe.targets, batch: 1, time: options.time) ?? .nan
        guard loss.isFinite else { throw TrainingError.divergence(step: step, loss: loss) }
    }

    /// Restores optimizer moments, step, generator and best loss saved in `directory`.
    public func restore(_ state: TrainingState, from directory: String) throws {
        let file = try SafeTensorsFile(path: directory + "/" + TrainingState.fileName)
        try file.readFloats("adam.m", into: optimizer.firstMoment.pointer)
        try file.readFloats("adam.v", into: optimizer.secondMoment.pointer)
        optimizer.step = state.step
        generator = state.generator
        bestValidationLoss = state.bestValidationLoss
    }
}

/// The part of a run that is not the model: saved as `training_state.safetensors`
/// (Adam moments as tensors, the rest as metadata).
public struct TrainingState: Sendable {
    public static let fileName = "training_state.safetensors"
    public let step: Int
    public let generator: SeededGenerator
    public let bestValidationLoss: Double?
    public let options: TrainingOptions

    func write(optimizer: AdamW, to path: String) throws(CheckpointError) {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        let optionsJSON = (try? encoder.encode(options)).map { String(decoding: $0, as: UTF8.self) } ?? "{}"
        var metadata = ["format": "looplm-training-state", "step": String(step),
                        "generator": generator.state.map(String.init).joined(separator: ","),
                        "options": optionsJSON]
        if let bestValidationLoss { metadata["best_validation_loss"] = String(bestValidationLoss) }
        var writer = SafeTensorsWriter(metadata: metadata)
        writer.add("adam.m", shape: [optimizer.firstMoment.count], floats: optimizer.firstMoment.pointer)
        writer.add("adam.v", shape: [optimizer.secondMoment.count], floats: optimizer.secondMoment.pointer)
        try writer.write(to: path)
    }

    /// Reads the state saved beside a checkpoint.
    public static func read(directory: String) throws -> TrainingState {
        let path = directory + "/" + fileName
        let file = try SafeTensorsFile(path: path)
        let meta = file.metadata
        guard let step = meta["step"].flatMap(Int.init),
            let words = meta["generator"]?.split(separator: ",").compactMap({ UInt64($0) }),
            let generator = SeededGenerator(state: words),
            let optionsData = meta["options"]?.data(using: .utf8),
            let options = try? JSONDecoder().decode(TrainingOptions.self, from: optionsData)
        else { throw TrainingError.resume("\(path): training state is incomplete; cannot resume from it") }
        return TrainingState(step: step, generator: generator,
                             bestValidationLoss: meta["best_validation_loss"].flatMap(Double.init),
                             options: options)
    }
}
