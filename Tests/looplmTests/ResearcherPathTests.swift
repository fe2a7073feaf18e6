import Foundation
import Testing

/// A new user's first hour (issue 21): one text file to a dataset, resume that does what was
/// asked, fine-tuning from a checkpoint, run folders wherever a checkpoint is asked for.
@Suite(.serialized) struct ResearcherPathTests {
    let root = temporaryDirectory("researcher")

    /// One text file, as nanoGPT's Shakespeare: the last 10% becomes validation.
    func oneFileDataset() throws -> String {
        let corpus = try writeCorpus(in: root)
        let text = try String(contentsOfFile: corpus + "/comedy_gut.txt", encoding: .utf8)
        try text.write(toFile: root + "/input.txt", atomically: true, encoding: .utf8)
        let prepared = try Looplm.run(["prepare", root + "/input.txt", "--output", root + "/one", "--json"])
        #expect(prepared.status == 0, "\(prepared.stderr)")
        let report = json(prepared.stdout)
        let total = text.utf8.count
        #expect(report["val_tokens"] as? Int == Int((Double(total) * 0.1).rounded()))
        #expect((report["train_tokens"] as? Int ?? 0) + (report["val_tokens"] as? Int ?? 0) == total)
        return root + "/one"
    }

    func train(_ data: String, _ out: String, _ extra: [String] = []) throws -> CommandResult {
        try Looplm.run(["train", "--data", data, "--out", out, "--preset", "tiny", "--steps", "4", "--batch", "2",
                        "--context", "16", "--eval-interval", "2", "--eval-batches", "1"] + extra)
    }

    @Test func oneTextFileGivesATrainableDatasetAndNeverAnEmptySplit() throws {
        let data = try oneFileDataset()
        let trained = try train(data, root + "/run")
        #expect(trained.status == 0 && !trained.stderr.contains("val.bin is missing"), "\(trained.stderr)")
        // The header says what is about to happen.
        for word in ["parameters", "effective depth", "MFLOP per token", "training tokens", "validation tokens"] {
            #expect(trained.stderr.contains(word), "header should mention \(word): \(trained.stderr)")
        }
        let fraction = try Looplm.run(["prepare", root + "/input.txt", "--output", root + "/quarter", "--val-fraction", "0.25", "--json"])
        #expect(json(fraction.stdout)["val_fraction"] as? Double == 0.25)
        let tiny = root + "/tiny.txt"
        try Data("ab".utf8).write(to: URL(fileURLWithPath: tiny))
        let refused = try Looplm.run(["prepare", tiny, "--output", root + "/none"])
        #expect(refused.status == 1 && refused.stderr.contains("too few"), "\(refused.stderr)")
        #expect(!FileManager.default.fileExists(atPath: root + "/none/val.bin"))
        let bad = try Looplm.run(["prepare", tiny, "--output", root + "/none", "--val-fraction", "1.5"])
        #expect(bad.status == 64)
    }

    @Test func resumeRefusesConflictingFlagsAndAnnouncesAllowedChanges() throws {
        let data = try oneFileDataset()
        let run = root + "/resume"
        #expect(try train(data, run).status == 0)
        let before = contents(run + "/latest/model.safetensors")
        let conflicting = try Looplm.run(["train", "--data", data, "--out", run, "--resume", "--steps", "6", "--lr", "0.01",
                                          "--batch", "3", "--width", "32"])
        #expect(conflicting.status == 64, "\(conflicting.stderr)")
        for word in ["--lr 0.01 (saved: 0.001)", "--batch 3 (saved: 2)", "--width 32 (it has 64)"] {
            #expect(conflicting.stderr.contains(word), "\(conflicting.stderr)")
        }
        #expect(contents(run + "/latest/model.safetensors") == before, "nothing ran")
        // Repeating a saved value is no conflict; a longer schedule, intervals and threads may change.
        let extended = try Looplm.run(["train", "--data", data, "--out", run, "--resume", "--steps", "6", "--batch", "2",
                                       "--eval-interval", "3", "--checkpoint-interval", "6", "--json"])
        #expect(extended.status == 0, "\(extended.stderr)")
        #expect(extended.stderr.contains("the schedule now ends at step 6 instead of 4"))
        #expect(extended.stderr.contains("validating every 3 steps instead of 2"))
        #expect(json(extended.stdout)["step"] as? Int == 6)
        let shorter = try Looplm.run(["train", "--data", data, "--out", run, "--resume", "--steps", "5"])
        #expect(shorter.status != 0 && shorter.stderr.contains("already at step 6"), "\(shorter.stderr)")
    }

