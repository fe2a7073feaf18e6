import Dispatch
import Foundation
import LoopCheckpoint
import LoopKernels
import LoopModel


/// `looplm bench --generate`: inference figures on this machine: load time and time to first
/// token, prefill and decode speed, bytes read per token against the measured memory
/// bandwidth, batched generation throughput and peak memory.
struct GenerationBenchmark {
    let model: LanguageModel
    let precision: WeightPrecision
    let loadSeconds: Double
    let promptTokens: Int
    let newTokens: Int
    let batches: [Int]
    /// `--exit` and its cap: when the rule can exit early, decoding is timed under it and under
    /// fixed looping at the cap, in the same run.
    let exit: ExitRule
    let maxLoops: Int

    struct Throughput: Codable {
        let batch: Int
        let tokensPerSecond: Double
    }

    struct Report: Codable {
        let layout: String, weights: String, parameters: Int, threads: Int, cpu: String
        let loadSeconds: Double, firstTokenSeconds: Double
        let prefillTokens: Int, prefillTokensPerSecond: Double
        let decodeTokensPerSecond: Double, bytesPerToken: Double, achievedBytesPerSecond: Double
        /// The round whose fraction is the median: its bandwidth, and its bytes per second over it.
        let bandwidthBytesPerSecond: Double, fractionOfBandwidth: Double, ceilingTokensPerSecond: Double
        let decodeRounds: [DecodeRound]
        let batched: [Throughput]
        let exit: ExitDecode?
        let peakResidentBytes: Int
    }

    /// Decoding is timed in this many rounds, the memory bandwidth measured between them.
    static let decodeRounds = 8

    /// One round of decoding: its speed, the higher of the bandwidths measured just before and
    /// just after it, and the bytes per second it read as a fraction of that bandwidth.
    struct DecodeRound: Codable {
        let tokensPerSecond: Double, bandwidthBytesPerSecond: Double, fractionOfBandwidth: Double
    }

    /// Greedy decoding of one prompt under an exit rule, beside fixed looping at its cap.
    struct ExitDecode: Codable {
        let rule: String, maxLoops: Int, meanLoops: Double
        let forwardFlopsPerToken: Double, fixedForwardFlopsPerToken: Double
        let tokensPerSecond: Double, fixedTokensPerSecond: Double
    }

    static func now() -> Double { Double(DispatchTime.now().uptimeNanoseconds) / 1e9 }

    func tokens(_ count: Int, seed: UInt64) -> [Int32] {
        var generator = SeededGenerator(seed: seed)
        return (0..<count).map { _ in Int32(generator.next() % UInt64(model.config.vocabSize)) }
    }

    /// Bytes one decoded token reads: every block matrix once per application, the head
    /// once, and the cached keys and values of every application at `position`.
    func bytesPerToken(position: Int) -> Double {
        let config = model.config, c = config.channels, layout = config.layout
        var bytes = Double(model.weights.head.bytes(inputs: c, outputs: config.vocabSize))
        for application in 0..<layout.effectiveDepth {
            let block = model.weights.blocks[layout.block(forApplication: application)]
            bytes += Double(block.qkv.bytes(inputs: c, outputs: 3 * c) + block.attentionProjection.bytes(inputs: c, outputs: c)
                + block.fc.bytes(inputs: c, outputs: 4 * c) + block.fcProjection.bytes(inputs: 4 * c, outputs: c))
            bytes += Double(2 * position * c * MemoryLayout<Float>.stride)
        }
        return bytes
    }

    func run() throws -> Report {
        let config = model.config
        // Time to first token: a short prompt through an empty cache, after loading.
        let firstStart = Self.now()
        let first = try IncrementalDecoder(model: model)
        try first.append([SlotInput(slot: 0, tokens: tokens(8, seed: 1))])
        let firstToken = Self.now() - firstStart + loadSeconds
        // Prefill: one batched pass over a long prompt.
        let decoder = try IncrementalDecoder(model: model)
        let prompt = tokens(promptTokens, seed: 2)  // fits: BenchCommand checked prompt + new ≤ context
        let prefillStart = Self.now()
        try decoder.append([SlotInput(slot: 0, tokens: prompt)])
        let prefillSeconds = Self.now() - prefillStart
        // Batched generation (its own decoders).
        var batched: [Throughput] = []
        for batch in batches {
            let prompts = (0..<batch).map { tokens(16, seed: 100 + UInt64($0)) }
            let result = try TextGenerator(model: model).generate(
                prompts: prompts, options: GenerationOptions(maxNewTokens: newTokens, temperature: 0))
            batched.append(Throughput(batch: batch, tokensPerSecond: Double(batch * newTokens) / (result.decodeSeconds + result.prefillSeconds)))
        }
        let exitDecode = exit.canExitEarly ? try decodeUnderExit() : nil
        // Peak memory of the model's own work, before the bandwidth measurement's buffer.
        let peakResident = SystemMemory.peakResidentBytes()
        // Decode: greedy, one token at a time after the prompt, in rounds between measurements
        // of the memory bandwidth: on a shared machine it moves from one second to the next, so
        // each round's bytes per second are compared with those of its own seconds.
        let meter = try MemoryBandwidth(workers: model.workers)
        var next = argmax(decoder.logits(0))
        var decodeSeconds = 0.0, decodeBytes = 0.0, decoded = 0
        var rounds: [DecodeRound] = []
        var before = meter.measure()
        for round in 0..<Self.decodeRounds {
            let count = newTokens * (round + 1) / Self.decodeRounds - decoded
            guard count > 0 else { continue }
            let start = Self.now()
            for _ in 0..<count {
                next = argmax(try decoder.step(token: next))
            }
            let seconds = Self.now() - start
            let after = meter.measure()
            // The higher of the two measurements around the round: the fraction errs low.
            let bandwidth = max(before, after)
            let bytes = (0..<count).reduce(0.0) { $0 + bytesPerToken(position: prompt.count + decoded + $1) }
            rounds.append(DecodeRound(tokensPerSecond: Double(count) / seconds, bandwidthBytesPerSecond: bandwidth,
                                      fractionOfBandwidth: bytes / seconds / bandwidth))
            decodeSeconds += seconds
            decodeBytes += bytes
            decoded += count
            before = after
        }
        let decodeRate = Double(newTokens) / decodeSeconds
        let bytes = decodeBytes / Double(newTokens)
        let median = rounds.sorted { $0.fractionOfBandwidth < $1.fractionOfBandwidth }[rounds.count / 2]
        return Report(
            layout: config.layout.summary, weights: precision.rawValue, parameters: ParameterTable(config).parameterCount,
            threads: model.workers.threads, cpu: CPU.description, loadSeconds: loadSeconds, firstTokenSeconds: firstToken,
            prefillTokens: prompt.count, prefillTokensPerSecond: Double(prompt.count) / prefillSeconds,
            decodeTokensPerSecond: decodeRate, bytesPerToken: bytes, achievedBytesPerSecond: bytes * decodeRate,
            bandwidthBytesPerSecond: median.bandwidthBytesPerSecond, fractionOfBandwidth: median.fractionOfBandwidth,
            ceilingTokensPerSecond: median.bandwidthBytesPerSecond / bytes, decodeRounds: rounds, batched: batched, exit: exitDecode, peakResidentBytes: peakResident)
    }

