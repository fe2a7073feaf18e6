import Foundation
import LoopModel
import LoopTraining

/// What `train` prints before its first step, as nanoGPT does: the model, the step, the cost
/// and the data, so a run's scale is on screen before its time is spent.
struct TrainingHeader {
    let session: TrainingSession
    let data: String

    var text: String {
        let trainer = session.trainer, options = trainer.options, config = trainer.model.config
        let parameters = trainer.model.table.parameterCount
        let cost = ModelCost(config: config, time: options.time)
        let train = TokenFileSize.tokens(data + "/" + TokenData.trainFile)
        let validation = TokenFileSize.tokens(data + "/" + TokenData.validationFile)
        let steps = options.schedule.totalSteps
        let start = trainer.step > 0 ? " (resuming at step \(trainer.step))" : ""
        return """
            model   \(config.layout.summary): \(Self.count(parameters)) parameters, effective depth \(config.layout.effectiveDepth), width \(config.channels), \(config.heads) heads, context \(config.contextLength), vocabulary \(config.vocabSize)
            step    \(options.tokensPerStep) tokens (batch \(options.batch) × context \(options.time) × \(options.microBatches) micro-batch\(options.microBatches == 1 ? "" : "es")) · \(String(format: "%.1f", cost.trainingFlopsPerToken / 1e6)) MFLOP per token trained
            data    \(Self.count(train)) training tokens, \(Self.count(validation)) validation tokens; \(steps) steps = \(Self.count(steps * options.tokensPerStep)) tokens (\(String(format: "%.2f", Double(steps * options.tokensPerStep) / Double(max(train, 1)))) epochs)\(start)
            """
    }

    /// 1234567 → "1.23M".
    static func count(_ value: Int) -> String {
        let v = Double(value)
        if v >= 1e9 { return String(format: "%.2fB", v / 1e9) }
        if v >= 1e6 { return String(format: "%.2fM", v / 1e6) }
        if v >= 1e4 { return String(format: "%.1fk", v / 1e3) }
        return "\(value)"
    }
}

/// Token counts of token files (0 when absent; training has read them already).
enum TokenFileSize {
    static func tokens(_ path: String) -> Int { (try? TokenFile.read(path: path))?.count ?? 0 }
}
