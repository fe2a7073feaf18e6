import LoopKernels
import Testing

@Suite struct ReducedPrecisionTests {
    @Test func bfloat16RoundsToNearestEven() throws {
        func bits(_ x: Float) -> UInt16 { ReducedPrecision.bfloat16(x) }
        #expect(bits(1) == 0x3F80 && bits(-2) == 0xC000 && bits(0) == 0 && bits(-0.0) == 0x8000)
        // bfloat16 keeps 7 mantissa bits: 1 + 2⁻⁸ is halfway between 1 and 1 + 2⁻⁷, 1 + 3·2⁻⁸
        // halfway between 1 + 2⁻⁷ and 1 + 2⁻⁶: ties go to the even mantissa.
        #expect(bits(1 + 0x1p-8) == 0x3F80)
        #expect(bits(1 + 3 * 0x1p-8) == 0x3F82)
        #expect(bits(1 + 0x1p-8 + 0x1p-20) == 0x3F81, "just past halfway rounds up")
        #expect(bits(1 + 0x1p-8 - 0x1p-20) == 0x3F80, "just short of halfway rounds down")
        #expect(bits(-(1 + 3 * 0x1p-8)) == 0xBF82)
        #expect(bits(.infinity) == 0x7F80 && bits(-.infinity) == 0xFF80)
        #expect(ReducedPrecision.float(bfloat16: bits(.nan)).isNaN)
        #expect(bits(.greatestFiniteMagnitude) == 0x7F80, "rounds past the largest bfloat16 to infinity")
        for x: Float in [3.14159, -0.001234, 65504, 1e-30] {
            let back = ReducedPrecision.float(bfloat16: bits(x))
            #expect(abs(back - x) <= abs(x) * 0x1p-8, "\(x) → \(back)")
        }
    }

    @Test func int8QuantizesPerGroupWithTheLargestMagnitudeAt127() throws {
        let row: [Float] = [0.5, -1, 0.25, 1, 0, 0, 0, 0, 4, -2, 1, 0.03125]
        var values = [Int8](repeating: 0, count: 12), scales = [Float](repeating: 0, count: 3)
        row.withUnsafeBufferPointer { r in
            ReducedPrecision.quantize(row: r.baseAddress!, count: 12, groupSize: 4, values: &values, scales: &scales)
        }
        #expect(scales == [1 / 127, 0, 4 / 127])
        // 0.5·127 = 63.5 rounds away from zero to 64; 0.25·127 = 31.75 to 32.
        #expect(Array(values[0..<4]) == [64, -127, 32, 127])
        #expect(Array(values[4..<8]) == [0, 0, 0, 0], "an all-zero group keeps scale 0 and zeros")
        // 4 → 127, −2 → −63.5 → −64, 1 → 31.75 → 32, 1/32 → 0.99 → 1.
        #expect(Array(values[8..<12]) == [127, -64, 32, 1])
    }

    /// A group whose largest magnitude is a tiny normal number has a scale 1/scale cannot
    /// represent: it is stored as zeros (it used to convert infinity to Int8 and trap).
    @Test func int8GroupsTooSmallForAScaleBecomeZeros() throws {
        let tiny: [Float] = [1e-38, -1e-38, 5e-39, 0], subnormalScale: [Float] = [1e-36, 0, -1e-36, 0]
        let small: [Float] = [1e-30, -1e-30, 0.5e-30, 0], huge: [Float] = [.greatestFiniteMagnitude, 1, -1, 0]
        let row = tiny + subnormalScale + small + huge
        var values = [Int8](repeating: 99, count: 16), scales = [Float](repeating: 99, count: 4)
        row.withUnsafeBufferPointer { r in
            ReducedPrecision.quantize(row: r.baseAddress!, count: 16, groupSize: 4, values: &values, scales: &scales)
        }
        #expect(scales[0] == 0 && scales[1] == 0)
        #expect(Array(values[0..<8]) == [Int8](repeating: 0, count: 8))
        #expect(scales[2] == Float(1e-30) / 127 && Array(values[8..<12]) == [127, -127, 64, 0])
        #expect(scales[3] == .greatestFiniteMagnitude / 127 && values[12] == 127 && values[13] == 0)
    }

