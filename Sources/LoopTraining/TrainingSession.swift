import Foundation
import LoopCheckpoint
import LoopKernels
import LoopModel

/// The batches a run trains on and the fixed batches it validates on (none: no validation).
public struct TrainingData {
    public let train: any BatchSource
    public let validation: [Batch]

    public init(train: any BatchSource, validation: [Batch]) {
        self.train = train
        self.validation = validation
    }
}

/// A new run: the model to build and how to train it.
public struct NewRun {
    public let config: ModelConfiguration
    public let options: TrainingOptions
    public let vocabulary: Vocabulary
    /// A checkpoint whose weights the run starts from (fine-tuning), with a fresh optimizer and
    /// schedule; nil: GPT-2's random initialisation from the seed.
    public var initialWeights: String?

    public init(config: ModelConfiguration, options: TrainingOptions, vocabulary: Vocabulary, initialWeights: String? = nil) {
        self.config = config
        self.options = options
        self.vocabulary = vocabulary
        self.initialWeights = initialWeights
    }
}

/// What a resumed run may change of its saved options: a longer (or shorter, not past the
/// current step) schedule, and how often it validates and saves. Anything else would make it
/// another run.
public struct ResumeChanges: Sendable, Equatable {
    public var totalSteps: Int?
    public var evalInterval: Int?
    public var checkpointInterval: Int?

    public init(totalSteps: Int? = nil, evalInterval: Int? = nil, checkpointInterval: Int? = nil) {
        self.totalSteps = totalSteps
        self.evalInterval = evalInterval
        self.checkpointInterval = checkpointInterval
    }

    /// Applies the changes; each one made is described for the person resuming.
    func apply(to options: inout TrainingOptions, step: Int, contextLength: Int) throws -> [String] {
        var notices: [String] = []
        if let total = totalSteps, total != options.schedule.totalSteps {
            guard total >= step else {
                throw TrainingError.resume("the run is already at step \(step); a schedule of \(total) steps would end before it")
            }
            let before = options.schedule.totalSteps
            options.schedule.totalSteps = total
            let rate = options.schedule.rate(atStep: step + 1)
            notices.append("the schedule now ends at step \(total) instead of \(before): the cosine decay is stretched over the new total, so the learning rate at step \(step + 1) is \(rate)")
        }
        if let interval = evalInterval, interval != options.evalInterval {
            notices.append("validating every \(interval) steps instead of \(options.evalInterval)")
            options.evalInterval = interval
        }
        if let interval = checkpointInterval, interval != options.checkpointInterval {
            notices.append("saving a checkpoint every \(interval) steps instead of \(options.checkpointInterval)")
            options.checkpointInterval = interval
        }
        do { try options.validate(contextLength: contextLength) } catch { throw TrainingError.invalidOption(error) }
        return notices
    }
}

/// A training run in a directory: the loop of steps, validation, checkpoints (`latest` every
/// `checkpointInterval` steps and at the end, `best` at each new lowest validation loss), the
/// metrics log, and resumption. Reports through `onStep` and asks `shouldStop` after every
/// step; the command line only displays and handles signals.
///
/// With several processes every rank runs the same session; rank 0 alone writes files and
/// reports, validation is split over the ranks, and all stop after the same step.
public final class TrainingSession {
    public let directory: String
    public let trainer: Trainer
    public let vocabulary: Vocabulary
    public let validation: [Batch]
    /// Called after every step with what it measured (on rank 0).
    public var onStep: (StepMetrics) -> Void = { _ in }
    /// Asked after every step; any rank answering yes stops every rank after that step.
    public var shouldStop: () -> Bool = { false }
    /// Things a person resuming the run should know (printed by the command line).
    public private(set) var notices: [String] = []
    /// Every step of the run so far, this session's and (on rank 0) those before a resume.
    public private(set) var history: [StepMetrics]
    private let metrics: MetricsLog?
    /// Held from `start`/`resume` until `run` returns (and again during any later `run`).
    private var lock: RunLock?

    public var latest: String { directory + "/latest" }
    public var best: String { directory + "/best" }
    public static let metricsFile = "metrics.jsonl"

    private init(directory: String, trainer: Trainer, vocabulary: Vocabulary, validation: [Batch],
                 lock: RunLock?, metrics: MetricsLog?, history: [StepMetrics]) {
        self.history = history
        self.directory = directory
        self.trainer = trainer
        self.vocabulary = vocabulary
        self.validation = validation
        self.lock = lock
        self.metrics = metrics
    }

