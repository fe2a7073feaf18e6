import ArgumentParser
import Foundation
import LoopKernels
import LoopModel

@main
struct LoopLMCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "looplm",
        abstract: "Train and study looped GPT-2 language models (Ng & Wang, arXiv 2409.14199).",
        subcommands: [PrepareCommand.self, TokenizeCommand.self, TrainCommand.self, EvalCommand.self, SampleCommand.self,
                      InfoCommand.self, BenchCommand.self, ImportHFCommand.self, ExportHFCommand.self, ExperimentCommand.self])
}

/// Options every compute-heavy command shares.
struct ComputeOptions: ParsableArguments {
    @Option(help: "Threads for the kernels (each matrix product is split over them).")
    var threads: Int = 2

    func validate() throws {
        guard threads >= 1 else { throw ValidationError("--threads must be ≥ 1") }
    }

    var workers: Workers { Workers(threads: threads) }
}

/// `--loops`: run the looped blocks another number of times than trained (same weights).
struct LoopsOption: ParsableArguments {
    @Option(help: "Run the looped blocks this many times instead of the trained count.")
    var loops: Int?

    func validate() throws {
        if let loops, loops < 1 { throw ValidationError("--loops must be ≥ 1") }
    }
}

/// Adaptive exit per token: `--exit-threshold`, `--exit-criterion`, `--max-loops`.
struct ExitOptions: ParsableArguments {
    @Option(help: "Adaptive exit: a token stops looping once the criterion falls under this.")
    var exitThreshold: Float?
    @Option(help: "Adaptive exit criterion: change (relative change of the hidden state) or kl (between successive predictions).")
    var exitCriterion: ExitRule.Criterion = .change
    @Option(help: "Adaptive exit: at most this many loop passes (default: twice the trained count).")
    var maxLoops: Int?

    func validate() throws {
        if let exitThreshold, !(exitThreshold >= 0 && exitThreshold.isFinite) {
            throw ValidationError("--exit-threshold must be ≥ 0")
        }
        if let maxLoops, maxLoops < 1 { throw ValidationError("--max-loops must be ≥ 1") }
    }

    var rule: ExitRule? { exitThreshold.map { ExitRule(criterion: exitCriterion, threshold: $0) } }
}

extension ExitRule.Criterion: ExpressibleByArgument {}

/// Prints a JSON object on one line (keys sorted) for `--json`.
/// Non-finite numbers, which JSON cannot hold, are written as null.
func printJSON(_ object: [String: Any]) throws {
    let object = object.mapValues { value -> Any in
        if let number = value as? Double, !number.isFinite { return NSNull() }
        return value
    }
    let data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
    print(String(decoding: data, as: UTF8.self))
}

/// Writes to standard error (progress and warnings, so stdout stays machine-readable).
func printError(_ message: String) {
    FileHandle.standardError.write((message + "\n").data(using: .utf8)!)
}
