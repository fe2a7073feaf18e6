import LoopKernels
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// How inference stores the matrices of the blocks and the tied head. Embeddings, LayerNorm
/// parameters and biases stay float32; products accumulate in float32 either way.
public enum WeightPrecision: String, CaseIterable, Sendable, Codable {
    case float32 = "f32"
    /// bfloat16, rounded to nearest even: half the bytes, 8 bits of mantissa.
    case bfloat16 = "bf16"
    /// int8 with a float scale per group of 64 inputs (or per row): a quarter of the bytes.
    case int8

    /// Bytes per weight of a converted matrix (scales included for int8, groups of 64).
    public var bytesPerWeight: Double {
        switch self {
        case .float32: 4
        case .bfloat16: 2
        case .int8: 1 + 4.0 / Double(ReducedPrecision.preferredGroupSize)
        }
    }
}

/// Memory that holds converted weights.
final class ReducedStorage {
    let halves: UnsafeMutablePointer<UInt16>?
    let bytes: UnsafeMutablePointer<Int8>?
    let scales: UnsafeMutablePointer<Float>?

    /// Throws when the memory cannot be had, instead of trapping.
    init(halves: Int = 0, bytes: Int = 0, scales: Int = 0) throws(MemoryError) {
        func allocate<T>(_ count: Int, of: T.Type) throws(MemoryError) -> UnsafeMutablePointer<T>? {
            guard count > 0 else { return nil }
            guard let size = CheckedSize.product(count, MemoryLayout<T>.stride), let raw = malloc(size) else {
                throw MemoryError(needed: CheckedSize.product(count, MemoryLayout<T>.stride),
                                  available: SystemMemory.availableBytes(), what: "converted weights",
                                  advice: "use --weights f32, which reads the file in place")
            }
            return raw.bindMemory(to: T.self, capacity: count)
        }
        let halfPointer = try allocate(halves, of: UInt16.self)
        let bytePointer: UnsafeMutablePointer<Int8>?, scalePointer: UnsafeMutablePointer<Float>?
        do throws(MemoryError) { bytePointer = try allocate(bytes, of: Int8.self) } catch {
            free(halfPointer)
            throw error
        }
        do throws(MemoryError) { scalePointer = try allocate(scales, of: Float.self) } catch {
            free(halfPointer)
            free(bytePointer)
            throw error
        }
        self.halves = halfPointer
        self.bytes = bytePointer
        self.scales = scalePointer
    }

    deinit {
        free(halves)
        free(bytes)
        free(scales)
    }
}

extension ModelWeights {
    /// A matrix to convert: where its float32 values are and its (out, in) shape.
    struct Matrix {
        let source: LinearWeights  // .inputMajor or .outputMajor
        let inputs: Int
        let outputs: Int

        /// Float32 value of weight (output j, input i).
        @inline(__always)
        func value(output j: Int, input i: Int) -> Float {
            switch source {
            case .inputMajor(let w): return w[i * outputs + j]
            case .outputMajor(let w): return w[j * inputs + i]
            default: preconditionFailure("only float32 matrices are converted")
            }
        }
    }

    /// Floats that the block matrices and the head hold: what conversion reads, and what a
    /// reduced copy stores at `precision`'s width.
    public static func matrixWeights(config: ModelConfiguration) -> Int {
        let c = config.channels
        return config.layout.uniqueBlocks * 12 * c * c + config.vocabSize * c
    }

    /// The same weights with every block matrix and the head converted to `precision`, on
    /// `workers`. Float32 returns the weights unchanged.
    /// `done` is told each float32 matrix (its first weight and count) once it has been
    /// converted, so a caller can let its pages go before the next one is read.
    public func converted(
        to precision: WeightPrecision, workers: Workers, done: (UnsafePointer<Float>, Int) -> Void = { _, _ in }
    ) throws(MemoryError) -> ModelWeights {
        guard precision != .float32 else { return self }
        let c = config.channels
        var matrices: [Matrix] = [Matrix(source: head, inputs: c, outputs: config.vocabSize)]
        for block in blocks {
            for tensor in BlockWeights.matrices {
                let (inputs, outputs) = tensor == .fcProjectionWeight ? (4 * c, c)
                    : (c, tensor.shape(channels: c)[1])
                matrices.append(Matrix(source: block.matrix(tensor), inputs: inputs, outputs: outputs))
            }
        }
        let total = matrices.reduce(0) { $0 + $1.inputs * $1.outputs }
        let storage: ReducedStorage
        var converted: [LinearWeights] = []
        switch precision {
        case .bfloat16:
            storage = try ReducedStorage(halves: total)
            var offset = 0
            for m in matrices {
                let out = storage.halves! + offset
                workers.forEachChunk(m.outputs, minPerChunk: 16) { rows, _ in
                    for j in rows {
                        for i in 0..<m.inputs { out[j * m.inputs + i] = ReducedPrecision.bfloat16(m.value(output: j, input: i)) }
                    }
                }
                converted.append(.bfloat16(out))
                m.source.floatPointer.map { done($0, m.inputs * m.outputs) }
                offset += m.inputs * m.outputs
            }
        case .int8:
            let scaleCount = matrices.reduce(0) { $0 + $1.outputs * ($1.inputs / ReducedPrecision.groupSize(inputs: $1.inputs)) }
            storage = try ReducedStorage(bytes: total, scales: scaleCount)
            var offset = 0, scaleOffset = 0
            for m in matrices {
                let group = ReducedPrecision.groupSize(inputs: m.inputs), groups = m.inputs / group
                let values = storage.bytes! + offset, scales = storage.scales! + scaleOffset
                workers.forEachChunk(m.outputs, minPerChunk: 16) { rows, _ in
                    var row = [Float](repeating: 0, count: m.inputs)
                    for j in rows {
                        for i in 0..<m.inputs { row[i] = m.value(output: j, input: i) }
                        row.withUnsafeBufferPointer { r in
                            ReducedPrecision.quantize(row: r.baseAddress!, count: m.inputs, groupSize: group,
                                                      values: values + j * m.inputs, scales: scales + j * groups)
                        }
                    }
                }
                converted.append(.int8(QuantizedMatrix(values: values, scales: scales, groupSize: group)))
                m.source.floatPointer.map { done($0, m.inputs * m.outputs) }
                offset += m.inputs * m.outputs
                scaleOffset += m.outputs * groups
            }
        case .float32:
            return self
        }
        var reducedBlocks: [BlockWeights] = []
        for (b, block) in blocks.enumerated() {
            var replaced: [BlockTensor: LinearWeights] = [:]
            for (k, tensor) in BlockWeights.matrices.enumerated() { replaced[tensor] = converted[1 + 4 * b + k] }
            reducedBlocks.append(BlockWeights(block, matrices: replaced))
        }
        return ModelWeights(self, head: converted[0], blocks: reducedBlocks, owners: [storage])
    }
}
