import ArgumentParser
import Foundation
import LoopCheckpoint
import LoopKernels
import LoopModel
import LoopMPI
import LoopTraining

@main
struct LoopLMCommand: ParsableCommand {
    static let version = "0.3.0" + (Distributed.available ? " (MPI)" : "")

    static let configuration = CommandConfiguration(
        commandName: "looplm",
        abstract: "Train and study looped GPT-2 language models (Ng & Wang, arXiv 2409.14199).",
        version: version,
        subcommands: [PrepareCommand.self, TokenizeCommand.self, TrainCommand.self, EvalCommand.self, SampleCommand.self,
                      InfoCommand.self, BenchCommand.self, ServeCommand.self, ImportHFCommand.self, ExportHFCommand.self,
                      ExperimentCommand.self])

    /// Runs the command and exits by one rule (sysexits): 64 (EX_USAGE) when the flags are
    /// wrong, 1 when a file or the data is, 0 on success.
    static func main() {
        var command: any ParsableCommand
        do { command = try parseAsRoot() } catch { exit(withError: error) }
        do { try command.run() } catch {
            guard let usage = usageError(error) ?? (error as? ValidationError) else { exit(withError: error) }
            let name = type(of: command).configuration.commandName.map { "looplm " + $0 } ?? "looplm"
            printError("Error: \(usage.message)\nSee '\(name) --help'.")
            Foundation.exit(ExitCode.validationFailure.rawValue)
        }
    }

    /// The library's errors about values that came from flags, as usage errors.
    static func usageError(_ error: any Error) -> ValidationError? {
        switch error {
        case let error as ConfigurationError: return ValidationError(error.description)
        case let problem as TrainingOptions.Problem: return ValidationError("\(problem.field.flag) \(problem.requirement)")
        case TrainingError.invalidOption(let problem): return ValidationError("\(problem.field.flag) \(problem.requirement)")
        default: return nil
        }
    }
}

/// Options every compute-heavy command shares.
struct ComputeOptions: ParsableArguments {
    @Option(parsing: .unconditional, help: "Threads for the kernels (each matrix product is split over them).")
    var threads: Int = 2

    @Option(help: "Matrix-product kernel: auto (the faster one on this CPU), openblas (the BLAS library linked: \(SGEMMKernel.blasLibrary) here), or avx2 (LoopLM's own, AVX2+FMA).")
    var sgemm: SGEMMChoice = .auto

    enum SGEMMChoice: String, ExpressibleByArgument, CaseIterable {
        case auto, openblas, avx2

        var kernel: SGEMMKernel {
            switch self {
            case .auto: return .preferred
            case .openblas: return .openBLAS
            case .avx2: return .avx2
            }
        }
    }

    func validate() throws {
        guard (1...Self.maximumThreads).contains(threads) else {
            throw ValidationError("--threads must be in 1...\(Self.maximumThreads)")
        }
        guard sgemm.kernel.isSupported else {
            throw ValidationError("--sgemm \(sgemm.rawValue) needs a CPU with AVX2 and FMA; this one is \(CPU.description)")
        }
    }

    static let maximumThreads = 1024

    var workers: Workers { Workers(threads: threads, sgemm: sgemm.kernel) }
}

/// `--loops`: run the looped blocks another number of times than trained (same weights).
struct LoopsOption: ParsableArguments {
    @Option(parsing: .unconditional, help: "Run the looped blocks this many times instead of the trained count.")
    var loops: Int?

    func validate() throws {
        if let loops, !(1...ModelConfiguration.Limit.loops).contains(loops) {
            throw ValidationError("--loops must be in 1...\(ModelConfiguration.Limit.loops)")
        }
    }
}

/// When each token stops looping: `--exit` (fixed, change:τ, kl:τ, gate:q) and `--max-loops`,
/// the cap of every rule.
struct ExitOptions: ParsableArguments {
    @Option(help: "When a token stops looping: fixed (the default), change:τ (relative change of its state under τ), kl:τ (KL between successive predictions under τ) or gate:q (the learned exit gate's cumulative probability reaches q; needs a model trained with one).")
    var exit: ExitRule = .fixed
    @Option(parsing: .unconditional, help: "The most loop passes a token may run, under every rule (default: --loops or the trained count; twice the trained count for change and kl).")
    var maxLoops: Int?

    func validate() throws {
        if let maxLoops, !(1...ModelConfiguration.Limit.loops).contains(maxLoops) {
            throw ValidationError("--max-loops must be in 1...\(ModelConfiguration.Limit.loops)")
        }
    }

    /// The loop passes a token may run: `--max-loops`, else `--loops`, else the rule's default.
    func cap(loops: Int?, trained: Int) throws -> Int {
        if let maxLoops, let loops, maxLoops != loops {
            throw ValidationError("--loops \(loops) and --max-loops \(maxLoops) disagree; give one")
        }
        switch exit {
        case .change, .kl: return maxLoops ?? loops ?? 2 * trained
        case .fixed, .gate: return maxLoops ?? loops ?? trained
        }
    }

