import Foundation
import LoopModel

/// The element types a safetensors header may name (the ones LoopLM knows the width of).
public enum SafeTensorDType: String, Sendable, CaseIterable {
    case f32 = "F32", f16 = "F16", bf16 = "BF16", f64 = "F64"
    case i8 = "I8", u8 = "U8", i32 = "I32", u16 = "U16", u32 = "U32", i64 = "I64", bool = "BOOL"

    public var bytesPerElement: Int {
        switch self {
        case .i8, .u8, .bool: 1
        case .f16, .bf16, .u16: 2
        case .f32, .i32, .u32: 4
        case .f64, .i64: 8
        }
    }

    /// The float types LoopLM reads weights from (widened to float32).
    public var isReadableFloat: Bool { self == .f32 || self == .f16 || self == .bf16 }
}

/// A tensor stored in a safetensors file: little-endian data after a JSON header.
/// Format: u64 header length · JSON header (name → dtype, shape, data_offsets) · data.
public struct SafeTensorEntry: Sendable, Equatable {
    public let name: String
    public let dtype: SafeTensorDType
    public let shape: [Int]
    public let elementCount: Int
    public let fileRange: Range<Int>  // byte range inside the whole file
}

/// A safetensors file, memory-mapped and checked before anything is read through it: every
/// tensor lies inside the file, its byte count matches its shape (with overflow-checked
/// arithmetic), and no two tensors overlap. Tensors are read in place, never copied whole.
public final class SafeTensorsFile {
    public let path: String
    public let metadata: [String: String]
    public let entries: [String: SafeTensorEntry]
    public let file: MappedFile

    static let headerLengthBytes = 8
    static let maxHeaderBytes = 100_000_000

    public convenience init(path: String) throws(CheckpointError) {
        try self.init(file: MappedFile(path: path))
    }

    public convenience init(bytes: Data, path: String) throws(CheckpointError) {
        try self.init(file: MappedFile(copying: bytes, path: path))
    }

    public init(file: MappedFile) throws(CheckpointError) {
        self.file = file
        path = file.path
        let total = file.count
        guard total >= Self.headerLengthBytes else {
            throw .truncated(path, detail: "\(total) bytes, shorter than the 8-byte header length")
        }
        let headerLength = UInt64(littleEndian: file.bytes.loadUnaligned(as: UInt64.self))
        guard headerLength <= UInt64(Self.maxHeaderBytes) else {
            throw .badHeader(path, detail: "header length \(headerLength) is implausible")
        }
        let dataStart = Self.headerLengthBytes + Int(headerLength)
        guard total >= dataStart else {
            throw .truncated(path, detail: "header needs \(dataStart) bytes, file has \(total)")
        }
        let json = Data(bytes: file.bytes + Self.headerLengthBytes, count: Int(headerLength))
        let header: Header
        do throws(StrictJSONError) { _ = try StrictJSON.parse(json) } catch {
            throw .badHeader(path, detail: "the header is not valid JSON (\(error))")
        }
        do { header = try JSONDecoder().decode(Header.self, from: json) } catch {
            throw .badHeader(path, detail: "the header is not a JSON object of tensor entries (\(Self.describe(error)))")
        }
        var entries: [String: SafeTensorEntry] = [:]
        for (name, raw) in header.entries {
            let entry = try Self.check(name: name, raw, dataStart: dataStart, fileSize: total, path: file.path)
            guard entries.updateValue(entry, forKey: name) == nil else {
                throw .badHeader(file.path, detail: "tensor '\(name)' appears twice")
            }
        }
        let sorted = entries.values.sorted { $0.fileRange.lowerBound < $1.fileRange.lowerBound }
        for (a, b) in zip(sorted, sorted.dropFirst()) where a.fileRange.upperBound > b.fileRange.lowerBound {
            throw .badHeader(path, detail: "tensors '\(a.name)' and '\(b.name)' overlap")
        }
        metadata = header.metadata
        self.entries = entries
    }

    /// Validates one header entry with overflow-safe arithmetic.
    private static func check(
        name: String, _ raw: Header.Entry, dataStart: Int, fileSize: Int, path: String
    ) throws(CheckpointError) -> SafeTensorEntry {
        guard let dtype = SafeTensorDType(rawValue: raw.dtype) else {
            throw .unsupportedDType(path, tensor: name, dtype: raw.dtype)
        }
        let width = dtype.bytesPerElement
        guard raw.shape.allSatisfy({ $0 >= 0 }), raw.dataOffsets.count == 2, raw.dataOffsets[0] >= 0,
            raw.dataOffsets[1] >= raw.dataOffsets[0]
        else { throw .badHeader(path, detail: "entry '\(name)' has a negative shape or bad data_offsets") }
        guard let count = CheckedSize.product(raw.shape), let bytes = CheckedSize.product(count, width) else {
            throw .badHeader(path, detail: "tensor '\(name)' of shape \(raw.shape) has more elements than can be addressed")
        }
        let dataLength = fileSize - dataStart
        guard raw.dataOffsets[1] <= dataLength else {
            throw .truncated(path, detail: "tensor '\(name)' ends at byte \(raw.dataOffsets[1]) of a \(dataLength)-byte data section")
        }
        guard raw.dataOffsets[1] - raw.dataOffsets[0] == bytes else {
            throw .badHeader(path, detail: "tensor '\(name)' holds \(raw.dataOffsets[1] - raw.dataOffsets[0]) bytes but shape \(raw.shape) of \(raw.dtype) needs \(bytes)")
        }
        return SafeTensorEntry(name: name, dtype: dtype, shape: raw.shape, elementCount: count,
                               fileRange: (dataStart + raw.dataOffsets[0])..<(dataStart + raw.dataOffsets[1]))
    }

