import LoopKernels

/// Where a cached row sits: its cache slot and its position in that slot's sequence.
struct RowPlace: Equatable {
    let slot: Int
    let position: Int
}

/// When each row of one run through the stack stops looping: its exit rule, and the most
/// passes it may run (at most the layout's loops). Rows of several requests in one batch can
/// each have their own; a row that reaches its cap exits as an early exit does.
struct RowExits {
    let rules: [ExitRule]  // (N)
    let caps: [Int]  // (N)

    /// Every row under one rule, capped at the layout's loops.
    init(_ rule: ExitRule, rows: Int, loops: Int) {
        rules = Array(repeating: rule, count: rows)
        caps = Array(repeating: loops, count: rows)
    }

    init(rules: [ExitRule], caps: [Int]) {
        self.rules = rules
        self.caps = caps
    }

    /// Whether any row may stop before the layout's last pass.
    func canExitEarly(loops: Int) -> Bool {
        rules.contains(where: \.canExitEarly) || caps.contains { $0 < loops }
    }
}

/// What the rows of one run through the stack attend to.
enum StackRows {
    /// B sequences of T rows attending within the batch; every row runs every pass.
    case batch(AttentionShape)
    /// Rows at places of a key/value cache (rows of one slot in increasing positions).
    case cached(KVCache, [RowPlace])
}

extension LanguageModel {
    /// Runs the embedded rows in `state.stream` through every application of `layout` and
    /// returns the loop passes each row ran.
    ///
    /// With an exit rule, a row that exits after pass t leaves the batch: before each later
    /// pass the rows still looping are gathered into `state.work` and only they are computed,
    /// so time falls with the mean loop count. What later passes of later tokens read of an
    /// exited token is its last computed keys and values: at the moment it exits they are
    /// copied into its cache entries of every remaining pass (as Ouro and Huginn do). Its
    /// state is frozen and goes through the coda like every other row's.
    func runStack(_ state: InferenceState, rows n: Int, layout: LoopLayout, exits: RowExits,
                  rows placement: StackRows) throws(MemoryError) -> [Int] {
        let c = config.channels
        let applyAll = { (a: Int) in
            self.apply(a, state, rows: n, stream: state.stream.pointer, layout: layout, attention: self.attention(a, placement, rows: n, active: nil, state: state))
        }
        for a in 0..<layout.prelude { applyAll(a) }
        if config.injectInput { state.embedded.pointer.update(from: state.stream.pointer, count: n * c) }
        var active = Array(0..<n), loops = [Int](repeating: 0, count: n)
        var tracker = try ExitTracker(exits: exits, model: self)
        let canExitEarly = exits.canExitEarly(loops: layout.loops)
        if canExitEarly, case .batch = placement {
            preconditionFailure("adaptive exit runs through a key/value cache (StackRows.cached)")
        }
        for pass in 0..<layout.loops where !active.isEmpty {
            let first = layout.prelude + pass * layout.looped
            let compact = active.count < n
            let x = compact ? state.work.pointer : state.stream.pointer, m = active.count
            if compact {
                for (k, row) in active.enumerated() { (x + k * c).update(from: state.stream.pointer + row * c, count: c) }
            }
            try tracker.before(pass: pass, state: x, rows: m, active: active, state: state)
            if PassInput.addsToStream(pass: pass, config: config) {
                let embedded: UnsafePointer<Float>
                if compact {
                    for (k, row) in active.enumerated() {
                        (state.embeddedWork.pointer + k * c).update(from: state.embedded.pointer + row * c, count: c)
                    }
                    embedded = UnsafePointer(state.embeddedWork.pointer)
                } else {
                    embedded = UnsafePointer(state.embedded.pointer)
                }
                PassInput.add(pass: pass, to: x, embedded: embedded, rows: m, weights: weights, workers: workers)
            }
            for a in first..<(first + layout.looped) {
                apply(a, state, rows: m, stream: x, layout: layout,
                      attention: attention(a, placement, rows: m, active: compact ? active : nil, state: state))
            }
            if compact {
                for (k, row) in active.enumerated() { (state.stream.pointer + row * c).update(from: x + k * c, count: c) }
            }
            for row in active { loops[row] = pass + 1 }
            guard pass < layout.loops - 1, canExitEarly else { continue }
            let exiting = try tracker.after(pass: pass, state: x, rows: m, active: active, state: state)
            guard !exiting.isEmpty, case .cached(let cache, let places) = placement else { continue }
            copyKeysAndValues(of: exiting.map { places[$0] }, fromPass: pass, layout: layout, cache: cache)
            let gone = Set(exiting)
            active.removeAll { gone.contains($0) }
        }
        for a in (layout.prelude + layout.looped * layout.loops)..<layout.effectiveDepth { applyAll(a) }
        return loops
    }

