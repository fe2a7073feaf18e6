import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A miniature suite end to end: every table row and plot comes from real runs.
@Suite struct ExperimentCommandTests {
    @Test func miniSuiteProducesTableCSVAndPlotsFromItsRuns() throws {
        let root = temporaryDirectory("experiment")
        _ = try preparedCorpus(in: root)
        let out = root + "/out"
        let first = try Looplm.run(["experiment", "--suite", "mini", "--data", root + "/data", "--out", out, "--steps", "4"])
        #expect(first.status == 0, "\(first.stderr)")
        let firstResult = try Data(contentsOf: URL(fileURLWithPath: out + "/runs/loop-6x6-seed1337/result.json"))

        // A second seed: the finished runs are reused, not retrained.
        let second = try Looplm.run(["experiment", "--suite", "mini", "--data", root + "/data", "--out", out,
                                     "--steps", "4", "--seeds", "2"])
        #expect(second.status == 0, "\(second.stderr)")
        #expect(try Data(contentsOf: URL(fileURLWithPath: out + "/runs/loop-6x6-seed1337/result.json")) == firstResult)
        #expect(!second.stderr.contains("== loop-6x6-seed1337 (6×6)"))
        #expect(second.stderr.contains("== loop-6x6-seed1338 (6×6)"))

        let results = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: out + "/results.json"))) as! [[String: Any]]
        let models = ["gpt2-12x1", "loop-6x6", "lite-1x1", "loop-1x2", "control-6x1", "control-36x1"]
        #expect(results.count == 12 && Set(results.map { $0["model"] as! String }) == Set(models))
        let table = try String(contentsOfFile: out + "/table.md", encoding: .utf8)
        let csv = try String(contentsOfFile: out + "/table.csv", encoding: .utf8).split(separator: "\n")
        #expect(csv.count == 13)
        for result in results {
            let model = result["model"] as! String, seed = result["seed"] as! Int
            let metrics = try String(contentsOfFile: out + "/runs/\(model)-seed\(seed)/metrics.jsonl", encoding: .utf8)
                .split(separator: "\n").map { json(String($0)) }
            #expect(metrics.count == 4, "\(model) trained 4 steps")
            let trainLosses = metrics.compactMap { $0["train_loss"] as? Double }
            #expect(abs((result["final_train_loss"] as! Double) - trainLosses.reduce(0, +) / 4) < 1e-9)
            let loops = result["loops"] as! Int
            let sweep = result["validation_loss_by_loops"] as! [Double]
            #expect(sweep.count == 2 * loops && sweep[loops - 1] == result["final_validation_loss"] as! Double)
            #expect(table.contains("| \(model) |"))
            #expect(csv.contains { $0.hasPrefix("\(model),") && $0.contains(",\(seed),") })
        }
        // The 6×6 loop model and its unshared control have the same compute.
        let byModel = Dictionary(grouping: results, by: { $0["model"] as! String })
        #expect(byModel["loop-6x6"]![0]["training_flops"] as! Double == byModel["control-36x1"]![0]["training_flops"] as! Double)
        #expect(byModel["loop-6x6"]![0]["parameters"] as! Int == byModel["control-6x1"]![0]["parameters"] as! Int)
        for plot in ["val_loss_vs_step", "val_loss_vs_flops", "val_loss_vs_loops"] {
            let svg = try String(contentsOfFile: out + "/plots/\(plot).svg", encoding: .utf8)
            #expect(svg.hasPrefix("<svg") && svg.hasSuffix("</svg>\n"))
            #expect(svg.components(separatedBy: "<polyline").count == 7, "\(plot): one line per model")
            for model in models { #expect(svg.contains(model)) }
        }
        // A rerun that asks for something else is refused, not answered with these results.
        let longer = try Looplm.run(["experiment", "--suite", "mini", "--data", root + "/data", "--out", out, "--steps", "5"])
        #expect(longer.status == 1 && longer.stderr.contains("steps 4 → 5") && longer.stdout.isEmpty, "\(longer.stderr)")
        let asJSON = try Looplm.run(["experiment", "--suite", "mini", "--data", root + "/data", "--out", out, "--steps", "4",
                                   "--seeds", "2", "--json"])
        let printed = (try JSONSerialization.jsonObject(with: Data(asJSON.stdout.utf8)) as? [[String: Any]]) ?? []
        #expect(asJSON.status == 0 && printed.count == 12, "\(asJSON.stderr)")
    }

    /// `--eval-batches` shortens every evaluation of a token-file suite (the quick check of the
    /// large ones); the reasoning suites, which evaluate held-out questions, refuse it.
    @Test func evaluationBatchesAreAnOptionOfTheTokenFileSuites() throws {
        let root = temporaryDirectory("experiment-eval")
        _ = try preparedCorpus(in: root)
        let run = try Looplm.run(["experiment", "--suite", "mini", "--data", root + "/data", "--out", root + "/out",
                                  "--steps", "2", "--eval-batches", "1"])
        #expect(run.status == 0, "\(run.stderr)")
        #expect(FileManager.default.fileExists(atPath: root + "/out/table.md"))
        let refused = try Looplm.run(["experiment", "--suite", "mini-reasoning", "--out", root + "/r", "--eval-batches", "1"])
        #expect(refused.status != 0 && refused.stderr.contains("--eval-batches"), "\(refused.stderr)")
        let loops = try Looplm.run(["experiment", "--suite", "reasoning", "--out", root + "/r", "--loops", "9"])
        #expect(loops.status != 0 && loops.stderr.contains("--loops must be in 2...6"), "\(loops.stderr)")
        let mini = try Looplm.run(["experiment", "--suite", "mini-reasoning", "--out", root + "/r", "--loops", "3"])
        #expect(mini.status != 0 && mini.stderr.contains("--loops is for --suite reasoning"), "\(mini.stderr)")
    }

    @Test func unknownSuiteIsNamed() throws {
        let result = try Looplm.run(["experiment", "--suite", "huge", "--data", "/none", "--out", "/tmp/none"])
        #expect(result.status != 0 && result.stderr.contains("paper-small"))
    }
}

