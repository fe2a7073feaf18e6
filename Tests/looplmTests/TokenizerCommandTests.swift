import Foundation
import Testing

/// `looplm tokenize` and GPT-2 data end to end (the vocabulary comes from scripts/setup.sh).
@Suite(.serialized) struct TokenizerCommandTests {
    let root = temporaryDirectory("tok")

    @Test func tokenizeAndDecode() throws {
        let encoded = try Looplm.run(["tokenize", "--tokenizer", "gpt2", "Hello world, I'm here"])
        #expect(encoded.status == 0, "\(encoded.stderr)")
        #expect(encoded.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == "15496 995 11 314 1101 994")
        let decoded = try Looplm.run(["tokenize", "--tokenizer", "gpt2", "--decode", "15496 995 50256"])
        #expect(decoded.stdout == "Hello world<|endoftext|>\n")
        let special = json(try Looplm.run(["tokenize", "--tokenizer", "gpt2", "a<|endoftext|>b", "--allow-special", "--json"]).stdout)
        #expect(special["ids"] as? [Int] == [64, 50256, 65])
        let bad = try Looplm.run(["tokenize", "--tokenizer", "gpt2", "--decode", "99999"])
        #expect(bad.status != 0 && bad.stderr.contains("99999"))
        let missing = try Looplm.run(["tokenize", "--tokenizer", "gpt2", "x", "--vocab", root + "/none"])
        // prepare and tokenize share one default tokenizer: bytes.
        #expect(try Looplm.run(["tokenize", "Hi!"]).stdout.trimmingCharacters(in: .whitespacesAndNewlines) == "72 105 33")
        #expect(missing.status != 0 && missing.stderr.contains("scripts/setup.sh"))
    }

    @Test func gpt2DataTrainsAndMismatchedDataIsRefused() throws {
        let corpus = try writeCorpus(in: root)
        let gpt2 = json(try Looplm.run(["prepare", corpus, "--output", root + "/gpt2", "--tokenizer", "gpt2",
                                        "--validation", "tempest", "--json"]).stdout)
        #expect(gpt2["tokenizer"] as? String == "gpt2")
        let header = try Data(contentsOf: URL(fileURLWithPath: root + "/gpt2/train.bin")).prefix(16)
        #expect(header.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: 12, as: Int32.self) } == 2)
        // One <|endoftext|> after each document.
        let single = try Looplm.run(["prepare", corpus + "/comedy_gut.txt", "--output", root + "/one",
                                     "--tokenizer", "gpt2", "--validation", "none", "--json"])
        // No file matches --validation: the last 10% of the tokens is held out.
        let report = json(single.stdout)
        let tokens = (report["train_tokens"] as? Int ?? 0) + (report["val_tokens"] as? Int ?? 0)
        let expected = json(try Looplm.run(["tokenize", "--tokenizer", "gpt2", "--json",
                                            try String(contentsOfFile: corpus + "/comedy_gut.txt", encoding: .utf8)]).stdout)
        #expect(tokens == (expected["ids"] as? [Int])!.count + 1)
        #expect(report["val_fraction"] as? Double == 0.1 && (report["val_tokens"] as? Int ?? 0) == Int((Double(tokens) * 0.1).rounded()))

        let train = try Looplm.run(["train", "--data", root + "/gpt2", "--out", root + "/run", "--preset", "tiny",
                                    "--steps", "3", "--batch", "2", "--context", "16", "--json"])
        #expect(train.status == 0, "\(train.stderr)")
        let info = json(try Looplm.run(["info", root + "/run/latest", "--json"]).stdout)
        #expect(info["tokenizer"] as? String == "gpt2" && info["vocab_size"] as? Int == 50257)
        let sample = try Looplm.run(["sample", root + "/run/latest", "--prompt", "the king", "--tokens", "5", "--json"])
        #expect(sample.status == 0 && (json(sample.stdout)["ids"] as? [Int])?.count == 5)

        _ = try Looplm.run(["prepare", corpus, "--output", root + "/bytes", "--validation", "tempest"])
        let mismatch = try Looplm.run(["eval", root + "/run/latest", "--data", root + "/bytes/val.bin"])
        #expect(mismatch.status != 0 && mismatch.stderr.contains("tokenized with 'bytes'"))
    }
}
