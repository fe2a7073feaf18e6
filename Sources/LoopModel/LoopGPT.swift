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
    /// Keep only the stream between block applications and recompute each block's internals
    /// (and the logits, a chunk of rows at a time) during backward: activation memory no longer
    /// grows with 16C per row per application, for about one more forward pass of compute.
    /// Gradients are bit-identical either way.
    public var recompute = false

    /// A model with GPT-2's initialisation drawn from `generator`.
    public convenience init(
        config: ModelConfiguration, generator: inout SeededGenerator, workers: Workers
    ) throws(MemoryError) {
        try self.init(config: config, workers: workers)
        initialise(generator: &generator)
    }

    /// A model whose parameters are all zero, to be filled by a loader.
    public init(config: ModelConfiguration, workers: Workers) throws(MemoryError) {
        self.config = config
        self.table = ParameterTable(config)
        self.parameters = try FloatBuffer(count: table.totalCount, hugePages: true)
        self.gradients = try FloatBuffer(count: table.totalCount)
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
    /// `objective` says what the returned value (and `backward`) is: the last pass's loss, or
    /// one that reads every pass (`LoopObjective`; those need every pass kept, and no coda).
    public func forward(
        tokens: [Int32], targets: [Int32]? = nil, batch: Int, time: Int, loops: Int? = nil,
        gradientLoops: Int? = nil, objective: LoopObjective = .last
    ) throws(ModelError) -> Float? {
        let layout = config.layout.with(loops: loops ?? config.layout.loops)
        try ModelError.check(tokens: tokens, targets: targets, batch: batch, time: time, layout: layout,
                                  config: config)
        let acts: Activations
        do throws(MemoryError) {
            acts = try prepareActivations(batch: batch, time: time)
            try acts.plan(layout: layout, gradientLoops: min(max(gradientLoops ?? layout.loops, 1), layout.loops),
                          passInputsNeeded: config.injectInput || config.loopEmbeddings > 0)
        } catch { throw .outOfMemory(error) }
        let n = batch * time, c = config.channels
        acts.tokens = tokens
        acts.hasTargets = targets != nil
        acts.backwardDone = false
        acts.objective = targets == nil ? .last : objective
        if let targets { acts.targets = targets }
        if objective.perPass && targets != nil {
            guard layout.coda == 0, (gradientLoops ?? layout.loops) >= layout.loops else {
                throw .badShape("the \(objective) objective reads every loop pass: it needs no coda blocks and every pass kept (no truncated backpropagation)")
            }
            guard !objective.usesGate || weights.exitGate != nil else {
                throw .badShape("the \(objective) objective needs a model with an exit gate")
            }
        }

        acts.tokens.withUnsafeBufferPointer { ids in
            acts.positions.withUnsafeBufferPointer { positions in
                Embedding.forward(out: acts.encoded.pointer, tokens: ids.baseAddress!, positions: positions.baseAddress!,
                                  wte: weights.tokenEmbedding, wpe: weights.positionEmbedding, rows: n, channels: c,
                                  workers: workers)
            }
        }
        forwardStack(acts)
        if acts.objective.perPass {
            acts.targetCount = acts.targets.withUnsafeBufferPointer { CrossEntropy.targetCount($0.baseAddress!, rows: n) }
            do throws(MemoryError) { return try passHeadsForward(acts, objective: acts.objective) } catch {
                throw .outOfMemory(error)
            }
        }
        LayerNorm.forward(out: acts.lnf.pointer, mean: acts.lnfMean.pointer,
                          rstd: acts.lnfRstd.pointer, inp: acts.finalResidual.pointer,
                          weight: weights.finalNormWeight, bias: weights.finalNormBias,
                          rows: n, channels: c, workers: workers)
        guard let targets else {
            precondition(!acts.recompute, "a forward pass without targets keeps all logits; turn recompute off")
            for rows in headChunks(acts) { logitsChunk(acts, rows: rows) }
            return nil
        }
        return acts.targets.withUnsafeBufferPointer { ids in
            acts.targetCount = CrossEntropy.targetCount(ids.baseAddress!, rows: n)
            var sum = 0.0
            for rows in headChunks(acts) {
                logitsChunk(acts, rows: rows)
                let mean = CrossEntropy.forward(logits: logitsPointer(acts, rows: rows), rowMax: acts.rowMax.pointer + rows.lowerBound,
                                                normalizers: acts.normalizers.pointer + rows.lowerBound,
                                                losses: acts.losses.pointer + rows.lowerBound, targets: ids.baseAddress! + rows.lowerBound,
                                                rows: rows.count, vocabSize: config.vocabSize,
                                                paddedVocabSize: config.paddedVocabSize, workers: workers)
                sum += Double(mean) * Double(CrossEntropy.targetCount(ids.baseAddress! + rows.lowerBound, rows: rows.count))
            }
            return acts.targetCount == 0 ? 0 : Float(sum / Double(acts.targetCount))
        }
    }

    /// The head works on these row ranges, one product each, with or without recomputation
    /// (so both give the same bits); recomputation holds one range's logits at a time.
    func headChunks(_ acts: Activations) -> [Range<Int>] {
        let n = acts.batch * acts.time, size = ModelConfiguration.headChunkRows
        return stride(from: 0, to: n, by: size).map { $0..<min($0 + size, n) }
    }

    /// Where the logits of `rows` are: in place in the full buffer, or at its start when recomputing.
    func logitsPointer(_ acts: Activations, rows: Range<Int>) -> UnsafeMutablePointer<Float> {
        acts.recompute ? acts.logits.pointer : acts.logits.pointer + rows.lowerBound * config.paddedVocabSize
    }

    /// logits (rows, Vp) = lnf (rows, C) · wteᵀ: the output head is tied to the token embedding.
    func logitsChunk(_ acts: Activations, rows: Range<Int>) {
        let c = config.channels, vp = config.paddedVocabSize
        BLAS.gemm(transposeB: true, m: rows.count, n: vp, k: c, a: acts.lnf.pointer + rows.lowerBound * c, lda: c,
                  b: weights.tokenEmbedding, ldb: c, beta: 0, c: logitsPointer(acts, rows: rows), ldc: vp, workers: workers)
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
        if acts.objective.perPass {
            precondition(lossScale == 1, "per-pass objectives are backpropagated at scale 1")
            guard passHeadsBackward(acts, objective: acts.objective) else { return }  // only the gate learns
            backwardStack(acts)
            acts.tokens.withUnsafeBufferPointer { ids in
                Embedding.backward(dwte: g + table.wte.offset, dwpe: g + table.wpe.offset, dout: acts.dResidual.pointer,
                                   tokens: ids.baseAddress!, batch: acts.batch, time: acts.time, channels: c)
            }
            return
        }
        let scale = lossScale / Float(max(acts.targetCount, 1))
        acts.targets.withUnsafeBufferPointer { ids in
            for rows in headChunks(acts) {
                if acts.recompute { logitsChunk(acts, rows: rows) }
                let dlogits = logitsPointer(acts, rows: rows)
                CrossEntropy.backward(logits: dlogits, rowMax: acts.rowMax.pointer + rows.lowerBound,
                                      normalizers: acts.normalizers.pointer + rows.lowerBound,
                                      targets: ids.baseAddress! + rows.lowerBound, lossScale: scale, rows: rows.count,
                                      vocabSize: config.vocabSize, paddedVocabSize: vp, workers: workers)
                // dlnf (rows, C) = dlogits · wte ; dwte (Vp, C) += dlogitsᵀ · lnf
                BLAS.gemm(m: rows.count, n: c, k: vp, a: dlogits, lda: vp, b: p + table.wte.offset, ldb: c, beta: 0,
                          c: acts.dNormed.pointer + rows.lowerBound * c, ldc: c, workers: workers)
                BLAS.gemm(transposeA: true, m: vp, n: c, k: rows.count, a: dlogits, lda: vp,
                          b: acts.lnf.pointer + rows.lowerBound * c, ldb: c, beta: 1, c: g + table.wte.offset, ldc: c,
                          workers: workers)
            }
        }
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
        guard let acts = activations, !acts.backwardDone, !acts.recompute else {
            preconditionFailure("logits are read after a forward pass and before backward")
        }
        return UnsafeBufferPointer(start: acts.logits.pointer + row * config.paddedVocabSize,
                                   count: config.vocabSize)
    }

    /// Frees the activations (they are allocated again by the next forward).
    public func releaseActivations() { activations = nil }

    private func prepareActivations(batch: Int, time: Int) throws(MemoryError) -> Activations {
        if let acts = activations, acts.batch == batch, acts.time == time, acts.recompute == recompute { return acts }
        activations = nil
        let acts = try Activations(config: config, batch: batch, time: time, threads: workers.threads, recompute: recompute)
        activations = acts
        return acts
    }
}

