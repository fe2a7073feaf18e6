import Foundation
import LoopCheckpoint
import LoopKernels
import LoopModel

/// The part of a run that is not the model, saved as `training_state.safetensors` beside it:
/// Adam moments as tensors, the rest as metadata. Everything read back is checked, so a
/// damaged or edited file is a typed error, never a trap or a silent change of the run.
public struct TrainingState: Sendable, Equatable {
    public static let fileName = "training_state.safetensors"
    static let format = "looplm-training-state"
    public let step: Int
    public let generator: SeededGenerator
    public let bestValidationLoss: Double?
    public let options: TrainingOptions
    /// Processes of the job that saved it (1 without MPI).
    public let ranks: Int
    /// Kernel threads per process: matrix products split over another count round differently,
    /// so a run resumed with other threads continues correctly but not bit for bit.
    public let threads: Int?
    /// The matrix-product kernel: another one rounds differently in the same way.
    public let sgemm: SGEMMKernel?

    public init(
        step: Int, generator: SeededGenerator, bestValidationLoss: Double?, options: TrainingOptions, ranks: Int,
        threads: Int?, sgemm: SGEMMKernel?
    ) {
        self.threads = threads
        self.sgemm = sgemm
        self.step = step
        self.generator = generator
        self.bestValidationLoss = bestValidationLoss
        self.options = options
        self.ranks = ranks
    }

    /// 2: options in snake_case with every key present (null when off). States without a
    /// version (written before) have camelCase options that leave out the keys that are off.
    /// 3: the loop objective (`loop_objective`), which version 2 states do not have.
    static let version = 3
    /// Option keys added by each version, which older states may lack.
    static let keysAddedAfter: [Int: Set<String>] = [2: ["loop_objective"]]
    /// The metadata keys a state may hold; any other is refused.
    static let metadataKeys: Set<String> = ["format", "version", "step", "generator", "options", "ranks", "threads",
                                            "sgemm", "best_validation_loss"]

    /// The same state with other options (a resumed run's allowed changes).
    func with(options: TrainingOptions) -> TrainingState {
        TrainingState(step: step, generator: generator, bestValidationLoss: bestValidationLoss, options: options,
                      ranks: ranks, threads: threads, sgemm: sgemm)
    }

    func write(optimizer: AdamW, to path: String) throws(CheckpointError) {
        let optionsJSON: String
        do { optionsJSON = String(decoding: try JSONFormat.encoder().encode(options), as: UTF8.self) } catch {
            throw .writeFailed(path, detail: "cannot encode the training options: \(error)")
        }
        var metadata = ["format": Self.format, "version": String(Self.version), "step": String(step),
                        "generator": generator.state.map(String.init).joined(separator: ","),
                        "options": optionsJSON, "ranks": String(ranks)]
        if let threads { metadata["threads"] = String(threads) }
        if let sgemm { metadata["sgemm"] = sgemm.rawValue }
        if let bestValidationLoss { metadata["best_validation_loss"] = String(bestValidationLoss) }
        var writer = SafeTensorsWriter(metadata: metadata)
        writer.add(AdamW.firstMomentName, shape: [optimizer.firstMoment.count], floats: optimizer.firstMoment.pointer)
        writer.add(AdamW.secondMomentName, shape: [optimizer.secondMoment.count], floats: optimizer.secondMoment.pointer)
        try writer.write(to: path)
    }

    /// Reads and checks the state saved in `directory` for a model of context `contextLength`.
    /// The options must hold every key, no unknown one, and values `--resume` could have been
    /// given as flags.
    public static func read(directory: String, contextLength: Int) throws -> (TrainingState, SafeTensorsFile) {
        let path = directory + "/" + fileName
        let file = try SafeTensorsFile(path: path)
        let meta = file.metadata
        func bad(_ detail: String) -> TrainingError { .resume("\(path): \(detail); cannot resume from it") }
        guard meta["format"] == format else { throw bad("not a LoopLM training state") }
        if let unknown = meta.keys.sorted().first(where: { !metadataKeys.contains($0) }) {
            throw bad("unknown metadata key '\(unknown)'")
        }
        let version: Int
        switch meta["version"] {
        case nil: version = 1
        case let text?:
            guard let number = Int(text), (1...Self.version).contains(number) else {
                throw bad("version \(text) is not one this LoopLM reads (1...\(Self.version)); upgrade looplm")
            }
            version = number
        }
        guard let stepText = meta["step"] else { throw bad("the step is missing") }
        guard let step = Int(stepText) else { throw bad("the step '\(stepText.prefix(40))' is not an integer LoopLM can count to") }
        guard step >= 0 else { throw bad("the step \(step) is negative") }
        guard let words = meta["generator"]?.split(separator: ",", omittingEmptySubsequences: false).map({ UInt64($0) }),
            words.allSatisfy({ $0 != nil }), let generator = SeededGenerator(state: words.compactMap { $0 })
        else { throw bad("the generator state is not four words, not all zero") }
        guard let optionsData = meta["options"]?.data(using: .utf8) else { throw bad("the training options are missing") }
        let options: TrainingOptions
        do {
            options = version == 1
                ? try StrictJSON.decodeExactly(TrainingOptions.self, from: optionsData, decoder: JSONDecoder(),
                                               encoder: JSONEncoder(), allowMissing: .any)
                : try StrictJSON.decodeExactly(TrainingOptions.self, from: optionsData,
                                               allowMissing: .these(keysAddedAfter[version] ?? []))
        } catch {
            throw bad("the training options do not parse (\(JSONFormat.describe(error)))")
        }
        do { try options.validate(contextLength: contextLength) } catch { throw bad("its options are invalid (\(error))") }
        guard step <= options.schedule.totalSteps else { throw bad("step \(step) is past the run's \(options.schedule.totalSteps) steps") }
        var best: Double?
        if let text = meta["best_validation_loss"] {
            guard let value = Double(text), value.isFinite, value >= 0 else { throw bad("the best validation loss is not a finite number") }
            best = value
        }
        let ranks = meta["ranks"].map { Int($0) ?? 0 } ?? 1
        guard ranks >= 1 else { throw bad("the process count is not a positive number") }
        let threads = meta["threads"].map { Int($0) ?? 0 }
        guard (threads ?? 1) >= 1 else { throw bad("the thread count is not a positive number") }
        var sgemm: SGEMMKernel?
        if let name = meta["sgemm"] {
            guard let kernel = SGEMMKernel(rawValue: name) else { throw bad("the sgemm kernel is not one LoopLM knows") }
            sgemm = kernel
        }
        return (TrainingState(step: step, generator: generator, bestValidationLoss: best, options: options, ranks: ranks,
                              threads: threads, sgemm: sgemm), file)
    }
}
