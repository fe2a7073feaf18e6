import ArgumentParser
import Foundation
import LoopCheckpoint
import LoopKernels
import LoopModel
import LoopTraining

/// `looplm experiment`: train a suite of models on the same data, budget, schedule and
/// seeds, evaluate each, and write a table, CSV and SVG plots. Every run is resumable, and a
/// suite stopped half way continues where it was when the same command is run again.
struct ExperimentCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "experiment",
        abstract: "Train and compare a suite of models (paper, paper-small, quick, mini).",
        discussion: """
            Writes OUT/table.md, OUT/table.csv, OUT/results.json, OUT/plots/*.svg and, per run, \
            OUT/runs/MODEL-seedS/{latest,best,metrics.jsonl,result.json}. Ctrl-C stops the current \
            run at a step boundary; the same command continues the suite.
            """)

    @Option(help: "Suite: paper, paper-small, quick or mini.")
    var suite: String
    @Option(help: "Token files from `looplm prepare` (GPT-2 tokens for paper, bytes otherwise).")
    var data: String
    @Option(help: "Output folder.")
    var out: String
    @Option(help: "Seeds per model (reported as mean ± standard deviation).")
    var seeds = 1
    @Option(help: "Override the suite's steps per model.")
    var steps: Int?
    @OptionGroup var compute: ComputeOptions

    func validate() throws {
        guard seeds >= 1 else { throw ValidationError("--seeds must be ≥ 1") }
        if let steps, steps < 1 { throw ValidationError("--steps must be ≥ 1") }
    }

    func run() throws {
        let suite = try ExperimentSuite.named(suite, steps: steps)
        let trainFile = try TokenFile.read(path: data + "/train.bin")
        let valFile = try TokenFile.read(path: data + "/val.bin")
        try FileManager.default.createDirectory(atPath: out + "/plots", withIntermediateDirectories: true)
        printError("experiment \(suite.name): \(suite.summary); \(suite.models.count) models × \(seeds) seeds, \(suite.options.schedule.totalSteps) steps of \(suite.options.tokensPerStep) tokens each")
        var results: [RunResult] = []
        for seedIndex in 0..<seeds {
            for model in suite.models {
                let seed = suite.options.seed + UInt64(seedIndex)
                let directory = out + "/runs/\(model.name)-seed\(seed)"
                if let done = try? JSONDecoder().decode(RunResult.self, from: Data(contentsOf: URL(fileURLWithPath: directory + "/result.json"))) {
                    results.append(done)
                    continue
                }
                printError("== \(model.name) (\(model.config.layout.summary), seed \(seed))")
                var options = suite.options
                options.seed = seed
                options.loopSampling = model.loopSampling
                let run: TrainingRun = FileManager.default.fileExists(atPath: directory + "/latest")
                    ? try TrainingRun.resume(out: directory, trainFile: trainFile, valFile: valFile, workers: compute.workers)
                    : try TrainingRun.start(out: directory, config: model.config, options: options,
                                            tokenizer: suite.tokenizer, trainFile: trainFile, valFile: valFile,
                                            workers: compute.workers)
                let summary = try run.loop()
                if summary["interrupted"] as? Bool == true {
                    try writeReport(results, suite: suite)
                    printError("suite stopped; run the same command to continue")
                    return
                }
                let result = try evaluate(run, model: model, suite: suite, seed: seed, directory: directory)
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
                try encoder.encode(result).write(to: URL(fileURLWithPath: directory + "/result.json"), options: .atomic)
                results.append(result)
            }
        }
        try writeReport(results, suite: suite)
        print(ExperimentTable.markdown(results))
    }

    func evaluate(
        _ run: TrainingRun, model: ExperimentModel, suite: ExperimentSuite, seed: UInt64, directory: String
    ) throws -> RunResult {
        let trainer = run.trainer, options = trainer.options
        guard let validation = trainer.validation else {
            throw DataError.noInput("\(data)/val.bin is too short to evaluate on")
        }
        let batches = validation.sequentialBatches(batch: options.batch, time: options.time,
                                                   maxBatches: suite.finalEvalBatches)
        let trained = model.config.layout.loops, maxLoops = suite.sweepFactor * trained
        let sweep = try (1...maxLoops).map { loops in
            try Evaluation.run(model: trainer.model, batches: batches, batch: options.batch, time: options.time,
                               loops: loops).loss
        }
        var adaptive: [AdaptivePoint]?
        if !suite.exitThresholds.isEmpty {
            let rows = options.batch, t = options.time
            let windows = batches.flatMap { b in (0..<rows).map { Array(b.tokens[($0 * t)..<(($0 + 1) * t)]) } }
            let targets = batches.flatMap { b in (0..<rows).map { Array(b.targets[($0 * t)..<(($0 + 1) * t)]) } }
            adaptive = try suite.exitThresholds.map { threshold in
                printError("   adaptive exit at change < \(threshold)")
                let result = try Evaluation.adaptive(model: trainer.model, windows: windows, targets: targets,
                                                     exit: ExitRule(criterion: .change, threshold: threshold),
                                                     maxLoops: maxLoops)
                return AdaptivePoint(threshold: Double(String(format: "%g", threshold))!, meanLoops: result.meanLoops, loss: result.loss)
            }
        }
        let log = try MetricsLog.read(path: directory + "/metrics.jsonl")
        let trainLosses = log.compactMap { $0["train_loss"] as? Double }.suffix(RunResult.trainLossWindow)
        let seconds = log.reduce(0.0) { total, entry in
            total + Double(options.tokensPerStep) / ((entry["tokens_per_second"] as? Double) ?? .infinity)
        }
        let tokens = trainer.step * options.tokensPerStep
        var result = RunResult(
            model: model.name, role: model.role, seed: seed, layout: model.config.layout.summary, loops: trained,
            parameters: trainer.model.table.parameterCount, effectiveDepth: model.config.layout.effectiveDepth,
            trainingFlops: Double(tokens) * ModelCost(config: model.config, time: options.time).trainingFlopsPerToken,
            tokens: tokens, trainingSeconds: seconds,
            finalTrainLoss: trainLosses.reduce(0, +) / Double(max(trainLosses.count, 1)),
            finalValidationLoss: sweep[trained - 1], validationLossByLoops: sweep)
        result.adaptiveExit = adaptive
        result.loopSampling = model.loopSampling?.description
        return result
    }

    /// Table, CSV, all results and the three plots, from the runs finished so far.
    func writeReport(_ results: [RunResult], suite: ExperimentSuite) throws {
        try ExperimentTable.markdown(results).write(toFile: out + "/table.md", atomically: true, encoding: .utf8)
        try ExperimentTable.csv(results).write(toFile: out + "/table.csv", atomically: true, encoding: .utf8)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try encoder.encode(results).write(to: URL(fileURLWithPath: out + "/results.json"), options: .atomic)
        var byStep: [LinePlot.Series] = [], byFlops: [LinePlot.Series] = [], byLoops: [LinePlot.Series] = []
        var compute: [LinePlot.Series] = []
        for group in ExperimentTable.groupsByModel(results) {
            guard let model = suite.models.first(where: { $0.name == group[0].model }) else { continue }
            let flopsPerStep = Double(suite.options.tokensPerStep)
                * ModelCost(config: model.config, time: suite.options.time).trainingFlopsPerToken
            var curve: [Int: [Double]] = [:]
            for result in group {
                let log = try MetricsLog.read(path: out + "/runs/\(result.model)-seed\(result.seed)/metrics.jsonl")
                for entry in log {
                    if let step = entry["step"] as? Int, let val = entry["val_loss"] as? Double { curve[step, default: []].append(val) }
                }
            }
            let points = curve.keys.sorted().map { (x: Double($0), y: meanAndSpread(curve[$0]!).mean) }
            let label = "\(model.name) (\(model.config.layout.summary))"
            byStep.append(.init(name: label, points: points))
            byFlops.append(.init(name: label, points: points.map { (x: $0.x * flopsPerStep, y: $0.y) }))
            let sweep = (0..<group[0].validationLossByLoops.count).map { i in
                (x: Double(i + 1), y: meanAndSpread(group.map { $0.validationLossByLoops[i] }).mean)
            }
            byLoops.append(.init(name: label, points: sweep))
            if let adaptive = group[0].adaptiveExit {
                compute.append(.init(name: "\(model.name): fixed loops", points: sweep))
                let points = (0..<adaptive.count).map { i in
                    (x: meanAndSpread(group.compactMap { $0.adaptiveExit?[i].meanLoops }).mean,
                     y: meanAndSpread(group.compactMap { $0.adaptiveExit?[i].loss }).mean)
                }.sorted { $0.x < $1.x }
                compute.append(.init(name: "\(model.name): adaptive exit", points: points))
            }
        }
        let loss = "validation loss (nats/token)"
        let plots = [
            ("val_loss_vs_step", LinePlot(title: "\(suite.name): validation loss against step", xLabel: "step", yLabel: loss, series: byStep)),
            ("val_loss_vs_flops", LinePlot(title: "\(suite.name): validation loss against training FLOPs", xLabel: "training FLOPs (log scale)", yLabel: loss, series: byFlops, logarithmicX: true)),
            ("val_loss_vs_loops", LinePlot(title: "\(suite.name): validation loss against loops used at evaluation", xLabel: "loops at evaluation", yLabel: loss, series: byLoops, markers: true)),
        ]
        var allPlots = plots
        if !compute.isEmpty {
            allPlots.append(("val_loss_vs_mean_loops", LinePlot(
                title: "\(suite.name): validation loss against loops per token (test-time compute)",
                xLabel: "mean loops per token", yLabel: loss, series: compute, markers: true)))
        }
        for (name, plot) in allPlots {
            try plot.svg().write(toFile: out + "/plots/\(name).svg", atomically: true, encoding: .utf8)
        }
    }
}
