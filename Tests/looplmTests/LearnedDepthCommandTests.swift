import Foundation
import Testing

/// Learned depth with the real binary (issue 18): a gate trained with the model (stage I) or
/// alone (stage II), one --exit flag for every rule, and the errors a user can cause.
@Suite(.serialized) struct LearnedDepthCommandTests {
    let root = temporaryDirectory("learned-depth")

    func train(_ data: String, _ out: String, _ extra: [String]) throws -> CommandResult {
        try Looplm.run(["train", "--data", data, "--out", out, "--preset", "tiny", "--looped", "1", "--loops", "3",
                        "--steps", "6", "--batch", "2", "--context", "16", "--eval-batches", "1"] + extra)
    }

    @Test func gateTrainingExitAndStageTwo() throws {
        let data = try preparedCorpus(in: root)
        for loss in ["all", "gate"] {
            let run = try train(data, root + "/\(loss)", ["--loop-loss", loss])
            #expect(run.status == 0, "\(loss): \(run.stderr)")
        }
        let config = try String(contentsOfFile: root + "/gate/latest/config.json", encoding: .utf8)
        #expect(config.contains("\"loop_exit_gate\" : true"))
        // gate:1 never exits early: the fixed-depth loss; gate:q reports what it spent.
        func eval(_ extra: [String]) throws -> [String: Any] {
            let result = try Looplm.run(["eval", root + "/gate", "--data", data, "--max-batches", "1", "--batch", "2",
                                         "--context", "16", "--json"] + extra)
            #expect(result.status == 0, "\(result.stderr)")
            return json(result.stdout)
        }
        let fixed = try eval([]), never = try eval(["--exit", "gate:1"]), early = try eval(["--exit", "gate:0.01"])
        #expect(fixed["loss"] as? Double == never["loss"] as? Double && never["mean_loops"] as? Double == 3)
        #expect((early["mean_loops"] as? Double ?? 3) < 3 && early["forward_flops_per_token"] is Double
                && early["tokens_per_second"] is Double, "\(early)")
        // Stage II: the model frozen, only the gate moves.
        let stageTwo = try Looplm.run(["train", "--data", data, "--out", root + "/stage2", "--init", root + "/all",
                                       "--train-gate-only", "--steps", "4", "--batch", "2", "--context", "16",
                                       "--eval-batches", "1", "--json"])
        #expect(stageTwo.status == 0, "\(stageTwo.stderr)")
        let before = json(try Looplm.run(["eval", root + "/all", "--data", data, "--max-batches", "1", "--json"]).stdout)
        let after = json(try Looplm.run(["eval", root + "/stage2", "--data", data, "--max-batches", "1", "--json"]).stdout)
        #expect(before["loss"] as? Double == after["loss"] as? Double, "the frozen model's loss is unchanged")
        let sample = try Looplm.run(["sample", root + "/stage2", "--tokens", "4", "--exit", "gate:0.5", "--json"])
        #expect(sample.status == 0 && json(sample.stdout)["mean_loops"] is Double, "\(sample.stderr)")
        // Export keeps the fixed-depth model and says that the gate is left out.
        let export = try Looplm.run(["export-hf", root + "/gate", "--output", root + "/gate-hf"])
        #expect(export.status == 0 && export.stderr.contains("exit gate is left out"), "\(export.stderr)")
        // bench --generate times decoding under the rule and under fixed looping at its cap.
        let bench = try Looplm.run(["bench", "--generate", "--checkpoint", root + "/gate", "--exit", "gate:0.01",
                                    "--prompt-tokens", "8", "--tokens", "8", "--batches", "1", "--threads", "1", "--json"])
        #expect(bench.status == 0, "\(bench.stderr)")
        let decode = json(bench.stdout)["exit"] as? [String: Any] ?? [:]
        #expect(decode["rule"] as? String == "gate:0.01" && decode["max_loops"] as? Int == 3, "\(decode)")
        #expect((decode["mean_loops"] as? Double ?? 3) < 3 && (decode["forward_flops_per_token"] as? Double ?? 0)
                < (decode["fixed_forward_flops_per_token"] as? Double ?? 0) && decode["tokens_per_second"] is Double)
    }

    @Test func eachMistakeIsOneClearError() throws {
        let data = try preparedCorpus(in: root)
        #expect(try train(data, root + "/plain", []).status == 0)
        let noGate = try Looplm.run(["eval", root + "/plain", "--data", data, "--exit", "gate:0.5"])
        #expect(noGate.status == 64 && noGate.stderr.contains("needs an exit gate"), "\(noGate.stderr)")
        let benchNoGate = try Looplm.run(["bench", "--generate", "--checkpoint", root + "/plain", "--exit", "gate:0.5"])
        #expect(benchNoGate.status == 64 && benchNoGate.stderr.contains("needs an exit gate"), "\(benchNoGate.stderr)")
        let benchTraining = try Looplm.run(["bench", "--exit", "kl:0.1"])
        #expect(benchTraining.status == 64 && benchTraining.stderr.contains("--generate"), "\(benchTraining.stderr)")
        for bad in ["gate:0", "gate:1.5", "gate:-1", "change:-2", "kl:nan", "sometimes"] {
            let result = try Looplm.run(["sample", root + "/plain", "--exit", bad])
            #expect(result.status == 64 && result.stderr.contains("--exit"), "\(bad): \(result.stderr)")
        }
        let alone = try train(data, root + "/alone", ["--train-gate-only"])
        #expect(alone.status == 64 && alone.stderr.contains("--init"), "\(alone.stderr)")
        let coda = try Looplm.run(["train", "--data", data, "--out", root + "/coda", "--preset", "tiny-loop", "--loop-loss", "gate"])
        #expect(coda.status == 1 && coda.stderr.contains("coda"), "\(coda.stderr)")
        let truncated = try train(data, root + "/truncated", ["--loop-loss", "all", "--backprop-loops", "1"])
        #expect(truncated.status == 64 && truncated.stderr.contains("--loop-loss"), "\(truncated.stderr)")
    }
}

