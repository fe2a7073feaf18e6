import ArgumentParser
import Foundation
import LoopCheckpoint
import LoopModel
import LoopTraining

struct InfoCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "info",
        abstract: "Describe a checkpoint or preset: layout, parameters, effective depth, cost, memory.")

    @Argument(help: "A checkpoint directory or a preset name.")
    var target: String?
    @Flag(help: "List the presets.")
    var presets = false
    @OptionGroup var contextOption: ContextOption
    @Flag(help: "Print JSON.")
    var json = false

    struct Report: Codable {
        let layout: String
        let prelude: Int, looped: Int, coda: Int, loops: Int
        let uniqueBlocks: Int, effectiveDepth: Int
        let width: Int, heads: Int, context: Int
        let vocabSize: Int, paddedVocabSize: Int
        let parameters: Int, parametersWithoutPositions: Int
        let forwardFlopsPerToken: Double, trainingFlopsPerToken: Double
        let activationBytesPerToken: Int?
        let activationBytesPerTokenRecompute: Int?
        let tokenizer: String
        let step: Int?
    }

    func validate() throws {
    }

    func run() throws {
        guard let target, !presets else { return try listPresets() }
        var config: ModelConfiguration, tokenizer = "-", step: Int?
        let isPreset = Preset.all.contains { $0.name == target }
        if Checkpoint.resolve(target) != nil || (!isPreset && FileManager.default.fileExists(atPath: target)) {
            let target = checkpointPath(target)
            let read = try Checkpoint.readConfig(from: target)
            config = read.model
            tokenizer = read.file.vocabulary.recorded
            try Checkpoint.checkTensorTable(in: target, config: config)
            if FileManager.default.fileExists(atPath: target + "/" + TrainingState.fileName) {
                step = try TrainingState.read(directory: target, contextLength: config.contextLength).0.step
            }
        } else if isPreset {
            config = try Preset.named(target).configuration()
        } else {
            throw ValidationError("'\(target)' is neither a checkpoint or run folder nor a preset (\(Preset.all.map(\.name).joined(separator: ", ")))")
        }
        let t = contextOption.value ?? config.contextLength
        guard t <= config.contextLength else { throw ValidationError("--context must be in 1...\(config.contextLength) (the model's context)") }
        let table = ParameterTable(config)
        let cost = ModelCost(config: config, time: t)
        let memory = ActivationMemory(config: config, batch: 1, time: t)
        let recomputing = ActivationMemory(config: config, batch: 1, time: t, recompute: true)
        let report = Report(
            layout: config.layout.summary, prelude: config.layout.prelude, looped: config.layout.looped,
            coda: config.layout.coda, loops: config.layout.loops, uniqueBlocks: config.layout.uniqueBlocks,
            effectiveDepth: config.layout.effectiveDepth, width: config.channels, heads: config.heads,
            context: config.contextLength, vocabSize: config.vocabSize, paddedVocabSize: config.paddedVocabSize,
            parameters: table.parameterCount, parametersWithoutPositions: table.parameterCountWithoutPositions,
            forwardFlopsPerToken: cost.forwardFlopsPerToken, trainingFlopsPerToken: cost.trainingFlopsPerToken,
            activationBytesPerToken: memory.total.map { $0 / t },
            activationBytesPerTokenRecompute: recomputing.total.map { $0 / t }, tokenizer: tokenizer, step: step)
        if json { return try printJSON(report) }
        let activations = report.activationBytesPerToken.map { "\($0 / 1024) KiB per training token (T = \(t))" } ?? "too many to count"
        let recomputed = report.activationBytesPerTokenRecompute.map { "\($0 / 1024) KiB" } ?? "too many to count"
        print("""
            layout        \(config.layout.summary)  (prelude \(config.layout.prelude), looped \(config.layout.looped) × \(config.layout.loops) loops, coda \(config.layout.coda))
            depth         \(config.layout.uniqueBlocks) unique blocks, effective depth \(config.layout.effectiveDepth)
            shape         width \(config.channels), heads \(config.heads), context \(config.contextLength), vocabulary \(config.vocabSize) (padded \(config.paddedVocabSize))
            parameters    \(table.parameterCount) (\(String(format: "%.2f", Double(table.parameterCount) / 1e6))M, GPT-2 convention: position embeddings included, tied head once); \(table.parameterCountWithoutPositions) without position embeddings
            compute       \(String(format: "%.1f", cost.forwardFlopsPerToken / 1e6)) MFLOP/token forward, \(String(format: "%.1f", cost.trainingFlopsPerToken / 1e6)) MFLOP/token training (T = \(t))
            activations   \(activations); with --recompute \(recomputed)
            tokenizer     \(tokenizer)
            """ + (step.map { "\nstep          \($0)" } ?? ""))
    }

    struct PresetRow: Codable {
        let name: String, layout: String, parameters: Int, width: Int, heads: Int, context: Int, vocabSize: Int
        let effectiveDepth: Int, summary: String
    }

    func listPresets() throws {
        if json {
            return try printJSON(try Preset.all.map { preset in
                PresetRow(name: preset.name, layout: preset.layout.summary,
                          parameters: ParameterTable(try preset.configuration()).parameterCount,
                          width: preset.channels, heads: preset.heads, context: preset.contextLength, vocabSize: preset.vocabSize,
                          effectiveDepth: preset.layout.effectiveDepth, summary: preset.summary)
            })
        }
        let rows = try Preset.all.map { preset -> [String] in
            let count = ParameterTable(try preset.configuration()).parameterCount
            return [preset.name, preset.layout.summary, String(format: "%.2fM", Double(count) / 1e6), preset.summary]
        }
        let widths = (0..<3).map { column in rows.map { $0[column].count }.max() ?? 0 }
        for row in rows {
            let name = row[0].padding(toLength: widths[0], withPad: " ", startingAt: 0)
            let layout = row[1].padding(toLength: widths[1], withPad: " ", startingAt: 0)
            let count = String(repeating: " ", count: widths[2] - row[2].count) + row[2]
            print("\(name)  \(layout)  \(count)  \(row[3])")
        }
    }
}
