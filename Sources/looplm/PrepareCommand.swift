import ArgumentParser
import Foundation
import LoopTokenizer
import LoopTraining

/// Text files → train.bin and val.bin token files (llm.c's format).
struct PrepareCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "prepare",
        abstract: "Tokenize text files into train.bin and val.bin (llm.c's token format).",
        discussion: """
            Inputs are text files or directories (every *.txt inside, sorted by name). Files whose \
            name contains one of --validation's words form the validation split, as whole \
            documents; the default names three plays of the Shakespeare corpus.
            """)

    @Argument(help: "Text files or directories of *.txt files.")
    var inputs: [String]
    @Option(help: "Output directory for train.bin and val.bin.")
    var output: String
    @Option(help: "Tokenizer: bytes or gpt2.")
    var tokenizer: String = "bytes"
    @Option(help: "Comma-separated words; files whose name contains one go to validation.")
    var validation: String = "hamlet,macbeth,tempest"
    @Flag(help: "Print the result as JSON.")
    var json = false

    func run() throws {
        guard let kind = TokenizerKind(rawValue: tokenizer) else {
            throw ValidationError("unknown tokenizer '\(tokenizer)'; choose bytes or gpt2")
        }
        let tok = try makeTokenizer(kind)
        let files = try collectFiles()
        let words = validation.split(separator: ",").map { $0.lowercased() }
        var train: [UInt16] = [], val: [UInt16] = [], valFiles: [String] = []
        for file in files {
            guard let data = FileManager.default.contents(atPath: file) else { throw DataError.missingFile(file) }
            let ids = tok.encode(bytes: Array(data))
            guard ids.allSatisfy({ $0 <= Int(UInt16.max) }) else {
                throw DataError.corrupt(file, "token ids do not fit in 16 bits")
            }
            let name = (file as NSString).lastPathComponent.lowercased()
            if words.contains(where: { !$0.isEmpty && name.contains($0) }) {
                val += ids.map { UInt16($0) }
                valFiles.append((file as NSString).lastPathComponent)
            } else {
                train += ids.map { UInt16($0) }
            }
        }
        guard !train.isEmpty else { throw DataError.noInput("no training text: every input matched --validation") }
        try FileManager.default.createDirectory(atPath: output, withIntermediateDirectories: true)
        try TokenFile(path: output + "/train.bin", tokens: train, tokenizer: kind).write()
        try TokenFile(path: output + "/val.bin", tokens: val, tokenizer: kind).write()
        if json {
            try printJSON(["files": files.count, "train_tokens": train.count, "val_tokens": val.count,
                           "validation_files": valFiles, "tokenizer": kind.rawValue, "output": output])
        } else {
            print("prepared \(files.count) files with the \(kind.rawValue) tokenizer: \(train.count) train tokens, \(val.count) validation tokens (\(valFiles.joined(separator: ", "))) → \(output)")
        }
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
