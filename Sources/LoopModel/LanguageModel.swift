import LoopKernels

/// A model for inference: weights and threads, no gradients and no training activations.
/// Its weights may be the trainer's own buffer, a memory-mapped checkpoint or reduced
/// precision copies (`ModelWeights`). Evaluation runs whole windows through it
/// (`loss`); generation runs through a `Decoder` and its key/value cache.
public final class LanguageModel {
    public let config: ModelConfiguration
    public let weights: ModelWeights
    public let workers: Workers
    private var batchState: (batch: Int, time: Int, state: InferenceState)?
    private var logitsScratch: FloatBuffer?

    public init(weights: ModelWeights, workers: Workers) {
        config = weights.config
        self.weights = weights
        self.workers = workers
    }

    /// Inference over a training model's current parameters (shared, not copied).
    public convenience init(_ model: LoopGPT) {
        self.init(weights: model.weights, workers: model.workers)
    }


    /// Sum of the losses and number of scored rows of B windows of T tokens (rows whose
    /// target is −1 are left out), with in-batch causal attention and nothing kept.
    public func loss(
        tokens: [Int32], targets: [Int32], batch: Int, time: Int, loops: Int? = nil
    ) throws(ModelError) -> (sum: Double, rows: Int) {
        let layout = config.layout.with(loops: loops ?? config.layout.loops)
        try ModelError.check(tokens: tokens, targets: targets, batch: batch, time: time, layout: layout,
                                  config: config)
        let n = batch * time, v = config.vocabSize, chunk = ModelConfiguration.headChunkRows
        let state: InferenceState, logits: UnsafeMutablePointer<Float>, rowMax: FloatBuffer, normalizers: FloatBuffer,
            losses: FloatBuffer
        do throws(MemoryError) {
            state = try runBatch(tokens: tokens, batch: batch, time: time, layout: layout)
            logits = try scratchLogits(rows: chunk)
            rowMax = try FloatBuffer(count: chunk)
            normalizers = try FloatBuffer(count: chunk)
            losses = try FloatBuffer(count: chunk)
        } catch { throw .outOfMemory(error) }
        guard LayerNorm.rowsWereFinite(rstd: state.rstd.pointer, rows: n) else { throw .overflow }
        var sum = 0.0, counted = 0, overflowed = false
        targets.withUnsafeBufferPointer { ids in
            var start = 0
            while start < n {
                let rows = min(chunk, n - start)
                Linear.forward(out: logits, inp: state.normed.pointer + start * config.channels, weights: weights.head,
                               bias: nil, rows: rows, inChannels: config.channels, outChannels: v, workers: workers)
                guard VectorMath.allFinite(logits, count: rows * v) else {
                    overflowed = true
                    return
                }
                let target = ids.baseAddress! + start
                let scored = CrossEntropy.targetCount(target, rows: rows)
                let mean = CrossEntropy.forward(logits: logits, rowMax: rowMax.pointer, normalizers: normalizers.pointer,
                                                losses: losses.pointer, targets: target, rows: rows, vocabSize: v,
                                                paddedVocabSize: v, workers: workers)
                sum += Double(mean) * Double(scored)
                counted += scored
                start += rows
            }
        }
        if overflowed { throw .overflow }
        return (sum, counted)
    }

    /// Logits (N × V, row-major) of every row of B windows of T tokens.
    public func logits(tokens: [Int32], batch: Int, time: Int, loops: Int? = nil) throws(ModelError) -> [Float] {
        let layout = config.layout.with(loops: loops ?? config.layout.loops)
        try ModelError.check(tokens: tokens, targets: nil, batch: batch, time: time, layout: layout, config: config)
        let state: InferenceState
        do throws(MemoryError) { state = try runBatch(tokens: tokens, batch: batch, time: time, layout: layout) } catch {
            throw .outOfMemory(error)
        }
        guard LayerNorm.rowsWereFinite(rstd: state.rstd.pointer, rows: batch * time) else { throw .overflow }
        let n = batch * time, v = config.vocabSize
        var result = [Float](repeating: 0, count: n * v)
        result.withUnsafeMutableBufferPointer { out in
            Linear.forward(out: out.baseAddress!, inp: state.normed.pointer, weights: weights.head, bias: nil, rows: n,
                           inChannels: config.channels, outChannels: v, workers: workers)
        }
        guard result.withUnsafeBufferPointer({ VectorMath.allFinite($0.baseAddress!, count: n * v) }) else {
            throw .overflow
        }
        return result
    }

    /// Embeds B×T tokens, runs the stack with in-batch attention and leaves ln_f of every row
    /// in `normed`.
    private func runBatch(tokens: [Int32], batch: Int, time: Int, layout: LoopLayout) throws(MemoryError) -> InferenceState {
        let n = batch * time, c = config.channels
        let state: InferenceState
        if let cached = batchState, cached.batch == batch, cached.time == time {
            state = cached.state
        } else {
            batchState = nil
            state = try InferenceState(config: config, rows: n, attentionFloats: workers.threads * time * time,
                                   scratchRows: 0)
            batchState = (batch, time, state)
        }
        for row in 0..<n {
            state.tokens[row] = tokens[row]
            state.positions[row] = Int32(row % time)
        }
        embed(state, rows: n)
        let shape = AttentionShape(batch: batch, time: time, channels: c, heads: config.heads)
        let scratch = state.attentionScratch.pointer
        _ = try runStack(state, rows: n, layout: layout, exit: nil,
                     attention: { _ in .batch(shape, .scratch(scratch)) }, keysAndValuesOnly: nil)
        finalNorm(state, rows: 0..<n)
        return state
    }

