import Foundation
import LoopCheckpoint
import LoopTokenizer

/// A file of uint16 token ids behind llm.c's 256-int32 header, so data prepared for
/// llm.c or nanoGPT-style tools interoperates:
///   header[0] = 20240520 (magic), header[1] = 1 (version), header[2] = token count,
///   header[3] = tokenizer (LoopLM's addition: 1 bytes, 2 GPT-2; llm.c leaves it 0).
///
/// Reading maps the file: a process touches only the windows it reads, so a corpus far larger
/// than memory (OpenWebText's 18 GB) costs each rank only what it uses.
public struct TokenFile {
    public static let magic: Int32 = 20_240_520
    public static let version: Int32 = 1
    public static let headerInts = 256
    public static let headerBytes = headerInts * 4

    public let path: String
    /// nil for files that do not record it (llm.c's own).
    public let tokenizer: TokenizerKind?
    private let storage: Storage

    enum Storage {
        case mapped(MappedFile)
        case memory([UInt16])
    }

    /// Tokens held in memory (for writing, or text encoded on the fly).
    public init(path: String, tokens: [UInt16], tokenizer: TokenizerKind?) {
        self.path = path
        self.tokenizer = tokenizer
        storage = .memory(tokens)
    }

    public var count: Int {
        switch storage {
        case .mapped(let file): (file.count - Self.headerBytes) / 2
        case .memory(let tokens): tokens.count
        }
    }

    /// Token `index` (0..<count).
    @inline(__always)
    public subscript(index: Int) -> UInt16 {
        switch storage {
        case .mapped(let file):
            UInt16(littleEndian: file.bytes.loadUnaligned(fromByteOffset: Self.headerBytes + 2 * index, as: UInt16.self))
        case .memory(let tokens): tokens[index]
        }
    }

    /// All tokens as an array (reads the whole file; for small files and tests).
    public var tokens: [UInt16] { (0..<count).map { self[$0] } }

    /// Whether the file at `path` starts with a token file's magic number (false when it
    /// cannot be read: the reader then says why).
    public static func hasHeader(path: String) -> Bool {
        guard let handle = FileHandle(forReadingAtPath: path) else { return false }
        defer { try? handle.close() }  // closing a file only read from cannot lose data
        guard MappedFile.nonRegularKind(path) == nil, let head = try? handle.read(upToCount: 4), head.count == 4 else { return false }
        return head.withUnsafeBytes { Int32(littleEndian: $0.loadUnaligned(as: Int32.self)) } == magic
    }

    public static func read(path: String) throws(DataError) -> TokenFile {
        let file: MappedFile
        do { file = try MappedFile(path: path) } catch {
            switch error {
            case .missingFile: throw .missingFile(path)
            case .notARegularFile(_, let kind): throw .notARegularFile(path, kind: kind)
            default: throw .corrupt(path, error.description)
            }
        }
        guard file.count >= headerBytes else {
            throw .corrupt(path, "\(file.count) bytes, shorter than the \(headerBytes)-byte header")
        }
        func header(_ i: Int) -> Int32 { Int32(littleEndian: file.bytes.loadUnaligned(fromByteOffset: 4 * i, as: Int32.self)) }
        guard header(0) == magic else { throw .corrupt(path, "bad magic number \(header(0)); not a token file") }
        guard header(1) == version else { throw .corrupt(path, "unsupported version \(header(1))") }
        // The header's int32 count wraps past 2³¹ tokens; it must agree with the file's size.
        let stored = (file.count - headerBytes) / 2
        guard (file.count - headerBytes) % 2 == 0, Int32(truncatingIfNeeded: stored) == header(2) else {
            throw .corrupt(path, "header says \(header(2)) tokens but the file holds \(stored); it is truncated or damaged")
        }
        var tokenizer: TokenizerKind?
        if header(3) != 0 {
            guard let kind = TokenizerKind(headerID: header(3)) else {
                throw .corrupt(path, "unknown tokenizer id \(header(3))")
            }
            tokenizer = kind
        }
        return TokenFile(path: path, tokenizer: tokenizer, storage: .mapped(file))
    }

    private init(path: String, tokenizer: TokenizerKind?, storage: Storage) {
        self.path = path
        self.tokenizer = tokenizer
        self.storage = storage
    }

    /// Writes atomically (temporary file, fsync, rename).
    public func write() throws(DataError) {
        var header = [Int32](repeating: 0, count: Self.headerInts)
        header[0] = Self.magic
        header[1] = Self.version
        header[2] = Int32(truncatingIfNeeded: count)
        header[3] = tokenizer?.headerID ?? 0
        let tokens = self.tokens
        do {
            let headerData = header.withUnsafeBytes { Data($0) }, tokenData = tokens.withUnsafeBytes { Data($0) }
            try AtomicFiles.write(to: path) { (sink) throws(CheckpointError) in
                try sink.write(headerData)
                try sink.write(tokenData)
            }
        } catch { throw .writeFailed(path, error.description) }
    }
}

/// Problems with data a user supplies.
public enum DataError: Error, CustomStringConvertible, Equatable {
    case missingFile(String)
    case notARegularFile(String, kind: String)
    /// `--data` must be a folder from `looplm prepare`.
    case notADataFolder(String)
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
        case .notARegularFile(let path, let kind): return "\(path) is \(kind), not a file of text or tokens"
        case .notADataFolder(let path):
            return "\(path) is not a folder of token files; pass the folder `looplm prepare --output` wrote (with train.bin and val.bin)"
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
