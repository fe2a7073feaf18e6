import Foundation
import LoopCheckpoint
import LoopKernels
import LoopModel

/// Trains and evaluates every run of a suite, each an ordinary resumable `TrainingSession` in
/// `OUT/runs/NAME` that leaves `run.json` (what it was asked to be) and, when finished,
/// `result.json`:
/// - a stopped suite continues where it was when the same command runs again;
/// - a run another process is training (its folder locked) is left to it, so several processes
///   started with the same command share the suite, and the report gathers what is finished;
/// - a run folder made with other settings is refused, never reported as this command's result.
public final class SuiteRunner<Plan: SuitePlan> {
    public let plan: Plan
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

    public init(plan: Plan, directory: String, seeds: Int, workers: Workers, communicator: any Communicator = SingleProcess()) {
        self.plan = plan
        self.directory = directory
        self.seeds = seeds
        self.workers = workers
        self.communicator = communicator
    }

    /// What the suite has so far, and whether every run is done.
    public struct Outcome {
        public let results: [Plan.Result]
        public let complete: Bool
    }

    public func runDirectory(_ run: PlannedRun) -> String { directory + "/runs/" + run.name }
    static var specFile: String { "run.json" }
    static var resultFile: String { "result.json" }

    public func run() throws -> Outcome {
        let runs = try plan.runs(seeds: seeds)
        try refuseStaleRuns(runs)
        var pending = 0
        for run in runs where !FileManager.default.fileExists(atPath: runDirectory(run) + "/" + Self.resultFile) {
            if communicator.isMain { onMessage("== \(run.name) (\(run.config.layout.summary))") }
            if let source = run.initialisedFrom,
                !FileManager.default.fileExists(atPath: directory + "/runs/" + source + "/" + Self.resultFile)
            {
                onMessage("   it starts from \(source), which is not finished; it waits for a later run of the command")
                pending += 1
                continue
            }
            do {
                guard try train(run) else {  // stopped
                    let results = try finishedResults(runs)
                    try report(results)
                    return Outcome(results: results, complete: false)
                }
            } catch TrainingError.runInUse where communicator.size == 1 {
                onMessage("   another process is training it; moving on")
                pending += 1
            }
        }
        let results = try finishedResults(runs)
        try report(results)
        return Outcome(results: results, complete: pending == 0 && results.count == runs.count)
    }

    /// Refuses before any work when a run folder holds a run made with other settings.
    func refuseStaleRuns(_ runs: [PlannedRun]) throws {
        for run in runs {
            let folder = runDirectory(run)
            guard FileManager.default.fileExists(atPath: folder) else { continue }
            let specPath = folder + "/" + Self.specFile
            guard let data = FileManager.default.contents(atPath: specPath) else {
                // A folder another process has only just made holds nothing yet: not stale.
                let holdsWork = ["latest", Self.resultFile].contains { FileManager.default.fileExists(atPath: folder + "/" + $0) }
                if !holdsWork { continue }
                throw SuiteError.staleRun(folder, detail: "it holds no \(Self.specFile) (made by an older looplm), so its settings are unknown")
            }
            let saved: PlannedRun
            do { saved = try JSONFormat.decoder().decode(PlannedRun.self, from: data) } catch {
                throw SuiteError.staleRun(folder, detail: "its \(Self.specFile) does not parse (\(JSONFormat.describe(error)))")
            }
            if saved != run { throw SuiteError.staleRun(folder, detail: Self.differences(saved, run)) }
        }
    }

    /// The settings that differ, as "steps 30 → 40".
    static func differences(_ saved: PlannedRun, _ asked: PlannedRun) -> String {
        var changes: [String] = []
        let a = saved.options, b = asked.options
        func note<T: Equatable>(_ name: String, _ x: T, _ y: T) { if x != y { changes.append("\(name) \(x) → \(y)") } }
        note("steps", a.schedule.totalSteps, b.schedule.totalSteps)
        note("learning rate", a.schedule.peak, b.schedule.peak)
        note("batch", a.batch * a.microBatches, b.batch * b.microBatches)
        note("context", a.time, b.time)
        note("eval batches", a.evalBatches, b.evalBatches)
        note("layout", saved.config.layout.summary, asked.config.layout.summary)
        note("width", saved.config.channels, asked.config.channels)
        note("evaluation", saved.evaluation, asked.evaluation)
        if changes.isEmpty { changes.append("other settings differ") }
        return "it was made with other settings (" + changes.joined(separator: ", ") + ")"
    }