    /// Memory a run of this shape needs before anything is allocated (see `TrainingMemory`),
    /// for every rank this process holds; when it does not fit, the error names options that
    /// would. Every rank checks, then waits for the others, so no rank's allocations change
    /// what another rank's check sees.
    static func checkMemory(_ config: ModelConfiguration, _ options: TrainingOptions, communicator: any Communicator) throws {
        let processes = communicator.size, copies = communicator.ranksInProcess
        let memory = TrainingMemory(config: config, options: options, processes: processes)
        var advice = memory.advice
        if let available = SystemMemory.availableBytes(),
            let fitting = TrainingMemory.fitting(config: config, options: options, processes: processes, available: available / copies)
        {
            var flags: [String] = []
            if fitting.recompute == true && options.recompute != true { flags.append("--recompute") }
            if fitting.batch != options.batch {
                flags.append("--batch \(fitting.batch) --accumulate \(fitting.microBatches / processes)")
            }
            advice = "\(flags.joined(separator: " ")) would fit, with the same tokens per step"
        }
        let needed = copies == 1 ? memory.total : memory.total.flatMap { CheckedSize.product($0, copies) }
        try SystemMemory.require(needed, for: "training \(config.layout.summary) at batch \(options.batch) × \(options.time)\(copies > 1 ? " in each of \(copies) replicas" : "")",
                                 advice: advice)
        try communicator.barrier()
    }

    /// Starts a new run in `directory`, which must not hold one. `data` gives the batches
    /// for the run's configuration and options.
    public static func start(
        _ run: NewRun, in directory: String, workers: Workers, communicator: any Communicator = SingleProcess(),
        data: (ModelConfiguration, TrainingOptions) throws -> TrainingData
    ) throws -> TrainingSession {
        do { try run.options.validate(contextLength: run.config.contextLength) } catch { throw TrainingError.invalidOption(error) }
        try checkCompatible(run.config, run.options)
        let lock = try prepare(directory, communicator: communicator)
        try communicator.barrier()  // rank 0 has made the folder (or finished a checkpoint swap) before the others look
        if FileManager.default.fileExists(atPath: directory + "/latest") {
            throw TrainingError.resume("\(directory)/latest already holds a run; pass --resume to continue it or choose another --out")
        }
        try checkMemory(run.config, run.options, communicator: communicator)
        let sources = try data(run.config, run.options)
        var generator = SeededGenerator(seed: run.options.seed)
        let model = try LoopGPT(config: run.config, generator: &generator, workers: workers)
        if let path = run.initialWeights { try initialise(model, from: path, vocabulary: run.vocabulary) }
        let trainer = try Trainer(model: model, options: run.options, data: sources.train, generator: generator,
                                  communicator: communicator)
        trainer.weightsUnchangedSinceLoading = run.initialWeights != nil
        var metrics: MetricsLog?
        if communicator.isMain {
            try AtomicFiles.write(to: directory + "/" + metricsFile) { _ in }  // a new run starts a new log
            metrics = try MetricsLog(path: directory + "/" + metricsFile)
        }
        return TrainingSession(directory: directory, trainer: trainer, vocabulary: run.vocabulary,
                               validation: sources.validation, lock: lock, metrics: metrics, history: [])
    }

    /// Copies the weights of the checkpoint at `path` into `model`, which must have the same
    /// tensors (its loop count may differ: loops share the same weights) and vocabulary. An
    /// exit gate the checkpoint lacks starts from its initialisation (to train it alone).
    static func initialise(_ model: LoopGPT, from path: String, vocabulary: Vocabulary) throws {
        let (source, file) = try Checkpoint.load(from: path, workers: model.workers)
        guard file.vocabulary == vocabulary else {
            throw TrainingError.incompatibleOptions("\(path) was trained with the tokenizer '\(file.vocabulary)' but the data is '\(vocabulary)'; prepare the data with that tokenizer")
        }
        let gate = Set([model.table.exitGateWeight, model.table.exitGateBias].compactMap { $0?.name })
        let sourceNames = Set(source.table.tensors.map(\.name)), targetNames = Set(model.table.tensors.map(\.name))
        guard sourceNames.subtracting(gate) == targetNames.subtracting(gate), sourceNames.isSubset(of: targetNames) else {
            throw TrainingError.incompatibleOptions("\(path) holds a \(source.config.layout.summary) model of width \(source.config.channels); the run asks for \(model.config.layout.summary) of width \(model.config.channels)")
        }
        for spec in model.table.tensors {
            guard let from = source.table.spec(named: spec.name) else { continue }  // the new gate
            guard from.shape == spec.shape else {
                throw TrainingError.incompatibleOptions("\(path): tensor \(spec.name) has shape \(from.shape), the run needs \(spec.shape)")
            }
            (model.parameters.pointer + spec.offset).update(from: source.parameters.pointer + from.offset, count: spec.allocatedCount)
        }
    }

