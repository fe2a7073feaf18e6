import Foundation
import LoopCheckpoint
import LoopKernels
import LoopModel
import LoopTraining
import Testing

/// Compares against fixtures written by scripts/reference/make_fixtures.py: an independent
/// PyTorch (float64) looped GPT-2 on the same float32 weights.
@Suite struct ReferenceFixtureTests {
    static let tolerance = 1e-4

    struct Case {
        let model: LoopGPT
        let reference: SafeTensorsFile
        let tokens: [Int32], targets: [Int32]
        let batch: Int, time: Int
    }

    func load(_ name: String) throws -> Case {
        let directory = fixturesDirectory + "/" + name
        let (model, _) = try Checkpoint.load(from: directory, workers: Workers(threads: 2))
        let reference = try SafeTensorsFile(path: directory + "/reference.safetensors")
        let batch = Int(reference.metadata["batch"]!)!, time = Int(reference.metadata["time"]!)!
        return Case(model: model, reference: reference, tokens: try reference.int32s("tokens"),
                    targets: try reference.int32s("targets"), batch: batch, time: time)
    }

    @Test(arguments: ["plain", "looped"])
    func logitsLossAndEveryGradientMatchPyTorch(name: String) throws {
        let c = try load(name)
        try c.model.forward(tokens: c.tokens, batch: c.batch, time: c.time)
        let v = c.model.config.vocabSize
        var logits: [Float] = []
        for row in 0..<(c.batch * c.time) { logits += Array(c.model.logits(row: row)) }
        #expect(relativeError(logits, try c.reference.floats("logits")) < Self.tolerance)
        #expect(logits.count == c.batch * c.time * v)

        c.model.zeroGradients()
        let loss = try #require(try c.model.forward(tokens: c.tokens, targets: c.targets,
                                                    batch: c.batch, time: c.time))
        #expect(relativeError([loss], try c.reference.floats("loss")) < Self.tolerance)
        c.model.backward()
        for spec in c.model.table.tensors {
            let expected = try c.reference.floats("grad." + spec.name)
            let error = relativeError(parameterArray(c.model, spec, gradients: true), expected)
            #expect(error < Self.tolerance, "gradient of \(spec.name): relative error \(error)")
        }
    }

    @Test(arguments: ["plain", "looped"])
    func tenAdamWStepsMatchPyTorch(name: String) throws {
        let c = try load(name)
        let meta = c.reference.metadata
        let optimizer = try AdamW(
            table: c.model.table,
            hyper: AdamWHyperparameters(beta1: Float(meta["beta1"]!)!, beta2: Float(meta["beta2"]!)!,
                                        epsilon: Float(meta["eps"]!)!),
            weightDecay: Float(meta["weight_decay"]!)!, maxGradientNorm: Float(meta["clip"]!)!)
        let expectedLosses = try c.reference.floats("losses")
        let expectedNorms = try c.reference.floats("grad_norms")
        var losses: [Float] = [], norms: [Float] = []
        for _ in 0..<expectedLosses.count {
            c.model.zeroGradients()
            losses.append(try #require(try c.model.forward(tokens: c.tokens, targets: c.targets,
                                                           batch: c.batch, time: c.time)))
            c.model.backward()
            norms.append(optimizer.update(model: c.model, learningRate: Float(meta["lr"]!)!))
        }
        for (step, (a, b)) in zip(losses, expectedLosses).enumerated() {
            #expect(relativeError([a], [b]) < Self.tolerance, "loss at step \(step): \(a) vs \(b)")
        }
        #expect(relativeError(norms, expectedNorms) < Self.tolerance)
        #expect(losses.last! < losses.first! * 0.7, "the reference run learns; so must we")
    }
}