    /// Trains one run to the end (or continues it) and evaluates it; false when stopped.
    func train(_ run: PlannedRun) throws -> Bool {
        let folder = runDirectory(run)
        let session: TrainingSession
        if FileManager.default.fileExists(atPath: folder + "/latest") {
            session = try TrainingSession.resume(in: folder, vocabulary: run.vocabulary, workers: workers,
                                                 communicator: communicator, data: plan.data(for: run))
        } else {
            if communicator.isMain {  // first, so a folder never holds a run without its settings
                try AtomicFiles.makeFolder(folder)
                let spec = try JSONFormat.encoder(pretty: true).encode(run)
                try AtomicFiles.write(to: folder + "/" + Self.specFile) { (sink) throws(CheckpointError) in try sink.write(spec) }
            }
            var options = run.options
            options.microBatches *= communicator.size
            options = try fitted(options, config: run.config, name: run.model)
            let initial = run.initialisedFrom.map { directory + "/runs/" + $0 + "/latest" }
            session = try TrainingSession.start(NewRun(config: run.config, options: options, vocabulary: run.vocabulary,
                                                       initialWeights: initial),
                                                in: folder, workers: workers, communicator: communicator,
                                                data: plan.data(for: run))
        }
        session.onStep = { [onStep] in onStep(run.name, $0) }
        session.shouldStop = shouldStop
        let summary = try session.run()
        if summary.interrupted { return false }
        let options = session.trainer.options
        let flops = session.history.reduce(0.0) { total, step in
            total + Double(options.tokensPerStep)
                * ModelCost(config: run.config, time: options.time, loops: step.loops).trainingFlopsPerToken
        }
        let result = try plan.evaluate(TrainedRun(plan: run, session: session, summary: summary, trainingFlops: flops),
                                       communicator: communicator, message: communicator.isMain ? onMessage : { _ in })
        if communicator.isMain {
            let encoded = try JSONFormat.encoder(pretty: true).encode(result)
            try AtomicFiles.write(to: folder + "/" + Self.resultFile) { (sink) throws(CheckpointError) in try sink.write(encoded) }
        }
        return true
    }

    /// The options as planned, or, when they do not fit in memory, with recomputation and the
    /// batch split into micro-batches: the same global batch.
    func fitted(_ options: TrainingOptions, config: ModelConfiguration, name: String) throws -> TrainingOptions {
        guard let available = SystemMemory.availableBytes() else { return options }
        let usable = available / 10 * 9  // leave room for the rest of the machine
        guard let fitting = TrainingMemory.fitting(config: config, options: options, processes: communicator.size,
                                                   available: usable)
        else {
            throw MemoryError(needed: TrainingMemory(config: config, options: options).total, available: available,
                              what: "\(name) even one sequence per micro-batch", advice: "use a shorter context or a smaller model")
        }
        if fitting != options && communicator.isMain {
            onMessage("   to fit in memory: batch \(fitting.batch) × \(fitting.microBatches / communicator.size) micro-batches" + (fitting.recompute == true ? ", recomputing activations" : "") + " (the same \(options.tokensPerStep) tokens per step)")
        }
        return fitting
    }

    /// The results of the planned runs that are finished, in plan order.
    public func finishedResults(_ runs: [PlannedRun]) throws -> [Plan.Result] {
        try runs.compactMap { run in
            let path = runDirectory(run) + "/" + Self.resultFile
            guard let data = FileManager.default.contents(atPath: path) else { return nil }
            do { return try JSONFormat.decoder().decode(Plan.Result.self, from: data) } catch {
                throw DataError.corrupt(path, "not a result this looplm reads (\(JSONFormat.describe(error))); delete the run folder to train it again")
            }
        }
    }

    func report(_ results: [Plan.Result]) throws {
        guard communicator.isMain else { return }
        try plan.writeReport(results, to: directory)
    }
}

/// A suite folder that cannot be continued as asked.
public enum SuiteError: Error, Equatable, CustomStringConvertible {
    case staleRun(String, detail: String)

    public var description: String {
        switch self {
        case .staleRun(let folder, let detail):
            return "\(folder): \(detail); its results would not answer this command — use another --out, or delete that run folder to train it again"
        }
    }
}
