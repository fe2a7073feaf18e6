import Dispatch
import Foundation
import LoopKernels
import LoopModel
import LoopTokenizer

/// Continuous batching: one thread owns an `IncrementalDecoder` with a cache slot per running
/// sequence. Each step it drops the sequences of requests whose clients left, admits waiting
/// requests into free slots (each prompt prefilled alone, as `sample` prefills it), then
/// decodes one token for every running sequence in one batched pass, each under its own loop
/// cap and exit rule. A finished sequence frees its slot at once; requests beyond the slots
/// wait in a bounded queue.
///
/// With at most `Linear.vectorRows` (16) sequences decoding together, every sequence's numbers
/// are bit for bit those it gets alone (see `DecodeProducts`): greedy output equals `looplm
/// sample --temperature 0`, and seeded sampling equals `sample --seed`, whatever else runs.
public final class BatchScheduler: @unchecked Sendable {  // shared state only under `condition`
    public struct Limits: Sendable {
        public var slots: Int
        /// Sequences that may wait for a slot; past it requests are refused with 429.
        public var queue: Int

        public init(slots: Int, queue: Int) {
            self.slots = slots
            self.queue = queue
        }
    }

    public let served: ServedModel
    public let limits: Limits
    private let model: LanguageModel
    private let decoder: IncrementalDecoder
    private let log: @Sendable (String) -> Void

    // Shared between the callers of `submit` and the scheduler thread.
    private let condition = NSCondition()
    private var waiting: [ActiveRequest] = []
    private var waitingSequences = 0
    private var runningSequences = 0
    private var stopping = false
    private var nextID = 0
    private let finished = DispatchSemaphore(value: 0)

    // The scheduler thread's own.
    private var running: [SequenceRun] = []
    private var freeSlots: [Int]

    public init(model: LanguageModel, served: ServedModel, limits: Limits,
                log: @escaping @Sendable (String) -> Void) throws(MemoryError) {
        self.model = model
        self.served = served
        self.limits = limits
        self.log = log
        decoder = try IncrementalDecoder(model: model, slots: limits.slots, loops: served.maxLoops)
        freeSlots = Array((0..<limits.slots).reversed())
    }

    /// Starts the scheduler's thread (a large stack: kernels keep scratch on it).
    public func start() {
        let thread = Thread { [self] in
            loop()
            finished.signal()
        }
        thread.stackSize = 16 << 20
        thread.name = "looplm-scheduler"
        thread.start()
    }

    /// Queues a checked request; `events` hears of it from the scheduler's thread.
    public func submit(_ job: CompletionJob, events: @escaping @Sendable (CompletionEvent) -> Void) throws(ServingError) -> CompletionTicket {
        guard job.sequences <= limits.slots else {
            throw .invalid("prompt", "at most \(limits.slots) prompts per request (the server's --slots)")
        }
        condition.lock()
        defer { condition.unlock() }
        guard !stopping else { throw .shuttingDown }
        guard waitingSequences + job.sequences <= limits.queue || (waiting.isEmpty && runningSequences + job.sequences <= limits.slots) else {
            throw .queueFull(waiting: waitingSequences)
        }
        nextID += 1
        let ticket = CompletionTicket(id: "cmpl-\(nextID)", choices: job.sequences)
        waiting.append(ActiveRequest(job: job, ticket: ticket, events: events))
        waitingSequences += job.sequences
        condition.signal()
        return ticket
    }

    /// Sequences running and waiting now.
    public var load: (running: Int, waiting: Int) {
        condition.lock()
        defer { condition.unlock() }
        return (runningSequences, waitingSequences)
    }

    /// Stops taking requests, ends those in flight with a 503 (within one step), and waits
    /// up to `timeout` seconds for the thread to finish.
    public func stop(timeout: Double) {
        condition.lock()
        stopping = true
        condition.signal()
        condition.unlock()
        _ = finished.wait(timeout: .now() + timeout)
    }

    // MARK: - The scheduler's thread

