import CKernels

/// Causal multi-head self-attention on a fused qkv buffer.
///
/// qkv (B, T, 3C) holds q at channels [0, C), k at [C, 2C), v at [2C, 3C); head h uses
/// the hs = C / NH channels starting at h·hs of each. Probabilities are kept for backward.
///
/// With AVX2+FMA and a head size that is a multiple of 16 (GPT-2's 64, the small presets'
/// 32 and 16), each head runs in one C kernel (causal_attention.c) that computes only the lower
/// triangle, in register tiles read straight from the qkv rows, and the probabilities' upper
/// triangle is left unspecified (its backward never reads it); otherwise each head's products
/// run on BLAS over the whole T × T square, the causal mask applied between them, and the upper
/// triangle holds zeros.
public struct AttentionShape: Sendable {
    public let batch: Int  // B
    public let time: Int  // T
    public let channels: Int  // C
    public let heads: Int  // NH
    public var headSize: Int { channels / heads }  // hs
    public var scale: Float { 1 / Float(headSize).squareRoot() }

    public init(batch: Int, time: Int, channels: Int, heads: Int) {
        self.batch = batch
        self.time = time
        self.channels = channels
        self.heads = heads
    }

    /// Floats in the (B, NH, T, T) probability buffer.
    public var probabilityCount: Int { batch * heads * time * time }

    /// Whether the causal C kernel can run this shape on this CPU.
    public func usesTiledKernel(avx2: Bool) -> Bool {
        avx2 && headSize % Attention.tiledHeadMultiple == 0
    }

    /// Whether that kernel's backward products over channels can run in 512-bit tiles (the same bits).
    public func usesWideTiles(avx2: Bool, avx512: Bool) -> Bool {
        usesTiledKernel(avx2: avx2) && avx512 && headSize % Attention.wideTileColumns == 0
    }
}

/// Where the forward pass puts the softmax probabilities.
public enum AttentionProbabilities {
    /// Kept for backward: (B, NH, T, T).
    case keep(UnsafeMutablePointer<Float>)
    /// Thrown away (inference): a T×T scratch per worker thread, (threads, T, T).
    case scratch(UnsafeMutablePointer<Float>)
}

public enum Attention {
    /// The causal kernel's tiles are 16 channels wide.
    public static let tiledHeadMultiple = 16
    /// Its 512-bit tiles, on CPUs with AVX-512, are 32 channels wide.
    public static let wideTileColumns = 32
    /// On Zen 4 (AMD EPYC, family 25 model 17) the backward's 512-bit tiles are 4–7% faster
    /// (one thread, alternating: the `small` step's 48 heads, T 128, head size 32) and 6–8% at
    /// T 256, head size 64.
    public static let wideTilesByDefault = CPU.simd >= .avx512

    /// Each thread takes whole heads: QKᵀ, the causal softmax and P·V of a head run
    /// back to back on one core while its T×T scores are in cache.
    public static func forward(
        out: UnsafeMutablePointer<Float>,  // (B, T, C)
        probabilities: AttentionProbabilities,
        qkv: UnsafePointer<Float>,  // (B, T, 3C)
        shape: AttentionShape, workers: Workers, avx2: Bool = CPU.hasAVX2Kernels
    ) {
        let t = shape.time, c = shape.channels, hs = shape.headSize
        let tiled = shape.usesTiledKernel(avx2: avx2)
        workers.forEachChunk(shape.batch * shape.heads) { heads, chunk in
            let transposed = tiled ? UnsafeMutablePointer<Float>.allocate(capacity: looplm_attention_scratch_floats(t, hs)) : nil
            defer { transposed?.deallocate() }
            for bh in heads {
                let q = query(qkv, bh, shape), k = q + c, v = q + 2 * c
                let p: UnsafeMutablePointer<Float>
                switch probabilities {
                case .keep(let att): p = att + bh * t * t
                case .scratch(let scratch): p = scratch + chunk * t * t
                }
                if let transposed {
                    looplm_attention_forward_avx2(output(out, bh, shape), c, p, q, k, v, 3 * c, t, hs,
                                                  shape.scale, transposed)
                    continue
                }
                BLAS.gemm(transposeB: true, m: t, n: t, k: hs, alpha: shape.scale,
                          a: q, lda: 3 * c, b: k, ldb: 3 * c, beta: 0, c: p, ldc: t, kernel: workers.sgemm)
                for row in 0..<t {
                    Softmax.inPlace(p + row * t, count: row + 1)
                    (p + row * t + row + 1).update(repeating: 0, count: t - row - 1)
                }
                BLAS.gemm(m: t, n: hs, k: t, a: p, lda: t, b: v, ldb: 3 * c,
                          beta: 0, c: output(out, bh, shape), ldc: c, kernel: workers.sgemm)
            }
        }
    }