    /// Refuses the gate rule on a model without a gate, in one sentence.
    func check(_ model: LanguageModel, path: String) throws {
        if case .gate = exit, model.weights.exitGate == nil {
            throw ValidationError("--exit \(exit) needs an exit gate, and \(path) has none; train one with --loop-loss gate or --train-gate-only, or use change:τ or kl:τ")
        }
    }

    /// Said once when no token exited early: the rule never fired, so adaptive exit cost the
    /// whole cap (a model trained at a fixed loop count seldom converges enough to exit).
    static func noteIfNoneExited(meanLoops: Double, maxLoops: Int, rule: ExitRule) {
        guard rule.canExitEarly, meanLoops >= Double(maxLoops) else { return }
        printError("note: every token ran all \(maxLoops) passes: the exit rule never fired, so this cost as much as fixed looping at the cap. A model trained at a fixed loop count rarely settles enough to exit; train with --loops-sample or --loop-loss gate, or use a looser setting")
    }
}

extension ExitRule: ExpressibleByArgument {}

/// `--weights`: the precision inference stores the block matrices and head in.
struct PrecisionOption: ParsableArguments {
    @Option(help: "Weights for inference: f32 (read in place from the file), bf16 or int8 (converted at load).")
    var weights: WeightPrecision = .float32
}

extension WeightPrecision: ExpressibleByArgument {}

/// Prints a value as one line of JSON, keys sorted (for `--json`).
func printJSON<T: Encodable>(_ value: T) throws {
    print(String(decoding: try JSONFormat.encoder().encode(value), as: UTF8.self))
}

/// Writes to standard error (progress and warnings, so stdout stays machine-readable).
func printError(_ message: String) {
    FileHandle.standardError.write(Data((message + "\n").utf8))
}

/// A problem with a file or data the user gave (exit status 1). Problems with the flags
/// themselves are `ValidationError`s (exit status 64, EX_USAGE).
struct CommandError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// The bytes of a file the user names (prompts, text to evaluate): a missing file, a folder,
/// a device or a file past `maximumBytes` is a `CommandError` naming it.
func readInputFile(_ path: String, maximumBytes: Int) throws -> Data {
    var isFolder: ObjCBool = false
    guard FileManager.default.fileExists(atPath: path, isDirectory: &isFolder) else {
        throw CommandError("\(path): no such file")
    }
    if isFolder.boolValue { throw CommandError("\(path) is a folder, not a file") }
    if let kind = MappedFile.nonRegularKind(path) { throw CommandError("\(path) is \(kind), not a regular file") }
    // A size that cannot be read is checked by reading the file itself.
    let size = (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? 0
    guard size <= maximumBytes else {
        throw CommandError("\(path) is \(size) bytes; at most \(maximumBytes) are read")
    }
    guard let data = FileManager.default.contents(atPath: path) else { throw CommandError("\(path): cannot be read") }
    return data
}

/// Writes a file the user asked for (a plot, a table) atomically; a missing folder or a
/// folder at the path is named instead of a Foundation error.
func writeOutputFile(_ path: String, _ data: Data) throws {
    try checkOutputFile(path)
    try AtomicFiles.write(to: path) { (sink) throws(CheckpointError) in try sink.write(data) }
}

/// Fails early, before any work, when `path` cannot be written as a file.
func checkOutputFile(_ path: String) throws {
    let parent = (path as NSString).deletingLastPathComponent
    var isFolder: ObjCBool = false
    if !parent.isEmpty && !(FileManager.default.fileExists(atPath: parent, isDirectory: &isFolder) && isFolder.boolValue) {
        throw CommandError("cannot write \(path): \(parent) is not a folder that exists")
    }
    if FileManager.default.fileExists(atPath: path, isDirectory: &isFolder), isFolder.boolValue {
        throw CommandError("cannot write \(path): it is a folder")
    }
}

/// `--context T`: tokens per sequence. `--time` is kept as a hidden alias (the name it had in
/// `info` and `bench`).
struct ContextOption: ParsableArguments {
    @Option(parsing: .unconditional, help: "Tokens per sequence, T (default: the model's context).")
    var context: Int?
    @Option(name: .customLong("time"), parsing: .unconditional, help: .hidden)
    var time: Int?

    var value: Int? { context ?? time }

    func validate() throws {
        if context != nil && time != nil { throw ValidationError("--time is another name for --context; give one") }
        if let value, !(1...ModelConfiguration.Limit.contextLength).contains(value) {
            throw ValidationError("--context must be in 1...\(ModelConfiguration.Limit.contextLength)")
        }
    }
}

/// "1 thread", "2 threads".
func counted(_ count: Int, _ noun: String) -> String { "\(count) \(noun)\(count == 1 ? "" : "s")" }
