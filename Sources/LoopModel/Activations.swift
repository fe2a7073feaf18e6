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

    /// Every buffer separate: backward reads them all.
    var buffers: BlockBuffers {
        BlockBuffers(ln1: ln1.pointer, ln1Mean: ln1Mean.pointer, ln1Rstd: ln1Rstd.pointer, qkv: qkv.pointer,
                     attentionOutput: attentionOutput.pointer, afterAttention: afterAttention.pointer,
                     ln2: ln2.pointer, ln2Mean: ln2Mean.pointer, ln2Rstd: ln2Rstd.pointer, fc: fc.pointer,
                     fcGelu: fcGelu.pointer, output: output.pointer)
    }
}

/// The forward state of a whole batch, and the scratch backward reuses across applications.
/// Activation memory grows with the applications kept for backward: all of them, or with
/// truncated backpropagation only the prelude, the last k loop passes and the coda — the
/// earlier passes run through two scratch sets that are overwritten as they go.
final class Activations {
    let batch: Int  // B
    let time: Int  // T
    let channels: Int  // C
    let attentionCount: Int  // B·NH·T·T
    private(set) var layout: LoopLayout  // the loop count of the last forward
    private(set) var gradientLoops: Int  // loop passes kept for backward in the last forward
    var applications: Int { layout.effectiveDepth }  // L
    let encoded: FloatBuffer  // (N, C) token + position embeddings
    /// The activation set of each application of the last forward (scratch ones repeat).
    private(set) var perApplication: [ApplicationActivations] = []
    /// The residual stream entering each application of the last forward.
    var inputs: [FloatBuffer] = []
    private var pool: [ApplicationActivations] = []
    private var scratch: [ApplicationActivations] = []
    /// Pass inputs (N, C) when passes add something to the stream (injection, step embeddings).
    private(set) var passInputs: [FloatBuffer] = []
    let lnf: FloatBuffer  // (N, C)
    let lnfMean: FloatBuffer, lnfRstd: FloatBuffer  // (N)
    let logits: FloatBuffer  // (N, Vp): logits, then dlogits after backward
    let losses: FloatBuffer  // (N)
    let rowMax: FloatBuffer  // (N) max logit per row, from the loss forward
    let normalizers: FloatBuffer  // (N) 1 / Σ exp(logit − max), from the loss forward
    var tokens: [Int32]  // (N)
    var targets: [Int32]  // (N), −1 where a row has no target (masked out of the loss)
    let positions: [Int32]  // (N) position of each row in its sequence: row % T
    var targetCount = 0  // rows with a target in the last forward
    var hasTargets = false
    var backwardDone = false

    // Backward scratch, shared by all applications.
    let dResidual: FloatBuffer  // (N, C) gradient flowing down the residual stream
    let dNormed: FloatBuffer  // (N, C) gradient of a LayerNorm output
    let dQKV: FloatBuffer  // (N, 3C)
    let dAttentionOutput: FloatBuffer  // (N, C)
    let dFC: FloatBuffer  // (N, 4C)
    let dScores: FloatBuffer  // (B, NH, T, T)
    let dInjected: FloatBuffer  // (N, C) gradient reaching the embedded input through injections
    let layerNormScratch: FloatBuffer  // (2 · C · reduction parts)
    let ones: FloatBuffer  // (N) for bias column sums

    init(config: ModelConfiguration, batch: Int, time: Int, threads: Int) {
        let n = batch * time, c = config.channels
        self.batch = batch
        self.time = time
        channels = c
        attentionCount = batch * config.heads * time * time
        layout = config.layout
        gradientLoops = config.layout.loops
        encoded = FloatBuffer(count: n * c)
        lnf = FloatBuffer(count: n * c)
        lnfMean = FloatBuffer(count: n)
        lnfRstd = FloatBuffer(count: n)
        logits = FloatBuffer(count: n * config.paddedVocabSize)
        losses = FloatBuffer(count: n)
        rowMax = FloatBuffer(count: n)
        normalizers = FloatBuffer(count: n)
        tokens = Array(repeating: 0, count: n)
        targets = Array(repeating: 0, count: n)
        positions = (0..<n).map { Int32($0 % time) }
        dResidual = FloatBuffer(count: n * c)
        dNormed = FloatBuffer(count: n * c)
        dQKV = FloatBuffer(count: n * 3 * c)
        dAttentionOutput = FloatBuffer(count: n * c)
        dFC = FloatBuffer(count: n * 4 * c)
        dScores = FloatBuffer(count: attentionCount)
        dInjected = FloatBuffer(count: n * c)
        layerNormScratch = FloatBuffer(count: LayerNorm.scratchCount(channels: c))
        ones = FloatBuffer([Float](repeating: 1, count: n))
    }

