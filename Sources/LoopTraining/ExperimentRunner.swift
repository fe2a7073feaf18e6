import Foundation
import LoopCheckpoint
import LoopKernels
import LoopModel
import LoopTokenizer

/// Trains every model of a suite (each seed), evaluates it and writes the report. Each run is
/// an ordinary resumable `TrainingSession` in `OUT/runs/MODEL-seedS`, and each finished run
/// leaves `result.json`, so a stopped suite continues where it was when run again.
public final class ExperimentRunner {
    public let suite: ExperimentSuite
    public let directory: String
    public let seeds: Int
    public let workers: Workers
    public let communicator: any Communicator
    /// Progress of the current run's steps (rank 0).
    public var onStep: (String, StepMetrics) -> Void = { _, _ in }
    /// What the runner is doing, as lines for a person (rank 0).
    public var onMessage: (String) -> Void = { _ in }
    /// Asked after every step; stops the suite after that step.
    public var shouldStop: () -> Bool = { false }

    public init(suite: ExperimentSuite, directory: String, seeds: Int, workers: Workers,
                communicator: any Communicator = SingleProcess()) {
        self.suite = suite
        self.directory = directory
        self.seeds = seeds
        self.workers = workers
        self.communicator = communicator
    }

    /// What the suite has so far, and whether every run is done.
    public struct Outcome {
        public let results: [RunResult]
        public let complete: Bool
    }

    public func runDirectory(_ model: ExperimentModel, seed: UInt64) -> String {
        directory + "/runs/\(model.name)-seed\(seed)"
    }

    /// Runs the suite on batches from `data` (called per run with its configuration and options).
    public func run(data: (ModelConfiguration, TrainingOptions) throws -> TrainingData) throws -> Outcome {
        var results: [RunResult] = []
        for seedIndex in 0..<seeds {
            for model in suite.models {
                let seed = suite.options.seed + UInt64(seedIndex)
                let runDirectory = self.runDirectory(model, seed: seed)
                let resultPath = runDirectory + "/result.json"
                if FileManager.default.fileExists(atPath: resultPath) {
                    results.append(try JSONDecoder().decode(RunResult.self, from: Data(contentsOf: URL(fileURLWithPath: resultPath))))
                    continue
                }
                if communicator.isMain { onMessage("== \(model.name) (\(model.config.layout.summary), seed \(seed))") }
                var options = suite.options
                options.seed = seed
                options.loopSampling = model.loopSampling
                options.microBatches *= communicator.size
                options = try fitted(options, model: model)
                let session = FileManager.default.fileExists(atPath: runDirectory + "/latest")
                    ? try TrainingSession.resume(in: runDirectory, vocabulary: Vocabulary(suite.tokenizer), workers: workers, communicator: communicator, data: data)
                    : try TrainingSession.start(NewRun(config: model.config, options: options, vocabulary: Vocabulary(suite.tokenizer)),
                                                in: runDirectory, workers: workers, communicator: communicator, data: data)
                session.onStep = { [onStep] in onStep(model.name, $0) }
                session.shouldStop = shouldStop
                let summary = try session.run()
                if summary.interrupted {
                    try writeReport(results)
                    return Outcome(results: results, complete: false)
                }
                let result = try evaluate(session, model: model, seed: seed, summary: summary)
                if communicator.isMain {
                    let encoder = JSONEncoder()
                    encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
                    try encoder.encode(result).write(to: URL(fileURLWithPath: resultPath), options: .atomic)
                }
                results.append(result)
            }
        }
        try writeReport(results)
        return Outcome(results: results, complete: true)
    }

    /// The options as the suite gives them, or, when they do not fit in memory, with
    /// recomputation and the batch split into micro-batches: the same global batch.
    func fitted(_ options: TrainingOptions, model: ExperimentModel) throws -> TrainingOptions {
        guard let available = SystemMemory.availableBytes() else { return options }
        let usable = available / 10 * 9  // leave room for the rest of the machine
        guard let fitting = TrainingMemory.fitting(config: model.config, options: options, processes: communicator.size,
                                                   available: usable)
        else {
            throw MemoryError(needed: TrainingMemory(config: model.config, options: options).total, available: available,
                              what: "\(model.name) even one sequence per micro-batch", advice: "use a shorter context or a smaller model")
        }
        if fitting != options && communicator.isMain {
            onMessage("   to fit in memory: batch \(fitting.batch) × \(fitting.microBatches / communicator.size) micro-batches" + (fitting.recompute == true ? ", recomputing activations" : "") + " (the same \(options.tokensPerStep) tokens per step)")
        }
        return fitting
    }

    /// The loss sweep over loop counts and adaptive exit on the final validation batches.
    func evaluate(_ session: TrainingSession, model: ExperimentModel, seed: UInt64, summary: RunSummary) throws -> RunResult {
        let trainer = session.trainer, options = trainer.options
        guard !session.validation.isEmpty else {
            throw DataError.noInput("the validation data is too short to evaluate on")
        }
        let batches = Array(session.validation.prefix(suite.finalEvalBatches))
        let trained = model.config.layout.loops, maxLoops = suite.sweepFactor * trained
        var sweep: [Double] = []
        for loops in 1...maxLoops {
            sweep.append(try Evaluation.run(model: trainer.inference, batches: batches, loops: loops,
                                            communicator: communicator).loss)
        }
        var adaptive: [AdaptivePoint]?
        if !suite.exitThresholds.isEmpty {
            adaptive = try suite.exitThresholds.map { threshold in
                if communicator.isMain { onMessage("   adaptive exit at change < \(threshold)") }
                let result = try Evaluation.adaptive(model: trainer.inference, batches: batches,
                                                     exit: ExitRule(criterion: .change, threshold: threshold), maxLoops: maxLoops)
                let shown = (Double(threshold) * 1e6).rounded() / 1e6  // 0.3, not 0.30000001
                return AdaptivePoint(threshold: shown, meanLoops: result.meanLoops, loss: result.loss)
            }
        }
        let window = session.history.suffix(RunResult.trainLossWindow)
        let tokens = trainer.step * options.tokensPerStep
        var result = RunResult(
            model: model.name, role: model.role, seed: seed, layout: model.config.layout.summary, loops: trained,
            parameters: trainer.model.table.parameterCount, effectiveDepth: model.config.layout.effectiveDepth,
            trainingFlops: Double(tokens) * ModelCost(config: model.config, time: options.time).trainingFlopsPerToken,
            tokens: tokens, trainingSeconds: summary.trainingSeconds,
            finalTrainLoss: window.reduce(0) { $0 + $1.trainLoss } / Double(max(window.count, 1)),
            finalValidationLoss: sweep[trained - 1], validationLossByLoops: sweep)
        result.adaptiveExit = adaptive
        result.loopSampling = model.loopSampling?.description
        result.validationCurve = session.history.compactMap { entry in
            entry.validationLoss.map { CurvePoint(step: entry.step, loss: $0) }
        }
        return result
    }

    /// Table, CSV, all results and the plots, from the runs finished so far (rank 0).
    public func writeReport(_ results: [RunResult]) throws {
        guard communicator.isMain else { return }
        try ExperimentReport(suite: suite, results: results).write(to: directory)
    }
}
