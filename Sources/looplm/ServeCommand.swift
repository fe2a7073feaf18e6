import ArgumentParser
import Dispatch
import Foundation
import LoopModel
import LoopServing

struct ServeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve", abstract: "Serve a checkpoint over an OpenAI-compatible HTTP API, with continuous batching.",
        discussion: """
            Routes: GET /v1/models, POST /v1/completions (prompt, max_tokens, temperature, top_p, seed, \
            stop, stream, echo; and LoopLM's loops and exit, the rules of `sample --exit`), GET /health. \
            Requests share one batch: each new one is prefilled and joins at the next step, each \
            finished one frees its slot at once, and each runs its own loop count and exit rule. \
            Up to 16 slots, every request gets the numbers it would get alone: greedy output equals \
            `looplm sample --temperature 0`, seeded output `sample --seed`. A prompt longer than the \
            context keeps its last tokens (the sliding window of `sample`). One log line per request \
            goes to standard error. SIGINT or SIGTERM ends requests in flight and exits 0.
            """)

    @Argument(help: "Checkpoint directory (or a run folder: its latest checkpoint).")
    var checkpoint: String
    @Option(help: "Address to listen on (127.0.0.1: this machine only).")
    var host = "127.0.0.1"
    @Option(parsing: .unconditional, help: "Port to listen on (0: one the system picks, printed at start).")
    var port = 8080
    @Option(parsing: .unconditional, help: "Sequences decoded together (each prompt of a request takes one).")
    var slots = 8
    @Option(parsing: .unconditional, help: "Sequences that may wait for a slot; past it requests get 429.")
    var queue = 64
    @Option(parsing: .unconditional, help: "The most loop passes a request may ask for (default: the trained count).")
    var maxLoops: Int?
    @Option(help: "The model id clients name (default: the checkpoint folder's name).")
    var name: String?
    @OptionGroup var precision: PrecisionOption
    @OptionGroup var compute: ComputeOptions

    static let maximumSlots = 256

    func validate() throws {
        guard (0...65535).contains(port) else { throw ValidationError("--port must be in 0...65535") }
        guard (1...Self.maximumSlots).contains(slots) else { throw ValidationError("--slots must be in 1...\(Self.maximumSlots)") }
        guard (0...1_000_000).contains(queue) else { throw ValidationError("--queue must be in 0...1000000") }
        if let maxLoops, !(1...ModelConfiguration.Limit.loops).contains(maxLoops) {
            throw ValidationError("--max-loops must be in 1...\(ModelConfiguration.Limit.loops)")
        }
        if let name, name.isEmpty { throw ValidationError("--name cannot be empty") }
    }

    func run() throws {
        let loaded = try LoadedCheckpoint(path: checkpoint, precision: precision.weights, workers: compute.workers)
        let config = loaded.model.config
        let loops = maxLoops ?? config.layout.loops
        try loaded.requireDecoder(slots: slots, loops: loops)
        let id = name ?? Self.modelID(checkpoint)
        let served = ServedModel(id: id, tokenizer: loaded.tokenizer, vocabSize: config.vocabSize,
                                 contextLength: config.contextLength, trainedLoops: config.layout.loops, maxLoops: loops,
                                 hasExitGate: loaded.model.weights.exitGate != nil)
        let scheduler = try BatchScheduler(model: loaded.model, served: served,
                                           limits: .init(slots: slots, queue: queue)) { line in printError(line) }
        scheduler.start()
        let stop = DispatchSemaphore(value: 0)
        var sources: [any DispatchSourceSignal] = []
        for number in [SIGINT, SIGTERM] {
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
            source.setEventHandler { stop.signal() }
            source.resume()
            sources.append(source)
        }
        let server: CompletionServer
        do {
            server = try CompletionServer(scheduler: scheduler, host: host, port: port)
        } catch {
            scheduler.stop(timeout: 1)
            throw CommandError("cannot listen on \(host):\(port): \(error)")
        }
        let banner = "looplm serve: \(id) (\(config.layout.summary), \(precision.weights.rawValue) weights, \(slots) slots, up to \(loops) loops) at http://\(host):\(server.port)\n"
        FileHandle.standardOutput.write(Data(banner.utf8))
        stop.wait()
        printError("looplm serve: stopping")
        for problem in server.shutdown() { printError("note: while stopping, \(problem)") }
        for source in sources { source.cancel() }
        printError("looplm serve: stopped")
    }

    /// The checkpoint folder's name, or its run's name for `run/latest` and `run/best`.
    static func modelID(_ path: String) -> String {
        let parts = path.split(separator: "/").map(String.init)
        guard let last = parts.last else { return "looplm" }
        if ["latest", "best"].contains(last), parts.count > 1 { return parts[parts.count - 2] }
        return last
    }
}
