import Foundation
import LoopCheckpoint
import LoopKernels
import LoopModel
import LoopTraining
import Testing

/// The training loop of the library, in process: resumption, stopping, metrics, best model,
/// locking, recovery and divergence.
@Suite struct TrainingSessionTests {
    let data = temporaryDirectory("session-data")

    init() throws { try writeTokenData(in: data) }

    @Test func stoppedAndResumedRunEqualsUninterruptedRunBitForBit() throws {
        let run = SmallRun(), root = temporaryDirectory("session")
        let whole = try run.start(data: data, out: root + "/whole").run()
        #expect(whole.step == 8 && !whole.interrupted && whole.trainLoss != nil)
        do {  // a session holds its directory's lock until it ends
            var stopAfter = 4
            let first = try run.start(data: data, out: root + "/split")
            first.shouldStop = {
                stopAfter -= 1
                return stopAfter == 0
            }
            let stopped = try first.run()
            #expect(stopped.step == 4 && stopped.interrupted)
        }
        let second = try run.resume(data: data, out: root + "/split")
        #expect(second.history.count == 4, "the metrics of the first session are the history")
        let finished = try second.run()
        #expect(finished.step == 8 && !finished.interrupted)
        for file in ["model.safetensors", "training_state.safetensors", "config.json"] {
            let a = contents(root + "/whole/latest/" + file)
            #expect(a != nil && a == contents(root + "/split/latest/" + file), "\(file) differs")
        }
        let log = try MetricsLog.read(path: root + "/split/metrics.jsonl")
        #expect(log.map(\.step) == Array(1...8))
        #expect(log.map(\.trainLoss) == (try MetricsLog.read(path: root + "/whole/metrics.jsonl")).map(\.trainLoss))
        #expect(log.filter { $0.validationLoss != nil }.map(\.step) == [3, 6, 8])
        #expect(finished.trainingSeconds > 0 && finished.bestValidationLoss != nil)
        #expect(FileManager.default.fileExists(atPath: root + "/whole/best/model.safetensors"))
        // The best checkpoint holds the lowest validation loss seen.
        let (bestState, _) = try TrainingState.read(directory: root + "/whole/best", contextLength: 16)
        #expect(bestState.bestValidationLoss == log.compactMap(\.validationLoss).min())
    }

    /// Products split over another thread count round differently: a resume with other
    /// --threads continues, and says it will not be bit-identical; the same count is.
    @Test func resumingWithAnotherThreadCountIsAnnounced() throws {
        let run = SmallRun(), root = temporaryDirectory("threads")
        do { _ = try run.start(data: data, out: root + "/run", threads: 2).run(stopAt: 3) }
        do {
            let other = try run.resume(data: data, out: root + "/run", threads: 1)
            #expect(other.notices.count == 1 && other.notices[0].contains("--threads 2"))
        }
        let same = try TrainingSession.resume(in: root + "/run", vocabulary: .bytes, workers: Workers(threads: 2), data: run.data(data))
        #expect(same.notices.isEmpty)
    }

    /// The two sgemm kernels round differently too: a resume with the other one is announced.
    @Test func resumingWithAnotherSGEMMKernelIsAnnounced() throws {
        guard let other = SGEMMKernel.allCases.first(where: { $0 != SGEMMKernel.preferred && $0.isSupported }) else { return }
        let run = SmallRun(), root = temporaryDirectory("sgemm")
        do { _ = try run.start(data: data, out: root + "/run", threads: 2).run(stopAt: 3) }
        do {
            let resumed = try TrainingSession.resume(in: root + "/run", vocabulary: .bytes, workers: Workers(threads: 2, sgemm: other),
                                                     data: run.data(data))
            #expect(resumed.notices.count == 1 && resumed.notices[0].contains("--sgemm \(SGEMMKernel.preferred.rawValue)"))
        }
        let (state, _) = try TrainingState.read(directory: root + "/run/latest", contextLength: 16)
        #expect(state.sgemm == SGEMMKernel.preferred)
    }

    @Test func aSecondWriterIsLockedOut() throws {
        let run = SmallRun(), out = temporaryDirectory("lock")
        let holder = try run.start(data: data, out: out)
        #expect(throws: TrainingError.self) { _ = try run.resume(data: data, out: out) }
        do {
            _ = try run.start(data: data, out: out)
            Issue.record("a second start into a locked directory was accepted")
        } catch {
            #expect("\(error)".contains("in use by another looplm process"))
        }
        _ = holder
    }

