import ArgumentParser
import Foundation
import LoopModel
import LoopTokenizer
import LoopTraining

struct EvalCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "eval",
        abstract: "Loss (nats/token), perplexity and bits/byte of a checkpoint on a token or text file.")

    @Argument(help: "Checkpoint directory (e.g. runs/x/latest).")
    var checkpoint: String
    @Option(help: "A token file (.bin) or a text file (.txt) to evaluate on.")
    var data: String
    @OptionGroup var loopsOption: LoopsOption
    var loops: Int? { loopsOption.loops }
    @Option(help: "Sequences per batch.")
    var batch: Int = 8
    @Option(help: "Tokens per sequence; default: the model's context.")
    var context: Int?
    @Option(help: "Evaluate at most this many batches (default: the whole file).")
    var maxBatches: Int?
    @Flag(help: "Print the result as JSON.")
    var json = false
    @OptionGroup var compute: ComputeOptions

    func validate() throws {
        guard batch >= 1 else { throw ValidationError("--batch must be ≥ 1") }
    }

    func run() throws {
        let loaded = try LoadedCheckpoint(path: checkpoint, workers: compute.workers)
        let config = loaded.model.config
        let time = context ?? config.contextLength
        guard time >= 1, time <= config.contextLength else {
            throw ValidationError("--context must be in 1...\(config.contextLength)")
        }
        let file: TokenFile
        if data.hasSuffix(".bin") {
            file = try TokenFile.read(path: data)
            if let recorded = file.tokenizer, recorded != loaded.kind {
                throw DataError.tokenizerMismatch(data, file: recorded.rawValue, model: loaded.kind.rawValue)
            }
        } else {
            guard let bytes = FileManager.default.contents(atPath: data) else { throw DataError.missingFile(data) }
            file = TokenFile(path: data, tokens: loaded.tokenizer.encode(bytes: Array(bytes)).map { UInt16($0) },
                             tokenizer: loaded.kind)
        }
        let stream = try TokenStream(file: file, vocabSize: config.vocabSize, time: time)
        let rows = min(batch, (stream.tokens.count - 1) / time)  // a short file gets fewer rows
        let batches = stream.sequentialBatches(batch: rows, time: time, maxBatches: maxBatches)
        let result = try Evaluation.run(model: loaded.model, batches: batches, batch: rows, time: time, loops: loops)
        let evaluated = batches.flatMap(\.targets).map(Int.init)
        let bytes = loaded.tokenizer.decodeBytes(evaluated).count
        let bitsPerByte = result.bitsPerByte(bytes: bytes)
        let usedLoops = loops ?? config.layout.loops
        if json {
            try printJSON(["loss": result.loss, "perplexity": result.perplexity, "bits_per_byte": bitsPerByte,
                           "tokens": result.tokens, "loops": usedLoops,
                           "effective_depth": config.layout.with(loops: usedLoops).effectiveDepth])
        } else {
            print(String(format: "loss %.4f nats/token · perplexity %.2f · %.4f bits/byte · %d tokens · loops %d (layout %@)",
                         result.loss, result.perplexity, bitsPerByte, result.tokens, usedLoops,
                         config.layout.with(loops: usedLoops).summary))
        }
    }
}
