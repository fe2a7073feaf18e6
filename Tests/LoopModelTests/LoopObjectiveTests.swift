import Foundation
import LoopKernels
@testable import LoopModel
import Testing

/// The objectives that read every loop pass (issue 18): exact gradients, checked by finite
/// differences through the whole model, the gate's entropy term included.
@Suite struct LoopObjectiveTests {
    /// The per-token arithmetic alone, in Double: derivatives by every loss and every λ.
    @Test func stageOneDerivativesMatchFiniteDifferences() {
        let losses = [2.3, 1.7, 1.1, 0.9], lambdas = [0.2, 0.55, 0.35], beta = 0.05
        let (value, dLosses, dLambdas) = GateObjective.stageOne(losses: losses, lambdas: lambdas, entropy: beta)
        let p = GateObjective.exitProbabilities(lambdas)
        #expect(abs(p.reduce(0, +) - 1) < 1e-12 && dLosses == p)
        let h = 1e-6
        for k in lambdas.indices {
            var up = lambdas, down = lambdas
            up[k] += h
            down[k] -= h
            let numeric = (GateObjective.stageOne(losses: losses, lambdas: up, entropy: beta).value
                - GateObjective.stageOne(losses: losses, lambdas: down, entropy: beta).value) / (2 * h)
            #expect(abs(numeric - dLambdas[k]) < 1e-7, "λ_\(k): \(numeric) against \(dLambdas[k])")
        }
        // With β = 0 the value is the expected loss; the entropy term lowers it.
        let plain = GateObjective.stageOne(losses: losses, lambdas: lambdas, entropy: 0).value
        #expect(abs(plain - zip(p, losses).map(*).reduce(0, +)) < 1e-12 && value < plain)
        // Stage II: exit where the next pass improves the loss by less than the margin.
        let targets = GateObjective.exitTargets(losses: [2, 1, 0.999, 0.9], sharpness: 50, margin: 0.005)
        #expect(targets[0] < 1e-10 && targets[1] > 0.5 && targets[2] < 0.1)
        let (_, dA) = GateObjective.stageTwo(lambdas: [0.3, 0.6, 0.2], targets: targets)
        #expect(abs(dA[0] - (0.3 - targets[0]) / 3) < 1e-12)
    }

    func model() throws -> LoopGPT {
        let config = try ModelConfiguration(vocabSize: 37, contextLength: 8, channels: 16, heads: 2,
                                            layout: LoopLayout(prelude: 1, looped: 2, coda: 0, loops: 3),
                                            injectInput: true, exitGate: true)
        var generator = SeededGenerator(seed: 9)
        let model = try LoopGPT(config: config, generator: &generator, workers: Workers(threads: 2))
        for i in 0..<model.parameters.count { model.parameters[i] += Float(generator.nextNormal() * 0.1) }
        if let weight = model.table.exitGateWeight {  // a gate whose λ differ between tokens and passes
            for i in 0..<weight.count { model.parameters[weight.offset + i] = Float(generator.nextNormal() * 0.5) }
        }
        return model
    }

    @Test(arguments: [LoopObjective.all, .gate(entropy: 0.05), .gate(entropy: 0.5)])
    func everyTensorUnderAPerPassObjective(objective: LoopObjective) throws {
        let model = try model()
        var generator = SeededGenerator(seed: 21)
        let batch = 2, time = 8
        let tokens = randomTokens(batch * time, vocab: 37, generator: &generator)
        var targets = randomTokens(batch * time, vocab: 37, generator: &generator)
        targets[3] = CrossEntropy.ignored  // a masked row takes no part
        func loss() throws -> Double {
            Double(try model.forward(tokens: tokens, targets: targets, batch: batch, time: time, objective: objective)!)
        }
        model.zeroGradients()
        _ = try loss()
        model.backward()
        let tensors = model.table.tensors.filter { objective.usesGate || !$0.name.hasPrefix("exit_gate") }
        try checkFiniteDifferences(model, tensors: tensors, loss: loss)
    }

    /// `all` with one pass is the ordinary loss; `last` never reads the gate.
    @Test func objectivesAgreeWhereTheyMust() throws {
        let model = try model()
        var generator = SeededGenerator(seed: 3)
        let tokens = randomTokens(16, vocab: 37, generator: &generator), targets = randomTokens(16, vocab: 37, generator: &generator)
        let last = try model.forward(tokens: tokens, targets: targets, batch: 2, time: 8, loops: 1)!
        let all = try model.forward(tokens: tokens, targets: targets, batch: 2, time: 8, loops: 1, objective: .all)!
        #expect(abs(last - all) < 1e-5)
    }

    /// Stage II: only the gate learns; every other gradient is zero.
    @Test func gateOnlyTrainsTheGateAlone() throws {
        let model = try model()
        var generator = SeededGenerator(seed: 5)
        let tokens = randomTokens(16, vocab: 37, generator: &generator), targets = randomTokens(16, vocab: 37, generator: &generator)
        let objective = LoopObjective.gateOnly(sharpness: 50, margin: 0.005)
        func loss() throws -> Double {
            Double(try model.forward(tokens: tokens, targets: targets, batch: 2, time: 8, objective: objective)!)
        }
        model.zeroGradients()
        _ = try loss()
        model.backward()
        let gate = [model.table.exitGateWeight!, model.table.exitGateBias!]
        for spec in model.table.tensors where !gate.contains(spec) {
            #expect(parameterArray(model, spec, gradients: true).allSatisfy { $0 == 0 }, "\(spec.name)")
        }
        try checkFiniteDifferences(model, tensors: gate, loss: loss)
    }
}
