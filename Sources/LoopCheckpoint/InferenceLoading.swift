import Foundation
import LoopKernels
import LoopModel

/// Float32 copies of tensors that cannot be used in place (stored as F16 or BF16, or not
/// 4-byte aligned in the file).
final class TensorCopies {
    var buffers: [FloatBuffer] = []
}

extension Checkpoint {
    /// Loads a checkpoint for inference only (no gradients, no optimizer state): the token
    /// embedding is used in place from the memory-mapped file; the block matrices (and at a
    /// reduced `precision` the head) are copied once into their decoding layout, the small
    /// tensors copied out, and their pages of the file released. Every tensor's name, shape and values are checked as for `load`.
    public static func loadLanguageModel(
        from directory: String, precision: WeightPrecision = .float32, workers: Workers
    ) throws -> (model: LanguageModel, config: CheckpointConfig) {
        let (modelConfig, file) = try readConfig(from: directory)
        let tensors = try SafeTensorsFile(path: directory + "/" + weightsFile)
        let table = ParameterTable(modelConfig)
        let names = try matchNames(table, in: tensors)
        let copies = TensorCopies()
        var pointers: [String: UnsafePointer<Float>] = [:]
        for spec in table.tensors {
            let stored = names[spec.name]!
            let pointer: UnsafePointer<Float>
            if let inPlace = try tensors.floatPointer(stored) {
                pointer = inPlace
            } else {
                let copy = try FloatBuffer(count: spec.count, hugePages: true)
                try tensors.readFloats(stored, into: copy.bufferPointer)
                copies.buffers.append(copy)
                pointer = UnsafePointer(copy.pointer)
            }
            try checkFinite(pointer, count: spec.count, tensor: spec.name, path: tensors.path)
            let byteCount = spec.count * MemoryLayout<Float>.stride
            let converted = spec.shape.count == 2 && spec.name != table.wpe.name
                && (precision != .float32 || spec.name != table.wte.name)
            if converted {
                // Converted below, one matrix at a time: hold no more of the file than that.
                tensors.file.release(pointer: pointer, byteCount: byteCount)
                pointers[spec.name] = pointer
            } else if spec.name == table.wte.name || !tensors.file.contains(pointer) {
                pointers[spec.name] = pointer
            } else {
                // The small tensors (biases, layer norms, positions) are copied out: read in place,
                // their pages would bring the file's pages around them back (the kernel maps a
                // whole large folio on a fault), megabytes of the matrices just released.
                let copy = try FloatBuffer(count: spec.count)
                copy.pointer.update(from: pointer, count: spec.count)
                copies.buffers.append(copy)
                tensors.file.release(pointer: pointer, byteCount: byteCount)
                pointers[spec.name] = UnsafePointer(copy.pointer)
            }
        }
        let bytes = ModelWeights.convertedBytes(config: modelConfig, precision: precision)
        try SystemMemory.require(Int(exactly: bytes.rounded(.up)), for: "converting \(directory) to \(precision.rawValue)",
                                 advice: precision.memoryAdvice)
        let mapped = ModelWeights(config: modelConfig, table: table, owner: Owners([tensors, copies])) {
            pointers[$0.name]!
        }
        // Each float32 matrix is not read again once converted: let its pages go at once.
        let weights = try mapped.converted(to: precision, workers: workers) { first, count in
            tensors.file.release(pointer: first, byteCount: count * MemoryLayout<Float>.stride)
        }
        return (LanguageModel(weights: weights, workers: workers), file)
    }
}

/// Keeps several owners of memory alive together.
final class Owners {
    let objects: [AnyObject]
    init(_ objects: [AnyObject]) { self.objects = objects }
}
