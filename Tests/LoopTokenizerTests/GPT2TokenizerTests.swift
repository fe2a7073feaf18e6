import Foundation
import LoopTokenizer
import Testing

/// The vocabulary fetched by scripts/setup.sh (scripts/test.sh runs it first).
let vocabulary = defaultVocabularyDirectory()

func loadTokenizer() throws -> GPT2Tokenizer {
    do { return try GPT2Tokenizer(directory: vocabulary) } catch {
        Issue.record("GPT-2 vocabulary not found in \(vocabulary): run scripts/setup.sh")
        throw error
    }
}

@Suite struct GPT2TokenizerTests {
    struct Case: Decodable {
        let text: String
        let ids: [Int]
        let ids_allowing_special: [Int]
    }

    @Test func matchesTiktokenOnTheFixture() throws {
        let tokenizer = try loadTokenizer()
        let path = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .appendingPathComponent("Fixtures/gpt2_reference.json")
        struct File: Decodable { let cases: [Case] }
        let cases = try JSONDecoder().decode(File.self, from: Data(contentsOf: path)).cases
        #expect(cases.count > 300)
        var mismatches = 0
        for c in cases {
            let ids = tokenizer.encode(c.text)
            if ids != c.ids {
                mismatches += 1
                Issue.record("\(c.text.debugDescription): \(ids) ≠ tiktoken \(c.ids)")
            }
            #expect(tokenizer.encode(c.text, allowSpecial: true) == c.ids_allowing_special)
            #expect(tokenizer.decode(c.ids) == c.text)
        }
        #expect(mismatches == 0)
    }

    @Test func roundTripsRandomUnicode() throws {
        let tokenizer = try loadTokenizer()
        var state: UInt64 = 99
        func next() -> UInt32 {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return UInt32(truncatingIfNeeded: state >> 33)
        }
        let ranges: [ClosedRange<UInt32>] = [0x20...0x7E, 0x09...0x0D, 0xA0...0x24F, 0x400...0x4FF,
                                             0x3000...0x30FF, 0x4E00...0x4FFF, 0x1F300...0x1F6FF, 0x600...0x6FF]
        for _ in 0..<300 {
            var text = ""
            for _ in 0..<(Int(next() % 40) + 1) {
                let range = ranges[Int(next()) % ranges.count]
                if let scalar = Unicode.Scalar(range.lowerBound + next() % (range.upperBound - range.lowerBound + 1)) {
                    text.unicodeScalars.append(scalar)
                }
            }
            #expect(tokenizer.decode(tokenizer.encode(text)) == text)
        }
    }

    @Test func invalidUTF8IsReplacedAsPythonDoes() throws {
        let tokenizer = try loadTokenizer()
        let bytes: [UInt8] = Array("ok ".utf8) + [0xFF, 0xE6, 0x9D] + Array(" end".utf8)
        #expect(tokenizer.decode(tokenizer.encode(bytes: bytes)) == "ok \u{FFFD}\u{FFFD} end")
        // A token boundary inside a character: decodeBytes keeps the bytes exact.
        let ids = tokenizer.encode("🎭")
        #expect(tokenizer.decodeBytes(ids) == Array("🎭".utf8))
    }

    @Test func vocabularyInvariants() throws {
        let tokenizer = try loadTokenizer()
        #expect(tokenizer.vocabSize == 50257 && tokenizer.endOfTextID == 50256)
        #expect(Set(ByteEncoder.characters).count == 256, "byte map is dense and one-to-one")
        for byte in 0..<256 { #expect(ByteEncoder.bytes[ByteEncoder.characters[byte]] == UInt8(byte)) }
        // Every single byte encodes to one token that decodes back to it.
        for byte in 0..<128 {
            let ids = tokenizer.encode(bytes: [UInt8(byte)])
            #expect(ids.count == 1 && tokenizer.decodeBytes(ids) == [UInt8(byte)])
        }
        #expect(tokenizer.encode("<|endoftext|>", allowSpecial: true) == [50256])
        #expect(tokenizer.encode("<|endoftext|>").count > 1, "ordinary text unless allowed")
    }

    @Test func missingVocabularyNamesTheFix() {
        #expect {
            _ = try GPT2Tokenizer(directory: "/nonexistent")
        } throws: { error in
            "\(error)".contains("scripts/setup.sh")
        }
    }
}
