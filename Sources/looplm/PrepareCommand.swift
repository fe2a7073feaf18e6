import ArgumentParser
import Dispatch
import Foundation
import LoopCheckpoint
import LoopTokenizer
import LoopTraining
import Synchronization

/// Per-file results filled by several threads, behind a mutex.
final class ResultSlots: Sendable {
    private struct State {
        var slots: [[UInt16]?]
        var bytes = 0
        var next = 0
        var failure: DataError?
    }

    private let state: Mutex<State>

    init(count: Int) { state = Mutex(State(slots: Array(repeating: nil, count: count))) }

    /// The next file to encode, or nil when all are taken or one failed.
    func nextIndex() -> Int? {
        state.withLock { state in
            guard state.failure == nil, state.next < state.slots.count else { return nil }
            state.next += 1
            return state.next - 1
        }
    }

    func store(_ ids: [UInt16], bytes count: Int, at index: Int) {
        state.withLock { state in
            state.slots[index] = ids
            state.bytes += count
        }
    }

    func fail(_ error: DataError) {
        state.withLock { state in if state.failure == nil { state.failure = error } }
    }

    func collect() throws(DataError) -> ([[UInt16]], Int) {
        let (slots, bytes, failure) = state.withLock { ($0.slots, $0.bytes, $0.failure) }
        if let failure { throw failure }
        return (slots.map { $0 ?? [] }, bytes)
    }
}

/// Text files → train.bin and val.bin token files (llm.c's format).
struct PrepareCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "prepare",
        abstract: "Tokenize text files into train.bin and val.bin (llm.c's token format).",
        discussion: """
            Inputs are text files or directories (every *.txt inside, sorted by name). Files whose \
            name contains one of --validation's words form the validation split, as whole \
            documents; the default names three plays of the Shakespeare corpus. When no name \
            matches (one text file, say), or with --val-fraction F, the last F of the tokens \
            (default 0.1) is the validation split instead. Neither split is ever empty.
            """)

    @Argument(help: "Text files or directories of *.txt files.")
    var inputs: [String]
    @Option(help: "Output directory for train.bin and val.bin.")
    var output: String
    @Option(help: "Tokenizer: bytes or gpt2.")
    var tokenizer: TokenizerKind = .standard
    @Option(help: "Directory with GPT-2's encoder.json and vocab.bpe (default: where scripts/setup.sh puts them).")
    var vocab: String?
    @Option(help: "Comma-separated words; files whose name contains one go to validation.")
    var validation: String = "hamlet,macbeth,tempest"
    @Option(parsing: .unconditional, help: "Hold out the last F of the tokens for validation instead of whole files (default when no file matches --validation: 0.1).")
    var valFraction: Double?
    @Option(parsing: .unconditional, help: "Threads encoding files in parallel.")
    var threads: Int = 2
    @Flag(help: "Print the result as JSON.")
    var json = false

    func validate() throws {
        guard (1...ComputeOptions.maximumThreads).contains(threads) else {
            throw ValidationError("--threads must be in 1...\(ComputeOptions.maximumThreads)")
        }
        if let valFraction, !(valFraction > 0 && valFraction < 1) { throw ValidationError("--val-fraction must be in (0, 1)") }
    }

    struct Report: Codable {
        let files: Int, trainTokens: Int, valTokens: Int
        let validationFiles: [String]
        let valFraction: Double?
        let tokenizer: String, output: String
        let bytes: Int, encodeSeconds: Double, threads: Int
    }

    func run() throws {
        let tok = try makeTokenizer(tokenizer, vocabulary: vocab)
        let files = try collectFiles()
        let start = Date()
        let (encoded, bytes) = try encodeInParallel(files, tok)
        let seconds = Date().timeIntervalSince(start)
        let documents = zip(files, encoded).map { (name: ($0.0 as NSString).lastPathComponent, tokens: $0.1) }
        let split = try DatasetSplit.make(documents: documents, words: validation.split(separator: ",").map(String.init),
                                          fraction: valFraction)
        try AtomicFiles.makeFolder(output)
        try TokenFile(path: output + "/" + TokenData.trainFile, tokens: split.train, tokenizer: tokenizer).write()
        try TokenFile(path: output + "/" + TokenData.validationFile, tokens: split.validation, tokenizer: tokenizer).write()
        if json {
            try printJSON(Report(files: files.count, trainTokens: split.train.count, valTokens: split.validation.count,
                                 validationFiles: split.validationDocuments, valFraction: split.heldOutFraction,
                                 tokenizer: tokenizer.rawValue, output: output, bytes: bytes, encodeSeconds: seconds,
                                 threads: threads))
        } else {
            let heldOut = split.heldOutFraction.map { "the last \(Int(($0 * 100).rounded()))% of the tokens" }
                ?? split.validationDocuments.joined(separator: ", ")
            print("prepared \(files.count) file(s) with the \(tokenizer.rawValue) tokenizer: \(split.train.count) train tokens, \(split.validation.count) validation tokens (\(heldOut)) → \(output)")
            print(String(format: "encoded %.1f MB in %.2f s (%.1f MB/s on %d thread%@)",
                         Double(bytes) / 1e6, seconds, Double(bytes) / 1e6 / seconds, threads, threads == 1 ? "" : "s"))
        }
    }

    /// Encodes each file (a document; GPT-2's <|endoftext|> is appended after it) on
    /// `threads` threads, each with its own tokenizer, taking files from a shared queue.
    func encodeInParallel(_ files: [String], _ tok: any Tokenizer) throws -> ([[UInt16]], Int) {
        let results = ResultSlots(count: files.count)
        DispatchQueue.concurrentPerform(iterations: min(threads, files.count)) { _ in
            while let index = results.nextIndex() {
                guard let data = FileManager.default.contents(atPath: files[index]) else {
                    return results.fail(DataError.missingFile(files[index]))
                }
                var ids = tok.encode(bytes: Array(data))
                if let separator = tok.documentSeparator { ids.append(separator) }
                guard ids.allSatisfy({ $0 <= Int(UInt16.max) }) else {
                    return results.fail(DataError.corrupt(files[index], "token ids do not fit in 16 bits"))
                }
                results.store(ids.map { UInt16($0) }, bytes: data.count, at: index)
            }
        }
        return try results.collect()
    }

    func collectFiles() throws -> [String] {
        var files: [String] = []
        let manager = FileManager.default
        for input in inputs {
            var isDirectory: ObjCBool = false
            guard manager.fileExists(atPath: input, isDirectory: &isDirectory) else { throw DataError.missingFile(input) }
            if isDirectory.boolValue {
                let names = try manager.contentsOfDirectory(atPath: input).filter { $0.hasSuffix(".txt") }.sorted()
                files += names.map { input + "/" + $0 }
            } else {
                files.append(input)
            }
        }
        guard !files.isEmpty else { throw DataError.noInput("no .txt files found in \(inputs.joined(separator: ", "))") }
        return files
    }
}