/// Why the model could not run an input: the input itself, memory, or weights whose forward
/// pass overflows.
public enum ModelError: Error, Equatable, CustomStringConvertible {
    case badShape(String)
    case tokenOutOfVocabulary(Int, vocabSize: Int)
    /// The buffers this input needs could not be allocated.
    case outOfMemory(MemoryError)
    /// The forward pass overflowed from finite weights (NaN or infinite logits, or a final
    /// norm whose variance overflowed): the weights are far outside anything training
    /// produces (a damaged or edited file).
    case overflow

    public var description: String {
        switch self {
        case .badShape(let message): return message
        case .tokenOutOfVocabulary(let id, let v):
            return "token id \(id) is outside the vocabulary (0..<\(v)); was the data prepared with the model's tokenizer?"
        case .outOfMemory(let error): return error.description
        case .overflow:
            return "the forward pass overflowed (NaN or infinite values) although every weight is finite: the weights are far larger than training produces, so the checkpoint is damaged or was edited"
        }
    }

    /// Checks a batch against a model: shape, context, loop count, ids in the vocabulary.
    /// Targets may be −1 (no target for that row).
    static func check(
        tokens: [Int32], targets: [Int32]?, batch: Int, time: Int, layout: LoopLayout, config: ModelConfiguration
    ) throws(ModelError) {
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
