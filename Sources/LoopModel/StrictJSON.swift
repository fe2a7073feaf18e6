import Foundation

/// A JSON reader that checks what Foundation's decoders let pass: a key written twice in one
/// object (Foundation keeps one of them silently, Python's json the other, so two tools would
/// read the same file differently), nesting deeper than any file LoopLM writes, and, through
/// `decodeExactly`, keys a type does not know or keys it needs that are missing.
public enum StrictJSON {
    /// A parsed value; object members keep their order.
    public indirect enum Value: Equatable, Sendable {
        case object([(key: String, value: Value)])
        case array([Value])
        case string(String)
        case number(String)
        case bool(Bool)
        case null

        public static func == (a: Value, b: Value) -> Bool {
            switch (a, b) {
            case let (.object(x), .object(y)): return x.map(\.key) == y.map(\.key) && x.map(\.value) == y.map(\.value)
            case let (.array(x), .array(y)): return x == y
            case let (.string(x), .string(y)), let (.number(x), .number(y)): return x == y
            case let (.bool(x), .bool(y)): return x == y
            case (.null, .null): return true
            default: return false
            }
        }
    }

    /// Deeper nesting than this is refused (LoopLM's files nest three levels).
    public static let maximumDepth = 64

    /// Parses `data` as one JSON value, refusing duplicate keys and excessive nesting.
    public static func parse(_ data: Data) throws(StrictJSONError) -> Value {
        var reader = Reader(bytes: [UInt8](data))
        reader.skipSpace()
        let value = try reader.value(depth: 0)
        reader.skipSpace()
        guard reader.index == reader.bytes.count else { throw reader.error("unexpected text after the JSON value") }
        return value
    }

    /// Which missing keys a reader tolerates: none, those added after the file was written
    /// (dotted paths), or any (files from before every key was written).
    public enum MissingKeys: Sendable {
        case none, these(Set<String>), any

        func allows(_ path: String) -> Bool {
            switch self {
            case .none: false
            case .these(let keys): keys.contains(path)
            case .any: true
            }
        }
    }

    /// Decodes `T` after checking that the JSON has no duplicate keys and exactly the keys `T`
    /// writes when encoded (nested objects included, null-valued keys counted): an unknown or
    /// misspelled key is refused, and so is a missing one unless `allowMissing` allows it.
    public static func decodeExactly<T: Codable>(
        _ type: T.Type, from data: Data, decoder: JSONDecoder = JSONFormat.decoder(),
        encoder: JSONEncoder = JSONFormat.encoder(), allowMissing: MissingKeys = .none
    ) throws -> T {
        let given = try parse(data)
        let value = try decoder.decode(T.self, from: data)
        let expected = try parse(try encoder.encode(value))
        try compareKeys(given, expected, path: "", allowMissing: allowMissing)
        return value
    }

    static func compareKeys(_ given: Value, _ expected: Value, path: String, allowMissing: MissingKeys) throws(StrictJSONError) {
        switch (given, expected) {
        case let (.object(a), .object(b)):
            let known = Set(b.map(\.key))
            if let unknown = a.first(where: { !known.contains($0.key) }) {
                throw StrictJSONError(detail: "unknown key '\(path + unknown.key)'")
            }
            for (key, value) in b {
                guard let other = a.first(where: { $0.key == key }) else {
                    if allowMissing.allows(path + key) { continue }
                    throw StrictJSONError(detail: "key '\(path + key)' is missing")
                }
                try compareKeys(other.value, value, path: path + key + ".", allowMissing: allowMissing)
            }
        case let (.array(a), .array(b)) where a.count == b.count:
            for (x, y) in zip(a, b) { try compareKeys(x, y, path: path, allowMissing: allowMissing) }
        default:
            return
        }
    }

    struct Reader {
        let bytes: [UInt8]
        var index = 0

        func error(_ detail: String) -> StrictJSONError { StrictJSONError(detail: "\(detail) at byte \(index)") }

        mutating func skipSpace() {
            while index < bytes.count, [0x20, 0x09, 0x0A, 0x0D].contains(bytes[index]) { index += 1 }
        }

        mutating func expect(_ literal: String) throws(StrictJSONError) {
            let text = Array(literal.utf8)
            guard bytes.count - index >= text.count, Array(bytes[index..<(index + text.count)]) == text else {
                throw error("expected '\(literal)'")
            }
            index += text.count
        }

        mutating func value(depth: Int) throws(StrictJSONError) -> Value {
            guard depth <= StrictJSON.maximumDepth else { throw error("nested deeper than \(StrictJSON.maximumDepth) levels") }
            guard index < bytes.count else { throw error("unexpected end") }
            switch bytes[index] {
            case UInt8(ascii: "{"): return try object(depth: depth)
            case UInt8(ascii: "["): return try array(depth: depth)
            case UInt8(ascii: "\""): return .string(try string())
            case UInt8(ascii: "t"): try expect("true"); return .bool(true)
            case UInt8(ascii: "f"): try expect("false"); return .bool(false)
            case UInt8(ascii: "n"): try expect("null"); return .null
            default: return .number(try number())
            }
        }