    private func loop() {
        while true {
            condition.lock()
            while waiting.isEmpty && running.isEmpty && !stopping { condition.wait() }
            if stopping {
                let left = waiting
                waiting = []
                waitingSequences = 0
                condition.unlock()
                for request in left + Self.requests(of: running) where !request.ticket.isCancelled {
                    request.events(.failed(.shuttingDown))
                }
                running = []
                return
            }
            dropCancelled()
            var admitted: [ActiveRequest] = []
            while let first = waiting.first, first.ticket.isCancelled || first.job.sequences <= freeSlots.count - admitted.reduce(0, { $0 + $1.job.sequences }) {
                waiting.removeFirst()
                waitingSequences -= first.job.sequences
                if first.ticket.isCancelled {
                    log("\(first.ticket.id): cancelled, the client left while it waited for a slot")
                } else {
                    admitted.append(first)
                }
            }
            runningSequences = running.count + admitted.reduce(0) { $0 + $1.job.sequences }
            condition.unlock()
            for request in admitted { admit(request) }
            decodeStep()
            condition.lock()
            runningSequences = running.count
            condition.unlock()
        }
    }

    /// Frees the slots of requests whose clients left.
    private func dropCancelled() {
        let gone = running.filter { $0.request.ticket.isCancelled }
        guard !gone.isEmpty else { return }
        for run in gone { release(run) }
        for request in Self.requests(of: gone) where !request.failed {
            let tokens = gone.filter { $0.request === request }.reduce(0) { $0 + $1.generated }
            log("\(request.ticket.id): cancelled, the client left after \(tokens) new tokens; its slots are free")
        }
    }

    /// Gives each prompt of `request` a slot and prefills it alone.
    private func admit(_ request: ActiveRequest) {
        let job = request.job
        for (choice, prompt) in job.prompts.enumerated() {
            let run = SequenceRun(request: request, choice: choice, slot: freeSlots.removeLast(),
                                  window: Array(prompt.suffix(served.contextLength)), seed: job.seed &+ UInt64(choice))
            if job.stream && job.echo {
                request.events(.text(choice: choice, String(decoding: job.promptBytes[choice], as: UTF8.self)))
            }
            guard job.maxTokens > 0 else {
                finish(run, reason: "length")
                continue
            }
            running.append(run)
            feedAlone(run, tokens: run.window)
        }
    }

    /// One new token for every running sequence: those whose window slid are refilled alone,
    /// the rest decode together in one pass.
    private func decodeStep() {
        let sliding = running.filter { $0.refill }
        let together = running.filter { !$0.refill && $0.next != nil }
        for run in sliding { feedAlone(run, tokens: run.window) }
        guard !together.isEmpty else { return }
        let inputs = together.map {
            SlotInput(slot: $0.slot, tokens: [$0.next!], exit: $0.request.job.exit, loops: $0.request.job.loops)
        }
        do {
            try decoder.append(inputs)
        } catch {
            fail(together, error)
            return
        }
        for (i, run) in together.enumerated() {
            run.loopsUsed += decoder.loopsPerRow[i]
            run.rowsRun += 1
            take(run, logits: decoder.logits(i))
        }
    }

    /// Resets the sequence's slot and runs `tokens` through it alone (a prompt, or a slid window).
    private func feedAlone(_ run: SequenceRun, tokens: [Int32]) {
        let job = run.request.job
        decoder.cache.reset(slot: run.slot)
        do {
            try decoder.append([SlotInput(slot: run.slot, tokens: tokens, exit: job.exit, loops: job.loops)])
        } catch {
            fail([run], error)
            return
        }
        run.loopsUsed += decoder.loopsPerRow.reduce(0, +)
        run.rowsRun += tokens.count
        run.refill = false
        take(run, logits: decoder.logits(0))
    }

    /// Samples the sequence's next token and decides what follows: more tokens, or its end.
    private func take(_ run: SequenceRun, logits: UnsafeBufferPointer<Float>) {
        let job = run.request.job
        let token = run.sampler.sample(logits)
        run.generated += 1
        let text = run.assembler.append(served.tokenizer.decodeBytes([token]))
        if job.stream && !text.isEmpty { run.request.events(.text(choice: run.choice, text)) }
        if run.assembler.stoppedAt != nil {
            finish(run, reason: "stop")
        } else if run.generated == job.maxTokens {
            finish(run, reason: "length")
        } else {
            run.window.append(Int32(token))
            if run.window.count > served.contextLength {
                run.window.removeFirst()
                run.refill = true
                run.next = nil
            } else {
                run.next = Int32(token)
            }
        }
    }

