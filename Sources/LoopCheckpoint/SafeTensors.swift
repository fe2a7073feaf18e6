import Foundation

/// A tensor stored in a safetensors file: little-endian data after a JSON header.
/// Format: u64 header length · JSON header (name → dtype, shape, data_offsets) · data.
public struct SafeTensorEntry: Sendable, Equatable {
    public let name: String
    public let dtype: String  // "F32", "F16", "BF16", "I32", "U16"…
    public let shape: [Int]
    public let dataRange: Range<Int>  // byte range inside the data section

    public var elementCount: Int { shape.reduce(1, *) }
}

/// A safetensors file read into memory and checked: every tensor lies inside the file,
/// its byte count matches its shape, and no two tensors overlap.
public struct SafeTensorsFile: Sendable {
    public let path: String
    public let metadata: [String: String]
    public let entries: [String: SafeTensorEntry]
    private let data: Data  // the data section only

    static let headerLengthBytes = 8
    static let maxHeaderBytes = 100_000_000

    public init(path: String) throws(CheckpointError) {
        guard FileManager.default.fileExists(atPath: path) else { throw .missingFile(path) }
        let bytes: Data
        do { bytes = try Data(contentsOf: URL(fileURLWithPath: path), options: .alwaysMapped) }
        catch { throw .badHeader(path, detail: "cannot read: \(error.localizedDescription)") }
        try self.init(bytes: bytes, path: path)
    }

    public init(bytes: Data, path: String) throws(CheckpointError) {
        self.path = path
        guard bytes.count >= Self.headerLengthBytes else {
            throw .truncated(path, detail: "\(bytes.count) bytes, shorter than the 8-byte header length")
        }
        var headerLength: UInt64 = 0
        for i in 0..<8 { headerLength |= UInt64(bytes[bytes.startIndex + i]) << (8 * UInt64(i)) }
        guard headerLength <= Self.maxHeaderBytes else {
            throw .badHeader(path, detail: "header length \(headerLength) is implausible")
        }
        let dataStart = Self.headerLengthBytes + Int(headerLength)
        guard bytes.count >= dataStart else {
            throw .truncated(path, detail: "header needs \(dataStart) bytes, file has \(bytes.count)")
        }
        let headerBytes = bytes.subdata(in: (bytes.startIndex + 8)..<(bytes.startIndex + dataStart))
        guard let json = try? JSONSerialization.jsonObject(with: headerBytes),
            let header = json as? [String: Any]
        else { throw .badHeader(path, detail: "header is not a JSON object") }

        var metadata: [String: String] = [:]
        var entries: [String: SafeTensorEntry] = [:]
        let dataLength = bytes.count - dataStart
        for (name, value) in header {
            if name == "__metadata__" {
                guard let dictionary = value as? [String: Any] else {
                    throw .badHeader(path, detail: "__metadata__ is not an object")
                }
                for (key, item) in dictionary {
                    guard let string = item as? String else {
                        throw .badHeader(path, detail: "metadata '\(key)' is not a string")
                    }
                    metadata[key] = string
                }
                continue
            }
            let entry = try Self.parseEntry(name: name, value: value, path: path)
            guard entry.dataRange.upperBound <= dataLength else {
                throw .truncated(path, detail: "tensor '\(name)' ends at byte \(entry.dataRange.upperBound) of a \(dataLength)-byte data section")
            }
            entries[name] = entry
        }
        let sorted = entries.values.sorted { $0.dataRange.lowerBound < $1.dataRange.lowerBound }
        for (a, b) in zip(sorted, sorted.dropFirst()) where a.dataRange.upperBound > b.dataRange.lowerBound {
            throw .badHeader(path, detail: "tensors '\(a.name)' and '\(b.name)' overlap")
        }
        self.metadata = metadata
        self.entries = entries
        self.data = bytes.subdata(in: (bytes.startIndex + dataStart)..<bytes.endIndex)
    }

    static let bytesPerElement = ["F32": 4, "F16": 2, "BF16": 2, "I32": 4, "U16": 2, "F64": 8,
                                  "I64": 8, "U8": 1, "I8": 1, "BOOL": 1, "U32": 4]

