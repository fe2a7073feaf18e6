import LoopKernels

/// Where one block application writes, for N rows. Training gives every buffer its own memory
/// (backward reads them); inference lets them alias: the stream is updated in place
/// (input = afterAttention = output), ln1 = ln2 and fc = fcGelu.
struct BlockBuffers {
    let ln1: UnsafeMutablePointer<Float>  // (N, C)
    let ln1Mean: UnsafeMutablePointer<Float>, ln1Rstd: UnsafeMutablePointer<Float>  // (N)
    let qkv: UnsafeMutablePointer<Float>  // (N, 3C)
    let attentionOutput: UnsafeMutablePointer<Float>  // (N, C) heads concatenated, before c_proj
    let afterAttention: UnsafeMutablePointer<Float>  // (N, C) stream after the attention branch
    let ln2: UnsafeMutablePointer<Float>  // (N, C)
    let ln2Mean: UnsafeMutablePointer<Float>, ln2Rstd: UnsafeMutablePointer<Float>  // (N)
    let fc: UnsafeMutablePointer<Float>  // (N, 4C) before GELU
    let fcGelu: UnsafeMutablePointer<Float>  // (N, 4C)
    let output: UnsafeMutablePointer<Float>  // (N, C) stream after the MLP branch
}

/// What the rows of a block application attend to.
enum BlockAttention {
    /// B sequences of T rows each, at positions 0..<T, attending within the batch (training and
    /// evaluation).
    case batch(AttentionShape, AttentionProbabilities)
    /// New rows of sequences whose earlier positions are in a key/value cache (generation).
    case cached(CacheLayer, [CachedSequence], scratch: UnsafeMutablePointer<Float>, scratchRows: Int)
}

/// A transformer block, the one implementation every path runs:
///   afterAttention = x + c_proj(attention(ln_1(x)))
///   output         = afterAttention + mlp.c_proj(gelu(mlp.c_fc(ln_2(afterAttention))))
enum Block {
    static func forward(
        _ w: BlockWeights, input x: UnsafePointer<Float>, buffers b: BlockBuffers, rows n: Int,
        attention: BlockAttention, config: ModelConfiguration, workers: Workers
    ) {
        let c = config.channels
        queriesKeysValues(w, input: x, buffers: b, rows: n, config: config, workers: workers)
        switch attention {
        case .batch(let shape, let probabilities):
            Attention.forward(out: b.attentionOutput, probabilities: probabilities, qkv: b.qkv, shape: shape,
                              workers: workers)
        case .cached(let layer, let sequences, let scratch, let scratchRows):
            Attention.forwardCached(out: b.attentionOutput, qkv: b.qkv, cache: layer, sequences: sequences,
                                    heads: config.heads, channels: c, scratch: scratch, scratchRows: scratchRows,
                                    workers: workers)
        }
        if b.afterAttention != UnsafeMutablePointer(mutating: x) { b.afterAttention.update(from: x, count: n * c) }
        Linear.forward(out: b.afterAttention, inp: b.attentionOutput, weights: w.attentionProjection,
                       bias: w.attentionProjectionBias, rows: n, inChannels: c, outChannels: c, accumulate: true,
                       workers: workers)

        LayerNorm.forward(out: b.ln2, mean: b.ln2Mean, rstd: b.ln2Rstd, inp: b.afterAttention, weight: w.ln2Weight,
                          bias: w.ln2Bias, rows: n, channels: c, workers: workers)
        Linear.forward(out: b.fc, inp: b.ln2, weights: w.fc, bias: w.fcBias, rows: n, inChannels: c,
                       outChannels: 4 * c, workers: workers)
        GELU.forward(out: b.fcGelu, inp: b.fc, count: n * 4 * c, workers: workers)
        if b.output != b.afterAttention { b.output.update(from: b.afterAttention, count: n * c) }
        Linear.forward(out: b.output, inp: b.fcGelu, weights: w.fcProjection, bias: w.fcProjectionBias, rows: n,
                       inChannels: 4 * c, outChannels: c, accumulate: true, workers: workers)
    }

    /// ln_1 and the qkv projection: the start of `forward`, and all a row needs to give later
    /// rows its keys and values once it has stopped looping (adaptive exit).
    static func queriesKeysValues(
        _ w: BlockWeights, input x: UnsafePointer<Float>, buffers b: BlockBuffers, rows n: Int,
        config: ModelConfiguration, workers: Workers
    ) {
        let c = config.channels
        LayerNorm.forward(out: b.ln1, mean: b.ln1Mean, rstd: b.ln1Rstd, inp: x, weight: w.ln1Weight,
                          bias: w.ln1Bias, rows: n, channels: c, workers: workers)
        Linear.forward(out: b.qkv, inp: b.ln1, weights: w.qkv, bias: w.qkvBias, rows: n, inChannels: c,
                       outChannels: 3 * c, workers: workers)
    }
}

/// What a loop pass adds to the stream before its first block, in every path: the embedded
/// input again (input injection, passes after the first) and the pass's learned step embedding.
enum PassInput {
    static func addsToStream(pass n: Int, config: ModelConfiguration) -> Bool {
        (config.injectInput && n >= 1) || config.loopEmbeddings > 0
    }

    /// stream (N, C) += embedded (N, C) and/or the step-embedding row of pass `n`.
    static func add(
        pass n: Int, to stream: UnsafeMutablePointer<Float>, embedded: UnsafePointer<Float>, rows: Int,
        weights: ModelWeights, workers: Workers
    ) {
        let c = weights.config.channels
        if weights.config.injectInput && n >= 1 {
            Residual.forward(out: stream, a: stream, b: embedded, count: rows * c, workers: workers)
        }
        if let step = weights.loopEmbeddingRow(n) {
            workers.forEachChunk(rows, minPerChunk: 64) { range, _ in
                for r in range { for i in 0..<c { stream[r * c + i] += step[i] } }
            }
        }
    }
}
