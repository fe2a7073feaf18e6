import LoopModel
import LoopTraining
import Testing

@Suite struct LoopSamplingTests {
    @Test func parsesWhatTheHelpSaysAndRefusesTheRest() {
        #expect(LoopSampling(argument: "uniform:1-5") == .uniform(minimum: 1, maximum: 5))
        #expect(LoopSampling(argument: "lognormal-poisson:3") == .logNormalPoisson(mean: 3, sigma: 0.5, maximum: 12))
        #expect(LoopSampling(argument: "lognormal-poisson:3:0.2:8") == .logNormalPoisson(mean: 3, sigma: 0.2, maximum: 8))
        for bad in ["uniform:5-3", "uniform:0--1", "uniform:0-4", "uniform:3", "lognormal-poisson:nan", "lognormal-poisson:inf",
                    "lognormal-poisson:0.5", "lognormal-poisson:3:-1", "lognormal-poisson:3:0.5:0", "lognormal-poisson:3:nan",
                    "lognormal-poisson:1e300", "poisson:3", "", "uniform:1-100000000"] {
            #expect(LoopSampling(argument: bad) == nil, "\(bad)")
        }
    }

    @Test func uniformDrawsStayInBoundsAndCoverThem() {
        var generator = SeededGenerator(seed: 1)
        let draws = (0..<500).map { _ in LoopSampling.uniform(minimum: 2, maximum: 4).draw(&generator) }
        #expect(Set(draws) == [2, 3, 4])
    }

    /// exp(−λ) underflows past λ ≈ 745; large means must still be drawn correctly.
    @Test func largeMeansAreNotCutShort() {
        var generator = SeededGenerator(seed: 2)
        let sampling = LoopSampling.logNormalPoisson(mean: 1500, sigma: 0, maximum: 4000)
        let draws = (0..<200).map { _ in sampling.draw(&generator) }
        let mean = Double(draws.reduce(0, +)) / Double(draws.count)
        #expect(abs(mean - 1500) < 15, "mean \(mean)")  // Poisson(1500): sd ≈ 38.7, so the mean of 200 is ±2.7
        #expect(draws.max()! > 1550 && draws.min()! < 1450)
        let capped = (0..<50).map { _ in LoopSampling.logNormalPoisson(mean: 1500, sigma: 0, maximum: 100).draw(&generator) }
        #expect(capped.allSatisfy { $0 == 100 })
    }
}
