@testable import LoopKernels
import Testing

/// The causal attention kernel (CKernels/causal_attention.c, chosen at run time when the CPU
/// has AVX2 and the head size is a multiple of 16) against the BLAS path it replaces: the
/// outputs, the probabilities' lower triangle (the tiled kernel leaves the upper one
/// unspecified) and the qkv gradient, on the small preset's heads, GPT-2's, and lengths that
/// leave partial tiles.
@Suite struct CausalAttentionTests {
    struct Result {
        var out: [Float], probabilities: [Float], dqkv: [Float]
    }

    /// Row i's probabilities j ≤ i, for every head and row, in order.
    static func lowerTriangle(_ probabilities: [Float], time t: Int) -> [Float] {
        stride(from: 0, to: probabilities.count / t, by: 1).flatMap { row in
            probabilities[(row * t)..<(row * t + row % t + 1)]
        }
    }

    static func run(_ shape: AttentionShape, avx2: Bool, avx512: Bool = false, threads: Int) throws -> Result {
        var check = GradientCheck()
        let n = shape.batch * shape.time, c = shape.channels
        let qkv = try check.buffer(n * 3 * c, scale: 2), dout = try check.buffer(n * c)
        let out = try FloatBuffer(count: n * c), att = try FloatBuffer(count: shape.probabilityCount)
        let dqkv = try FloatBuffer(count: n * 3 * c), scratch = try FloatBuffer(count: shape.probabilityCount)
        // NaN everywhere the kernels must write: a value left unwritten shows.
        for buffer in [out, att, dqkv, scratch] { buffer.pointer.update(repeating: .nan, count: buffer.count) }
        let workers = Workers(threads: threads)
        Attention.forward(out: out.pointer, probabilities: .keep(att.pointer), qkv: qkv.pointer, shape: shape,
                          workers: workers, avx2: avx2)
        Attention.backward(dqkv: dqkv.pointer, scratch: scratch.pointer, dout: dout.pointer, qkv: qkv.pointer,
                           probabilities: att.pointer, shape: shape, workers: workers, avx2: avx2, avx512: avx512)
        return Result(out: out.array, probabilities: att.array, dqkv: dqkv.array)
    }

    static func largestDifference(_ a: [Float], _ b: [Float]) -> Float {
        zip(a, b).map { abs($0 - $1) / max(abs($1), 1) }.max() ?? 0
    }

    @Test(arguments: [
        AttentionShape(batch: 2, time: 128, channels: 192, heads: 6),  // small: head size 32
        AttentionShape(batch: 1, time: 37, channels: 128, heads: 2),  // GPT-2's head size 64
        AttentionShape(batch: 3, time: 1, channels: 32, heads: 2),  // one position
        AttentionShape(batch: 1, time: 23, channels: 48, heads: 3),  // head size 16
    ])
    func agreesWithBLAS(shape: AttentionShape) throws {
        guard CPU.hasAVX2Kernels else { return }  // nothing to compare on this CPU
        #expect(shape.usesTiledKernel(avx2: true))
        let tiled = try Self.run(shape, avx2: true, threads: 2), blas = try Self.run(shape, avx2: false, threads: 1)
        let t = shape.time
        let tiledLower = Self.lowerTriangle(tiled.probabilities, time: t)
        #expect(!tiled.out.contains { $0.isNaN } && !tiledLower.contains { $0.isNaN } && !tiled.dqkv.contains { $0.isNaN })
        #expect(Self.largestDifference(tiled.out, blas.out) < 1e-5)
        #expect(Self.largestDifference(tiledLower, Self.lowerTriangle(blas.probabilities, time: t)) < 1e-5)
        #expect(Self.largestDifference(tiled.dqkv, blas.dqkv) < 1e-4)
        // Each probability row sums to one; the BLAS path's upper triangle is zero.
        for row in stride(from: 0, to: shape.batch * shape.heads * t, by: 1) {
            let i = row % t
            #expect(abs(tiled.probabilities[(row * t)...(row * t + i)].reduce(0, +) - 1) < 1e-5)
            #expect(blas.probabilities[(row * t + i + 1)..<(row * t + t)].allSatisfy { $0 == 0 })
        }
    }

    /// The backward's 512-bit tiles compute every output in the same chain as the 256-bit ones:
    /// the same bits.
    @Test(arguments: [
        AttentionShape(batch: 2, time: 128, channels: 192, heads: 6),  // head size 32
        AttentionShape(batch: 1, time: 37, channels: 128, heads: 2),  // head size 64, partial blocks
    ])
    func wideTilesGiveTheSameBits(shape: AttentionShape) throws {
        guard CPU.hasAVX2Kernels && CPU.simd >= .avx512 else { return }  // no 512-bit tiles on this CPU
        #expect(shape.usesWideTiles(avx2: true, avx512: true))
        let wide = try Self.run(shape, avx2: true, avx512: true, threads: 2)
        let narrow = try Self.run(shape, avx2: true, avx512: false, threads: 2)
        let bits = { (values: [Float]) in values.map(\.bitPattern) }
        #expect(bits(wide.dqkv) == bits(narrow.dqkv))
        #expect(!wide.dqkv.contains { $0.isNaN })
    }

    @Test func headSizesOffTheTileUseBLAS() {
        #expect(!AttentionShape(batch: 1, time: 8, channels: 8, heads: 2).usesTiledKernel(avx2: true))
        #expect(!AttentionShape(batch: 1, time: 8, channels: 72, heads: 3).usesTiledKernel(avx2: true))
        #expect(!AttentionShape(batch: 1, time: 8, channels: 64, heads: 2).usesTiledKernel(avx2: false))
        #expect(!AttentionShape(batch: 1, time: 8, channels: 48, heads: 3).usesWideTiles(avx2: true, avx512: true))
    }
}
