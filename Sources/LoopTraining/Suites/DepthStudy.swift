import Foundation
import LoopCheckpoint
import LoopModel
import LoopTokenizer

/// The depth study on Shakespeare bytes: unshared depth (1×1, 2×1, 4×1) against looped depth
/// with the parameters of one or two blocks (1×2, 1×4, 2×2), and 1×4 trained at a random
/// loop count, all at one width, budget and schedule. Calibrated (docs/language.md) so that 4×1 beats
/// 1×1 by more than 0.05 nats, within two hours on two cores for three seeds in two processes.
extension ExperimentSuite {
    static func shakespeareDepth(
        name: String, summary: String, steps: Int, width: Int, heads: Int, context: Int, batch: Int, lr: Float,
        finalEvalBatches: Int
    ) throws(ConfigurationError) -> ExperimentSuite {
        func model(_ k: Int, _ loops: Int, _ role: String, sampling: LoopSampling? = nil) throws(ConfigurationError) -> ExperimentModel {
            ExperimentModel(name: "\(k)x\(loops)" + (sampling == nil ? "" : "-random"), role: role,
                            config: try ModelConfiguration(vocabSize: Preset.byteVocabSize, contextLength: context, channels: width,
                                                           heads: heads, layout: LoopLayout(looped: k, loops: loops)),
                            loopSampling: sampling)
        }
        var options = options(batch: batch, time: context, steps: steps, lr: lr, evalInterval: 250)
        options.schedule.warmupSteps = min(100, max(1, steps / 10))
        var suite = ExperimentSuite(
            name: name, summary: summary, tokenizer: .bytes,
            models: [
                try model(1, 1, "one block"),
                try model(2, 1, "two unshared blocks"),
                try model(4, 1, "four unshared blocks"),
                try model(1, 2, "one block × 2 loops (the parameters of 1×1)"),
                try model(1, 4, "one block × 4 loops (the parameters of 1×1)"),
                try model(2, 2, "two blocks × 2 loops (the parameters of 2×1)"),
                try model(1, 4, "one block, loops drawn from 2...6 in training", sampling: .uniform(minimum: 2, maximum: 6)),
            ],
            options: options, finalEvalBatches: finalEvalBatches)
        suite.depthStudy = true
        return suite
    }
}

/// The worth of a loop: where a looped model's loss falls on the unshared models' loss
/// against depth. With d_eff the (log-linearly interpolated) unshared depth that reaches 1×L's
/// loss, φ = (d_eff − 1)/(L − 1): 1 when each pass is worth a new block, 0 when looping adds
/// nothing (arXiv 2604.21106 reports about 0.46).
public struct LoopWorth: Codable, Sendable, Equatable {
    public let model: String
    public let loops: Int
    public let validationLoss: Double
    /// nil when the loss lies outside the unshared models' range (then `note` says which side).
    public let effectiveDepth: Double?
    public let phi: Double?
    public let note: String?

    /// `unshared`: (depth, mean loss) of the k×1 models, any order.
    public static func estimate(model: String, loops: Int, loss: Double, unshared: [(depth: Int, loss: Double)]) -> LoopWorth {
        let points = unshared.sorted { $0.depth < $1.depth }
        for (a, b) in zip(points, points.dropFirst()) {
            let (low, high) = (min(a.loss, b.loss), max(a.loss, b.loss))
            guard loss >= low && loss <= high && a.loss != b.loss else { continue }
            let t = (loss - a.loss) / (b.loss - a.loss)
            let depth = exp(log(Double(a.depth)) + t * (log(Double(b.depth)) - log(Double(a.depth))))
            return LoopWorth(model: model, loops: loops, validationLoss: loss, effectiveDepth: depth,
                             phi: (depth - 1) / Double(loops - 1), note: nil)
        }
        let worst = points.first?.loss ?? .nan, best = points.last?.loss ?? .nan
        let note = loss > worst ? "worse than 1×1: looping did not pay" : loss < best ? "better than the deepest unshared model" : "outside the unshared curve"
        return LoopWorth(model: model, loops: loops, validationLoss: loss, effectiveDepth: nil, phi: nil, note: note)
    }
}

