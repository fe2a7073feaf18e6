import ArgumentParser
import LoopModel

/// The model flags of `train`: a preset and overrides of its shape and layout.
struct ModelOptions: ParsableArguments {
    static let defaultPreset = "small-loop"

    @Option(help: "Model preset (see `looplm info --presets`; default: \(ModelOptions.defaultPreset)).")
    var preset: String?
    @Option(parsing: .unconditional, help: "Width (n_embd).")
    var width: Int?
    @Option(parsing: .unconditional, help: "Attention heads (must divide the width).")
    var heads: Int?
    @Option(parsing: .unconditional, help: "Blocks run once before the loop.")
    var prelude: Int?
    @Option(parsing: .unconditional, help: "Blocks in the looped set.")
    var looped: Int?
    @Option(parsing: .unconditional, help: "Blocks run once after the loop.")
    var coda: Int?
    @Option(parsing: .unconditional, help: "How many times the looped blocks run.")
    var loops: Int?
    @Option(parsing: .unconditional, help: "Maximum context (n_positions).")
    var contextLength: Int?
    @Flag(help: "Add the embedded input to the stream again before every loop pass after the first (no parameters).")
    var injectInput = false
    @Option(parsing: .unconditional, help: "Learned per-loop step embeddings: a table of this many rows (0: none; C parameters per row).")
    var loopEmbeddings: Int?

    func configuration(vocabSize: Int) throws -> ModelConfiguration {
        let base = try Preset.named(preset ?? Self.defaultPreset)
        let layout = LoopLayout(prelude: prelude ?? base.layout.prelude, looped: looped ?? base.layout.looped,
                                coda: coda ?? base.layout.coda, loops: loops ?? base.layout.loops)
        return try ModelConfiguration(vocabSize: vocabSize, contextLength: contextLength ?? base.contextLength,
                                      channels: width ?? base.channels, heads: heads ?? base.heads,
                                      layout: layout, injectInput: injectInput, loopEmbeddings: loopEmbeddings ?? 0)
    }

    /// Whether the preset's own vocabulary is the byte one (so GPT-2 data widens it).
    var presetHasByteVocabulary: Bool {
        (try? Preset.named(preset ?? Self.defaultPreset))?.vocabSize == Preset.byteVocabSize  // an unknown preset fails later, by name
    }

    /// The flags given, with the value each asks for, described against a configuration
    /// (for refusing the ones that contradict a checkpoint or a saved run).
    func contradictions(with config: ModelConfiguration, allowingLoops: Bool) -> [String] {
        var found: [String] = []
        func check(_ flag: String, _ given: Int?, _ actual: Int) {
            if let given, given != actual { found.append("\(flag) \(given) (it has \(actual))") }
        }
        if let preset { found.append("--preset \(preset) (the layout comes from the checkpoint)") }
        check("--width", width, config.channels)
        check("--heads", heads, config.heads)
        check("--prelude", prelude, config.layout.prelude)
        check("--looped", looped, config.layout.looped)
        check("--coda", coda, config.layout.coda)
        if !allowingLoops { check("--loops", loops, config.layout.loops) }
        check("--context-length", contextLength, config.contextLength)
        check("--loop-embeddings", loopEmbeddings, config.loopEmbeddings)
        if injectInput && !config.injectInput { found.append("--inject-input (it has none)") }
        return found
    }

    /// The model of a checkpoint a new run starts from: only the loop count may change (the
    /// weights are the same at any loop count); any other flag that contradicts it is refused.
    func configuration(startingFrom config: ModelConfiguration) throws -> ModelConfiguration {
        let found = contradictions(with: config, allowingLoops: true)
        guard found.isEmpty else {
            throw ValidationError("--init takes the model from its checkpoint; these flags contradict it: \(found.joined(separator: ", "))")
        }
        return try loops.map { try config.with(loops: $0) } ?? config
    }
}
