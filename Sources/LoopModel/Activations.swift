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

    init(rows n: Int, channels c: Int, attentionCount: Int) throws(MemoryError) {
        ln1 = try FloatBuffer(count: n * c)
        ln1Mean = try FloatBuffer(count: n)
        ln1Rstd = try FloatBuffer(count: n)
        qkv = try FloatBuffer(count: n * 3 * c)
        attention = try FloatBuffer(count: attentionCount)
        attentionOutput = try FloatBuffer(count: n * c)
        afterAttention = try FloatBuffer(count: n * c)
        ln2 = try FloatBuffer(count: n * c)
        ln2Mean = try FloatBuffer(count: n)
        ln2Rstd = try FloatBuffer(count: n)
        fc = try FloatBuffer(count: n * 4 * c)
        fcGelu = try FloatBuffer(count: n * 4 * c)
        output = try FloatBuffer(count: n * c)
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
///
/// What lives where:
/// - every application kept for backward has its own `ApplicationActivations` (16C + 4 floats
///   per row and B·NH·T·T attention probabilities); with truncated backpropagation the passes
///   before the last k run through two scratch sets that are overwritten as they go;
/// - with `recompute`, one scratch set serves every application and only the stream after
///   each application is kept (C floats per row); backward runs each block forward again into
///   the scratch set just before its backward, and the logits are computed `headChunkRows` rows
///   at a time, in forward and again in backward, instead of all N × Vp at once.
final class Activations {
    let batch: Int  // B
    let time: Int  // T
    let channels: Int  // C
    let recompute: Bool
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
    let logits: FloatBuffer  // (N, Vp): logits, then dlogits after backward; (chunk, Vp) when recomputing
    /// With `recompute`: the stream after each application (N, C).
    private var outputs: [FloatBuffer] = []
    let losses: FloatBuffer  // (N)
    let rowMax: FloatBuffer  // (N) max logit per row, from the loss forward
    let normalizers: FloatBuffer  // (N) 1 / Σ exp(logit − max), from the loss forward
    var tokens: [Int32]  // (N)
    var targets: [Int32]  // (N), −1 where a row has no target (masked out of the loss)
    let positions: [Int32]  // (N) position of each row in its sequence: row % T
    var targetCount = 0  // rows with a target in the last forward
    var hasTargets = false
    var backwardDone = false
    /// The objective of the last forward, and its per-pass buffers when it reads every pass.
    var objective: LoopObjective = .last
    private(set) var passHeadBuffers: PassHeadBuffers?

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

    init(config: ModelConfiguration, batch: Int, time: Int, threads: Int, recompute: Bool) throws(MemoryError) {
        let n = batch * time, c = config.channels
        self.recompute = recompute
        self.batch = batch
        self.time = time
        channels = c
        attentionCount = batch * config.heads * time * time
        layout = config.layout
        gradientLoops = config.layout.loops
        encoded = try FloatBuffer(count: n * c)
        lnf = try FloatBuffer(count: n * c)
        lnfMean = try FloatBuffer(count: n)
        lnfRstd = try FloatBuffer(count: n)
        logits = try FloatBuffer(count: (recompute ? min(n, ModelConfiguration.headChunkRows) : n) * config.paddedVocabSize)
        losses = try FloatBuffer(count: n)
        rowMax = try FloatBuffer(count: n)
        normalizers = try FloatBuffer(count: n)
        tokens = Array(repeating: 0, count: n)
        targets = Array(repeating: 0, count: n)
        positions = (0..<n).map { Int32($0 % time) }
        dResidual = try FloatBuffer(count: n * c)
        dNormed = try FloatBuffer(count: n * c)
        dQKV = try FloatBuffer(count: n * 3 * c)
        dAttentionOutput = try FloatBuffer(count: n * c)
        dFC = try FloatBuffer(count: n * 4 * c)
        dScores = try FloatBuffer(count: attentionCount)
        dInjected = try FloatBuffer(count: n * c)
        layerNormScratch = try FloatBuffer(count: LayerNorm.scratchCount(channels: c))
        ones = try FloatBuffer([Float](repeating: 1, count: n))
    }

    /// Per-pass head buffers for `passes` passes (made once, remade for more passes).
    func passHeads(passes: Int) throws(MemoryError) -> PassHeadBuffers {
        if let buffers = passHeadBuffers, buffers.passes == passes { return buffers }
        passHeadBuffers = nil
        let buffers = try PassHeadBuffers(passes: passes, rows: batch * time, channels: channels)
        passHeadBuffers = buffers
        return buffers
    }

    private func makeSet() throws(MemoryError) -> ApplicationActivations {
        try ApplicationActivations(rows: batch * time, channels: channels, attentionCount: attentionCount)
    }

    /// Assigns an activation set to each application of `layout`, keeping the last
    /// `gradientLoops` passes (and prelude and coda) for backward. Grows the pool as needed.
    func plan(layout: LoopLayout, gradientLoops: Int, passInputsNeeded: Bool) throws(MemoryError) {
        self.layout = layout
        self.gradientLoops = gradientLoops
        if passInputsNeeded {
            while passInputs.count < layout.loops { passInputs.append(try FloatBuffer(count: batch * time * channels)) }
        }
        inputs = Array(repeating: encoded, count: layout.effectiveDepth)
        if recompute {
            if scratch.isEmpty { scratch = [try makeSet()] }
            perApplication = Array(repeating: scratch[0], count: layout.effectiveDepth)
            while outputs.count < layout.effectiveDepth { outputs.append(try FloatBuffer(count: batch * time * channels)) }
            return
        }
        if scratch.isEmpty && gradientLoops < layout.loops { scratch = [try makeSet(), try makeSet()] }
        var mapping: [ApplicationActivations] = []
        var used = 0
        for a in 0..<layout.effectiveDepth {
            if keepsActivations(a) {
                if used == pool.count { pool.append(try makeSet()) }
                mapping.append(pool[used])
                used += 1
            } else {
                mapping.append(scratch[a % 2])
            }
        }
        perApplication = mapping
    }

    /// The stream after application `a`.
    func output(of a: Int) -> FloatBuffer { recompute ? outputs[a] : perApplication[a].output }

    /// Where application `a`'s forward writes: its own set, or the scratch set with the output
    /// going to the kept stream.
    func forwardBuffers(_ a: Int) -> BlockBuffers {
        let buffers = perApplication[a].buffers
        guard recompute else { return buffers }
        return BlockBuffers(ln1: buffers.ln1, ln1Mean: buffers.ln1Mean, ln1Rstd: buffers.ln1Rstd, qkv: buffers.qkv,
                            attentionOutput: buffers.attentionOutput, afterAttention: buffers.afterAttention,
                            ln2: buffers.ln2, ln2Mean: buffers.ln2Mean, ln2Rstd: buffers.ln2Rstd, fc: buffers.fc,
                            fcGelu: buffers.fcGelu, output: outputs[a].pointer)
    }

    /// Whether application `a` of the last plan keeps its activations for backward.
    func keepsActivations(_ a: Int) -> Bool {
        guard let (pass, _) = layout.pass(ofApplication: a) else { return true }
        return pass >= layout.loops - gradientLoops
    }

    var finalResidual: FloatBuffer { layout.effectiveDepth == 0 ? encoded : output(of: layout.effectiveDepth - 1) }

    /// The residual stream after the prelude: the embedded input that injection adds again.
    var embeddedInput: FloatBuffer { layout.prelude == 0 ? encoded : output(of: layout.prelude - 1) }
}

/// Activation memory a training step allocates, in bytes, counted with overflow checks
/// (nil: more than can be counted). Mirrors what `Activations` allocates.
public struct ActivationMemory: Sendable, Equatable {
    public let perApplication: Int?
    public let total: Int?

    /// `loops`: the most loop passes a step runs (default: the configured count);
    /// `keptLoops`: passes kept for backward (truncated backpropagation; default: all);
    /// `recompute`: one scratch set, the stream after each application, chunked logits.
    public init(
        config: ModelConfiguration, batch: Int, time: Int, loops: Int? = nil, keptLoops: Int? = nil, recompute: Bool = false
    ) {
        let c = config.channels, bytes = MemoryLayout<Float>.stride
        let layout = config.layout.with(loops: loops ?? config.layout.loops)
        let kept = min(keptLoops ?? layout.loops, layout.loops)
        let n = CheckedSize.product(batch, time)
        let attention = CheckedSize.product(batch, config.heads, time, time)
        func floats(_ perRow: Int?) -> Int? { n.flatMap { n in perRow.flatMap { CheckedSize.product(n, $0) } } }
        let application = CheckedSize.sum(floats(ApplicationActivations.floatsPerRow(channels: c)), attention)
        perApplication = application.flatMap { CheckedSize.product($0, bytes) }
        let keptApplications = recompute ? 1 : layout.prelude + layout.looped * kept + layout.coda
            + (kept < layout.loops ? 2 * layout.looped : 0)  // two scratch sets run the truncated passes
        let streams = recompute ? floats(CheckedSize.product(layout.effectiveDepth, c)) : 0
        let passInputs = config.injectInput || config.loopEmbeddings > 0 ? floats(CheckedSize.product(layout.loops, c)) : 0
        let logitRows = recompute ? n.map { min($0, ModelConfiguration.headChunkRows) } : n
        let logits = logitRows.flatMap { CheckedSize.product($0, config.paddedVocabSize) }
        let shared = CheckedSize.sum(floats(2 * c + 5), logits)  // encoded, lnf, per-row values; logits
        let backward = CheckedSize.sum(floats(11 * c + 1), attention)  // dResidual … dInjected, ones; dScores
        total = CheckedSize.sum(application.flatMap { CheckedSize.product($0, keptApplications) }, streams, passInputs,
                                shared, backward).flatMap { CheckedSize.product($0, bytes) }
    }
}
