import LoopKernels

/// Keys and values of every block application for the tokens seen so far, so each new
/// token costs one position's work instead of the whole window's. One (T, C) pair of
/// buffers per application: looped blocks get an entry per pass, as their inputs differ.
public final class KVCache {
    public let capacity: Int  // T: the model's context
    public let layout: LoopLayout
    let keys: [FloatBuffer]  // [application] (T, C)
    let values: [FloatBuffer]  // [application] (T, C)
    public internal(set) var length = 0

    public init(config: ModelConfiguration, loops: Int? = nil) {
        capacity = config.contextLength
        layout = config.layout.with(loops: loops ?? config.layout.loops)
        let size = config.contextLength * config.channels
        keys = (0..<layout.effectiveDepth).map { _ in FloatBuffer(count: size) }
        values = (0..<layout.effectiveDepth).map { _ in FloatBuffer(count: size) }
    }

    public func reset() { length = 0 }
}

/// Runs a model one token at a time against a `KVCache` (llama2.c's forward(token, pos)).
/// Gives the logits a full forward over the same window gives, up to float rounding.
/// Not for several threads at once: it keeps one-row scratch buffers.
public final class IncrementalDecoder {
    public let model: LoopGPT
    let c: Int
    // One-row scratch, shapes for a single position.
    let x: FloatBuffer  // (C) residual stream
    let normed: FloatBuffer  // (C)
    let qkv: FloatBuffer  // (3C)
    let attentionOutput: FloatBuffer  // (C)
    let fc: FloatBuffer, fcGelu: FloatBuffer  // (4C)
    let scores: FloatBuffer  // (T)
    let logits: FloatBuffer  // (Vp)
    let embedded: FloatBuffer  // (C) the state after the prelude, for input injection
    let previous: FloatBuffer  // (C) the state before the current pass, for adaptive exit
    var previousProbabilities: [Float] = []  // (V) predictions after the previous pass (KL exit)
    let mean = FloatBuffer(count: 1), rstd = FloatBuffer(count: 1)

    public init(model: LoopGPT) {
        self.model = model
        c = model.config.channels
        x = FloatBuffer(count: c)
        normed = FloatBuffer(count: c)
        qkv = FloatBuffer(count: 3 * c)
        attentionOutput = FloatBuffer(count: c)
        fc = FloatBuffer(count: 4 * c)
        fcGelu = FloatBuffer(count: 4 * c)
        scores = FloatBuffer(count: model.config.contextLength)
        logits = FloatBuffer(count: model.config.paddedVocabSize)
        embedded = FloatBuffer(count: c)
        previous = FloatBuffer(count: c)
    }

    /// Appends `token` at position `cache.length` and returns the next-token logits (V).
    public func step(token: Int32, cache: KVCache) throws(ModelInputError) -> UnsafeBufferPointer<Float> {
        try step(token: token, cache: cache, exit: nil).logits
    }

    /// Like `step(token:cache:)`, with adaptive exit: the token stops looping once `exit`
    /// says its state has converged (the cache's loop count is the maximum). Returns the
    /// logits and how many loop passes the token ran. An exited token still gets a cache
    /// entry for every later application, computed from its last state, so later tokens
    /// attend to it as usual. With `exit` nil (or threshold 0) every pass runs.
    public func step(
        token: Int32, cache: KVCache, exit: ExitRule?
    ) throws(ModelInputError) -> (logits: UnsafeBufferPointer<Float>, loops: Int) {
        let config = model.config, table = model.table
        guard token >= 0, Int(token) < config.vocabSize else {
            throw .tokenOutOfVocabulary(Int(token), vocabSize: config.vocabSize)
        }
        guard cache.length < cache.capacity else {
            throw .badShape("the key/value cache is full (\(cache.capacity) positions); reset it")
        }
        let layout = cache.layout, position = cache.length, p = model.parameters.pointer
        let wte = p + table.wte.offset + Int(token) * c, wpe = p + table.wpe.offset + position * c
        for i in 0..<c { x[i] = wte[i] + wpe[i] }
        for a in 0..<layout.prelude { runApplication(a, cache: cache, position: position) }
        if config.injectInput { embedded.pointer.update(from: x.pointer, count: c) }
        var exited = false, loopsUsed = 0
        for pass in 0..<layout.loops {
            let first = layout.prelude + pass * layout.looped
            if exited {
                for a in first..<(first + layout.looped) { storeKeysAndValues(a, cache: cache, position: position) }
                continue
            }
            if let exit { previous.pointer.update(from: x.pointer, count: c); exit.prepare(self, previous) }
            if model.passAddsToStream(pass) {
                if config.injectInput && pass >= 1 { for i in 0..<c { x[i] += embedded[i] } }
                if let spec = table.loopEmbedding {
                    let row = p + spec.offset + model.loopEmbeddingRow(pass) * c
                    for i in 0..<c { x[i] += row[i] }
                }
            }
            for a in first..<(first + layout.looped) { runApplication(a, cache: cache, position: position) }
            loopsUsed = pass + 1
            if let exit, exit.threshold > 0, exit.measure(self, previous) < exit.threshold { exited = true }
        }
        let codaStart = layout.prelude + layout.looped * layout.loops
        for a in codaStart..<layout.effectiveDepth { runApplication(a, cache: cache, position: position) }
        cache.length += 1
        return (computeLogits(), loopsUsed)
    }

    /// Logits of the current state `x` (final LayerNorm and the tied head).
    func computeLogits() -> UnsafeBufferPointer<Float> {
        let config = model.config, table = model.table, p = model.parameters.pointer
        layerNorm(p + table.lnfWeight.offset, p + table.lnfBias.offset)
        BLAS.gemm(transposeB: true, m: 1, n: config.paddedVocabSize, k: c, a: normed.pointer, lda: c,
                  b: p + table.wte.offset, ldb: c, beta: 0, c: logits.pointer, ldc: config.paddedVocabSize,
                  workers: model.workers)
        return UnsafeBufferPointer(start: logits.pointer, count: config.vocabSize)
    }

