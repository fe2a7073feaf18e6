import Foundation
import LoopCheckpoint
import LoopModel

/// The reasoning suite's files: table.md, table.csv (every difficulty × loop count),
/// results.json and, per task, plots of accuracy against loops (per difficulty), against
/// parameters and against compute.
public struct ReasoningReport {
    public let suite: ReasoningSuite
    public let results: [ReasoningResult]

    public init(suite: ReasoningSuite, results: [ReasoningResult]) {
        self.suite = suite
        self.results = results
    }

    public func write(to directory: String) throws {
        try AtomicFiles.makeFolder(directory + "/plots")
        try markdown().write(toFile: directory + "/table.md", atomically: true, encoding: .utf8)
        try csv().write(toFile: directory + "/table.csv", atomically: true, encoding: .utf8)
        try JSONFormat.encoder(pretty: true).encode(results).write(to: URL(fileURLWithPath: directory + "/results.json"), options: .atomic)
        for (name, plot) in plots() {
            try plot.svg().write(toFile: directory + "/plots/\(name).svg", atomically: true, encoding: .utf8)
        }
    }

    /// Results of one task, grouped by model in suite order (seeds together).
    func groups(task: String) -> [[ReasoningResult]] {
        suite.models.compactMap { model in
            let group = results.filter { $0.task == task && $0.model == model.name }
            return group.isEmpty ? nil : group
        }
    }

    /// "92.1 ± 1.3" in percent over seeds (or "92.1" for one seed).
    static func percent(_ values: [Double]) -> String {
        guard !values.isEmpty else { return "–" }
        let (mean, spread) = meanAndSpread(values.map { $0 * 100 })
        return values.count > 1 ? String(format: "%.1f ± %.1f", mean, spread) : String(format: "%.1f", mean)
    }

    public func markdown() -> String {
        var lines: [String] = []
        for setup in suite.setups {
            let task = setup.task.name, difficulties = setup.evaluatedDifficulties
            let groups = groups(task: task)
            guard !groups.isEmpty else { continue }
            lines += ["### \(task)", "",
                      "\(setup.task.format). Trained on difficulties 1…\(setup.trainedDifficulty); exact-match accuracy (%) on \(suite.questionsPerDifficulty)+ held-out questions per difficulty, at the trained loop count.", "",
                      "| model | layout | parameters | effective depth | training FLOPs | wall time | "
                          + difficulties.map { $0 > setup.trainedDifficulty ? "d=\($0) (new)" : "d=\($0)" }.joined(separator: " | ") + " | seeds |",
                      "|" + String(repeating: "---|", count: 7 + difficulties.count)]
            for group in groups {
                let first = group[0]
                let cells = difficulties.map { d in Self.percent(group.compactMap { $0.accuracy(difficulty: d, loops: $0.loops) }) }
                lines.append("| \(first.model) | \(first.layout) | \(first.parameters) | \(first.effectiveDepth) | "
                    + String(format: "%.2e", first.trainingFlops) + " | "
                    + ExperimentTable.duration(meanAndSpread(group.map(\.trainingSeconds)).mean) + " | "
                    + cells.joined(separator: " | ") + " | \(group.count) |")
            }
            if let chains = setup.task as? PointerChains {  // what a guess from the forest's shape scores
                let guesses = difficulties.map { d in
                    chains.structuralGuesses(ReasoningEvaluation.heldOut(task: chains, difficulty: d,
                                                                         questions: suite.questionsPerDifficulty,
                                                                         seed: ReasoningSuite.evaluationSeed))
                }
                for (label, value) in [("guess: root of the largest tree", { (g: (largestTree: Double, mostChildren: Double)) in g.largestTree }),
                                       ("guess: root with most children", { $0.mostChildren })] {
                    lines.append("| \(label) | – | – | – | – | – | " + guesses.map { String(format: "%.1f", 100 * value($0)) }.joined(separator: " | ") + " | – |")
                }
            }
            let looped = groups.filter { $0[0].loops > 1 }
            if let maxLoops = looped.first?[0].accuracy.map(\.loops).max() {
                lines += ["", "Looped models at every loop count (accuracy %, by difficulty):", "",
                          "| model | difficulty | " + (1...maxLoops).map { "\($0) loops" }.joined(separator: " | ") + " |",
                          "|" + String(repeating: "---|", count: 2 + maxLoops)]
                for group in looped {
                    for d in difficulties {
                        let cells = (1...maxLoops).map { l in Self.percent(group.compactMap { $0.accuracy(difficulty: d, loops: l) }) }
                        lines.append("| \(group[0].model) | \(d)\(d > setup.trainedDifficulty ? " (new)" : "") | " + cells.joined(separator: " | ") + " |")
                    }
                }
            }
            lines.append("")
        }
        return lines.joined(separator: "\n") + "\n"
    }

    func csv() -> String {
        var lines = ["task,model,layout,seed,parameters,effective_depth,trained_loops,loop_sampling,difficulty,loops,solved,asked,accuracy"]
        for r in results {
            for p in r.accuracy {
                lines.append([r.task, r.model, r.layout, "\(r.seed)", "\(r.parameters)", "\(r.effectiveDepth)", "\(r.loops)",
                              r.loopSampling ?? "", "\(p.difficulty)", "\(p.loops)", "\(p.solved)", "\(p.asked)",
                              String(format: "%.4f", p.accuracy)].joined(separator: ","))
            }
        }
        return lines.joined(separator: "\n") + "\n"
    }

    func plots() -> [(String, LinePlot)] {
        var plots: [(String, LinePlot)] = []
        for setup in suite.setups {
            let task = setup.task.name, groups = groups(task: task)
            let hardest = setup.trainedDifficulty
            for group in groups where group[0].loops > 1 {
                let loops = Array(Set(group[0].accuracy.map(\.loops))).sorted()
                let series = setup.evaluatedDifficulties.map { d in
                    LinePlot.Series(name: "difficulty \(d)\(d > hardest ? " (new)" : "")", x: loops.map(Double.init),
                                    seeds: group.map { result in loops.map { 100 * (result.accuracy(difficulty: d, loops: $0) ?? 0) } })
                }
                plots.append(("\(task)_\(group[0].model)_accuracy_vs_loops", LinePlot(
                    title: "\(task): \(group[0].model) (\(group[0].layout)), accuracy against loops at evaluation",
                    xLabel: "loops at evaluation", yLabel: "exact-match accuracy (%)", series: series, markers: true)))
            }
            func point(_ group: [ReasoningResult], x: Double) -> LinePlot.Series {
                let accuracy = meanAndSpread(group.compactMap { $0.accuracy(difficulty: hardest, loops: $0.loops) }).mean
                return LinePlot.Series(name: "\(group[0].model) (\(group[0].layout))", points: [(x: x, y: 100 * accuracy)])
            }
            plots.append(("\(task)_accuracy_vs_parameters", LinePlot(
                title: "\(task): accuracy at difficulty \(hardest) against parameters", xLabel: "parameters (log scale)",
                yLabel: "exact-match accuracy (%)", series: groups.map { point($0, x: Double($0[0].parameters)) },
                logarithmicX: true, markers: true)))
            plots.append(("\(task)_accuracy_vs_compute", LinePlot(
                title: "\(task): accuracy at difficulty \(hardest) against training compute", xLabel: "training FLOPs (log scale)",
                yLabel: "exact-match accuracy (%)", series: groups.map { point($0, x: $0[0].trainingFlops) },
                logarithmicX: true, markers: true)))
        }
        return plots
    }
}