    /// dqkv = attention's input gradient (assigned). `scratch` holds (B, NH, T, T) floats.
    public static func backward(
        dqkv: UnsafeMutablePointer<Float>,  // (B, T, 3C)
        scratch dscores: UnsafeMutablePointer<Float>,  // (B, NH, T, T)
        dout: UnsafePointer<Float>,  // (B, T, C)
        qkv: UnsafePointer<Float>,  // (B, T, 3C)
        probabilities att: UnsafePointer<Float>,  // (B, NH, T, T)
        shape: AttentionShape, workers: Workers, avx2: Bool = CPU.hasAVX2Kernels,
        avx512: Bool = Attention.wideTilesByDefault
    ) {
        let t = shape.time, c = shape.channels, hs = shape.headSize, scale = shape.scale
        let tiled = shape.usesTiledKernel(avx2: avx2), wide: Int32 = shape.usesWideTiles(avx2: avx2, avx512: avx512) ? 1 : 0
        workers.forEachChunk(shape.batch * shape.heads) { heads, _ in
            let transposed = tiled ? UnsafeMutablePointer<Float>.allocate(capacity: looplm_attention_scratch_floats(t, hs)) : nil
            defer { transposed?.deallocate() }
            for bh in heads {
                let q = query(qkv, bh, shape), k = q + c, v = q + 2 * c
                let dy = UnsafePointer(output(UnsafeMutablePointer(mutating: dout), bh, shape))
                let p = att + bh * t * t, ds = dscores + bh * t * t
                let dq = query(dqkv, bh, shape)
                if let transposed {
                    looplm_attention_backward_avx2(dq, dq + c, dq + 2 * c, ds, dy, c, q, k, v, 3 * c, p, t, hs,
                                                   scale, transposed, wide)
                    continue
                }
                // dP = dY · Vᵀ ; dV = Pᵀ · dY
                BLAS.gemm(transposeB: true, m: t, n: t, k: hs, a: dy, lda: c, b: v, ldb: 3 * c,
                          beta: 0, c: ds, ldc: t, kernel: workers.sgemm)
                BLAS.gemm(transposeA: true, m: t, n: hs, k: t, a: p, lda: t, b: dy, ldb: c,
                          beta: 0, c: dq + 2 * c, ldc: 3 * c, kernel: workers.sgemm)
                // dS = P ⊙ (dP − rowsum(P ⊙ dP)) · scale, causal
                for row in 0..<t {
                    let pr = p + row * t, d = ds + row * t
                    var dot: Float = 0
                    for j in 0...row { dot += pr[j] * d[j] }
                    for j in 0...row { d[j] = pr[j] * (d[j] - dot) * scale }
                    (d + row + 1).update(repeating: 0, count: t - row - 1)
                }
                // dQ = dS · K ; dK = dSᵀ · Q
                BLAS.gemm(m: t, n: hs, k: t, a: ds, lda: t, b: k, ldb: 3 * c, beta: 0,
                          c: dq, ldc: 3 * c, kernel: workers.sgemm)
                BLAS.gemm(transposeA: true, m: t, n: hs, k: t, a: ds, lda: t, b: q, ldb: 3 * c,
                          beta: 0, c: dq + c, ldc: 3 * c, kernel: workers.sgemm)
            }
        }
    }

    /// Offset of head bh's query channels in a (B, T, 3C) buffer.
    @inline(__always)
    static func queryOffset(_ bh: Int, _ shape: AttentionShape) -> Int {
        let b = bh / shape.heads, h = bh % shape.heads
        return b * shape.time * 3 * shape.channels + h * shape.headSize
    }

    @inline(__always)
    static func query(
        _ qkv: UnsafePointer<Float>, _ bh: Int, _ shape: AttentionShape
    ) -> UnsafePointer<Float> { qkv + queryOffset(bh, shape) }

    @inline(__always)
    static func query(
        _ qkv: UnsafeMutablePointer<Float>, _ bh: Int, _ shape: AttentionShape
    ) -> UnsafeMutablePointer<Float> { qkv + queryOffset(bh, shape) }

    /// Start of head bh's channels in a (B, T, C) buffer.
    @inline(__always)
    static func output(
        _ out: UnsafeMutablePointer<Float>, _ bh: Int, _ shape: AttentionShape
    ) -> UnsafeMutablePointer<Float> {
        let b = bh / shape.heads, h = bh % shape.heads
        return out + (b * shape.time * shape.channels + h * shape.headSize)
    }
}
