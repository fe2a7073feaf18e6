import Foundation
import LoopModel

/// `config.json`: Hugging Face GPT-2's keys, plus LoopLM's layout, loop and tokenizer keys.
/// `n_layer` counts the unique (stored) blocks `h.0 …`, numbered in execution order:
/// prelude, looped, coda.
public struct CheckpointConfig: Codable, Equatable, Sendable {
    public var modelType = "gpt2"
    public var architectures = ["GPT2LMHeadModel"]
    public var vocabSize: Int
    public var nPositions: Int
    public var nCtx: Int
    public var nEmbd: Int
    public var nHead: Int
    public var nLayer: Int
    public var nInner: Int?
    public var activationFunction = "gelu_new"
    public var layerNormEpsilon = Double(1e-5)
    public var tieWordEmbeddings = true
    public var loopPrelude: Int
    public var loopLooped: Int
    public var loopCoda: Int
    public var loopCount: Int
    /// `looplm_tokenizer`: what the ids stand for (absent in Hugging Face's files: GPT-2's).
    public var vocabulary: Vocabulary
    public var looplmFormatVersion = CheckpointConfig.formatVersion
    /// GPT-2's <|endoftext|> for its vocabulary; null otherwise (transformers would default
    /// to 50256, outside a byte vocabulary).
    /// Input injection and step embeddings (see ModelConfiguration); absent means off.
    public var loopInjectInput = false
    public var loopEmbeddings = 0
    /// A learned exit gate (`exit_gate.weight`, `exit_gate.bias`); absent means none.
    public var loopExitGate = false
    public var bosTokenId: Int?
    public var eosTokenId: Int?
    /// Hugging Face GPT-2 variants LoopLM does not compute (read, never written).
    var scaleAttentionWeights = true
    var scaleAttentionByInverseLayerIndex = false
    var reorderAndUpcastAttention = false

    /// Bumped only for structural changes; everything else is a new key.
    public static let formatVersion = 1

    enum CodingKeys: String, CodingKey {
        case modelType = "model_type", architectures
        case vocabSize = "vocab_size", nPositions = "n_positions", nCtx = "n_ctx"
        case nEmbd = "n_embd", nHead = "n_head", nLayer = "n_layer", nInner = "n_inner"
        case activationFunction = "activation_function"
        case layerNormEpsilon = "layer_norm_epsilon"
        case tieWordEmbeddings = "tie_word_embeddings"
        case loopPrelude = "loop_prelude", loopLooped = "loop_looped", loopCoda = "loop_coda"
        case loopCount = "loop_count", tokenizer = "looplm_tokenizer"
        case looplmFormatVersion = "looplm_format_version"
        case loopInjectInput = "loop_inject_input", loopEmbeddings = "loop_embeddings", loopExitGate = "loop_exit_gate"
        case bosTokenId = "bos_token_id", eosTokenId = "eos_token_id"
        case scaleAttentionWeights = "scale_attn_weights"
        case scaleAttentionByInverseLayerIndex = "scale_attn_by_inverse_layer_idx"
        case reorderAndUpcastAttention = "reorder_and_upcast_attn"
    }

