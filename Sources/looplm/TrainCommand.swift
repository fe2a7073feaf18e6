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
            so exactly that the weights equal those of a run that never stopped.
            """)

    @Option(help: "Directory with train.bin and val.bin (from `looplm prepare`).")
    var data: String
    @Option(help: "Output directory for checkpoints and metrics.")
    var out: String
    @OptionGroup var model: ModelOptions
    @Option(help: "Optimizer steps.")
    var steps: Int = 200
    @Option(help: "Stop after this many training tokens instead (sets --steps).")
    var maxTokens: Int?
    @Option(help: "Sequences per micro-batch (B).")
    var batch: Int = 8
    @Option(help: "Tokens per sequence (T); default: the model's context.")
    var context: Int?
    @Option(help: "Micro-batches accumulated per optimizer step.")
    var accumulate: Int = 1
    @Option(help: "Peak learning rate.")
    var lr: Float = 1e-3
    @Option(help: "Final learning rate of the cosine decay.")
    var minLr: Float = 1e-4
    @Option(help: "Linear warm-up steps.")
    var warmup: Int = 20
    @Option(help: "AdamW weight decay (matrices and embeddings only).")
    var weightDecay: Float = 0.1
    @Option(help: "Global gradient-norm clip (0: off).")
    var clip: Float = 1.0
    @Option(help: "Random seed (initialisation and batches).")
    var seed: UInt64 = 1337
    @Option(help: "Steps between validation evaluations (0: only at the end).")
    var evalInterval: Int = 50
    @Option(help: "Validation batches per evaluation.")
    var evalBatches: Int = 10
    @Option(help: "Steps between checkpoints (0: only at the end).")
    var checkpointInterval: Int = 100
    @Option(help: "Elastic depth: draw each step's loop count, `uniform:A-B` or `lognormal-poisson:MEAN[:SIGMA[:MAX]]`.")
    var loopsSample: String?
    @Option(help: "Backpropagate through only the last K loop passes (bounds activation memory).")
    var backpropLoops: Int?
    @Flag(help: "Continue the run saved in OUT/latest (its saved options are used).")
    var resume = false
    @Option(help: "Stop after this step as if interrupted: save OUT/latest and exit 0.")
    var stopAt: Int?
    @Flag(help: "Print the final summary as JSON.")
    var json = false
    @OptionGroup var compute: ComputeOptions

    func run() throws {
        let trainFile = try TokenFile.read(path: data + "/train.bin")
        let valFile = try? TokenFile.read(path: data + "/val.bin")
        let tokenizer = trainFile.tokenizer ?? .gpt2
        let run: TrainingRun
        if resume {
            run = try TrainingRun.resume(out: out, trainFile: trainFile, valFile: valFile,
                                         workers: compute.workers)
        } else {
            let vocab = tokenizer == .bytes ? ByteTokenizer().vocabSize : Preset.gpt2VocabSize
            let config = try model.configuration(vocabSize: vocab)
            let time = context ?? config.contextLength
            let totalSteps = maxTokens.map { max(1, $0 / (batch * time * accumulate)) } ?? steps
            var sampling: LoopSampling?
            if let loopsSample {
                guard let parsed = LoopSampling(argument: loopsSample) else {
                    throw ValidationError("--loops-sample must be uniform:A-B or lognormal-poisson:MEAN[:SIGMA[:MAX]]")
                }
                sampling = parsed
            }
            var options = TrainingOptions(
                batch: batch, time: time, microBatches: accumulate,
                schedule: LearningRateSchedule(peak: lr, minimum: minLr, warmupSteps: warmup, totalSteps: totalSteps),
                weightDecay: weightDecay, maxGradientNorm: clip > 0 ? clip : nil, seed: seed,
                evalInterval: evalInterval, evalBatches: evalBatches, checkpointInterval: checkpointInterval)
            options.loopSampling = sampling
            options.gradientLoops = backpropLoops
            run = try TrainingRun.start(out: out, config: config, options: options, tokenizer: tokenizer,
                                        trainFile: trainFile, valFile: valFile, workers: compute.workers)
        }
        let summary = try run.loop(stopAt: stopAt)
        if json {
            try printJSON(summary)
        } else {
            let val = (summary["val_loss"] as? Double).map { String(format: "%.4f", $0) } ?? "n/a"
            print("done: step \(summary["step"]!), train loss \(String(format: "%.4f", summary["train_loss"] as? Double ?? .nan)), val loss \(val), checkpoint \(out)/latest")
        }
    }
}
