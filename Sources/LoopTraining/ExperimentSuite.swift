import LoopKernels
import LoopModel
import LoopTokenizer

/// One model of a suite.
public struct ExperimentModel: Sendable {
    public let name: String
    public let role: String  // what it is there for, in the table
    public let config: ModelConfiguration
    /// Elastic depth for this model's training (nil: the fixed loop count).
    public var loopSampling: LoopSampling? = nil
}

/// A set of models trained on the same data, token budget, schedule and seed, then compared.
public struct ExperimentSuite: Sendable {
    public let name: String
    public let summary: String
    public let tokenizer: TokenizerKind
    public let models: [ExperimentModel]
    public var options: TrainingOptions  // shared by every model; the seed is varied by --seeds
    /// Validation batches for the final evaluations (and the loop sweep).
    public var finalEvalBatches: Int
    /// The loop sweep runs from 1 to this many times the trained loops.
    public var sweepFactor = 2
    /// Adaptive-exit thresholds evaluated after training (relative state change; none: skip).
    public var exitThresholds: [Float] = []
    /// The depth study's report too: a per-model table.csv, φ, loss against parameters.
    public var depthStudy = false

    /// A token-file suite by name; `steps` overrides its token budget (for trying a suite out
    /// quickly). Nil for the suites that generate their own problems.
    public static func named(_ name: SuiteName, steps: Int? = nil) throws(ConfigurationError) -> ExperimentSuite? {
        switch name {
        case .paper: return try paper(steps: steps ?? 100_000)
        case .paperSmall: return try paperSmall(steps: steps ?? 1200)
        case .quick: return try quick(steps: steps ?? 800)
        case .mini: return try mini(steps: steps ?? 6)
        case .testTime: return try testTime(steps: steps ?? 1000, width: 128, context: 128, batch: 16, evalBatches: 2)
        case .miniTestTime: return try testTime(steps: steps ?? 4, width: 16, context: 16, batch: 2, evalBatches: 2)
        case .shakespeareDepth:
            return try shakespeareDepth(
                name: "shakespeare-depth", summary: "unshared against looped depth on Shakespeare bytes: 1×1, 2×1, 4×1, 1×2, 1×4, 2×2 and 1×4 at random depth, width 128",
                steps: steps ?? 3000, width: 128, heads: 4, context: 128, batch: 16, lr: 3e-3, finalEvalBatches: 80)
        case .miniDepth:
            return try shakespeareDepth(name: "mini-depth", summary: "the depth study at toy size (tests)", steps: steps ?? 4,
                                        width: 16, heads: 2, context: 16, batch: 2, lr: 1e-3, finalEvalBatches: 2)
        case .reasoning, .miniReasoning, .depth, .miniFrontier: return nil
        }
    }

    /// The paper's four layouts at a given width, plus (when `controls`) the two controls the
    /// paper lacks: the shared blocks run once, and an unshared model of the loop model's depth.
    static func paperLayouts(
        width: Int, heads: Int, context: Int, vocab: Int, controls: Bool
    ) throws(ConfigurationError) -> [ExperimentModel] {
        func model(_ name: String, _ role: String, _ layout: LoopLayout) throws(ConfigurationError) -> ExperimentModel {
            ExperimentModel(name: name, role: role, config: try ModelConfiguration(
                vocabSize: vocab, contextLength: context, channels: width, heads: heads, layout: layout))
        }
        var models = [
            try model("gpt2-12x1", "GPT-2 baseline (paper: 124M, 3.12)", LoopLayout(looped: 12)),
            try model("loop-6x6", "6 shared blocks × 6 loops (paper: 81M, 3.11)", LoopLayout(looped: 6, loops: 6)),
            try model("lite-1x1", "one block (paper: 45M, 3.98)", LoopLayout(looped: 1)),
            try model("loop-1x2", "one block × 2 loops (paper: 45M, 3.67)", LoopLayout(looped: 1, loops: 2)),
        ]
        if controls {
            models.append(try model("control-6x1", "control: the 6 blocks once (same parameters as 6×6, no loop)",
                                    LoopLayout(looped: 6)))
            models.append(try model("control-36x1", "control: unshared, same depth and compute as 6×6",
                                    LoopLayout(looped: 36)))
        }
        return models
    }

