import LoopModel

/// Batches of B windows of T+1 tokens (inputs and next-token targets) from a token stream.
public struct Batch: Sendable {
    public let tokens: [Int32]  // (B, T)
    public let targets: [Int32]  // (B, T)
}

public struct TokenStream: Sendable {
    public let path: String
    public let tokens: [UInt16]

    /// Checks the stream fits a model: long enough for one window, ids in the vocabulary.
    public init(file: TokenFile, vocabSize: Int, time: Int) throws(DataError) {
        guard file.tokens.count >= time + 1 else {
            throw .tooShort(file.path, tokens: file.tokens.count, needed: time + 1)
        }
        if let bad = file.tokens.first(where: { Int($0) >= vocabSize }) {
            throw .tokenOutOfVocabulary(file.path, token: Int(bad), vocabSize: vocabSize)
        }
        path = file.path
        tokens = file.tokens
    }

    /// Window starting at `offset`: T inputs and the T following targets.
    func window(at offset: Int, time: Int, into inputs: inout [Int32], _ targets: inout [Int32]) {
        for t in 0..<time {
            inputs.append(Int32(tokens[offset + t]))
            targets.append(Int32(tokens[offset + t + 1]))
        }
    }

    /// Training batch: B windows at offsets drawn from `generator` (nanoGPT's sampling).
    public func randomBatch(batch: Int, time: Int, generator: inout SeededGenerator) -> Batch {
        var inputs: [Int32] = [], targets: [Int32] = []
        inputs.reserveCapacity(batch * time)
        targets.reserveCapacity(batch * time)
        let span = UInt64(tokens.count - time)
        for _ in 0..<batch {
            window(at: Int(generator.next() % span), time: time, into: &inputs, &targets)
        }
        return Batch(tokens: inputs, targets: targets)
    }

    /// Evaluation batches: consecutive non-overlapping windows from the start, the same
    /// every time; at most `maxBatches` (nil: the whole stream).
    public func sequentialBatches(batch: Int, time: Int, maxBatches: Int?) -> [Batch] {
        let windows = (tokens.count - 1) / time
        let count = min(windows / batch, maxBatches ?? Int.max)
        return (0..<count).map { index in
            var inputs: [Int32] = [], targets: [Int32] = []
            for b in 0..<batch { window(at: (index * batch + b) * time, time: time, into: &inputs, &targets) }
            return Batch(tokens: inputs, targets: targets)
        }
    }
}