    private static func parseEntry(
        name: String, value: Any, path: String
    ) throws(CheckpointError) -> SafeTensorEntry {
        guard let object = value as? [String: Any], let dtype = object["dtype"] as? String,
            let shape = object["shape"] as? [Int], let offsets = object["data_offsets"] as? [Int],
            offsets.count == 2
        else { throw .badHeader(path, detail: "entry '\(name)' lacks dtype, shape or data_offsets") }
        guard let width = bytesPerElement[dtype] else {
            throw .unsupportedDType(path, tensor: name, dtype: dtype)
        }
        guard shape.allSatisfy({ $0 >= 0 }), offsets[0] >= 0, offsets[1] >= offsets[0] else {
            throw .badHeader(path, detail: "entry '\(name)' has a negative shape or offsets")
        }
        let expected = shape.reduce(1, *) * width
        guard offsets[1] - offsets[0] == expected else {
            throw .badHeader(path, detail: "tensor '\(name)' holds \(offsets[1] - offsets[0]) bytes but shape \(shape) of \(dtype) needs \(expected)")
        }
        return SafeTensorEntry(name: name, dtype: dtype, shape: shape, dataRange: offsets[0]..<offsets[1])
    }

    /// Copies tensor `name` as float32 into `destination` (which must hold its element count).
    /// F16 and BF16 are widened; other dtypes are refused.
    public func readFloats(_ name: String, into destination: UnsafeMutablePointer<Float>) throws(CheckpointError) {
        guard let entry = entries[name] else { throw .missingTensor(path, tensor: name) }
        guard ["F32", "F16", "BF16"].contains(entry.dtype) else {
            throw .unsupportedDType(path, tensor: name, dtype: entry.dtype)
        }
        let n = entry.elementCount
        let start = data.startIndex + entry.dataRange.lowerBound
        data.withUnsafeBytes { (raw: UnsafeRawBufferPointer) in
            let base = raw.baseAddress! + (start - data.startIndex)
            switch entry.dtype {
            case "F32":
                for i in 0..<n {
                    destination[i] = Float(bitPattern: UInt32(littleEndian: base.loadUnaligned(fromByteOffset: 4 * i, as: UInt32.self)))
                }
            case "BF16":
                for i in 0..<n {
                    let bits = UInt16(littleEndian: base.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self))
                    destination[i] = Float(bitPattern: UInt32(bits) << 16)
                }
            default:  // F16
                for i in 0..<n {
                    let bits = UInt16(littleEndian: base.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self))
                    destination[i] = Float(halfBits: bits)
                }
            }
        }
    }

    public func floats(_ name: String) throws(CheckpointError) -> [Float] {
        guard let entry = entries[name] else { throw .missingTensor(path, tensor: name) }
        var result = [Float](repeating: 0, count: entry.elementCount)
        try result.withUnsafeMutableBufferPointer { (buffer) throws(CheckpointError) in
            if let base = buffer.baseAddress { try readFloats(name, into: base) }
        }
        return result
    }

    /// Raw little-endian bytes of a tensor (for integer tensors such as token ids).
    public func rawBytes(_ name: String) throws(CheckpointError) -> Data {
        guard let entry = entries[name] else { throw .missingTensor(path, tensor: name) }
        return data.subdata(in: (data.startIndex + entry.dataRange.lowerBound)..<(data.startIndex + entry.dataRange.upperBound))
    }

    public func int32s(_ name: String) throws(CheckpointError) -> [Int32] {
        guard let entry = entries[name], entry.dtype == "I32" else {
            throw .missingTensor(path, tensor: name)
        }
        let bytes = try rawBytes(name)
        return bytes.withUnsafeBytes { raw in
            (0..<entry.elementCount).map { Int32(littleEndian: raw.loadUnaligned(fromByteOffset: 4 * $0, as: Int32.self)) }
        }
    }
}

extension Float {
    /// IEEE half precision to single (exact).
    init(halfBits h: UInt16) {
        let sign = UInt32(h >> 15) << 31
        let exponent = Int((h >> 10) & 0x1F)
        let mantissa = UInt32(h & 0x3FF)
        if exponent == 0 {
            let magnitude = Float(mantissa) * 0x1p-24
            self = sign != 0 ? -magnitude : magnitude
        } else if exponent == 0x1F {
            self = Float(bitPattern: sign | 0x7F80_0000 | (mantissa << 13))
        } else {
            self = Float(bitPattern: sign | UInt32(exponent + 112) << 23 | (mantissa << 13))
        }
    }
}