    @Test func initFineTunesFromEveryKindOfCheckpoint() throws {
        let data = try oneFileDataset()
        let base = root + "/base"
        #expect(try Looplm.run(["train", "--data", data, "--out", base, "--preset", "tiny-loop", "--steps", "4", "--batch", "2",
                                "--context", "16", "--eval-batches", "1"]).status == 0)
        #expect(try Looplm.run(["export-hf", base + "/latest", "--output", root + "/hf"]).status == 0)
        #expect(try Looplm.run(["import-hf", root + "/hf", "--output", root + "/imported", "--prelude", "1", "--looped", "1",
                                "--coda", "1", "--loops", "3"]).status == 0)
        for (name, start) in [("latest", base + "/latest"), ("best", base + "/best"), ("run folder", base),
                              ("export-hf", root + "/hf"), ("import-hf", root + "/imported")] {
            let out = root + "/tuned-\(name.replacingOccurrences(of: " ", with: "-"))"
            let tuned = try Looplm.run(["train", "--data", data, "--out", out, "--init", start, "--steps", "2", "--batch", "2",
                                        "--context", "16", "--eval-batches", "1", "--lr", "1e-4", "--json"])
            #expect(tuned.status == 0, "\(name): \(tuned.stderr)")
            // A fresh schedule: the run counts its own steps from 0.
            #expect(json(tuned.stdout)["step"] as? Int == 2, "\(name)")
        }
        // The weights really are the checkpoint's: at learning rate 0 the first validation equals
        // the checkpoint's loss on the same batch.
        let frozen = try Looplm.run(["train", "--data", data, "--out", root + "/zero", "--init", base + "/latest", "--steps", "1",
                                     "--batch", "2", "--context", "16", "--eval-batches", "1", "--lr", "1e-30", "--min-lr", "0",
                                     "--json"])
        let scratch = try Looplm.run(["train", "--data", data, "--out", root + "/scratch", "--preset", "tiny-loop", "--steps", "1",
                                      "--batch", "2", "--context", "16", "--eval-batches", "1", "--lr", "1e-30", "--min-lr", "0",
                                      "--json"])
        let a = json(frozen.stdout)["val_loss"] as? Double, b = json(scratch.stdout)["val_loss"] as? Double
        let reference = json(try Looplm.run(["eval", base + "/latest", "--data", data, "--batch", "2", "--context", "16",
                                             "--max-batches", "1", "--json"]).stdout)["loss"] as? Double
        #expect(a != nil && b != nil && a != b, "from the checkpoint \(String(describing: a)), from scratch \(String(describing: b))")
        #expect(abs((a ?? 0) - (reference ?? 1)) < 1e-5, "\(String(describing: a)) against the checkpoint's \(String(describing: reference))")
        // --loops may change (same weights); layout flags that contradict the checkpoint may not.
        let looped = try Looplm.run(["train", "--data", data, "--out", root + "/loops5", "--init", base + "/latest", "--loops", "5",
                                     "--steps", "1", "--batch", "2", "--context", "16", "--eval-batches", "1"])
        #expect(looped.status == 0, "\(looped.stderr)")
        let contradicting = try Looplm.run(["train", "--data", data, "--out", root + "/bad", "--init", base + "/latest",
                                            "--width", "32", "--looped", "2"])
        #expect(contradicting.status == 64 && contradicting.stderr.contains("--width 32 (it has 64)"), "\(contradicting.stderr)")
        let both = try Looplm.run(["train", "--data", data, "--out", base, "--init", base + "/latest", "--resume"])
        #expect(both.status == 64)
    }

    @Test func runFoldersAndDataFoldersAreAcceptedWhereUsersPassThem() throws {
        let data = try oneFileDataset()
        let run = root + "/folders"
        #expect(try train(data, run).status == 0)
        let sample = try Looplm.run(["sample", run, "--tokens", "4", "--json"])
        #expect(sample.status == 0 && sample.stderr.contains("using \(run)/latest") && sample.stderr.contains("best"), "\(sample.stderr)")
        #expect(try Looplm.run(["info", run, "--json"]).status == 0)
        let folder = try Looplm.run(["eval", run, "--data", data, "--json"])
        let file = try Looplm.run(["eval", run + "/latest", "--data", data + "/val.bin", "--json"])
        #expect(folder.status == 0 && json(folder.stdout)["loss"] as? Double == json(file.stdout)["loss"] as? Double)
        // A token file is known by its header, whatever its name; text by its content.
        try FileManager.default.copyItem(atPath: data + "/val.bin", toPath: root + "/validation.tokens")
        let renamed = try Looplm.run(["eval", run, "--data", root + "/validation.tokens", "--json"])
        #expect(json(renamed.stdout)["loss"] as? Double == json(file.stdout)["loss"] as? Double)
        let text = try Looplm.run(["eval", run, "--data", root + "/input.txt", "--max-batches", "1", "--json"])
        #expect(text.status == 0 && json(text.stdout)["loss"] is Double, "\(text.stderr)")
    }
}