    /// GPT-2's end-of-text id, when the vocabulary is GPT-2's.
    static let gpt2EndOfText = 50256

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(modelType, forKey: .modelType)
        try c.encode(architectures, forKey: .architectures)
        try c.encode(vocabSize, forKey: .vocabSize)
        try c.encode(nPositions, forKey: .nPositions)
        try c.encode(nCtx, forKey: .nCtx)
        try c.encode(nEmbd, forKey: .nEmbd)
        try c.encode(nHead, forKey: .nHead)
        try c.encode(nLayer, forKey: .nLayer)
        try c.encode(nInner, forKey: .nInner)
        try c.encode(activationFunction, forKey: .activationFunction)
        try c.encode(layerNormEpsilon, forKey: .layerNormEpsilon)
        try c.encode(tieWordEmbeddings, forKey: .tieWordEmbeddings)
        try c.encode(loopPrelude, forKey: .loopPrelude)
        try c.encode(loopLooped, forKey: .loopLooped)
        try c.encode(loopCoda, forKey: .loopCoda)
        try c.encode(loopCount, forKey: .loopCount)
        try c.encode(vocabulary.recorded, forKey: .tokenizer)
        try c.encode(looplmFormatVersion, forKey: .looplmFormatVersion)
        if loopInjectInput { try c.encode(loopInjectInput, forKey: .loopInjectInput) }
        if loopEmbeddings > 0 { try c.encode(loopEmbeddings, forKey: .loopEmbeddings) }
        if loopExitGate { try c.encode(loopExitGate, forKey: .loopExitGate) }
        try c.encode(bosTokenId, forKey: .bosTokenId)  // null when absent, on purpose
        try c.encode(eosTokenId, forKey: .eosTokenId)
    }

    public init(model: ModelConfiguration, vocabulary: Vocabulary) {
        vocabSize = model.vocabSize
        nPositions = model.contextLength
        nCtx = model.contextLength
        nEmbd = model.channels
        nHead = model.heads
        nLayer = model.layout.uniqueBlocks
        loopPrelude = model.layout.prelude
        loopLooped = model.layout.looped
        loopCoda = model.layout.coda
        loopCount = model.layout.loops
        loopInjectInput = model.injectInput
        loopEmbeddings = model.loopEmbeddings
        loopExitGate = model.exitGate
        self.vocabulary = vocabulary
        if model.vocabSize > Self.gpt2EndOfText {
            bosTokenId = Self.gpt2EndOfText
            eosTokenId = Self.gpt2EndOfText
        }
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        vocabSize = try c.decode(Int.self, forKey: .vocabSize)
        nPositions = try c.decode(Int.self, forKey: .nPositions)
        nCtx = try c.decodeIfPresent(Int.self, forKey: .nCtx) ?? nPositions
        nEmbd = try c.decode(Int.self, forKey: .nEmbd)
        nHead = try c.decode(Int.self, forKey: .nHead)
        nLayer = try c.decode(Int.self, forKey: .nLayer)
        nInner = try c.decodeIfPresent(Int.self, forKey: .nInner)
        modelType = try c.decodeIfPresent(String.self, forKey: .modelType) ?? "gpt2"
        architectures = try c.decodeIfPresent([String].self, forKey: .architectures) ?? []
        activationFunction = try c.decodeIfPresent(String.self, forKey: .activationFunction) ?? "gelu_new"
        layerNormEpsilon = try c.decodeIfPresent(Double.self, forKey: .layerNormEpsilon) ?? 1e-5
        tieWordEmbeddings = try c.decodeIfPresent(Bool.self, forKey: .tieWordEmbeddings) ?? true
        // A plain Hugging Face GPT-2 config has no loop keys: all blocks looped once.
        loopPrelude = try c.decodeIfPresent(Int.self, forKey: .loopPrelude) ?? 0
        loopCoda = try c.decodeIfPresent(Int.self, forKey: .loopCoda) ?? 0
        let rest = nLayer.subtractingReportingOverflow(loopPrelude)
        let looped = rest.partialValue.subtractingReportingOverflow(loopCoda)
        let unrolled = rest.overflow || looped.overflow ? -1 : looped.partialValue  // -1 fails validation
        loopLooped = try c.decodeIfPresent(Int.self, forKey: .loopLooped) ?? unrolled
        loopCount = try c.decodeIfPresent(Int.self, forKey: .loopCount) ?? 1
        let recorded = try c.decodeIfPresent(String.self, forKey: .tokenizer) ?? Vocabulary.gpt2.recorded
        guard let vocabulary = Vocabulary(recorded: recorded) else {
            throw DecodingError.dataCorruptedError(
                forKey: .tokenizer, in: c,
                debugDescription: "unknown tokenizer '\(recorded.prefix(40))' (LoopLM records bytes, gpt2 or task:NAME)")
        }
        self.vocabulary = vocabulary
        looplmFormatVersion = try c.decodeIfPresent(Int.self, forKey: .looplmFormatVersion) ?? 1
        loopInjectInput = try c.decodeIfPresent(Bool.self, forKey: .loopInjectInput) ?? false
        loopEmbeddings = try c.decodeIfPresent(Int.self, forKey: .loopEmbeddings) ?? 0
        loopExitGate = try c.decodeIfPresent(Bool.self, forKey: .loopExitGate) ?? false
        bosTokenId = try c.decodeIfPresent(Int.self, forKey: .bosTokenId)
        eosTokenId = try c.decodeIfPresent(Int.self, forKey: .eosTokenId)
        scaleAttentionWeights = try c.decodeIfPresent(Bool.self, forKey: .scaleAttentionWeights) ?? true
        scaleAttentionByInverseLayerIndex = try c.decodeIfPresent(Bool.self, forKey: .scaleAttentionByInverseLayerIndex) ?? false
        reorderAndUpcastAttention = try c.decodeIfPresent(Bool.self, forKey: .reorderAndUpcastAttention) ?? false
    }

    /// The model this config describes, after checking it is one LoopLM can run.
    public func modelConfiguration(path: String) throws(CheckpointError) -> ModelConfiguration {
        guard let blocks = CheckedSize.sum(loopPrelude, loopLooped, loopCoda), blocks == nLayer else {
            throw .badConfig(path, detail: "n_layer is \(nLayer) but loop_prelude + loop_looped + loop_coda (\(loopPrelude), \(loopLooped), \(loopCoda)) does not add up to it")
        }
        guard nInner == nil || nInner == CheckedSize.product(4, nEmbd) else {
            throw .badConfig(path, detail: "n_inner \(nInner!) is not 4·n_embd; LoopLM runs GPT-2's MLP width")
        }
        guard ["gelu_new", "gelu_pytorch_tanh"].contains(activationFunction) else {
            throw .badConfig(path, detail: "activation_function '\(activationFunction)' is not GPT-2's tanh GELU")
        }
        guard scaleAttentionWeights, !scaleAttentionByInverseLayerIndex else {
            throw .badConfig(path, detail: "attention scaling other than GPT-2's 1/√head_size is not supported")
        }
        guard abs(layerNormEpsilon - 1e-5) < 1e-12, tieWordEmbeddings else {
            throw .badConfig(path, detail: "LoopLM needs layer_norm_epsilon 1e-5 and tied embeddings")
        }
        guard looplmFormatVersion <= Self.formatVersion else {
            throw .badConfig(path, detail: "written by a newer LoopLM (format \(looplmFormatVersion)); upgrade looplm")
        }
        do {
            return try ModelConfiguration(
                vocabSize: vocabSize, contextLength: nPositions, channels: nEmbd, heads: nHead,
                layout: LoopLayout(prelude: loopPrelude, looped: loopLooped, coda: loopCoda,
                                   loops: loopCount),
                injectInput: loopInjectInput, loopEmbeddings: loopEmbeddings, exitGate: loopExitGate)
        } catch { throw .badConfig(path, detail: error.description) }
    }

    /// The keys whose values are integers.
    static let integerKeys: Set<String> = [
        CodingKeys.vocabSize, .nPositions, .nCtx, .nEmbd, .nHead, .nLayer, .nInner, .loopPrelude, .loopLooped, .loopCoda,
        .loopCount, .looplmFormatVersion, .loopEmbeddings, .bosTokenId, .eosTokenId,
    ].reduce(into: []) { $0.insert($1.rawValue) }

    /// config.json files are a few hundred bytes; anything past this is not one.
    static let maxBytes = 1 << 20

    public static func read(path: String) throws(CheckpointError) -> CheckpointConfig {
        let file = try MappedFile(path: path)
        guard file.count <= maxBytes else { throw .badConfig(path, detail: "\(file.count) bytes is too large for a config.json") }
        let data = Data(bytes: file.bytes, count: file.count)
        let parsed: StrictJSON.Value
        do throws(StrictJSONError) { parsed = try StrictJSON.parse(data) } catch {
            throw .badConfig(path, detail: "not valid JSON (\(error))")
        }
        // Foundation reports a fractional or oversized integer as "not valid JSON": name it.
        if case .object(let members) = parsed {
            for (key, value) in members where integerKeys.contains(key) {
                if case .number(let text) = value, Int(text) == nil {
                    throw .badConfig(path, detail: "'\(key)' is \(text.prefix(40)); it must be an integer")
                }
            }
        }
        do { return try JSONDecoder().decode(CheckpointConfig.self, from: data) }
        catch { throw .badConfig(path, detail: "cannot read config.json: \(JSONFormat.describe(error))") }
    }

    public func encoded(path: String) throws(CheckpointError) -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        do { return try encoder.encode(self) } catch {
            throw .writeFailed(path, detail: "cannot encode config.json: \(error)")
        }
    }
}
