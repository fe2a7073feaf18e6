import ArgumentParser
import Foundation
import LoopCheckpoint
import LoopModel
import LoopTraining

struct InfoCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "info",
        abstract: "Describe a checkpoint or preset: layout, parameters, effective depth, cost.")

    @Argument(help: "A checkpoint directory or a preset name.")
    var target: String?
    @Flag(help: "List the presets.")
    var presets = false
    @Option(help: "Sequence length for the FLOP count (default: the context).")
    var time: Int?
    @Flag(help: "Print JSON.")
    var json = false

    func run() throws {
        if presets || target == nil {
            for preset in Preset.all {
                let config = try preset.configuration()
                let count = ParameterTable(config).parameterCount
                print(String(format: "%-12@ %8.2fM  %@", preset.name as NSString, Double(count) / 1e6, preset.summary))
            }
            return
        }
        let target = target!
        var config: ModelConfiguration, tokenizer = "-", step: Int?
        if FileManager.default.fileExists(atPath: target + "/" + Checkpoint.configFile) {
            let read = try Checkpoint.readConfig(from: target)
            config = read.model
            tokenizer = read.file.tokenizer
            step = try? TrainingState.read(directory: target).step
        } else {
            config = try Preset.named(target).configuration()
        }
        let table = ParameterTable(config)
        let t = time ?? config.contextLength
        let cost = ModelCost(config: config, time: t)
        let memory = ActivationMemory(config: config, batch: 1, time: t)
        var object: [String: Any] = [
            "layout": config.layout.summary, "prelude": config.layout.prelude, "looped": config.layout.looped,
            "coda": config.layout.coda, "loops": config.layout.loops, "unique_blocks": config.layout.uniqueBlocks,
            "effective_depth": config.layout.effectiveDepth, "width": config.channels, "heads": config.heads,
            "context": config.contextLength, "vocab_size": config.vocabSize, "padded_vocab_size": config.paddedVocabSize,
            "parameters": table.parameterCount, "parameters_without_positions": table.parameterCountWithoutPositions,
            "forward_flops_per_token": cost.forwardFlopsPerToken, "training_flops_per_token": cost.trainingFlopsPerToken,
            "activation_bytes_per_token": memory.total / t, "tokenizer": tokenizer,
        ]
        if let step { object["step"] = step }
        if json { return try printJSON(object) }
        print("""
            layout        \(config.layout.summary)  (prelude \(config.layout.prelude), looped \(config.layout.looped) × \(config.layout.loops) loops, coda \(config.layout.coda))
            depth         \(config.layout.uniqueBlocks) unique blocks, effective depth \(config.layout.effectiveDepth)
            shape         width \(config.channels), heads \(config.heads), context \(config.contextLength), vocabulary \(config.vocabSize) (padded \(config.paddedVocabSize))
            parameters    \(table.parameterCount) (\(String(format: "%.2f", Double(table.parameterCount) / 1e6))M, GPT-2 convention: position embeddings included, tied head once); \(table.parameterCountWithoutPositions) without position embeddings
            compute       \(String(format: "%.1f", cost.forwardFlopsPerToken / 1e6)) MFLOP/token forward, \(String(format: "%.1f", cost.trainingFlopsPerToken / 1e6)) MFLOP/token training (T = \(t))
            activations   \(memory.total / t / 1024) KiB per training token (T = \(t))
            tokenizer     \(tokenizer)
            """ + (step.map { "\nstep          \($0)" } ?? ""))
    }
}
