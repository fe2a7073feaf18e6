import Dispatch
import Foundation
import LoopCheckpoint
import LoopKernels
import LoopModel
import LoopTokenizer
import LoopTraining

/// The command-line side of training: checkpoints on disk, metrics, progress, Ctrl-C.
final class TrainingRun {
    let out: String
    let trainer: Trainer
    let tokenizer: TokenizerKind
    let metrics: MetricsLog
    var latest: String { out + "/latest" }
    var best: String { out + "/best" }

    init(out: String, trainer: Trainer, tokenizer: TokenizerKind) throws {
        self.out = out
        self.trainer = trainer
        self.tokenizer = tokenizer
        metrics = try MetricsLog(path: out + "/metrics.jsonl")
    }

    static func start(
        out: String, config: ModelConfiguration, options: TrainingOptions, tokenizer: TokenizerKind,
        trainFile: TokenFile, valFile: TokenFile?, workers: Workers
    ) throws -> TrainingRun {
        try options.validate(contextLength: config.contextLength)
        if FileManager.default.fileExists(atPath: out + "/latest") {
            throw TrainingError.resume("\(out)/latest already holds a run; pass --resume to continue it or choose another --out")
        }
        let (train, validation) = try streams(trainFile, valFile, tokenizer: tokenizer, config: config, time: options.time)
        var generator = SeededGenerator(seed: options.seed)
        let model = LoopGPT(config: config, generator: &generator, workers: workers)
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
        try? FileManager.default.removeItem(atPath: out + "/metrics.jsonl")
        let trainer = Trainer(model: model, options: options, train: train, validation: validation, generator: generator)
        return try TrainingRun(out: out, trainer: trainer, tokenizer: tokenizer)
    }

    static func resume(
        out: String, trainFile: TokenFile, valFile: TokenFile?, workers: Workers
    ) throws -> TrainingRun {
        let directory = out + "/latest"
        let (model, file) = try Checkpoint.load(from: directory, workers: workers)
        let state = try TrainingState.read(directory: directory)
        guard let tokenizer = TokenizerKind(rawValue: file.tokenizer) else {
            throw TrainingError.resume("\(directory): unknown tokenizer '\(file.tokenizer)'")
        }
        let (train, validation) = try streams(trainFile, valFile, tokenizer: tokenizer, config: model.config,
                                              time: state.options.time)
        let trainer = Trainer(model: model, options: state.options, train: train, validation: validation,
                              generator: state.generator)
        try trainer.restore(state, from: directory)
        try MetricsLog.truncate(path: out + "/metrics.jsonl", afterStep: state.step)
        return try TrainingRun(out: out, trainer: trainer, tokenizer: tokenizer)
    }

    static func streams(
        _ trainFile: TokenFile, _ valFile: TokenFile?, tokenizer: TokenizerKind,
        config: ModelConfiguration, time: Int
    ) throws -> (TokenStream, TokenStream?) {
        for file in [trainFile, valFile].compactMap({ $0 }) {
            if let recorded = file.tokenizer, recorded != tokenizer {
                throw DataError.tokenizerMismatch(file.path, file: recorded.rawValue, model: tokenizer.rawValue)
            }
        }
        let train = try TokenStream(file: trainFile, vocabSize: config.vocabSize, time: time)
        var validation: TokenStream?
        if let valFile, valFile.tokens.count > time {
            validation = try TokenStream(file: valFile, vocabSize: config.vocabSize, time: time)
        }
        return (train, validation)
    }

