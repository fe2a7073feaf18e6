@testable import LoopTokenizer
import Testing

@Suite struct MergesTableTests {
    @Test func everyMergeConcatenatesItsParts() throws {
        let tokenizer = try loadTokenizer()
        let merges = tokenizer.bpe.merges.entries
        #expect(merges.count == 50_000)
        #expect(Set(merges.values.map(\.rank)) == Set(0..<50_000), "ranks are dense and unique")
        for (key, merge) in merges {
            let left = Int(key >> 32), right = Int(key & 0xFFFF_FFFF)
            #expect(tokenizer.tokenBytes[Int(merge.merged)] == tokenizer.tokenBytes[left] + tokenizer.tokenBytes[right])
            let found = tokenizer.bpe.merges.lookup(key)
            #expect(found?.rank == merge.rank && found?.merged == merge.merged, "the hash table finds every merge")
        }
        // Pairs that were never merged are not found: "zz" then "q", and a pair of ids past the vocabulary.
        #expect(tokenizer.bpe.merges.lookup(BPE.key(89, 89)) == nil || merges[BPE.key(89, 89)] != nil)
        #expect(tokenizer.bpe.merges.lookup(BPE.key(60_000, 60_001)) == nil)
        #expect(tokenizer.tokenBytes.allSatisfy { !$0.isEmpty }, "every id decodes to some bytes")
        #expect(Set(tokenizer.bpe.byteTokens).count == 256, "each byte has its own token")
    }
}
