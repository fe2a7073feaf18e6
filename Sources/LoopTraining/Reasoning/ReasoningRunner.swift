import Foundation
import LoopKernels
import LoopModel

/// Exact-match accuracy of one model at one difficulty and loop count.
public struct AccuracyPoint: Codable, Sendable, Equatable {
    public var difficulty: Int
    public var loops: Int
    public var solved: Int
    public var asked: Int
    public var accuracy: Double { Double(solved) / Double(max(asked, 1)) }

    public init(difficulty: Int, loops: Int, solved: Int, asked: Int) {
        self.difficulty = difficulty
        self.loops = loops
        self.solved = solved
        self.asked = asked
    }
}

/// What one trained model of the reasoning suite measured.
public struct ReasoningResult: Codable, Sendable {
    public var task: String
    public var model: String
    public var role: String
    public var seed: UInt64
    public var layout: String
    public var loops: Int
    public var loopSampling: String?
    public var parameters: Int
    public var effectiveDepth: Int
    public var trainedDifficulty: Int
    public var trainingFlops: Double
    public var trainingSeconds: Double
    public var finalTrainLoss: Double
    public var accuracy: [AccuracyPoint]

    /// Accuracy at `difficulty` and `loops` (nil when not measured).
    public func accuracy(difficulty: Int, loops: Int) -> Double? {
        accuracy.first { $0.difficulty == difficulty && $0.loops == loops }?.accuracy
    }
}

/// Trains every model of a reasoning suite on every task (each seed), measures exact-match
/// accuracy per difficulty and loop count, and writes the report. Runs are ordinary resumable
/// training sessions in `OUT/runs/TASK-MODEL-seedS`, each leaving `result.json`.
public final class ReasoningRunner {
    public let suite: ReasoningSuite
    public let directory: String
    public let seeds: Int
    public let workers: Workers
    public let communicator: any Communicator
    public var onStep: (String, StepMetrics) -> Void = { _, _ in }
    public var onMessage: (String) -> Void = { _ in }
    public var shouldStop: () -> Bool = { false }

    public init(suite: ReasoningSuite, directory: String, seeds: Int, workers: Workers,
                communicator: any Communicator = SingleProcess()) {
        self.suite = suite
        self.directory = directory
        self.seeds = seeds
        self.workers = workers
        self.communicator = communicator
    }

    public struct Outcome {
        public let results: [ReasoningResult]
        public let complete: Bool
    }

    /// Trains every run not yet done. A run another process is training (its folder locked)
    /// is left to it, so several processes started with the same command share a suite's
    /// work; the report covers every finished run in the folder.
    public func run() throws -> Outcome {
        var skipped = 0
        for seedIndex in 0..<seeds {
            for setup in suite.setups {
                for model in suite.models {
                    let seed = setup.options.seed + UInt64(seedIndex)
                    let name = "\(setup.task.name)-\(model.name)"
                    let runDirectory = directory + "/runs/\(name)-seed\(seed)"
                    let resultPath = runDirectory + "/result.json"
                    if FileManager.default.fileExists(atPath: resultPath) { continue }
                    if communicator.isMain { onMessage("== \(setup.task.name): \(model.name) (\(model.layout.summary), seed \(seed))") }
                    let result: ReasoningResult?
                    do {
                        result = try train(setup, model, seed: seed, directory: runDirectory, name: name)
                    } catch TrainingError.runInUse where communicator.size == 1 {
                        onMessage("   another process is training it; moving on")
                        skipped += 1
                        continue
                    }
                    guard let result else {
                        let results = try finishedResults()
                        try writeReport(results)
                        return Outcome(results: results, complete: false)
                    }
                    if communicator.isMain {
                        let encoder = JSONEncoder()
                        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
                        try encoder.encode(result).write(to: URL(fileURLWithPath: resultPath), options: .atomic)
                    }
                }
            }
        }
        let results = try finishedResults()
        try writeReport(results)
        return Outcome(results: results, complete: skipped == 0)
    }