    /// Keys and values of application `a` for the current state, written to the cache.
    private func storeKeysAndValues(_ a: Int, cache: KVCache, position: Int) {
        let block = cache.layout.block(forApplication: a), p = model.parameters.pointer, table = model.table
        layerNorm(p + table.offset(block: block, .ln1Weight), p + table.offset(block: block, .ln1Bias))
        Matmul.forward(out: qkv.pointer, inp: normed.pointer, weight: p + table.offset(block: block, .qkvWeight),
                       bias: p + table.offset(block: block, .qkvBias), rows: 1, inChannels: c,
                       outChannels: 3 * c, workers: model.workers)
        (cache.keys[a].pointer + position * c).update(from: qkv.pointer + c, count: c)
        (cache.values[a].pointer + position * c).update(from: qkv.pointer + 2 * c, count: c)
    }

    /// One block application on the current state, extending the cache.
    private func runApplication(_ a: Int, cache: KVCache, position: Int) {
        let block = cache.layout.block(forApplication: a), workers = model.workers
        let p = model.parameters.pointer, table = model.table
        func w(_ tensor: BlockTensor) -> UnsafeMutablePointer<Float> { p + table.offset(block: block, tensor) }
        storeKeysAndValues(a, cache: cache, position: position)
        attend(cache: cache, application: a, position: position)
        Matmul.forward(out: x.pointer, inp: attentionOutput.pointer, weight: w(.attentionProjectionWeight),
                       bias: w(.attentionProjectionBias), rows: 1, inChannels: c, outChannels: c,
                       accumulate: true, workers: workers)
        layerNorm(w(.ln2Weight), w(.ln2Bias))
        Matmul.forward(out: fc.pointer, inp: normed.pointer, weight: w(.fcWeight), bias: w(.fcBias),
                       rows: 1, inChannels: c, outChannels: 4 * c, workers: workers)
        GELU.forward(out: fcGelu.pointer, inp: fc.pointer, count: 4 * c, workers: workers)
        Matmul.forward(out: x.pointer, inp: fcGelu.pointer, weight: w(.fcProjectionWeight),
                       bias: w(.fcProjectionBias), rows: 1, inChannels: 4 * c, outChannels: c,
                       accumulate: true, workers: workers)
    }

    private func layerNorm(_ weight: UnsafePointer<Float>, _ bias: UnsafePointer<Float>) {
        LayerNorm.forward(out: normed.pointer, mean: mean.pointer, rstd: rstd.pointer, inp: x.pointer,
                          weight: weight, bias: bias, rows: 1, channels: c, workers: Workers(threads: 1))
    }

    /// Causal attention of the newest position over the cached keys and values, per head.
    private func attend(cache: KVCache, application: Int, position: Int) {
        let heads = model.config.heads, hs = model.config.headSize
        let scale = 1 / Float(hs).squareRoot()
        let keys = cache.keys[application].pointer, values = cache.values[application].pointer
        for h in 0..<heads {
            let q = qkv.pointer + h * hs
            for j in 0...position {
                let k = keys + j * c + h * hs
                var dot: Float = 0
                for i in 0..<hs { dot += q[i] * k[i] }
                scores[j] = dot * scale
            }
            Softmax.inPlace(scores.pointer, count: position + 1)
            let y = attentionOutput.pointer + h * hs
            y.update(repeating: 0, count: hs)
            for j in 0...position {
                let v = values + j * c + h * hs, weight = scores[j]
                for i in 0..<hs { y[i] += weight * v[i] }
            }
        }
    }
}

/// When a token stops looping: after a pass, the chosen measure of how much that pass
/// changed things falls under `threshold` (or the maximum loop count is reached).
public struct ExitRule: Sendable {
    public enum Criterion: String, CaseIterable, Sendable {
        /// ‖x_n − x_{n−1}‖ / ‖x_{n−1}‖ of the token's hidden state.
        case change
        /// KL(p_n ‖ p_{n−1}) between the next-token predictions after two successive passes.
        case kl
    }

    public let criterion: Criterion
    public let threshold: Float

    public init(criterion: Criterion, threshold: Float) {
        self.criterion = criterion
        self.threshold = threshold
    }

    /// Records what the measure compares against, before a pass.
    func prepare(_ decoder: IncrementalDecoder, _ previous: FloatBuffer) {
        guard criterion == .kl else { return }
        decoder.previousProbabilities = Self.probabilities(decoder.computeLogits())
    }

    /// The measure after a pass (the state before it is in `previous`).
    func measure(_ decoder: IncrementalDecoder, _ previous: FloatBuffer) -> Float {
        switch criterion {
        case .change:
            var difference: Float = 0, norm: Float = 0
            for i in 0..<decoder.c {
                let d = decoder.x[i] - previous[i]
                difference += d * d
                norm += previous[i] * previous[i]
            }
            return (difference / max(norm, .leastNormalMagnitude)).squareRoot()
        case .kl:
            let now = Self.probabilities(decoder.computeLogits())
            var kl: Float = 0
            for (p, q) in zip(now, decoder.previousProbabilities) where p > 0 {
                kl += p * Float(_log(Double(p) / Double(max(q, .leastNormalMagnitude))))
            }
            return kl
        }
    }

    static func probabilities(_ logits: UnsafeBufferPointer<Float>) -> [Float] {
        var values = Array(logits)
        values.withUnsafeMutableBufferPointer { Softmax.inPlace($0.baseAddress!, count: $0.count) }
        return values
    }
}
