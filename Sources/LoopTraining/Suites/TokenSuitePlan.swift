import LoopModel

/// A suite that trains on prepared token files (`--data`): every model, each seed, on the same
/// data, budget and schedule; each evaluated on the final validation batches at every loop
/// count of its sweep and, when the suite asks, with adaptive exit.
public struct TokenSuitePlan: SuitePlan {
    public typealias Result = RunResult
    public let suite: ExperimentSuite
    public let dataDirectory: String

    public init(suite: ExperimentSuite, dataDirectory: String) {
        self.suite = suite
        self.dataDirectory = dataDirectory
    }

    public var name: String { suite.name }
    public var summary: String { suite.summary }

    public func runs(seeds: Int) throws -> [PlannedRun] {
        let evaluation = "final \(suite.finalEvalBatches) batches, loops 1…\(suite.sweepFactor)×trained"
            + (suite.exitThresholds.isEmpty ? "" : ", change exit at \(suite.exitThresholds)")
        return (0..<seeds).flatMap { index in
            suite.models.map { model in
                let seed = suite.options.seed + UInt64(index)
                var options = suite.options
                options.seed = seed
                options.loopSampling = model.loopSampling
                return PlannedRun(name: "\(model.name)-seed\(seed)", model: model.name, task: nil, seed: seed,
                                  config: model.config, options: options, vocabulary: Vocabulary(suite.tokenizer),
                                  evaluation: evaluation)
            }
        }
    }

    public func data(for run: PlannedRun) -> (ModelConfiguration, TrainingOptions) throws -> TrainingData {
        { [suite, dataDirectory] config, options in
            try TokenData.load(directory: dataDirectory, config: config, options: options, tokenizer: suite.tokenizer,
                               validationBatches: max(options.evalBatches, suite.finalEvalBatches))
        }
    }

    public func evaluate(_ trained: TrainedRun, communicator: any Communicator, message: (String) -> Void) throws -> RunResult {
        let session = trained.session, trainer = session.trainer, options = trainer.options
        guard let model = suite.models.first(where: { $0.name == trained.plan.model }) else {
            preconditionFailure("a planned run names a model of its suite")
        }
        guard !session.validation.isEmpty else { throw DataError.noInput("the validation data is too short to evaluate on") }
        let batches = Array(session.validation.prefix(suite.finalEvalBatches))
        let loops = model.config.layout.loops, maxLoops = suite.sweepFactor * loops
        var sweep: [Double] = []
        for count in 1...maxLoops {
            sweep.append(try Evaluation.run(model: trainer.inference, batches: batches, loops: count,
                                            communicator: communicator).loss)
        }
        var adaptive: [AdaptivePoint]?
        if !suite.exitThresholds.isEmpty {
            adaptive = try suite.exitThresholds.map { threshold in
                message("   adaptive exit at change < \(threshold)")
                let result = try Evaluation.adaptive(model: trainer.inference, batches: batches,
                                                     exit: .change(threshold), maxLoops: maxLoops)
                let shown = (Double(threshold) * 1e6).rounded() / 1e6  // 0.3, not 0.30000001
                return AdaptivePoint(threshold: shown, meanLoops: result.meanLoops, loss: result.loss)
            }
        }
        let window = session.history.suffix(RunResult.trainLossWindow)
        var result = RunResult(
            model: model.name, role: model.role, seed: trained.plan.seed, layout: model.config.layout.summary, loops: loops,
            parameters: trainer.model.table.parameterCount, effectiveDepth: model.config.layout.effectiveDepth,
            trainingFlops: trained.trainingFlops, tokens: trainer.step * options.tokensPerStep,
            trainingSeconds: trained.summary.trainingSeconds,
            finalTrainLoss: window.reduce(0) { $0 + $1.trainLoss } / Double(max(window.count, 1)),
            finalValidationLoss: sweep[loops - 1], validationLossByLoops: sweep)
        result.adaptiveExit = adaptive
        result.loopSampling = model.loopSampling?.description
        result.validationCurve = session.history.compactMap { entry in
            entry.validationLoss.map { CurvePoint(step: entry.step, loss: $0) }
        }
        return result
    }

    public func writeReport(_ results: [RunResult], to directory: String) throws {
        try ExperimentReport(suite: suite, results: results).write(to: directory)
        if suite.depthStudy { try DepthStudyReport(suite: suite, results: results).write(to: directory) }
    }
}
