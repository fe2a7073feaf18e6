import LoopModel

/// The reasoning suite as a plan: every task × model × seed, trained on generated problems
/// and evaluated by exact match on held-out questions at every difficulty and loop count.
public struct ReasoningPlan: SuitePlan {
    public typealias Result = ReasoningResult
    public let suite: ReasoningSuite

    public init(suite: ReasoningSuite) { self.suite = suite }

    public var name: String { suite.name }
    public var summary: String { suite.summary }

    public func runs(seeds: Int) throws -> [PlannedRun] {
        var runs: [PlannedRun] = []
        for index in 0..<seeds {
            for setup in suite.setups {
                for model in suite.models {
                    let seed = setup.options.seed + UInt64(index)
                    var options = setup.options
                    options.seed = seed
                    options.loopSampling = model.loopSampling
                    let evaluation = "\(suite.questionsPerDifficulty) questions at difficulties \(setup.evaluatedDifficulties), loops up to \(suite.sweepFactor)×trained"
                    runs.append(PlannedRun(name: "\(setup.task.name)-\(model.name)-seed\(seed)", model: model.name,
                                           task: setup.task.name, seed: seed, config: try setup.config(model.layout),
                                           options: options, vocabulary: .task(setup.task.name), evaluation: evaluation))
                }
            }
        }
        return runs
    }

    func setup(_ run: PlannedRun) -> ReasoningSetup {
        guard let setup = suite.setups.first(where: { $0.task.name == run.task }) else {
            preconditionFailure("a planned run names a task of its suite")
        }
        return setup
    }

    public func data(for run: PlannedRun) -> (ModelConfiguration, TrainingOptions) throws -> TrainingData {
        let setup = setup(run)
        return { _, options in
            var generator = SeededGenerator(seed: ReasoningSuite.evaluationSeed &+ 1)
            let source = ReasoningSource(task: setup.task, maximumDifficulty: setup.trainedDifficulty)
            let validation = try (0..<options.evalBatches).map { _ in
                try source.batch(rows: options.batch, time: options.time, generator: &generator)
            }
            return TrainingData(train: source, validation: validation)
        }
    }

    public func evaluate(_ trained: TrainedRun, communicator: any Communicator, message: (String) -> Void) throws -> ReasoningResult {
        let setup = setup(trained.plan), session = trained.session
        guard let model = suite.models.first(where: { $0.name == trained.plan.model }) else {
            preconditionFailure("a planned run names a model of its suite")
        }
        let loops = model.layout.loops
        let loopCounts = loops > 1 || model.loopSampling != nil ? Array(1...(suite.sweepFactor * loops)) : [loops]
        var points: [AccuracyPoint] = []
        for difficulty in setup.evaluatedDifficulties {
            let problems = ReasoningEvaluation.heldOut(task: setup.task, difficulty: difficulty,
                                                       questions: suite.questionsPerDifficulty, seed: ReasoningSuite.evaluationSeed)
            for count in loopCounts {
                let (solved, asked) = try ReasoningEvaluation.accuracy(model: session.trainer.inference, task: setup.task,
                                                                       problems: problems, loops: count)
                points.append(AccuracyPoint(difficulty: difficulty, loops: count, solved: solved, asked: asked))
            }
        }
        let window = session.history.suffix(RunResult.trainLossWindow)
        return ReasoningResult(
            task: setup.task.name, model: model.name, role: model.role, seed: trained.plan.seed, layout: model.layout.summary,
            loops: loops, loopSampling: model.loopSampling?.description,
            parameters: session.trainer.model.table.parameterCount, effectiveDepth: model.layout.effectiveDepth,
            trainedDifficulty: setup.trainedDifficulty, trainingFlops: trained.trainingFlops,
            trainingSeconds: trained.summary.trainingSeconds,
            finalTrainLoss: window.reduce(0) { $0 + $1.trainLoss } / Double(max(window.count, 1)), accuracy: points)
    }

    public func writeReport(_ results: [ReasoningResult], to directory: String) throws {
        try ReasoningReport(suite: suite, results: results).write(to: directory)
    }
}
