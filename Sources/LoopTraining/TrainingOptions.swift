import LoopKernels
import LoopModel

/// Everything that decides a training run besides the model. Saved with every checkpoint,
/// so `--resume` continues the same run.
public struct TrainingOptions: Codable, Equatable, Sendable {
    public var batch: Int  // B sequences per micro-batch
    public var time: Int  // T tokens per sequence
    /// Micro-batches per optimizer step, over all processes: accumulation steps × ranks.
    public var microBatches: Int
    public var schedule: LearningRateSchedule
    public var weightDecay: Float
    public var maxGradientNorm: Float?
    public var adam: AdamWHyperparameters
    public var seed: UInt64
    public var evalInterval: Int  // steps between validation evaluations (0: only at the end)
    public var evalBatches: Int  // batches per validation evaluation
    public var checkpointInterval: Int  // steps between checkpoints (0: only at the end)
    /// Elastic depth: each step's loop count drawn from this (nil: the model's own count).
    public var loopSampling: LoopSampling?
    /// Truncated backpropagation: gradients through only the last k loop passes (nil: all).
    public var gradientLoops: Int?
    /// Recompute each block's internals during backward instead of keeping them (nil: off).
    public var recompute: Bool?

    public init(
        batch: Int, time: Int, microBatches: Int = 1, schedule: LearningRateSchedule,
        weightDecay: Float = 0.1, maxGradientNorm: Float? = 1.0,
        adam: AdamWHyperparameters = AdamWHyperparameters(), seed: UInt64 = 1337,
        evalInterval: Int = 100, evalBatches: Int = 20, checkpointInterval: Int = 500
    ) {
        self.batch = batch
        self.time = time
        self.microBatches = microBatches
        self.schedule = schedule
        self.weightDecay = weightDecay
        self.maxGradientNorm = maxGradientNorm
        self.adam = adam
        self.seed = seed
        self.evalInterval = evalInterval
        self.evalBatches = evalBatches
        self.checkpointInterval = checkpointInterval
    }

    public var tokensPerStep: Int { batch * time * microBatches }

    /// Checks values a user can get wrong; the message names the option.
    public func validate(contextLength: Int) throws(TrainingError) {
        func check(_ ok: Bool, _ message: String) throws(TrainingError) {
            if !ok { throw .invalidOption(message) }
        }
        try check(batch >= 1 && batch <= Self.maximumBatch, "--batch must be in 1...\(Self.maximumBatch)")
        try check(time >= 1 && time <= contextLength, "--context must be in 1...\(contextLength) (the model's context)")
        try check(microBatches >= 1 && microBatches <= Self.maximumBatch, "--accumulate must be in 1...\(Self.maximumBatch)")
        try check(schedule.peak.isFinite && schedule.peak > 0, "--lr must be a positive number")
        try check(schedule.minimum.isFinite && schedule.minimum >= 0 && schedule.minimum <= schedule.peak,
                  "--min-lr must be in 0...lr")
        try check(schedule.totalSteps >= 1 && schedule.totalSteps <= Self.maximumBatch * 1024, "--steps must be in 1...\(Self.maximumBatch * 1024)")
        try check(schedule.warmupSteps >= 0, "--warmup must be ≥ 0")
        try check(weightDecay.isFinite && weightDecay >= 0, "--weight-decay must be ≥ 0")
        try check(maxGradientNorm.map { $0.isFinite && $0 > 0 } ?? true, "--clip must be > 0")
        try check(adam.beta1 >= 0 && adam.beta1 < 1 && adam.beta2 >= 0 && adam.beta2 < 1,
                  "Adam betas must be in [0, 1)")
        try check(evalInterval >= 0 && checkpointInterval >= 0, "intervals must be ≥ 0")
        try check(evalBatches >= 1 && evalBatches <= Self.maximumBatch, "--eval-batches must be in 1...\(Self.maximumBatch)")
        try check(loopSampling?.isValid ?? true, "--loops-sample: bounds must be ≥ 1 and in order")
        try check(gradientLoops.map { $0 >= 1 && $0 <= ModelConfiguration.Limit.loops } ?? true,
                  "--backprop-loops must be in 1...\(ModelConfiguration.Limit.loops)")
    }

    /// Bounds batch sizes so token counts cannot overflow (memory is checked separately).
    public static let maximumBatch = 1 << 20
}

public enum TrainingError: Error, CustomStringConvertible, Equatable {
    case invalidOption(String)
    case divergence(step: Int, loss: Float)
    case resume(String)
    /// Another process holds the run directory's lock.
    case runInUse(String)

    public var description: String {
        switch self {
        case .invalidOption(let message): return message
        case .divergence(let step, let loss):
            return "training diverged at step \(step) (loss \(loss)); the last good checkpoint is kept — lower --lr or raise --warmup"
        case .resume(let message): return message
        case .runInUse(let directory):
            return "\(directory) is in use by another looplm process; wait for it to finish or choose another --out"
        }
    }
}
