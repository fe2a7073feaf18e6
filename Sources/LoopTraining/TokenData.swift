import Foundation
import LoopModel
import LoopTokenizer

/// The token files `looplm prepare` writes into a directory, as training data for a model.
public enum TokenData {
    public static let trainFile = "train.bin", validationFile = "val.bin"

    /// The tokenizer `train.bin` records (llm.c's files record none: GPT-2's).
    public static func tokenizer(directory: String) throws(DataError) -> TokenizerKind {
        try checkFolder(directory)
        return try TokenFile.read(path: directory + "/" + trainFile).tokenizer ?? .gpt2
    }

    /// `train.bin` for training and the first `validationBatches` batches of `val.bin` for
    /// validation. A missing `val.bin` means no validation; a damaged one is an error. Both
    /// must have been tokenized with `tokenizer`.
    public static func load(
        directory: String, config: ModelConfiguration, options: TrainingOptions, tokenizer: TokenizerKind,
        validationBatches: Int? = nil
    ) throws -> TrainingData {
        let trainFile = try TokenFile.read(path: directory + "/" + Self.trainFile)
        try check(trainFile, tokenizer: tokenizer)
        let train = try TokenStream(file: trainFile, vocabSize: config.vocabSize, time: options.time)
        let path = directory + "/" + validationFile
        guard FileManager.default.fileExists(atPath: path) else { return TrainingData(train: train, validation: []) }
        let validationFile = try TokenFile.read(path: path)
        try check(validationFile, tokenizer: tokenizer)
        guard validationFile.count >= 2 else { throw DataError.tooShort(path, tokens: validationFile.count, needed: 2) }
        let stream = try TokenStream(file: validationFile, vocabSize: config.vocabSize, time: min(options.time, validationFile.count - 1))
        let batches = try stream.sequentialBatches(rows: options.batch, time: options.time,
                                                   maxBatches: validationBatches ?? options.evalBatches)
        return TrainingData(train: train, validation: batches)
    }

    /// A data folder that exists must be a folder (not /dev/null, not a token file itself).
    static func checkFolder(_ directory: String) throws(DataError) {
        var isFolder: ObjCBool = false
        if FileManager.default.fileExists(atPath: directory, isDirectory: &isFolder), !isFolder.boolValue {
            throw .notADataFolder(directory)
        }
    }

    static func check(_ file: TokenFile, tokenizer: TokenizerKind) throws(DataError) {
        if let recorded = file.tokenizer, recorded != tokenizer {
            throw .tokenizerMismatch(file.path, file: recorded.rawValue, model: tokenizer.rawValue)
        }
    }
}

extension Vocabulary {
    /// The vocabulary of a text tokenizer.
    public init(_ kind: TokenizerKind) {
        switch kind {
        case .bytes: self = .bytes
        case .gpt2: self = .gpt2
        }
    }

    /// The text tokenizer behind it (nil for a reasoning task's symbols).
    public var tokenizerKind: TokenizerKind? {
        switch self {
        case .bytes: .bytes
        case .gpt2: .gpt2
        case .task: nil
        }
    }
}