    /// The same prompt decoded greedily under `exit` and under fixed looping at `maxLoops`,
    /// alternating twice and keeping each side's faster run (the machine is shared).
    func decodeUnderExit() throws -> ExitDecode {
        let prompt = [tokens(min(promptTokens, 64), seed: 3)]
        func decode(_ rule: ExitRule) throws -> (seconds: Double, meanLoops: Double) {
            let options = GenerationOptions(maxNewTokens: newTokens, temperature: 0, loops: maxLoops, exit: rule)
            let result = try TextGenerator(model: model).generate(prompts: prompt, options: options)
            let used = result.loopsPerToken[0].dropFirst(prompt[0].count)  // the decoded tokens' passes
            return (result.decodeSeconds, Double(used.reduce(0, +)) / Double(max(used.count, 1)))
        }
        var adaptive = try decode(exit), fixed = try decode(.fixed)
        let again = (try decode(exit), try decode(.fixed))
        adaptive.seconds = min(adaptive.seconds, again.0.seconds)
        fixed.seconds = min(fixed.seconds, again.1.seconds)
        let flops = { (loops: Double) in
            ModelCost.forwardFlopsPerToken(config: model.config, time: prompt[0].count + newTokens / 2, meanLoops: loops)
        }
        let decoded = Double(max(newTokens - 1, 1))  // the first new token comes from the prefill
        return ExitDecode(rule: exit.description, maxLoops: maxLoops, meanLoops: adaptive.meanLoops,
                          forwardFlopsPerToken: flops(adaptive.meanLoops), fixedForwardFlopsPerToken: flops(Double(maxLoops)),
                          tokensPerSecond: decoded / adaptive.seconds, fixedTokensPerSecond: decoded / fixed.seconds)
    }

    func argmax(_ logits: UnsafeBufferPointer<Float>) -> Int32 {
        var best = 0
        for i in 1..<logits.count where logits[i] > logits[best] { best = i }
        return Int32(best)
    }

    static func describe(_ r: Report) -> String {
        let mb = { (bytes: Double) in String(format: "%.1f MB", bytes / 1e6) }
        return """
            looplm bench --generate: \(r.layout), \(r.parameters) parameters, \(r.weights) weights, \(counted(r.threads, "thread")) on \(r.cpu)
              load \(String(format: "%.3f", r.loadSeconds)) s · first token after \(String(format: "%.3f", r.firstTokenSeconds)) s · peak memory \(mb(Double(r.peakResidentBytes)))
              prefill: \(r.prefillTokens) tokens at \(String(format: "%.0f", r.prefillTokensPerSecond)) tokens/s
              decode: \(String(format: "%.1f", r.decodeTokensPerSecond)) tokens/s · \(mb(r.bytesPerToken)) read per token · \(String(format: "%.0f", 100 * r.fractionOfBandwidth))% of the memory bandwidth (median of \(r.decodeRounds.count) rounds, each against the higher bandwidth measured just before or after it; ceiling \(String(format: "%.1f", r.ceilingTokensPerSecond)) tokens/s)
              rounds: \(r.decodeRounds.map { String(format: "%.1f tokens/s at %.1f of %.1f GB/s (%.0f%%)", $0.tokensPerSecond, $0.fractionOfBandwidth * $0.bandwidthBytesPerSecond / 1e9, $0.bandwidthBytesPerSecond / 1e9, 100 * $0.fractionOfBandwidth) }.joined(separator: " · "))
              batched generation: \(r.batched.map { "batch \($0.batch): \(String(format: "%.1f", $0.tokensPerSecond)) tokens/s" }.joined(separator: " · "))
            """ + (r.exit.map { e in
                String(format: "\n  exit %@: mean %.2f of %d loops · %.2f MFLOP/token (fixed: %.2f) · %.1f tokens/s against %.1f fixed (%.2f×)",
                       e.rule, e.meanLoops, e.maxLoops, e.forwardFlopsPerToken / 1e6, e.fixedForwardFlopsPerToken / 1e6,
                       e.tokensPerSecond, e.fixedTokensPerSecond, e.tokensPerSecond / e.fixedTokensPerSecond)
            } ?? "")
    }
}