    private func makeSet() -> ApplicationActivations {
        ApplicationActivations(rows: batch * time, channels: channels, attentionCount: attentionCount)
    }

    /// Assigns an activation set to each application of `layout`, keeping the last
    /// `gradientLoops` passes (and prelude and coda) for backward. Grows the pool as needed.
    func plan(layout: LoopLayout, gradientLoops: Int, passInputsNeeded: Bool) {
        self.layout = layout
        self.gradientLoops = gradientLoops
        if scratch.isEmpty && gradientLoops < layout.loops { scratch = [makeSet(), makeSet()] }
        var mapping: [ApplicationActivations] = []
        var used = 0
        for a in 0..<layout.effectiveDepth {
            if keepsActivations(a) {
                if used == pool.count { pool.append(makeSet()) }
                mapping.append(pool[used])
                used += 1
            } else {
                mapping.append(scratch[a % 2])
            }
        }
        perApplication = mapping
        inputs = Array(repeating: encoded, count: layout.effectiveDepth)
        if passInputsNeeded {
            while passInputs.count < layout.loops { passInputs.append(FloatBuffer(count: batch * time * channels)) }
        }
    }

    /// Whether application `a` of the last plan keeps its activations for backward.
    func keepsActivations(_ a: Int) -> Bool {
        guard let (pass, _) = layout.pass(ofApplication: a) else { return true }
        return pass >= layout.loops - gradientLoops
    }

    var finalResidual: FloatBuffer { perApplication.last?.output ?? encoded }

    /// The residual stream after the prelude: the embedded input that injection adds again.
    var embeddedInput: FloatBuffer { layout.prelude == 0 ? encoded : perApplication[layout.prelude - 1].output }
}

/// Activation memory a training step allocates, in bytes, counted with overflow checks
/// (nil: more than can be counted). Mirrors what `Activations` allocates.
public struct ActivationMemory: Sendable, Equatable {
    public let perApplication: Int?
    public let total: Int?

    /// `loops`: the most loop passes a step runs (default: the configured count);
    /// `keptLoops`: passes kept for backward (truncated backpropagation; default: all).
    public init(config: ModelConfiguration, batch: Int, time: Int, loops: Int? = nil, keptLoops: Int? = nil) {
        let c = config.channels, bytes = MemoryLayout<Float>.stride
        let layout = config.layout.with(loops: loops ?? config.layout.loops)
        let kept = min(keptLoops ?? layout.loops, layout.loops)
        let n = CheckedSize.product(batch, time)
        let attention = CheckedSize.product(batch, config.heads, time, time)
        func floats(_ perRow: Int?) -> Int? { n.flatMap { n in perRow.flatMap { CheckedSize.product(n, $0) } } }
        let application = CheckedSize.sum(floats(ApplicationActivations.floatsPerRow(channels: c)), attention)
        perApplication = application.flatMap { CheckedSize.product($0, bytes) }
        let keptApplications = layout.prelude + layout.looped * kept + layout.coda
            + (kept < layout.loops ? 2 * layout.looped : 0)  // two scratch sets run the truncated passes
        let passInputs = config.injectInput || config.loopEmbeddings > 0 ? floats(CheckedSize.product(layout.loops, c)) : 0
        let shared = floats(CheckedSize.sum(2 * c + 5, config.paddedVocabSize))  // encoded, lnf, logits, per-row values
        let backward = CheckedSize.sum(floats(11 * c + 1), attention)  // dResidual … dInjected, ones; dScores
        total = CheckedSize.sum(application.flatMap { CheckedSize.product($0, keptApplications) }, passInputs, shared, backward)
            .flatMap { CheckedSize.product($0, bytes) }
    }
}
