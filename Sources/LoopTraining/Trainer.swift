import Dispatch
import LoopCheckpoint
import LoopKernels
import LoopModel

/// What one optimizer step did.
public struct StepRecord: Sendable, Equatable {
    public let step: Int
    public let loss: Double  // mean over the step's micro-batches on every rank
    public let learningRate: Float
    public let gradientNorm: Float  // before clipping
    public let seconds: Double  // wall time of the step
    public let reduceSeconds: Double  // of which spent in the gradient all-reduce
    public let loops: Int  // the loop count this step ran
    /// Where the step's time went: forward (with the loss), backward, optimizer update.
    public let forwardSeconds: Double, backwardSeconds: Double, optimizerSeconds: Double
}

/// One optimizer step at a time: model, optimizer, batches and the generator that draws them,
/// on every rank of a data-parallel job. Everything needed to continue bit for bit is in
/// `TrainingState`.
///
/// A step draws `microBatches` micro-batches (over all ranks) from the shared generator, so
/// every rank draws the same ones; rank r computes micro-batches r·k ..< (r+1)·k. Each
/// micro-batch's gradient is computed on its own and added to the running sum in order; the
/// ranks' sums are added by an all-reduce and divided by `microBatches`. With two ranks of one
/// micro-batch, the sum is G₀ + G₁ exactly as one process accumulating two gives it, so the
/// weights are bit-identical.
public final class Trainer {
    public let model: LoopGPT
    public let optimizer: AdamW
    public let options: TrainingOptions
    public let data: any BatchSource
    public let communicator: any Communicator
    public var generator: SeededGenerator
    public var bestValidationLoss: Double?
    public var step: Int { optimizer.step }
    /// Inference over the same parameters, for validation and health checks.
    public let inference: LanguageModel
    private var accumulated: FloatBuffer?  // sum of earlier micro-batches' gradients
    private let probe: Batch
    /// Whether the weights came from a checkpoint (resumed or initialised from one) and no
    /// step has updated them yet: a non-finite loss then means a damaged file, not divergence.
    public var weightsUnchangedSinceLoading = false

    public init(
        model: LoopGPT, options: TrainingOptions, data: any BatchSource, generator: SeededGenerator,
        communicator: any Communicator = SingleProcess()
    ) throws {
        guard options.microBatches % communicator.size == 0 else {
            throw TrainingError.incompatibleOptions("\(options.microBatches) micro-batches per step do not divide over \(communicator.size) processes; use --accumulate so that accumulate × processes stays \(options.microBatches)")
        }
        self.model = model
        model.recompute = options.recompute ?? false
        self.options = options
        self.data = data
        self.generator = generator
        self.communicator = communicator
        var trained: Set<String>?
        if case .gateOnly = options.loopObjective {
            trained = Set([model.table.exitGateWeight, model.table.exitGateBias].compactMap { $0?.name })
        }
        optimizer = try AdamW(table: model.table, hyper: options.adam, weightDecay: options.weightDecay,
                              maxGradientNorm: options.maxGradientNorm, only: trained)
        inference = LanguageModel(model)
        var probeGenerator = SeededGenerator(seed: options.seed ^ Self.probeSeed)
        probe = try data.batch(rows: 1, time: options.time, generator: &probeGenerator)
    }

    /// Seeds the health probe's own generator, so probing draws nothing from the run's.
    static let probeSeed: UInt64 = 0x5EED_0F_BEA1_7B

    /// Micro-batches this rank computes per step.
    public var localMicroBatches: Int { options.microBatches / communicator.size }