@Suite struct SmallFrictionTests {
    @Test func presetsAsJSONAndPlurals() throws {
        let presets = try Looplm.run(["info", "--presets", "--json"])
        let rows = (try JSONSerialization.jsonObject(with: Data(presets.stdout.utf8)) as? [[String: Any]]) ?? []
        #expect(rows.contains { $0["name"] as? String == "small-loop" && $0["effective_depth"] as? Int == 4 }, "\(presets.stdout)")
        let bench = try Looplm.run(["bench", "--preset", "tiny", "--steps", "1", "--warmup", "0", "--no-roofline", "--threads", "1"])
        #expect(bench.stdout.contains("1 thread × 1 process") && !bench.stdout.contains("1 threads"), "\(bench.stdout)")
    }

    @Test func severalPromptsAreSeparatedAndTheContextFlagHasOneName() throws {
        let root = temporaryDirectory("friction")
        let data = try preparedCorpus(in: root)
        #expect(try Looplm.run(["train", "--data", data, "--out", root + "/run", "--preset", "tiny", "--steps", "2", "--batch", "2",
                                "--context", "16", "--eval-batches", "1"]).status == 0)
        try "one\ntwo\n".write(toFile: root + "/p.txt", atomically: true, encoding: .utf8)
        let sample = try Looplm.run(["sample", root + "/run", "--prompts", root + "/p.txt", "--tokens", "3", "--temperature", "0"])
        #expect(sample.status == 0 && sample.stdout.components(separatedBy: "\n---------------\n").count == 2, "\(sample.stdout)")
        let context = json(try Looplm.run(["info", "tiny", "--context", "32", "--json"]).stdout)
        let alias = json(try Looplm.run(["info", "tiny", "--time", "32", "--json"]).stdout)
        #expect(context["forward_flops_per_token"] as? Double == alias["forward_flops_per_token"] as? Double)
        #expect(try Looplm.run(["info", "tiny", "--context", "32", "--time", "32"]).status == 64)
        // No token exits: said once.
        let exit = try Looplm.run(["eval", root + "/run", "--data", data, "--exit", "change:0", "--max-batches", "1"])
        #expect(exit.status == 0 && exit.stderr.contains("the exit rule never fired"), "\(exit.stderr)")
    }
}