    /// A kill between the two renames of a checkpoint swap leaves `latest.previous` and no
    /// `latest`: the run is recovered, so a new start refuses to replace it.
    @Test func anInterruptedSwapIsRecoveredNotReplaced() throws {
        let run = SmallRun(), out = temporaryDirectory("swap")
        do { _ = try run.start(data: data, out: out).run() }
        try FileManager.default.moveItem(atPath: out + "/latest", toPath: out + "/latest.previous")
        do {
            _ = try run.start(data: data, out: out)
            Issue.record("a new run replaced an interrupted one")
        } catch {
            #expect("\(error)".contains("--resume"))
        }
        #expect(FileManager.default.fileExists(atPath: out + "/latest/model.safetensors"))
        #expect(try run.resume(data: data, out: out).trainer.step == 8)
    }

    /// Weights that turn non-finite stop the run, and the checkpoint on disk stays the last
    /// healthy one: a checkpoint is only ever written from finite weights.
    @Test func divergenceStopsAndKeepsTheLastGoodCheckpoint() throws {
        var run = SmallRun()
        run.options.checkpointInterval = 1
        let out = temporaryDirectory("diverge")
        do {
            let session = try run.start(data: data, out: out)
            session.onStep = { metrics in if metrics.step == 5 { session.trainer.model.parameters[7] = .nan } }
            #expect { _ = try session.run() } throws: { error in
                guard case TrainingError.divergence = error else { return false }
                return "\(error)".contains("last good checkpoint is kept")
            }
        }
        let (state, _) = try TrainingState.read(directory: out + "/latest", contextLength: 16)
        #expect(state.step == 4, "the step-5 weights were never saved")
        let model = try Checkpoint.loadLanguageModel(from: out + "/latest", workers: Workers(threads: 1)).model
        let batch = try TokenData.load(directory: data, config: run.config, options: run.options, tokenizer: .bytes).validation[0]
        let (sum, rows) = try model.loss(tokens: batch.tokens, targets: batch.targets, batch: batch.rows, time: batch.time)
        #expect((sum / Double(rows)).isFinite)
    }

    @Test func aDamagedValidationFileIsAnErrorAndAMissingOneMeansNoValidation() throws {
        let run = SmallRun(), damaged = temporaryDirectory("val")
        try writeTokenData(in: damaged)
        let bytes = contents(damaged + "/val.bin")!
        try bytes.prefix(bytes.count - 3).write(to: URL(fileURLWithPath: damaged + "/val.bin"))
        #expect(throws: DataError.self) { _ = try run.start(data: damaged, out: temporaryDirectory("o1")) }
        try FileManager.default.removeItem(atPath: damaged + "/val.bin")
        let session = try run.start(data: damaged, out: temporaryDirectory("o2"))
        #expect(session.validation.isEmpty)
        let summary = try session.run()
        #expect(summary.validationLoss == nil && summary.bestValidationLoss == nil)
    }

    @Test func aFullDiskWhileLoggingIsATypedError() throws {
        let log = try MetricsLog(path: "/dev/full")
        let entry = StepMetrics(step: 1, tokens: 1, trainLoss: 1, validationLoss: nil, learningRate: 1, gradientNorm: 1,
                                tokensPerSecond: 1, stepSeconds: 1, reduceSeconds: nil, loops: 1)
        #expect(throws: CheckpointError.self) { try log.append(entry) }
    }

    @Test func accumulatingTwoMicroBatchesEqualsTheirSumInOrder() throws {
        var run = SmallRun()
        run.options.microBatches = 2
        run.options.schedule.totalSteps = 1
        let session = try run.start(data: data, out: temporaryDirectory("accumulate"))
        // The same two micro-batches by hand.
        var generator = SeededGenerator(seed: run.options.seed)
        let model = try LoopGPT(config: run.config, generator: &generator, workers: Workers(threads: 1))
        let source = try TokenData.load(directory: data, config: run.config, options: run.options, tokenizer: .bytes).train
        let batches = try (0..<2).map { _ in try source.batch(rows: 2, time: 16, generator: &generator) }
        var sum = [Float](repeating: 0, count: model.gradients.count)
        for b in batches {
            model.zeroGradients()
            try model.forward(tokens: b.tokens, targets: b.targets, batch: 2, time: 16)
            model.backward()
            for i in sum.indices { sum[i] = sum[i] + model.gradients[i] }
        }
        _ = try session.trainer.trainStep()
        let trained = session.trainer.model.gradients.array
        #expect(trained == sum.map { $0 * 0.5 }, "bit-identical to G₀ + G₁, halved")
    }
}