    private func apply(_ a: Int, _ state: InferenceState, rows m: Int, stream: UnsafeMutablePointer<Float>,
                       layout: LoopLayout, attention: BlockAttention) {
        Block.forward(weights.blocks[layout.block(forApplication: a)], input: stream, buffers: state.buffers(stream: stream),
                      rows: m, attention: attention, config: config, workers: workers)
    }

    /// The attention of application `a` for `m` rows: all rows, or the active ones (whose rows
    /// of one slot at consecutive positions form one run of the cached attention).
    private func attention(_ a: Int, _ placement: StackRows, rows m: Int, active: [Int]?, state: InferenceState) -> BlockAttention {
        switch placement {
        case .batch(let shape):
            return .batch(shape, .scratch(state.attentionScratch.pointer))
        case .cached(let cache, let places):
            var sequences: [CachedSequence] = []
            for k in 0..<m {
                let place = places[active?[k] ?? k]
                if let last = sequences.last, last.slot == place.slot, last.position + last.count == place.position,
                    last.firstRow + last.count == k
                {
                    sequences[sequences.count - 1] = CachedSequence(firstRow: last.firstRow, count: last.count + 1,
                                                                    position: last.position, slot: last.slot)
                } else {
                    sequences.append(CachedSequence(firstRow: k, count: 1, position: place.position, slot: place.slot))
                }
            }
            return .cached(cache.layer(a), sequences, scratch: state.attentionScratch.pointer, scratchRows: state.scratchRows)
        }
    }

    /// Copies the keys and values each exiting row computed in pass `pass` into its entries of
    /// every later pass, block by block.
    private func copyKeysAndValues(of places: [RowPlace], fromPass pass: Int, layout: LoopLayout, cache: KVCache) {
        let c = config.channels
        for j in 0..<layout.looped {
            let source = cache.layer(layout.prelude + pass * layout.looped + j)
            for later in (pass + 1)..<layout.loops {
                let target = cache.layer(layout.prelude + later * layout.looped + j)
                for place in places {
                    let at = (place.slot * cache.capacity + place.position) * c
                    (target.keys + at).update(from: source.keys + at, count: c)
                    (target.values + at).update(from: source.values + at, count: c)
                }
            }
        }
    }
}

/// What an exit rule needs between passes: the state before the pass (change), the prediction
/// before it (kl), the probability of still looping (gate); and each row's cap.
struct ExitTracker {
    let rules: [ExitRule]  // per row
    let caps: [Int]  // per row
    let model: LanguageModel
    private let saves: Bool, predicts: Bool, gates: Bool  // whether any row's rule needs it
    private var survival: [Float]  // gate: ∏ (1 − λ) so far, per row
    private var before: [[Float]]  // kl: predictions before the pass, per active row
    private var latest: [[Float]?]  // kl: each row's prediction after its last pass, reused before the next

