import Foundation
import LoopCheckpoint
import LoopKernels
import LoopModel
import Testing

@Suite struct CheckpointTests {
    let workers = Workers(threads: 1)

    func temporaryDirectory() -> String {
        let path = NSTemporaryDirectory() + "looplm-checkpoint-\(UUID().uuidString)"
        try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    func model(seed: UInt64 = 3) throws -> LoopGPT {
        let config = try ModelConfiguration(vocabSize: 70, contextLength: 12, channels: 16, heads: 2,
                                            layout: LoopLayout(prelude: 1, looped: 1, coda: 1, loops: 2))
        var generator = SeededGenerator(seed: seed)
        return try LoopGPT(config: config, generator: &generator, workers: workers)
    }

    @Test func roundTripIsExactAndUsesHuggingFaceNames() throws {
        let original = try model()
        let directory = temporaryDirectory() + "/ckpt"
        try Checkpoint.save(original, vocabulary: .bytes, to: directory)
        let (loaded, file) = try Checkpoint.load(from: directory, workers: workers)
        #expect(loaded.config == original.config)
        #expect(loaded.parameters.array == original.parameters.array)
        #expect(file.vocabulary == .bytes && file.nLayer == 3 && file.loopCount == 2)
        let tensors = try SafeTensorsFile(path: directory + "/model.safetensors")
        #expect(tensors.entries["wte.weight"]?.shape == [70, 16], "V rows on disk, not Vp")
        #expect(tensors.entries["h.2.attn.c_attn.weight"]?.shape == [16, 48], "Conv1D [in, out]")
        #expect(tensors.entries["h.1.mlp.c_proj.weight"]?.shape == [64, 16])
        #expect(tensors.metadata["format"] == "pt")
        let json = try String(contentsOfFile: directory + "/config.json", encoding: .utf8)
        for key in ["\"n_embd\"", "\"n_head\"", "\"n_layer\"", "\"n_positions\"", "\"vocab_size\"", "\"loop_count\""] {
            #expect(json.contains(key))
        }
    }

    @Test func truncatedFileIsATypedError() throws {
        let directory = temporaryDirectory() + "/ckpt"
        try Checkpoint.save(try model(), vocabulary: .bytes, to: directory)
        let path = directory + "/model.safetensors"
        let bytes = try Data(contentsOf: URL(fileURLWithPath: path))
        try bytes.prefix(bytes.count - 100).write(to: URL(fileURLWithPath: path))
        #expect {
            _ = try Checkpoint.load(from: directory, workers: workers)
        } throws: { error in
            guard case CheckpointError.truncated = error else { return false }
            return "\(error)".contains("model.safetensors")
        }
        try Data([1, 2, 3]).write(to: URL(fileURLWithPath: path))
        #expect(throws: CheckpointError.self) { _ = try Checkpoint.load(from: directory, workers: workers) }
    }

