import LoopKernels

/// The weights of one block as a forward pass reads them.
public struct BlockWeights {
    public let ln1Weight: UnsafePointer<Float>, ln1Bias: UnsafePointer<Float>  // (C)
    public let qkv: LinearWeights, qkvBias: UnsafePointer<Float>  // C → 3C
    public let attentionProjection: LinearWeights, attentionProjectionBias: UnsafePointer<Float>  // C → C
    public let ln2Weight: UnsafePointer<Float>, ln2Bias: UnsafePointer<Float>  // (C)
    public let fc: LinearWeights, fcBias: UnsafePointer<Float>  // C → 4C
    public let fcProjection: LinearWeights, fcProjectionBias: UnsafePointer<Float>  // 4C → C

    /// Float32 weights in the Conv1D layout, found by tensor.
    init(_ tensor: (BlockTensor) -> UnsafePointer<Float>) {
        ln1Weight = tensor(.ln1Weight)
        ln1Bias = tensor(.ln1Bias)
        qkv = .inputMajor(tensor(.qkvWeight))
        qkvBias = tensor(.qkvBias)
        attentionProjection = .inputMajor(tensor(.attentionProjectionWeight))
        attentionProjectionBias = tensor(.attentionProjectionBias)
        ln2Weight = tensor(.ln2Weight)
        ln2Bias = tensor(.ln2Bias)
        fc = .inputMajor(tensor(.fcWeight))
        fcBias = tensor(.fcBias)
        fcProjection = .inputMajor(tensor(.fcProjectionWeight))
        fcProjectionBias = tensor(.fcProjectionBias)
    }

    /// The same block with its four matrices replaced.
    init(_ base: BlockWeights, matrices: [BlockTensor: LinearWeights]) {
        ln1Weight = base.ln1Weight
        ln1Bias = base.ln1Bias
        qkv = matrices[.qkvWeight] ?? base.qkv
        qkvBias = base.qkvBias
        attentionProjection = matrices[.attentionProjectionWeight] ?? base.attentionProjection
        attentionProjectionBias = base.attentionProjectionBias
        ln2Weight = base.ln2Weight
        ln2Bias = base.ln2Bias
        fc = matrices[.fcWeight] ?? base.fc
        fcBias = base.fcBias
        fcProjection = matrices[.fcProjectionWeight] ?? base.fcProjection
        fcProjectionBias = base.fcProjectionBias
    }

    func matrix(_ tensor: BlockTensor) -> LinearWeights {
        switch tensor {
        case .qkvWeight: qkv
        case .attentionProjectionWeight: attentionProjection
        case .fcWeight: fc
        default: fcProjection
        }
    }

    static let matrices: [BlockTensor] = [.qkvWeight, .attentionProjectionWeight, .fcWeight, .fcProjectionWeight]
}

/// Every weight a forward pass reads, wherever it lives: the trainer's flat buffer, a
/// memory-mapped checkpoint, or reduced-precision copies made for inference. Holds the
/// objects that own that memory, so the pointers stay valid as long as the value does.
public struct ModelWeights {
    public let config: ModelConfiguration
    public let tokenEmbedding: UnsafePointer<Float>  // wte (V or Vp rows, C)
    public let positionEmbedding: UnsafePointer<Float>  // wpe (maxT, C)
    public let finalNormWeight: UnsafePointer<Float>, finalNormBias: UnsafePointer<Float>  // (C)
    public let loopEmbedding: UnsafePointer<Float>?  // (loopEmbeddings, C)
    /// The exit gate's weight (C) and bias (1), when the model has one.
    public let exitGate: (weight: UnsafePointer<Float>, bias: UnsafePointer<Float>)?
    /// The tied output head: the token embedding read as (V, C), or a reduced copy of it.
    public let head: LinearWeights
    public let blocks: [BlockWeights]  // one per unique block
    let owners: [AnyObject]

    /// Views of a flat parameter buffer laid out by `ParameterTable`.
    public init(config: ModelConfiguration, table: ParameterTable, parameters: FloatBuffer) {
        let p = UnsafePointer(parameters.pointer)
        self.config = config
        tokenEmbedding = p + table.wte.offset
        positionEmbedding = p + table.wpe.offset
        finalNormWeight = p + table.lnfWeight.offset
        finalNormBias = p + table.lnfBias.offset
        loopEmbedding = table.loopEmbedding.map { p + $0.offset }
        exitGate = table.exitGateWeight.flatMap { w in table.exitGateBias.map { b in (p + w.offset, p + b.offset) } }
        head = .outputMajor(p + table.wte.offset)
        blocks = (0..<config.layout.uniqueBlocks).map { block in
            BlockWeights { p + table.offset(block: block, $0) }
        }
        owners = [parameters]
    }

    /// Views of named float32 tensors (Hugging Face names, as in `ParameterTable`), held by `owner`.
    public init(
        config: ModelConfiguration, table: ParameterTable, owner: AnyObject,
        tensor: (TensorSpec) -> UnsafePointer<Float>
    ) {
        self.config = config
        tokenEmbedding = tensor(table.wte)
        positionEmbedding = tensor(table.wpe)
        finalNormWeight = tensor(table.lnfWeight)
        finalNormBias = tensor(table.lnfBias)
        loopEmbedding = table.loopEmbedding.map(tensor)
        exitGate = table.exitGateWeight.flatMap { w in table.exitGateBias.map { b in (tensor(w), tensor(b)) } }
        head = .outputMajor(tensor(table.wte))
        blocks = (0..<config.layout.uniqueBlocks).map { block in
            BlockWeights { tensor(table.tensors[table.index(block: block, $0)]) }
        }
        owners = [owner]
    }

    init(_ base: ModelWeights, head: LinearWeights, blocks: [BlockWeights], owners: [AnyObject]) {
        config = base.config
        tokenEmbedding = base.tokenEmbedding
        positionEmbedding = base.positionEmbedding
        finalNormWeight = base.finalNormWeight
        finalNormBias = base.finalNormBias
        loopEmbedding = base.loopEmbedding
        exitGate = base.exitGate
        self.head = head
        self.blocks = blocks
        self.owners = base.owners + owners
    }

    /// Row of the step-embedding table used by loop pass `n` (the last row past the table).
    func loopEmbeddingRow(_ n: Int) -> UnsafePointer<Float>? {
        loopEmbedding.map { $0 + min(n, config.loopEmbeddings - 1) * config.channels }
    }
}
