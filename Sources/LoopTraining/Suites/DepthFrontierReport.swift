import Foundation
import LoopCheckpoint
import LoopModel

/// The learned-depth suite's files: frontier.csv (every model × rule × setting, seeds folded
/// into means), results.json, table.md (each rule's cheapest point that keeps the fixed-L
/// quality) and, per task, the metric against mean loops: one SVG with every model and rule,
/// and one per model with a curve per rule.
struct DepthFrontierReport {
    let plan: DepthFrontierPlan
    let results: [FrontierRun]

    /// One (task, model, rule, setting) point averaged over seeds.
    struct Folded {
        let task: String, model: String, rule: String, setting: Double
        let meanLoops: Double, flopsPerToken: Double, metric: Double, metricSpread: Double, tokensPerSecond: Double
        let seeds: Int
    }

    func folded() -> [Folded] {
        var order: [String] = [], groups: [String: [FrontierPoint]] = [:], owners: [String: (String, String)] = [:]
        for run in results {
            for point in run.points {
                let key = "\(run.task)|\(run.model)|\(point.rule)|\(point.setting)"
                if groups[key] == nil { order.append(key) }
                groups[key, default: []].append(point)
                owners[key] = (run.task, run.model)
            }
        }
        return order.map { key in
            let points = groups[key]!, (task, model) = owners[key]!
            func mean(_ f: (FrontierPoint) -> Double) -> Double { meanAndSpread(points.map(f)).mean }
            return Folded(task: task, model: model, rule: points[0].rule, setting: points[0].setting,
                          meanLoops: mean(\.meanLoops), flopsPerToken: mean(\.flopsPerToken), metric: mean(\.metric),
                          metricSpread: meanAndSpread(points.map(\.metric)).spread, tokensPerSecond: mean(\.tokensPerSecond),
                          seeds: points.count)
        }
    }

    func write(to directory: String) throws {
        try AtomicFiles.makeFolder(directory + "/plots")
        let points = folded()
        var csv = ["task,model,rule,setting,mean_loops,flops_per_token,metric,tokens_per_second,metric_std,seeds"]
        for p in points {
            csv.append([p.task, p.model, p.rule, ExitRule.format(Float(p.setting)), String(format: "%.4f", p.meanLoops),
                        String(format: "%.6e", p.flopsPerToken), String(format: "%.4f", p.metric),
                        String(format: "%.1f", p.tokensPerSecond), String(format: "%.4f", p.metricSpread), "\(p.seeds)"]
                .joined(separator: ","))
        }
        try (csv.joined(separator: "\n") + "\n").write(toFile: directory + "/frontier.csv", atomically: true, encoding: .utf8)
        try JSONFormat.encoder(pretty: true).encode(results).write(to: URL(fileURLWithPath: directory + "/results.json"), options: .atomic)
        try markdown(points).write(toFile: directory + "/table.md", atomically: true, encoding: .utf8)
        for task in plan.tasks.map(\.name) {
            let mine = points.filter { $0.task == task }
            guard !mine.isEmpty else { continue }
            let label = mine.first?.task == "chains" ? "accuracy (%), difficulties 1–4" : "validation loss (nats/token)"
            var all: [LinePlot.Series] = []
            for model in Self.models(mine) {
                var series: [LinePlot.Series] = []
                for rule in ["fixed", "change", "kl", "gate"] {
                    let curve = mine.filter { $0.model == model && $0.rule == rule }.sorted { $0.meanLoops < $1.meanLoops }
                    guard !curve.isEmpty else { continue }
                    let line = LinePlot.Series(name: rule, points: curve.map { (x: $0.meanLoops, y: $0.metric) },
                                               spread: curve.map(\.metricSpread))
                    series.append(line)
                    all.append(LinePlot.Series(name: "\(model): \(rule)", points: line.points))
                }
                try LinePlot(title: "\(task), trained with \(model): \(label) against mean loops", xLabel: "mean loops per token",
                             yLabel: label, series: series, markers: true)
                    .svg().write(toFile: directory + "/plots/\(task)_\(model)_frontier.svg", atomically: true, encoding: .utf8)
            }
            try LinePlot(title: "\(task): \(label) against mean loops, every objective and rule", xLabel: "mean loops per token",
                         yLabel: label, series: all, markers: true)
                .svg().write(toFile: directory + "/plots/\(task)_frontier.svg", atomically: true, encoding: .utf8)
        }
    }

    static func models(_ points: [Folded]) -> [String] {
        var seen: [String] = []
        for p in points where !seen.contains(p.model) { seen.append(p.model) }
        return seen
    }

    /// Per task and model: the fixed-L quality, and each rule's cheapest point within the
    /// tolerance of it (1 point of accuracy, 0.01 nats), with its speed against fixed L.
    func markdown(_ points: [Folded]) -> String {
        var lines = ["Each rule's cheapest setting that stays within 1 point of accuracy (chains) or 0.01 nats (Shakespeare) of the same model at its fixed \(plan.loops) loops; mean over seeds.", "",
                     "| task | trained with | fixed \(plan.loops) loops | rule | setting | mean loops | metric | tokens/s against fixed \(plan.loops) |",
                     "|---|---|---|---|---|---|---|---|"]
        for task in plan.tasks.map(\.name) {
            for model in Self.models(points.filter { $0.task == task }) {
                let mine = points.filter { $0.task == task && $0.model == model }
                guard let full = mine.first(where: { $0.rule == "fixed" && Int($0.setting) == plan.loops }) else { continue }
                let higherIsBetter = task == "chains", tolerance = higherIsBetter ? 1.0 : 0.01
                func keeps(_ p: Folded) -> Bool { higherIsBetter ? p.metric >= full.metric - tolerance : p.metric <= full.metric + tolerance }
                for rule in ["fixed", "change", "kl", "gate"] {
                    guard let best = mine.filter({ $0.rule == rule && keeps($0) }).min(by: { $0.meanLoops < $1.meanLoops }) else {
                        if mine.contains(where: { $0.rule == rule }) {
                            lines.append("| \(task) | \(model) | " + String(format: "%.3f", full.metric) + " | \(rule) | – | – | no setting within the tolerance | – |")
                        }
                        continue
                    }
                    let speed: String = String(format: "%.2f×", best.tokensPerSecond / max(full.tokensPerSecond, 1e-9))
                    let cells: [String] = [task, model, String(format: "%.3f", full.metric), rule, ExitRule.format(Float(best.setting)),
                                           String(format: "%.2f", best.meanLoops), String(format: "%.3f", best.metric), speed]
                    lines.append("| " + cells.joined(separator: " | ") + " |")
                }
            }
        }
        return lines.joined(separator: "\n") + "\n"
    }
}
