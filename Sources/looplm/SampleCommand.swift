import ArgumentParser
import Foundation
import LoopModel
import LoopTokenizer

struct SampleCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sample", abstract: "Generate text from a checkpoint, streaming it as it comes.",
        discussion: "Uses a key/value cache with an entry per block application (looped blocks get one per pass). Its output equals recomputing the whole window for every token (--no-cache).")

    @Argument(help: "Checkpoint directory.")
    var checkpoint: String
    @Option(help: "Text to continue.")
    var prompt: String = "\n"
    @Option(help: "Tokens to generate.")
    var tokens: Int = 200
    @Option(help: "Softmax temperature (0: greedy).")
    var temperature: Float = 0.8
    @Option(help: "Keep only the k most likely tokens.")
    var topK: Int?
    @Option(help: "Keep the smallest set of tokens whose probability reaches p.")
    var topP: Float?
    @Option(help: "Random seed.")
    var seed: UInt64 = 1337
    @OptionGroup var loopsOption: LoopsOption
    var loops: Int? { loopsOption.loops }
    @OptionGroup var exitOptions: ExitOptions
    @Flag(help: "Recompute the whole window for every token instead of using the key/value cache.")
    var noCache = false
    @Flag(help: "Print one JSON object (prompt, text, ids) instead of streaming.")
    var json = false
    @OptionGroup var compute: ComputeOptions

    func validate() throws {
        guard tokens >= 0 else { throw ValidationError("--tokens must be ≥ 0") }
        guard temperature >= 0, temperature.isFinite else { throw ValidationError("--temperature must be ≥ 0") }
        if let topP, !(topP > 0 && topP <= 1) { throw ValidationError("--top-p must be in (0, 1]") }
    }

    func run() throws {
        let loaded = try LoadedCheckpoint(path: checkpoint, workers: compute.workers)
        let model = loaded.model, context = model.config.contextLength
        var ids = loaded.tokenizer.encode(prompt)
        guard !ids.isEmpty else { throw ValidationError("--prompt must not be empty") }
        var sampler = Sampler(temperature: temperature, topK: topK, topP: topP, seed: seed)
        var generated: [Int] = []
        var pending: [UInt8] = []  // bytes of an unfinished UTF-8 character
        if !json { print(prompt, terminator: "") }
        let exit = exitOptions.rule
        if exit != nil && noCache { throw ValidationError("adaptive exit runs through the cache; drop --no-cache") }
        let decoder = IncrementalDecoder(model: model)
        let cache = KVCache(config: model.config,
                            loops: exit == nil ? loops : (exitOptions.maxLoops ?? loops ?? 2 * model.config.layout.loops))
        var loopsUsed: [Int] = []
        func decode(_ id: Int) throws -> UnsafeBufferPointer<Float> {
            let (logits, used) = try decoder.step(token: Int32(id), cache: cache, exit: exit)
            loopsUsed.append(used)
            return logits
        }
        // Next-token logits for the window ending at the newest token: from the cache, which
        // is refilled from the last `context` tokens once the window starts to slide.
        func nextLogits(newest: Int?) throws -> UnsafeBufferPointer<Float> {
            if noCache {
                let window = Array(ids.suffix(context)).map(Int32.init)
                try model.forward(tokens: window, batch: 1, time: window.count, loops: loops)
                return model.logits(row: window.count - 1)
            }
            if let newest, cache.length < cache.capacity { return try decode(newest) }
            cache.reset()
            var logits: UnsafeBufferPointer<Float>?
            for id in ids.suffix(context) { logits = try decode(id) }
            return logits!
        }
        var logits = try nextLogits(newest: nil)
        for step in 0..<tokens {
            let next = sampler.sample(logits)
            ids.append(next)
            if step + 1 < tokens { logits = try nextLogits(newest: next) }
            generated.append(next)
            if !json {
                pending += loaded.tokenizer.decodeBytes([next])
                if let text = String(validating: pending, as: UTF8.self) {
                    print(text, terminator: "")
                    fflush(stdout)
                    pending.removeAll()
                } else if pending.count >= 4 {
                    print(String(decoding: pending, as: UTF8.self), terminator: "")
                    pending.removeAll()
                }
            }
        }
        if json {
            var object: [String: Any] = ["prompt": prompt, "text": loaded.tokenizer.decode(generated), "ids": generated,
                                         "loops": loops ?? model.config.layout.loops]
            if exit != nil { object["mean_loops"] = meanLoops(loopsUsed) }
            try printJSON(object)
        } else {
            print(String(decoding: pending, as: UTF8.self))
            if exit != nil { printError(String(format: "mean %.2f loops/token (at most %d)", meanLoops(loopsUsed), cache.layout.loops)) }
        }
    }
}

func meanLoops(_ loops: [Int]) -> Double { Double(loops.reduce(0, +)) / Double(max(loops.count, 1)) }
