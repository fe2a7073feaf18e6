import Foundation
import LoopCheckpoint
import LoopKernels
import LoopModel
import Testing

/// Damaged files found by fault testing: typed errors, never traps or silent acceptance.
@Suite struct LoaderFaultTests {
    let workers = Workers(threads: 1)

    func header(_ json: String, dataBytes: Int = 16) -> Data {
        var text = Array(json.utf8)
        while text.count % 8 != 0 { text.append(UInt8(ascii: " ")) }
        var data = Data()
        withUnsafeBytes(of: UInt64(text.count).littleEndian) { data.append(contentsOf: $0) }
        data.append(contentsOf: text)
        data.append(Data(count: dataBytes))
        return data
    }

    @Test func shapesWhoseSizeOverflowsAreRefused() {
        for shape in ["[4294967296, 4294967296]", "[4611686018427387904]", "[9223372036854775807, 2]", "[-1]"] {
            let json = #"{"a": {"dtype": "F32", "shape": \#(shape), "data_offsets": [0, 16]}}"#
            #expect(throws: CheckpointError.self, "\(shape)") { _ = try SafeTensorsFile(bytes: header(json), path: "memory") }
        }
        let huge = #"{"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 99999999999999999999]}}"#
        #expect(throws: CheckpointError.self) { _ = try SafeTensorsFile(bytes: header(huge), path: "memory") }
    }

    func savedModel() throws -> (LoopGPT, String) {
        let config = try ModelConfiguration(vocabSize: 40, contextLength: 8, channels: 8, heads: 2,
                                            layout: LoopLayout(prelude: 1, looped: 1, coda: 0, loops: 2))
        var generator = SeededGenerator(seed: 1)
        let model = try LoopGPT(config: config, generator: &generator, workers: workers)
        let directory = NSTemporaryDirectory() + "looplm-faults-\(UUID().uuidString)"
        try Checkpoint.save(model, vocabulary: .bytes, to: directory)
        return (model, directory)
    }

    @Test func twoNamesForTheSameTensorAreRefused() throws {
        let (model, directory) = try savedModel()
        var writer = SafeTensorsWriter()
        for spec in model.table.tensors { writer.add(spec.name, shape: spec.shape, floats: model.parameters.pointer + spec.offset) }
        writer.add("transformer.ln_f.bias", shape: [8], floats: model.parameters.pointer + model.table.lnfBias.offset)
        try writer.write(to: directory + "/model.safetensors")
        #expect { _ = try Checkpoint.load(from: directory, workers: workers) } throws: { "\($0)".contains("both 'ln_f.bias'") }
        #expect(throws: CheckpointError.self) { _ = try Checkpoint.loadLanguageModel(from: directory, workers: workers) }
    }

    @Test func nonFiniteWeightsAreRefused() throws {
        for bad in [Float.nan, .infinity, -.infinity] {
            let (model, directory) = try savedModel()
            model.parameters[model.table.offset(block: 1, .fcWeight) + 5] = bad
            try Checkpoint.writeFiles(model, vocabulary: .bytes, into: directory)
            #expect { _ = try Checkpoint.loadLanguageModel(from: directory, workers: workers) } throws: {
                "\($0)".contains("h.1.mlp.c_fc.weight") && "\($0)".contains("NaN or infinite")
            }
            #expect(throws: CheckpointError.self) { _ = try Checkpoint.load(from: directory, workers: workers) }
        }
    }

    /// config.json values that overflow Int arithmetic or ask for absurd sizes.
    @Test func overflowingConfigValuesAreRefused() throws {
        let (_, directory) = try savedModel()
        let path = directory + "/config.json"
        let original = try String(contentsOfFile: path, encoding: .utf8)
        let edits: [(String, String)] = [
            ("\"n_embd\" : 8", "\"n_embd\" : 1000000000"), ("\"n_embd\" : 8", "\"n_embd\" : 4611686018427387904"),
            ("\"loop_count\" : 2", "\"loop_count\" : 4611686018427387904"), ("\"loop_count\" : 2", "\"loop_count\" : 1000000"),
            ("\"n_positions\" : 8", "\"n_positions\" : 1000000000"),
            ("\"loop_prelude\" : 1", "\"loop_prelude\" : 9223372036854775807"),
            ("\"loop_count\" : 2", "\"loop_count\" : 2, \"loop_embeddings\" : 4611686018427387904"),
            ("\"vocab_size\" : 40", "\"vocab_size\" : -5"), ("\"n_head\" : 2", "\"n_head\" : 0"),
            ("\"n_layer\" : 2", "\"n_layer\" : 1e400"),
        ]
        for (from, to) in edits {
            try original.replacingOccurrences(of: from, with: to).write(toFile: path, atomically: true, encoding: .utf8)
            #expect(throws: CheckpointError.self, "\(to)") { _ = try Checkpoint.readConfig(from: directory) }
        }
        // Sizes that pass the per-field limits but describe ~10¹² parameters: refused before allocating.
        try original.replacingOccurrences(of: "\"n_embd\" : 8", with: "\"n_embd\" : 65536")
            .replacingOccurrences(of: "\"n_head\" : 2", with: "\"n_head\" : 64")
            .replacingOccurrences(of: "\"n_layer\" : 2", with: "\"n_layer\" : 20")
            .replacingOccurrences(of: "\"loop_prelude\" : 1", with: "\"loop_prelude\" : 19")
            .write(toFile: path, atomically: true, encoding: .utf8)
        let config = try Checkpoint.readConfig(from: directory).model
        #expect(ParameterTable(config).parameterCount > 1_000_000_000_000)
        let clock = ContinuousClock(), start = clock.now
        #expect(throws: (any Error).self) { _ = try Checkpoint.load(from: directory, workers: workers) }
        #expect(throws: (any Error).self) { _ = try Checkpoint.loadLanguageModel(from: directory, workers: workers) }
        #expect(clock.now - start < .seconds(2), "refused before allocating, not after")
    }
}