    private func finish(_ run: SequenceRun, reason: String) {
        let request = run.request, job = request.job
        let rest = run.assembler.finish()
        if job.stream && !rest.isEmpty { request.events(.text(choice: run.choice, rest)) }
        let prompt = job.echo ? String(decoding: job.promptBytes[run.choice], as: UTF8.self) : ""
        let result = ChoiceResult(choice: run.choice, text: prompt + run.assembler.text, finishReason: reason,
                                  promptTokens: job.prompts[run.choice].count, completionTokens: run.generated,
                                  meanLoops: run.rowsRun > 0 ? Double(run.loopsUsed) / Double(run.rowsRun) : 0)
        release(run)
        request.loopsUsed += run.loopsUsed
        request.rowsRun += run.rowsRun
        request.results.append(result)
        request.events(.finished(result))
        if request.results.count == job.sequences { log(request.summary()) }
    }

    private func fail(_ runs: [SequenceRun], _ error: ModelError) {
        for run in runs { release(run) }
        for request in Self.requests(of: runs) {
            for other in running where other.request === request { release(other) }
            request.events(.failed(.internalFailure("the model failed on this request: \(error)")))
            request.failed = true
            request.ticket.cancel()
        }
    }

    /// The distinct requests of some sequences, in order.
    private static func requests(of runs: [SequenceRun]) -> [ActiveRequest] {
        var seen = Set<ObjectIdentifier>(), requests: [ActiveRequest] = []
        for run in runs where seen.insert(ObjectIdentifier(run.request)).inserted { requests.append(run.request) }
        return requests
    }

    private func release(_ run: SequenceRun) {
        if let index = running.firstIndex(where: { $0 === run }) {
            running.remove(at: index)
        }
        if !run.released {
            freeSlots.append(run.slot)
            run.released = true
        }
    }
}

/// A request being served (the scheduler thread's own).
final class ActiveRequest {
    let job: CompletionJob
    let ticket: CompletionTicket
    let events: @Sendable (CompletionEvent) -> Void
    let start = DispatchTime.now().uptimeNanoseconds
    var results: [ChoiceResult] = []
    var loopsUsed = 0, rowsRun = 0  // over its finished sequences
    var failed = false

    init(job: CompletionJob, ticket: CompletionTicket, events: @escaping @Sendable (CompletionEvent) -> Void) {
        self.job = job
        self.ticket = ticket
        self.events = events
    }

    /// The request's log line: tokens, time, tokens/s and loops.
    func summary() -> String {
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        let prompt = results.reduce(0) { $0 + $1.promptTokens }, new = results.reduce(0) { $0 + $1.completionTokens }
        let mean = rowsRun > 0 ? Double(loopsUsed) / Double(rowsRun) : 0
        let reasons = Set(results.map(\.finishReason)).sorted().joined(separator: ",")
        return String(format: "%@: %d prompt(s), %d prompt + %d new tokens in %.3f s, %.1f tokens/s, mean %.2f of %d loops (%@), %@",
                      ticket.id, job.sequences, prompt, new, seconds, Double(new) / max(seconds, 1e-9), mean,
                      job.loops, job.exit.description, reasons)
    }
}

/// One prompt of a request while it runs.
final class SequenceRun {
    let request: ActiveRequest
    let choice: Int
    let slot: Int
    var window: [Int32]  // the last contextLength tokens
    var sampler: Sampler
    var assembler: TextAssembler
    var generated = 0
    var next: Int32?  // the token to feed at the next step
    var refill = false  // the window slid: feed it whole into an emptied slot
    var loopsUsed = 0, rowsRun = 0
    var released = false

    init(request: ActiveRequest, choice: Int, slot: Int, window: [Int32], seed: UInt64) {
        self.request = request
        self.choice = choice
        self.slot = slot
        self.window = window
        let job = request.job
        sampler = Sampler(temperature: job.temperature, topK: nil, topP: job.topP, seed: seed)
        assembler = TextAssembler(stops: job.stop)
    }
}
