import LoopKernels

/// A GPT-2 language model with a loop layout, for training: parameters, gradients, forward
/// and backward. (Inference runs through `LanguageModel`, which needs no gradients.)
///
/// Parameters live in one flat buffer (see `ParameterTable` for the named views);
/// gradients in a second of the same size. `forward` keeps what `backward` needs.
public final class LoopGPT {
    public let config: ModelConfiguration
    public let table: ParameterTable
    public let parameters: FloatBuffer
    public let gradients: FloatBuffer
    public let workers: Workers
    /// Views of `parameters`, as every forward path reads them.
    public let weights: ModelWeights
    var activations: Activations?

    /// A model with GPT-2's initialisation drawn from `generator`.
    public convenience init(
        config: ModelConfiguration, generator: inout SeededGenerator, workers: Workers
    ) {
        self.init(config: config, workers: workers)
        initialise(generator: &generator)
    }

    /// A model whose parameters are all zero, to be filled by a loader.
    public init(config: ModelConfiguration, workers: Workers) {
        self.config = config
        self.table = ParameterTable(config)
        self.parameters = FloatBuffer(count: table.totalCount)
        self.gradients = FloatBuffer(count: table.totalCount)
        self.workers = workers
        weights = ModelWeights(config: config, table: table, parameters: parameters)
    }

    /// GPT-2's initialisation: N(0, 0.02) for matrices and embeddings, residual
    /// projections N(0, 0.02/√(2·applications)), LayerNorm weights 1, biases 0.
    /// Padded vocabulary rows stay 0.
    public func initialise(generator: inout SeededGenerator) {
        table.initialise(parameters, generator: &generator)
    }

    public func zeroGradients() { gradients.zero() }

    /// Runs the model on `tokens` (B·T ids, row-major). With `targets` it returns the mean
    /// cross-entropy loss over the rows whose target is not −1; without, it returns nil.
    /// Either way `logits(row:)` then reads the logits (until `backward` turns them into their
    /// gradient). `loops` overrides the configured loop count (parameters are unchanged).
    /// `gradientLoops` keeps only the last k loop passes for backward (truncated
    /// backpropagation): earlier passes run without storing activations and pass no gradient.
    @discardableResult
    public func forward(
        tokens: [Int32], targets: [Int32]? = nil, batch: Int, time: Int, loops: Int? = nil,
        gradientLoops: Int? = nil
    ) throws(ModelInputError) -> Float? {
        let layout = config.layout.with(loops: loops ?? config.layout.loops)
        try ModelInputError.check(tokens: tokens, targets: targets, batch: batch, time: time, layout: layout,
                                  config: config)
        let acts = prepareActivations(batch: batch, time: time)
        acts.plan(layout: layout, gradientLoops: min(max(gradientLoops ?? layout.loops, 1), layout.loops),
                  passInputsNeeded: config.injectInput || config.loopEmbeddings > 0)
        let n = batch * time, c = config.channels
        acts.tokens = tokens
        acts.hasTargets = targets != nil
        acts.backwardDone = false
        if let targets { acts.targets = targets }

        acts.tokens.withUnsafeBufferPointer { ids in
            acts.positions.withUnsafeBufferPointer { positions in
                Embedding.forward(out: acts.encoded.pointer, tokens: ids.baseAddress!, positions: positions.baseAddress!,
                                  wte: weights.tokenEmbedding, wpe: weights.positionEmbedding, rows: n, channels: c,
                                  workers: workers)
            }
        }
        forwardStack(acts)
        LayerNorm.forward(out: acts.lnf.pointer, mean: acts.lnfMean.pointer,
                          rstd: acts.lnfRstd.pointer, inp: acts.finalResidual.pointer,
                          weight: weights.finalNormWeight, bias: weights.finalNormBias,
                          rows: n, channels: c, workers: workers)
        // logits (N, Vp) = lnf (N, C) · wteᵀ: the output head is tied to the token embedding.
        let vp = config.paddedVocabSize
        BLAS.gemm(transposeB: true, m: n, n: vp, k: c, a: acts.lnf.pointer, lda: c,
                  b: weights.tokenEmbedding, ldb: c, beta: 0,
                  c: acts.logits.pointer, ldc: vp, workers: workers)
        guard targets != nil else { return nil }
        return acts.targets.withUnsafeBufferPointer { ids in
            acts.targetCount = CrossEntropy.targetCount(ids.baseAddress!, rows: n)
            return CrossEntropy.forward(logits: acts.logits.pointer, rowMax: acts.rowMax.pointer,
                                        normalizers: acts.normalizers.pointer, losses: acts.losses.pointer,
                                        targets: ids.baseAddress!, rows: n, vocabSize: config.vocabSize,
                                        paddedVocabSize: vp, workers: workers)
        }
    }

