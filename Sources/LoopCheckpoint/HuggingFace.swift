import Foundation
import LoopKernels
import LoopModel

/// Interchange with Hugging Face GPT-2 folders (`config.json` + `model.safetensors`).
public enum HuggingFace {
    /// How the looped blocks of an imported model get their weights.
    public enum LoopedInitialisation: String, CaseIterable, Sendable {
        /// Looped block j copies source block `prelude + j`.
        case first
        /// Looped block j is the mean of the source blocks it replaces in the unrolled order
        /// (`prelude + j + k·looped` for each loop k); needs the tied range to be looped × loops long.
        case average
    }

    /// Reads a GPT-2 folder. With `layout` the pretrained stack becomes a loop model: the first
    /// `prelude` blocks are kept, the last `coda` blocks are kept, and the blocks between are
    /// tied into `looped` shared blocks run `loops` times, initialised as `initialisation` says.
    public static func importModel(
        from directory: String, layout: LoopLayout? = nil, initialisation: LoopedInitialisation = .first,
        workers: Workers
    ) throws -> (model: LoopGPT, vocabulary: Vocabulary) {
        let configPath = directory + "/" + Checkpoint.configFile
        let file = try CheckpointConfig.read(path: configPath)
        let source = try file.modelConfiguration(path: configPath)
        let weightsPath = directory + "/" + Checkpoint.weightsFile
        if !FileManager.default.fileExists(atPath: weightsPath),
            FileManager.default.fileExists(atPath: directory + "/pytorch_model.bin")
        {
            throw CheckpointError.missingFile(weightsPath + " (only pytorch_model.bin is there: save the model with safe_serialization=True)")
        }
        let tensors = try SafeTensorsFile(path: weightsPath)
        let plain = try LoopGPT(config: source, workers: workers)
        try Checkpoint.fill(plain, from: tensors)
        guard let layout else { return (plain, file.vocabulary) }

        let n = source.layout.uniqueBlocks
        guard source.layout.effectiveDepth == n else {
            throw CheckpointError.badConfig(configPath, detail: "the source is already a loop model; export it with export-hf first")
        }
        let tiedRange = layout.prelude..<(n - layout.coda)
        guard layout.prelude + layout.coda <= n, layout.looped <= tiedRange.count, layout.looped >= 1 else {
            throw CheckpointError.badConfig(configPath, detail: "a \(layout.summary) layout does not fit the source's \(n) blocks: prelude + looped + coda must be ≤ \(n)")
        }
        if initialisation == .average && tiedRange.count != layout.looped * layout.loops {
            throw CheckpointError.badConfig(configPath, detail: "--init average ties blocks \(tiedRange.lowerBound)..<\(tiedRange.upperBound) (\(tiedRange.count)) into \(layout.looped) × \(layout.loops); choose looped × loops = \(tiedRange.count)")
        }
        let config: ModelConfiguration
        do {
            config = try ModelConfiguration(vocabSize: source.vocabSize, contextLength: source.contextLength,
                                            channels: source.channels, heads: source.heads, layout: layout)
        } catch { throw CheckpointError.badConfig(configPath, detail: error.description) }
        let model = try LoopGPT(config: config, workers: workers)
        copyShared(from: plain, to: model)
        for block in 0..<layout.prelude { copyBlock(plain, block, into: model, block) }
        for c in 0..<layout.coda { copyBlock(plain, n - layout.coda + c, into: model, layout.prelude + layout.looped + c) }
        for j in 0..<layout.looped {
            let target = layout.prelude + j
            switch initialisation {
            case .first: copyBlock(plain, tiedRange.lowerBound + j, into: model, target)
            case .average:
                let sources = (0..<layout.loops).map { tiedRange.lowerBound + j + $0 * layout.looped }
                averageBlocks(plain, sources, into: model, target)
            }
        }
        return (model, file.vocabulary)
    }

    /// Writes a folder that `transformers.GPT2LMHeadModel.from_pretrained` loads unchanged:
    /// a looped model is unrolled (its shared blocks repeated in execution order), which
    /// computes the same function, so `n_layer` is the effective depth. The folder is written
    /// as `OutputFolder` writes (never over `inputs` or files it did not write; an earlier
    /// export only when `replacing`).
    public static func export(
        _ model: LoopGPT, vocabulary: Vocabulary, to directory: String, inputs: [String] = [], replacing: Bool = false
    ) throws {
        guard !model.config.injectInput && model.config.loopEmbeddings == 0 else {
            throw CheckpointError.badConfig(directory, detail: "input injection and loop step embeddings have no GPT-2 equivalent; such a model cannot be exported")
        }
        let layout = model.config.layout
        let unrolled: ModelConfiguration
        do {
            unrolled = try ModelConfiguration(
                vocabSize: model.config.vocabSize, contextLength: model.config.contextLength,
                channels: model.config.channels, heads: model.config.heads,
                layout: LoopLayout(looped: layout.effectiveDepth))
        } catch { throw CheckpointError.badConfig(directory, detail: error.description) }
        let target = try LoopGPT(config: unrolled, workers: model.workers)
        copyShared(from: model, to: target)
        for (application, block) in layout.executionOrder.enumerated() {
            copyBlock(model, block, into: target, application)
        }
        try OutputFolder.write(to: directory, by: .exportHF, inputs: inputs, replacing: replacing) { staging in
            try Checkpoint.writeFiles(target, vocabulary: vocabulary, into: staging)
        }
    }

    static func copyShared(from source: LoopGPT, to target: LoopGPT) {
        let s = source.table, t = target.table
        for (from, to) in [(s.wte, t.wte), (s.wpe, t.wpe), (s.lnfWeight, t.lnfWeight), (s.lnfBias, t.lnfBias)] {
            (target.parameters.pointer + to.offset).update(from: source.parameters.pointer + from.offset,
                                                           count: from.allocatedCount)
        }
    }

    static func copyBlock(_ source: LoopGPT, _ from: Int, into target: LoopGPT, _ to: Int) {
        averageBlocks(source, [from], into: target, to)
    }

    static func averageBlocks(_ source: LoopGPT, _ blocks: [Int], into target: LoopGPT, _ to: Int) {
        let c = source.config.channels, scale = 1 / Float(blocks.count)
        for tensor in BlockTensor.allCases {
            let count = tensor.shape(channels: c).reduce(1, *)
            let destination = target.parameters.pointer + target.table.offset(block: to, tensor)
            if blocks.count == 1 {
                destination.update(from: source.parameters.pointer + source.table.offset(block: blocks[0], tensor), count: count)
                continue
            }
            destination.update(repeating: 0, count: count)
            for block in blocks {
                let p = source.parameters.pointer + source.table.offset(block: block, tensor)
                for i in 0..<count { destination[i] += p[i] * scale }
            }
        }
    }
}
