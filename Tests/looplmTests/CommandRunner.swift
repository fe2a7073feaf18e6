import Foundation

/// Runs the real `looplm` binary built beside the test bundle.
struct CommandResult {
    let status: Int32
    let stdout: String
    let stderr: String
}

enum Looplm {
    /// The binary built beside this test bundle: the one just built, never one on PATH.
    static let binary: String = {
        let bundle = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
        var directory = bundle.deletingLastPathComponent()
        for _ in 0..<3 {
            let candidate = directory.appendingPathComponent("looplm").path
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
            directory = directory.deletingLastPathComponent()
        }
        preconditionFailure("no looplm binary beside \(bundle.path); build it with the tests (scripts/test.sh does)")
    }()

    @discardableResult
    static func run(_ arguments: [String], signalAfter: (() -> Bool)? = nil) throws -> CommandResult {
        try spawn([binary] + arguments + ["--threads", "1"].filter { _ in takesThreads(arguments) }, signalAfter: signalAfter)
    }

    /// Runs a command line through `posix_spawn` (Foundation's `Process` closes descriptors
    /// racily when tests run in parallel); with `signalAfter`, sends SIGINT once it says so.
    static func spawn(_ command: [String], signalAfter: (() -> Bool)? = nil) throws -> CommandResult {
        try CleanSpawn.run(command, signalAfter: signalAfter)
    }

    /// Process ids of running looplm processes whose command line mentions `text`.
    static func processes(matching text: String) -> [Int32] {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        return entries.compactMap(Int32.init).filter { pid in
            guard let line = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline") else { return false }
            let arguments = String(decoding: line, as: UTF8.self)
            return arguments.hasPrefix(binary) && arguments.contains(text)
        }.sorted()
    }

    /// Runs `looplm` through /bin/sh, so arguments can hold bytes Swift strings cannot (the
    /// script's `$(printf …)` makes them); the script finds the binary in `$LOOPLM`.
    static func runShell(_ script: String) throws -> CommandResult {
        try CleanSpawn.run(["/bin/sh", "-c", script], environment: ["LOOPLM": binary])
    }

    static func takesThreads(_ arguments: [String]) -> Bool {
        guard let command = arguments.first else { return false }
        return ["train", "eval", "sample", "bench"].contains(command) && !arguments.contains("--threads")
    }
}

func temporaryDirectory(_ name: String) -> String {
    let path = NSTemporaryDirectory() + "looplm-\(name)-\(UUID().uuidString)"
    try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
}

/// A small corpus: a few kilobytes of verse-like text in two "plays".
func writeCorpus(in directory: String) throws -> String {
    let corpus = directory + "/corpus"
    try FileManager.default.createDirectory(atPath: corpus, withIntermediateDirectories: true)
    let words = ["the", "king", "shall", "speak", "of", "love", "and", "night", "my", "lord", "sweet", "fair"]
    var state: UInt64 = 42
    func nextWord() -> String {
        state = state &* 6364136223846793005 &+ 1442695040888963407
        return words[Int(state >> 33) % words.count]
    }
    for (name, lines) in [("comedy_gut.txt", 300), ("tempest_gut.txt", 60)] {
        var text = ""
        for _ in 0..<lines { text += (0..<8).map { _ in nextWord() }.joined(separator: " ") + ".\n" }
        try text.write(toFile: corpus + "/" + name, atomically: true, encoding: .utf8)
    }
    return corpus
}

/// `train` of the tiny looped preset for a few steps, validating and checkpointing often: the
/// run the data-parallel tests (MPI ranks, replicas) compare with one process.
func tinyTraining(data: String, out: String, steps: Int) -> [String] {
    ["train", "--data", data, "--out", out, "--preset", "tiny-loop", "--steps", "\(steps)", "--batch", "2",
     "--context", "32", "--eval-interval", "3", "--eval-batches", "3", "--checkpoint-interval", "2", "--json"]
}

/// The training losses a run's metrics.jsonl records, step by step.
func trainLosses(_ out: String) throws -> [Double] {
    try String(contentsOfFile: out + "/metrics.jsonl", encoding: .utf8).split(separator: "\n")
        .compactMap { json(String($0))["train_loss"] as? Double }
}

func contents(_ path: String) -> Data? { FileManager.default.contents(atPath: path) }

func json(_ text: String) -> [String: Any] {
    let line = text.split(separator: "\n").last.map(String.init) ?? ""
    return (try? JSONSerialization.jsonObject(with: Data(line.utf8))) as? [String: Any] ?? [:]
}

/// The small corpus prepared into `root/data` (train.bin and val.bin, bytes; "tempest" held out).
func preparedCorpus(in root: String) throws -> String {
    let corpus = try writeCorpus(in: root)
    let result = try Looplm.run(["prepare", corpus, "--output", root + "/data", "--validation", "tempest"])
    guard result.status == 0 else { throw CocoaError(.fileWriteUnknown, userInfo: [NSLocalizedDescriptionKey: result.stderr]) }
    return root + "/data"
}