    init(exits: RowExits, model: LanguageModel) throws(MemoryError) {
        rules = exits.rules
        caps = exits.caps
        self.model = model
        survival = Array(repeating: 1, count: rules.count)
        before = []
        latest = Array(repeating: nil, count: rules.count)
        saves = rules.contains { if case .change = $0 { true } else { false } }
        predicts = rules.contains { if case .kl = $0 { true } else { false } }
        gates = rules.contains { if case .gate = $0 { $0.canExitEarly } else { false } }
        if gates, model.weights.exitGate == nil {
            preconditionFailure("the gate rule needs a model with an exit gate (checked by the callers)")
        }
    }

    /// Before a pass over the active rows (compact state `x`, m rows).
    mutating func before(pass: Int, state x: UnsafePointer<Float>, rows m: Int, active: [Int], state: InferenceState) throws(MemoryError) {
        let c = model.config.channels
        if saves {
            for k in 0..<m { (state.saved.pointer + k * c).update(from: x + k * c, count: c) }
        }
        if predicts {
            // After the first pass, a row's prediction before this pass is the one its last
            // pass ended with (`after` ran for every active row): only the first pass computes it.
            before = pass > 0 ? active.map { latest[$0]! } : try model.predictions(of: x, rows: m, state: state)
        }
    }

    /// After a pass: the rows (indices into the full batch) that exit now, by their rule or
    /// because the pass reached their cap.
    mutating func after(pass: Int, state x: UnsafePointer<Float>, rows m: Int, active: [Int], state: InferenceState) throws(MemoryError) -> [Int] {
        let c = model.config.channels
        var exiting: [Int] = []
        var after: [[Float]] = []
        if predicts {
            after = try model.predictions(of: x, rows: m, state: state)
            for k in 0..<m { latest[active[k]] = after[k] }
        }
        if gates { model.normalize(x, rows: m, into: state.normed.pointer, state: state) }
        for k in 0..<m {
            let row = active[k]
            var stops = caps[row] == pass + 1
            switch rules[row] {
            case .fixed:
                break
            case .change(let threshold):
                if ExitRule.relativeChange(x + k * c, state.saved.pointer + k * c, count: c) < threshold { stops = true }
            case .kl(let threshold):
                let kl = after[k].withUnsafeBufferPointer { p in
                    before[k].withUnsafeBufferPointer { q in ExitRule.divergence(p.baseAddress!, q.baseAddress!, count: p.count) }
                }
                if kl < threshold { stops = true }
            case .gate(let quantile):
                guard quantile < 1 else { break }
                let gate = model.weights.exitGate!
                let lambda = ExitRule.gateProbability(state.normed.pointer + k * c, weight: gate.weight, bias: gate.bias[0], count: c)
                survival[row] *= 1 - lambda
                if 1 - survival[row] >= quantile { stops = true }
            }
            if stops { exiting.append(row) }
        }
        return exiting
    }
}

extension LanguageModel {
    /// ln_f of `m` rows at `x` into `out`.
    func normalize(_ x: UnsafePointer<Float>, rows m: Int, into out: UnsafeMutablePointer<Float>, state: InferenceState) {
        let c = config.channels
        LayerNorm.forward(out: out, mean: state.mean.pointer, rstd: state.rstd.pointer, inp: x,
                          weight: weights.finalNormWeight, bias: weights.finalNormBias, rows: m, channels: c, workers: workers)
    }

    /// Next-token probabilities of `m` rows' states at `x` (for the KL exit rule).
    func predictions(of x: UnsafePointer<Float>, rows m: Int, state: InferenceState) throws(MemoryError) -> [[Float]] {
        normalize(x, rows: m, into: state.normed.pointer, state: state)
        let v = config.vocabSize, logits = try scratchLogits(rows: m)
        Linear.forward(out: logits, inp: state.normed.pointer, weights: weights.head, bias: nil, rows: m,
                       inChannels: config.channels, outChannels: v, workers: workers)
        return (0..<m).map { row in
            Softmax.inPlace(logits + row * v, count: v)
            return Array(UnsafeBufferPointer(start: logits + row * v, count: v))
        }
    }
}
