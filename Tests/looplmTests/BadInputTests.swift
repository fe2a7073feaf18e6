import Foundation
import Testing

/// Each bad input gives one line saying what is wrong, a non-zero exit, no damaged files.
@Suite(.serialized) struct BadInputTests {
    let root = temporaryDirectory("bad")

    func expectFailure(_ arguments: [String], mentions words: [String], sourceLocation: SourceLocation = #_sourceLocation) throws {
        let result = try Looplm.run(arguments)
        #expect(result.status != 0, "exit status for \(arguments)", sourceLocation: sourceLocation)
        let message = result.stderr.trimmingCharacters(in: .whitespacesAndNewlines)
        for word in words {
            #expect(message.contains(word), "'\(message)' should mention \(word)", sourceLocation: sourceLocation)
        }
        #expect(!message.contains("Fatal error") && !message.contains("Stack dump"), sourceLocation: sourceLocation)
    }

    /// Writes a token file in llm.c's format with the given header tokenizer id.
    func writeTokens(_ tokens: [UInt16], tokenizer: Int32, to path: String) throws {
        var header = [Int32](repeating: 0, count: 256)
        header[0] = 20_240_520
        header[1] = 1
        header[2] = Int32(tokens.count)
        header[3] = tokenizer
        var data = header.withUnsafeBufferPointer { Data(buffer: $0) }
        tokens.withUnsafeBufferPointer { data.append(Data(buffer: $0)) }
        try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent,
                                                withIntermediateDirectories: true)
        try data.write(to: URL(fileURLWithPath: path))
    }

    func trainArguments(_ data: String, _ out: String) -> [String] {
        ["train", "--data", data, "--out", out, "--preset", "tiny", "--steps", "2", "--batch", "2", "--context", "16"]
    }

    @Test func missingAndCorruptFiles() throws {
        try expectFailure(["eval", root + "/nothing", "--data", root + "/x.bin"], mentions: ["config.json"])
        try expectFailure(trainArguments(root + "/nodata", root + "/out"), mentions: ["train.bin", "prepare"])
        // A token file cut short.
        let data = root + "/cut"
        try writeTokens((0..<500).map { UInt16($0 % 256) }, tokenizer: 1, to: data + "/train.bin")
        let bytes = try Data(contentsOf: URL(fileURLWithPath: data + "/train.bin"))
        try bytes.prefix(bytes.count - 10).write(to: URL(fileURLWithPath: data + "/train.bin"))
        try expectFailure(trainArguments(data, root + "/out-cut"), mentions: ["truncated"])
        // A checkpoint whose weights were cut short.
        let good = root + "/good"
        try writeTokens((0..<2000).map { UInt16($0 % 256) }, tokenizer: 1, to: good + "/train.bin")
        let trained = try Looplm.run(trainArguments(good, root + "/run"))
        #expect(trained.status == 0, "\(trained.stderr)")
        let weights = root + "/run/latest/model.safetensors"
        let original = try Data(contentsOf: URL(fileURLWithPath: weights))
        try original.prefix(original.count / 2).write(to: URL(fileURLWithPath: weights))
        try expectFailure(["sample", root + "/run/latest", "--tokens", "2"], mentions: ["truncated", "model.safetensors"])
        // A config that disagrees with its tensors.
        try original.write(to: URL(fileURLWithPath: weights))
        let configPath = root + "/run/latest/config.json"
        let config = try String(contentsOfFile: configPath, encoding: .utf8)
        try config.replacingOccurrences(of: "\"n_embd\" : 64", with: "\"n_embd\" : 128")
            .write(toFile: configPath, atomically: true, encoding: .utf8)
        try expectFailure(["eval", root + "/run/latest", "--data", good + "/train.bin"], mentions: ["shape", "wte.weight"])
    }

    @Test func dataThatDoesNotFitTheModel() throws {
        let short = root + "/short"
        try writeTokens([1, 2, 3, 4, 5], tokenizer: 1, to: short + "/train.bin")
        try expectFailure(trainArguments(short, root + "/o1"), mentions: ["fewer than one context"])
        let wide = root + "/wide"
        try writeTokens((0..<1000).map { UInt16($0) }, tokenizer: 1, to: wide + "/train.bin")
        try expectFailure(trainArguments(wide, root + "/o2"), mentions: ["outside the model's vocabulary"])
        let gpt2 = root + "/gpt2"
        try writeTokens((0..<1000).map { UInt16($0 % 256) }, tokenizer: 2, to: gpt2 + "/train.bin")
        let good = root + "/good2"
        try writeTokens((0..<2000).map { UInt16($0 % 256) }, tokenizer: 1, to: good + "/train.bin")
        #expect(try Looplm.run(trainArguments(good, root + "/run2")).status == 0)
        try expectFailure(["eval", root + "/run2/latest", "--data", gpt2 + "/train.bin"], mentions: ["tokenized with 'gpt2'"])
    }

    @Test func impossibleHyperparameters() throws {
        let good = root + "/good3"
        try writeTokens((0..<2000).map { UInt16($0 % 256) }, tokenizer: 1, to: good + "/train.bin")
        try expectFailure(trainArguments(good, root + "/p1") + ["--heads", "5"], mentions: ["heads", "divide"])
        try expectFailure(trainArguments(good, root + "/p2") + ["--lr", "nan"], mentions: ["--lr"])
        try expectFailure(trainArguments(good, root + "/p3") + ["--width", "0"], mentions: ["width"])
        try expectFailure(trainArguments(good, root + "/p4") + ["--loops", "0"], mentions: ["loops"])
        try expectFailure(["train", "--data", good, "--out", root + "/p5", "--preset", "gpt5"], mentions: ["unknown preset", "tiny"])
        try expectFailure(trainArguments(good, root + "/p6") + ["--context", "1000"], mentions: ["--context"])
        for out in ["p1", "p2", "p3", "p4", "p5", "p6"] {
            #expect(!FileManager.default.fileExists(atPath: root + "/\(out)/latest"))
        }
    }

    @Test func divergenceStopsAndKeepsTheLastGoodCheckpoint() throws {
        let good = root + "/good4"
        try writeTokens((0..<4000).map { UInt16(($0 * 7) % 256) }, tokenizer: 1, to: good + "/train.bin")
        let out = root + "/diverge"
        let result = try Looplm.run(["train", "--data", good, "--out", out, "--preset", "tiny", "--steps", "50",
                                     "--batch", "2", "--context", "16", "--lr", "1e30", "--warmup", "0",
                                     "--clip", "0", "--checkpoint-interval", "1", "--eval-interval", "0"])
        #expect(result.status != 0)
        #expect(result.stderr.contains("diverged"))
        // Whatever was saved is loadable and gives a finite loss.
        if FileManager.default.fileExists(atPath: out + "/latest") {
            let eval = try Looplm.run(["eval", out + "/latest", "--data", good + "/train.bin", "--max-batches", "1", "--json"])
            #expect(eval.status == 0, "\(eval.stderr)")
            #expect(json(eval.stdout)["loss"] is Double, "\(eval.stdout)")
        }
    }
}

