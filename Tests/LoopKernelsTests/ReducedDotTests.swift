@testable import LoopKernels
import Testing

/// The AVX2+FMA int8 dot products (CKernels, chosen at run time) against the portable Swift
/// ones, for every row count, with a tail the vector loop does not cover, and for int8 groups
/// that are and are not a multiple of the vector width.
@Suite struct ReducedDotTests {
    static func values(_ count: Int, seed: UInt64) -> [Float] {
        var state = seed
        return (0..<count).map { _ in
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return Float(Int64(bitPattern: state >> 11) % 2001 - 1000) / 1000
        }
    }

    @Test(arguments: [(100, 64), (192, 64), (96, 12)])
    func avx2KernelsAgreeWithThePortableOnes(inputs: Int, group: Int) throws {
        try #require(ReducedPrecision.useAVX2 || CPU.simd < .avx2, "an AVX2 CPU uses the AVX2 kernels")
        guard ReducedPrecision.useAVX2 else { return }  // nothing to compare on this CPU
        let x = Self.values(4 * inputs, seed: 1), w = Self.values(inputs, seed: 2)
        var quantized = [Int8](repeating: 0, count: inputs), scales = [Float](repeating: 0, count: inputs / group)
        if inputs % group == 0 {
            w.withUnsafeBufferPointer { row in
                ReducedPrecision.quantize(row: row.baseAddress!, count: inputs, groupSize: group, values: &quantized,
                                          scales: &scales)
            }
        }
        for rows in 1...4 {
            try x.withUnsafeBufferPointer { x in
                guard inputs % group == 0 else { return }
                try quantized.withUnsafeBufferPointer { q in
                    try scales.withUnsafeBufferPointer { s in
                        let storage = QuantizedMatrix(values: q.baseAddress!, scales: s.baseAddress!, groupSize: group)
                        let fast = ReducedPrecision.dot(storage, output: 0, x.baseAddress!, rows: rows, inputs, avx2: true)
                        let plain = ReducedPrecision.dot(storage, output: 0, x.baseAddress!, rows: rows, inputs, avx2: false)
                        try check(fast, plain, rows: rows)
                    }
                }
            }
        }
    }

    func check(_ fast: SIMD4<Float>, _ plain: SIMD4<Float>, rows: Int) throws {
        for r in 0..<4 {
            if r < rows {
                #expect(abs(fast[r] - plain[r]) <= 1e-4 * max(1, abs(plain[r])), "row \(r): \(fast[r]) against \(plain[r])")
                #expect(fast[r] != 0, "row \(r) computed")
            } else {
                #expect(fast[r] == 0 && plain[r] == 0, "rows past `rows` stay zero")
            }
        }
    }
}
