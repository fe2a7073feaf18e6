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
        abstract: "Train and compare a suite of models (\((ExperimentSuite.names + ReasoningSuite.names).joined(separator: ", "))).",
        discussion: """
            Writes OUT/table.md, OUT/table.csv, OUT/results.json, OUT/plots/*.svg and, per run, \
            OUT/runs/MODEL-seedS/{latest,best,metrics.jsonl,result.json}. Ctrl-C stops the current \
            run at a step boundary; the same command continues the suite. The reasoning suites \
            generate their own problems and need no --data; several processes started with the same \
            command share their runs, and the report gathers every finished run in OUT.
            """)

    @Option(help: "Suite: \((ExperimentSuite.names + ReasoningSuite.names).joined(separator: ", ")).")
    var suite: String
    @Option(help: "Token files from `looplm prepare` (GPT-2 tokens for paper, bytes otherwise; not for reasoning).")
    var data: String?
    @Option(help: "Output folder.")
    var out: String
    @Option(parsing: .unconditional, help: "Seeds per model (reported as mean ± standard deviation).")
    var seeds = 1
    @Option(parsing: .unconditional, help: "Override the suite's steps per model.")
    var steps: Int?
    @Option(name: .customLong("task"), help: "Reasoning suites: run only this task (repeatable).")
    var tasks: [String] = []
    @Option(name: .customLong("model"), help: "Reasoning suites: run only this model (repeatable).")
    var models: [String] = []
    @Option(parsing: .unconditional, help: "Validation batches of every evaluation, final ones and loop sweeps included (default: the suite's; 1 makes a --steps check of a large suite quick).")
    var evalBatches: Int?
    @Option(parsing: .unconditional, help: "The reasoning suite: loops L of the looped model, compared with 1×1 and L×1 and trained on 1…L hops (default: \(ReasoningSuite.standardLoops)).")
    var loops: Int?
    @Option(parsing: .unconditional, help: "Reasoning suites: peak learning rate of every task (default: the suite's).")
    var lr: Float?
    @OptionGroup var compute: ComputeOptions

    func validate() throws {
        let suites = ExperimentSuite.names + ReasoningSuite.names
        guard suites.contains(suite) else {
            throw ValidationError("unknown suite '\(suite)'; choose one of: \(suites.joined(separator: ", "))")
        }
        if ReasoningSuite.names.contains(suite) && data != nil {
            throw ValidationError("--suite \(suite) generates its own problems; drop --data")
        }
        if let lr, !(lr > 0 && lr < 1) { throw ValidationError("--lr must be in (0, 1)") }
        if let loops, !(2...6).contains(loops) { throw ValidationError("--loops must be in 2...6") }
        if let evalBatches, !(1...10_000).contains(evalBatches) {
            throw ValidationError("--eval-batches must be in 1...10000")
        }
        guard (1...1000).contains(seeds) else { throw ValidationError("--seeds must be in 1...1000") }
        if let steps, !(1...TrainingOptions.maximumBatch).contains(steps) {
            throw ValidationError("--steps must be in 1...\(TrainingOptions.maximumBatch)")
        }
    }

    func run() throws {
        let job = try Job.start()
        try AtomicFiles.makeFolder(out)
        if ReasoningSuite.names.contains(suite) { return try runReasoning(job) }
        guard tasks.isEmpty && models.isEmpty && lr == nil && loops == nil else {
            throw ValidationError("--task, --model, --loops and --lr are for the reasoning suites")
        }
        guard let data else { throw ValidationError("--suite \(suite) trains on token files: give --data DIR") }
        var suite = try ExperimentSuite.named(suite, steps: steps)
        if let evalBatches {
            suite.options.evalBatches = evalBatches
            suite.finalEvalBatches = evalBatches
        }
        let runner = ExperimentRunner(suite: suite, directory: out, seeds: seeds, workers: compute.workers,
                                      communicator: job.communicator)
        let stop = StopSignal()
        let progress = SuiteProgress { _ in suite.options.schedule.totalSteps }
        runner.onMessage = printError
        runner.onStep = progress.update
        runner.shouldStop = { stop.requested }
        if job.communicator.isMain {
            printError("experiment \(suite.name): \(suite.summary); \(suite.models.count) models × \(seeds) seeds, \(suite.options.schedule.totalSteps) steps of \(suite.options.tokensPerStep * job.communicator.size) tokens each")
        }
        let outcome = try runner.run { config, options in
            try TokenData.load(directory: data, config: config, options: options, tokenizer: suite.tokenizer,
                               validationBatches: max(options.evalBatches, suite.finalEvalBatches))
        }
        progress.finish()
        guard job.communicator.isMain else { return }
        if !outcome.complete {
            printError("suite stopped; run the same command to continue")
            return
        }
        print(ExperimentTable.markdown(outcome.results))
    }

    func runReasoning(_ job: Job) throws {
        guard evalBatches == nil else {
            throw ValidationError("--eval-batches is for the suites that train on token files; reasoning suites evaluate held-out questions")
        }
        guard loops == nil || suite == "reasoning" else {
            throw ValidationError("--loops is for --suite reasoning; \(suite) has a fixed layout")
        }
        var suite = try ReasoningSuite.named(suite, steps: steps, loops: loops).restricted(tasks: tasks, models: models)
        if let lr { suite = suite.withLearningRate(lr) }
        let runner = ReasoningRunner(suite: suite, directory: out, seeds: seeds, workers: compute.workers,
                                     communicator: job.communicator)
        let stop = StopSignal()
        let progress = SuiteProgress { name in
            suite.setups.first { name.hasPrefix($0.task.name + "-") }?.options.schedule.totalSteps ?? 0
        }
        runner.onMessage = printError
        runner.onStep = progress.update
        runner.shouldStop = { stop.requested }
        if job.communicator.isMain {
            printError("experiment \(suite.name): \(suite.summary); \(suite.setups.count) tasks × \(suite.models.count) models × \(seeds) seeds")
        }
        let outcome = try runner.run()
        progress.finish()
        guard job.communicator.isMain else { return }
        if !outcome.complete {
            return printError("suite not finished (stopped, or runs left to another process); run the same command again to continue it and gather every finished run")
        }
        print(ReasoningReport(suite: suite, results: outcome.results).markdown())
    }
}