    /// Options that need a particular model: per-pass objectives read every pass's state (no
    /// coda), the gate objectives need an exit gate.
    static func checkCompatible(_ config: ModelConfiguration, _ options: TrainingOptions) throws {
        guard let objective = options.loopObjective, objective.perPass else { return }
        guard config.layout.coda == 0 else {
            throw TrainingError.incompatibleOptions("the \(objective) loop objective reads the state after every loop pass, which a coda would have to process again for each: use a layout without coda blocks (a prelude is fine)")
        }
        if objective.usesGate && !config.exitGate {
            throw TrainingError.incompatibleOptions("the \(objective) loop objective trains an exit gate, and this model has none")
        }
    }

    /// Continues the run saved in `directory/latest` with its saved options, on data whose ids
    /// mean `vocabulary` (the checkpoint must record the same). Every rank reads the
    /// checkpoint, so the directory must be readable by all of them.
    public static func resume(
        in directory: String, vocabulary: Vocabulary, changes: ResumeChanges = ResumeChanges(), workers: Workers,
        communicator: any Communicator = SingleProcess(),
        data: (ModelConfiguration, TrainingOptions) throws -> TrainingData
    ) throws -> TrainingSession {
        let lock = try prepare(directory, communicator: communicator)
        try communicator.barrier()  // rank 0 has finished an interrupted checkpoint swap before the others read `latest`
        let latest = directory + "/latest"
        guard FileManager.default.fileExists(atPath: latest + "/" + Checkpoint.configFile) else {
            throw TrainingError.resume("\(latest) holds no checkpoint to resume; start the run without --resume")
        }
        let (config, checkpointFile) = try Checkpoint.readConfig(from: latest)
        guard checkpointFile.vocabulary == vocabulary else {
            throw TrainingError.resume("\(latest)/\(Checkpoint.configFile) records the tokenizer '\(checkpointFile.vocabulary)' but the data is '\(vocabulary)'; the checkpoint's config.json was edited or damaged, or --data is not the run's data")
        }
        let (saved, stateFile) = try TrainingState.read(directory: latest, contextLength: config.contextLength)
        var options = saved.options
        let changed = try changes.apply(to: &options, step: saved.step, contextLength: config.contextLength)
        let state = saved.with(options: options)
        try checkCompatible(config, state.options)
        guard state.options.microBatches % communicator.size == 0 else {
            throw TrainingError.resume("\(latest) was trained with \(state.options.microBatches) micro-batches per step over \(state.ranks) ranks (processes or replicas); \(communicator.size) cannot split them evenly — resume with a process or replica count that divides \(state.options.microBatches)")
        }
        try checkMemory(config, state.options, communicator: communicator)
        let (model, file) = try Checkpoint.load(from: latest, workers: workers)
        let sources = try data(config, state.options)
        let trainer = try Trainer(model: model, options: state.options, data: sources.train,
                                  generator: state.generator, communicator: communicator)
        try trainer.restore(state, file: stateFile)
        var metrics: MetricsLog?, history: [StepMetrics] = []
        if communicator.isMain {
            let path = directory + "/" + metricsFile
            try MetricsLog.truncate(path: path, afterStep: state.step)
            if FileManager.default.fileExists(atPath: path) { history = try MetricsLog.read(path: path) }
            metrics = try MetricsLog(path: path)
        }
        let session = TrainingSession(directory: directory, trainer: trainer, vocabulary: file.vocabulary,
                                      validation: sources.validation, lock: lock, metrics: metrics, history: history)
        session.notices += changed
        if let saved = state.threads, saved != workers.threads {
            session.notices.append("\(latest) was trained with --threads \(saved); continuing with \(workers.threads) threads is correct, but matrix products split differently round differently, so the weights will not be bit-identical to an uninterrupted run (resume with --threads \(saved) for that)")
        }
        if let saved = state.sgemm, saved != workers.sgemm {
            session.notices.append("\(latest) was trained with --sgemm \(saved.rawValue); continuing with \(workers.sgemm.rawValue) is correct, but the two kernels round differently, so the weights will not be bit-identical to an uninterrupted run (resume with --sgemm \(saved.rawValue) for that)")
        }
        if state.ranks != communicator.size {
            session.notices.append("\(latest) was trained by \(state.ranks) rank(s) (processes or replicas); \(communicator.size) now share the same \(state.options.microBatches) micro-batches per step, so the run continues correctly, within rounding of an uninterrupted one")
        }
        return session
    }

