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

    /// What to do when the converted copy does not fit in memory.
    public var memoryAdvice: String {
        self == .int8 ? "int8 already takes the least memory: free some"
            : "use --weights bf16 or int8, whose copies take a half or about a quarter of float32's bytes"
    }
}

/// Memory that holds converted weights: float32 or bfloat16 panels, or int8 values and scales.
final class ConvertedStorage {
    let floats: UnsafeMutablePointer<Float>?
    let halves: UnsafeMutablePointer<UInt16>?
    let bytes: UnsafeMutablePointer<Int8>?
    let scales: UnsafeMutablePointer<Float>?

    private let blocks: [(start: UnsafeMutableRawPointer, bytes: Int)]  // what `PageMapping` mapped

    /// Throws when the memory cannot be had, instead of trapping (and frees what it had). The
    /// blocks are mapped on huge pages: decoding streams every one of them once per token
    /// (see `PageMapping`).
    init(floats: Int = 0, halves: Int = 0, bytes: Int = 0, scales: Int = 0) throws(MemoryError) {
        var allocated: [(start: UnsafeMutableRawPointer, bytes: Int)] = []
        func allocate<T>(_ count: Int, of: T.Type) throws(MemoryError) -> UnsafeMutablePointer<T>? {
            guard count > 0 else { return nil }
            guard let size = CheckedSize.product(count, MemoryLayout<T>.stride),
                let raw = PageMapping.map(bytes: size, hugePages: true)
            else {
                allocated.forEach { PageMapping.unmap($0.start, bytes: $0.bytes) }
                throw MemoryError(needed: CheckedSize.product(count, MemoryLayout<T>.stride),
                                  available: SystemMemory.availableBytes(), what: "converted weights",
                                  advice: WeightPrecision.float32.memoryAdvice)
            }
            allocated.append((raw, size))
            return raw.bindMemory(to: T.self, capacity: count)
        }
        self.floats = try allocate(floats, of: Float.self)
        self.halves = try allocate(halves, of: UInt16.self)
        self.bytes = try allocate(bytes, of: Int8.self)
        self.scales = try allocate(scales, of: Float.self)
        blocks = allocated
    }

    deinit {
        for block in blocks { PageMapping.unmap(block.start, bytes: block.bytes) }
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
            default: preconditionFailure("only float32 matrices in the training layout are converted")
            }
        }
    }

    /// Floats that the block matrices and the head hold: what conversion reads, and what a
    /// reduced copy stores at `precision`'s width.
    public static func matrixWeights(config: ModelConfiguration) -> Int {
        let c = config.channels
        return config.layout.uniqueBlocks * 12 * c * c + config.vocabSize * c
    }

    /// Bytes of the copies `converted(to: precision)` makes: float32 copies only the block
    /// matrices (the tied head is the token embedding, read in place); the reduced precisions
    /// copy the head as well.
    public static func convertedBytes(config: ModelConfiguration, precision: WeightPrecision) -> Double {
        let c = config.channels
        let weights = precision == .float32 ? config.layout.uniqueBlocks * 12 * c * c : matrixWeights(config: config)
        return Double(weights) * precision.bytesPerWeight
    }

    /// The same weights with the block matrices in `Panels` (decoding streams each thread's
    /// share of them contiguously) and, at a reduced precision, the head converted too, on
    /// `workers`. Float32 keeps the head (the tied token embedding) where it is.
    /// `done` is told each float32 matrix (its first weight and count) once it has been
    /// converted, so a caller can let its pages go before the next one is read.
    public func converted(
        to precision: WeightPrecision, workers: Workers, done: (UnsafePointer<Float>, Int) -> Void = { _, _ in }
    ) throws(MemoryError) -> ModelWeights {
        let c = config.channels
        var matrices: [Matrix] = precision == .float32 ? [] : [Matrix(source: head, inputs: c, outputs: config.vocabSize)]
        for block in blocks {
            for tensor in BlockWeights.matrices {
                let (inputs, outputs) = tensor == .fcProjectionWeight ? (4 * c, c)
                    : (c, tensor.shape(channels: c)[1])
                matrices.append(Matrix(source: block.matrix(tensor), inputs: inputs, outputs: outputs))
            }
        }
        let total = matrices.reduce(0) { $0 + $1.inputs * $1.outputs }
        let storage: ConvertedStorage
        var converted: [LinearWeights] = []
        // Every matrix in panels, one after another from `base`, each weight through `convert`.
        func panels<T>(_ base: UnsafeMutablePointer<T>, _ convert: (Float) -> T,
                       _ wrap: (UnsafePointer<T>) -> LinearWeights) {
            var offset = 0
            for m in matrices {
                let out = base + offset
                Panels.pack(inputs: m.inputs, outputs: m.outputs, into: out, workers: workers) {
                    convert(m.value(output: $0, input: $1))
                }
                converted.append(wrap(out))
                m.source.floatPointer.map { done($0, m.inputs * m.outputs) }
                offset += m.inputs * m.outputs
            }
        }
        switch precision {
        case .float32:
            storage = try ConvertedStorage(floats: total)
            panels(storage.floats!, { $0 }, LinearWeights.float32Panels)
        case .bfloat16:
            storage = try ConvertedStorage(halves: total)
            panels(storage.halves!, ReducedPrecision.bfloat16, LinearWeights.bfloat16Panels)
        case .int8:
            let scaleCount = matrices.reduce(0) { $0 + $1.outputs * ($1.inputs / ReducedPrecision.groupSize(inputs: $1.inputs)) }
            storage = try ConvertedStorage(bytes: total, scales: scaleCount)
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
        }
        let firstBlockMatrix = precision == .float32 ? 0 : 1
        var reducedBlocks: [BlockWeights] = []
        for (b, block) in blocks.enumerated() {
            var replaced: [BlockTensor: LinearWeights] = [:]
            for (k, tensor) in BlockWeights.matrices.enumerated() { replaced[tensor] = converted[firstBlockMatrix + 4 * b + k] }
            reducedBlocks.append(BlockWeights(block, matrices: replaced))
        }
        return ModelWeights(self, head: precision == .float32 ? head : converted[0], blocks: reducedBlocks, owners: [storage])
    }
}
