import Foundation
import LoopKernels
import LoopModel

/// A checkpoint directory: `config.json` and `model.safetensors` with Hugging Face GPT-2
/// tensor names (Conv1D [in, out] weights, V vocabulary rows), little-endian float32.
public enum Checkpoint {
    public static let configFile = "config.json"
    public static let weightsFile = "model.safetensors"

    /// Writes the model's weights and config into `directory` (created if needed).
    /// Does not swap atomically by itself; `save(_:tokenizer:to:extra:)` does.
    public static func writeFiles(
        _ model: LoopGPT, tokenizer: String, into directory: String
    ) throws(CheckpointError) {
        var writer = SafeTensorsWriter()
        for spec in model.table.tensors {
            writer.add(spec.name, shape: spec.shape, floats: model.parameters.pointer + spec.offset)
        }
        try writer.write(to: directory + "/" + weightsFile)
        let config = CheckpointConfig(model: model.config, tokenizer: tokenizer)
        try AtomicFiles.write(to: directory + "/" + configFile) { (sink) throws(CheckpointError) in
            try sink.write(config.encoded())
        }
    }

    /// Saves atomically: the whole directory is replaced at once, or not at all.
    /// `extra` may add more files (such as the training state) before the swap.
    public static func save(
        _ model: LoopGPT, tokenizer: String, to directory: String,
        extra: (String) throws(CheckpointError) -> Void = { _ in }
    ) throws(CheckpointError) {
        try AtomicFiles.replaceDirectory(at: directory) { (partial) throws(CheckpointError) in
            try writeFiles(model, tokenizer: tokenizer, into: partial)
            try extra(partial)
        }
    }

    /// Reads a checkpoint's config (and tokenizer) without its weights.
    public static func readConfig(
        from directory: String
    ) throws(CheckpointError) -> (model: ModelConfiguration, file: CheckpointConfig) {
        AtomicFiles.recover(directory)
        let path = directory + "/" + configFile
        let file = try CheckpointConfig.read(path: path)
        return (try file.modelConfiguration(path: path), file)
    }

    /// Loads a checkpoint. Every tensor must be present with the shape its config implies,
    /// and no other tensor may be there (Hugging Face's non-parameter buffers excepted).
    public static func load(
        from directory: String, workers: Workers
    ) throws(CheckpointError) -> (model: LoopGPT, config: CheckpointConfig) {
        let (modelConfig, file) = try readConfig(from: directory)
        let path = directory + "/" + weightsFile
        let tensors = try SafeTensorsFile(path: path)
        let model = LoopGPT(config: modelConfig, workers: workers)
        try fill(model, from: tensors)
        return (model, file)
    }

    /// Copies every parameter of `model` from `tensors`, checking names and shapes.
    public static func fill(_ model: LoopGPT, from tensors: SafeTensorsFile) throws(CheckpointError) {
        let names = Dictionary(uniqueKeysWithValues: tensors.entries.keys.map { (sanitize($0), $0) })
        for spec in model.table.tensors {
            guard let stored = names[spec.name], let entry = tensors.entries[stored] else {
                throw .missingTensor(tensors.path, tensor: spec.name)
            }
            guard entry.shape == spec.shape else {
                throw .shapeMismatch(tensors.path, tensor: spec.name, expected: spec.shape, found: entry.shape)
            }
            let destination = model.parameters.pointer + spec.offset
            try tensors.readFloats(stored, into: destination)
            (destination + spec.count).update(repeating: 0, count: spec.allocatedCount - spec.count)
        }
        let known = Set(model.table.tensors.map(\.name))
        for name in names.keys.sorted() where !known.contains(name) && !isBuffer(name) {
            throw .unexpectedTensor(tensors.path, tensor: names[name]!)
        }
    }

    /// Hugging Face names may carry the `transformer.` prefix of GPT2LMHeadModel.
    static func sanitize(_ name: String) -> String {
        name.hasPrefix("transformer.") ? String(name.dropFirst("transformer.".count)) : name
    }

    /// Tensors in GPT-2 files that are not parameters: causal-mask buffers and the tied head.
    static func isBuffer(_ name: String) -> Bool {
        name.hasSuffix(".attn.bias") || name.hasSuffix(".attn.masked_bias") || name == "lm_head.weight"
    }
}
