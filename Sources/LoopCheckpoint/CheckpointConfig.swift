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
    public var tokenizer: String
    public var looplmFormatVersion = CheckpointConfig.formatVersion

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
    }

    public init(model: ModelConfiguration, tokenizer: String) {
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
        self.tokenizer = tokenizer
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
        loopLooped = try c.decodeIfPresent(Int.self, forKey: .loopLooped) ?? (nLayer - loopPrelude - loopCoda)
        loopCount = try c.decodeIfPresent(Int.self, forKey: .loopCount) ?? 1
        tokenizer = try c.decodeIfPresent(String.self, forKey: .tokenizer) ?? "gpt2"
        looplmFormatVersion = try c.decodeIfPresent(Int.self, forKey: .looplmFormatVersion) ?? 1
    }

    /// The model this config describes, after checking it is one LoopLM can run.
    public func modelConfiguration(path: String) throws(CheckpointError) -> ModelConfiguration {
        guard loopPrelude + loopLooped + loopCoda == nLayer else {
            throw .badConfig(path, detail: "n_layer is \(nLayer) but loop_prelude + loop_looped + loop_coda is \(loopPrelude + loopLooped + loopCoda)")
        }
        guard nInner == nil || nInner == 4 * nEmbd else {
            throw .badConfig(path, detail: "n_inner \(nInner!) is not 4·n_embd; LoopLM runs GPT-2's MLP width")
        }
        guard ["gelu_new", "gelu_pytorch_tanh"].contains(activationFunction) else {
            throw .badConfig(path, detail: "activation_function '\(activationFunction)' is not GPT-2's tanh GELU")
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
                                   loops: loopCount))
        } catch { throw .badConfig(path, detail: error.description) }
    }

    public static func read(path: String) throws(CheckpointError) -> CheckpointConfig {
        guard let data = FileManager.default.contents(atPath: path) else { throw .missingFile(path) }
        do { return try JSONDecoder().decode(CheckpointConfig.self, from: data) }
        catch { throw .badConfig(path, detail: "cannot parse config.json: \(error)") }
    }

    public func encoded() -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        return (try? encoder.encode(self)) ?? Data()
    }
}
