/// Picks the next token from logits: temperature, top-k and top-p (nucleus), drawing from
/// its own seeded generator. Temperature 0 is greedy (argmax).
public struct Sampler: Sendable {
    public var temperature: Float
    public var topK: Int?
    public var topP: Float?
    public var generator: SeededGenerator

    public init(temperature: Float = 1, topK: Int? = nil, topP: Float? = nil, seed: UInt64) {
        self.temperature = temperature
        self.topK = topK
        self.topP = topP
        generator = SeededGenerator(seed: seed)
    }

    public mutating func sample(_ logits: UnsafeBufferPointer<Float>) -> Int {
        if temperature <= 0 {
            var best = 0
            for i in 1..<logits.count where logits[i] > logits[best] { best = i }
            return best
        }
        // Candidates sorted by logit, cut by top-k; probabilities by softmax at temperature.
        var candidates = Array(0..<logits.count).sorted { logits[$0] > logits[$1] }
        if let topK, topK > 0, topK < candidates.count { candidates.removeSubrange(topK...) }
        let maxLogit = logits[candidates[0]]
        var probabilities = candidates.map { Double(((logits[$0] - maxLogit) / temperature)).exponential }
        let total = probabilities.reduce(0, +)
        probabilities = probabilities.map { $0 / total }
        if let topP, topP > 0, topP < 1 {
            var cumulative = 0.0, keep = 0
            while keep < probabilities.count {
                cumulative += probabilities[keep]
                keep += 1
                if cumulative >= Double(topP) { break }
            }
            candidates.removeSubrange(keep...)
            probabilities.removeSubrange(keep...)
            let kept = probabilities.reduce(0, +)
            probabilities = probabilities.map { $0 / kept }
        }
        var u = generator.nextUniform()
        for (index, p) in probabilities.enumerated() {
            u -= p
            if u < 0 { return candidates[index] }
        }
        return candidates[candidates.count - 1]
    }
}

extension Double {
    var exponential: Double { _exp(self) }
}

#if canImport(Glibc)
import Glibc
@inline(__always) func _exp(_ x: Double) -> Double { Glibc.exp(x) }
#else
import Darwin
@inline(__always) func _exp(_ x: Double) -> Double { Darwin.exp(x) }
#endif
