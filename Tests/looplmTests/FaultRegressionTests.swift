import Foundation
import LoopCheckpoint
import LoopKernels
import Testing

/// The faults of the second fuzzing round (issue 20), each with the real binary: one clear
/// line and a non-zero exit, or correct behaviour.
@Suite(.serialized) struct FaultRegressionTests {
    let root = temporaryDirectory("faults2")

    /// A trained tiny run and its data folder (bytes).
    func trainedRun(_ name: String = "run") throws -> (run: String, data: String) {
        let data = root + "/data"
        if !FileManager.default.fileExists(atPath: data + "/train.bin") { _ = try preparedCorpus(in: root) }
        let run = root + "/" + name
        let trained = try Looplm.run(["train", "--data", data, "--out", run, "--preset", "tiny", "--steps", "4",
                                      "--batch", "2", "--context", "16", "--eval-interval", "2", "--eval-batches", "1"])
        #expect(trained.status == 0, "\(trained.stderr)")
        return (run, data)
    }

    /// A copy of `checkpoint` whose tensor `name` is rewritten by `change`.
    func edited(_ checkpoint: String, _ name: String, as copy: String, _ change: (inout [Float]) -> Void) throws -> String {
        let target = root + "/" + copy
        try? FileManager.default.removeItem(atPath: target)  // a copy from an earlier case, if any
        try FileManager.default.copyItem(atPath: checkpoint, toPath: target)
        let path = target + "/" + Checkpoint.weightsFile
        let file = try SafeTensorsFile(path: path)
        var writer = SafeTensorsWriter()
        var buffers: [FloatBuffer] = []
        for stored in file.entries.keys.sorted() {
            var values = try file.floats(stored)
            if stored == name { change(&values) }
            let buffer = try FloatBuffer(values)
            buffers.append(buffer)
            writer.add(stored, shape: file.entries[stored]!.shape, floats: buffer.pointer)
        }
        try withExtendedLifetime(buffers) { try writer.write(to: path + ".new") }
        try FileManager.default.removeItem(atPath: path)
        try FileManager.default.moveItem(atPath: path + ".new", toPath: path)
        return target
    }

    func editConfig(_ checkpoint: String, _ change: (inout String) -> Void) throws {
        let path = checkpoint + "/" + Checkpoint.configFile
        var text = try String(contentsOfFile: path, encoding: .utf8)
        change(&text)
        try text.write(toFile: path, atomically: true, encoding: .utf8)
    }

