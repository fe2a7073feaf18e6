import ArgumentParser
import Foundation
import LoopCheckpoint
import LoopKernels
import LoopModel
import LoopTokenizer
import LoopTraining

struct TrainCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train",
        abstract: "Train a model on prepared token files, with checkpoints you can resume.",
        discussion: """
            Writes OUT/latest (every --checkpoint-interval steps, at the end and on Ctrl-C), \
            OUT/best (lowest validation loss) and OUT/metrics.jsonl. --resume continues OUT/latest \
            so exactly that the weights equal those of a run that never stopped. Under mpirun, \
            every process trains the same model on its share of each step's batches.
            """)

    @Option(help: "Directory with train.bin and val.bin (from `looplm prepare`).")
    var data: String
    @Option(help: "Output directory for checkpoints and metrics.")
    var out: String
    @OptionGroup var model: ModelOptions
    @Option(parsing: .unconditional, help: "Optimizer steps.")
    var steps: Int = 200
    @Option(parsing: .unconditional, help: "Stop after this many training tokens instead (sets --steps).")
    var maxTokens: Int?
    @Option(parsing: .unconditional, help: "Sequences per micro-batch (B).")
    var batch: Int = 8
    @Option(parsing: .unconditional, help: "Tokens per sequence (T); default: the model's context.")
    var context: Int?
    @Option(parsing: .unconditional, help: "Micro-batches accumulated per optimizer step (per process).")
    var accumulate: Int = 1
    @Option(parsing: .unconditional, help: "Peak learning rate.")
    var lr: Float = 1e-3
    @Option(parsing: .unconditional, help: "Final learning rate of the cosine decay.")
    var minLr: Float = 1e-4
    @Option(parsing: .unconditional, help: "Linear warm-up steps.")
    var warmup: Int = 20
    @Option(parsing: .unconditional, help: "AdamW weight decay (matrices and embeddings only).")
    var weightDecay: Float = 0.1
    @Option(parsing: .unconditional, help: "Global gradient-norm clip (0: off).")
    var clip: Float = 1.0
    @Option(parsing: .unconditional, help: "Random seed (initialisation and batches).")
    var seed: UInt64 = 1337
    @Option(parsing: .unconditional, help: "Steps between validation evaluations (0: only at the end).")
    var evalInterval: Int = 50
    @Option(parsing: .unconditional, help: "Validation batches per evaluation.")
    var evalBatches: Int = 10
    @Option(parsing: .unconditional, help: "Steps between checkpoints (0: only at the end).")
    var checkpointInterval: Int = 100
    @Option(help: "Elastic depth: draw each step's loop count, `uniform:A-B` or `lognormal-poisson:MEAN[:SIGMA[:MAX]]`.")
    var loopsSample: LoopSampling?
    @Option(parsing: .unconditional, help: "Backpropagate through only the last K loop passes (bounds activation memory).")
    var backpropLoops: Int?
    @Flag(help: "Keep only the stream between block applications and recompute each block in backward: activation memory no longer grows with depth, for about a third more compute. Same gradients.")
    var recompute = false
    @Flag(help: "Continue the run saved in OUT/latest (its saved options are used).")
    var resume = false
    @Option(parsing: .unconditional, help: "Stop after this step as if interrupted: save OUT/latest and exit 0.")
    var stopAt: Int?
    @Flag(help: "Print the final summary as JSON.")
    var json = false
    @OptionGroup var compute: ComputeOptions

    func validate() throws {
        let sizes = 1...TrainingOptions.maximumBatch
        guard sizes.contains(batch), sizes.contains(accumulate) else {
            throw ValidationError("--batch and --accumulate must be in 1...\(TrainingOptions.maximumBatch)")
        }
        if let maxTokens, maxTokens < 1 { throw ValidationError("--max-tokens must be ≥ 1") }
        if let stopAt, stopAt < 0 { throw ValidationError("--stop-at must be ≥ 0") }
    }

    func run() throws {
        let job = try Job.start()
        let stop = StopSignal()
        let tokenizer = try TokenData.tokenizer(directory: data)
        let workers = compute.workers
        let session: TrainingSession
        let load = { (config: ModelConfiguration, options: TrainingOptions) throws -> TrainingData in
            try TokenData.load(directory: data, config: config, options: options, tokenizer: tokenizer)
        }
        if resume {
            session = try TrainingSession.resume(in: out, vocabulary: Vocabulary(tokenizer), workers: workers, communicator: job.communicator, data: load)
        } else {
            let config = try model.configuration(vocabSize: tokenizer == .bytes ? ByteTokenizer().vocabSize : Preset.gpt2VocabSize)
            let options = try trainingOptions(config: config, processes: job.communicator.size)
            session = try TrainingSession.start(NewRun(config: config, options: options, vocabulary: Vocabulary(tokenizer)),
                                                in: out, workers: workers, communicator: job.communicator, data: load)
        }
        if job.communicator.isMain { for notice in session.notices { printError("note: " + notice) } }
        if session.validation.isEmpty && job.communicator.isMain {
            printError("warning: \(data)/val.bin is missing; training without validation (no OUT/best)")
        }
        let progress = Progress(totalSteps: min(session.trainer.options.schedule.totalSteps, stopAt ?? .max))
        session.onStep = progress.update
        session.shouldStop = { stop.requested }
        let summary: RunSummary
        do { summary = try session.run(stopAt: stopAt) } catch {
            progress.finish()
            throw error
        }
        progress.finish()
        guard job.communicator.isMain else { return }
        if stop.requested { printError("stopped by signal at step \(summary.step); resume with --resume") }
        if json {
            try printJSON(summary)
        } else {
            let val = summary.validationLoss.map { String(format: "%.4f", $0) } ?? "n/a"
            print("done: step \(summary.step), train loss \(summary.trainLoss.map { String(format: "%.4f", $0) } ?? "n/a"), val loss \(val), checkpoint \(summary.checkpoint)")
        }
    }

    func trainingOptions(config: ModelConfiguration, processes: Int) throws -> TrainingOptions {
        let time = context ?? config.contextLength
        guard (1...config.contextLength).contains(time) else {
            throw ValidationError("--context must be in 1...\(config.contextLength) (the model's context)")
        }
        let tokensPerStep = CheckedSize.product(batch, time, accumulate, processes)
        let totalSteps = try maxTokens.map { tokens -> Int in
            guard let tokensPerStep, tokensPerStep > 0 else { throw ValidationError("--batch × --context × --accumulate is too large") }
            return max(1, tokens / tokensPerStep)
        } ?? steps
        var options = TrainingOptions(
            batch: batch, time: time, microBatches: accumulate * processes,
            schedule: LearningRateSchedule(peak: lr, minimum: minLr, warmupSteps: warmup, totalSteps: totalSteps),
            weightDecay: weightDecay, maxGradientNorm: clip > 0 ? clip : nil, seed: seed,
            evalInterval: evalInterval, evalBatches: evalBatches, checkpointInterval: checkpointInterval)
        options.loopSampling = loopsSample
        options.gradientLoops = backpropLoops
        options.recompute = recompute ? true : nil
        try options.validateFlags(contextLength: config.contextLength)
        return options
    }
}

extension LoopSampling: ExpressibleByArgument {}