    @Test func configThatDisagreesWithTensorsIsATypedError() throws {
        let directory = temporaryDirectory() + "/ckpt"
        try Checkpoint.save(try model(), vocabulary: .bytes, to: directory)
        let configPath = directory + "/config.json"
        let json = try String(contentsOfFile: configPath, encoding: .utf8)
        try json.replacingOccurrences(of: "\"n_embd\" : 16", with: "\"n_embd\" : 32")
            .replacingOccurrences(of: "\"n_head\" : 2", with: "\"n_head\" : 4")
            .write(toFile: configPath, atomically: true, encoding: .utf8)
        #expect {
            _ = try Checkpoint.load(from: directory, workers: workers)
        } throws: { error in
            guard case CheckpointError.shapeMismatch(_, let tensor, _, _) = error else { return false }
            return tensor == "wte.weight"
        }
        try json.replacingOccurrences(of: "\"loop_coda\" : 1", with: "\"loop_coda\" : 0")
            .write(toFile: configPath, atomically: true, encoding: .utf8)
        #expect(throws: CheckpointError.self) { _ = try Checkpoint.load(from: directory, workers: workers) }
    }

    @Test func missingAndUnexpectedTensorsAreNamed() throws {
        let original = try model()
        let directory = temporaryDirectory()
        var writer = SafeTensorsWriter()
        for spec in original.table.tensors where spec.name != "h.1.ln_2.bias" {
            writer.add(spec.name, shape: spec.shape, floats: original.parameters.pointer + spec.offset)
        }
        try writer.write(to: directory + "/model.safetensors")
        try CheckpointConfig(model: original.config, vocabulary: .bytes).encoded(path: "config.json")
            .write(to: URL(fileURLWithPath: directory + "/config.json"))
        #expect(throws: CheckpointError.missingTensor(directory + "/model.safetensors", tensor: "h.1.ln_2.bias")) {
            _ = try Checkpoint.load(from: directory, workers: workers)
        }
        writer.add("h.1.ln_2.bias", shape: [16], floats: original.parameters.pointer)
        writer.add("h.9.ln_2.bias", shape: [16], floats: original.parameters.pointer)
        try writer.write(to: directory + "/model.safetensors")
        #expect(throws: CheckpointError.unexpectedTensor(directory + "/model.safetensors", tensor: "h.9.ln_2.bias")) {
            _ = try Checkpoint.load(from: directory, workers: workers)
        }
    }

    /// A file of the user's named like the one written beside an output is neither truncated
    /// nor removed: the write takes the next free name, and removes only what it created.
    @Test func aFileNamedLikeThePartialOneIsLeftAlone() throws {
        let output = temporaryDirectory() + "/out.bin"
        for name in [output + ".partial", output + ".partial.1"] {
            try Data("the user's \(name)".utf8).write(to: URL(fileURLWithPath: name))
        }
        try AtomicFiles.write(to: output) { (sink) throws(CheckpointError) in try sink.write(Data("new".utf8)) }
        #expect(FileManager.default.contents(atPath: output) == Data("new".utf8))
        #expect(throws: CheckpointError.self) {
            try AtomicFiles.write(to: output) { (_) throws(CheckpointError) in
                throw CheckpointError.writeFailed("disk", detail: "No space left on device")
            }
        }
        for name in [output + ".partial", output + ".partial.1"] {
            #expect(FileManager.default.contents(atPath: name) == Data("the user's \(name)".utf8))
        }
        #expect(!FileManager.default.fileExists(atPath: output + ".partial.2"), "the failed write removed its own file")
        #expect(FileManager.default.contents(atPath: output) == Data("new".utf8))
    }

    @Test func aFailedSaveLeavesTheLastGoodCheckpoint() throws {
        let first = try model(seed: 1), second = try model(seed: 2)
        let directory = temporaryDirectory() + "/ckpt"
        try Checkpoint.save(first, vocabulary: .bytes, to: directory)
        #expect(throws: CheckpointError.self) {
            try Checkpoint.save(second, vocabulary: .bytes, to: directory) { (_) throws(CheckpointError) in
                throw CheckpointError.writeFailed("disk", detail: "No space left on device")
            }
        }
        let (loaded, _) = try Checkpoint.load(from: directory, workers: workers)
        #expect(loaded.parameters.array == first.parameters.array)
        #expect(!FileManager.default.fileExists(atPath: directory + ".partial"))
        // An interrupted swap (old moved aside, new not yet in place) is recovered on load.
        try FileManager.default.moveItem(atPath: directory, toPath: directory + ".previous")
        let (recovered, _) = try Checkpoint.load(from: directory, workers: workers)
        #expect(recovered.parameters.array == first.parameters.array)
    }

    /// A save replaces only what a checkpoint holds: a folder (or `.partial` / `.previous`
    /// beside it) with any other file, or a file where the folder goes, is refused untouched;
    /// the leftovers of an interrupted save are not.
    @Test func aSaveNeverDeletesWhatACheckpointDoesNotHold() throws {
        let manager = FileManager.default
        let base = temporaryDirectory()
        for (name, plant) in [("ckpt", "notes.txt"), ("ckpt.partial", "thesis.tex"), ("ckpt.previous", "data.csv")] {
            let directory = base + "/" + name.replacingOccurrences(of: ".", with: "-") + "/ckpt"
            let folder = (directory as NSString).deletingLastPathComponent + "/" + name
            try manager.createDirectory(atPath: folder, withIntermediateDirectories: true)
            try Data("mine".utf8).write(to: URL(fileURLWithPath: folder + "/" + plant))
            #expect(throws: CheckpointError.self) { try Checkpoint.save(try model(), vocabulary: .bytes, to: directory) }
            #expect(manager.contents(atPath: folder + "/" + plant) == Data("mine".utf8))
            #expect(!manager.fileExists(atPath: directory + "/" + Checkpoint.weightsFile))
        }
        // A folder of the user's bearing a checkpoint file's name is not a checkpoint file.
        let named = base + "/named/ckpt"
        try manager.createDirectory(atPath: named + "/" + Checkpoint.weightsFile, withIntermediateDirectories: true)
        try Data("mine".utf8).write(to: URL(fileURLWithPath: named + "/" + Checkpoint.weightsFile + "/results.csv"))
        #expect(throws: CheckpointError.self) { try Checkpoint.save(try model(), vocabulary: .bytes, to: named) }
        #expect(manager.contents(atPath: named + "/" + Checkpoint.weightsFile + "/results.csv") == Data("mine".utf8))
        let fileThere = base + "/file/ckpt"
        try manager.createDirectory(atPath: base + "/file", withIntermediateDirectories: true)
        try Data("mine".utf8).write(to: URL(fileURLWithPath: fileThere))
        #expect(throws: CheckpointError.self) { try Checkpoint.save(try model(), vocabulary: .bytes, to: fileThere) }
        #expect(manager.contents(atPath: fileThere) == Data("mine".utf8))
        // An interrupted save's leftovers are replaced.
        let directory = base + "/interrupted/ckpt"
        try manager.createDirectory(atPath: directory + ".partial", withIntermediateDirectories: true)
        try Data("half".utf8).write(to: URL(fileURLWithPath: directory + ".partial/" + Checkpoint.weightsFile + ".partial"))
        try Checkpoint.save(try model(), vocabulary: .bytes, to: directory)
        try Checkpoint.save(try model(seed: 2), vocabulary: .bytes, to: directory)
        #expect(manager.fileExists(atPath: directory + "/" + Checkpoint.configFile))
        #expect(!manager.fileExists(atPath: directory + ".partial") && !manager.fileExists(atPath: directory + ".previous"))
    }

    @Test func halfPrecisionTensorsAreWidened() throws {
        // 1.0, -2.0, 0.5 in IEEE half; 1.0 in bfloat16.
        var header = #"{"a":{"dtype":"F16","shape":[3],"data_offsets":[0,6]},"b":{"dtype":"BF16","shape":[1],"data_offsets":[6,8]}}"#
        while (header.utf8.count % 8) != 0 { header += " " }
        var bytes = Data()
        var length = UInt64(header.utf8.count).littleEndian
        bytes.append(Data(bytes: &length, count: 8))
        bytes.append(header.data(using: .utf8)!)
        bytes.append(contentsOf: [0x00, 0x3C, 0x00, 0xC0, 0x00, 0x38, 0x80, 0x3F])
        let file = try SafeTensorsFile(bytes: bytes, path: "memory")
        #expect(try file.floats("a") == [1, -2, 0.5])
        #expect(try file.floats("b") == [1])
    }
}