    func entry(_ name: String) throws(CheckpointError) -> SafeTensorEntry {
        guard let entry = entries[name] else { throw .missingTensor(path, tensor: name) }
        return entry
    }

    /// The tensor's float32 data in place, when it is F32 and 4-byte aligned in the file.
    public func floatPointer(_ name: String) throws(CheckpointError) -> UnsafePointer<Float>? {
        let entry = try entry(name)
        guard entry.dtype == .f32, entry.fileRange.lowerBound % MemoryLayout<Float>.alignment == 0 else { return nil }
        #if _endian(big)
        return nil
        #else
        return (file.bytes + entry.fileRange.lowerBound).assumingMemoryBound(to: Float.self)
        #endif
    }

    /// Copies tensor `name` as float32 into `destination`, which must hold exactly its element
    /// count. F16 and BF16 are widened; other dtypes are refused.
    public func readFloats(
        _ name: String, into destination: UnsafeMutableBufferPointer<Float>
    ) throws(CheckpointError) {
        let entry = try entry(name)
        guard entry.dtype.isReadableFloat else {
            throw .unsupportedDType(path, tensor: name, dtype: entry.dtype.rawValue)
        }
        guard destination.count == entry.elementCount else {
            throw .shapeMismatch(path, tensor: name, expected: [destination.count], found: entry.shape)
        }
        guard let out = destination.baseAddress else { return }  // no elements
        let base = file.bytes + entry.fileRange.lowerBound
        switch entry.dtype {
        case .f32:
            for i in 0..<entry.elementCount {
                out[i] = Float(bitPattern: UInt32(littleEndian: base.loadUnaligned(fromByteOffset: 4 * i, as: UInt32.self)))
            }
        case .bf16:
            for i in 0..<entry.elementCount {
                let bits = UInt16(littleEndian: base.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self))
                out[i] = Float(bitPattern: UInt32(bits) << 16)
            }
        default:  // F16
            for i in 0..<entry.elementCount {
                let bits = UInt16(littleEndian: base.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self))
                out[i] = Float(halfBits: bits)
            }
        }
    }

    public func floats(_ name: String) throws(CheckpointError) -> [Float] {
        var result = [Float](repeating: 0, count: try entry(name).elementCount)
        try result.withUnsafeMutableBufferPointer { (buffer) throws(CheckpointError) in
            try readFloats(name, into: buffer)
        }
        return result
    }

    /// Raw little-endian bytes of a tensor (for integer tensors such as token ids).
    public func rawBytes(_ name: String) throws(CheckpointError) -> Data {
        let entry = try entry(name)
        return Data(bytes: file.bytes + entry.fileRange.lowerBound, count: entry.fileRange.count)
    }

    public func int32s(_ name: String) throws(CheckpointError) -> [Int32] {
        let entry = try entry(name)
        guard entry.dtype == .i32 else { throw .unsupportedDType(path, tensor: name, dtype: entry.dtype.rawValue) }
        let base = file.bytes + entry.fileRange.lowerBound
        return (0..<entry.elementCount).map { Int32(littleEndian: base.loadUnaligned(fromByteOffset: 4 * $0, as: Int32.self)) }
    }

    static func describe(_ error: any Error) -> String {
        if let decoding = error as? DecodingError {
            switch decoding {
            case .dataCorrupted(let context): return context.debugDescription
            case .keyNotFound(let key, _): return "missing '\(key.stringValue)'"
            case .typeMismatch(_, let context), .valueNotFound(_, let context):
                return "bad value at \(context.codingPath.map(\.stringValue).joined(separator: "."))"
            @unknown default: return "\(decoding)"
            }
        }
        return "\(error)"
    }

    /// The JSON header: tensor entries and an optional `__metadata__` of strings.
    struct Header: Decodable {
        /// A tensor entry: exactly these three keys (a misspelled or extra one is refused).
        struct Entry: Decodable {
            let dtype: String
            let shape: [Int]
            let dataOffsets: [Int]
            enum CodingKeys: String, CodingKey, CaseIterable { case dtype, shape, dataOffsets = "data_offsets" }

            init(from decoder: any Decoder) throws {
                let keys = try decoder.container(keyedBy: Key.self).allKeys.map(\.stringValue)
                guard keys.count == CodingKeys.allCases.count, Set(keys) == Set(CodingKeys.allCases.map(\.rawValue)) else {
                    throw DecodingError.dataCorrupted(.init(
                        codingPath: decoder.codingPath,
                        debugDescription: "an entry must hold exactly dtype, shape and data_offsets, not \(keys.sorted())"))
                }
                let c = try decoder.container(keyedBy: CodingKeys.self)
                dtype = try c.decode(String.self, forKey: .dtype)
                shape = try c.decode([Int].self, forKey: .shape)
                dataOffsets = try c.decode([Int].self, forKey: .dataOffsets)
            }
        }

        struct Key: CodingKey {
            let stringValue: String
            init(stringValue: String) { self.stringValue = stringValue }
            var intValue: Int? { nil }
            init?(intValue: Int) { nil }
        }

        static let metadataKey = "__metadata__"
        var metadata: [String: String] = [:]
        var entries: [(String, Entry)] = []

        init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: Key.self)
            for key in container.allKeys {
                if key.stringValue == Self.metadataKey {
                    metadata = try container.decode([String: String].self, forKey: key)
                } else {
                    entries.append((key.stringValue, try container.decode(Entry.self, forKey: key)))
                }
            }
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
