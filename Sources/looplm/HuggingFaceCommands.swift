import ArgumentParser
import LoopCheckpoint
import LoopKernels
import LoopModel

extension HuggingFace.LoopedInitialisation: ExpressibleByArgument {}

/// `looplm import-hf`: a Hugging Face GPT-2 folder into a LoopLM checkpoint.
struct ImportHFCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "import-hf",
        abstract: "Read a Hugging Face GPT-2 folder (config.json + model.safetensors) into a LoopLM checkpoint.",
        discussion: """
            With --looped the pretrained stack becomes a loop model: the first --prelude blocks and the \
            last --coda blocks are kept, and the blocks between are tied into --looped shared blocks run \
            --loops times. --init first copies the first of them; --init average takes the mean of the \
            blocks each shared block replaces (the tied range must then be looped × loops long). \
            Example for GPT-2 small: --prelude 2 --looped 4 --loops 2 --coda 2 --init average.
            """)

    @Argument(help: "Hugging Face GPT-2 folder.")
    var directory: String
    @Option(help: "Output checkpoint directory.")
    var output: String
    @Option(parsing: .unconditional, help: "Blocks kept before the loop.")
    var prelude = 0
    @Option(parsing: .unconditional, help: "Shared blocks in the loop (omit to import the model as it is).")
    var looped: Int?
    @Option(parsing: .unconditional, help: "Blocks kept after the loop.")
    var coda = 0
    @Option(parsing: .unconditional, help: "Loop count.")
    var loops = 1
    @Option(help: "How the shared blocks are initialised: first or average.")
    var `init`: HuggingFace.LoopedInitialisation = .first
    @Flag(help: "Replace an earlier import-hf output at --output (nothing else is ever replaced).")
    var force = false
    @Flag(help: "Print the result as JSON.")
    var json = false

    struct Imported: Codable {
        let output: String, layout: String, parameters: Int, effectiveDepth: Int
    }

    func run() throws {
        let layout = looped.map { LoopLayout(prelude: prelude, looped: $0, coda: coda, loops: loops) }
        let (model, vocabulary) = try HuggingFace.importModel(from: directory, layout: layout, initialisation: `init`,
                                                             workers: Workers(threads: 2))
        try OutputFolder.write(to: output, by: .importHF, inputs: [directory], replacing: force) { staging in
            try Checkpoint.writeFiles(model, vocabulary: vocabulary, into: staging)
        }
        let count = model.table.parameterCount
        if json {
            try printJSON(Imported(output: output, layout: model.config.layout.summary, parameters: count,
                                   effectiveDepth: model.config.layout.effectiveDepth))
        } else {
            print("imported \(directory) as \(model.config.layout.summary) (\(count) parameters, effective depth \(model.config.layout.effectiveDepth)) → \(output)")
        }
    }
}

/// `looplm export-hf`: a LoopLM checkpoint into a folder transformers loads unchanged.
struct ExportHFCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export-hf",
        abstract: "Write a checkpoint as a Hugging Face GPT-2 folder (looped blocks unrolled).",
        discussion: "transformers.GPT2LMHeadModel.from_pretrained(FOLDER) loads the result and computes the same logits.")

    @Argument(help: "LoopLM checkpoint directory.")
    var checkpoint: String
    @Option(help: "Output folder (new or empty; it must not be or contain the checkpoint).")
    var output: String
    @Flag(help: "Replace an earlier export-hf output at --output (nothing else is ever replaced).")
    var force = false
    @Flag(help: "Print the result as JSON.")
    var json = false

    struct Exported: Codable {
        let output: String, nLayer: Int, layout: String
    }

    func run() throws {
        let (model, file) = try Checkpoint.load(from: checkpointPath(checkpoint), workers: Workers(threads: 2))
        try HuggingFace.export(model, vocabulary: file.vocabulary, to: output, inputs: [checkpoint], replacing: force)
        let depth = model.config.layout.effectiveDepth
        if model.config.exitGate {
            printError("note: the exit gate is left out (GPT-2 has none): the export computes the model at its fixed \(model.config.layout.loops) loops")
        }
        if json {
            try printJSON(Exported(output: output, nLayer: depth, layout: model.config.layout.summary))
        } else {
            print("exported \(model.config.layout.summary) unrolled to \(depth) GPT-2 blocks → \(output)")
        }
    }
}
