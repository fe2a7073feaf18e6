import Foundation
import LoopCheckpoint
import LoopModel

/// The files a suite leaves: table.md, table.csv, results.json and SVG plots of validation loss
/// against step, training FLOPs and loops at evaluation (and, with adaptive exit, against mean
/// loops per token).
public struct ExperimentReport {
    public let suite: ExperimentSuite
    public let results: [RunResult]

    public init(suite: ExperimentSuite, results: [RunResult]) {
        self.suite = suite
        self.results = results
    }

    public func write(to directory: String) throws {
        try AtomicFiles.makeFolder(directory + "/plots")
        try ExperimentTable.markdown(results).write(toFile: directory + "/table.md", atomically: true, encoding: .utf8)
        try ExperimentTable.csv(results).write(toFile: directory + "/table.csv", atomically: true, encoding: .utf8)
        try JSONFormat.encoder(pretty: true).encode(results).write(to: URL(fileURLWithPath: directory + "/results.json"), options: .atomic)
        for (name, plot) in plots() {
            try plot.svg().write(toFile: directory + "/plots/\(name).svg", atomically: true, encoding: .utf8)
        }
    }

    func plots() -> [(String, LinePlot)] {
        var byStep: [LinePlot.Series] = [], byFlops: [LinePlot.Series] = [], byLoops: [LinePlot.Series] = []
        var compute: [LinePlot.Series] = []
        for group in ExperimentTable.groupsByModel(results) {
            guard let model = suite.models.first(where: { $0.name == group[0].model }) else { continue }
            let flopsPerStep = Double(suite.options.tokensPerStep)
                * ModelCost(config: model.config, time: suite.options.time).trainingFlopsPerToken
            var curve: [Int: [Double]] = [:]
            for result in group {
                for point in result.validationCurve ?? [] { curve[point.step, default: []].append(point.loss) }
            }
            let steps = curve.keys.sorted()
            let folded = steps.map { meanAndSpread(curve[$0]!) }
            let points = zip(steps, folded).map { (x: Double($0), y: $1.mean) }, spread = folded.map(\.spread)
            let label = "\(model.name) (\(model.config.layout.summary))"
            byStep.append(.init(name: label, points: points, spread: spread))
            byFlops.append(.init(name: label, points: points.map { (x: $0.x * flopsPerStep, y: $0.y) }, spread: spread))
            let loops = (1...group[0].validationLossByLoops.count).map(Double.init)
            let sweepSeries = LinePlot.Series(name: label, x: loops, seeds: group.map(\.validationLossByLoops))
            let sweep = sweepSeries.points
            byLoops.append(sweepSeries)
            if let adaptive = group[0].adaptiveExit {
                compute.append(.init(name: "\(model.name): fixed loops", points: sweep))
                let points = (0..<adaptive.count).map { i in
                    (x: meanAndSpread(group.compactMap { $0.adaptiveExit?[i].meanLoops }).mean,
                     y: meanAndSpread(group.compactMap { $0.adaptiveExit?[i].loss }).mean)
                }.sorted { $0.x < $1.x }
                compute.append(.init(name: "\(model.name): adaptive exit", points: points))
            }
        }
        let loss = "validation loss (nats/token)", name = suite.name
        var plots = [
            ("val_loss_vs_step", LinePlot(title: "\(name): validation loss against step", xLabel: "step", yLabel: loss, series: byStep)),
            ("val_loss_vs_flops", LinePlot(title: "\(name): validation loss against training FLOPs", xLabel: "training FLOPs (log scale)",
                                           yLabel: loss, series: byFlops, logarithmicX: true)),
            ("val_loss_vs_loops", LinePlot(title: "\(name): validation loss against loops used at evaluation",
                                           xLabel: "loops at evaluation", yLabel: loss, series: byLoops, markers: true)),
        ]
        if !compute.isEmpty {
            plots.append(("val_loss_vs_mean_loops", LinePlot(
                title: "\(name): validation loss against loops per token (test-time compute)",
                xLabel: "mean loops per token", yLabel: loss, series: compute, markers: true)))
        }
        return plots
    }
}