        mutating func object(depth: Int) throws(StrictJSONError) -> Value {
            index += 1
            var members: [(key: String, value: Value)] = [], seen = Set<String>()
            skipSpace()
            if index < bytes.count, bytes[index] == UInt8(ascii: "}") {
                index += 1
                return .object(members)
            }
            while true {
                skipSpace()
                guard index < bytes.count, bytes[index] == UInt8(ascii: "\"") else { throw error("expected a key") }
                let key = try string()
                guard seen.insert(key).inserted else { throw error("key '\(key)' appears twice in one object") }
                skipSpace()
                try expect(":")
                skipSpace()
                members.append((key, try value(depth: depth + 1)))
                skipSpace()
                guard index < bytes.count else { throw error("unexpected end in an object") }
                if bytes[index] == UInt8(ascii: ",") { index += 1; continue }
                try expect("}")
                return .object(members)
            }
        }

        mutating func array(depth: Int) throws(StrictJSONError) -> Value {
            index += 1
            var elements: [Value] = []
            skipSpace()
            if index < bytes.count, bytes[index] == UInt8(ascii: "]") {
                index += 1
                return .array(elements)
            }
            while true {
                skipSpace()
                elements.append(try value(depth: depth + 1))
                skipSpace()
                guard index < bytes.count else { throw error("unexpected end in an array") }
                if bytes[index] == UInt8(ascii: ",") { index += 1; continue }
                try expect("]")
                return .array(elements)
            }
        }

        mutating func string() throws(StrictJSONError) -> String {
            index += 1
            var scalars = String.UnicodeScalarView(), raw: [UInt8] = []
            func flush() throws(StrictJSONError) {
                guard !raw.isEmpty else { return }
                guard let text = String(validating: raw, as: UTF8.self) else { throw error("a string is not valid UTF-8") }
                scalars.append(contentsOf: text.unicodeScalars)
                raw.removeAll()
            }
            while index < bytes.count {
                let byte = bytes[index]
                index += 1
                switch byte {
                case UInt8(ascii: "\""):
                    try flush()
                    return String(scalars)
                case UInt8(ascii: "\\"):
                    try flush()
                    guard index < bytes.count else { break }
                    let escape = bytes[index]
                    index += 1
                    switch escape {
                    case UInt8(ascii: "\""): scalars.append("\"")
                    case UInt8(ascii: "\\"): scalars.append("\\")
                    case UInt8(ascii: "/"): scalars.append("/")
                    case UInt8(ascii: "b"): scalars.append("\u{8}")
                    case UInt8(ascii: "f"): scalars.append("\u{C}")
                    case UInt8(ascii: "n"): scalars.append("\n")
                    case UInt8(ascii: "r"): scalars.append("\r")
                    case UInt8(ascii: "t"): scalars.append("\t")
                    case UInt8(ascii: "u"): scalars.append(try unicodeEscape())
                    default: throw error("bad escape in a string")
                    }
                case 0..<0x20: throw error("a control character in a string")
                default: raw.append(byte)
                }
            }
            throw error("unterminated string")
        }

        mutating func hex4() throws(StrictJSONError) -> UInt32 {
            guard bytes.count - index >= 4, let value = UInt32(String(decoding: bytes[index..<(index + 4)], as: UTF8.self), radix: 16)
            else { throw error("bad \\u escape") }
            index += 4
            return value
        }

        mutating func unicodeEscape() throws(StrictJSONError) -> Unicode.Scalar {
            let first = try hex4()
            if (0xD800..<0xDC00).contains(first) {
                try expect("\\u")
                let second = try hex4()
                guard (0xDC00..<0xE000).contains(second) else { throw error("unpaired surrogate") }
                return Unicode.Scalar(0x10000 + ((first - 0xD800) << 10) + (second - 0xDC00))!
            }
            guard let scalar = Unicode.Scalar(first) else { throw error("unpaired surrogate") }
            return scalar
        }

        mutating func number() throws(StrictJSONError) -> String {
            let start = index
            let allowed = Set("+-0123456789.eE".utf8)
            while index < bytes.count, allowed.contains(bytes[index]) { index += 1 }
            let text = String(decoding: bytes[start..<index], as: UTF8.self)
            guard !text.isEmpty, Double(text) != nil || text.allSatisfy({ $0.isNumber || $0 == "-" }) else {
                throw error("not a JSON value")
            }
            return text
        }
    }
}

/// JSON that is malformed, or well-formed but ambiguous (a duplicate key) or not what the
/// reading type expects (an unknown or missing key).
public struct StrictJSONError: Error, Equatable, CustomStringConvertible {
    public let detail: String
    public var description: String { detail }
}
