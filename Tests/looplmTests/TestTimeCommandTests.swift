import Foundation
import Testing

/// Elastic-depth training and test-time loop control through the real binary.
@Suite struct TestTimeCommandTests {
    @Test func elasticDepthResumesExactlyAndEvalControlsTheLoops() throws {
        let root = temporaryDirectory("elastic")
        _ = try preparedCorpus(in: root)
        let common = ["train", "--data", root + "/data", "--preset", "tiny-loop", "--steps", "8", "--batch", "2",
                      "--context", "32", "--eval-interval", "4", "--loops-sample", "lognormal-poisson:3:0.5:6",
                      "--backprop-loops", "2", "--inject-input", "--loop-embeddings", "4", "--json"]
        #expect(try Looplm.run(common + ["--out", root + "/whole"]).status == 0)
        #expect(try Looplm.run(common + ["--out", root + "/split", "--stop-at", "3"]).status == 0)
        let resumed = try Looplm.run(["train", "--data", root + "/data", "--out", root + "/split", "--resume"])
        #expect(resumed.status == 0, "\(resumed.stderr)")
        for file in ["model.safetensors", "training_state.safetensors"] {
            let a = FileManager.default.contents(atPath: root + "/whole/latest/" + file)
            #expect(a != nil && a == FileManager.default.contents(atPath: root + "/split/latest/" + file), "\(file)")
        }
        let loops = try String(contentsOfFile: root + "/whole/metrics.jsonl", encoding: .utf8)
            .split(separator: "\n").compactMap { json(String($0))["loops"] as? Int }
        #expect(loops.count == 8 && loops.allSatisfy { (1...6).contains($0) })
        let config = try String(contentsOfFile: root + "/whole/latest/config.json", encoding: .utf8)
        #expect(config.contains("\"loop_inject_input\" : true") && config.contains("\"loop_embeddings\" : 4"))
        let export = try Looplm.run(["export-hf", root + "/whole/latest", "--output", root + "/hf"])
        #expect(export.status != 0 && export.stderr.contains("cannot be exported"))

        let checkpoint = root + "/whole/latest", val = root + "/data/val.bin"
        let sweep = json(try Looplm.run(["eval", checkpoint, "--data", val, "--loop-sweep", "1...5", "--plot", root + "/sweep.svg",
                                         "--max-batches", "2", "--context", "32", "--json"]).stdout)
        let points = try #require(sweep["sweep"] as? [[String: Any]])
        #expect(points.map { $0["loops"] as! Int } == [1, 2, 3, 4, 5])
        #expect(try String(contentsOfFile: root + "/sweep.svg", encoding: .utf8).contains("<polyline"))
        // Threshold 0: every token runs every pass, and the loss is the fixed-loop loss.
        let fixed = json(try Looplm.run(["eval", checkpoint, "--data", val, "--loops", "5", "--max-batches", "1",
                                         "--batch", "2", "--context", "32", "--json"]).stdout)
        let zero = json(try Looplm.run(["eval", checkpoint, "--data", val, "--exit", "change:0", "--max-loops", "5",
                                        "--max-batches", "1", "--batch", "2", "--context", "32", "--json"]).stdout)
        #expect(zero["mean_loops"] as? Double == 5)
        #expect(abs((zero["loss"] as! Double) - (fixed["loss"] as! Double)) < 1e-4)
        let early = json(try Looplm.run(["eval", checkpoint, "--data", val, "--exit", "change:0.5", "--max-loops", "5",
                                         "--max-batches", "1", "--batch", "2", "--context", "32", "--json"]).stdout)
        #expect((early["mean_loops"] as! Double) < 5)
        let trace = json(try Looplm.run(["eval", checkpoint, "--trace", "the king shall", "--exit", "change:0.5",
                                         "--max-loops", "5", "--json"]).stdout)
        #expect((trace["loops"] as? [Int])?.count == 14 && (trace["tokens"] as? [String])?.joined() == "the king shall")
        let sample = json(try Looplm.run(["sample", checkpoint, "--tokens", "10", "--exit", "change:0.5", "--json"]).stdout)
        #expect(sample["mean_loops"] is Double)
    }
}
