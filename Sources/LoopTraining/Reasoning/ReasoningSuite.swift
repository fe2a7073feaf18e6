import LoopModel

/// One task of the reasoning suite: what it trains on and what it is tested on.
public struct ReasoningSetup: Sendable {
    public let task: any ReasoningTask
    /// Trained on difficulties 1...trainedDifficulty.
    public let trainedDifficulty: Int
    /// Tested on these, harder ones included (test-time extrapolation).
    public let evaluatedDifficulties: [Int]
    public let options: TrainingOptions
    public let channels: Int
    public let heads: Int

    public func config(_ layout: LoopLayout) throws(ConfigurationError) -> ModelConfiguration {
        let longest = task.sequenceLength(maximumDifficulty: evaluatedDifficulties.max() ?? trainedDifficulty)
        return try ModelConfiguration(vocabSize: task.vocabularySize, contextLength: longest, channels: channels,
                                      heads: heads, layout: layout)
    }
}

/// A layout of the suite: k blocks once, kL blocks once, k blocks looped L times, and the same
/// looped model trained at random depth.
public struct ReasoningModel: Sendable {
    public let name: String
    public let role: String
    public let layout: LoopLayout
    public let loopSampling: LoopSampling?
}

/// Where loops pay: tasks that need several sequential steps, where a k-block model looped L
/// times can be compared with k and kL unshared blocks at equal width (Saunshi et al. 2025).
public struct ReasoningSuite: Sendable {
    public let name: String
    public let summary: String
    public let setups: [ReasoningSetup]
    public let models: [ReasoningModel]
    /// Held-out questions per difficulty (and per loop count).
    public let questionsPerDifficulty: Int
    /// Looped models are evaluated at 1…(this × trained) loops.
    public let sweepFactor: Int

    /// Seed of the held-out problems (the same for every model and seed).
    public static let evaluationSeed: UInt64 = 77

    /// Loops of the looped model in the standard suite, and the hops (or letters' hops) it trains on.
    public static let standardLoops = 2

    /// A reasoning suite by name (nil for the suites that train on token files).
    public static func named(_ name: SuiteName, steps: Int? = nil, loops: Int? = nil) -> ReasoningSuite? {
        switch name {
        case .reasoning: return standard(steps: steps, loops: loops ?? standardLoops)
        case .miniReasoning: return mini(steps: steps ?? 4)
        default: return nil
        }
    }

    static func models(blocks k: Int, loops l: Int) -> [ReasoningModel] {
        [ReasoningModel(name: "\(k)x1", role: "shallow: \(k) blocks once", layout: LoopLayout(looped: k), loopSampling: nil),
         ReasoningModel(name: "\(k * l)x1", role: "deep: \(k * l) unshared blocks", layout: LoopLayout(looped: k * l), loopSampling: nil),
         ReasoningModel(name: "\(k)x\(l)", role: "looped: \(k) blocks × \(l) loops", layout: LoopLayout(looped: k, loops: l),
                        loopSampling: nil),
         ReasoningModel(name: "\(k)x\(l)-random", role: "looped, trained at loops drawn from \(l - l / 2)...\(l + l / 2)",
                        layout: LoopLayout(looped: k, loops: l), loopSampling: .uniform(minimum: l - l / 2, maximum: l + l / 2))]
    }

    static func options(batch: Int, steps: Int, lr: Float, time: Int) -> TrainingOptions {
        TrainingOptions(batch: batch, time: time, microBatches: 1,
                        schedule: LearningRateSchedule(peak: lr, minimum: lr / 10, warmupSteps: max(1, steps / 20), totalSteps: steps),
                        weightDecay: 0, seed: 1337, evalInterval: max(steps / 10, 1), evalBatches: 2,
                        checkpointInterval: max(steps / 4, 1))
    }

    static func setup(
        _ task: any ReasoningTask, trained: Int, evaluated: [Int], steps: Int, batch: Int, lr: Float, width: Int, heads: Int
    ) -> ReasoningSetup {
        ReasoningSetup(task: task, trainedDifficulty: trained, evaluatedDifficulties: evaluated,
                       options: options(batch: batch, steps: steps, lr: lr,
                                        time: task.sequenceLength(maximumDifficulty: evaluated.max()!) - 1),
                       channels: width, heads: heads)
    }