@Suite struct TestTimeSuiteTests {
    @Test func fixedAndRandomDepthWithLoopSweepAndAdaptiveExit() throws {
        let root = temporaryDirectory("testtime")
        _ = try preparedCorpus(in: root)
        let out = root + "/out"
        let run = try Looplm.run(["experiment", "--suite", "mini-test-time", "--data", root + "/data", "--out", out, "--steps", "4"])
        #expect(run.status == 0, "\(run.stderr)")
        let results = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: out + "/results.json"))) as! [[String: Any]]
        #expect(results.map { $0["model"] as! String } == ["fixed-3", "random-1to5"])
        for result in results {
            #expect((result["validation_loss_by_loops"] as! [Double]).count == 9, "1…3× the trained loops")
            let adaptive = result["adaptive_exit"] as! [[String: Any]]
            #expect(adaptive.map { $0["threshold"] as! Double } == [0.6, 0.4, 0.3, 0.25, 0.2, 0.15])
            #expect(adaptive.allSatisfy { ($0["mean_loops"] as! Double) >= 1 && ($0["mean_loops"] as! Double) <= 9 })
        }
        // The random-depth run drew its loop counts: the metrics show several.
        let metrics = try String(contentsOfFile: out + "/runs/random-1to5-seed1337/metrics.jsonl", encoding: .utf8)
            .split(separator: "\n").map { json(String($0)) }
        #expect(metrics.allSatisfy { (1...5).contains($0["loops"] as? Int ?? 0) })
        let fixed = try String(contentsOfFile: out + "/runs/fixed-3-seed1337/metrics.jsonl", encoding: .utf8)
        #expect(fixed.split(separator: "\n").allSatisfy { json(String($0))["loops"] as? Int == 3 })
        let table = try String(contentsOfFile: out + "/table.md", encoding: .utf8)
        #expect(table.contains("| random-1to5 | uniform:1-5 | 0.25 |"))
        let svg = try String(contentsOfFile: out + "/plots/val_loss_vs_mean_loops.svg", encoding: .utf8)
        #expect(svg.components(separatedBy: "<polyline").count == 5 && svg.contains("adaptive exit"))
    }
}

/// The depth study's structure at toy size: its per-model table (a `model` column of the form
/// 4x1 and a `val_loss` column), the worth of a loop, and loss against parameters.
@Suite struct DepthStudyCommandTests {
    @Test func miniDepthWritesTheTableTheWorthAndThePlots() throws {
        let root = temporaryDirectory("depth")
        _ = try preparedCorpus(in: root)
        let out = root + "/out"
        let run = try Looplm.run(["experiment", "--suite", "mini-depth", "--data", root + "/data", "--out", out, "--steps", "3"])
        #expect(run.status == 0, "\(run.stderr)")
        let table = try String(contentsOfFile: out + "/table.csv", encoding: .utf8).split(separator: "\n").map { $0.split(separator: ",", omittingEmptySubsequences: false).map(String.init) }
        let header = table[0]
        let model = try #require(header.firstIndex(of: "model")), loss = try #require(header.firstIndex(of: "val_loss"))
        #expect(table.dropFirst().map { $0[model] } == ["1x1", "2x1", "4x1", "1x2", "1x4", "2x2", "1x4-random"])
        #expect(table.dropFirst().allSatisfy { Double($0[loss]) != nil })
        let worth = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: out + "/worth.json"))) as! [[String: Any]]
        #expect(worth.map { $0["model"] as? String } == ["1x2", "1x4"])
        #expect(FileManager.default.fileExists(atPath: out + "/plots/val_loss_vs_parameters.svg"))
        #expect(try String(contentsOfFile: out + "/table.md", encoding: .utf8).contains("φ"))
    }

    /// Two processes started with the same command share a token-file suite's runs.
    @Test func twoProcessesShareATokenSuite() throws {
        let root = temporaryDirectory("depth-shared")
        _ = try preparedCorpus(in: root)
        let out = root + "/out"
        let arguments = ["experiment", "--suite", "mini-depth", "--data", root + "/data", "--out", out, "--steps", "3"]
        let locked = out + "/runs/1x1-seed1337"
        try FileManager.default.createDirectory(atPath: locked, withIntermediateDirectories: true)
        let descriptor = open(locked + "/.lock", O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        #expect(descriptor >= 0 && flock(descriptor, LOCK_EX | LOCK_NB) == 0)
        let partial = try Looplm.run(arguments)
        #expect(partial.status == 0 && partial.stderr.contains("another process is training it"), "\(partial.stderr)")
        close(descriptor)
        let gathered = try Looplm.run(arguments)
        #expect(gathered.status == 0 && gathered.stderr.contains("== 1x1-seed1337") && !gathered.stderr.contains("== 2x1"), "\(gathered.stderr)")
    }
}
