import Foundation

/// Writes a safetensors file: tensors in the order added, header padded to 8 bytes.
public struct SafeTensorsWriter {
    enum Source {
        case floats(UnsafePointer<Float>)
        case bytes(Data)
    }

    struct Pending {
        let name: String
        let dtype: String
        let shape: [Int]
        let byteCount: Int
        let source: Source
    }

    private var pending: [Pending] = []
    public var metadata: [String: String]

    /// `format: pt` is what Hugging Face loaders expect in the metadata.
    public init(metadata: [String: String] = ["format": "pt"]) { self.metadata = metadata }

    /// Adds a float32 tensor read from `pointer` when the file is written (keep it alive).
    public mutating func add(_ name: String, shape: [Int], floats pointer: UnsafePointer<Float>) {
        pending.append(Pending(name: name, dtype: "F32", shape: shape,
                               byteCount: shape.reduce(1, *) * 4, source: .floats(pointer)))
    }

    public mutating func add(_ name: String, shape: [Int], int32s values: [Int32]) {
        let data = values.withUnsafeBufferPointer { Data(buffer: $0) }
        pending.append(Pending(name: name, dtype: "I32", shape: shape, byteCount: data.count,
                               source: .bytes(data)))
    }

    func header() throws(CheckpointError) -> Data {
        var object: [String: Any] = [:]
        if !metadata.isEmpty { object["__metadata__"] = metadata }
        var offset = 0
        for tensor in pending {
            object[tensor.name] = ["dtype": tensor.dtype, "shape": tensor.shape,
                                   "data_offsets": [offset, offset + tensor.byteCount]] as [String: Any]
            offset += tensor.byteCount
        }
        guard var json = try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
        else { throw .badHeader("(header)", detail: "cannot encode") }
        while json.count % 8 != 0 { json.append(UInt8(ascii: " ")) }
        return json
    }

    /// Writes the file atomically (see `AtomicFiles.write`).
    public func write(to path: String) throws(CheckpointError) {
        let json = try header()
        try AtomicFiles.write(to: path) { (sink) throws(CheckpointError) in
            var length = UInt64(json.count).littleEndian
            try withUnsafeBytes(of: &length) { (raw) throws(CheckpointError) in
                try sink.write(raw.baseAddress!, count: 8)
            }
            try sink.write(json)
            for tensor in pending {
                switch tensor.source {
                case .floats(let pointer):
                    #if _endian(big)
                    #error("LoopLM writes little-endian float32 and assumes a little-endian host")
                    #endif
                    try sink.write(UnsafeRawPointer(pointer), count: tensor.byteCount)
                case .bytes(let data):
                    try sink.write(data)
                }
            }
        }
    }
}
