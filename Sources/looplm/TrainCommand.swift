import ArgumentParser
import Foundation
import LoopCheckpoint
import LoopKernels
import LoopModel
import LoopTokenizer
import LoopTraining

struct TrainCommand: ParsableCommand {
    typealias Default = TrainingOptions.Default

    static let configuration = CommandConfiguration(
        commandName: "train",
        abstract: "Train a model on prepared token files, with checkpoints you can resume.",
        discussion: """
            Writes OUT/latest (every --checkpoint-interval steps, at the end and on Ctrl-C), \
            OUT/best (lowest validation loss) and OUT/metrics.jsonl. --resume continues OUT/latest \
            so exactly that the weights equal those of a run that never stopped; it keeps the saved \
            options, and refuses flags that ask for others, except --steps/--max-tokens (a longer \
            schedule), --eval-interval, --checkpoint-interval, --threads and --sgemm. --init CKPT \
            starts from a checkpoint's weights (fine-tuning; import-hf, export-hf, latest or best) \
            with a fresh optimizer and schedule. Under mpirun, every process trains the same model \
            on its share of each step's batches.
            """)

    @Option(help: "Folder with train.bin and val.bin (from `looplm prepare`).")
    var data: String
    @Option(help: "Output folder for checkpoints and metrics.")
    var out: String
    @Option(help: "Start from this checkpoint's weights (layout and tokenizer from it; fresh optimizer and schedule).")
    var `init`: String?
    @OptionGroup var model: ModelOptions
    @Option(parsing: .unconditional, help: "Optimizer steps (default: \(Default.steps)).")
    var steps: Int?
    @Option(parsing: .unconditional, help: "Stop after this many training tokens instead (sets --steps).")
    var maxTokens: Int?
    @Option(parsing: .unconditional, help: "Sequences per micro-batch, B (default: \(Default.batch)).")
    var batch: Int?
    @Option(parsing: .unconditional, help: "Tokens per sequence, T (default: the model's context).")
    var context: Int?
    @Option(parsing: .unconditional, help: "Micro-batches accumulated per optimizer step, per process (default: 1).")
    var accumulate: Int?
    @Option(parsing: .unconditional, help: "Peak learning rate (default: \(Default.peakLearningRate)).")
    var lr: Float?
    @Option(parsing: .unconditional, help: "Final learning rate of the cosine decay (default: \(Default.minimumLearningRate)).")
    var minLr: Float?
    @Option(parsing: .unconditional, help: "Linear warm-up steps (default: \(Default.warmupSteps)).")
    var warmup: Int?
    @Option(parsing: .unconditional, help: "AdamW weight decay, matrices and embeddings only (default: \(Default.weightDecay)).")
    var weightDecay: Float?
    @Option(parsing: .unconditional, help: "Global gradient-norm clip, 0: off (default: \(Default.maxGradientNorm)).")
    var clip: Float?
    @Option(parsing: .unconditional, help: "Random seed: initialisation and batches (default: \(Default.seed)).")
    var seed: UInt64?
    @Option(parsing: .unconditional, help: "Steps between validation evaluations, 0: only at the end (default: \(Default.evalInterval)).")
    var evalInterval: Int?
    @Option(parsing: .unconditional, help: "Validation batches per evaluation (default: \(Default.evalBatches)).")
    var evalBatches: Int?
    @Option(parsing: .unconditional, help: "Steps between checkpoints, 0: only at the end (default: \(Default.checkpointInterval)).")
    var checkpointInterval: Int?
    @Option(help: "Elastic depth: draw each step's loop count, `uniform:A-B` or `lognormal-poisson:MEAN[:SIGMA[:MAX]]`.")
    var loopsSample: LoopSampling?
    @Option(parsing: .unconditional, help: "Backpropagate through only the last K loop passes (bounds activation memory).")
    var backpropLoops: Int?
    @Flag(help: "Keep only the stream between block applications and recompute each block in backward: activation memory no longer grows with depth, for about a third more compute. Same gradients.")
    var recompute = false
    @Option(help: "What training minimizes over the loop passes: last (the last pass's loss, the default), all (the mean over every pass's prediction) or gate (Ouro's stage I: an exit gate learns where each token stops; adds C + 1 parameters). all and gate need a layout without coda.")
    var loopLoss: LoopLossChoice?
    @Option(parsing: .unconditional, help: "With --loop-loss gate: the weight β of the exit distribution's entropy (default: \(LoopObjective.defaultEntropy)).")
    var exitEntropy: Float?
    @Flag(help: "Ouro's stage II: freeze the model of --init and train only its exit gate, against labels from the detached per-pass losses.")
    var trainGateOnly = false
    @Option(parsing: .unconditional, help: "With --train-gate-only: the label's sharpness k in σ(k · (improvement − margin)) (default: \(LoopObjective.defaultSharpness)).")
    var gateSharpness: Float?
    @Option(parsing: .unconditional, help: "With --train-gate-only: the loss improvement below which a pass is not worth running (default: \(LoopObjective.defaultMargin)).")
    var gateMargin: Float?

