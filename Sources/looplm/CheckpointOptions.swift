import ArgumentParser
import LoopCheckpoint
import LoopKernels
import LoopModel
import LoopTokenizer

/// A checkpoint to read, and the tokenizer it was trained with.
struct LoadedCheckpoint {
    let model: LoopGPT
    let file: CheckpointConfig
    let tokenizer: any Tokenizer
    let kind: TokenizerKind

    init(path: String, workers: Workers) throws {
        (model, file) = try Checkpoint.load(from: path, workers: workers)
        guard let kind = TokenizerKind(rawValue: file.tokenizer) else {
            throw ValidationError("\(path): unknown tokenizer '\(file.tokenizer)' in config.json")
        }
        self.kind = kind
        tokenizer = try makeTokenizer(kind)
    }
}
