import Dispatch
import LoopKernels

/// How text is generated: length, sampling, loop count and adaptive exit.
public struct GenerationOptions: Sendable {
    /// New tokens per prompt.
    public var maxNewTokens: Int
    /// Softmax temperature (0: greedy), top-k, top-p and the seed of each prompt's sampler
    /// (prompt i draws from seed + i).
    public var temperature: Float
    public var topK: Int?
    public var topP: Float?
    public var seed: UInt64
    /// Loop passes (nil: the trained count); with an exit rule, the most a token may run.
    public var loops: Int?
    /// When a token stops looping (`fixed`: at `loops`).
    public var exit: ExitRule
    /// Use the key/value cache (true), or recompute the whole window for every token.
    public var useCache: Bool

    public init(
        maxNewTokens: Int, temperature: Float = 0.8, topK: Int? = nil, topP: Float? = nil, seed: UInt64 = 1337,
        loops: Int? = nil, exit: ExitRule = .fixed, useCache: Bool = true
    ) {
        self.maxNewTokens = maxNewTokens
        self.temperature = temperature
        self.topK = topK
        self.topP = topP
        self.seed = seed
        self.loops = loops
        self.exit = exit
        self.useCache = useCache
    }
}

/// What generation produced and how long it took.
public struct GenerationResult: Sendable, Equatable {
    public var tokens: [[Int]]  // new tokens, per prompt
    public var loopsPerToken: [[Int]]  // loop passes each new token's input ran, per prompt
    public var promptTokens: Int  // prompt tokens processed by the first pass (prefill)
    public var prefillSeconds: Double
    public var decodeSeconds: Double
}

/// nanoGPT's `generate` beside the model: prompts in, new tokens out, streamed through
/// `onToken(prompt, token)` as they are drawn. All prompts advance together, one batched pass
/// per new token; the window slides once a prompt fills the context (the cache is then
/// refilled from the last `contextLength` tokens, which equals recomputing the window).
public struct TextGenerator {
    public let model: LanguageModel

    public init(model: LanguageModel) { self.model = model }

    public func generate(
        prompts: [[Int32]], options: GenerationOptions, onToken: ((Int, Int) -> Void)? = nil
    ) throws(ModelError) -> GenerationResult {
        guard !prompts.isEmpty, prompts.allSatisfy({ !$0.isEmpty }) else {
            throw .badShape("every prompt needs at least one token")
        }
        guard options.maxNewTokens >= 0 else { throw .badShape("the number of new tokens must be ≥ 0") }
        guard !options.exit.canExitEarly || options.useCache else {
            throw .badShape("adaptive exit runs through the key/value cache")
        }
        if let loops = options.loops, loops < 1 { throw .badShape("loops must be ≥ 1") }
        let context = model.config.contextLength
        var windows = prompts.map { Array($0.suffix(context)) }
        var samplers = prompts.indices.map {
            Sampler(temperature: options.temperature, topK: options.topK, topP: options.topP,
                    seed: options.seed &+ UInt64($0))
        }
        var result = GenerationResult(tokens: prompts.map { _ in [] }, loopsPerToken: prompts.map { _ in [] },
                                      promptTokens: windows.reduce(0) { $0 + $1.count }, prefillSeconds: 0,
                                      decodeSeconds: 0)
        guard options.maxNewTokens > 0 else { return result }
        let decoder: IncrementalDecoder?
        do throws(MemoryError) {
            decoder = options.useCache ? try IncrementalDecoder(model: model, slots: prompts.count, loops: options.loops) : nil
        } catch { throw .outOfMemory(error) }
        var logits: [[Float]] = []  // next-token logits of each prompt
        let start = DispatchTime.now().uptimeNanoseconds
        func seconds(since t: UInt64) -> Double { Double(DispatchTime.now().uptimeNanoseconds - t) / 1e9 }

        /// Feeds `inputs[i]` to prompt i (a whole window after a reset, or one new token).
        func feed(_ inputs: [[Int32]], fresh: [Bool]) throws(ModelError) {
            logits = []
            guard let decoder else {
                let v = model.config.vocabSize
                for window in windows {
                    let all = try model.logits(tokens: window, batch: 1, time: window.count, loops: options.loops)
                    logits.append(Array(all[((window.count - 1) * v)...]))
                }
                return
            }
            for (i, isFresh) in fresh.enumerated() where isFresh { decoder.cache.reset(slot: i) }
            try decoder.append(inputs.enumerated().map { SlotInput(slot: $0.offset, tokens: $0.element) }, exit: options.exit)
            var row = 0
            for (i, input) in inputs.enumerated() {
                result.loopsPerToken[i] += decoder.loopsPerRow[row..<(row + input.count)]
                row += input.count
                logits.append(Array(decoder.logits(i)))
            }
        }
        try feed(windows, fresh: windows.map { _ in true })
        result.prefillSeconds = seconds(since: start)
        let decodeStart = DispatchTime.now().uptimeNanoseconds
        for step in 0..<options.maxNewTokens {
            var inputs: [[Int32]] = [], fresh: [Bool] = []
            for i in prompts.indices {
                let next = logits[i].withUnsafeBufferPointer { samplers[i].sample($0) }
                result.tokens[i].append(next)
                onToken?(i, next)
                windows[i].append(Int32(next))
                if windows[i].count > context {
                    windows[i].removeFirst()
                    inputs.append(windows[i])
                    fresh.append(true)
                } else {
                    inputs.append([Int32(next)])
                    fresh.append(false)
                }
            }
            if step + 1 < options.maxNewTokens { try feed(inputs, fresh: fresh) }
        }
        result.decodeSeconds = seconds(since: decodeStart)
        return result
    }
}
