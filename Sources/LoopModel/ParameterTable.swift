import LoopKernels

/// The tensors of a block, in Hugging Face GPT-2's names and Conv1D [in, out] layout.
public enum BlockTensor: Int, CaseIterable, Sendable {
    case ln1Weight, ln1Bias
    case qkvWeight, qkvBias  // attn.c_attn
    case attentionProjectionWeight, attentionProjectionBias  // attn.c_proj
    case ln2Weight, ln2Bias
    case fcWeight, fcBias  // mlp.c_fc
    case fcProjectionWeight, fcProjectionBias  // mlp.c_proj

    public var suffix: String {
        switch self {
        case .ln1Weight: "ln_1.weight"
        case .ln1Bias: "ln_1.bias"
        case .qkvWeight: "attn.c_attn.weight"
        case .qkvBias: "attn.c_attn.bias"
        case .attentionProjectionWeight: "attn.c_proj.weight"
        case .attentionProjectionBias: "attn.c_proj.bias"
        case .ln2Weight: "ln_2.weight"
        case .ln2Bias: "ln_2.bias"
        case .fcWeight: "mlp.c_fc.weight"
        case .fcBias: "mlp.c_fc.bias"
        case .fcProjectionWeight: "mlp.c_proj.weight"
        case .fcProjectionBias: "mlp.c_proj.bias"
        }
    }

    public func shape(channels c: Int) -> [Int] {
        switch self {
        case .ln1Weight, .ln1Bias, .ln2Weight, .ln2Bias, .attentionProjectionBias,
            .fcProjectionBias:
            [c]
        case .qkvWeight: [c, 3 * c]
        case .qkvBias: [3 * c]
        case .attentionProjectionWeight: [c, c]
        case .fcWeight: [c, 4 * c]
        case .fcBias: [4 * c]
        case .fcProjectionWeight: [4 * c, c]
        }
    }

    /// Projections that write into the residual stream: GPT-2 scales their initialisation.
    var isResidualProjection: Bool {
        self == .attentionProjectionWeight || self == .fcProjectionWeight
    }
    var isLayerNormWeight: Bool { self == .ln1Weight || self == .ln2Weight }
}

/// How a tensor is initialised (GPT-2 / nanoGPT).
public enum Initialisation: Sendable, Equatable {
    case zeros, ones
    case normal(standardDeviation: Double)
}

/// One named tensor inside the flat parameter buffer.
public struct TensorSpec: Sendable, Equatable {
    public let name: String  // Hugging Face GPT-2 name
    public let shape: [Int]  // shape on disk
    public let offset: Int  // in floats, into the flat buffer
    public let allocatedCount: Int  // ≥ shape product: wte keeps Vp rows in memory, V on disk
    public let decays: Bool  // AdamW weight decay: matrices and embeddings only
    public let initialisation: Initialisation

    public var count: Int { shape.reduce(1, *) }
}

/// Every parameter of a model, derived from its configuration: names, shapes and offsets
/// come from this one table. Sized by unique blocks, so it does not depend on `loops`.
public struct ParameterTable: Sendable {
    /// GPT-2's initialisation standard deviation.
    public static let initStandardDeviation = 0.02

    public let tensors: [TensorSpec]
    public let totalCount: Int  // floats allocated
    public let wte: TensorSpec  // (Vp, C) in memory, (V, C) on disk
    public let wpe: TensorSpec  // (maxT, C)
    public let lnfWeight: TensorSpec, lnfBias: TensorSpec  // (C)
    public let loopEmbedding: TensorSpec?  // (loopEmbeddings, C), when the model has them
    public let exitGateWeight: TensorSpec?, exitGateBias: TensorSpec?  // (C) and (1), with an exit gate
    private let blockIndices: [[Int]]  // [unique block][BlockTensor.rawValue] → index in `tensors`

    public init(_ config: ModelConfiguration) {
        let c = config.channels
        let residualStd = Self.initStandardDeviation
            / Double(2 * config.layout.effectiveDepth).squareRoot()
        var specs: [TensorSpec] = []
        var offset = 0
        func add(_ name: String, _ shape: [Int], allocated: Int? = nil, decays: Bool,
                 _ initialisation: Initialisation) -> TensorSpec {
            let count = allocated ?? shape.reduce(1, *)
            let spec = TensorSpec(name: name, shape: shape, offset: offset, allocatedCount: count,
                                  decays: decays, initialisation: initialisation)
            specs.append(spec)
            offset += count
            return spec
        }
        let normal = Initialisation.normal(standardDeviation: Self.initStandardDeviation)
        wte = add("wte.weight", [config.vocabSize, c], allocated: config.paddedVocabSize * c,
                  decays: true, normal)
        wpe = add("wpe.weight", [config.contextLength, c], decays: true, normal)
        var blocks: [[Int]] = []
        for block in 0..<config.layout.uniqueBlocks {
            var indices: [Int] = []
            for tensor in BlockTensor.allCases {
                let shape = tensor.shape(channels: c)
                let isMatrix = shape.count == 2
                let initialisation: Initialisation =
                    tensor.isResidualProjection ? .normal(standardDeviation: residualStd)
                    : isMatrix ? normal : tensor.isLayerNormWeight ? .ones : .zeros
                indices.append(specs.count)
                _ = add("h.\(block).\(tensor.suffix)", shape, decays: isMatrix, initialisation)
            }
            blocks.append(indices)
        }
        lnfWeight = add("ln_f.weight", [c], decays: false, .ones)
        lnfBias = add("ln_f.bias", [c], decays: false, .zeros)
        // Zero at first: the model starts as one without step embeddings.
        loopEmbedding = config.loopEmbeddings > 0
            ? add("loop_embedding.weight", [config.loopEmbeddings, c], decays: true, .zeros) : nil
        // Zero at first: every pass's exit probability starts at ½.
        exitGateWeight = config.exitGate ? add("exit_gate.weight", [c], decays: false, .zeros) : nil
        exitGateBias = config.exitGate ? add("exit_gate.bias", [1], decays: false, .zeros) : nil
        blockIndices = blocks
        tensors = specs
        totalCount = offset
    }

    @inline(__always)
    public func offset(block: Int, _ tensor: BlockTensor) -> Int {
        tensors[blockIndices[block][tensor.rawValue]].offset
    }

    /// Index in `tensors` of a block's tensor.
    public func index(block: Int, _ tensor: BlockTensor) -> Int { blockIndices[block][tensor.rawValue] }

    public func spec(named name: String) -> TensorSpec? { tensors.first { $0.name == name } }

    /// Parameters in GPT-2's convention: every tensor at its on-disk shape (V rows, not Vp),
    /// the tied output head counted once, position embeddings included.
    public var parameterCount: Int { tensors.reduce(0) { $0 + $1.count } }

    /// nanoGPT's "non-embedding" count: position embeddings left out.
    public var parameterCountWithoutPositions: Int { parameterCount - wpe.count }

    /// GPT-2's initialisation of a buffer laid out by this table, drawn from `generator`.
    public func initialise(_ parameters: FloatBuffer, generator: inout SeededGenerator) {
        parameters.zero()
        for spec in tensors {
            let p = parameters.pointer + spec.offset
            switch spec.initialisation {
            case .zeros: break
            case .ones: p.update(repeating: 1, count: spec.count)
            case .normal(let std):
                for i in 0..<spec.count { p[i] = Float(generator.nextNormal() * std) }
            }
        }
    }
}
