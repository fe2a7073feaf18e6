import Foundation
import LoopTraining
import Testing

/// The suite table: one row per model, seeds folded into mean ± sample standard deviation.
@Suite struct ExperimentTableTests {
    func result(_ model: String, seed: UInt64, validation: Double, train: Double, seconds: Double) -> RunResult {
        RunResult(model: model, role: "role of \(model)", seed: seed, layout: "2×3", loops: 3, parameters: 1000,
                  effectiveDepth: 6, trainingFlops: 1.5e12, tokens: 2048, trainingSeconds: seconds,
                  finalTrainLoss: train, finalValidationLoss: validation, validationLossByLoops: [3, 2, validation, 2.5, 2.6, 2.7])
    }

    @Test func seedsFoldIntoMeanAndSpread() {
        let results = [result("a", seed: 1, validation: 2.0, train: 1.5, seconds: 10),
                       result("b", seed: 1, validation: 1.0, train: 0.5, seconds: 30),
                       result("a", seed: 2, validation: 2.2, train: 1.7, seconds: 14)]
        let markdown = ExperimentTable.markdown(results).split(separator: "\n").map(String.init)
        #expect(markdown.count == 4, "header, rule and one row per model, in first-seen order")
        #expect(markdown[2].hasPrefix("| a | 2×3 | 3 | 1000 | 6 | 1.50e+12 | 2048 | 12.0 s | 176 |"))
        #expect(markdown[2].contains("| 1.6000 ± 0.1414 | **2.1000 ± 0.1414** |"))
        #expect(markdown[2].contains("| 3.000, 2.000, 2.100, 2.500, 2.600, 2.700 | 2 |"))
        #expect(markdown[3].contains("| **1.0000** |") && markdown[3].hasSuffix("| 1 |"))
        let csv = ExperimentTable.csv(results).split(separator: "\n").map(String.init)
        #expect(csv.count == 4 && csv[0].hasPrefix("model,role,seed,layout") && csv[0].hasSuffix("val_loss_loops_6"))
        #expect(csv[1] == "a,\"role of a\",1,2×3,3,1000,6,1.500000e+12,2048,10.00,204.8,1.500000,2.000000,3.000000,2.000000,2.000000,2.500000,2.600000,2.700000")
    }

    @Test func resultsRoundTripThroughJSON() throws {
        var original = result("a", seed: 3, validation: 2, train: 1, seconds: 5)
        original.validationCurve = [CurvePoint(step: 10, loss: 3), CurvePoint(step: 20, loss: 2)]
        original.adaptiveExit = [AdaptivePoint(threshold: 0.3, meanLoops: 2.5, loss: 2.1)]
        let decoded = try JSONDecoder().decode(RunResult.self, from: JSONEncoder().encode(original))
        #expect(decoded.validationCurve == original.validationCurve && decoded.adaptiveExit?.first?.meanLoops == 2.5)
        #expect(decoded.finalValidationLoss == 2 && decoded.tokensPerSecond == 2048 / 5)
    }
}
