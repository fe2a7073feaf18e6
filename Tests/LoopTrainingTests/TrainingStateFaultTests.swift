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
            ("--batch", options { $0["batch"] = -1 }),
            ("--context", options { $0["time"] = -1 }),
            ("--context", options { $0["time"] = 100_000 }),
            ("--accumulate", options { $0["microBatches"] = 0 }),
            ("--lr", options { var s = $0["schedule"] as! [String: Any]; s["peak"] = -1; $0["schedule"] = s }),
            ("--clip", options { $0["maxGradientNorm"] = -1 }),
            ("--loops-sample", options { $0["loopSampling"] = ["uniform": ["minimum": 5, "maximum": 3]] }),
            ("--loops-sample", options { $0["loopSampling"] = ["uniform": ["minimum": 0, "maximum": -1]] }),
            ("options", { metadata, _ in metadata["options"] = "{" }),
            ("LoopLM training state", { metadata, _ in metadata["format"] = "other" }),
        ]
        for (word, edit) in cases {
            expectRefused(try damagedRun(edit), mentioning: [word])
        }
    }
}