    /// The suite's options; validation every `evalInterval` steps, or more often when a short
    /// `--steps` would leave fewer than eight points on the curves.
    static func options(batch: Int, time: Int, steps: Int, lr: Float, evalInterval preferred: Int) -> TrainingOptions {
        let evalInterval = max(1, min(preferred, steps / 8))
        return TrainingOptions(batch: batch, time: time, microBatches: 1,
                        schedule: LearningRateSchedule(peak: lr, minimum: lr / 10, warmupSteps: max(1, steps / 20),
                                                       totalSteps: steps),
                        seed: 1337, evalInterval: evalInterval, evalBatches: 10,
                        checkpointInterval: max(evalInterval, 1))
    }

    static func paper(steps: Int) throws(ConfigurationError) -> ExperimentSuite {
        ExperimentSuite(
            name: "paper", summary: "the paper's four models at full size (GPT-2 tokenizer; days on a CPU)",
            tokenizer: .gpt2,
            models: try paperLayouts(width: 768, heads: 12, context: 1024, vocab: Preset.gpt2VocabSize, controls: false),
            options: options(batch: 8, time: 1024, steps: steps, lr: 6e-4, evalInterval: 500), finalEvalBatches: 20)
    }

    static func paperSmall(steps: Int) throws(ConfigurationError) -> ExperimentSuite {
        ExperimentSuite(
            name: "paper-small",
            summary: "the paper's layouts at width 128 on Shakespeare bytes, with two controls (about an hour on 2 cores)",
            tokenizer: .bytes,
            models: try paperLayouts(width: 128, heads: 4, context: 128, vocab: Preset.byteVocabSize, controls: true),
            options: options(batch: 16, time: 128, steps: steps, lr: 2e-3, evalInterval: 100), finalEvalBatches: 40)
    }

    static func quick(steps: Int) throws(ConfigurationError) -> ExperimentSuite {
        let small = try Preset.named("small").configuration(), loop = try Preset.named("small-loop").configuration()
        return ExperimentSuite(
            name: "quick", summary: "a small baseline and its loop version (same parameters), a few minutes",
            tokenizer: .bytes,
            models: [ExperimentModel(name: "small-2x1", role: "baseline", config: small),
                     ExperimentModel(name: "small-loop-2x2", role: "the same blocks × 2 loops", config: loop)],
            options: options(batch: 16, time: 128, steps: steps, lr: 2e-3, evalInterval: 200), finalEvalBatches: 40)
    }

    /// Test-time compute: the same 1 + 2×3 + 1 model (with input injection) trained at a fixed
    /// 3 loops and at a loop count drawn uniformly from 1...5 (mean 3), each evaluated at 1…9
    /// loops and with adaptive exit at several thresholds.
    static func testTime(
        steps: Int, width: Int, context: Int, batch: Int, evalBatches: Int
    ) throws(ConfigurationError) -> ExperimentSuite {
        let config = try ModelConfiguration(vocabSize: Preset.byteVocabSize, contextLength: context, channels: width,
                                            heads: width >= 64 ? 4 : 2,
                                            layout: LoopLayout(prelude: 1, looped: 2, coda: 1, loops: 3), injectInput: true)
        var suite = ExperimentSuite(
            name: "test-time", summary: "fixed against random loop counts in training; loop sweep and adaptive exit",
            tokenizer: .bytes,
            models: [ExperimentModel(name: "fixed-3", role: "trained at 3 loops", config: config),
                     ExperimentModel(name: "random-1to5", role: "trained at loops drawn uniformly from 1...5",
                                     config: config, loopSampling: .uniform(minimum: 1, maximum: 5))],
            options: options(batch: batch, time: context, steps: steps, lr: 2e-3, evalInterval: max(steps / 5, 1)),
            finalEvalBatches: evalBatches)
        suite.sweepFactor = 3
        suite.exitThresholds = [0.6, 0.4, 0.3, 0.25, 0.2, 0.15]
        return suite
    }

    /// paper-small's structure at toy size, for tests.
    static func mini(steps: Int) throws(ConfigurationError) -> ExperimentSuite {
        ExperimentSuite(
            name: "mini", summary: "paper-small's structure at toy size (tests)", tokenizer: .bytes,
            models: try paperLayouts(width: 16, heads: 2, context: 16, vocab: Preset.byteVocabSize, controls: true),
            options: options(batch: 2, time: 16, steps: steps, lr: 1e-3, evalInterval: 3), finalEvalBatches: 2)
    }
}
