import LoopKernels

/// Tokens to append to one cached sequence, optionally with their own exit rule and loop cap
/// (sequences of several requests in one batch may each loop differently).
public struct SlotInput: Sendable, Equatable {
    public let slot: Int
    public let tokens: [Int32]
    /// This input's exit rule (nil: the one `append` is given).
    public let exit: ExitRule?
    /// The most loop passes its tokens run (nil: the decoder's loops).
    public let loops: Int?

    public init(slot: Int, tokens: [Int32], exit: ExitRule? = nil, loops: Int? = nil) {
        self.slot = slot
        self.tokens = tokens
        self.exit = exit
        self.loops = loops
    }
}

/// Runs a model against a key/value cache (llama2.c's RunState and forward(token, pos)):
/// each call appends tokens to one or more sequences, all their rows going through every
/// block application together, and returns the next-token logits after each sequence's last
/// new token. A long prompt is one batched pass (prefill), chunked at `maxRows`; decoding
/// many sequences at once is one pass of one row each. Not for several threads at once.
public final class IncrementalDecoder {
    public let model: LanguageModel
    public let cache: KVCache
    public let maxRows: Int
    let state: InferenceState
    private let logits: FloatBuffer  // (slots, V) by input
    private let gathered: FloatBuffer  // (slots, V) by row, when several inputs finish in one pass
    /// Loop passes each row of the last `append` ran, in input order.
    public private(set) var loopsPerRow: [Int] = []

    /// Rows per pass unless told otherwise: prompts longer than this are prefilled in chunks.
    public static let defaultMaxRows = 512

    /// `slots` sequences at once, `loops` passes (default: the trained count), and at most
    /// `maxRows` rows per pass (longer inputs are split).
    public init(model: LanguageModel, slots: Int = 1, loops: Int? = nil, maxRows: Int? = nil) throws(MemoryError) {
        self.model = model
        let config = model.config
        cache = try KVCache(config: config, loops: loops, slots: slots)
        let rows = Self.rows(config: config, slots: slots, maxRows: maxRows)
        self.maxRows = rows
        state = try InferenceState(config: config, rows: rows,
                               attentionFloats: Attention.cachedScratchCount(rows: rows, capacity: config.contextLength,
                                                                              heads: config.heads, channels: config.channels,
                                                                              threads: model.workers.threads),
                               scratchRows: rows)
        logits = try FloatBuffer(count: slots * config.vocabSize)
        gathered = try FloatBuffer(count: slots > 1 ? slots * config.vocabSize : 0)
    }

    /// Rows per pass: `maxRows` when given (scoring many windows at once takes more than one
    /// context), else `defaultMaxRows` up to one context; never fewer than the slots.
    static func rows(config: ModelConfiguration, slots: Int, maxRows: Int?) -> Int {
        max(slots, maxRows ?? min(defaultMaxRows, config.contextLength))
    }

    /// Bytes a decoder of this shape allocates (cache, scratch and logits).
    public static func bytes(
        config: ModelConfiguration, slots: Int, loops: Int? = nil, maxRows: Int? = nil, threads: Int
    ) -> Int {
        let rows = Self.rows(config: config, slots: slots, maxRows: maxRows)
        let attention = Attention.cachedScratchCount(rows: rows, capacity: config.contextLength,
                                                     heads: config.heads, channels: config.channels, threads: threads)
        return KVCache.bytes(config: config, loops: loops, slots: slots)
            + InferenceState.bytes(config: config, rows: rows, attentionFloats: attention)
            + (slots > 1 ? 2 : 1) * slots * config.vocabSize * MemoryLayout<Float>.stride
    }

    /// Next-token logits (V) of the i-th input of the last `append`; valid until the next call.
    public func logits(_ i: Int) -> UnsafeBufferPointer<Float> {
        UnsafeBufferPointer(start: logits.pointer + i * model.config.vocabSize, count: model.config.vocabSize)
    }

