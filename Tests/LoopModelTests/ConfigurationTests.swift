import LoopKernels
import LoopModel
import Testing

@Suite struct ConfigurationTests {
    @Test func invalidConfigurationsThrowTypedErrors() {
        #expect(throws: ConfigurationError.self) {
            try ModelConfiguration(vocabSize: 256, contextLength: 64, channels: 30, heads: 4, layout: LoopLayout(looped: 1))
        }
        #expect(throws: ConfigurationError.self) {
            try ModelConfiguration(vocabSize: 256, contextLength: 0, channels: 32, heads: 4, layout: LoopLayout(looped: 1))
        }
        #expect(throws: ConfigurationError.self) {
            try ModelConfiguration(vocabSize: 256, contextLength: 8, channels: 32, heads: 4, layout: LoopLayout(looped: 1, loops: 0))
        }
        #expect(throws: ConfigurationError.self) {
            try ModelConfiguration(vocabSize: 256, contextLength: 8, channels: 32, heads: 4, layout: LoopLayout(looped: 0))
        }
        do {
            _ = try Preset.named("gpt5")
            Issue.record("unknown preset accepted")
        } catch {
            #expect(error.description.contains("loop-81m"), "the message lists the presets")
        }
    }

    /// GPT-2's convention counts every tensor once (tied head) with position embeddings.
    @Test func paperPresetsHaveGPT2ParameterCounts() throws {
        let counts = try ["gpt2-124m", "loop-81m", "lite-45m", "loop-45m"].map {
            ParameterTable(try Preset.named($0).configuration())
        }
        #expect(counts[0].parameterCount == 124_439_808)  // GPT-2 small, as Hugging Face counts it
        #expect(counts[1].parameterCount == 81_912_576)
        #expect(counts[2].parameterCountWithoutPositions == 45_686_784)
        #expect(counts[2].parameterCount == counts[3].parameterCount)
        #expect(try Preset.named("gpt2-124m").configuration().paddedVocabSize == 50304)
    }

    @Test func layoutExecutionOrder() {
        let layout = LoopLayout(prelude: 2, looped: 2, coda: 1, loops: 3)
        #expect(layout.executionOrder == [0, 1, 2, 3, 2, 3, 2, 3, 4])
        #expect(layout.effectiveDepth == 9 && layout.uniqueBlocks == 5)
        #expect(layout.summary == "2+2×3+1")
    }

    @Test func sameSeedSameBits() throws {
        let config = try Preset.named("tiny-loop").configuration()
        var a = SeededGenerator(seed: 42), b = SeededGenerator(seed: 42), c = SeededGenerator(seed: 43)
        let m1 = try LoopGPT(config: config, generator: &a, workers: Workers(threads: 1))
        let m2 = try LoopGPT(config: config, generator: &b, workers: Workers(threads: 2))
        let m3 = try LoopGPT(config: config, generator: &c, workers: Workers(threads: 1))
        #expect(m1.parameters.array == m2.parameters.array)
        #expect(m1.parameters.array != m3.parameters.array)
        // Residual projections are scaled by 1/√(2·applications).
        let table = m1.table
        func std(_ offset: Int, _ count: Int) -> Double {
            let values = (0..<count).map { Double(m1.parameters[offset + $0]) }
            return (values.map { $0 * $0 }.reduce(0, +) / Double(count)).squareRoot()
        }
        let c64 = config.channels
        let projection = std(table.offset(block: 0, .fcProjectionWeight), 4 * c64 * c64)
        let expected = 0.02 / (2.0 * Double(config.layout.effectiveDepth)).squareRoot()
        #expect(abs(projection - expected) < 0.1 * expected)
    }

    @Test func tokensOutsideTheVocabularyAreRejected() throws {
        let config = try Preset.named("tiny").configuration()
        let model = try LoopGPT(config: config, workers: Workers(threads: 1))
        #expect(throws: ModelError.tokenOutOfVocabulary(300, vocabSize: 256)) {
            try model.forward(tokens: [1, 300], batch: 1, time: 2)
        }
        #expect(throws: ModelError.self) {
            try model.forward(tokens: [Int32](repeating: 0, count: 65), batch: 1, time: 65)
        }
    }
}