    enum LoopLossChoice: String, ExpressibleByArgument, CaseIterable { case last, all, gate }

    /// The objective the flags ask for (nil: the default, the last pass's loss).
    var objective: LoopObjective? {
        if trainGateOnly {
            return .gateOnly(sharpness: gateSharpness ?? LoopObjective.defaultSharpness, margin: gateMargin ?? LoopObjective.defaultMargin)
        }
        switch loopLoss {
        case nil, .last?: return nil
        case .all?: return .all
        case .gate?: return .gate(entropy: exitEntropy ?? LoopObjective.defaultEntropy)
        }
    }
    @Flag(help: "Continue the run saved in OUT/latest with its saved options.")
    var resume = false
    @Option(parsing: .unconditional, help: "Stop after this step as if interrupted: save OUT/latest and exit 0.")
    var stopAt: Int?
    @Flag(help: "Print the final summary as JSON.")
    var json = false
    @OptionGroup var compute: ComputeOptions
    @OptionGroup var replicaOption: ReplicaOption

    func validate() throws {
        let sizes = 1...TrainingOptions.maximumBatch
        if let batch, !sizes.contains(batch) { throw ValidationError("--batch must be in \(sizes)") }
        if let accumulate, !sizes.contains(accumulate) { throw ValidationError("--accumulate must be in \(sizes)") }
        if let maxTokens, maxTokens < 1 { throw ValidationError("--max-tokens must be ≥ 1") }
        if let stopAt, stopAt < 0 { throw ValidationError("--stop-at must be ≥ 0") }
        if steps != nil && maxTokens != nil { throw ValidationError("give --steps or --max-tokens, not both") }
        if resume && `init` != nil { throw ValidationError("--init starts a new run and --resume continues one; give one") }
        if trainGateOnly && `init` == nil && !resume {
            throw ValidationError("--train-gate-only trains the exit gate of a trained model: give it with --init CKPT")
        }
        if trainGateOnly && loopLoss != nil { throw ValidationError("--train-gate-only is its own objective; drop --loop-loss") }
        if exitEntropy != nil && loopLoss != .gate { throw ValidationError("--exit-entropy weighs the gate objective; give --loop-loss gate") }
        if (gateSharpness != nil || gateMargin != nil) && !trainGateOnly {
            throw ValidationError("--gate-sharpness and --gate-margin set --train-gate-only's labels; give --train-gate-only")
        }
    }

    func run() throws {
        let job = try Job.start()
        let stop = StopSignal()
        let tokenizer = try TokenData.tokenizer(directory: data)
        let threads = try replicaOption.threadsPerReplica(compute)
        nonisolated(unsafe) let command = self  // read only, by every rank
        let summary = try job.eachRank(replicas: replicaOption.replicas) { communicator in
            let workers = ReplicaOption.workers(threads: threads, command.compute)
            return try command.train(Rank(communicator: communicator, workers: workers), tokenizer: tokenizer, stop: stop)
        }
        guard let summary else { return }
        if stop.requested { printError("stopped by signal at step \(summary.step); resume with --resume") }
        if json { return try printJSON(summary) }
        let val = summary.validationLoss.map { String(format: "%.4f", $0) } ?? "n/a"
        print("done: step \(summary.step), train loss \(summary.trainLoss.map { String(format: "%.4f", $0) } ?? "n/a"), val loss \(val), checkpoint \(summary.checkpoint)")
    }

    /// One rank's training; the main rank's summary (nil on the others).
    func train(_ rank: Rank, tokenizer: TokenizerKind, stop: StopSignal) throws -> RunSummary? {
        let session = resume ? try resumeSession(tokenizer: tokenizer, rank: rank)
            : try startSession(tokenizer: tokenizer, rank: rank)
        let main = rank.communicator.isMain
        if main {
            for notice in session.notices { printError("note: " + notice) }
            printError(TrainingHeader(session: session, data: data).text)
            if session.validation.isEmpty { printError("warning: \(data)/val.bin is missing; training without validation (no OUT/best)") }
        }
        let progress = main ? Progress(totalSteps: min(session.trainer.options.schedule.totalSteps, stopAt ?? .max)) : nil
        if let progress { session.onStep = progress.update }
        session.shouldStop = { stop.requested }
        let summary: RunSummary
        do { summary = try session.run(stopAt: stopAt) } catch {
            progress?.finish()
            throw error
        }
        progress?.finish()
        return main ? summary : nil
    }