    /// Appends one token to slot 0 and returns the next-token logits.
    @discardableResult
    public func step(token: Int32, exit: ExitRule = .fixed) throws(ModelError) -> UnsafeBufferPointer<Float> {
        try append([SlotInput(slot: 0, tokens: [token])], exit: exit)
        return logits(0)
    }

    /// Appends each input's tokens to its slot, under the input's own exit rule and loop cap
    /// where it has them, else under `exit` and the decoder's loops. Afterwards `logits(i)`
    /// holds the prediction after input i's last token and `loopsPerRow` the passes each new
    /// token ran. Each row is computed as it would be alone while at most `Linear.vectorRows`
    /// rows share a pass (see `DecodeProducts`).
    public func append(_ inputs: [SlotInput], exit: ExitRule = .fixed) throws(ModelError) {
        let config = model.config
        var seen = Set<Int>()
        for input in inputs {
            if case .gate = input.exit ?? exit, model.weights.exitGate == nil {
                throw .badShape("the gate exit rule needs a model trained with an exit gate (train --loop-loss gate or --train-gate-only)")
            }
            if let loops = input.loops, !(1...cache.layout.loops).contains(loops) {
                throw .badShape("an input's loops must be in 1...\(cache.layout.loops), the passes the cache holds")
            }
            guard input.slot >= 0, input.slot < cache.slots, seen.insert(input.slot).inserted else {
                throw .badShape("slot \(input.slot) is not a distinct slot of the cache (0..<\(cache.slots))")
            }
            guard !input.tokens.isEmpty else { throw .badShape("an input needs at least one token") }
            guard input.tokens.count <= cache.capacity - cache.lengths[input.slot] else {
                throw .badShape("the key/value cache is full (\(cache.capacity) positions); reset it")
            }
            if let bad = input.tokens.first(where: { $0 < 0 || Int($0) >= config.vocabSize }) {
                throw .tokenOutOfVocabulary(Int(bad), vocabSize: config.vocabSize)
            }
        }
        loopsPerRow = []
        // Passes of at most maxRows rows: whole inputs together while they fit, long ones split.
        var pending: [Piece] = []
        for (index, input) in inputs.enumerated() {
            pending.append(Piece(input: index, slot: input.slot, tokens: input.tokens[...],
                                 exit: input.exit ?? exit, loops: input.loops ?? cache.layout.loops))
        }
        while !pending.isEmpty {
            var pass: [Piece] = [], rest: [Piece] = [], rows = 0
            for piece in pending {
                let take = min(maxRows - rows, piece.tokens.count)
                if take == 0 {
                    rest.append(piece)
                    continue
                }
                pass.append(piece.with(tokens: piece.tokens.prefix(take)))
                rows += take
                if take < piece.tokens.count {
                    rest.append(piece.with(tokens: piece.tokens.dropFirst(take)))
                }
            }
            var unfinished = Set<Int>()
            for piece in rest { unfinished.insert(piece.input) }
            try run(pass, rows: rows, unfinished: unfinished)
            pending = rest
        }
    }

    /// Scores B windows of T tokens (row-major; targets −1 are not scored) in one pass through
    /// an emptied cache with `exit`: Σ loss, scored rows, and the passes each row ran. Needs
    /// a decoder of at least B slots and B·T rows.
    public func score(
        tokens: [Int32], targets: [Int32], batch: Int, time: Int, exit: ExitRule
    ) throws(ModelError) -> (sum: Double, rows: Int, loops: [Int]) {
        let n = batch * time
        guard batch <= cache.slots, n <= maxRows, time <= cache.capacity, tokens.count == n, targets.count == n else {
            throw .badShape("scoring \(batch) × \(time) tokens needs a decoder of \(batch) slots and \(n) rows")
        }
        cache.reset()
        try append((0..<batch).map { SlotInput(slot: $0, tokens: Array(tokens[($0 * time)..<(($0 + 1) * time)])) }, exit: exit)
        model.finalNorm(state, rows: 0..<n)
        let (sum, rows) = try model.score(state, targets: targets, rows: n)
        return (sum, rows, loopsPerRow)
    }

