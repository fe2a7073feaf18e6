import ArgumentParser
import Foundation
import LoopKernels
import LoopTokenizer

/// Prints the ids of a text (or the text of ids), so they can be checked against other tools.
struct TokenizeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tokenize",
        abstract: "Print the token ids of a text, or with --decode the text of ids.",
        discussion: "With --bench FILE…, encode the files single-threaded and report MB/s instead.")

    @Argument(help: "Text to encode, or ids (space or comma separated) with --decode. Reads stdin if absent.")
    var input: String?
    @Option(help: "Tokenizer: bytes or gpt2.")
    var tokenizer: TokenizerKind = .standard
    @Option(help: "Directory with GPT-2's encoder.json and vocab.bpe (default: where scripts/setup.sh puts them).")
    var vocab: String?
    @Flag(help: "Decode ids into text.")
    var decode = false
    @Flag(help: "Let <|endoftext|> in the text become its special id.")
    var allowSpecial = false
    @Option(parsing: .upToNextOption, help: "Benchmark: encode these files and report throughput.")
    var bench: [String] = []
    @Flag(help: "Print JSON.")
    var json = false

    struct Encoded: Codable {
        let text: String
        let ids: [Int]
    }

    struct Benchmark: Codable {
        let implementation: String
        let bytes: Int, tokens: Int
        let seconds: Double, mbPerSecond: Double
        let threads: Int
        let cpu: String
    }

    func run() throws {
        let tok = try makeTokenizer(tokenizer, vocabulary: vocab)
        if !bench.isEmpty { return try benchmark(tok) }
        let text = input ?? String(decoding: FileHandle.standardInput.readDataToEndOfFile(), as: UTF8.self)
        if decode {
            let ids = try text.split(whereSeparator: { $0 == " " || $0 == "," || $0.isNewline }).map { part -> Int in
                guard let id = Int(part), id >= 0, id < tok.vocabSize else {
                    throw ValidationError("'\(part)' is not a token id of the \(tokenizer.rawValue) vocabulary (0..<\(tok.vocabSize))")
                }
                return id
            }
            let decoded = tok.decode(ids)
            if json { try printJSON(Encoded(text: decoded, ids: ids)) } else { print(decoded) }
        } else {
            let ids = allowSpecial ? (tok as? GPT2Tokenizer)?.encode(text, allowSpecial: true) ?? tok.encode(text)
                : tok.encode(text)
            if json { try printJSON(Encoded(text: text, ids: ids)) } else { print(ids.map(String.init).joined(separator: " ")) }
        }
    }

    func benchmark(_ tok: any Tokenizer) throws {
        var texts: [[UInt8]] = []
        for path in bench {
            guard let data = FileManager.default.contents(atPath: path) else { throw ValidationError("\(path): no such file") }
            texts.append(Array(data))
        }
        let bytes = texts.reduce(0) { $0 + $1.count }
        let start = Date()
        var tokens = 0
        for text in texts { tokens += tok.encode(bytes: text).count }
        let seconds = Date().timeIntervalSince(start)
        let megabytesPerSecond = Double(bytes) / 1e6 / seconds
        if json {
            try printJSON(Benchmark(implementation: "looplm", bytes: bytes, tokens: tokens, seconds: seconds,
                                    mbPerSecond: megabytesPerSecond, threads: 1, cpu: CPU.description))
        } else {
            print(String(format: "looplm %@: %d bytes → %d tokens in %.2f s: %.2f MB/s (1 thread)",
                         tokenizer.rawValue, bytes, tokens, seconds, megabytesPerSecond))
        }
    }
}

extension TokenizerKind: ExpressibleByArgument {}
