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
    }

    /// Appends `token` at position `cache.length` and returns the next-token logits (V).
    public func step(token: Int32, cache: KVCache) throws(ModelInputError) -> UnsafeBufferPointer<Float> {
        let config = model.config, table = model.table, workers = model.workers
        guard token >= 0, Int(token) < config.vocabSize else {
            throw .tokenOutOfVocabulary(Int(token), vocabSize: config.vocabSize)
        }
        guard cache.length < cache.capacity else {
            throw .badShape("the key/value cache is full (\(cache.capacity) positions); reset it")
        }
        let position = cache.length, p = model.parameters.pointer
        let wte = p + table.wte.offset + Int(token) * c, wpe = p + table.wpe.offset + position * c
        for i in 0..<c { x[i] = wte[i] + wpe[i] }
        for application in 0..<cache.layout.effectiveDepth {
            let block = cache.layout.block(forApplication: application)
            func w(_ tensor: BlockTensor) -> UnsafeMutablePointer<Float> { p + table.offset(block: block, tensor) }
            layerNorm(w(.ln1Weight), w(.ln1Bias))
            Matmul.forward(out: qkv.pointer, inp: normed.pointer, weight: w(.qkvWeight), bias: w(.qkvBias),
                           rows: 1, inChannels: c, outChannels: 3 * c, workers: workers)
            (cache.keys[application].pointer + position * c).update(from: qkv.pointer + c, count: c)
            (cache.values[application].pointer + position * c).update(from: qkv.pointer + 2 * c, count: c)
            attend(cache: cache, application: application, position: position)
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
        cache.length += 1
        layerNorm(p + table.lnfWeight.offset, p + table.lnfBias.offset)
        BLAS.gemm(transposeB: true, m: 1, n: config.paddedVocabSize, k: c, a: normed.pointer, lda: c,
                  b: p + table.wte.offset, ldb: c, beta: 0, c: logits.pointer, ldc: config.paddedVocabSize,
                  workers: workers)
        return UnsafeBufferPointer(start: logits.pointer, count: config.vocabSize)
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
