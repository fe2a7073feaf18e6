import LoopKernels

/// Scratch for running up to `rows` rows through the stack without keeping activations:
/// one stream updated in place, one set of block buffers shared by every application.
/// Shapes: N = rows.
final class InferenceState {
    let rows: Int  // N
    let channels: Int  // C
    let stream: FloatBuffer  // (N, C) residual stream, updated in place
    let normed: FloatBuffer  // (N, C) ln_1 / ln_2 / ln_f output
    let mean: FloatBuffer, rstd: FloatBuffer  // (N)
    let qkv: FloatBuffer  // (N, 3C)
    let attentionOutput: FloatBuffer  // (N, C)
    let fc: FloatBuffer  // (N, 4C) before and after GELU
    let embedded: FloatBuffer  // (N, C) stream after the prelude, for input injection
    let saved: FloatBuffer  // (N, C) state before a pass (the change exit rule)
    let work: FloatBuffer  // (N, C) the rows still looping, gathered (adaptive exit)
    let embeddedWork: FloatBuffer  // (N, C) their embedded input, gathered (input injection)
    let attentionScratch: FloatBuffer  // per thread: T×T (batch) or rows × T (cache)
    let scratchRows: Int  // rows one cached sequence may add per call
    var tokens: [Int32]  // (N)
    var positions: [Int32]  // (N)

    /// Floats per row of each buffer: the one table both the allocation and `bytes` read.
    struct RowSizes {
        let stream: Int, normed: Int, mean: Int, rstd: Int, qkv: Int, attentionOutput: Int, fc: Int, embedded: Int
        let saved: Int, work: Int, embeddedWork: Int
        /// `tokens` and `positions`, an Int32 each: the width of a float.
        let identifiers = 2

        init(config: ModelConfiguration) {
            let c = config.channels
            (stream, normed, mean, rstd, qkv, attentionOutput, fc) = (c, c, 1, 1, 3 * c, c, 4 * c)
            embedded = config.injectInput ? c : 0
            saved = c
            (work, embeddedWork) = (c, embedded)
        }

        var total: Int {
            stream + normed + mean + rstd + qkv + attentionOutput + fc + embedded + saved + work + embeddedWork + identifiers
        }
    }

    init(config: ModelConfiguration, rows: Int, attentionFloats: Int, scratchRows: Int) throws(MemoryError) {
        let sizes = RowSizes(config: config)
        self.rows = rows
        channels = config.channels
        stream = try FloatBuffer(count: rows * sizes.stream)
        normed = try FloatBuffer(count: rows * sizes.normed)
        mean = try FloatBuffer(count: rows * sizes.mean)
        rstd = try FloatBuffer(count: rows * sizes.rstd)
        qkv = try FloatBuffer(count: rows * sizes.qkv)
        attentionOutput = try FloatBuffer(count: rows * sizes.attentionOutput)
        fc = try FloatBuffer(count: rows * sizes.fc)
        embedded = try FloatBuffer(count: rows * sizes.embedded)
        saved = try FloatBuffer(count: rows * sizes.saved)
        work = try FloatBuffer(count: rows * sizes.work)
        embeddedWork = try FloatBuffer(count: rows * sizes.embeddedWork)
        attentionScratch = try FloatBuffer(count: attentionFloats)
        self.scratchRows = scratchRows
        tokens = Array(repeating: 0, count: rows)
        positions = Array(repeating: 0, count: rows)
    }

    /// Bytes a state of this shape holds.
    static func bytes(config: ModelConfiguration, rows: Int, attentionFloats: Int) -> Int {
        (rows * RowSizes(config: config).total + attentionFloats) * MemoryLayout<Float>.stride
    }

    /// The in-place buffer plan: input = afterAttention = output = the stream given (the full
    /// stream, or the gathered rows still looping).
    func buffers(stream: UnsafeMutablePointer<Float>) -> BlockBuffers {
        BlockBuffers(ln1: normed.pointer, ln1Mean: mean.pointer, ln1Rstd: rstd.pointer, qkv: qkv.pointer,
                     attentionOutput: attentionOutput.pointer, afterAttention: stream, ln2: normed.pointer,
                     ln2Mean: mean.pointer, ln2Rstd: rstd.pointer, fc: fc.pointer, fcGelu: fc.pointer,
                     output: stream)
    }
}
