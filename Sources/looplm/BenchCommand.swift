import ArgumentParser
import Foundation
import LoopKernels
import LoopModel
import LoopTraining

/// Times full training steps (forward, backward, AdamW) on random tokens.
struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Time training steps and print tokens/s and achieved GFLOP/s.")

    @Option(help: "Model preset (default: the reference 6×384 model).")
    var preset = "bench"
    @Option(help: "Override the preset's loop count.")
    var loops: Int?
    @Option(help: "Sequences per step (B).")
    var batch = 4
    @Option(help: "Sequence length (T); default: the preset's context.")
    var time: Int?
    @Option(help: "Untimed warm-up steps.")
    var warmup = 2
    @Option(help: "Timed steps.")
    var steps = 5
    @Option(help: "Random seed.")
    var seed: UInt64 = 1337
    @Flag(help: "Print one JSON object instead of text.")
    var json = false
    @OptionGroup var compute: ComputeOptions

    func validate() throws {
        guard batch >= 1, steps >= 1, warmup >= 0 else {
            throw ValidationError("--batch and --steps must be ≥ 1, --warmup ≥ 0")
        }
    }

    func run() throws {
        var config = try Preset.named(preset).configuration()
        if let loops { config = try config.with(loops: loops) }
        let t = time ?? config.contextLength
        guard t >= 1, t <= config.contextLength else {
            throw ValidationError("--time must be in 1...\(config.contextLength)")
        }
        var generator = SeededGenerator(seed: seed)
        let model = LoopGPT(config: config, generator: &generator,
                            workers: Workers(threads: compute.threads))
        let optimizer = AdamW(table: model.table)
        let n = batch * t
        let tokens = (0..<n).map { _ in Int32(generator.next() % UInt64(config.vocabSize)) }
        let targets = (0..<n).map { _ in Int32(generator.next() % UInt64(config.vocabSize)) }
        var seconds: [Double] = []
        var phases = [Double](repeating: 0, count: 4)  // zero, forward, backward, AdamW
        func now() -> Double { Double(DispatchTime.now().uptimeNanoseconds) / 1e9 }
        for step in 0..<(warmup + steps) {
            // The same work as Trainer.trainStep, timed by phase.
            let start = now()
            model.zeroGradients()
            let t1 = now()
            _ = try model.forward(tokens: tokens, targets: targets, batch: batch, time: t)
            let t2 = now()
            model.backward()
            let t3 = now()
            optimizer.update(model: model, learningRate: 1e-4)
            let end = now()
            if step >= warmup {
                seconds.append(end - start)
                for (i, d) in [t1 - start, t2 - t1, t3 - t2, end - t3].enumerated() { phases[i] += d }
            }
        }
        phases = phases.map { $0 / Double(steps) }
        let ceiling = BLASCeiling.measure(config: config, batch: batch, time: t,
                                          workers: model.workers)
        let cost = ModelCost(config: config, time: t)
        let median = seconds.sorted()[seconds.count / 2]
        let tokensPerSecond = Double(n) / median
        let gflops = cost.trainingFlopsPerToken * tokensPerSecond / 1e9
        if json {
            let object: [String: Any] = [
                "implementation": "looplm", "preset": preset, "layout": config.layout.summary,
                "batch": batch, "time": t, "threads": compute.threads,
                "step_seconds": seconds, "median_step_seconds": median,
                "tokens_per_second": tokensPerSecond, "gflops": gflops,
                "training_flops_per_token": cost.trainingFlopsPerToken,
                "phase_seconds": ["zero_grad": phases[0], "forward": phases[1],
                                  "backward": phases[2], "adamw": phases[3]],
                "blas_only_step_seconds": ceiling.seconds,
                "blas_only_tokens_per_second": Double(n) / ceiling.seconds,
                "blas_only_gflops": ceiling.flops / ceiling.seconds / 1e9,
            ]
            let data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
            print(String(decoding: data, as: UTF8.self))
        } else {
            print("looplm bench: \(preset) (\(config.layout.summary)), B=\(batch) T=\(t), \(compute.threads) threads")
            print(String(format: "  median step %.3f s  ·  %.0f tokens/s  ·  %.1f GFLOP/s (%.1f MFLOP/token)",
                         median, tokensPerSecond, gflops, cost.trainingFlopsPerToken / 1e6))
            print(String(format: "  phases: zero %.3f s, forward %.3f s, backward %.3f s, AdamW %.3f s",
                         phases[0], phases[1], phases[2], phases[3]))
            print(String(format: "  roofline: the step's sgemm calls alone take %.3f s (%.0f tokens/s, %.1f GFLOP/s); the step runs at %.0f%% of that",
                         ceiling.seconds, Double(n) / ceiling.seconds, ceiling.flops / ceiling.seconds / 1e9,
                         100 * ceiling.seconds / median))
        }
    }
}