    /// Trains to the end of the schedule or until SIGINT/SIGTERM; saves and returns a summary.
    func loop(stopAt: Int? = nil) throws -> [String: Any] {
        let stop = StopSignal()
        let options = trainer.options, total = min(options.schedule.totalSteps, stopAt ?? .max)
        let progress = Progress(totalSteps: total, tokensPerStep: options.tokensPerStep)
        var lastLoss: Float = .nan, lastValidation: Double?
        while trainer.step < total && !stop.requested {
            let record: StepRecord
            do { record = try trainer.trainStep() } catch let error as TrainingError {
                progress.finish()
                throw error  // the last checkpoint on disk is the last good one
            }
            lastLoss = record.loss
            let step = trainer.step
            var entry: [String: Any] = [
                "step": step, "tokens": step * options.tokensPerStep, "train_loss": Double(record.loss),
                "lr": Double(record.learningRate), "grad_norm": Double(record.gradientNorm),
                "tokens_per_second": Double(options.tokensPerStep) / record.seconds, "loops": record.loops,
            ]
            let evaluate = step == options.schedule.totalSteps
                || (options.evalInterval > 0 && step % options.evalInterval == 0)
            if evaluate, let validation = try trainer.validationLoss() {
                entry["val_loss"] = validation
                lastValidation = validation
                if validation < (trainer.bestValidationLoss ?? .infinity) {
                    trainer.bestValidationLoss = validation
                    try trainer.save(to: best, tokenizer: tokenizer.rawValue)
                }
            }
            try metrics.append(entry)
            progress.update(record, validation: entry["val_loss"] as? Double)
            if options.checkpointInterval > 0 && step % options.checkpointInterval == 0 {
                try trainer.save(to: latest, tokenizer: tokenizer.rawValue)
            }
        }
        progress.finish()
        try trainer.save(to: latest, tokenizer: tokenizer.rawValue)
        if stop.requested { printError("stopped by signal at step \(trainer.step); resume with --resume") }
        let interrupted = stop.requested || trainer.step < options.schedule.totalSteps
        var summary: [String: Any] = ["step": trainer.step, "train_loss": Double(lastLoss),
                                      "checkpoint": latest, "interrupted": interrupted]
        if let lastValidation { summary["val_loss"] = lastValidation }
        if let bestLoss = trainer.bestValidationLoss { summary["best_val_loss"] = bestLoss }
        return summary
    }
}

/// Set when SIGINT or SIGTERM arrives; the training loop finishes its step, saves, exits 0.
final class StopSignal: @unchecked Sendable {
    private let lock = NSLock()
    private var flag = false
    private var sources: [DispatchSourceSignal] = []

    init() {
        for signalNumber in [SIGINT, SIGTERM] {
            signal(signalNumber, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: signalNumber, queue: .global())
            source.setEventHandler { [weak self] in self?.set() }
            source.resume()
            sources.append(source)
        }
    }

    deinit {
        for source in sources { source.cancel() }
        signal(SIGINT, SIG_DFL)
        signal(SIGTERM, SIG_DFL)
    }

    private func set() {
        lock.lock()
        flag = true
        lock.unlock()
    }

    var requested: Bool {
        lock.lock()
        defer { lock.unlock() }
        return flag
    }
}

/// metrics.jsonl: one JSON object per step.
final class MetricsLog {
    let handle: FileHandle

    init(path: String) throws {
        if !FileManager.default.fileExists(atPath: path) {
            _ = FileManager.default.createFile(atPath: path, contents: nil)
        }
        guard let handle = FileHandle(forWritingAtPath: path) else {
            throw DataError.writeFailed(path, "cannot open for writing")
        }
        handle.seekToEndOfFile()
        self.handle = handle
    }

    func append(_ entry: [String: Any]) throws {
        var data = try JSONSerialization.data(withJSONObject: entry, options: [.sortedKeys])
        data.append(UInt8(ascii: "\n"))
        handle.write(data)
    }

    /// Every line of a metrics file as a JSON object.
    static func read(path: String) throws -> [[String: Any]] {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { throw DataError.missingFile(path) }
        return text.split(separator: "\n").compactMap {
            try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
        }
    }

    /// Drops lines logged after `step` (steps a resumed run will redo).
    static func truncate(path: String, afterStep step: Int) throws {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return }
        let kept = text.split(separator: "\n").filter { line in
            guard let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
                let lineStep = object["step"] as? Int else { return false }
            return lineStep <= step
        }
        try (kept.joined(separator: "\n") + (kept.isEmpty ? "" : "\n")).write(toFile: path, atomically: true, encoding: .utf8)
    }
}
