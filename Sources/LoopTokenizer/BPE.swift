/// Byte-pair merges by rank: a piece's bytes start as single-byte tokens, and the adjacent
/// pair whose merge was learned earliest is merged (every occurrence, left to right) until
/// no learned pair remains — GPT-2's `bpe()` over token ids instead of strings.
public struct BPE: Sendable {
    /// (left id << 32 | right id) → (rank, merged id)
    let merges: [UInt64: (rank: Int32, merged: Int32)]
    /// Token id of each single byte.
    let byteTokens: [Int32]

    init(merges: [UInt64: (rank: Int32, merged: Int32)], byteTokens: [Int32]) {
        self.merges = merges
        self.byteTokens = byteTokens
    }

    @inline(__always)
    static func key(_ left: Int32, _ right: Int32) -> UInt64 {
        UInt64(UInt32(bitPattern: left)) << 32 | UInt64(UInt32(bitPattern: right))
    }

    /// Token ids of one pre-tokenized piece, appended to `output`.
    func encode(_ piece: UnsafeBufferPointer<UInt8>, into output: inout [Int]) {
        if piece.count == 1 {
            output.append(Int(byteTokens[Int(piece[0])]))
            return
        }
        var symbols = piece.map { byteTokens[Int($0)] }
        while symbols.count > 1 {
            var bestRank = Int32.max, bestMerged: Int32 = 0, left: Int32 = 0, right: Int32 = 0
            for i in 0..<(symbols.count - 1) {
                if let merge = merges[Self.key(symbols[i], symbols[i + 1])], merge.rank < bestRank {
                    bestRank = merge.rank
                    bestMerged = merge.merged
                    left = symbols[i]
                    right = symbols[i + 1]
                }
            }
            if bestRank == Int32.max { break }
            var merged: [Int32] = []
            merged.reserveCapacity(symbols.count)
            var i = 0
            while i < symbols.count {
                if i + 1 < symbols.count && symbols[i] == left && symbols[i + 1] == right {
                    merged.append(bestMerged)
                    i += 2
                } else {
                    merged.append(symbols[i])
                    i += 1
                }
            }
            symbols = merged
        }
        for symbol in symbols { output.append(Int(symbol)) }
    }
}