    @Test func allocationsTheSystemRefusesAreTypedErrors() throws {
        #expect(throws: MemoryError.self) { try FloatBuffer(count: Int.max / 2) }  // bytes overflow
        #expect(throws: MemoryError.self) { try FloatBuffer(count: 1 << 46) }  // 256 TB: beyond the address space
        let fine = try FloatBuffer(count: 1 << 20)
        #expect(fine.count == 1 << 20 && fine[fine.count - 1] == 0)
    }

    /// The matrix–vector path (few rows) and the widen-then-sgemm path (many rows) agree, and
    /// both stay close to float32.
    @Test(arguments: [false, true])
    func reducedProductsMatchFloat32(int8: Bool) throws {
        let inputs = 128, outputs = 96, rows = 20  // more than ReducedPrecision.vectorRows: the sgemm path
        var state: UInt64 = 3
        func random() -> Float {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return Float(Int64(bitPattern: state >> 11) % 2001 - 1000) / 1000
        }
        let workers = Workers(threads: 2)
        let w = try FloatBuffer((0..<(inputs * outputs)).map { _ in random() * 0.05 })  // (out, in)
        let x = try FloatBuffer((0..<(rows * inputs)).map { _ in random() })
        let exact = try FloatBuffer(count: rows * outputs)
        Linear.forward(out: exact.pointer, inp: x.pointer, weights: .outputMajor(w.pointer), bias: nil, rows: rows,
                       inChannels: inputs, outChannels: outputs, workers: workers)
        var halves = [UInt16](repeating: 0, count: inputs * outputs)  // in panels
        halves.withUnsafeMutableBufferPointer { h in
            Panels.pack(inputs: inputs, outputs: outputs, into: h.baseAddress!, workers: workers) {
                ReducedPrecision.bfloat16(w[$0 * inputs + $1])
            }
        }
        var values = [Int8](repeating: 0, count: inputs * outputs)
        var scales = [Float](repeating: 0, count: outputs * inputs / 64)
        for j in 0..<outputs {
            values.withUnsafeMutableBufferPointer { v in
                scales.withUnsafeMutableBufferPointer { s in
                    ReducedPrecision.quantize(row: w.pointer + j * inputs, count: inputs, groupSize: 64,
                                              values: v.baseAddress! + j * inputs, scales: s.baseAddress! + j * 2)
                }
            }
        }
        try halves.withUnsafeMutableBufferPointer { h in
            try values.withUnsafeMutableBufferPointer { v in
                try scales.withUnsafeMutableBufferPointer { s in
                    let weights: LinearWeights = int8
                        ? .int8(QuantizedMatrix(values: v.baseAddress!, scales: s.baseAddress!, groupSize: 64))
                        : .bfloat16Panels(h.baseAddress!)
                    let few = try FloatBuffer(count: rows * outputs), many = try FloatBuffer(count: rows * outputs)
                    for row in 0..<rows {  // one row at a time: the matrix–vector kernel
                        Linear.forward(out: few.pointer + row * outputs, inp: x.pointer + row * inputs, weights: weights,
                                       bias: nil, rows: 1, inChannels: inputs, outChannels: outputs, workers: workers)
                    }
                    Linear.forward(out: many.pointer, inp: x.pointer, weights: weights, bias: nil, rows: rows,
                                   inChannels: inputs, outChannels: outputs, workers: workers)
                    var largest: Float = 0, agreement: Float = 0, error: Float = 0
                    for i in 0..<(rows * outputs) {
                        largest = max(largest, abs(exact[i]))
                        agreement = max(agreement, abs(few[i] - many[i]))
                        error = max(error, abs(few[i] - exact[i]))
                    }
                    #expect(agreement <= 1e-5 * largest, "the two paths agree")
                    #expect(error <= (int8 ? 1e-2 : 4e-3) * largest, "within the precision's error: \(error / largest)")
                }
            }
        }
    }
}
