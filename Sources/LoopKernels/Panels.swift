/// The layout of inference copies of the block matrices (and of a reduced-precision head): the
/// outputs cut into panels of `width` columns, each panel an (in, width) row-major matrix in one
/// contiguous run, the panels one after another. The last panel is narrower when the outputs are
/// not a multiple of the width.
///
///     panel p: outputs [p·width, min((p+1)·width, out)), its weights at p·width·in
///
/// Why: decoding reads every weight once per token, so it runs at the speed memory streams. With
/// the training layout (in, out) a thread's share of the outputs is a short run in every one of
/// the `in` rows, hundreds of interleaved streams the prefetchers follow badly; in panels it is
/// one contiguous run. Within a panel each output is still one chain of fused multiply-adds in
/// input order (`DecodeProducts`), so decoding gives the same bits as the training layout.
public enum Panels {
    /// Outputs per panel: four AVX-512 vectors, eight AVX2 ones.
    public static let width = 64

    public static func count(outputs: Int) -> Int { (outputs + width - 1) / width }

    /// The outputs of panel `p`.
    public static func columns(_ p: Int, outputs: Int) -> Range<Int> {
        (p * width)..<min((p + 1) * width, outputs)
    }

    /// Offset of panel `p`'s first weight.
    public static func offset(_ p: Int, inputs: Int) -> Int { p * width * inputs }

    /// Writes the (inputs, outputs) matrix whose weight (output j, input i) is `value(j, i)` in
    /// panels into `destination` (inputs · outputs elements), over the workers.
    @inline(__always)
    public static func pack<Element>(
        inputs: Int, outputs: Int, into destination: UnsafeMutablePointer<Element>, workers: Workers,
        _ value: (_ output: Int, _ input: Int) -> Element
    ) {
        workers.forEachChunk(count(outputs: outputs)) { panels, _ in
            for p in panels {
                let columns = Self.columns(p, outputs: outputs), panel = destination + offset(p, inputs: inputs)
                for i in 0..<inputs {
                    let row = panel + i * columns.count
                    for (k, j) in columns.enumerated() { row[k] = value(j, i) }
                }
            }
        }
    }
}

/// Products on weights stored in `Panels`: decode products for up to `Linear.vectorRows` rows,
/// sgemm panel by panel for more (prefill).
enum PanelProducts {
    enum Storage {
        case float32(UnsafePointer<Float>)
        case bfloat16(UnsafePointer<UInt16>)
    }

    /// At least this many panels per thread when decoding: smaller shares cost more to hand out
    /// than they save.
    static let minimumPanelsPerThread = 4

    static func forward(
        out: UnsafeMutablePointer<Float>,  // (N, OC)
        inp: UnsafePointer<Float>,  // (N, C)
        weights: Storage, bias: UnsafePointer<Float>?,  // (OC)
        rows n: Int, inChannels c: Int, outChannels oc: Int, accumulate: Bool, workers: Workers
    ) {
        let panels = Panels.count(outputs: oc)
        if n > Linear.vectorRows {
            prefill(out: out, inp: inp, weights: weights, bias: bias, rows: n, inChannels: c, outChannels: oc,
                    accumulate: accumulate, workers: workers)
            return
        }
        workers.forEachChunk(panels, minPerChunk: minimumPanelsPerThread) { range, _ in
            for p in range {
                let columns = Panels.columns(p, outputs: oc), offset = Panels.offset(p, inputs: c)
                for row in 0..<n {
                    Linear.prepare(out + row * oc + columns.lowerBound, bias: bias.map { $0 + columns.lowerBound },
                                   count: columns.count, accumulate: accumulate)
                }
                switch weights {
                case .float32(let w):
                    DecodeProducts.inputMajor(w + offset, ldw: columns.count, x: inp, rows: n, inChannels: c,
                                              columns: columns.count, y: out + columns.lowerBound, ldy: oc)
                case .bfloat16(let w):
                    DecodeProducts.inputMajor(w + offset, ldw: columns.count, x: inp, rows: n, inChannels: c,
                                              columns: columns.count, y: out + columns.lowerBound, ldy: oc)
                }
            }
        }
    }

    /// Many rows: each thread's run of float32 panels goes to sgemm as it is, in one call (B is the
    /// run's panels, see `BLAS.gemm(…panels:…)`); bfloat16 panels are widened into a float32 tile
    /// first, per thread, one panel at a time. (Widening 1.5 MB of panels at a time, so that A was
    /// packed once for several, was not faster: `bench --generate --weights bf16` prefill 441–719
    /// against 546–616 tokens/s, alternating, on Zen 4.)
    static func prefill(
        out: UnsafeMutablePointer<Float>, inp: UnsafePointer<Float>, weights: Storage, bias: UnsafePointer<Float>?,
        rows n: Int, inChannels c: Int, outChannels oc: Int, accumulate: Bool, workers: Workers
    ) {
        let panels = Panels.count(outputs: oc)
        // out[, the columns of `range`'s panels] (+)= bias + inp · those panels, stored from `b` on.
        func product(_ range: Range<Int>, _ b: UnsafePointer<Float>) {
            let columns = (range.lowerBound * Panels.width)..<min(range.upperBound * Panels.width, oc)
            for row in 0..<n {
                Linear.prepare(out + row * oc + columns.lowerBound, bias: bias.map { $0 + columns.lowerBound },
                               count: columns.count, accumulate: accumulate)
            }
            BLAS.gemm(m: n, n: columns.count, k: c, a: inp, lda: c, panels: b, panelWidth: Panels.width, beta: 1,
                      c: out + columns.lowerBound, ldc: oc, kernel: workers.sgemm)
        }
        switch weights {
        case .float32(let w):
            workers.forEachChunk(panels) { range, _ in product(range, w + Panels.offset(range.lowerBound, inputs: c)) }
        case .bfloat16(let w):
            // One float32 panel per thread: a few hundred kilobytes, not worth a buffer the caller owns.
            let tileCapacity = Panels.width * c
            withUnsafeTemporaryAllocation(of: Float.self, capacity: workers.threads * tileCapacity) { scratch in
                let base = scratch.baseAddress!
                workers.forEachChunk(panels) { range, chunk in
                    let tile = base + chunk * tileCapacity
                    for p in range {
                        let offset = Panels.offset(p, inputs: c), count = c * Panels.columns(p, outputs: oc).count
                        for i in 0..<count { tile[i] = ReducedPrecision.float(bfloat16: w[offset + i]) }
                        product(p..<(p + 1), tile)
                    }
                }
            }
        }
    }
}
