import ArgumentParser
import Foundation
import LoopCheckpoint
import LoopKernels
import LoopModel
import LoopTraining

extension SuiteName: ExpressibleByArgument {}

/// `looplm experiment`: train a suite of models on the same data, budget, schedule and
/// seeds, evaluate each, and write a table, CSV and SVG plots. Every run is resumable, and a
/// suite stopped half way continues where it was when the same command is run again.
struct ExperimentCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "experiment",
        abstract: "Train and compare a suite of models (\(SuiteName.allCases.map(\.rawValue).joined(separator: ", "))).",
        discussion: """
            Writes OUT/table.md, OUT/table.csv, OUT/results.json, OUT/plots/*.svg and, per run, \
            OUT/runs/NAME/{run.json,latest,best,metrics.jsonl,result.json}. Ctrl-C stops the current \
            run at a step boundary; the same command continues the suite. Several processes \
            started with the same command share its runs (a run being trained is left to its \
            process), and the report gathers every finished run. A run folder made with other \
            settings is refused rather than reported. The reasoning suites generate their own \
            problems and need no --data.
            """)

    @Option(help: "Suite: \(SuiteName.allCases.map(\.rawValue).joined(separator: ", ")).")
    var suite: SuiteName
    @Option(help: "Token files from `looplm prepare` (GPT-2 tokens for paper, bytes otherwise; not for reasoning).")
    var data: String?
    @Option(help: "Output folder.")
    var out: String
    @Option(parsing: .unconditional, help: "Seeds per model (reported as mean ± standard deviation).")
    var seeds = 1
    @Option(parsing: .unconditional, help: "Override the suite's steps per model.")
    var steps: Int?
    @Option(name: .customLong("task"), help: "Reasoning and depth suites: run only this task (repeatable).")
    var tasks: [String] = []
    @Option(name: .customLong("model"), help: "Reasoning and depth suites: run only this model (repeatable; a model trained from another's weights brings that one along).")
    var models: [String] = []
    @Option(parsing: .unconditional, help: "Validation batches of every evaluation, final ones and loop sweeps included (default: the suite's; 1 makes a --steps check of a large suite quick).")
    var evalBatches: Int?
    @Option(parsing: .unconditional, help: "The reasoning suite: loops L of the looped model, compared with 1×1 and L×1 and trained on 1…L hops (default: \(ReasoningSuite.standardLoops)).")
    var loops: Int?
    @Option(parsing: .unconditional, help: "Reasoning suites: peak learning rate of every task (default: the suite's).")
    var lr: Float?
    @Flag(help: "Print the finished suite's results as JSON (the runs' result.json, in order) instead of the table.")
    var json = false
    @OptionGroup var compute: ComputeOptions

    func validate() throws {
        if suite.trainsOnTokenFiles {
            guard tasks.isEmpty && models.isEmpty && lr == nil && loops == nil else {
                throw ValidationError("--task, --model, --loops and --lr are for the reasoning suites")
            }
            guard data != nil else { throw ValidationError("--suite \(suite.rawValue) trains on token files: give --data DIR") }
        } else {
            guard data == nil || suite.acceptsData else {
                throw ValidationError("--suite \(suite.rawValue) generates its own problems; drop --data")
            }
            guard evalBatches == nil else {
                throw ValidationError("--eval-batches is for the suites that train on token files; reasoning suites evaluate held-out questions")
            }
            guard loops == nil || suite == .reasoning else {
                throw ValidationError("--loops is for --suite reasoning; \(suite.rawValue) has a fixed layout")
            }
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
        if var tokenSuite = try ExperimentSuite.named(suite, steps: steps), let data {
            if let evalBatches {
                tokenSuite.options.evalBatches = evalBatches
                tokenSuite.finalEvalBatches = evalBatches
            }
            let plan = TokenSuitePlan(suite: tokenSuite, dataDirectory: data)
            let size = "\(tokenSuite.models.count) models × \(seeds) seed\(seeds == 1 ? "" : "s"), \(tokenSuite.options.schedule.totalSteps) steps of \(tokenSuite.options.tokensPerStep * job.communicator.size) tokens each"
            try run(plan, job: job, size: size, steps: { _ in tokenSuite.options.schedule.totalSteps }) { results in
                ExperimentTable.markdown(results)
            }
        } else if var frontier = try DepthFrontierPlan.named(suite, steps: steps, data: data) {
            guard lr == nil else { throw ValidationError("--lr is for the reasoning suites") }
            frontier = try frontier.restricted(tasks: tasks, models: models)
            let size = "\(try frontier.runs(seeds: seeds).count) runs (objectives last, all, gate, the gate retrained alone, stage I from the all model; \(seeds) seed\(seeds == 1 ? "" : "s"))"
            try run(frontier, job: job, size: size, steps: frontier.steps(ofRun:)) { results in
                let table = (try? String(contentsOfFile: out + "/table.md", encoding: .utf8)) ?? ""  // written by the report just before
                return table + "\nfrontier: \(out)/frontier.csv (\(results.count) runs)"
            }
        } else if var reasoning = ReasoningSuite.named(suite, steps: steps, loops: loops) {
            reasoning = try reasoning.restricted(tasks: tasks, models: models)
            if let lr { reasoning = reasoning.withLearningRate(lr) }
            let size = "\(reasoning.setups.count) task\(reasoning.setups.count == 1 ? "" : "s") × \(reasoning.models.count) models × \(seeds) seed\(seeds == 1 ? "" : "s")"
            let steps = { (name: String) in reasoning.setups.first { name.hasPrefix($0.task.name + "-") }?.options.schedule.totalSteps ?? 0 }
            try run(ReasoningPlan(suite: reasoning), job: job, size: size, steps: steps) { results in
                ReasoningReport(suite: reasoning, results: results).markdown()
            }
        }
    }

    /// Runs a plan with progress on a terminal and Ctrl-C stopping it at a step boundary.
    func run<Plan: SuitePlan>(
        _ plan: Plan, job: Job, size: String, steps: @escaping (String) -> Int, table: ([Plan.Result]) -> String
    ) throws {
        let runner = SuiteRunner(plan: plan, directory: out, seeds: seeds, workers: compute.workers,
                                 communicator: job.communicator)
        let stop = StopSignal()
        let progress = SuiteProgress(totalSteps: steps)
        runner.onMessage = printError
        runner.onStep = progress.update
        runner.shouldStop = { stop.requested }
        if job.communicator.isMain { printError("experiment \(plan.name): \(plan.summary); \(size)") }
        let outcome = try runner.run()
        progress.finish()
        guard job.communicator.isMain else { return }
        guard outcome.complete else {
            return printError("suite not finished (stopped, or runs left to another process); run the same command again to continue it and gather every finished run")
        }
        if json { return try printJSON(outcome.results) }
        print(table(outcome.results))
    }
}