    /// Every finished run in the folder of this suite's tasks and models, whatever its seed.
    public func finishedResults() throws -> [ReasoningResult] {
        let runs = directory + "/runs"
        guard FileManager.default.fileExists(atPath: runs) else { return [] }
        let names = try FileManager.default.contentsOfDirectory(atPath: runs)
        let tasks = suite.setups.map(\.task.name), models = suite.models.map(\.name)
        func order(_ result: ReasoningResult) -> [Int] {
            [tasks.firstIndex(of: result.task) ?? 0, models.firstIndex(of: result.model) ?? 0, Int(truncatingIfNeeded: result.seed)]
        }
        return try names.sorted().compactMap { name -> ReasoningResult? in
            let path = runs + "/" + name + "/result.json"
            guard FileManager.default.fileExists(atPath: path) else { return nil }
            let result = try JSONDecoder().decode(ReasoningResult.self, from: Data(contentsOf: URL(fileURLWithPath: path)))
            return tasks.contains(result.task) && models.contains(result.model) ? result : nil
        }.sorted { order($0).lexicographicallyPrecedes(order($1)) }
    }

    /// Trains one model (or continues it) and evaluates it; nil when stopped early.
    func train(_ setup: ReasoningSetup, _ model: ReasoningModel, seed: UInt64, directory: String, name: String) throws -> ReasoningResult? {
        let config = try setup.config(model.layout)
        var options = setup.options
        options.seed = seed
        options.loopSampling = model.loopSampling
        options.microBatches *= communicator.size
        let data = { (_: ModelConfiguration, options: TrainingOptions) throws -> TrainingData in
            var generator = SeededGenerator(seed: ReasoningSuite.evaluationSeed &+ 1)
            let source = ReasoningSource(task: setup.task, maximumDifficulty: setup.trainedDifficulty)
            let validation = try (0..<options.evalBatches).map { _ in
                try source.batch(rows: options.batch, time: options.time, generator: &generator)
            }
            return TrainingData(train: source, validation: validation)
        }
        let session = FileManager.default.fileExists(atPath: directory + "/latest")
            ? try TrainingSession.resume(in: directory, vocabulary: .task(setup.task.name), workers: workers, communicator: communicator, data: data)
            : try TrainingSession.start(NewRun(config: config, options: options, vocabulary: .task(setup.task.name)),
                                        in: directory, workers: workers, communicator: communicator, data: data)
        session.onStep = { [onStep] in onStep(name, $0) }
        session.shouldStop = shouldStop
        let summary = try session.run()
        if summary.interrupted { return nil }
        return try evaluate(session, setup, model, seed: seed, summary: summary)
    }

    func evaluate(
        _ session: TrainingSession, _ setup: ReasoningSetup, _ model: ReasoningModel, seed: UInt64, summary: RunSummary
    ) throws -> ReasoningResult {
        let trained = model.layout.loops
        let loopCounts = trained > 1 || model.loopSampling != nil ? Array(1...(suite.sweepFactor * trained)) : [trained]
        var points: [AccuracyPoint] = []
        for difficulty in setup.evaluatedDifficulties {
            let problems = ReasoningEvaluation.heldOut(task: setup.task, difficulty: difficulty,
                                                       questions: suite.questionsPerDifficulty, seed: ReasoningSuite.evaluationSeed)
            for loops in loopCounts {
                let (solved, asked) = try ReasoningEvaluation.accuracy(model: session.trainer.inference, task: setup.task,
                                                                       problems: problems, loops: loops)
                points.append(AccuracyPoint(difficulty: difficulty, loops: loops, solved: solved, asked: asked))
            }
        }
        let config = session.trainer.model.config, time = session.trainer.options.time
        let flops = session.history.reduce(0.0) { total, step in
            total + Double(session.trainer.options.tokensPerStep)
                * ModelCost(config: config, time: time, loops: step.loops).trainingFlopsPerToken
        }
        let window = session.history.suffix(RunResult.trainLossWindow)
        return ReasoningResult(
            task: setup.task.name, model: model.name, role: model.role, seed: seed, layout: model.layout.summary,
            loops: trained, loopSampling: model.loopSampling?.description,
            parameters: session.trainer.model.table.parameterCount, effectiveDepth: model.layout.effectiveDepth,
            trainedDifficulty: setup.trainedDifficulty, trainingFlops: flops, trainingSeconds: summary.trainingSeconds,
            finalTrainLoss: window.reduce(0) { $0 + $1.trainLoss } / Double(max(window.count, 1)), accuracy: points)
    }

    public func writeReport(_ results: [ReasoningResult]) throws {
        guard communicator.isMain else { return }
        try ReasoningReport(suite: suite, results: results).write(to: directory)
    }
}
