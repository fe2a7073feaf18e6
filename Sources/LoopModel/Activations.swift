import LoopKernels

/// Everything one block application keeps from forward for backward.
/// Shapes: N = B·T rows.
final class ApplicationActivations {
    let ln1: FloatBuffer  // (N, C)
    let ln1Mean: FloatBuffer, ln1Rstd: FloatBuffer  // (N)
    let qkv: FloatBuffer  // (N, 3C)
    let attention: FloatBuffer  // (B, NH, T, T) probabilities
    let attentionOutput: FloatBuffer  // (N, C) heads concatenated, before c_proj
    let afterAttention: FloatBuffer  // (N, C) residual stream after the attention branch
    let ln2: FloatBuffer  // (N, C)
    let ln2Mean: FloatBuffer, ln2Rstd: FloatBuffer  // (N)
    let fc: FloatBuffer  // (N, 4C) before GELU
    let fcGelu: FloatBuffer  // (N, 4C)
    let output: FloatBuffer  // (N, C) residual stream after the MLP branch

    init(rows n: Int, channels c: Int, attentionCount: Int) {
        ln1 = FloatBuffer(count: n * c)
        ln1Mean = FloatBuffer(count: n)
        ln1Rstd = FloatBuffer(count: n)
        qkv = FloatBuffer(count: n * 3 * c)
        attention = FloatBuffer(count: attentionCount)
        attentionOutput = FloatBuffer(count: n * c)
        afterAttention = FloatBuffer(count: n * c)
        ln2 = FloatBuffer(count: n * c)
        ln2Mean = FloatBuffer(count: n)
        ln2Rstd = FloatBuffer(count: n)
        fc = FloatBuffer(count: n * 4 * c)
        fcGelu = FloatBuffer(count: n * 4 * c)
        output = FloatBuffer(count: n * c)
    }

    /// Floats held per row (token) of the batch, attention probabilities excluded.
    static func floatsPerRow(channels c: Int) -> Int { 16 * c + 4 }
}

/// The forward state of a whole batch, and the scratch backward reuses across applications.
/// Activation memory grows with applications (effective depth), not with unique blocks.
final class Activations {
    let batch: Int  // B
    let time: Int  // T
    let layout: LoopLayout  // the loop count this forward ran with
    var applications: Int { layout.effectiveDepth }  // L
    let encoded: FloatBuffer  // (N, C) token + position embeddings
    let perApplication: [ApplicationActivations]
    let lnf: FloatBuffer  // (N, C)
    let lnfMean: FloatBuffer, lnfRstd: FloatBuffer  // (N)
    let logits: FloatBuffer  // (N, Vp): logits, then dlogits after backward
    let losses: FloatBuffer  // (N)
    let rowMax: FloatBuffer  // (N) max logit per row, from the loss forward
    let normalizers: FloatBuffer  // (N) 1 / Σ exp(logit − max), from the loss forward
    var tokens: [Int32]  // (N)
    var targets: [Int32]  // (N)
    var hasTargets = false
    var backwardDone = false

    // Backward scratch, shared by all applications.
    let dResidual: FloatBuffer  // (N, C) gradient flowing down the residual stream
    let dNormed: FloatBuffer  // (N, C) gradient of a LayerNorm output
    let dQKV: FloatBuffer  // (N, 3C)
    let dAttentionOutput: FloatBuffer  // (N, C)
    let dFC: FloatBuffer  // (N, 4C)
    let dScores: FloatBuffer  // (B, NH, T, T)
    let layerNormScratch: FloatBuffer  // (2 · C · threads)
    let ones: FloatBuffer  // (N) for bias column sums

    init(config: ModelConfiguration, batch: Int, time: Int, layout: LoopLayout, threads: Int) {
        let n = batch * time, c = config.channels
        let attentionCount = batch * config.heads * time * time
        self.batch = batch
        self.time = time
        self.layout = layout
        encoded = FloatBuffer(count: n * c)
        perApplication = (0..<layout.effectiveDepth).map { _ in
            ApplicationActivations(rows: n, channels: c, attentionCount: attentionCount)
        }
        lnf = FloatBuffer(count: n * c)
        lnfMean = FloatBuffer(count: n)
        lnfRstd = FloatBuffer(count: n)
        logits = FloatBuffer(count: n * config.paddedVocabSize)
        losses = FloatBuffer(count: n)
        rowMax = FloatBuffer(count: n)
        normalizers = FloatBuffer(count: n)
        tokens = Array(repeating: 0, count: n)
        targets = Array(repeating: 0, count: n)
        dResidual = FloatBuffer(count: n * c)
        dNormed = FloatBuffer(count: n * c)
        dQKV = FloatBuffer(count: n * 3 * c)
        dAttentionOutput = FloatBuffer(count: n * c)
        dFC = FloatBuffer(count: n * 4 * c)
        dScores = FloatBuffer(count: attentionCount)
        layerNormScratch = FloatBuffer(count: 2 * c * threads)
        ones = FloatBuffer([Float](repeating: 1, count: n))
    }

    /// The residual stream entering application `a`.
    func input(ofApplication a: Int) -> FloatBuffer {
        a == 0 ? encoded : perApplication[a - 1].output
    }

    var finalResidual: FloatBuffer { perApplication.last?.output ?? encoded }
}

/// Activation memory a training step keeps, in bytes, for reporting.
public struct ActivationMemory: Sendable, Equatable {
    public let perApplication: Int
    public let total: Int

    public init(config: ModelConfiguration, batch: Int, time: Int) {
        let n = batch * time, c = config.channels
        let floatBytes = MemoryLayout<Float>.size
        let attention = batch * config.heads * time * time
        perApplication = (n * ApplicationActivations.floatsPerRow(channels: c) + attention)
            * floatBytes
        let shared = n * (c * 2 + 2 + config.paddedVocabSize + 1)  // encoded, lnf, logits…
        let scratch = n * (c * 9 + 1) + attention
        total = perApplication * config.layout.effectiveDepth + (shared + scratch) * floatBytes
    }
}