/// The learned-depth suite end to end at toy size: every objective, every rule, frontier.csv
/// with the columns the report promises, and a plot per task.
@Suite struct DepthFrontierCommandTests {
    @Test func miniFrontierWritesTheFrontier() throws {
        let root = temporaryDirectory("frontier")
        let data = try preparedCorpus(in: root)
        let out = root + "/out"
        let run = try Looplm.run(["experiment", "--suite", "mini-frontier", "--data", data, "--out", out])
        #expect(run.status == 0, "\(run.stderr)")
        let rows = try String(contentsOfFile: out + "/frontier.csv", encoding: .utf8).split(separator: "\n").map { $0.split(separator: ",").map(String.init) }
        #expect(rows[0].prefix(8) == ["task", "model", "rule", "setting", "mean_loops", "flops_per_token", "metric", "tokens_per_second"])
        let body = rows.dropFirst()
        for task in ["chains", "shakespeare"] {
            for model in ["last", "all", "gate", "gate-stage2", "gate-from-all", "gate-from-all-stage2"] {
                let mine = body.filter { $0[0] == task && $0[1] == model }
                #expect(Set(mine.map { $0[2] }) == (model.hasPrefix("gate") ? ["fixed", "change", "kl", "gate"] : ["fixed", "change", "kl"]),
                        "\(task) \(model)")
                #expect(mine.allSatisfy { Double($0[4])! >= 1 && Double($0[4])! <= 3 })
            }
            #expect(FileManager.default.fileExists(atPath: out + "/plots/\(task)_frontier.svg"))
        }
        // Fixed L loops costs L passes exactly.
        #expect(body.filter { $0[2] == "fixed" }.allSatisfy { Double($0[3]) == Double($0[4]) })
        // One task and one model: the run it starts from comes along, nothing else.
        let only = root + "/only"
        let restricted = try Looplm.run(["experiment", "--suite", "mini-frontier", "--data", data, "--out", only,
                                         "--task", "chains", "--model", "gate-from-all-stage2"])
        #expect(restricted.status == 0, "\(restricted.stderr)")
        let runs = try FileManager.default.contentsOfDirectory(atPath: only + "/runs").sorted()
        #expect(runs == ["chains-all-seed1337", "chains-gate-from-all-seed1337", "chains-gate-from-all-stage2-seed1337"], "\(runs)")
        let unknown = try Looplm.run(["experiment", "--suite", "mini-frontier", "--data", data, "--out", only, "--model", "best"])
        #expect(unknown.status != 0 && unknown.stderr.contains("gate-from-all"), "\(unknown.stderr)")
    }
}
