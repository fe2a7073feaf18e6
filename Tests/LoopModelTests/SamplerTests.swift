import LoopModel
import Testing

/// Greedy, temperature, top-k and top-p on logits whose distribution is known.
@Suite struct SamplerTests {
    /// Draws `count` tokens and returns how often each id came up.
    func histogram(_ logits: [Float], _ sampler: inout Sampler, count: Int = 4000) -> [Int] {
        var seen = [Int](repeating: 0, count: logits.count)
        logits.withUnsafeBufferPointer { buffer in
            for _ in 0..<count { seen[sampler.sample(buffer)] += 1 }
        }
        return seen
    }

    let logits: [Float] = [2, 1, 0, -1, 3]  // softmax ≈ [0.233, 0.086, 0.032, 0.012, 0.636]

    @Test func temperatureZeroIsArgmax() {
        var sampler = Sampler(temperature: 0, seed: 1)
        #expect(histogram(logits, &sampler, count: 10) == [0, 0, 0, 0, 10])
    }

    @Test func topKKeepsOnlyTheKMostLikely() {
        var sampler = Sampler(temperature: 1, topK: 2, seed: 2)
        let seen = histogram(logits, &sampler)
        #expect(seen[1] == 0 && seen[2] == 0 && seen[3] == 0)
        // Renormalised over {4, 0}: e³ / (e³ + e²) ≈ 0.731.
        #expect(abs(Double(seen[4]) / 4000 - 0.731) < 0.03)
        var one = Sampler(temperature: 5, topK: 1, seed: 3)
        #expect(histogram(logits, &one, count: 50)[4] == 50, "top-k 1 is greedy at any temperature")
    }

    @Test func topPKeepsTheSmallestSetReachingP() {
        // Sorted probabilities 0.636, 0.233, …: p = 0.8 keeps the first two (0.869 ≥ 0.8).
        var sampler = Sampler(temperature: 1, topP: 0.8, seed: 4)
        let seen = histogram(logits, &sampler)
        #expect(seen[1] == 0 && seen[2] == 0 && seen[3] == 0)
        #expect(abs(Double(seen[4]) / 4000 - 0.636 / 0.869) < 0.03)
        var tight = Sampler(temperature: 1, topP: 0.5, seed: 5)
        #expect(histogram(logits, &tight, count: 50)[4] == 50, "p below the top probability keeps one token")
    }

    @Test func plainSamplingFollowsTheSoftmaxAndTheSeed() {
        var sampler = Sampler(temperature: 1, seed: 6)
        let seen = histogram(logits, &sampler, count: 20000)
        let expected = [0.233, 0.086, 0.032, 0.012, 0.636]
        for (count, p) in zip(seen, expected) { #expect(abs(Double(count) / 20000 - p) < 0.015) }
        var a = Sampler(temperature: 1, seed: 9), b = Sampler(temperature: 1, seed: 9)
        #expect(histogram(logits, &a, count: 100) == histogram(logits, &b, count: 100))
    }
}
