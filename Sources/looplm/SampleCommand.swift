import ArgumentParser
import Foundation
import LoopModel
import LoopTokenizer

struct SampleCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sample", abstract: "Generate text from a checkpoint, streaming it as it comes.",
        discussion: """
            Uses a key/value cache with an entry per block application (looped blocks get one per \
            pass); the prompt goes through in one batched pass. Its output equals recomputing the \
            whole window for every token (--no-cache). --prompts FILE generates for every line of \
            the file at once, one batched pass per new token.
            """)

    @Argument(help: "Checkpoint directory.")
    var checkpoint: String
    @Option(help: "Text to continue (its bytes as given; the bytes tokenizer sees them raw). Default: a newline.")
    var prompt: String?
    @Option(help: "A file with one prompt per line (a line ending \\r\\n counts as \\n); all are continued together.")
    var prompts: String?
    @Option(parsing: .unconditional, help: "Tokens to generate.")
    var tokens: Int = 200
    @Option(parsing: .unconditional, help: "Softmax temperature (0: greedy).")
    var temperature: Float = 0.8
    @Option(parsing: .unconditional, help: "Keep only the k most likely tokens (k ≥ 1).")
    var topK: Int?
    @Option(parsing: .unconditional, help: "Keep the smallest set of tokens whose probability reaches p.")
    var topP: Float?
    @Option(parsing: .unconditional, help: "Random seed (prompt i samples with seed + i).")
    var seed: UInt64 = 1337
    @OptionGroup var loopsOption: LoopsOption
    @OptionGroup var exitOptions: ExitOptions
    @Flag(help: "Recompute the whole window for every token instead of using the key/value cache.")
    var noCache = false
    @OptionGroup var precision: PrecisionOption
    @Flag(help: "Print one JSON object (prompt, text, ids) instead of streaming.")
    var json = false
    @OptionGroup var compute: ComputeOptions

    func validate() throws {
        guard (0...Self.maximumTokens).contains(tokens) else { throw ValidationError("--tokens must be in 0...\(Self.maximumTokens)") }
        guard temperature >= 0, temperature.isFinite else { throw ValidationError("--temperature must be ≥ 0") }
        if let topK, topK < 1 { throw ValidationError("--top-k must be ≥ 1") }
        if let topP, !(topP > 0 && topP <= 1) { throw ValidationError("--top-p must be in (0, 1]") }
        if exitOptions.exit.canExitEarly && noCache { throw ValidationError("adaptive exit runs through the cache; drop --no-cache") }
        if prompt != nil && prompts != nil { throw ValidationError("give --prompt or --prompts, not both") }
    }

    static let maximumTokens = 1 << 24

    struct Output: Codable {
        let prompt: String
        let promptIds: [Int]
        let text: String
        let ids: [Int]
        let loops: Int
        let meanLoops: Double?
    }

    func run() throws {
        let loaded = try LoadedCheckpoint(path: checkpoint, precision: precision.weights, workers: compute.workers)
        let model = loaded.model
        let texts = try promptBytes()
        let encoded = texts.map { loaded.tokenizer.encode(bytes: $0).map(Int32.init) }
        guard encoded.allSatisfy({ !$0.isEmpty }) else { throw ValidationError("every prompt must have some text") }
        let exit = exitOptions.exit
        try exitOptions.check(model, path: checkpoint)
        let loops = try exitOptions.cap(loops: loopsOption.loops, trained: model.config.layout.loops)
        try loaded.requireDecoder(slots: texts.count, loops: loops)
        let options = GenerationOptions(maxNewTokens: tokens, temperature: temperature, topK: topK, topP: topP, seed: seed,
                                        loops: loops, exit: exit, useCache: !noCache)
        let streaming = !json && texts.count == 1
        var pending: [UInt8] = []  // bytes of an unfinished UTF-8 character
        let stdout = FileHandle.standardOutput
        if streaming { stdout.write(Data(texts[0])) }
        let result = try TextGenerator(model: model).generate(prompts: encoded, options: options) { _, token in
            guard streaming else { return }
            pending += loaded.tokenizer.decodeBytes([token])
            if String(validating: pending, as: UTF8.self) != nil || pending.count >= 4 {
                stdout.write(Data(pending))
                pending.removeAll()
            }
        }
        let usedLoops = result.loopsPerToken.flatMap { $0 }
        let meanLoops = exit == .fixed ? nil : Double(usedLoops.reduce(0, +)) / Double(max(usedLoops.count, 1))
        if let meanLoops { ExitOptions.noteIfNoneExited(meanLoops: meanLoops, maxLoops: loops, rule: exit) }
        if streaming {
            stdout.write(Data(pending + [UInt8(ascii: "\n")]))
            if let meanLoops { printError(String(format: "mean %.2f loops/token (at most %d)", meanLoops, loops)) }
            return
        }
        let outputs = texts.indices.map { i in
            Output(prompt: String(decoding: texts[i], as: UTF8.self), promptIds: encoded[i].map(Int.init),
                   text: loaded.tokenizer.decode(result.tokens[i]), ids: result.tokens[i],
                   loops: loops, meanLoops: meanLoops)
        }
        if json {
            try outputs.count == 1 && prompts == nil ? printJSON(outputs[0]) : printJSON(outputs)
        } else {
            // Each continuation after its prompt, separated as nanoGPT's sample.py separates them.
            for (index, output) in outputs.enumerated() {
                if index > 0 { print(Self.separator) }
                print(output.prompt + output.text)
            }
        }
    }

    /// The prompts as bytes: each line of --prompts, or --prompt exactly as it came on the
    /// command line (not repaired into valid UTF-8, so the bytes tokenizer sees what was given).
    func promptBytes() throws -> [[UInt8]] {
        if let prompts {
            let data = try readInputFile(prompts, maximumBytes: Self.maximumPromptFileBytes)
            var lines = data.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false).map { line in
                Array(line.last == UInt8(ascii: "\r") ? line.dropLast() : line)
            }
            if lines.last?.isEmpty == true { lines.removeLast() }  // the newline that ends the file
            let empty = lines.filter(\.isEmpty).count
            lines.removeAll(where: \.isEmpty)
            if empty > 0 { printError("note: skipped \(empty) empty line(s) of \(prompts); every prompt needs some text") }
            guard !lines.isEmpty else { throw CommandError("\(prompts) holds no prompts (one per line)") }
            guard lines.count <= Self.maximumPrompts else { throw CommandError("\(prompts): at most \(Self.maximumPrompts) prompts at once") }
            return lines
        }
        return [RawArguments.value(of: "--prompt") ?? Array((prompt ?? "\n").utf8)]
    }

    static let maximumPrompts = 4096
    static let separator = "---------------"
    static let maximumPromptFileBytes = 64 << 20
}

/// The bytes of command-line arguments as the process received them. Swift's
/// `CommandLine.arguments` replaces invalid UTF-8 with U+FFFD; a prompt for the bytes
/// tokenizer must keep its bytes.
enum RawArguments {
    static func value(of option: String) -> [UInt8]? {
        let count = Int(CommandLine.argc)
        var found: [UInt8]?
        var index = 1
        while index < count {
            guard let pointer = CommandLine.unsafeArgv[index] else { break }
            let bytes = Array(UnsafeBufferPointer(start: UnsafeRawPointer(pointer).assumingMemoryBound(to: UInt8.self),
                                                  count: strlen(pointer)))
            let name = Array(option.utf8)
            if bytes == name, index + 1 < count, let next = CommandLine.unsafeArgv[index + 1] {
                found = Array(UnsafeBufferPointer(start: UnsafeRawPointer(next).assumingMemoryBound(to: UInt8.self),
                                                  count: strlen(next)))
                index += 2
                continue
            }
            if bytes.starts(with: name + [UInt8(ascii: "=")]) { found = Array(bytes.dropFirst(name.count + 1)) }
            index += 1
        }
        return found
    }
}
