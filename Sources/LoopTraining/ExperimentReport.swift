import Foundation

/// What one trained model of a suite measured. Saved as JSON beside its run, so a resumed
/// suite does not evaluate it again.
public struct RunResult: Codable, Sendable {
    public var model: String
    public var role: String
    public var seed: UInt64
    public var layout: String
    public var loops: Int
    public var parameters: Int
    public var effectiveDepth: Int
    public var trainingFlops: Double
    public var tokens: Int
    public var trainingSeconds: Double  // Σ step times (evaluation and checkpoints excluded)
    public var finalTrainLoss: Double  // mean of the last `trainLossWindow` steps
    public var finalValidationLoss: Double
    /// Validation loss with the looped blocks run 1, 2, … (sweep factor)·loops times.
    public var validationLossByLoops: [Double]
    /// Adaptive exit on the same windows: threshold, mean loops per token, loss.
    public var adaptiveExit: [AdaptivePoint]? = nil
    /// How the training loop count was drawn (nil: fixed).
    public var loopSampling: String? = nil
    /// Validation loss at each evaluated step of training, for the plots.
    public var validationCurve: [CurvePoint]? = nil
    public var tokensPerSecond: Double { Double(tokens) / max(trainingSeconds, 1e-9) }

    public static let trainLossWindow = 10

    public init(model: String, role: String, seed: UInt64, layout: String, loops: Int, parameters: Int,
                effectiveDepth: Int, trainingFlops: Double, tokens: Int, trainingSeconds: Double,
                finalTrainLoss: Double, finalValidationLoss: Double, validationLossByLoops: [Double]) {
        self.model = model
        self.role = role
        self.seed = seed
        self.layout = layout
        self.loops = loops
        self.parameters = parameters
        self.effectiveDepth = effectiveDepth
        self.trainingFlops = trainingFlops
        self.tokens = tokens
        self.trainingSeconds = trainingSeconds
        self.finalTrainLoss = finalTrainLoss
        self.finalValidationLoss = finalValidationLoss
        self.validationLossByLoops = validationLossByLoops
    }
}

public struct CurvePoint: Codable, Sendable, Equatable {
    public var step: Int
    public var loss: Double
    public init(step: Int, loss: Double) {
        self.step = step
        self.loss = loss
    }
}

public struct AdaptivePoint: Codable, Sendable {
    public var threshold: Double
    public var meanLoops: Double
    public var loss: Double
    public init(threshold: Double, meanLoops: Double, loss: Double) {
        self.threshold = threshold
        self.meanLoops = meanLoops
        self.loss = loss
    }
}

/// Mean and sample standard deviation (0 for one value).
public func meanAndSpread(_ values: [Double]) -> (mean: Double, spread: Double) {
    let mean = values.reduce(0, +) / Double(values.count)
    guard values.count > 1 else { return (mean, 0) }
    let variance = values.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(values.count - 1)
    return (mean, variance.squareRoot())
}

/// The suite's table: one row per model, seeds folded into mean ± standard deviation.
public enum ExperimentTable {
    /// Results grouped by model, in first-seen order.
    public static func groupsByModel(_ results: [RunResult]) -> [[RunResult]] { groups(results) }

    static func groups(_ results: [RunResult]) -> [[RunResult]] {
        var order: [String] = [], byModel: [String: [RunResult]] = [:]
        for r in results {
            if byModel[r.model] == nil { order.append(r.model) }
            byModel[r.model, default: []].append(r)
        }
        return order.map { byModel[$0]! }
    }

    static func duration(_ seconds: Double) -> String {
        if seconds < 60 { return String(format: "%.1f s", seconds) }
        let s = Int(seconds.rounded())
        return s >= 3600 ? String(format: "%dh%02dm", s / 3600, s % 3600 / 60) : String(format: "%dm%02ds", s / 60, s % 60)
    }

    static func loss(_ values: [Double]) -> String {
        let (mean, spread) = meanAndSpread(values)
        return values.count > 1 ? String(format: "%.4f ± %.4f", mean, spread) : String(format: "%.4f", mean)
    }

    public static func markdown(_ results: [RunResult]) -> String {
        var lines = [
            "| model | layout | loops | parameters | effective depth | training FLOPs | tokens | wall time | tokens/s | train loss | val loss | val loss at loops 1, 2, … | seeds |",
            "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
        ]
        for group in groups(results) {
            let first = group[0]
            let sweep = (0..<first.validationLossByLoops.count).map { i in
                String(format: "%.3f", meanAndSpread(group.map { $0.validationLossByLoops[i] }).mean)
            }.joined(separator: ", ")
            let seconds = meanAndSpread(group.map(\.trainingSeconds)).mean
            let rate = meanAndSpread(group.map(\.tokensPerSecond)).mean
            lines.append("| \(first.model) | \(first.layout) | \(first.loops) | \(first.parameters) | \(first.effectiveDepth) | "
                + String(format: "%.2e", first.trainingFlops) + " | \(first.tokens) | "
                + duration(seconds) + " | " + String(format: "%.0f", rate) + " | "
                + loss(group.map(\.finalTrainLoss)) + " | **" + loss(group.map(\.finalValidationLoss)) + "** | "
                + sweep + " | \(group.count) |")
        }
        let adaptive = groups(results).filter { $0[0].adaptiveExit != nil }
        if !adaptive.isEmpty {
            lines += ["", "Adaptive exit (a token stops looping once its state changes by less than the threshold, relative):", "",
                      "| model | trained with | threshold | mean loops per token | val loss |", "|---|---|---|---|---|"]
            for group in adaptive {
                for (i, point) in group[0].adaptiveExit!.enumerated() {
                    let loops = meanAndSpread(group.compactMap { $0.adaptiveExit?[i].meanLoops }).mean
                    lines.append("| \(group[0].model) | \(group[0].loopSampling ?? "\(group[0].loops) loops") | " + String(format: "%g", point.threshold) + " | "
                        + String(format: "%.2f", loops) + " | " + loss(group.compactMap { $0.adaptiveExit?[i].loss }) + " |")
                }
            }
        }
        return lines.joined(separator: "\n") + "\n"
    }

    public static func csv(_ results: [RunResult]) -> String {
        let maxLoops = results.map(\.validationLossByLoops.count).max() ?? 0
        var lines = [(["model", "role", "seed", "layout", "loops", "parameters", "effective_depth", "training_flops",
                       "tokens", "training_seconds", "tokens_per_second", "final_train_loss", "final_val_loss"]
                      + (1...max(maxLoops, 1)).map { "val_loss_loops_\($0)" }).joined(separator: ",")]
        for r in results {
            var fields = [r.model, "\"\(r.role)\"", "\(r.seed)", r.layout, "\(r.loops)", "\(r.parameters)",
                          "\(r.effectiveDepth)", String(format: "%.6e", r.trainingFlops), "\(r.tokens)",
                          String(format: "%.2f", r.trainingSeconds), String(format: "%.1f", r.tokensPerSecond),
                          String(format: "%.6f", r.finalTrainLoss), String(format: "%.6f", r.finalValidationLoss)]
            fields += (0..<max(maxLoops, 1)).map { $0 < r.validationLossByLoops.count ? String(format: "%.6f", r.validationLossByLoops[$0]) : "" }
            lines.append(fields.joined(separator: ","))
        }
        return lines.joined(separator: "\n") + "\n"
    }
}
