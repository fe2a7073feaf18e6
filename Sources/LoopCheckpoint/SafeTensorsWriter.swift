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

    /// The JSON header: each tensor's entry and the metadata, keys sorted.
    struct Header: Encodable {
        struct Entry: Encodable {
            let dtype: String
            let shape: [Int]
            let dataOffsets: [Int]
            enum CodingKeys: String, CodingKey { case dtype, shape, dataOffsets = "data_offsets" }
        }
        let metadata: [String: String]
        let entries: [String: Entry]

        func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: SafeTensorsFile.Header.Key.self)
            if !metadata.isEmpty {
                try container.encode(metadata, forKey: .init(stringValue: SafeTensorsFile.Header.metadataKey))
            }
            for (name, entry) in entries { try container.encode(entry, forKey: .init(stringValue: name)) }
        }
    }

    func header(path: String) throws(CheckpointError) -> Data {
        var entries: [String: Header.Entry] = [:]
        var offset = 0
        for tensor in pending {
            entries[tensor.name] = Header.Entry(dtype: tensor.dtype, shape: tensor.shape,
                                                dataOffsets: [offset, offset + tensor.byteCount])
            offset += tensor.byteCount
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        var json: Data
        do { json = try encoder.encode(Header(metadata: metadata, entries: entries)) } catch {
            throw .writeFailed(path, detail: "cannot encode the safetensors header: \(error)")
        }
        while json.count % 8 != 0 { json.append(UInt8(ascii: " ")) }
        return json
    }

    /// Writes the file atomically (see `AtomicFiles.write`).
    public func write(to path: String) throws(CheckpointError) {
        let json = try header(path: path)
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