    /// One optimizer step. A non-finite loss or gradient throws `divergence` before the
    /// weights are touched.
    public func trainStep() throws -> StepRecord {
        func now() -> UInt64 { DispatchTime.now().uptimeNanoseconds }
        func seconds(_ from: UInt64, _ to: UInt64) -> Double { Double(to - from) / 1e9 }
        let start = now()
        var forward = 0.0, backward = 0.0
        var batches: [Batch] = []
        for _ in 0..<options.microBatches {
            batches.append(try data.batch(rows: options.batch, time: options.time, generator: &generator))
        }
        let loops = options.loopSampling?.draw(&generator)
        let mine = batches[(communicator.rank * localMicroBatches)..<((communicator.rank + 1) * localMicroBatches)]
        model.zeroGradients()
        var lossSum = 0.0
        for (index, b) in mine.enumerated() {
            if index > 0 {
                if accumulated == nil { accumulated = try FloatBuffer(count: model.gradients.count) }
                accumulated!.pointer.update(from: model.gradients.pointer, count: model.gradients.count)
                model.zeroGradients()
            }
            let t0 = now()
            let loss = try model.forward(tokens: b.tokens, targets: b.targets, batch: b.rows, time: b.time,
                                         loops: loops, gradientLoops: options.gradientLoops,
                                         objective: options.loopObjective ?? .last) ?? .nan
            lossSum += Double(loss)
            let t1 = now()
            model.backward()
            if index > 0 { add(accumulated!, into: model.gradients) }
            forward += seconds(t0, t1)
            backward += seconds(t1, now())
        }
        let reduceStart = now()
        try communicator.allReduceSum(model.gradients.pointer, count: model.gradients.count)
        let totalLoss = try communicator.allReduceSum([lossSum])[0]
        let reduceSeconds = seconds(reduceStart, now())
        let loss = totalLoss / Double(options.microBatches)
        guard loss.isFinite else { throw divergence(step: step + 1, loss: Float(loss)) }
        if options.microBatches > 1 { scale(model.gradients, by: 1 / Float(options.microBatches)) }
        let rate = options.schedule.rate(atStep: step + 1)
        let optimizerStart = now()
        let norm = AdamW.gradientNorm(model.gradients, workers: model.workers)
        guard norm.isFinite else { throw divergence(step: step + 1, loss: .nan) }
        optimizer.update(model: model, learningRate: rate, gradientNorm: norm)
        weightsUnchangedSinceLoading = false
        let end = now()
        return StepRecord(step: step, loss: loss, learningRate: rate, gradientNorm: norm, seconds: seconds(start, end),
                          reduceSeconds: reduceSeconds, loops: loops ?? model.config.layout.loops,
                          forwardSeconds: forward, backwardSeconds: backward,
                          optimizerSeconds: seconds(optimizerStart, end))
    }

    /// Divergence, or damaged weights when they have not been updated since they were loaded.
    func divergence(step: Int, loss: Float) -> TrainingError {
        weightsUnchangedSinceLoading ? .damagedWeights(step: self.step) : .divergence(step: step, loss: loss)
    }

    /// gradients ← earlier + gradients, elementwise (the sum in micro-batch order).
    private func add(_ earlier: FloatBuffer, into gradients: FloatBuffer) {
        let a = earlier.pointer, g = gradients.pointer
        model.workers.forEachChunk(gradients.count, minPerChunk: 1 << 16) { range, _ in
            for i in range { g[i] = a[i] + g[i] }
        }
    }

    private func scale(_ buffer: FloatBuffer, by factor: Float) {
        let p = buffer.pointer
        model.workers.forEachChunk(buffer.count, minPerChunk: 1 << 16) { range, _ in
            for i in range { p[i] *= factor }
        }
    }

    /// Writes the checkpoint and the training state into `directory`, atomically.
    public func save(to directory: String, vocabulary: Vocabulary) throws {
        try checkHealthy()
        let state = TrainingState(step: step, generator: generator, bestValidationLoss: bestValidationLoss,
                                  options: options, ranks: communicator.size, threads: model.workers.threads,
                                  sgemm: model.workers.sgemm)
        try Checkpoint.save(model, vocabulary: vocabulary, to: directory,
                            extraFiles: [TrainingState.fileName]) { (partial) throws(CheckpointError) in
            try state.write(optimizer: optimizer, to: partial + "/" + TrainingState.fileName)
        }
    }

    /// A checkpoint is only written from weights that are finite and give a finite loss on a
    /// fixed probe batch (drawn with its own generator), so a diverging run never replaces the
    /// last good checkpoint.
    public func checkHealthy() throws {
        let p = model.parameters.pointer
        guard VectorMath.allFinite(p, count: model.parameters.count) else { throw divergence(step: step, loss: .nan) }
        let sum: Double, rows: Int
        do { (sum, rows) = try inference.loss(tokens: probe.tokens, targets: probe.targets, batch: 1, time: probe.time) } catch {
            if case .overflow = error { throw divergence(step: step, loss: .nan) }
            throw error
        }
        guard rows == 0 || (sum / Double(rows)).isFinite else {
            throw divergence(step: step, loss: Float(sum / Double(max(rows, 1))))
        }
    }

    /// Restores optimizer moments, step, generator and best loss from a saved state.
    public func restore(_ state: TrainingState, file: SafeTensorsFile) throws {
        try optimizer.restore(step: state.step, from: file)
        weightsUnchangedSinceLoading = true
        generator = state.generator
        bestValidationLoss = state.bestValidationLoss
    }
}
