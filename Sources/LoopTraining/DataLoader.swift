import LoopKernels
import LoopModel

/// B rows of T tokens and their next-token targets; a target of −1 leaves its row out of the
/// loss (`CrossEntropy.ignored`).
public struct Batch: Sendable, Equatable {
    public let tokens: [Int32]  // (B, T)
    public let targets: [Int32]  // (B, T)
    public let rows: Int  // B
    public let time: Int  // T

    public init(tokens: [Int32], targets: [Int32], rows: Int, time: Int) {
        self.tokens = tokens
        self.targets = targets
        self.rows = rows
        self.time = time
    }

    /// Rows whose target counts.
    public var scoredTokens: Int { targets.reduce(0) { $0 + ($1 == CrossEntropy.ignored ? 0 : 1) } }
}

/// Where training batches come from: windows of a corpus, or generated problems. Every draw
/// comes from the trainer's seeded generator, so a resumed run draws the same batches.
public protocol BatchSource {
    /// A batch of `rows` sequences of `time` tokens drawn with `generator`.
    func batch(rows: Int, time: Int, generator: inout SeededGenerator) throws -> Batch
}

/// Windows of a token file, checked against the model's vocabulary as they are read (the file
/// itself is never read whole).
public struct TokenStream: BatchSource {
    public let file: TokenFile
    public let vocabSize: Int

    /// Checks the stream is long enough for one window of `time` tokens and its targets.
    public init(file: TokenFile, vocabSize: Int, time: Int) throws(DataError) {
        guard file.count >= time + 1 else {
            throw .tooShort(file.path, tokens: file.count, needed: time + 1)
        }
        self.file = file
        self.vocabSize = vocabSize
    }

    public var path: String { file.path }
    public var count: Int { file.count }

    /// Window starting at `offset`: `time` inputs and the `time` following targets.
    func window(at offset: Int, time: Int, into inputs: inout [Int32], _ targets: inout [Int32]) throws(DataError) {
        for t in 0...time {
            let token = file[offset + t]
            guard Int(token) < vocabSize else {
                throw .tokenOutOfVocabulary(file.path, token: Int(token), vocabSize: vocabSize)
            }
            if t < time { inputs.append(Int32(token)) }
            if t > 0 { targets.append(Int32(token)) }
        }
    }

    /// Training batch: `rows` windows at offsets drawn from `generator` (nanoGPT's sampling).
    public func batch(rows: Int, time: Int, generator: inout SeededGenerator) throws -> Batch {
        var inputs: [Int32] = [], targets: [Int32] = []
        inputs.reserveCapacity(rows * time)
        targets.reserveCapacity(rows * time)
        let span = UInt64(count - time)
        for _ in 0..<rows {
            try window(at: Int(generator.next() % span), time: time, into: &inputs, &targets)
        }
        return Batch(tokens: inputs, targets: targets, rows: rows, time: time)
    }

    /// Evaluation batches covering the stream from the start, the same every time: windows of
    /// `time` tokens in batches of `rows`, then whatever is left, so every token but the first
    /// is scored once. At most `maxBatches` (nil: the whole stream).
    public func sequentialBatches(rows: Int, time: Int, maxBatches: Int?) throws(DataError) -> [Batch] {
        let pairs = count - 1  // (input, target) pairs
        let windows = pairs / time, tail = pairs % time
        var batches: [Batch] = []
        var start = 0
        while start < windows && batches.count < (maxBatches ?? .max) {
            let take = min(rows, windows - start)
            var inputs: [Int32] = [], targets: [Int32] = []
            for w in start..<(start + take) { try window(at: w * time, time: time, into: &inputs, &targets) }
            batches.append(Batch(tokens: inputs, targets: targets, rows: take, time: time))
            start += take
        }
        if tail > 0 && batches.count < (maxBatches ?? .max) {
            var inputs: [Int32] = [], targets: [Int32] = []
            try window(at: windows * time, time: tail, into: &inputs, &targets)
            batches.append(Batch(tokens: inputs, targets: targets, rows: 1, time: tail))
        }
        return batches
    }
}

/// Uniformly random tokens and targets (for benchmarks: the work of a step without a corpus).
public struct RandomTokens: BatchSource {
    public let vocabSize: Int

    public init(vocabSize: Int) { self.vocabSize = vocabSize }

    public func batch(rows: Int, time: Int, generator: inout SeededGenerator) throws -> Batch {
        let n = rows * time
        var tokens: [Int32] = [], targets: [Int32] = []
        tokens.reserveCapacity(n)
        targets.reserveCapacity(n)
        for _ in 0..<n { tokens.append(Int32(generator.next() % UInt64(vocabSize))) }
        for _ in 0..<n { targets.append(Int32(generator.next() % UInt64(vocabSize))) }
        return Batch(tokens: tokens, targets: targets, rows: rows, time: time)
    }
}