    func embed(_ state: InferenceState, rows n: Int) {
        state.tokens.withUnsafeBufferPointer { ids in
            state.positions.withUnsafeBufferPointer { positions in
                Embedding.forward(out: state.stream.pointer, tokens: ids.baseAddress!, positions: positions.baseAddress!,
                                  wte: weights.tokenEmbedding, wpe: weights.positionEmbedding, rows: n,
                                  channels: config.channels, workers: workers)
            }
        }
    }

    /// ln_f of stream rows `rows` into the same rows of `normed`.
    func finalNorm(_ state: InferenceState, rows: Range<Int>) {
        let c = config.channels
        LayerNorm.forward(out: state.normed.pointer + rows.lowerBound * c, mean: state.mean.pointer,
                          rstd: state.rstd.pointer, inp: state.stream.pointer + rows.lowerBound * c,
                          weight: weights.finalNormWeight, bias: weights.finalNormBias, rows: rows.count, channels: c,
                          workers: workers)
    }

    func scratchLogits(rows: Int) throws(MemoryError) -> UnsafeMutablePointer<Float> {
        if let scratch = logitsScratch, scratch.count >= rows * config.vocabSize { return scratch.pointer }
        logitsScratch = nil
        let scratch = try FloatBuffer(count: rows * config.vocabSize)
        logitsScratch = scratch
        return scratch.pointer
    }

    /// Runs the embedded rows in `state.stream` through every application of `layout`.
    ///
    /// With `exit`, each row stops looping after the first pass whose change falls under the
    /// threshold; from then on its state is frozen, and later applications only compute its
    /// keys and values from that state, so later tokens attend to it as usual. Returns the
    /// loop passes each row ran.
    func runStack(
        _ state: InferenceState, rows n: Int, layout: LoopLayout, exit: ExitRule?,
        attention: (Int) -> BlockAttention, keysAndValuesOnly: ((Int) -> Void)?
    ) throws(MemoryError) -> [Int] {
        let c = config.channels, x = state.stream.pointer, saved = state.saved.pointer
        func apply(_ a: Int) {
            Block.forward(weights.blocks[layout.block(forApplication: a)], input: x, buffers: state.buffers, rows: n,
                          attention: attention(a), config: config, workers: workers)
        }
        for a in 0..<layout.prelude { apply(a) }
        if config.injectInput { state.embedded.pointer.update(from: x, count: n * c) }
        var exited = [Bool](repeating: false, count: n), loopsUsed = [Int](repeating: 0, count: n)
        var before: [[Float]] = []  // KL: predictions before the pass, per row
        func restoreExited() {
            for row in 0..<n where exited[row] { (x + row * c).update(from: saved + row * c, count: c) }
        }
        for pass in 0..<layout.loops {
            let first = layout.prelude + pass * layout.looped
            let active = exited.contains(false)
            if let exit, active {
                for row in 0..<n where !exited[row] { (saved + row * c).update(from: x + row * c, count: c) }
                if exit.criterion == .kl { before = try predictions(state, rows: n) }
            }
            if PassInput.addsToStream(pass: pass, config: config) {
                PassInput.add(pass: pass, to: x, embedded: state.embedded.pointer, rows: n, weights: weights,
                              workers: workers)
            }
            for a in first..<(first + layout.looped) {
                restoreExited()
                if !active, let keysAndValuesOnly { keysAndValuesOnly(a) } else { apply(a) }
            }
            restoreExited()
            guard active else { continue }
            for row in 0..<n where !exited[row] { loopsUsed[row] = pass + 1 }
            guard let exit, exit.threshold > 0 else { continue }
            let after = exit.criterion == .kl ? try predictions(state, rows: n) : []
            for row in 0..<n where !exited[row] {
                let measure: Float
                switch exit.criterion {
                case .change: measure = ExitRule.relativeChange(x + row * c, saved + row * c, count: c)
                case .kl: measure = ExitRule.divergence(after[row], before[row], count: config.vocabSize)
                }
                if measure < exit.threshold {
                    exited[row] = true
                    (saved + row * c).update(from: x + row * c, count: c)
                }
            }
        }
        for a in (layout.prelude + layout.looped * layout.loops)..<layout.effectiveDepth { apply(a) }
        return loopsUsed
    }

    /// Next-token probabilities of every row's current state (for the KL exit criterion).
    private func predictions(_ state: InferenceState, rows n: Int) throws(MemoryError) -> [[Float]] {
        finalNorm(state, rows: 0..<n)
        let v = config.vocabSize, logits = try scratchLogits(rows: n)
        Linear.forward(out: logits, inp: state.normed.pointer, weights: weights.head, bias: nil, rows: n,
                       inChannels: config.channels, outChannels: v, workers: workers)
        return (0..<n).map { row in
            Softmax.inPlace(logits + row * v, count: v)
            return Array(UnsafeBufferPointer(start: logits + row * v, count: v))
        }
    }
}
