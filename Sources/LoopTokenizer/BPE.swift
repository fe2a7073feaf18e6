/// Byte-pair merges by rank: a piece's bytes start as single-byte tokens, and the adjacent
/// pair whose merge was learned earliest is merged (every occurrence, left to right) until
/// no learned pair remains — GPT-2's `bpe()` over token ids instead of strings.
public struct BPE: Sendable {
    let merges: MergeTable
    /// Token id of each single byte.
    let byteTokens: [Int32]

    init(merges: [UInt64: (rank: Int32, merged: Int32)], byteTokens: [Int32]) {
        self.merges = MergeTable(merges)
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
        var count = symbols.count
        symbols.withUnsafeMutableBufferPointer { symbols in
            while count > 1 {
                var bestRank = Int32.max, bestMerged: Int32 = 0, left: Int32 = 0, right: Int32 = 0
                for i in 0..<(count - 1) {
                    if let merge = merges.lookup(Self.key(symbols[i], symbols[i + 1])), merge.rank < bestRank {
                        bestRank = merge.rank
                        bestMerged = merge.merged
                        left = symbols[i]
                        right = symbols[i + 1]
                    }
                }
                if bestRank == Int32.max { break }
                // Merge every occurrence of the pair, compacting in place.
                var read = 0, write = 0
                while read < count {
                    if read + 1 < count && symbols[read] == left && symbols[read + 1] == right {
                        symbols[write] = bestMerged
                        read += 2
                    } else {
                        symbols[write] = symbols[read]
                        read += 1
                    }
                    write += 1
                }
                count = write
            }
        }
        for symbol in symbols[..<count] { output.append(Int(symbol)) }
    }
}

/// The merges as an open-addressing hash table over flat arrays: a pair's key hashed by one
/// multiplication (Fibonacci hashing), probed linearly. Looking a pair up is the inner loop of
/// BPE, and this is several times cheaper than a `Dictionary`, which hashes with SipHash.
struct MergeTable: Sendable {
    /// Keys, `empty` where a slot is free; capacity is a power of two at most half full.
    private let keys: [UInt64]
    /// rank << 32 | merged id, in the slot of its key.
    private let values: [UInt64]
    private let shift: UInt64
    static let empty = UInt64.max  // no pair of ids below 2³¹ has this key

    init(_ merges: [UInt64: (rank: Int32, merged: Int32)]) {
        var bits: UInt64 = 4
        while (1 << bits) < 2 * merges.count { bits += 1 }
        let capacity = 1 << Int(bits)
        var keys = [UInt64](repeating: Self.empty, count: capacity)
        var values = [UInt64](repeating: 0, count: capacity)
        shift = 64 - bits
        for (key, merge) in merges {
            var slot = Int(truncatingIfNeeded: (key &* 0x9E37_79B9_7F4A_7C15) >> shift)
            while keys[slot] != Self.empty { slot = (slot + 1) & (capacity - 1) }
            keys[slot] = key
            values[slot] = UInt64(UInt32(bitPattern: merge.rank)) << 32 | UInt64(UInt32(bitPattern: merge.merged))
        }
        self.keys = keys
        self.values = values
    }

    @inline(__always)
    func lookup(_ key: UInt64) -> (rank: Int32, merged: Int32)? {
        keys.withUnsafeBufferPointer { keys in
            let mask = keys.count - 1
            var slot = Int(truncatingIfNeeded: (key &* 0x9E37_79B9_7F4A_7C15) >> shift)
            while true {
                let stored = keys[slot]
                if stored == key {
                    let value = values[slot]
                    return (Int32(bitPattern: UInt32(truncatingIfNeeded: value >> 32)),
                            Int32(bitPattern: UInt32(truncatingIfNeeded: value)))
                }
                if stored == Self.empty { return nil }
                slot = (slot + 1) & mask
            }
        }
    }

    /// Every merge (for tests and inspection).
    var entries: [UInt64: (rank: Int32, merged: Int32)] {
        var result: [UInt64: (rank: Int32, merged: Int32)] = [:]
        for (slot, key) in keys.enumerated() where key != Self.empty {
            result[key] = (Int32(bitPattern: UInt32(truncatingIfNeeded: values[slot] >> 32)),
                           Int32(bitPattern: UInt32(truncatingIfNeeded: values[slot])))
        }
        return result
    }
}
