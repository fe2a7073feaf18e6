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
    /// What training minimizes over the loop passes (nil: the last pass's loss).
    public var loopObjective: LoopObjective?

    /// The defaults of `looplm train` and of this initialiser: one place for each.
    public enum Default {
        public static let batch = 8
        public static let steps = 200
        public static let peakLearningRate: Float = 1e-3
        public static let minimumLearningRate: Float = 1e-4
        public static let warmupSteps = 20
        public static let weightDecay: Float = 0.1
        public static let maxGradientNorm: Float = 1.0
        public static let seed: UInt64 = 1337
        public static let evalInterval = 50
        public static let evalBatches = 10
        public static let checkpointInterval = 100
    }

    public init(
        batch: Int, time: Int, microBatches: Int = 1, schedule: LearningRateSchedule,
        weightDecay: Float = Default.weightDecay, maxGradientNorm: Float? = Default.maxGradientNorm,
        adam: AdamWHyperparameters = AdamWHyperparameters(), seed: UInt64 = Default.seed,
        evalInterval: Int = Default.evalInterval, evalBatches: Int = Default.evalBatches,
        checkpointInterval: Int = Default.checkpointInterval
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

    /// The options a person sets, named as the saved training state names them; the command
    /// line maps each to its flag.
    public enum Field: String, Sendable, CaseIterable {
        case batch, time, microBatches = "micro_batches", peakLearningRate = "schedule.peak"
        case minimumLearningRate = "schedule.minimum", totalSteps = "schedule.total_steps"
        case warmupSteps = "schedule.warmup_steps", weightDecay = "weight_decay"
        case maxGradientNorm = "max_gradient_norm", adam, evalInterval = "eval_interval"
        case evalBatches = "eval_batches", checkpointInterval = "checkpoint_interval"
        case loopSampling = "loop_sampling", gradientLoops = "gradient_loops", loopObjective = "loop_objective"
    }

    /// An option outside what training can run with: which one, and what it must be.
    public struct Problem: Error, Equatable, Sendable, CustomStringConvertible {
        public let field: Field
        /// What the value must be, e.g. "must be in 1...1048576".
        public let requirement: String
        public var description: String { "\(field.rawValue) \(requirement)" }
    }

    /// Checks every value, whether it came from flags or from a saved state.
    public func validate(contextLength: Int) throws(Problem) {
        func check(_ ok: Bool, _ field: Field, _ requirement: String) throws(Problem) {
            if !ok { throw Problem(field: field, requirement: requirement) }
        }
        let sizes = 1...Self.maximumBatch
        try check(sizes.contains(batch), .batch, "must be in \(sizes)")
        try check((1...contextLength).contains(time), .time, "must be in 1...\(contextLength) (the model's context)")
        try check(sizes.contains(microBatches), .microBatches, "must be in \(sizes)")
        try check(schedule.peak.isFinite && schedule.peak > 0, .peakLearningRate, "must be a positive number")
        try check(schedule.minimum.isFinite && schedule.minimum >= 0 && schedule.minimum <= schedule.peak,
                  .minimumLearningRate, "must be in 0...\(schedule.peak) (the peak learning rate)")
        try check((1...Self.maximumSteps).contains(schedule.totalSteps), .totalSteps, "must be in 1...\(Self.maximumSteps)")
        try check((0...Self.maximumSteps).contains(schedule.warmupSteps), .warmupSteps, "must be in 0...\(Self.maximumSteps)")
        try check(weightDecay.isFinite && weightDecay >= 0, .weightDecay, "must be a number ≥ 0")
        try check(maxGradientNorm.map { $0.isFinite && $0 > 0 } ?? true, .maxGradientNorm, "must be a number > 0 (or off)")
        try check(adam.beta1 >= 0 && adam.beta1 < 1 && adam.beta2 >= 0 && adam.beta2 < 1, .adam, "betas must be in [0, 1)")
        try check(adam.epsilon.isFinite && adam.epsilon > 0, .adam, "epsilon must be a number > 0")
        try check((0...Self.maximumSteps).contains(evalInterval), .evalInterval, "must be in 0...\(Self.maximumSteps)")
        try check((0...Self.maximumSteps).contains(checkpointInterval), .checkpointInterval,
                  "must be in 0...\(Self.maximumSteps)")
        try check(sizes.contains(evalBatches), .evalBatches, "must be in \(sizes)")
        try check(loopSampling?.isValid ?? true, .loopSampling, "bounds must be in 1...\(ModelConfiguration.Limit.loops) and in order")
        try check(gradientLoops.map { (1...ModelConfiguration.Limit.loops).contains($0) } ?? true, .gradientLoops,
                  "must be in 1...\(ModelConfiguration.Limit.loops)")
        try check(loopObjective?.isValid ?? true, .loopObjective, "needs an entropy weight ≥ 0, a sharpness > 0 and a finite margin")
        try check(!(loopObjective?.perPass ?? false) || gradientLoops == nil, .loopObjective,
                  "reads every loop pass, so it cannot be combined with truncated backpropagation")
    }

    /// Bounds batch sizes so token counts cannot overflow (memory is checked separately).
    public static let maximumBatch = 1 << 20
    /// Bounds step counts and intervals.
    public static let maximumSteps = 1 << 30

    enum CodingKeys: String, CodingKey {
        case batch, time, microBatches, schedule, weightDecay, maxGradientNorm, adam, seed, evalInterval, evalBatches
        case checkpointInterval, loopSampling, gradientLoops, recompute, loopObjective
    }

    /// Every key is written, the ones that are off as null, so a reader can tell a missing
    /// key (a damaged file) from an option that is off.
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(batch, forKey: .batch)
        try c.encode(time, forKey: .time)
        try c.encode(microBatches, forKey: .microBatches)
        try c.encode(schedule, forKey: .schedule)
        try c.encode(weightDecay, forKey: .weightDecay)
        try c.encode(maxGradientNorm, forKey: .maxGradientNorm)
        try c.encode(adam, forKey: .adam)
        try c.encode(seed, forKey: .seed)
        try c.encode(evalInterval, forKey: .evalInterval)
        try c.encode(evalBatches, forKey: .evalBatches)
        try c.encode(checkpointInterval, forKey: .checkpointInterval)
        try c.encode(loopSampling, forKey: .loopSampling)
        try c.encode(gradientLoops, forKey: .gradientLoops)
        try c.encode(recompute, forKey: .recompute)
        try c.encode(loopObjective, forKey: .loopObjective)
    }
}

public enum TrainingError: Error, CustomStringConvertible, Equatable {
    /// An option out of range, in the library's terms (the command line names the flag).
    case invalidOption(TrainingOptions.Problem)
    /// Options that cannot work together (such as micro-batches that do not divide over the processes).
    case incompatibleOptions(String)
    case divergence(step: Int, loss: Float)
    /// Weights read from a checkpoint give a non-finite loss or gradient before any update.
    case damagedWeights(step: Int)
    case resume(String)
    /// Another process holds the run directory's lock.
    case runInUse(String)

    public var description: String {
        switch self {
        case .invalidOption(let problem): return problem.description
        case .incompatibleOptions(let message): return message
        case .damagedWeights(let step):
            return "the weights loaded at step \(step) give a NaN or infinite loss before any update: the checkpoint is damaged or was edited (the learning rate is not the cause); resume from another checkpoint"
        case .divergence(let step, let loss):
            return "training diverged at step \(step) (loss \(loss)); the last good checkpoint is kept — lower --lr or raise --warmup"
        case .resume(let message): return message
        case .runInUse(let directory):
            return "\(directory) is in use by another looplm process; wait for it to finish or choose another --out"
        }
    }
}