    /// Adds to `gradients` the gradient of `lossScale ×` the mean loss of the last forward.
    /// Call `forward` with targets first. Walks the applications in reverse; shared blocks
    /// accumulate their gradient over every application.
    public func backward(lossScale: Float = 1) {
        guard let acts = activations, acts.hasTargets, !acts.backwardDone else {
            preconditionFailure("backward needs a forward pass with targets, once")
        }
        acts.backwardDone = true
        let n = acts.batch * acts.time, c = config.channels, vp = config.paddedVocabSize
        let p = parameters.pointer, g = gradients.pointer
        acts.targets.withUnsafeBufferPointer { ids in
            CrossEntropy.backward(logits: acts.logits.pointer, rowMax: acts.rowMax.pointer,
                                  normalizers: acts.normalizers.pointer,
                                  targets: ids.baseAddress!,
                                  lossScale: lossScale / Float(max(acts.targetCount, 1)), rows: n,
                                  vocabSize: config.vocabSize, paddedVocabSize: vp,
                                  workers: workers)
        }
        // dlnf (N, C) = dlogits · wte ; dwte (Vp, C) += dlogitsᵀ · lnf
        BLAS.gemm(m: n, n: c, k: vp, a: acts.logits.pointer, lda: vp, b: p + table.wte.offset,
                  ldb: c, beta: 0, c: acts.dNormed.pointer, ldc: c, workers: workers)
        BLAS.gemm(transposeA: true, m: vp, n: c, k: n, a: acts.logits.pointer, lda: vp,
                  b: acts.lnf.pointer, ldb: c, beta: 1, c: g + table.wte.offset, ldc: c,
                  workers: workers)
        acts.dResidual.zero()
        LayerNorm.backward(dinp: acts.dResidual.pointer, dweight: g + table.lnfWeight.offset,
                           dbias: g + table.lnfBias.offset, dout: acts.dNormed.pointer,
                           inp: acts.finalResidual.pointer, weight: p + table.lnfWeight.offset,
                           mean: acts.lnfMean.pointer, rstd: acts.lnfRstd.pointer,
                           scratch: acts.layerNormScratch.bufferPointer, rows: n, channels: c,
                           workers: workers)
        backwardStack(acts)
        acts.tokens.withUnsafeBufferPointer { ids in
            Embedding.backward(dwte: g + table.wte.offset, dwpe: g + table.wpe.offset,
                               dout: acts.dResidual.pointer, tokens: ids.baseAddress!,
                               batch: acts.batch, time: acts.time, channels: c)
        }
    }

    /// Logits (V entries) of row `row` (= b·T + t) after a forward pass, before backward.
    public func logits(row: Int) -> UnsafeBufferPointer<Float> {
        guard let acts = activations, !acts.backwardDone else {
            preconditionFailure("logits are read after a forward pass and before backward")
        }
        return UnsafeBufferPointer(start: acts.logits.pointer + row * config.paddedVocabSize,
                                   count: config.vocabSize)
    }

    /// Frees the activations (they are allocated again by the next forward).
    public func releaseActivations() { activations = nil }

    private func prepareActivations(batch: Int, time: Int) -> Activations {
        if let acts = activations, acts.batch == batch, acts.time == time { return acts }
        activations = nil
        let acts = Activations(config: config, batch: batch, time: time, threads: workers.threads)
        activations = acts
        return acts
    }
}

/// Input the model cannot run on.
public enum ModelInputError: Error, Equatable, CustomStringConvertible {
    case badShape(String)
    case tokenOutOfVocabulary(Int, vocabSize: Int)

    public var description: String {
        switch self {
        case .badShape(let message): return message
        case .tokenOutOfVocabulary(let id, let v):
            return "token id \(id) is outside the vocabulary (0..<\(v)); was the data prepared with the model's tokenizer?"
        }
    }

    /// Checks a batch against a model: shape, context, loop count, ids in the vocabulary.
    /// Targets may be −1 (no target for that row).
    static func check(
        tokens: [Int32], targets: [Int32]?, batch: Int, time: Int, layout: LoopLayout, config: ModelConfiguration
    ) throws(ModelInputError) {
        guard batch >= 1, time >= 1 else { throw .badShape("batch and time must be ≥ 1") }
        guard time <= config.contextLength else {
            throw .badShape("sequence length \(time) exceeds the context length \(config.contextLength)")
        }
        guard layout.loops >= 1 else { throw .badShape("loops must be ≥ 1") }
        guard tokens.count == batch * time, targets == nil || targets!.count == batch * time
        else { throw .badShape("expected \(batch)×\(time) tokens, got \(tokens.count)") }
        let v = Int32(config.vocabSize)
        if let bad = tokens.first(where: { $0 < 0 || $0 >= v })
            ?? targets?.first(where: { $0 < CrossEntropy.ignored || $0 >= v })
        {
            throw .tokenOutOfVocabulary(Int(bad), vocabSize: config.vocabSize)
        }
    }
}
