import Foundation
import LoopKernels
import LoopModel

/// A checkpoint directory: `config.json` and `model.safetensors` with Hugging Face GPT-2
/// tensor names (Conv1D [in, out] weights, V vocabulary rows), little-endian float32.
public enum Checkpoint {
    public static let configFile = "config.json"
    public static let weightsFile = "model.safetensors"

    /// Writes the model's weights and config into `directory` (created if needed).
    /// Does not swap atomically by itself; `save(_:vocabulary:to:extra:)` does.
    public static func writeFiles(
        _ model: LoopGPT, vocabulary: Vocabulary, into directory: String
    ) throws(CheckpointError) {
        var writer = SafeTensorsWriter()
        for spec in model.table.tensors {
            writer.add(spec.name, shape: spec.shape, floats: model.parameters.pointer + spec.offset)
        }
        try writer.write(to: directory + "/" + weightsFile)
        let config = CheckpointConfig(model: model.config, vocabulary: vocabulary)
        let encoded = try config.encoded(path: directory + "/" + configFile)
        try AtomicFiles.write(to: directory + "/" + configFile) { (sink) throws(CheckpointError) in
            try sink.write(encoded)
        }
    }

    /// Saves atomically: the whole directory is replaced at once, or not at all.
    /// `extra` may add more files (such as the training state) before the swap; name them in
    /// `extraFiles`. An existing `directory` (or `directory.partial`, `directory.previous`)
    /// holding any other file is refused with `.unsafeOutput`, so a save never deletes what a
    /// checkpoint did not hold.
    public static func save(
        _ model: LoopGPT, vocabulary: Vocabulary, to directory: String,
        extraFiles: Set<String> = [], extra: (String) throws(CheckpointError) -> Void = { _ in }
    ) throws(CheckpointError) {
        let names = extraFiles.union([configFile, weightsFile])
        try AtomicFiles.replaceDirectory(at: directory, holding: names) { (partial) throws(CheckpointError) in
            try writeFiles(model, vocabulary: vocabulary, into: partial)
            try extra(partial)
        }
    }

    /// Reads a checkpoint's config (and tokenizer) without its weights.
    public static func readConfig(
        from directory: String
    ) throws(CheckpointError) -> (model: ModelConfiguration, file: CheckpointConfig) {
        var isFolder: ObjCBool = false
        if FileManager.default.fileExists(atPath: directory, isDirectory: &isFolder), !isFolder.boolValue {
            throw CheckpointError.notAFolder(directory)
        }
        try AtomicFiles.recover(directory)
        let path = directory + "/" + configFile
        let file = try CheckpointConfig.read(path: path)
        return (try file.modelConfiguration(path: path), file)
    }

    /// Checks the weights file's header against the config (every tensor there once, with the
    /// shape the config implies, nothing else) without reading the weights themselves.
    public static func checkTensorTable(in directory: String, config: ModelConfiguration) throws(CheckpointError) {
        let tensors = try SafeTensorsFile(path: directory + "/" + weightsFile)
        _ = try matchNames(ParameterTable(config), in: tensors)
    }

    /// The checkpoint a path names: a checkpoint folder itself, or a run folder's `latest`
    /// (nil when it is neither).
    public static func resolve(_ path: String) -> String? {
        let manager = FileManager.default
        if manager.fileExists(atPath: path + "/" + configFile) { return path }
        if manager.fileExists(atPath: path + "/latest/" + configFile) { return path + "/latest" }
        return nil
    }

    /// Loads a checkpoint for training: parameters and gradients in memory. Every tensor must
    /// be present with the shape its config implies, no other tensor may be there (Hugging
    /// Face's non-parameter buffers excepted), and every weight must be finite.
    public static func load(
        from directory: String, workers: Workers
    ) throws -> (model: LoopGPT, config: CheckpointConfig) {
        let (modelConfig, file) = try readConfig(from: directory)
        let tensors = try SafeTensorsFile(path: directory + "/" + weightsFile)
        let names = try matchNames(ParameterTable(modelConfig), in: tensors)
        let floats = ParameterTable(modelConfig).totalCount
        try SystemMemory.require(CheckedSize.product(floats, 2 * MemoryLayout<Float>.stride),
                                 for: "the model in \(directory) (parameters and gradients)",
                                 advice: "it is too large for this machine")
        let model = try LoopGPT(config: modelConfig, workers: workers)
        try fill(model, from: tensors, names: names)
        return (model, file)
    }

    /// Copies every parameter of `model` from `tensors`, checking names, shapes and values.
    public static func fill(_ model: LoopGPT, from tensors: SafeTensorsFile) throws(CheckpointError) {
        try fill(model, from: tensors, names: matchNames(model.table, in: tensors))
    }

    static func fill(
        _ model: LoopGPT, from tensors: SafeTensorsFile, names: [String: String]
    ) throws(CheckpointError) {
        for spec in model.table.tensors {
            let destination = model.parameters.pointer + spec.offset
            try tensors.readFloats(names[spec.name]!, into: UnsafeMutableBufferPointer(start: destination, count: spec.count))
            (destination + spec.count).update(repeating: 0, count: spec.allocatedCount - spec.count)
            try checkFinite(destination, count: spec.count, tensor: spec.name, path: tensors.path)
        }
    }

    /// The stored name of every tensor of `table` (names may carry `transformer.`), after
    /// checking that each is there once with the right shape and nothing unexpected is.
    static func matchNames(
        _ table: ParameterTable, in tensors: SafeTensorsFile
    ) throws(CheckpointError) -> [String: String] {
        var names: [String: String] = [:]  // sanitized → stored
        for stored in tensors.entries.keys.sorted() {
            let name = sanitize(stored)
            if let other = names.updateValue(stored, forKey: name) {
                throw .badHeader(tensors.path, detail: "tensors '\(other)' and '\(stored)' are both '\(name)'")
            }
        }
        for spec in table.tensors {
            guard let stored = names[spec.name], let entry = tensors.entries[stored] else {
                throw .missingTensor(tensors.path, tensor: spec.name)
            }
            guard entry.shape == spec.shape else {
                throw .shapeMismatch(tensors.path, tensor: spec.name, expected: spec.shape, found: entry.shape)
            }
        }
        let known = Set(table.tensors.map(\.name))
        for name in names.keys.sorted() where !known.contains(name) && !isBuffer(name) {
            throw .unexpectedTensor(tensors.path, tensor: names[name]!)
        }
        return names
    }

    /// NaN or infinite weights cannot give a meaningful loss or sample.
    static func checkFinite(
        _ values: UnsafePointer<Float>, count: Int, tensor: String, path: String
    ) throws(CheckpointError) {
        var sum: Float = 0
        for i in 0..<count { sum += values[i] * 0 }  // NaN · 0 and ∞ · 0 are NaN
        if !sum.isNaN { return }
        let index = (0..<count).first { !values[$0].isFinite } ?? 0
        throw .badValues(path, tensor: tensor, detail: "element \(index) is \(values[index])")
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