    /// Creates the directory, finishes an interrupted checkpoint swap and locks it (rank 0).
    private static func prepare(_ directory: String, communicator: any Communicator) throws -> RunLock? {
        guard communicator.isMain else { return nil }
        try AtomicFiles.makeFolder(directory)
        let lock = try RunLock(directory: directory)
        for name in ["latest", "best"] { try AtomicFiles.recover(directory + "/" + name) }
        return lock
    }

    /// Validation loss on the first `evalBatches` fixed validation batches (nil without
    /// validation data).
    /// A non-finite loss is divergence (or, before any update, damaged weights).
    public func validationLoss(loops: Int? = nil) throws -> Double? {
        guard !validation.isEmpty else { return nil }
        let loss: Double
        do {
            loss = try Evaluation.run(model: trainer.inference, batches: Array(validation.prefix(trainer.options.evalBatches)),
                                      loops: loops, communicator: trainer.communicator).loss
        } catch ModelError.overflow {
            throw trainer.divergence(step: trainer.step, loss: .nan)
        }
        guard loss.isFinite else { throw trainer.divergence(step: trainer.step, loss: Float(loss)) }
        return loss
    }

    /// Trains to the end of the schedule, to `stopAt`, or until `shouldStop`; saves `latest`
    /// and returns a summary.
    public func run(stopAt: Int? = nil) throws -> RunSummary {
        let options = trainer.options, communicator = trainer.communicator
        if communicator.isMain && lock == nil { lock = try RunLock(directory: directory) }
        defer { lock = nil }
        let end = min(options.schedule.totalSteps, stopAt ?? .max)
        var lastLoss = history.last?.trainLoss, lastValidation = history.last(where: { $0.validationLoss != nil })?.validationLoss
        var stopped = false
        while trainer.step < end && !stopped {
            let record = try trainer.trainStep()  // throws on divergence; the last checkpoint on disk is good
            lastLoss = record.loss
            let step = trainer.step
            var entry = StepMetrics(
                step: step, tokens: step * options.tokensPerStep, trainLoss: record.loss, validationLoss: nil,
                learningRate: Double(record.learningRate), gradientNorm: Double(record.gradientNorm),
                tokensPerSecond: Double(options.tokensPerStep) / record.seconds, stepSeconds: record.seconds,
                reduceSeconds: communicator.size > 1 ? record.reduceSeconds : nil, loops: record.loops)
            let evaluate = step == options.schedule.totalSteps
                || (options.evalInterval > 0 && step % options.evalInterval == 0)
            if evaluate, let validation = try validationLoss() {
                entry.validationLoss = validation
                lastValidation = validation
                if validation < (trainer.bestValidationLoss ?? .infinity) {
                    trainer.bestValidationLoss = validation
                    if communicator.isMain { try trainer.save(to: best, vocabulary: vocabulary) }
                }
            }
            history.append(entry)
            if communicator.isMain {
                try metrics?.append(entry)
                onStep(entry)
            }
            if options.checkpointInterval > 0 && step % options.checkpointInterval == 0 && communicator.isMain {
                try trainer.save(to: latest, vocabulary: vocabulary)
            }
            stopped = try communicator.allReduceMax(shouldStop() ? 1 : 0) > 0
        }
        if communicator.isMain { try trainer.save(to: latest, vocabulary: vocabulary) }
        let hash = try checkRanksAgree()
        return RunSummary(step: trainer.step, tokens: trainer.step * options.tokensPerStep, trainLoss: lastLoss,
                          validationLoss: lastValidation, bestValidationLoss: trainer.bestValidationLoss,
                          checkpoint: latest, interrupted: trainer.step < options.schedule.totalSteps,
                          trainingSeconds: history.reduce(0) { $0 + $1.stepSeconds }, processes: communicator.size,
                          weightsHash: String(hash, radix: 16), peakResidentBytes: SystemMemory.peakResidentBytes())
    }

    /// Hashes the weights on every rank and checks all ranks hold the same ones.
    func checkRanksAgree() throws -> UInt64 {
        let parameters = trainer.model.parameters
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325  // FNV-1a 64
        UnsafeRawBufferPointer(start: parameters.pointer, count: parameters.count * MemoryLayout<Float>.stride).forEach {
            hash = (hash ^ UInt64($0)) &* 0x100_0000_01b3
        }
        let signed = Int(Int64(bitPattern: hash))
        let largest = try trainer.communicator.allReduceMax(signed), smallest = ~(try trainer.communicator.allReduceMax(~signed))
        guard largest == smallest else {
            throw CommunicationError("the ranks hold different weights after step \(trainer.step)")
        }
        return hash
    }
}
