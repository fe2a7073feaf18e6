import Foundation
import LoopCheckpoint
import LoopKernels
import LoopModel
import LoopTraining
import Testing

/// Edited or damaged training states found by fault testing: each is refused with a typed
/// error on resume, before anything is written to memory it does not fit.
@Suite(.serialized) struct TrainingStateFaultTests {
    let data = temporaryDirectory("state-data")
    let run = SmallRun()

    init() throws { try writeTokenData(in: data) }

    /// A finished run whose `latest/training_state.safetensors` is rewritten by `edit`.
    func damagedRun(
        _ edit: (inout [String: String], inout [(String, [Float])]) -> Void
    ) throws -> String {
        let out = temporaryDirectory("state")
        var stopAfter = 3
        let session = try run.start(data: data, out: out)
        session.shouldStop = {
            stopAfter -= 1
            return stopAfter == 0
        }
        _ = try session.run()
        let path = out + "/latest/" + TrainingState.fileName
        let file = try SafeTensorsFile(path: path)
        var metadata = file.metadata
        var tensors = try ["adam.m", "adam.v"].map { ($0, try file.floats($0)) }
        edit(&metadata, &tensors)
        var writer = SafeTensorsWriter(metadata: metadata)
        let buffers = try tensors.map { try FloatBuffer($0.1) }
        for ((name, values), buffer) in zip(tensors, buffers) { writer.add(name, shape: [values.count], floats: buffer.pointer) }
        try withExtendedLifetime(buffers) { try writer.write(to: path) }
        return out
    }

    func expectRefused(_ out: String, mentioning words: [String], sourceLocation: SourceLocation = #_sourceLocation) {
        do {
            _ = try run.resume(data: data, out: out)
            Issue.record("resume accepted a damaged state (expected: \(words))", sourceLocation: sourceLocation)
        } catch {
            for word in words { #expect("\(error)".contains(word), "\(error)", sourceLocation: sourceLocation) }
        }
    }

    @Test func adamTensorsOfAnotherSizeAreRefused() throws {
        for delta in [1, 1000, -1, -50] {
            let out = try damagedRun { _, tensors in
                tensors[0].1 = delta > 0 ? tensors[0].1 + [Float](repeating: 0.5, count: delta) : Array(tensors[0].1.dropLast(-delta))
            }
            expectRefused(out, mentioning: ["adam.m", "shape"])
        }
        let out = try damagedRun { _, tensors in tensors[1].1[3] = -1 }
        expectRefused(out, mentioning: ["adam.v", "NaN or infinite"])
    }

    @Test func editedMetadataIsRevalidated() throws {
        func options(_ change: @escaping (inout [String: Any]) -> Void) -> (inout [String: String], inout [(String, [Float])]) -> Void {
            { metadata, _ in
                var object = try! JSONSerialization.jsonObject(with: Data(metadata["options"]!.utf8)) as! [String: Any]
                change(&object)
                metadata["options"] = String(decoding: try! JSONSerialization.data(withJSONObject: object), as: UTF8.self)
            }
        }
        let cases: [(String, (inout [String: String], inout [(String, [Float])]) -> Void)] = [
            ("step", { metadata, _ in metadata["step"] = "-1000" }),
            ("step", { metadata, _ in metadata["step"] = "-1" }),
            ("step", { metadata, _ in metadata["step"] = "99999" }),
            ("generator", { metadata, _ in metadata["generator"] = "0,0,0,0" }),
            ("generator", { metadata, _ in metadata["generator"] = "1,2,3" }),
            ("best validation loss", { metadata, _ in metadata["best_validation_loss"] = "nan" }),
            ("batch", options { $0["batch"] = -1 }),
            ("time", options { $0["time"] = -1 }),
            ("time", options { $0["time"] = 100_000 }),
            ("micro_batches", options { $0["micro_batches"] = 0 }),
            ("schedule.peak", options { var s = $0["schedule"] as! [String: Any]; s["peak"] = -1; $0["schedule"] = s }),
            ("max_gradient_norm", options { $0["max_gradient_norm"] = -1 }),
            ("loop_sampling", options { $0["loop_sampling"] = ["uniform": ["minimum": 5, "maximum": 3]] }),
            ("loop_sampling", options { $0["loop_sampling"] = ["uniform": ["minimum": 0, "maximum": -1]] }),
            // Adam's ε must be a positive number, as a flag would have to be.
            ("epsilon", options { var a = $0["adam"] as! [String: Any]; a["epsilon"] = -1; $0["adam"] = a }),
            ("epsilon", options { var a = $0["adam"] as! [String: Any]; a["epsilon"] = 0; $0["adam"] = a }),
            ("epsilon", options { var a = $0["adam"] as! [String: Any]; a["epsilon"] = -9.2e18; $0["adam"] = a }),
            // A missing key is not an option turned off: deleting clipping used to resume without it.
            ("'max_gradient_norm' is missing", options { $0.removeValue(forKey: "max_gradient_norm") }),
            ("key 'beta2' is missing", options { var a = $0["adam"] as! [String: Any]; a.removeValue(forKey: "beta2"); $0["adam"] = a }),
            ("'loop_sampling' is missing", options { $0.removeValue(forKey: "loop_sampling") }),
            // One flipped byte in a key name: the key is unknown and the real one missing.
            ("unknown key 'max_gradient_nprm'", options { $0["max_gradient_nprm"] = $0.removeValue(forKey: "max_gradient_norm") }),
            ("unknown key 'surprise'", options { $0["surprise"] = 1 }),
            ("unknown metadata key", { metadata, _ in metadata["stepp"] = "3" }),
            ("not an integer", { metadata, _ in metadata["step"] = "9223372036854775808" }),
            ("version", { metadata, _ in metadata["version"] = "99" }),
            // A key added in version 3 may be missing from a version 2 state, not from a version 3 one.
            ("'loop_objective' is missing", options { $0.removeValue(forKey: "loop_objective") }),
            ("appears twice", { metadata, _ in
                metadata["options"] = metadata["options"]!.replacingOccurrences(of: "{\"adam\"", with: "{\"seed\":1,\"adam\"") }),
            ("options", { metadata, _ in metadata["options"] = "{" }),
            ("LoopLM training state", { metadata, _ in metadata["format"] = "other" }),
        ]
        for (word, edit) in cases {
            expectRefused(try damagedRun(edit), mentioning: [word])
        }
        let versionTwo = try damagedRun { metadata, _ in
            metadata["version"] = "2"
            var object = try! JSONSerialization.jsonObject(with: Data(metadata["options"]!.utf8)) as! [String: Any]
            object.removeValue(forKey: "loop_objective")
            metadata["options"] = String(decoding: try! JSONSerialization.data(withJSONObject: object), as: UTF8.self)
        }
        #expect(throws: Never.self) { _ = try run.resume(data: data, out: versionTwo) }
    }
}
