import Foundation
import Testing

/// The real binary on a tiny model: prepare, train, stop, resume, evaluate, sample.
@Suite(.serialized) struct TrainingCommandTests {
    let root = temporaryDirectory("cli")

    func prepare() throws -> String {
        let corpus = try writeCorpus(in: root)
        let data = root + "/data"
        let result = try Looplm.run(["prepare", corpus, "--output", data, "--validation", "tempest", "--json"])
        #expect(result.status == 0, "\(result.stderr)")
        let summary = json(result.stdout)
        #expect(summary["validation_files"] as? [String] == ["tempest_gut.txt"])
        #expect((summary["train_tokens"] as? Int ?? 0) > 10_000)
        return data
    }

    func train(_ data: String, _ out: String, _ extra: [String] = []) throws -> CommandResult {
        try Looplm.run(["train", "--data", data, "--out", out, "--preset", "tiny-loop", "--steps", "8",
                        "--batch", "2", "--context", "32", "--eval-interval", "3", "--eval-batches", "2",
                        "--checkpoint-interval", "5", "--json"] + extra)
    }

    @Test func stoppedAndResumedRunEqualsUninterruptedRunBitForBit() throws {
        let data = try prepare()
        let whole = try train(data, root + "/whole")
        #expect(whole.status == 0, "\(whole.stderr)")
        let first = try train(data, root + "/split", ["--stop-at", "4"])
        #expect(first.status == 0 && json(first.stdout)["interrupted"] as? Bool == true)
        let second = try Looplm.run(["train", "--data", data, "--out", root + "/split", "--resume", "--json"])
        #expect(second.status == 0, "\(second.stderr)")
        #expect(json(second.stdout)["step"] as? Int == 8)
        for file in ["model.safetensors", "training_state.safetensors", "config.json"] {
            let a = FileManager.default.contents(atPath: root + "/whole/latest/" + file)
            let b = FileManager.default.contents(atPath: root + "/split/latest/" + file)
            #expect(a != nil && a == b, "\(file) differs between the whole and the resumed run")
        }
        let lines = try String(contentsOfFile: root + "/split/metrics.jsonl", encoding: .utf8)
            .split(separator: "\n").map { json(String($0)) }
        #expect(lines.map { $0["step"] as? Int } == (1...8).map { $0 })
        #expect(lines.allSatisfy { $0["train_loss"] is Double && $0["lr"] is Double && $0["grad_norm"] is Double })
        #expect(lines.contains { $0["val_loss"] is Double })
        #expect(FileManager.default.fileExists(atPath: root + "/whole/best/model.safetensors"))

        // A second start into the same directory refuses instead of overwriting the run.
        let again = try train(data, root + "/whole")
        #expect(again.status != 0 && again.stderr.contains("--resume"))

        // Evaluate and sample the result.
        let eval = try Looplm.run(["eval", root + "/whole/latest", "--data", data + "/val.bin", "--json"])
        let metrics = json(eval.stdout)
        let loss = try #require(metrics["loss"] as? Double)
        #expect(abs(metrics["bits_per_byte"] as! Double - loss / log(2)) < 1e-6, "bytes tokenizer: bits/byte = nats/ln 2")
        #expect(abs(metrics["perplexity"] as! Double - exp(loss)) < 1e-6)
        let deeper = json(try Looplm.run(["eval", root + "/whole/latest", "--data", data + "/val.bin", "--loops", "5", "--json"]).stdout)
        #expect(deeper["effective_depth"] as? Int == 7 && deeper["loss"] as? Double != loss)
        let sampleA = try Looplm.run(["sample", root + "/whole/latest", "--prompt", "the king", "--tokens", "20", "--temperature", "0", "--json"])
        let sampleB = try Looplm.run(["sample", root + "/whole/latest", "--prompt", "the king", "--tokens", "20", "--temperature", "0", "--json"])
        #expect(sampleA.status == 0 && sampleA.stdout == sampleB.stdout)
        #expect((json(sampleA.stdout)["ids"] as? [Int])?.count == 20)
        // The key/value cache gives what recomputing the window gives, past the context too.
        let long = ["sample", root + "/whole/latest", "--prompt", "the king", "--tokens", "90", "--temperature", "0.9",
                    "--seed", "7", "--loops", "3", "--json"]
        let cached = json(try Looplm.run(long).stdout)["ids"] as? [Int]
        let recomputed = json(try Looplm.run(long + ["--no-cache"]).stdout)["ids"] as? [Int]
        #expect(cached != nil && cached == recomputed)
        let info = json(try Looplm.run(["info", root + "/whole/latest", "--json"]).stdout)
        #expect(info["effective_depth"] as? Int == 5 && info["unique_blocks"] as? Int == 3 && info["step"] as? Int == 8)
    }

    @Test func interruptSavesAndExitsZero() throws {
        let data = try prepare()
        let out = root + "/interrupted"
        let result = try Looplm.run(
            ["train", "--data", data, "--out", out, "--preset", "tiny", "--steps", "100000", "--batch", "2",
             "--context", "32", "--eval-interval", "0", "--checkpoint-interval", "0", "--json"],
            signalAfter: { ((try? String(contentsOfFile: out + "/metrics.jsonl", encoding: .utf8)) ?? "").count > 0 })
        #expect(result.status == 0, "\(result.stderr)")
        let summary = json(result.stdout)
        #expect(summary["interrupted"] as? Bool == true)
        let step = try #require(summary["step"] as? Int)
        #expect(step >= 1)
        let info = json(try Looplm.run(["info", out + "/latest", "--json"]).stdout)
        #expect(info["step"] as? Int == step)
    }
}