    func expect(_ arguments: [String], status: Int32, mentions words: [String] = [],
                sourceLocation: SourceLocation = #_sourceLocation) throws {
        let result = try Looplm.run(arguments)
        #expect(result.status == status, "\(arguments): status \(result.status), \(result.stderr)", sourceLocation: sourceLocation)
        for word in words {
            #expect(result.stderr.contains(word), "\(arguments): '\(result.stderr)' should mention \(word)",
                    sourceLocation: sourceLocation)
        }
        for leak in ["Fatal error", "NSCocoaErrorDomain", "EncodingError", "Stack dump"] {
            #expect(!result.stderr.contains(leak), "\(arguments): \(result.stderr)", sourceLocation: sourceLocation)
        }
    }

    /// Fault 2: a group whose largest weight is a tiny normal number used to trap in int8.
    @Test func tinyWeightsLoadInEveryPrecision() throws {
        let (run, data) = try trainedRun()
        let tiny = try edited(run + "/latest", "h.0.attn.c_attn.weight", as: "tiny") { values in
            for i in values.indices { values[i] = 1e-38 }
        }
        for weights in ["f32", "bf16", "int8"] {
            try expect(["eval", tiny, "--data", data + "/val.bin", "--max-batches", "1", "--weights", weights], status: 0)
            try expect(["sample", tiny, "--tokens", "3", "--weights", weights], status: 0)
        }
    }

    /// Fault 6: resume checks the checkpoint's tokenizer against the data, and the bad value
    /// never reaches a new checkpoint.
    @Test func resumeRefusesAnEditedTokenizer() throws {
        let (run, _) = try trainedRun()
        let data = root + "/data"
        let cases: [(String, String)] = [("\"xyz\"", "unknown tokenizer"), ("\"\"", "unknown tokenizer"),
                                         ("\"bytgs\"", "unknown tokenizer"), ("\"gpt2\"", "records the tokenizer 'gpt2'")]
        for (value, word) in cases {
            let copy = root + "/tok-\(cases.firstIndex { $0.0 == value }!)"
            try FileManager.default.copyItem(atPath: run, toPath: copy)
            try editConfig(copy + "/latest") { $0 = $0.replacingOccurrences(of: "\"bytes\"", with: value) }
            let before = contents(copy + "/latest/" + Checkpoint.weightsFile)
            try expect(["train", "--data", data, "--out", copy, "--resume", "--steps", "6"], status: 1, mentions: [word])
            #expect(contents(copy + "/latest/" + Checkpoint.weightsFile) == before)
        }
        let missing = root + "/tok-missing"
        try FileManager.default.copyItem(atPath: run, toPath: missing)
        try editConfig(missing + "/latest") { text in
            text = text.split(separator: "\n").filter { !$0.contains("looplm_tokenizer") }.joined(separator: "\n")
        }
        try expect(["train", "--data", data, "--out", missing, "--resume"], status: 1, mentions: ["records the tokenizer 'gpt2'"])
    }

    /// Fault 8: weights so large that the forward pass overflows are damaged, whatever the
    /// command; and such weights at a resume are not "divergence, lower --lr".
    @Test func overflowingWeightsAreAnErrorNotALoss() throws {
        let (run, data) = try trainedRun()
        let edits: [(String, (inout [Float]) -> Void)] = [
            ("h.0.mlp.c_proj.weight", { for i in $0.indices { $0[i] = .greatestFiniteMagnitude } }),
            ("wte.weight", { $0[0] = .greatestFiniteMagnitude }),
            ("wte.weight", { for i in $0.indices { $0[i] = 1e30 } }),
        ]
        for (index, (tensor, change)) in edits.enumerated() {
            let damaged = try edited(run + "/latest", tensor, as: "huge-\(index)", change)
            try expect(["eval", damaged, "--data", data + "/val.bin", "--max-batches", "2"], status: 1, mentions: ["overflowed"])
            try expect(["sample", damaged, "--tokens", "3", "--weights", "int8"], status: 1, mentions: ["overflowed"])
        }
        let resumable = root + "/huge-run"
        try FileManager.default.copyItem(atPath: run, toPath: resumable)
        let damaged = try edited(run + "/latest", "h.0.mlp.c_proj.weight", as: "huge-latest") { values in
            for i in values.indices { values[i] = .greatestFiniteMagnitude }
        }
        try FileManager.default.removeItem(atPath: resumable + "/latest/" + Checkpoint.weightsFile)
        try FileManager.default.copyItem(atPath: damaged + "/" + Checkpoint.weightsFile,
                                         toPath: resumable + "/latest/" + Checkpoint.weightsFile)
        try expect(["train", "--data", data, "--out", resumable, "--resume", "--steps", "6"], status: 1,
                   mentions: ["damaged", "not the cause"])
    }

    /// Faults 9 and 11: flags that used to be ignored or clamped, and files that are not what
    /// they should be, each named in one line.
    @Test func silentAcceptsAndUnclearMessages() throws {
        let (run, data) = try trainedRun()
        let checkpoint = run + "/latest"
        let prompts = root + "/prompts.txt"
        try Data("first\r\n\r\nsecond\r\n".utf8).write(to: URL(fileURLWithPath: prompts))
        try expect(["sample", checkpoint, "--prompts", prompts, "--prompt", "x"], status: 64, mentions: ["not both"])
        let crlf = try Looplm.run(["sample", checkpoint, "--prompts", prompts, "--tokens", "2", "--json"])
        #expect(crlf.status == 0 && crlf.stderr.contains("skipped 1 empty line"), "\(crlf.stderr)")
        let outputs = (try JSONSerialization.jsonObject(with: Data(crlf.stdout.utf8)) as? [[String: Any]]) ?? []
        #expect(outputs.map { $0["prompt"] as? String } == ["first", "second"], "\(crlf.stdout)")
        for batches in ["0", ",,", "100000000", "1,,2", "x"] {
            try expect(["bench", "--generate", "--preset", "tiny", "--batches", batches], status: 64, mentions: ["--batches"])
        }
        try expect(["bench", "--generate", "--preset", "tiny", "--prompt-tokens", "100000"], status: 64, mentions: ["context"])
        try expect(["experiment", "--suite", "reasoning", "--data", data, "--out", root + "/x"], status: 64, mentions: ["--data"])
        // info reads the weights file's header, not just config.json.
        let emptyWeights = root + "/empty-weights"
        try FileManager.default.copyItem(atPath: checkpoint, toPath: emptyWeights)
        try Data().write(to: URL(fileURLWithPath: emptyWeights + "/" + Checkpoint.weightsFile))
        try expect(["info", emptyWeights], status: 1, mentions: ["model.safetensors", "truncated"])
        try editConfig(emptyWeights) { $0 = $0.replacingOccurrences(of: "\"n_embd\" : 64", with: "\"n_embd\" : 64.5") }
        try expect(["info", emptyWeights], status: 1, mentions: ["'n_embd' is 64.5", "integer"])
        // Files where folders should be, folders and devices where files should be.
        try expect(["eval", checkpoint, "--data", data, "--loop-sweep", "1...2", "--plot", root + "/no/such/plot.svg"],
                   status: 1, mentions: ["cannot write", "not a folder"])
        let aFile = root + "/a-file"
        try Data("x".utf8).write(to: URL(fileURLWithPath: aFile))
        try expect(["prepare", data + "/../corpus", "--output", aFile], status: 1, mentions: ["is a file, not a folder"])
        try expect(["experiment", "--suite", "mini", "--data", data, "--out", aFile], status: 1, mentions: ["is a file"])
        let emptyText = root + "/empty.txt"
        try Data().write(to: URL(fileURLWithPath: emptyText))
        try expect(["prepare", emptyText, "--output", root + "/p"], status: 1, mentions: ["is empty"])
        try expect(["train", "--data", "/dev/null", "--out", root + "/t"], status: 1, mentions: ["not a folder of token files"])
        try expect(["eval", checkpoint, "--data", "/dev/zero"], status: 1, mentions: ["is a device"])
        try expect(["sample", checkpoint, "--prompts", data], status: 1, mentions: ["is a folder"])
        try expect(["sample", checkpoint + "/config.json"], status: 1, mentions: ["is not a folder"])
        try expect(["experiment", "--suite", "nope", "--out", root + "/x"], status: 64, mentions: ["'nope' is invalid", "reasoning"])
        try expect(["experiment", "--suite", "reasoning", "--task", "nope", "--out", root + "/x"], status: 64,
                   mentions: ["unknown task", "chains"])
        try expect(["sample", checkpoint, "--tokens", "-5"], status: 64, mentions: ["--tokens must be"])
        try expect(["sample", checkpoint, "--temperature", "-1"], status: 64, mentions: ["--temperature must be"])
    }

    /// Fault 10: usage errors exit 64, file and data errors exit 1, everywhere.
    @Test func oneExitCodeRule() throws {
        let (run, data) = try trainedRun()
        let train = ["train", "--data", data, "--out", root + "/codes", "--preset", "tiny"]
        for flags in [["--steps", "0"], ["--lr", "nan"], ["--backprop-loops", "0"], ["--batch", "0"],
                      ["--max-tokens", "0"], ["--threads", "0"], ["--warmup", "-1"], ["--preset", "gpt5"]] {
            try expect(train + flags, status: 64)
        }
        try expect(["experiment", "--suite", "reasoning", "--task", "nope", "--out", root + "/x"], status: 64)
        try expect(["experiment", "--suite", "reasoning", "--loops", "0", "--out", root + "/x"], status: 64)
        try expect(["sample", run + "/latest", "--prompts", root + "/none.txt"], status: 1, mentions: ["no such file"])
        try expect(["train", "--data", root + "/none", "--out", root + "/y"], status: 1, mentions: ["train.bin"])
        let unknown = root + "/unknown-tokenizer"
        try FileManager.default.copyItem(atPath: run + "/latest", toPath: unknown)
        try editConfig(unknown) { $0 = $0.replacingOccurrences(of: "\"bytes\"", with: "\"nope\"") }
        let result = try Looplm.run(["sample", unknown])
        #expect(result.status == 1 && result.stderr.contains("unknown tokenizer") && !result.stderr.contains("Usage"))
    }
}
