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
        let state: InferenceState
        do throws(MemoryError) { state = try runBatch(tokens: tokens, batch: batch, time: time, layout: layout) } catch {
            throw .outOfMemory(error)
        }
        return try score(state, targets: targets, rows: batch * time)
    }

    /// The most likely next token of `n` rows whose ln_f is in `state.normed`.
    func greedy(_ state: InferenceState, rows n: Int) throws(ModelError) -> [Int32] {
        let v = config.vocabSize, chunk = ModelConfiguration.headChunkRows
        let logits: UnsafeMutablePointer<Float>
        do throws(MemoryError) { logits = try scratchLogits(rows: chunk) } catch { throw .outOfMemory(error) }
        guard LayerNorm.rowsWereFinite(rstd: state.rstd.pointer, rows: n) else { throw .overflow }
        var best = [Int32](repeating: 0, count: n), start = 0
        while start < n {
            let rows = min(chunk, n - start)
            Linear.forward(out: logits, inp: state.normed.pointer + start * config.channels, weights: weights.head,
                           bias: nil, rows: rows, inChannels: config.channels, outChannels: v, workers: workers)
            guard VectorMath.allFinite(logits, count: rows * v) else { throw .overflow }
            for r in 0..<rows {
                let row = logits + r * v
                var top = 0
                for id in 1..<v where row[id] > row[top] { top = id }
                best[start + r] = Int32(top)
            }
            start += rows
        }
        return best
    }

    /// Σ loss and scored rows of `n` rows whose ln_f is in `state.normed` (and its rstd in
    /// `state.rstd`), the head applied a chunk of rows at a time.
    func score(_ state: InferenceState, targets: [Int32], rows n: Int) throws(ModelError) -> (sum: Double, rows: Int) {
        let v = config.vocabSize, chunk = ModelConfiguration.headChunkRows
        let logits: UnsafeMutablePointer<Float>, rowMax: FloatBuffer, normalizers: FloatBuffer, losses: FloatBuffer
        do throws(MemoryError) {
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
        _ = try runStack(state, rows: n, layout: layout, exits: RowExits(.fixed, rows: n, loops: layout.loops), rows: .batch(shape))
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
}
