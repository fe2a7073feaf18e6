import ArgumentParser

@main
struct LoopLMCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "looplm",
        abstract: "Train and study looped GPT-2 language models (Ng & Wang, arXiv 2409.14199).",
        subcommands: [BenchCommand.self, InfoCommand.self])
}

/// Options every compute-heavy command shares.
struct ComputeOptions: ParsableArguments {
    @Option(help: "Threads for BLAS and the Swift kernels.")
    var threads: Int = 2

    func validate() throws {
        guard threads >= 1 else { throw ValidationError("--threads must be ≥ 1") }
    }
}
