import ArgumentParser
import Foundation
import LoopCheckpoint
import LoopKernels
import LoopModel
import LoopTraining

/// Times full training steps (forward, backward, all-reduce, AdamW) on random tokens, through
/// the same `Trainer` that `train` uses.
struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Time training steps and print tokens/s, achieved GFLOP/s and the sgemm roofline.")

    @Option(help: "Model preset (default: the reference 6×384 model).")
    var preset = "bench"
    @Option(parsing: .unconditional, help: "Override the preset's loop count.")
    var loops: Int?
    @Option(parsing: .unconditional, help: "Sequences per step per process (B).")
    var batch = 4
    @OptionGroup var contextOption: ContextOption
    @Option(parsing: .unconditional, help: "Untimed warm-up steps.")
    var warmup = 2
    @Option(parsing: .unconditional, help: "Timed steps.")
    var steps = 5
    @Option(parsing: .unconditional, help: "Random seed.")
    var seed: UInt64 = 1337
    @Flag(help: "Recompute each block in backward instead of keeping its activations (as train --recompute).")
    var recompute = false
    @Flag(inversion: .prefixedNo, help: "Also time the step's sgemm calls alone (the roofline).")
    var roofline = true
    @Flag(help: "Print one JSON object instead of text.")
    var json = false
    @Flag(help: "Benchmark inference instead: load, prefill, decode, bandwidth, batched generation.")
    var generate = false
    @Option(help: "With --generate: a checkpoint to load (default: the preset with random weights).")
    var checkpoint: String?
    @OptionGroup var precision: PrecisionOption
    @Option(parsing: .unconditional, help: "With --generate: prompt tokens prefilled in one pass.")
    var promptTokens = 512
    @Option(parsing: .unconditional, help: "With --generate: tokens decoded.")
    var tokens = 128
    @Option(help: "With --generate: batch sizes of batched generation, comma separated.")
    var batches = "1,8,32"
    @OptionGroup var exitOptions: ExitOptions
    @OptionGroup var compute: ComputeOptions
    @OptionGroup var replicaOption: ReplicaOption

    func validate() throws {
        guard (1...1024).contains(batch), (1...10_000).contains(steps), (0...10_000).contains(warmup) else {
            throw ValidationError("--batch must be in 1...1024, --steps in 1...10000, --warmup in 0...10000")
        }
        _ = try batchSizes()
        guard promptTokens >= 1, tokens >= 1 else { throw ValidationError("--prompt-tokens and --tokens must be ≥ 1") }
        if !generate, exitOptions.exit != .fixed || exitOptions.maxLoops != nil {
            throw ValidationError("--exit and --max-loops time generation: add --generate")
        }
    }

    static let maximumGenerationBatch = 1024

    /// `--batches`: every comma-separated entry a number in 1...1024.
    func batchSizes() throws -> [Int] {
        let entries = batches.split(separator: ",", omittingEmptySubsequences: false)
        let sizes = entries.compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }
        guard !entries.isEmpty, sizes.count == entries.count, sizes.allSatisfy({ (1...Self.maximumGenerationBatch).contains($0) })
        else {
            throw ValidationError("--batches must be comma-separated batch sizes in 1...\(Self.maximumGenerationBatch), such as 1,8,32")
        }
        return sizes
    }

    struct Phases: Codable {
        let forward: Double, backward: Double, allreduce: Double, adamw: Double
    }

    struct Report: Codable {
        let implementation: String
        let preset: String
        let layout: String
        let batch: Int
        let time: Int
        let threads: Int
        let processes: Int
        let replicas: Int  // copies of the model in each process, each on its own threads
        let stepSeconds: [Double]
        let medianStepSeconds: Double
        let tokensPerSecond: Double  // of the whole job
        let gflops: Double
        let trainingFlopsPerToken: Double
        let phaseSeconds: Phases
        let allreduceSeconds: Double
        let blasOnlyStepSeconds: Double?
        let blasOnlyTokensPerSecond: Double?
        let blasOnlyGflops: Double?
        let recompute: Bool
        let peakResidentBytes: Int
        let cpu: String
        let sgemm: String
    }

    func runGenerate() throws {
        let workers = compute.workers
        let start = GenerationBenchmark.now()
        let model: LanguageModel
        if let checkpoint {
            model = try Checkpoint.loadLanguageModel(from: checkpointPath(checkpoint), precision: precision.weights, workers: workers).model
        } else {
            var config = try Preset.named(preset).configuration()
            if let loops { config = try config.with(loops: loops) }
            let table = ParameterTable(config), parameters = try FloatBuffer(count: table.totalCount, hugePages: true)
            var generator = SeededGenerator(seed: seed)
            table.initialise(parameters, generator: &generator)
            let weights = ModelWeights(config: config, table: table, parameters: parameters)
            model = LanguageModel(weights: try weights.converted(to: precision.weights, workers: workers), workers: workers)
        }
        let loadSeconds = GenerationBenchmark.now() - start
        try exitOptions.check(model, path: checkpoint ?? "preset \(preset)")
        let sizes = try batchSizes(), context = model.config.contextLength
        guard tokens < context, promptTokens + tokens <= context else {
            throw ValidationError("--prompt-tokens + --tokens must fit in the model's context of \(context) (they are \(promptTokens) + \(tokens))")
        }
        let cap = try exitOptions.cap(loops: nil, trained: model.config.layout.loops)
        let report = try GenerationBenchmark(model: model, precision: precision.weights, loadSeconds: loadSeconds,
                                             promptTokens: promptTokens, newTokens: tokens, batches: sizes,
                                             exit: exitOptions.exit, maxLoops: cap).run()
        if json { return try printJSON(report) }
        print(GenerationBenchmark.describe(report))
    }

    func run() throws {
        if generate { return try runGenerate() }
        let job = try Job.start()
        var config = try Preset.named(preset).configuration()
        if let loops { config = try config.with(loops: loops) }
        let t = contextOption.value ?? config.contextLength
        guard t >= 1, t <= config.contextLength else {
            throw ValidationError("--context must be in 1...\(config.contextLength)")
        }
        let ranks = job.communicator.size * replicaOption.replicas
        var options = TrainingOptions(batch: batch, time: t, microBatches: ranks,
                                      schedule: LearningRateSchedule(peak: 1e-4, minimum: 1e-4, warmupSteps: 0,
                                                                     totalSteps: warmup + steps), seed: seed)
        options.recompute = recompute ? true : nil
        let perRank = TrainingMemory(config: config, options: options, processes: ranks).total
        try SystemMemory.require(perRank.flatMap { CheckedSize.product($0, replicaOption.replicas) },
                                 for: "benchmarking \(preset) at batch \(batch) × \(t)", advice: "lower --batch, --context or --replicas")
        let threads = try replicaOption.threadsPerReplica(compute), compute = compute
        let records = try job.eachRank(replicas: replicaOption.replicas) {
            [config, options, warmup = warmup, steps = steps, seed = seed] communicator in
            let workers = ReplicaOption.workers(threads: threads, compute)
            var generator = SeededGenerator(seed: seed)
            let model = try LoopGPT(config: config, generator: &generator, workers: workers)
            let trainer = try Trainer(model: model, options: options, data: RandomTokens(vocabSize: config.vocabSize),
                                      generator: generator, communicator: communicator)
            var records: [StepRecord] = []
            for step in 0..<(warmup + steps) {
                let record = try trainer.trainStep()
                if step >= warmup { records.append(record) }
            }
            return records
        }
        // With replicas, every replica's products at once (they share the cores' caches and memory).
        let ceiling = roofline ? try ThreadReplicas.run(replicas: replicaOption.replicas) { [config, batch = batch] _ in
            try BLASCeiling.measure(config: config, batch: batch, time: t, workers: ReplicaOption.workers(threads: threads, compute))
        }.max { $0.seconds < $1.seconds } : nil
        let cost = ModelCost(config: config, time: t)
        let seconds = records.map(\.seconds)
        let median = seconds.sorted()[seconds.count / 2]
        let tokens = Double(batch * t * ranks)
        let tokensPerSecond = tokens / median
        func mean(_ values: [Double]) -> Double { values.reduce(0, +) / Double(values.count) }
        let phases = Phases(forward: mean(records.map(\.forwardSeconds)), backward: mean(records.map(\.backwardSeconds)),
                            allreduce: mean(records.map(\.reduceSeconds)), adamw: mean(records.map(\.optimizerSeconds)))
        let report = Report(
            implementation: "looplm", preset: preset, layout: config.layout.summary, batch: batch, time: t,
            threads: threads, processes: job.communicator.size, replicas: replicaOption.replicas, stepSeconds: seconds,
            medianStepSeconds: median, tokensPerSecond: tokensPerSecond, gflops: cost.trainingFlopsPerToken * tokensPerSecond / 1e9,
            trainingFlopsPerToken: cost.trainingFlopsPerToken, phaseSeconds: phases, allreduceSeconds: phases.allreduce,
            blasOnlyStepSeconds: ceiling?.seconds, blasOnlyTokensPerSecond: ceiling.map { Double(batch * t * replicaOption.replicas) / $0.seconds },
            blasOnlyGflops: ceiling.map { Double(replicaOption.replicas) * $0.flops / $0.seconds / 1e9 }, recompute: recompute,
            peakResidentBytes: SystemMemory.peakResidentBytes(), cpu: CPU.description,
            sgemm: compute.sgemm.kernel.rawValue)
        guard job.communicator.isMain else { return }
        if json { return try printJSON(report) }
        let processes = job.communicator.size, copies = replicaOption.replicas
        print("looplm bench: \(preset) (\(config.layout.summary)), B=\(batch) T=\(t), \(counted(threads, "thread")) × \(processes == 1 ? "1 process" : "\(processes) processes")\(copies > 1 ? " × \(copies) replicas" : "") on \(CPU.description), sgemm \(report.sgemm) (\(compute.sgemm.kernel.implementation))")
        print(String(format: "  median step %.3f s  ·  %.0f tokens/s  ·  %.1f GFLOP/s (%.1f MFLOP/token)",
                     median, tokensPerSecond, report.gflops, cost.trainingFlopsPerToken / 1e6))
        print(String(format: "  phases: forward %.3f s, backward %.3f s, all-reduce %.3f s, AdamW %.3f s",
                     phases.forward, phases.backward, phases.allreduce, phases.adamw))
        print(String(format: "  peak memory %.2f GB%@", Double(report.peakResidentBytes) / 1e9, recompute ? " (recomputing)" : ""))
        if let ceiling {
            print(String(format: "  roofline: the step's sgemm calls alone take %.3f s (%.0f tokens/s, %.1f GFLOP/s); the step runs at %.0f%% of that",
                         ceiling.seconds, Double(batch * t * copies) / ceiling.seconds, Double(copies) * ceiling.flops / ceiling.seconds / 1e9,
                         100 * ceiling.seconds / median))
        }
    }
}
