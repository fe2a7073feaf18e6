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
            Every token of the file but the first is scored: whole windows of --context tokens, then \
            what is left. --loops N evaluates at another loop count; --loop-sweep A...B prints (and \
            with --plot draws) loss against loops, the test-time compute curve. --exit RULE stops \
            each token's looping by a rule (change:τ, kl:τ, or gate:q for a model with an exit gate; \
            at most --max-loops passes): rows that have exited leave the batch, and it reports the \
            mean loops, FLOPs and tokens per second; --trace TEXT shows which token took how many.
            """)

    @Argument(help: "Checkpoint directory (e.g. runs/x/latest).")
    var checkpoint: String
    @Option(help: "What to evaluate on: a data folder from `looplm prepare` (its val.bin), a token file, or a text file.")
    var data: String?
    @OptionGroup var loopsOption: LoopsOption
    @Option(help: "Evaluate at every loop count A...B (e.g. 1...8).")
    var loopSweep: ClosedRange<Int>?
    @Option(help: "With --loop-sweep: write the curve as an SVG plot to this file.")
    var plot: String?
    @OptionGroup var exitOptions: ExitOptions
    @Option(help: "Adaptive exit: print, for this text, the loops each token took.")
    var trace: String?
    @Option(parsing: .unconditional, help: "Sequences per batch.")
    var batch: Int = 8
    @Option(parsing: .unconditional, help: "Tokens per sequence; default: the model's context.")
    var context: Int?
    @Option(parsing: .unconditional, help: "Evaluate at most this many batches (default: the whole file).")
    var maxBatches: Int?
    @OptionGroup var precision: PrecisionOption
    @Flag(help: "Print the result as JSON.")
    var json = false
    @OptionGroup var compute: ComputeOptions

    func validate() throws {
        guard (1...TrainingOptions.maximumBatch).contains(batch) else {
            throw ValidationError("--batch must be in 1...\(TrainingOptions.maximumBatch)")
        }
        if let maxBatches, maxBatches < 1 { throw ValidationError("--max-batches must be ≥ 1") }
        if data == nil && trace == nil { throw ValidationError("give --data FILE (or --trace TEXT)") }
        if plot != nil && loopSweep == nil { throw ValidationError("--plot draws the --loop-sweep curve; give --loop-sweep") }
    }

    /// One evaluation, as `--json` prints it.
    struct Report: Codable {
        let loss: Double
        let perplexity: Double
        let bitsPerByte: Double
        let tokens: Int
        let loops: Int
        let effectiveDepth: Int
    }

    struct Sweep: Codable { let sweep: [Report] }

    struct AdaptiveReport: Codable {
        let loss: Double
        let perplexity: Double
        let bitsPerByte: Double
        let tokens: Int
        let meanLoops: Double
        let maxLoops: Int
        let exit: String
        let forwardFlopsPerToken: Double
        let tokensPerSecond: Double
    }

    struct Trace: Codable {
        let tokens: [String]
        let ids: [Int]
        let loops: [Int]
        let meanLoops: Double
        let maxLoops: Int
    }

    func run() throws {
        if let plot { try checkOutputFile(plot) }
        let loaded = try LoadedCheckpoint(path: checkpoint, precision: precision.weights, workers: compute.workers)
        let config = loaded.model.config, trained = config.layout.loops
        let exit = exitOptions.exit, maxLoops = try exitOptions.cap(loops: loopsOption.loops, trained: trained)
        try exitOptions.check(loaded.model, path: checkpoint)
        if let trace {
            try loaded.requireDecoder(slots: 1, loops: maxLoops)
            return try traceText(trace, loaded, exit: exit, maxLoops: maxLoops)
        }
        let time = context ?? config.contextLength
        guard (1...config.contextLength).contains(time) else {
            throw ValidationError("--context must be in 1...\(config.contextLength)")
        }
        let file = try readData(loaded)
        let stream = try TokenStream(file: file, vocabSize: config.vocabSize, time: min(time, max(file.count - 1, 1)))
        let batches = try stream.sequentialBatches(rows: batch, time: time, maxBatches: maxBatches)
        let bytes = loaded.tokenizer.decodeBytes(batches.flatMap(\.targets).map(Int.init)).count

        if exit != .fixed {
            guard loopSweep == nil else { throw ValidationError("--loop-sweep evaluates fixed loop counts; drop --exit") }
            try loaded.requireDecoder(slots: batch, loops: maxLoops)
            let result = try Evaluation.adaptive(model: loaded.model, batches: batches, exit: exit, maxLoops: maxLoops)
            let bitsPerByte = result.loss * Double(result.tokens) / log(2) / Double(max(bytes, 1))
            ExitOptions.noteIfNoneExited(meanLoops: result.meanLoops, maxLoops: maxLoops, rule: exit)
            let flops = ModelCost.forwardFlopsPerToken(config: config, time: time, meanLoops: result.meanLoops)
            let rate = Double(result.loopsPerToken.count) / max(result.seconds, 1e-9)
            if json {
                return try printJSON(AdaptiveReport(
                    loss: result.loss, perplexity: exp(result.loss), bitsPerByte: bitsPerByte, tokens: result.tokens,
                    meanLoops: result.meanLoops, maxLoops: maxLoops, exit: exit.description, forwardFlopsPerToken: flops,
                    tokensPerSecond: rate))
            }
            print(String(format: "loss %.4f nats/token · perplexity %.2f · %.4f bits/byte · %d tokens · exit %@ (at most %d loops): %.2f loops/token, %.1f MFLOP/token, %.0f tokens/s",
                         result.loss, exp(result.loss), bitsPerByte, result.tokens, exit.description, maxLoops,
                         result.meanLoops, flops / 1e6, rate))
            return
        }
        let counts = loopSweep ?? (loopsOption.loops ?? trained)...(loopsOption.loops ?? trained)
        guard counts.lowerBound >= 1, counts.upperBound <= ModelConfiguration.Limit.loops else {
            throw ValidationError("--loop-sweep must be A...B with 1 ≤ A ≤ B ≤ \(ModelConfiguration.Limit.loops)")
        }
        try loaded.requireEvaluation(batch: batch, time: time)
        var reports: [Report] = []
        for loops in counts {
            let progress = EvaluationProgress(label: "evaluating at \(loops) loop\(loops == 1 ? "" : "s")")
            let result = try Evaluation.run(model: loaded.model, batches: batches, loops: loops, onBatch: progress.update)
            progress.finish()
            let layout = config.layout.with(loops: loops)
            let report = Report(loss: result.loss, perplexity: result.perplexity, bitsPerByte: result.bitsPerByte(bytes: bytes),
                                tokens: result.tokens, loops: loops, effectiveDepth: layout.effectiveDepth)
            reports.append(report)
            if !json {
                print(String(format: "loss %.4f nats/token · perplexity %.2f · %.4f bits/byte · %d tokens · loops %d (layout %@)",
                             report.loss, report.perplexity, report.bitsPerByte, report.tokens, loops, layout.summary))
            }
        }
        if let plot {
            let chart = LinePlot(title: "validation loss against loops (trained with \(trained))", xLabel: "loops at evaluation",
                                 yLabel: "loss (nats/token)",
                                 series: [.init(name: config.layout.summary, points: reports.map { (x: Double($0.loops), y: $0.loss) })],
                                 markers: true)
            try writeOutputFile(plot, Data(chart.svg().utf8))
            printError("wrote the loss-against-loops plot to \(plot)")
        }
        if json { try reports.count == 1 && loopSweep == nil ? printJSON(reports[0]) : printJSON(Sweep(sweep: reports)) }
    }

    /// The tokens to score: a data folder's val.bin, a token file (known by its header, or
    /// named .bin), or text encoded with the checkpoint's tokenizer.
    func readData(_ loaded: LoadedCheckpoint) throws -> TokenFile {
        var data = data!
        var isFolder: ObjCBool = false
        if FileManager.default.fileExists(atPath: data, isDirectory: &isFolder), isFolder.boolValue {
            data += "/" + TokenData.validationFile
            guard FileManager.default.fileExists(atPath: data) else {
                throw CommandError("\(self.data!) is a folder without \(TokenData.validationFile); give a data folder from `looplm prepare`, a token file or a text file")
            }
        }
        if data.hasSuffix(".bin") || TokenFile.hasHeader(path: data) {
            let file = try TokenFile.read(path: data)
            if let recorded = file.tokenizer, recorded != loaded.kind {
                throw DataError.tokenizerMismatch(data, file: recorded.rawValue, model: loaded.kind.rawValue)
            }
            return file
        }
        let bytes = try readInputFile(data, maximumBytes: Self.maximumTextBytes)
        guard !bytes.isEmpty else { throw CommandError("\(data) is empty: there is no text to evaluate") }
        let ids = loaded.tokenizer.encode(bytes: Array(bytes))
        guard ids.allSatisfy({ $0 <= Int(UInt16.max) }) else { throw DataError.corrupt(data, "token ids do not fit in 16 bits") }
        return TokenFile(path: data, tokens: ids.map { UInt16($0) }, tokenizer: loaded.kind)
    }

    /// Text files are encoded in memory; larger corpora go through `looplm prepare`.
    static let maximumTextBytes = 1 << 30

    /// Prints each token of `text` with the loop passes it took (adaptive exit).
    func traceText(_ text: String, _ loaded: LoadedCheckpoint, exit: ExitRule, maxLoops: Int) throws {
        let ids = Array(loaded.tokenizer.encode(text).suffix(loaded.model.config.contextLength)).map(Int32.init)
        guard !ids.isEmpty else { throw ValidationError("--trace needs some text") }
        let decoder = try IncrementalDecoder(model: loaded.model, loops: maxLoops)
        try decoder.append([SlotInput(slot: 0, tokens: ids)], exit: exit)
        let loops = decoder.loopsPerRow
        let mean = Double(loops.reduce(0, +)) / Double(loops.count)
        let pieces = ids.map { loaded.tokenizer.decode([Int($0)]) }
        if json { return try printJSON(Trace(tokens: pieces, ids: ids.map(Int.init), loops: loops, meanLoops: mean, maxLoops: maxLoops)) }
        for (piece, used) in zip(pieces, loops) {
            print("\(piece.debugDescription)\t\(used)\t" + String(repeating: "█", count: used))
        }
        print(String(format: "mean %.2f loops/token (at most %d)", mean, maxLoops))
    }
}

extension ClosedRange<Int>: @retroactive ExpressibleByArgument {
    /// `A...B` (or `A-B`) with 1 ≤ A ≤ B.
    public init?(argument: String) {
        let bounds = argument.components(separatedBy: CharacterSet(charactersIn: ".-")).filter { !$0.isEmpty }.compactMap { Int($0) }
        guard bounds.count == 2, bounds[0] >= 1, bounds[1] >= bounds[0] else { return nil }
        self = bounds[0]...bounds[1]
    }
}
