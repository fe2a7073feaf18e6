import ArgumentParser
import LoopModel

/// A model given by preset, with any size or layout overridden.
struct ModelOptions: ParsableArguments {
    @Option(help: "Model preset (see `looplm info --presets`).")
    var preset: String = "small-loop"
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
    var loopEmbeddings = 0

    func configuration(vocabSize: Int) throws -> ModelConfiguration {
        let base = try Preset.named(preset)
        let layout = LoopLayout(prelude: prelude ?? base.layout.prelude, looped: looped ?? base.layout.looped,
                                coda: coda ?? base.layout.coda, loops: loops ?? base.layout.loops)
        return try ModelConfiguration(vocabSize: vocabSize, contextLength: contextLength ?? base.contextLength,
                                      channels: width ?? base.channels, heads: heads ?? base.heads,
                                      layout: layout, injectInput: injectInput, loopEmbeddings: loopEmbeddings)
    }
}