/// Flags and inputs that trapped or were silently accepted before: each is a clear error now,
/// and the few that were wrong results are right.
@Suite(.serialized) struct FlagAndInputTests {
    let root = temporaryDirectory("flags")

    func trainedModel() throws -> (checkpoint: String, data: String) {
        let data = try preparedCorpus(in: root)
        let out = root + "/run"
        if !FileManager.default.fileExists(atPath: out + "/latest") {
            let trained = try Looplm.run(["train", "--data", data, "--out", out, "--preset", "tiny", "--steps", "2",
                                          "--batch", "2", "--context", "16"])
            #expect(trained.status == 0, "\(trained.stderr)")
        }
        return (out + "/latest", data)
    }

    @Test func flagsOutOfRangeAreErrorsNotTraps() throws {
        let (checkpoint, data) = try trainedModel()
        let cases: [([String], String)] = [
            (["info", "tiny", "--time", "0"], "--context"), (["info", "tiny", "--context", "1000000000000"], "--context"),
            (["info", "tiny", "--time=-1"], "--context"),
            (["eval", checkpoint, "--data", data + "/val.bin", "--max-batches=-1"], "--max-batches"),
            (["eval", checkpoint, "--data", data + "/val.bin", "--max-batches", "0"], "--max-batches"),
            (["train", "--data", data, "--out", root + "/w", "--width", "1000000000"], "width"),
            (["train", "--data", data, "--out", root + "/l", "--loops-sample", "lognormal-poisson:nan"], "loops-sample"),
            (["train", "--data", data, "--out", root + "/u", "--loops-sample", "uniform:5-3"], "loops-sample"),
            (["sample", checkpoint, "--top-k", "0"], "--top-k"), (["sample", checkpoint, "--top-k=-5"], "--top-k"),
            (["sample", checkpoint, "--loops", "1000000"], "--loops"),
            (["eval", checkpoint, "--data", data + "/val.bin", "--loops", "10000000"], "--loops"),
        ]
        for (arguments, word) in cases {
            let result = try Looplm.run(arguments)
            #expect(result.status != 0 && result.status != 134 && result.status != 132, "\(arguments): status \(result.status)")
            #expect(result.stderr.contains(word), "\(arguments): \(result.stderr)")
            #expect(!result.stderr.contains("Fatal error"), "\(arguments)")
        }
    }

    /// Every token of a file is scored: whole windows, then a last shorter one.
    @Test func evalScoresTheWholeFile() throws {
        let (checkpoint, _) = try trainedModel()
        let text = String(repeating: "the king shall speak of love. ", count: 100)  // 3000 bytes
        try text.write(toFile: root + "/eval.txt", atomically: true, encoding: .utf8)
        let result = try Looplm.run(["eval", checkpoint, "--data", root + "/eval.txt", "--context", "64", "--batch", "4", "--json"])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(json(result.stdout)["tokens"] as? Int == 2999)
    }

    /// The bytes tokenizer sees a prompt's bytes as given, invalid UTF-8 included.
    @Test func promptBytesReachTheBytesTokenizerRaw() throws {
        let (checkpoint, _) = try trainedModel()
        let result = try Looplm.runShell(#""$LOOPLM" sample "\#(checkpoint)" --prompt "$(printf 'A\377B')" --tokens 1 --json --threads 1"#)
        #expect(result.status == 0, "\(result.stderr)")
        #expect(json(result.stdout)["prompt_ids"] as? [Int] == [65, 255, 66])
    }

    @Test func aMissingValidationFileIsAnnounced() throws {
        let data = try preparedCorpus(in: temporaryDirectory("noval"))
        try FileManager.default.removeItem(atPath: data + "/val.bin")
        let result = try Looplm.run(["train", "--data", data, "--out", root + "/noval", "--preset", "tiny", "--steps", "1",
                                     "--batch", "2", "--context", "16", "--json"])
        #expect(result.status == 0 && result.stderr.contains("val.bin is missing"), "\(result.stderr)")
    }
}
