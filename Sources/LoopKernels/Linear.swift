/// The weight matrix of a linear layer, however it is stored.
///
/// - `inputMajor`: float32 (in, out), Hugging Face GPT-2's Conv1D layout, as checkpoints and
///   the trainer hold it.
/// - `outputMajor`: float32 (out, in): the tied output head, which is the token embedding.
/// - `float32Panels` / `bfloat16Panels`: inference copies in `Panels`, so that each thread's
///   share of a decoding product is one contiguous stream.
/// - `int8`: a quantized copy for inference, (out, in) so each output is one contiguous dot
///   product (see `ReducedPrecision`).
public enum LinearWeights {
    case inputMajor(UnsafePointer<Float>)
    case outputMajor(UnsafePointer<Float>)
    case float32Panels(UnsafePointer<Float>)
    case bfloat16Panels(UnsafePointer<UInt16>)
    case int8(QuantizedMatrix)

    /// The first weight of a float32 matrix (nil for reduced ones).
    public var floatPointer: UnsafePointer<Float>? {
        switch self {
        case .inputMajor(let w), .outputMajor(let w), .float32Panels(let w): return w
        case .bfloat16Panels, .int8: return nil
        }
    }

    /// Bytes one full read of the matrix moves, for bandwidth figures.
    public func bytes(inputs: Int, outputs: Int) -> Int {
        switch self {
        case .inputMajor, .outputMajor, .float32Panels: return 4 * inputs * outputs
        case .bfloat16Panels: return 2 * inputs * outputs
        case .int8(let q): return inputs * outputs + 4 * outputs * q.groupsPerRow(inputs: inputs)
        }
    }
}

/// Linear layer for inference and training forward:
/// out (N, OC) = inp (N, C) · W + bias (OC), or `out +=` that when `accumulate`.
///
/// Many rows go to BLAS sgemm. A few rows (decoding) are matrix–vector work, bound by how fast
/// the weights stream from memory; they run over the workers in bands of outputs, and each
/// output is computed the same way whichever other rows share the call (`DecodeProducts`), so
/// a sequence decoded in a batch gets exactly the numbers it gets alone.
public enum Linear {
    /// At or below this many rows, float32 products run as decode products (the same bound as
    /// the reduced-precision kernels', so a batch of up to 16 decoding sequences is row-exact
    /// at every precision).
    public static let vectorRows = 16

    public static func forward(
        out: UnsafeMutablePointer<Float>,  // (N, OC)
        inp: UnsafePointer<Float>,  // (N, C)
        weights: LinearWeights, bias: UnsafePointer<Float>?,  // (OC)
        rows n: Int, inChannels c: Int, outChannels oc: Int,
        accumulate: Bool = false, workers: Workers
    ) {
        switch weights {
        case .inputMajor(let w):
            if n > vectorRows {
                Matmul.forward(out: out, inp: inp, weight: w, bias: bias, rows: n, inChannels: c,
                               outChannels: oc, accumulate: accumulate, workers: workers)
                return
            }
            let bands = (oc + DecodeProducts.band - 1) / DecodeProducts.band
            workers.forEachChunk(bands, minPerChunk: 256 / DecodeProducts.band) { chunk, _ in
                let columns = (chunk.lowerBound * DecodeProducts.band)..<min(chunk.upperBound * DecodeProducts.band, oc)
                for row in 0..<n {
                    prepare(out + row * oc + columns.lowerBound, bias: bias.map { $0 + columns.lowerBound },
                            count: columns.count, accumulate: accumulate)
                }
                DecodeProducts.inputMajor(w + columns.lowerBound, ldw: oc, x: inp, rows: n, inChannels: c,
                                          columns: columns.count, y: out + columns.lowerBound, ldy: oc)
            }
        case .outputMajor(let w):
            workers.forEachChunk(oc, minPerChunk: 256) { outputs, _ in
                let band = w + outputs.lowerBound * c
                for row in 0..<n {
                    prepare(out + row * oc + outputs.lowerBound, bias: bias.map { $0 + outputs.lowerBound },
                            count: outputs.count, accumulate: accumulate)
                }
                if n > vectorRows {
                    BLAS.gemm(transposeB: true, m: n, n: outputs.count, k: c, a: inp, lda: c, b: band, ldb: c,
                              beta: 1, c: out + outputs.lowerBound, ldc: oc, kernel: workers.sgemm)
                } else {
                    DecodeProducts.outputMajor(band, x: inp, rows: n, inChannels: c, outputs: outputs.count,
                                               y: out + outputs.lowerBound, ldy: oc)
                }
            }
        case .float32Panels(let w):
            PanelProducts.forward(out: out, inp: inp, weights: .float32(w), bias: bias, rows: n, inChannels: c,
                                  outChannels: oc, accumulate: accumulate, workers: workers)
        case .bfloat16Panels(let w):
            PanelProducts.forward(out: out, inp: inp, weights: .bfloat16(w), bias: bias, rows: n, inChannels: c,
                                  outChannels: oc, accumulate: accumulate, workers: workers)
        case .int8(let q):
            ReducedPrecision.forward(out: out, inp: inp, weights: q, bias: bias, rows: n,
                                     inChannels: c, outChannels: oc, accumulate: accumulate, workers: workers)
        }
    }

    /// y = bias (or 0), or y += bias when accumulating into it.
    @inline(__always)
    static func prepare(
        _ y: UnsafeMutablePointer<Float>, bias: UnsafePointer<Float>?, count: Int, accumulate: Bool
    ) {
        if accumulate {
            if let bias { for i in 0..<count { y[i] += bias[i] } }
        } else if let bias {
            y.update(from: bias, count: count)
        } else {
            y.update(repeating: 0, count: count)
        }
    }
}
