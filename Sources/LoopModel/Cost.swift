/// What a model costs per token: FLOPs and activation memory. Counts multiply–adds as 2.
public struct ModelCost: Sendable, Equatable {
    /// Forward FLOPs per token at sequence length T: per application 24·C² (qkv, c_proj,
    /// c_fc, mlp c_proj) + 4·T·C (QKᵀ and P·V, full T×T as computed), plus 2·C·Vp for the
    /// tied output head. Embedding lookups, LayerNorm, GELU and softmax are left out.
    public let forwardFlopsPerToken: Double
    /// Training FLOPs per token: forward + backward ≈ 3 × forward.
    public var trainingFlopsPerToken: Double { 3 * forwardFlopsPerToken }

    /// The cost at sequence length `time` (default: the context) and `loops` passes (default:
    /// the configured count).
    /// Forward FLOPs per token when tokens run `meanLoops` passes on average (adaptive exit):
    /// the cost outside the loop plus `meanLoops` times one pass's.
    public static func forwardFlopsPerToken(config: ModelConfiguration, time: Int, meanLoops: Double) -> Double {
        let one = ModelCost(config: config, time: time, loops: 1).forwardFlopsPerToken
        let perPass = ModelCost(config: config, time: time, loops: 2).forwardFlopsPerToken - one
        return one + (meanLoops - 1) * perPass
    }

    public init(config: ModelConfiguration, time: Int? = nil, loops: Int? = nil) {
        let c = Double(config.channels), t = Double(time ?? config.contextLength)
        let perApplication = 24 * c * c + 4 * t * c
        let depth = config.layout.with(loops: loops ?? config.layout.loops).effectiveDepth
        forwardFlopsPerToken = Double(depth) * perApplication
            + 2 * c * Double(config.paddedVocabSize)
    }
}