    /// A new run: the model from the flags (or from --init's checkpoint) and the options.
    func startSession(tokenizer: TokenizerKind, rank: Rank) throws -> TrainingSession {
        let config: ModelConfiguration
        if let start = `init` {
            let path = checkpointPath(start)
            config = try model.configuration(startingFrom: Checkpoint.readConfig(from: path).model)
                .with(exitGate: (objective?.usesGate ?? false) || Checkpoint.readConfig(from: path).model.exitGate)
            let run = NewRun(config: config, options: try trainingOptions(config: config, processes: rank.communicator.size),
                             vocabulary: Vocabulary(tokenizer), initialWeights: path)
            return try TrainingSession.start(run, in: out, workers: rank.workers, communicator: rank.communicator,
                                             data: load(tokenizer))
        }
        config = try model.configuration(vocabSize: tokenizer == .bytes ? ByteTokenizer().vocabSize : Preset.gpt2VocabSize)
            .with(exitGate: objective?.usesGate ?? false)
        if tokenizer == .gpt2, model.presetHasByteVocabulary, rank.communicator.isMain {
            let parameters = ParameterTable(config).parameterCount
            printError("note: the data is GPT-2 tokens, so the \(model.preset ?? ModelOptions.defaultPreset) preset's vocabulary is widened to \(config.vocabSize) ids: \(parameters) parameters, most of them in the embedding")
        }
        let run = NewRun(config: config, options: try trainingOptions(config: config, processes: rank.communicator.size),
                         vocabulary: Vocabulary(tokenizer))
        return try TrainingSession.start(run, in: out, workers: rank.workers, communicator: rank.communicator,
                                         data: load(tokenizer))
    }

    func load(_ tokenizer: TokenizerKind) -> (ModelConfiguration, TrainingOptions) throws -> TrainingData {
        { [data] config, options in try TokenData.load(directory: data, config: config, options: options, tokenizer: tokenizer) }
    }

    func trainingOptions(config: ModelConfiguration, processes: Int) throws -> TrainingOptions {
        let time = context ?? config.contextLength
        guard (1...config.contextLength).contains(time) else {
            throw ValidationError("--context must be in 1...\(config.contextLength) (the model's context)")
        }
        let batch = self.batch ?? Default.batch, accumulate = self.accumulate ?? 1
        guard let tokensPerStep = CheckedSize.product(batch, time, accumulate, processes) else {
            throw ValidationError("--batch × --context × --accumulate is too large")
        }
        var options = TrainingOptions(
            batch: batch, time: time, microBatches: accumulate * processes,
            schedule: LearningRateSchedule(peak: lr ?? Default.peakLearningRate, minimum: minLr ?? Default.minimumLearningRate,
                                           warmupSteps: warmup ?? Default.warmupSteps, totalSteps: Default.steps),
            weightDecay: weightDecay ?? Default.weightDecay, maxGradientNorm: clip.map { $0 > 0 ? $0 : nil } ?? Default.maxGradientNorm,
            seed: seed ?? Default.seed, evalInterval: evalInterval ?? Default.evalInterval,
            evalBatches: evalBatches ?? Default.evalBatches, checkpointInterval: checkpointInterval ?? Default.checkpointInterval)
        options.schedule.totalSteps = try totalSteps(tokensPerStep: tokensPerStep) ?? Default.steps
        options.loopSampling = loopsSample
        options.gradientLoops = backpropLoops
        options.recompute = recompute ? true : nil
        options.loopObjective = objective
        try options.validateFlags(contextLength: config.contextLength)
        return options
    }

    /// --steps, or --max-tokens over the tokens of one step; nil when neither is given.
    func totalSteps(tokensPerStep: Int) throws -> Int? {
        if let steps { return steps }
        guard let maxTokens else { return nil }
        guard tokensPerStep > 0 else { throw ValidationError("--batch × --context × --accumulate is too large") }
        return max(1, maxTokens / tokensPerStep)
    }
}

extension LoopSampling: ExpressibleByArgument {}
