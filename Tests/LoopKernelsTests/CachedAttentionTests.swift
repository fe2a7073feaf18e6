@testable import LoopKernels
import Testing

/// Decoding's attention over the cache: the AVX2+FMA kernels (CKernels, chosen at run time)
/// against the portable Swift path, for head sizes that fill whole 64-float blocks, leave a
/// tail of vectors, or are no multiple of 8 (which stays on the Swift path), with head counts
/// that are and are not a multiple of the kernel's group of 4 heads, over one part of 64 positions
/// or several; a row computed by one thread must have the bits of one spread over two.
@Suite struct CachedAttentionTests {
    @Test(arguments: [(64, 4, 301), (96, 2, 7), (32, 3, 128), (24, 2, 50), (128, 1, 1), (64, 12, 77), (16, 10, 33)])
    func avx2DecodingAttentionAgreesWithThePortableOne(headSize: Int, heads: Int, positions: Int) throws {
        try #require(CPU.hasAVX2Kernels || CPU.simd < .avx2, "an AVX2 CPU uses the AVX2 kernels")
        guard CPU.hasAVX2Kernels else { return }  // nothing to compare on this CPU
        let c = headSize * heads, capacity = positions + 1
        let keys = ReducedDotTests.values(capacity * c, seed: 3), values = ReducedDotTests.values(capacity * c, seed: 4)
        let qkv = ReducedDotTests.values(3 * c, seed: 5)  // one new row, at position `positions`
        func attend(avx2: Bool, scratchRows: Int = 1, threads: Int = 2) -> [Float] {
            var k = keys, v = values, out = [Float](repeating: .nan, count: c)
            var scratch = [Float](repeating: 0, count: Attention.cachedScratchCount(rows: scratchRows, capacity: capacity, heads: heads,
                                                                                     channels: c, threads: 2))
            k.withUnsafeMutableBufferPointer { k in
                v.withUnsafeMutableBufferPointer { v in
                    let cache = CacheLayer(keys: k.baseAddress!, values: v.baseAddress!, capacity: capacity)
                    Attention.forwardCached(out: &out, qkv: qkv, cache: cache,
                                            sequences: [CachedSequence(firstRow: 0, count: 1, position: positions, slot: 0)],
                                            heads: heads, channels: c, scratch: &scratch, scratchRows: scratchRows,
                                            workers: Workers(threads: threads), useAVX2: avx2)
                }
            }
            return out
        }
        let fast = attend(avx2: true), plain = attend(avx2: false)
        let largest = plain.map(abs).max() ?? 0
        #expect(fast.allSatisfy { $0.isFinite })
        for (a, b) in zip(fast, plain) { #expect(abs(a - b) <= 1e-5 * max(largest, 1), "\(a) against \(b)") }
        // One thread computes the row alone; two spread its parts of 64 positions over them.
        #expect(attend(avx2: true, threads: 1).map(\.bitPattern) == fast.map(\.bitPattern))
        #expect(attend(avx2: false, threads: 1).map(\.bitPattern) == plain.map(\.bitPattern))
    }
}
