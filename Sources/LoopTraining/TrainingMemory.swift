import LoopModel

/// The memory a training run allocates, counted before it allocates anything: parameters,
/// gradients, the two Adam moments, the accumulation buffer, the activations of a step at its
/// largest loop count, and the inference scratch validation uses.
public struct TrainingMemory: Sendable, Equatable {
    public let parameters: Int?  // weights, gradients, Adam m and v, accumulation
    public let activations: Int?
    public let validation: Int?
    public var total: Int? { CheckedSize.sum(parameters, activations, validation) }

    public init(config: ModelConfiguration, options: TrainingOptions, processes: Int = 1) {
        let floats = ParameterTable(config).totalCount
        let accumulating = options.microBatches / max(processes, 1) > 1
        parameters = CheckedSize.product(floats, (accumulating ? 5 : 4) * MemoryLayout<Float>.stride)
        activations = ActivationMemory(config: config, batch: options.batch, time: options.time,
                                       loops: options.loopSampling?.maximum, keptLoops: options.gradientLoops,
                                       recompute: options.recompute ?? false).total
        let rows = CheckedSize.product(options.batch, options.time)
        validation = rows.flatMap { CheckedSize.product($0, 11 * config.channels + 4) }
            .flatMap { CheckedSize.product($0, MemoryLayout<Float>.stride) }
    }

    /// What a user can change to need less.
    public var advice: String {
        "use --recompute, lower --batch (keep the tokens per step with --accumulate) or --context, or bound activations with --backprop-loops"
    }

    /// The options a run needs to fit in `available` bytes with the same global batch: as
    /// given, else with recomputation, else with the batch split into more micro-batches
    /// (accumulation), recomputing too. Nil when even one sequence per micro-batch does not fit.
    public static func fitting(
        config: ModelConfiguration, options: TrainingOptions, processes: Int = 1, available: Int
    ) -> TrainingOptions? {
        func fits(_ candidate: TrainingOptions) -> Bool {
            TrainingMemory(config: config, options: candidate, processes: processes).total.map { $0 <= available } ?? false
        }
        if fits(options) { return options }
        var candidate = options
        candidate.recompute = true
        if fits(candidate) { return candidate }
        var split = 2
        while options.batch / split >= 1 {
            if options.batch % split == 0 {
                candidate.batch = options.batch / split
                candidate.microBatches = options.microBatches * split
                if fits(candidate) { return candidate }
            }
            split += 1
        }
        return nil
    }
}
