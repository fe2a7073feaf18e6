import LoopTokenizer
import Testing

@Suite struct ByteTokenizerTests {
    @Test func roundTripsAnyText() {
        let tokenizer = ByteTokenizer()
        for text in ["", "ROMEO: O, she doth teach the torches to burn bright!", "naïve café — 東京 🎭", "\n\n\t  "] {
            let ids = tokenizer.encode(text)
            #expect(ids.count == text.utf8.count)
            #expect(ids.allSatisfy { (0..<256).contains($0) })
            #expect(tokenizer.decode(ids) == text)
        }
    }

    @Test func invalidUTF8DecodesWithReplacement() {
        #expect(ByteTokenizer().decode([0xE6, 0x9D]) == "\u{FFFD}")
        #expect(ByteTokenizer().decodeBytes([0xE6, 0x9D]) == [0xE6, 0x9D])
    }

    @Test func tokenizerIdsInHeaders() {
        for kind in TokenizerKind.allCases { #expect(TokenizerKind(headerID: kind.headerID) == kind) }
        #expect(TokenizerKind(headerID: 0) == nil)
    }
}
