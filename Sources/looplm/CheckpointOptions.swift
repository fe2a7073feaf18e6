import ArgumentParser
import Foundation
import LoopCheckpoint
import LoopKernels
import LoopModel
import LoopTokenizer
import LoopTraining

/// A checkpoint loaded for inference, and the tokenizer it was trained with.
struct LoadedCheckpoint {
    let model: LanguageModel
    let file: CheckpointConfig
    let tokenizer: any Tokenizer
    let kind: TokenizerKind

    init(path given: String, precision: WeightPrecision, workers: Workers) throws {
        let path = checkpointPath(given)
        (model, file) = try Checkpoint.loadLanguageModel(from: path, precision: precision, workers: workers)
        guard let kind = file.vocabulary.tokenizerKind else {
            throw CommandError("\(path) was trained on the reasoning task '\(file.vocabulary)', whose ids are the task's own symbols, not text; `looplm experiment --suite reasoning` evaluates it (its runs' result.json hold the accuracies)")
        }
        self.kind = kind
        tokenizer = try makeTokenizer(kind)
    }

    /// Checks that a decoder of this shape (key/value cache and scratch) fits in memory.
    func requireDecoder(slots: Int, loops: Int?) throws {
        let config = model.config
        let depth = config.layout.with(loops: loops ?? config.layout.loops).effectiveDepth
        let cache = CheckedSize.product(2, depth, slots, config.contextLength, config.channels, MemoryLayout<Float>.stride)
        try SystemMemory.require(cache, for: "a key/value cache for \(slots) sequence(s) at \(loops ?? config.layout.loops) loops",
                                 advice: "lower --loops (or --max-loops) or the number of prompts")
    }

    /// Checks that evaluating B windows of T tokens at `loops` fits in memory.
    func requireEvaluation(batch: Int, time: Int) throws {
        let c = model.config.channels
        let rows = CheckedSize.product(batch, time)
        let bytes = rows.flatMap { CheckedSize.product($0, 12 * c, MemoryLayout<Float>.stride) }
        try SystemMemory.require(bytes, for: "evaluating \(batch) × \(time) tokens at a time", advice: "lower --batch or --context")
    }
}

/// The checkpoint a command-line path names: a checkpoint folder, or a run folder's `latest`
/// (said on standard error, with a note when the run also has `best`). Anything else is
/// returned as given, so the loader names what is wrong with it.
func checkpointPath(_ path: String) -> String {
    guard let resolved = Checkpoint.resolve(path), resolved != path else { return path }
    let best = path + "/best"
    let note = FileManager.default.fileExists(atPath: best + "/" + Checkpoint.configFile)
        ? "; \(best) holds the lowest validation loss" : ""
    printError("note: \(path) is a run folder; using \(resolved)\(note)")
    return resolved
}
