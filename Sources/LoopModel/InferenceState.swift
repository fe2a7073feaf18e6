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
    let saved: FloatBuffer  // (N, C) state before a pass (adaptive exit); frozen state of exited rows
    let attentionScratch: FloatBuffer  // per thread: T×T (batch) or rows × T (cache)
    let scratchRows: Int  // rows one cached sequence may add per call
    var tokens: [Int32]  // (N)
    var positions: [Int32]  // (N)

    init(config: ModelConfiguration, rows: Int, attentionFloats: Int, scratchRows: Int) throws(MemoryError) {
        let c = config.channels
        self.rows = rows
        channels = c
        stream = try FloatBuffer(count: rows * c)
        normed = try FloatBuffer(count: rows * c)
        mean = try FloatBuffer(count: rows)
        rstd = try FloatBuffer(count: rows)
        qkv = try FloatBuffer(count: rows * 3 * c)
        attentionOutput = try FloatBuffer(count: rows * c)
        fc = try FloatBuffer(count: rows * 4 * c)
        embedded = try FloatBuffer(count: config.injectInput ? rows * c : 0)
        saved = try FloatBuffer(count: rows * c)
        attentionScratch = try FloatBuffer(count: attentionFloats)
        self.scratchRows = scratchRows
        tokens = Array(repeating: 0, count: rows)
        positions = Array(repeating: 0, count: rows)
    }

    /// Bytes a state of this shape holds.
    static func bytes(config: ModelConfiguration, rows: Int, attentionFloats: Int) -> Int {
        let c = config.channels
        let perRow = c * (1 + 1 + 3 + 1 + 4 + 1 + (config.injectInput ? 1 : 0)) + 2 + 2
        return (rows * perRow + attentionFloats) * MemoryLayout<Float>.stride
    }

    /// The in-place buffer plan: input = afterAttention = output = stream.
    var buffers: BlockBuffers {
        BlockBuffers(ln1: normed.pointer, ln1Mean: mean.pointer, ln1Rstd: rstd.pointer, qkv: qkv.pointer,
                     attentionOutput: attentionOutput.pointer, afterAttention: stream.pointer, ln2: normed.pointer,
                     ln2Mean: mean.pointer, ln2Rstd: rstd.pointer, fc: fc.pointer, fcGelu: fc.pointer,
                     output: stream.pointer)
    }
}
