import ArgumentParser
import Foundation
import LoopModel
import LoopTokenizer
import LoopTraining

struct EvalCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "eval",
        abstract: "Loss (nats/token), perplexity and bits/byte of a checkpoint on a token or text file.",
        discussion: """
            --loops N evaluates at another loop count; --loop-sweep A...B prints (and with --plot \
            draws) loss against loops, the test-time compute curve. --exit-threshold makes each token \
            stop looping once its state converges (--exit-criterion change|kl, at most --max-loops \
            passes) and reports the mean loops per token; --trace TEXT shows which token took how many.
            """)

    @Argument(help: "Checkpoint directory (e.g. runs/x/latest).")
    var checkpoint: String
    @Option(help: "A token file (.bin) or a text file (.txt) to evaluate on.")
    var data: String?
    @OptionGroup var loopsOption: LoopsOption
    var loops: Int? { loopsOption.loops }
    @Option(help: "Evaluate at every loop count A...B (e.g. 1...8).")
    var loopSweep: String?
    @Option(help: "With --loop-sweep: write the curve as an SVG plot to this file.")
    var plot: String?
    @OptionGroup var exitOptions: ExitOptions
    var maxLoops: Int? { exitOptions.maxLoops }
    @Option(help: "Adaptive exit: print, for this text, the loops each token took.")
    var trace: String?
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
        if data == nil && trace == nil { throw ValidationError("give --data FILE (or --trace TEXT)") }
        if loopSweep != nil && parseSweep() == nil { throw ValidationError("--loop-sweep must look like 1...8 with 1 ≤ A ≤ B") }
    }

    func parseSweep() -> ClosedRange<Int>? {
        guard let loopSweep else { return nil }
        let bounds = loopSweep.components(separatedBy: CharacterSet(charactersIn: ".-")).compactMap { Int($0) }
        guard bounds.count == 2, bounds[0] >= 1, bounds[1] >= bounds[0] else { return nil }
        return bounds[0]...bounds[1]
    }

    func run() throws {
        let loaded = try LoadedCheckpoint(path: checkpoint, workers: compute.workers)
        let config = loaded.model.config
        let trained = config.layout.loops
        let exit = exitOptions.rule
        if let trace { return try traceText(trace, loaded, exit: exit, maxLoops: maxLoops ?? 2 * trained) }
        let time = context ?? config.contextLength
        guard time >= 1, time <= config.contextLength else {
            throw ValidationError("--context must be in 1...\(config.contextLength)")
        }
        let stream = try TokenStream(file: try readData(loaded), vocabSize: config.vocabSize, time: time)
        let rows = min(batch, (stream.tokens.count - 1) / time)  // a short file gets fewer rows
        let batches = stream.sequentialBatches(batch: rows, time: time, maxBatches: maxBatches)
        let bytes = loaded.tokenizer.decodeBytes(batches.flatMap(\.targets).map(Int.init)).count

        if let exit {
            let usedMax = maxLoops ?? 2 * trained
            let windows = batches.flatMap { b in (0..<rows).map { Array(b.tokens[($0 * time)..<(($0 + 1) * time)]) } }
            let targets = batches.flatMap { b in (0..<rows).map { Array(b.targets[($0 * time)..<(($0 + 1) * time)]) } }
            let result = try Evaluation.adaptive(model: loaded.model, windows: windows, targets: targets, exit: exit,
                                                 maxLoops: usedMax)
            let bitsPerByte = result.loss * Double(result.tokens) / log(2) / Double(bytes)
            if json {
                try printJSON(["loss": result.loss, "perplexity": exp(result.loss), "bits_per_byte": bitsPerByte,
                               "tokens": result.tokens, "mean_loops": result.meanLoops, "max_loops": usedMax,
                               "exit_criterion": exit.criterion.rawValue, "exit_threshold": Double(exit.threshold)])
            } else {
                print(String(format: "loss %.4f nats/token · perplexity %.2f · %.4f bits/byte · %d tokens · adaptive exit (%@ < %g, at most %d loops): %.2f loops/token",
                             result.loss, exp(result.loss), bitsPerByte, result.tokens, exit.criterion.rawValue,
                             Double(exit.threshold), usedMax, result.meanLoops))
            }
            return
        }
        let sweep = parseSweep() ?? (loops ?? trained)...(loops ?? trained)
        var rowsOut: [[String: Any]] = []
        for count in sweep {
            let result = try Evaluation.run(model: loaded.model, batches: batches, batch: rows, time: time, loops: count)
            let depth = config.layout.with(loops: count).effectiveDepth
            rowsOut.append(["loops": count, "loss": result.loss, "perplexity": result.perplexity,
                            "bits_per_byte": result.bitsPerByte(bytes: bytes), "tokens": result.tokens,
                            "effective_depth": depth])
            if !json {
                print(String(format: "loss %.4f nats/token · perplexity %.2f · %.4f bits/byte · %d tokens · loops %d (layout %@)",
                             result.loss, result.perplexity, result.bitsPerByte(bytes: bytes), result.tokens, count,
                             config.layout.with(loops: count).summary))
            }
        }
        if let plot {
            let points = rowsOut.map { (x: Double($0["loops"] as! Int), y: $0["loss"] as! Double) }
            let chart = LinePlot(title: "validation loss against loops (trained with \(trained))", xLabel: "loops at evaluation",
                                 yLabel: "loss (nats/token)", series: [.init(name: config.layout.summary, points: points)],
                                 markers: true)
            try chart.svg().write(toFile: plot, atomically: true, encoding: .utf8)
        }
        if json { try printJSON(rowsOut.count == 1 ? rowsOut[0] : ["sweep": rowsOut]) }
    }

    func readData(_ loaded: LoadedCheckpoint) throws -> TokenFile {
        let data = data!
        if data.hasSuffix(".bin") {
            let file = try TokenFile.read(path: data)
            if let recorded = file.tokenizer, recorded != loaded.kind {
                throw DataError.tokenizerMismatch(data, file: recorded.rawValue, model: loaded.kind.rawValue)
            }
            return file
        }
        guard let bytes = FileManager.default.contents(atPath: data) else { throw DataError.missingFile(data) }
        return TokenFile(path: data, tokens: loaded.tokenizer.encode(bytes: Array(bytes)).map { UInt16($0) },
                         tokenizer: loaded.kind)
    }

    /// Prints each token of `text` with the loop passes it took (adaptive exit).
    func traceText(_ text: String, _ loaded: LoadedCheckpoint, exit: ExitRule?, maxLoops: Int) throws {
        let ids = Array(loaded.tokenizer.encode(text).suffix(loaded.model.config.contextLength)).map(Int32.init)
        guard !ids.isEmpty else { throw ValidationError("--trace needs some text") }
        let result = try Evaluation.adaptive(model: loaded.model, windows: [ids], targets: [ids.map { _ in 0 }],
                                             exit: exit, maxLoops: maxLoops)
        let pieces = ids.map { loaded.tokenizer.decode([Int($0)]) }
        if json {
            try printJSON(["tokens": pieces, "ids": ids.map(Int.init), "loops": result.loopsPerToken,
                           "mean_loops": result.meanLoops, "max_loops": maxLoops])
            return
        }
        for (piece, used) in zip(pieces, result.loopsPerToken) {
            print("\(piece.debugDescription)\t\(used)\t" + String(repeating: "█", count: used))
        }
        print(String(format: "mean %.2f loops/token (at most %d)", result.meanLoops, maxLoops))
    }
}
