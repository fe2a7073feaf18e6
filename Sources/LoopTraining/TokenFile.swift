import Foundation
import LoopCheckpoint
import LoopTokenizer

/// A file of uint16 token ids behind llm.c's 256-int32 header, so data prepared for
/// llm.c or nanoGPT-style tools interoperates:
///   header[0] = 20240520 (magic), header[1] = 1 (version), header[2] = token count,
///   header[3] = tokenizer (LoopLM's addition: 1 bytes, 2 GPT-2; llm.c leaves it 0).
public struct TokenFile: Sendable {
    public static let magic: Int32 = 20_240_520
    public static let version: Int32 = 1
    public static let headerInts = 256
    public static let headerBytes = headerInts * 4

    public let path: String
    public let tokens: [UInt16]
    /// nil for files that do not record it (llm.c's own).
    public let tokenizer: TokenizerKind?

    public init(path: String, tokens: [UInt16], tokenizer: TokenizerKind?) {
        self.path = path
        self.tokens = tokens
        self.tokenizer = tokenizer
    }

    public static func read(path: String) throws(DataError) -> TokenFile {
        guard let data = FileManager.default.contents(atPath: path) else { throw .missingFile(path) }
        guard data.count >= headerBytes else {
            throw .corrupt(path, "\(data.count) bytes, shorter than the \(headerBytes)-byte header")
        }
        let header: [Int32] = data.withUnsafeBytes { raw in
            (0..<headerInts).map { Int32(littleEndian: raw.loadUnaligned(fromByteOffset: 4 * $0, as: Int32.self)) }
        }
        guard header[0] == magic else { throw .corrupt(path, "bad magic number \(header[0]); not a token file") }
        guard header[1] == version else { throw .corrupt(path, "unsupported version \(header[1])") }
        let count = Int(header[2])
        guard count >= 0, data.count == headerBytes + 2 * count else {
            throw .corrupt(path, "header says \(count) tokens but the file holds \((data.count - headerBytes) / 2); it is truncated or damaged")
        }
        let tokens: [UInt16] = data.withUnsafeBytes { raw in
            (0..<count).map { UInt16(littleEndian: raw.loadUnaligned(fromByteOffset: headerBytes + 2 * $0, as: UInt16.self)) }
        }
        var tokenizer: TokenizerKind?
        if header[3] != 0 {
            guard let kind = TokenizerKind(headerID: header[3]) else {
                throw .corrupt(path, "unknown tokenizer id \(header[3])")
            }
            tokenizer = kind
        }
        return TokenFile(path: path, tokens: tokens, tokenizer: tokenizer)
    }

    /// Writes atomically (temporary file, fsync, rename).
    public func write() throws(DataError) {
        var header = [Int32](repeating: 0, count: Self.headerInts)
        header[0] = Self.magic
        header[1] = Self.version
        header[2] = Int32(tokens.count)
        header[3] = tokenizer?.headerID ?? 0
        var data = header.withUnsafeBufferPointer { Data(buffer: $0) }
        tokens.withUnsafeBufferPointer { data.append(Data(buffer: $0)) }
        do {
            try AtomicFiles.write(to: path) { (sink) throws(CheckpointError) in try sink.write(data) }
        } catch { throw .writeFailed(path, error.description) }
    }
}

/// Problems with data a user supplies.
public enum DataError: Error, CustomStringConvertible, Equatable {
    case missingFile(String)
    case corrupt(String, String)
    case tooShort(String, tokens: Int, needed: Int)
    case tokenizerMismatch(String, file: String, model: String)
    case tokenOutOfVocabulary(String, token: Int, vocabSize: Int)
    case writeFailed(String, String)
    case noInput(String)

    public var description: String {
        switch self {
        case .missingFile(let path):
            return "\(path): no such file; run `looplm prepare` (or scripts/setup.sh) first"
        case .corrupt(let path, let detail): return "\(path): \(detail)"
        case .tooShort(let path, let tokens, let needed):
            return "\(path): \(tokens) tokens, fewer than one context plus its target (\(needed)); use more text or a shorter --context"
        case .tokenizerMismatch(let path, let file, let model):
            return "\(path) was tokenized with '\(file)' but the model uses '\(model)'; prepare the data with --tokenizer \(model)"
        case .tokenOutOfVocabulary(let path, let token, let vocab):
            return "\(path): token id \(token) is outside the model's vocabulary (0..<\(vocab)); was it prepared with another tokenizer?"
        case .writeFailed(let path, let detail): return "could not write \(path): \(detail)"
        case .noInput(let detail): return detail
        }
    }
}
