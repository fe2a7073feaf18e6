import Foundation
import LoopCheckpoint
import LoopKernels
import LoopModel
import Testing

/// Fixtures from scripts/reference/make_hf_fixture.py: a tiny GPT-2 saved by transformers
/// itself, and the logits transformers computed on LoopLM's export of the looped reference model.
@Suite struct HuggingFaceTests {
    let workers = Workers(threads: 2)
    let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures").path
    var tinyHF: String { fixtures + "/hf-gpt2-tiny" }
    var loopedCheckpoint: String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("LoopModelTests/Fixtures/looped").path
    }

    func temporary() -> String { NSTemporaryDirectory() + "looplm-hf-\(UUID().uuidString)" }

    func logits(_ model: LoopGPT, _ tokens: [Int32], batch: Int, time: Int) throws -> [Float] {
        try model.forward(tokens: tokens, batch: batch, time: time)
        return (0..<(batch * time)).flatMap { Array(model.logits(row: $0)) }
    }

    static func relativeError(_ a: [Float], _ b: [Float]) -> Double {
        var diff = 0.0, scale = 0.0
        for (x, y) in zip(a, b) {
            diff = max(diff, Double(abs(x - y)))
            scale = max(scale, Double(abs(y)))
        }
        return a.count == b.count ? diff / scale : .infinity
    }

    @Test func importsAFolderSavedByTransformers() throws {
        let (model, tokenizer) = try HuggingFace.importModel(from: tinyHF, workers: workers)
        #expect(model.config.layout == LoopLayout(looped: 4) && tokenizer == .gpt2)
        let reference = try SafeTensorsFile(path: tinyHF + "/reference_logits.safetensors")
        let tokens = try reference.int32s("tokens")
        let ours = try logits(model, tokens, batch: 2, time: 16)
        #expect(Self.relativeError(ours, try reference.floats("logits")) < 1e-4)
    }

    @Test func importThenExportKeepsEveryTensorByteForByte() throws {
        let (model, tokenizer) = try HuggingFace.importModel(from: tinyHF, workers: workers)
        let out = temporary()
        try HuggingFace.export(model, vocabulary: tokenizer, to: out)
        let source = try SafeTensorsFile(path: tinyHF + "/model.safetensors")
        let exported = try SafeTensorsFile(path: out + "/model.safetensors")
        #expect(exported.entries.count == model.table.tensors.count)
        for (name, entry) in exported.entries {
            let original = try source.rawBytes("transformer." + name)
            #expect(try exported.rawBytes(name) == original, "\(name)")
            #expect(source.entries["transformer." + name]?.shape == entry.shape)
        }
    }

    @Test func transformersComputesTheLoopModelsFunctionFromItsExport() throws {
        let (looped, file) = try Checkpoint.load(from: loopedCheckpoint, workers: workers)
        let reference = try SafeTensorsFile(path: fixtures + "/transformers_logits.safetensors")
        #expect(reference.metadata["n_layer"] == "8")
        let tokens = try reference.int32s("tokens")
        let expected = try reference.floats("logits")
        #expect(Self.relativeError(try logits(looped, tokens, batch: 2, time: 16), expected) < 1e-4)
        // Our export of the same model, read back as a plain GPT-2, computes it too.
        let out = temporary()
        try HuggingFace.export(looped, vocabulary: file.vocabulary, to: out)
        let (unrolled, _) = try HuggingFace.importModel(from: out, workers: workers)
        #expect(unrolled.config.layout == LoopLayout(looped: 8))
        #expect(try logits(unrolled, tokens, batch: 2, time: 16) == logits(looped, tokens, batch: 2, time: 16))
        let config = try String(contentsOfFile: out + "/config.json", encoding: .utf8)
        #expect(config.contains("\"n_layer\" : 8") && config.contains("\"model_type\" : \"gpt2\""))
    }

    @Test func importWithALoopLayout() throws {
        let (plain, _) = try HuggingFace.importModel(from: tinyHF, workers: workers)
        // 4 blocks → prelude 1, blocks 1 and 2 tied into 1 shared block × 2 loops, coda 1.
        let layout = LoopLayout(prelude: 1, looped: 1, coda: 1, loops: 2)
        let (average, _) = try HuggingFace.importModel(from: tinyHF, layout: layout, initialisation: .average, workers: workers)
        let (first, _) = try HuggingFace.importModel(from: tinyHF, layout: layout, initialisation: .first, workers: workers)
        #expect(average.config.layout.effectiveDepth == 4 && average.table.parameterCount < plain.table.parameterCount)
        let c = plain.config.channels
        for tensor in BlockTensor.allCases {
            let count = tensor.shape(channels: c).reduce(1, *)
            func values(_ m: LoopGPT, _ block: Int) -> [Float] {
                Array(UnsafeBufferPointer(start: m.parameters.pointer + m.table.offset(block: block, tensor), count: count))
            }
            let one = values(plain, 1), two = values(plain, 2)
            let mean = zip(one, two).map { $0 * 0.5 + $1 * 0.5 }
            #expect(Self.relativeError(values(average, 1), mean) < 1e-6)
            #expect(values(first, 1) == one)
            #expect(values(first, 0) == values(plain, 0) && values(first, 2) == values(plain, 3))
        }
        #expect(throws: CheckpointError.self) {
            _ = try HuggingFace.importModel(from: tinyHF, layout: LoopLayout(prelude: 1, looped: 1, coda: 1, loops: 3),
                                            initialisation: .average, workers: workers)
        }
        #expect(throws: CheckpointError.self) {
            _ = try HuggingFace.importModel(from: tinyHF, layout: LoopLayout(prelude: 3, looped: 2, coda: 1), workers: workers)
        }
    }
}
