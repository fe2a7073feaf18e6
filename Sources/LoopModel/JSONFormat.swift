import Foundation

/// The one JSON style of every file LoopLM writes and every `--json` it prints: snake_case
/// keys derived from the Swift names (no hand-written coding keys), keys sorted, slashes
/// unescaped. (`config.json` is the exception: it keeps Hugging Face's own key names.)
public enum JSONFormat {
    public static func encoder(pretty: Bool = false) -> JSONEncoder {
        let encoder = JSONEncoder()
        encoder.keyEncodingStrategy = .convertToSnakeCase
        encoder.outputFormatting = pretty ? [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
            : [.sortedKeys, .withoutEscapingSlashes]
        return encoder
    }

    public static func decoder() -> JSONDecoder {
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        return decoder
    }

    /// A decoding error as one line a person can act on: where, and what was wrong.
    public static func describe(_ error: any Error) -> String {
        guard let decoding = error as? DecodingError else { return "\(error)" }
        func place(_ path: [any CodingKey]) -> String {
            path.isEmpty ? "" : "'" + path.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }.joined(separator: ".") + "': "
        }
        switch decoding {
        case .dataCorrupted(let context):
            let underlying = (context.underlyingError as NSError?)?.userInfo[NSDebugDescriptionErrorKey] as? String
            return place(context.codingPath) + (underlying ?? context.debugDescription)
        case .keyNotFound(let key, let context):
            return place(context.codingPath) + "key '\(key.stringValue)' is missing"
        case .typeMismatch(let type, let context):
            return place(context.codingPath) + "expected \(describe(type)); \(context.debugDescription)"
        case .valueNotFound(let type, let context):
            return place(context.codingPath) + "expected \(describe(type)), found null"
        @unknown default:
            return "\(decoding)"
        }
    }

    static func describe(_ type: Any.Type) -> String {
        switch type {
        case is Int.Type, is Int32.Type, is Int64.Type, is UInt64.Type: return "an integer"
        case is Float.Type, is Double.Type: return "a number"
        case is String.Type: return "a string"
        case is Bool.Type: return "true or false"
        default: return "\(type)"
        }
    }
}
