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
                                       loops: options.loopSampling?.maximum, keptLoops: options.gradientLoops).total
        let rows = CheckedSize.product(options.batch, options.time)
        validation = rows.flatMap { CheckedSize.product($0, 11 * config.channels + 4) }
            .flatMap { CheckedSize.product($0, MemoryLayout<Float>.stride) }
    }

    /// What a user can change to need less.
    public var advice: String {
        "lower --batch or --context (keep the tokens per step with --accumulate), or bound activations with --backprop-loops"
    }
}
