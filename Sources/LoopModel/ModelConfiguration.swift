/// A GPT-2 model with a loop layout. Validated on construction.
///
/// Shape letters used across LoopLM: B batch, T time (≤ contextLength), C channels,
/// NH heads, hs = C / NH head size, V vocabulary, Vp padded vocabulary, L applications.
public struct ModelConfiguration: Codable, Equatable, Hashable, Sendable {
    /// Vocabulary rows are padded to a multiple of this so the logits matmul stays aligned
    /// (50257 → 50304, as nanoGPT and llm.c do). Padded rows are zero and never predicted.
    public static let vocabPaddingMultiple = 64
    /// Rows whose logits the head computes in one product, in training (recomputing or not,
    /// so both give the same bits) and when inference scores a batch: 512 rows of GPT-2's
    /// padded vocabulary are 103 MB, instead of all N × Vp at once.
    public static let headChunkRows = 512

    public let vocabSize: Int  // V
    public let contextLength: Int  // maximum T (GPT-2: n_positions)
    public let channels: Int  // C (GPT-2: n_embd)
    public let heads: Int  // NH (GPT-2: n_head)
    public let layout: LoopLayout
    /// Input injection: before every loop pass after the first, add the embedded input e
    /// (the prelude's output, or the token + position embedding without a prelude) to the
    /// residual stream again. No parameters.
    public let injectInput: Bool
    /// Learned per-loop step embeddings: a (loopEmbeddings, C) table whose row n is added to
    /// the stream before pass n (passes past the table use its last row). 0: none.
    public let loopEmbeddings: Int
    /// A learned exit gate (Ouro): after loop pass t a token's exit probability is
    /// λ_t = σ(w · ln_f(h_t) + b), C + 1 parameters. Trained with `--loop-loss gate` or
    /// `--train-gate-only`, read by the `gate:q` exit rule; it does not change the function at a
    /// fixed loop count.
    public let exitGate: Bool

    public init(
        vocabSize: Int, contextLength: Int, channels: Int, heads: Int, layout: LoopLayout,
        injectInput: Bool = false, loopEmbeddings: Int = 0, exitGate: Bool = false
    ) throws(ConfigurationError) {
        self.injectInput = injectInput
        self.loopEmbeddings = loopEmbeddings
        self.exitGate = exitGate
        self.vocabSize = vocabSize
        self.contextLength = contextLength
        self.channels = channels
        self.heads = heads
        self.layout = layout
        try validate()
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        try self.init(
            vocabSize: container.decode(Int.self, forKey: .vocabSize),
            contextLength: container.decode(Int.self, forKey: .contextLength),
            channels: container.decode(Int.self, forKey: .channels),
            heads: container.decode(Int.self, forKey: .heads),
            layout: container.decode(LoopLayout.self, forKey: .layout),
            injectInput: container.decodeIfPresent(Bool.self, forKey: .injectInput) ?? false,
            loopEmbeddings: container.decodeIfPresent(Int.self, forKey: .loopEmbeddings) ?? 0,
            exitGate: container.decodeIfPresent(Bool.self, forKey: .exitGate) ?? false)
    }

    /// V rounded up to `vocabPaddingMultiple`.
    public var paddedVocabSize: Int {
        (vocabSize + Self.vocabPaddingMultiple - 1) / Self.vocabPaddingMultiple
            * Self.vocabPaddingMultiple
    }

    public var headSize: Int { channels / heads }

    /// The same model with or without an exit gate (its other parameters unchanged).
    public func with(exitGate gate: Bool) throws(ConfigurationError) -> ModelConfiguration {
        try ModelConfiguration(
            vocabSize: vocabSize, contextLength: contextLength, channels: channels, heads: heads, layout: layout,
            injectInput: injectInput, loopEmbeddings: loopEmbeddings, exitGate: gate)
    }

    /// The same model run with another loop count. Parameters are unchanged.
    public func with(loops: Int) throws(ConfigurationError) -> ModelConfiguration {
        try ModelConfiguration(
            vocabSize: vocabSize, contextLength: contextLength, channels: channels, heads: heads,
            layout: layout.with(loops: loops), injectInput: injectInput, loopEmbeddings: loopEmbeddings, exitGate: exitGate)
    }

    /// Bounds on each size, far above any model a CPU can run, so that every count derived
    /// from a configuration (parameters, activations, caches) is computed without overflow.
    public enum Limit {
        public static let vocabSize = 1 << 24
        public static let contextLength = 1 << 20
        public static let channels = 1 << 16
        public static let blocks = 1 << 12  // each of prelude, looped, coda
        public static let loops = 1 << 16
        public static let loopEmbeddings = 1 << 16
    }

    func validate() throws(ConfigurationError) {
        func within(_ value: Int, _ range: ClosedRange<Int>, _ name: String) throws(ConfigurationError) {
            guard range.contains(value) else {
                throw .invalid("\(name) must be in \(range.lowerBound)...\(range.upperBound) (got \(value))")
            }
        }
        try within(vocabSize, 2...Limit.vocabSize, "vocab_size")
        try within(contextLength, 1...Limit.contextLength, "context length")
        try within(channels, 1...Limit.channels, "width")
        try within(heads, 1...Limit.channels, "heads")
        guard channels % heads == 0 else {
            throw .invalid("heads (\(heads)) must divide the width (\(channels))")
        }
        try layout.validate()
        try within(loopEmbeddings, 0...Limit.loopEmbeddings, "loop embeddings")
        guard layout.looped > 0 || (!injectInput && loopEmbeddings == 0) else {
            throw .invalid("input injection and loop embeddings need looped blocks")
        }
    }
}

/// A configuration that cannot describe a model.
public enum ConfigurationError: Error, Equatable, CustomStringConvertible {
    case invalid(String)
    /// A name that is not one of `known`; `kind` says what it names (preset, suite, task, model).
    case unknownName(String, kind: String, known: [String])

    public var description: String {
        switch self {
        case .invalid(let message): return "invalid model configuration: \(message)"
        case .unknownName(let name, let kind, let known):
            return "unknown \(kind) '\(name)'; choose one of: \(known.joined(separator: ", "))"
        }
    }
}