    /// 1×1, L×1, 1×L and 1×L at random depth, trained on 1…L hops and tested on 1…L+2.
    static func standard(steps: Int?, loops l: Int) -> ReasoningSuite {
        let hops = Array(1...(l + 2)), steps = steps ?? 3000
        return ReasoningSuite(
            name: "reasoning",
            summary: "pointer chasing, chains to their roots, p-hop induction and addition: 1×1, \(l)×1, 1×\(l) and 1×\(l) at random depth",
            setups: [
                setup(PointerChasing(cells: 16, maxHops: 8, questionsPerSequence: 4), trained: l, evaluated: hops,
                      steps: steps, batch: 64, lr: 1e-3, width: 128, heads: 4),
                setup(PointerChains(cells: 32, questionsPerSequence: 2, extraRoots: 2), trained: l, evaluated: hops,
                      steps: steps, batch: 64, lr: 1e-3, width: 128, heads: 4),
                setup(PHopInduction(alphabet: 4, length: 32), trained: l, evaluated: hops,
                      steps: steps, batch: 64, lr: 1e-3, width: 128, heads: 4),
                setup(Addition(), trained: 6, evaluated: [1, 2, 3, 4, 5, 6, 7, 8], steps: steps, batch: 64,
                      lr: 1e-3, width: 64, heads: 4),
            ],
            models: models(blocks: 1, loops: l), questionsPerDifficulty: 1024, sweepFactor: 2)
    }

    /// The same suite with every task trained at peak learning rate `peak` (decaying to a tenth).
    public func withLearningRate(_ peak: Float) -> ReasoningSuite {
        ReasoningSuite(
            name: name, summary: summary,
            setups: setups.map { setup in
                var options = setup.options
                options.schedule.peak = peak
                options.schedule.minimum = peak / 10
                return ReasoningSetup(task: setup.task, trainedDifficulty: setup.trainedDifficulty,
                                      evaluatedDifficulties: setup.evaluatedDifficulties, options: options,
                                      channels: setup.channels, heads: setup.heads)
            },
            models: models, questionsPerDifficulty: questionsPerDifficulty, sweepFactor: sweepFactor)
    }

    /// The same suite restricted to some tasks and models (all when a list is empty), so parts
    /// can run in separate processes into one folder; a later unrestricted run gathers them.
    public func restricted(tasks: [String], models names: [String]) throws(ConfigurationError) -> ReasoningSuite {
        let taskNames = setups.map(\.task.name), modelNames = models.map(\.name)
        for name in tasks where !taskNames.contains(name) { throw .unknownName(name, kind: "task", known: taskNames) }
        for name in names where !modelNames.contains(name) { throw .unknownName(name, kind: "model", known: modelNames) }
        return ReasoningSuite(
            name: name, summary: summary,
            setups: setups.filter { tasks.isEmpty || tasks.contains($0.task.name) },
            models: models.filter { names.isEmpty || names.contains($0.name) },
            questionsPerDifficulty: questionsPerDifficulty, sweepFactor: sweepFactor)
    }

    /// The suite's structure at toy size, for tests.
    static func mini(steps: Int) -> ReasoningSuite {
        ReasoningSuite(
            name: "mini-reasoning", summary: "the reasoning suite at toy size (tests)",
            setups: [
                setup(PointerChasing(cells: 6, maxHops: 3, questionsPerSequence: 2), trained: 2,
                      evaluated: [1, 2, 3], steps: steps, batch: 4, lr: 1e-3, width: 16, heads: 2),
                setup(PHopInduction(alphabet: 3, length: 10, maxHops: 3), trained: 2, evaluated: [1, 2, 3], steps: steps,
                      batch: 4, lr: 1e-3, width: 16, heads: 2),
                setup(Addition(maxDigits: 3), trained: 2, evaluated: [1, 2, 3], steps: steps, batch: 4, lr: 1e-3,
                      width: 16, heads: 2),
            ],
            models: models(blocks: 1, loops: 2), questionsPerDifficulty: 16, sweepFactor: 2)
    }
}