/// The depth study's own files beside the suite's: table.csv with one row per model (mean and
/// spread over seeds), runs.csv per seed, worth.json with φ, and loss against parameters.
struct DepthStudyReport {
    let suite: ExperimentSuite
    let results: [RunResult]

    func write(to directory: String) throws {
        let groups = ExperimentTable.groupsByModel(results)
        let maxLoops = results.map(\.validationLossByLoops.count).max() ?? 1
        var table = [(["model", "layout", "parameters", "effective_depth", "training_flops", "seeds", "val_loss", "val_loss_std"]
                      + (1...maxLoops).map { "val_loss_loops_\($0)" }).joined(separator: ",")]
        for group in groups {
            let r = group[0], (mean, spread) = meanAndSpread(group.map(\.finalValidationLoss))
            let sweep = (0..<maxLoops).map { i in
                i < r.validationLossByLoops.count ? String(format: "%.6f", meanAndSpread(group.map { $0.validationLossByLoops[i] }).mean) : ""
            }
            table.append(([r.model, r.layout, "\(r.parameters)", "\(r.effectiveDepth)", String(format: "%.6e", r.trainingFlops),
                           "\(group.count)", String(format: "%.6f", mean), String(format: "%.6f", spread)] + sweep).joined(separator: ","))
        }
        try (table.joined(separator: "\n") + "\n").write(toFile: directory + "/table.csv", atomically: true, encoding: .utf8)
        try ExperimentTable.csv(results).write(toFile: directory + "/runs.csv", atomically: true, encoding: .utf8)
        let worth = self.worth(groups)
        try JSONFormat.encoder(pretty: true).encode(worth).write(to: URL(fileURLWithPath: directory + "/worth.json"), options: .atomic)
        let markdown = ExperimentTable.markdown(results) + "\n" + Self.worthTable(worth)
        try markdown.write(toFile: directory + "/table.md", atomically: true, encoding: .utf8)
        let points = groups.map { group in
            LinePlot.Series(name: "\(group[0].model) (\(group[0].layout))", x: [Double(group[0].parameters)],
                            seeds: group.map { [$0.finalValidationLoss] })
        }
        let plot = LinePlot(title: "\(suite.name): validation loss against parameters", xLabel: "parameters (log scale)",
                            yLabel: "validation loss (nats/token)", series: points, logarithmicX: true, markers: true)
        try plot.svg().write(toFile: directory + "/plots/val_loss_vs_parameters.svg", atomically: true, encoding: .utf8)
    }

    /// φ of every fixed-depth looped 1×L model, against the unshared k×1 models' mean losses.
    func worth(_ groups: [[RunResult]]) -> [LoopWorth] {
        let unshared = groups.filter { $0[0].loops == 1 && $0[0].loopSampling == nil }
            .map { (depth: $0[0].effectiveDepth, loss: meanAndSpread($0.map(\.finalValidationLoss)).mean) }
        return groups.filter { $0[0].loops > 1 && $0[0].loopSampling == nil && $0[0].effectiveDepth == $0[0].loops }.map { group in
            LoopWorth.estimate(model: group[0].model, loops: group[0].loops,
                               loss: meanAndSpread(group.map(\.finalValidationLoss)).mean, unshared: unshared)
        }
    }

    static func worthTable(_ worth: [LoopWorth]) -> String {
        var lines = ["The worth of a loop, φ = (d_eff − 1)/(L − 1), d_eff the unshared depth with 1×L's loss (log-linear between the k×1 models):", "",
                     "| model | loops | val loss | d_eff | φ |", "|---|---|---|---|---|"]
        for w in worth {
            lines.append("| \(w.model) | \(w.loops) | " + String(format: "%.4f", w.validationLoss) + " | "
                + (w.effectiveDepth.map { String(format: "%.2f", $0) } ?? (w.note ?? "–")) + " | "
                + (w.phi.map { String(format: "%.2f", $0) } ?? "–") + " |")
        }
        return lines.joined(separator: "\n") + "\n"
    }
}