    /// Runs B windows as `score` does and returns every row's most likely next token (its
    /// greedy prediction) and the passes each row ran.
    public func predict(tokens: [Int32], batch: Int, time: Int, exit: ExitRule) throws(ModelError) -> (next: [Int32], loops: [Int]) {
        let n = batch * time
        guard batch <= cache.slots, n <= maxRows, time <= cache.capacity, tokens.count == n else {
            throw .badShape("predicting \(batch) × \(time) tokens needs a decoder of \(batch) slots and \(n) rows")
        }
        cache.reset()
        try append((0..<batch).map { SlotInput(slot: $0, tokens: Array(tokens[($0 * time)..<(($0 + 1) * time)])) }, exit: exit)
        model.finalNorm(state, rows: 0..<n)
        return (try model.greedy(state, rows: n), loopsPerRow)
    }

    /// Part of an input's tokens that goes into one pass.
    private struct Piece {
        let input: Int
        let slot: Int
        let tokens: ArraySlice<Int32>
        let exit: ExitRule
        let loops: Int

        func with(tokens: ArraySlice<Int32>) -> Piece {
            Piece(input: input, slot: slot, tokens: tokens, exit: exit, loops: loops)
        }
    }

    /// One pass of `rows` rows; writes the logits of every input whose last token is in it.
    private func run(_ pass: [Piece], rows n: Int, unfinished: Set<Int>) throws(ModelError) {
        var sequences: [CachedSequence] = [], places: [RowPlace] = [], row = 0
        var rules: [ExitRule] = [], caps: [Int] = []
        for piece in pass {
            let position = cache.lengths[piece.slot]
            sequences.append(CachedSequence(firstRow: row, count: piece.tokens.count, position: position, slot: piece.slot))
            for (i, token) in piece.tokens.enumerated() {
                state.tokens[row + i] = token
                state.positions[row + i] = Int32(position + i)
                places.append(RowPlace(slot: piece.slot, position: position + i))
                rules.append(piece.exit)
                caps.append(piece.loops)
            }
            row += piece.tokens.count
        }
        model.embed(state, rows: n)
        let used: [Int]
        do throws(MemoryError) {
            used = try model.runStack(state, rows: n, layout: cache.layout, exits: RowExits(rules: rules, caps: caps),
                                      rows: .cached(cache, places))
        } catch { throw .outOfMemory(error) }
        loopsPerRow += used
        var finished: [(input: Int, row: Int)] = []
        for (piece, sequence) in zip(pass, sequences) {
            cache.lengths[piece.slot] += piece.tokens.count
            if !unfinished.contains(piece.input) {
                finished.append((piece.input, sequence.firstRow + sequence.count - 1))
            }
        }
        try writeLogits(finished)
    }

    /// ln_f and the head for the given rows of the stream, in one product for all of them.
    private func writeLogits(_ finished: [(input: Int, row: Int)]) throws(ModelError) {
        guard !finished.isEmpty else { return }
        let c = model.config.channels, v = model.config.vocabSize
        for (k, item) in finished.enumerated() {
            (state.saved.pointer + k * c).update(from: state.stream.pointer + item.row * c, count: c)
        }
        LayerNorm.forward(out: state.normed.pointer, mean: state.mean.pointer, rstd: state.rstd.pointer,
                          inp: state.saved.pointer, weight: model.weights.finalNormWeight,
                          bias: model.weights.finalNormBias, rows: finished.count, channels: c, workers: model.workers)
        guard LayerNorm.rowsWereFinite(rstd: state.rstd.pointer, rows: finished.count) else { throw .overflow }
        let out = finished.count == 1 ? logits.pointer + finished[0].input * v : gathered.pointer
        Linear.forward(out: out, inp: state.normed.pointer, weights: model.weights.head, bias: nil,
                       rows: finished.count, inChannels: c, outChannels: v, workers: model.workers)
        guard VectorMath.allFinite(out, count: finished.count * v) else { throw .overflow }
        if finished.count > 1 {
            for (k, item) in finished.enumerated() {
                (logits.pointer + item.input * v).update(from: out + k * v, count: v)
            }
        }
    }
}
