import LoopModel

/// The suites `looplm experiment` runs.
public enum SuiteName: String, CaseIterable, Sendable {
    case paper, paperSmall = "paper-small", quick, testTime = "test-time", mini, miniTestTime = "mini-test-time"
    case shakespeareDepth = "shakespeare-depth", miniDepth = "mini-depth"
    case depth, miniFrontier = "mini-frontier"
    case reasoning, miniReasoning = "mini-reasoning"

    /// Whether the suite trains on token files only (`--data` required).
    public var trainsOnTokenFiles: Bool {
        switch self {
        case .reasoning, .miniReasoning, .depth, .miniFrontier: false
        default: true
        }
    }

    /// Whether `--data` is accepted: the token-file suites, and the learned-depth suite (whose
    /// language task otherwise reads the cached Shakespeare corpus).
    public var acceptsData: Bool { trainsOnTokenFiles || self == .depth || self == .miniFrontier }
}

/// One run of a suite: everything that decides its result. Saved as `run.json` in the run's
/// folder when it starts, so a later command asking for something else (more steps, another
/// learning rate) is refused instead of being answered with this run's results.
public struct PlannedRun: Codable, Equatable, Sendable {
    /// The run's folder: OUT/runs/NAME.
    public let name: String
    public let model: String
    public let task: String?
    public let seed: UInt64
    public let config: ModelConfiguration
    /// The options of a single process (the runner multiplies micro-batches over processes).
    public let options: TrainingOptions
    public let vocabulary: Vocabulary
    /// The evaluation after training, described (batches, loop counts, thresholds…).
    public let evaluation: String
    /// A run of the same suite whose final weights this one starts from (nil: a fresh model).
    public let initialisedFrom: String?

    public init(
        name: String, model: String, task: String?, seed: UInt64, config: ModelConfiguration, options: TrainingOptions,
        vocabulary: Vocabulary, evaluation: String, initialisedFrom: String? = nil
    ) {
        self.initialisedFrom = initialisedFrom
        self.name = name
        self.model = model
        self.task = task
        self.seed = seed
        self.config = config
        self.options = options
        self.vocabulary = vocabulary
        self.evaluation = evaluation
    }
}

/// A trained run handed to its suite for evaluation.
public struct TrainedRun {
    public let plan: PlannedRun
    public let session: TrainingSession
    public let summary: RunSummary
    /// FLOPs of the steps actually run (each at its own loop count, for elastic depth).
    public let trainingFlops: Double
}

/// A kind of suite: its runs, their data, how each is evaluated and how the results are
/// reported. `SuiteRunner` does the rest (resuming, sharing runs between processes, refusing
/// stale runs) the same way for every kind.
public protocol SuitePlan {
    associatedtype Result: Codable & Sendable
    var name: String { get }
    var summary: String { get }
    /// Every run for `seeds` seeds, in the order they are trained.
    func runs(seeds: Int) throws -> [PlannedRun]
    /// The batches a run trains and validates on.
    func data(for run: PlannedRun) -> (ModelConfiguration, TrainingOptions) throws -> TrainingData
    /// What the trained model measures (called on every rank; `message` prints on rank 0).
    func evaluate(_ trained: TrainedRun, communicator: any Communicator, message: (String) -> Void) throws -> Result
    /// Writes the table, CSV, results.json and plots of the finished runs.
    func writeReport(_ results: [Result], to directory: String) throws
}
