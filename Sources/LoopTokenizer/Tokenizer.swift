import Foundation

/// Text ↔ token ids. The tokenizer's `name` is recorded in token files and checkpoints,
/// and a mismatch between them is an error.
public protocol Tokenizer: Sendable {
    var name: String { get }
    var vocabSize: Int { get }
    func encode(_ text: String) -> [Int]
    func encode(bytes: [UInt8]) -> [Int]
    /// Bytes the ids stand for (may be invalid UTF-8 in the middle of a character).
    func decodeBytes(_ ids: [Int]) -> [UInt8]
    /// The id that separates documents, if the vocabulary has one (GPT-2's <|endoftext|>).
    var documentSeparator: Int? { get }
}

extension Tokenizer {
    public func encode(_ text: String) -> [Int] { encode(bytes: Array(text.utf8)) }

    /// Text of the ids; invalid UTF-8 becomes U+FFFD, as Python's errors="replace".
    public func decode(_ ids: [Int]) -> String { String(decoding: decodeBytes(ids), as: UTF8.self) }
}

/// One token per byte: vocabulary 256, the default for small models.
public struct ByteTokenizer: Tokenizer {
    public static let identifier = "bytes"
    public let name = ByteTokenizer.identifier
    public let vocabSize = 256

    public init() {}

    public func encode(bytes: [UInt8]) -> [Int] { bytes.map(Int.init) }

    public func decodeBytes(_ ids: [Int]) -> [UInt8] { ids.map { UInt8(truncatingIfNeeded: $0) } }
    public var documentSeparator: Int? { nil }
}

/// Tokenizers LoopLM knows by name.
public enum TokenizerKind: String, CaseIterable, Sendable {
    case bytes
    case gpt2

    /// What `prepare` and `tokenize` use unless told otherwise: bytes need no vocabulary file
    /// and suit the small models LoopLM trains on a CPU.
    public static let standard = TokenizerKind.bytes

    /// The id stored in a token file's header (0: not recorded, as in llm.c's own files).
    public var headerID: Int32 {
        switch self {
        case .bytes: 1
        case .gpt2: 2
        }
    }

    public init?(headerID: Int32) {
        guard let kind = Self.allCases.first(where: { $0.headerID == headerID }) else { return nil }
        self = kind
    }
}

public enum TokenizerError: Error, CustomStringConvertible, Equatable {
    case unavailable(String)

    public var description: String {
        switch self {
        case .unavailable(let message): return message
        }
    }
}

/// Where scripts/setup.sh puts GPT-2's vocabulary: $LOOPLM_CACHE/gpt2, by default
/// ~/.cache/looplm/gpt2.
public func defaultVocabularyDirectory() -> String {
    let environment = ProcessInfo.processInfo.environment
    let cache = environment["LOOPLM_CACHE"] ?? ((environment["HOME"] ?? ".") + "/.cache/looplm")
    return cache + "/gpt2"
}

/// The tokenizer named `kind`; GPT-2's reads its vocabulary from `vocabulary`.
public func makeTokenizer(
    _ kind: TokenizerKind, vocabulary: String? = nil
) throws(TokenizerError) -> any Tokenizer {
    switch kind {
    case .bytes: return ByteTokenizer()
    case .gpt2: return try GPT2Tokenizer(directory: vocabulary ?? defaultVocabularyDirectory())
    }
}
