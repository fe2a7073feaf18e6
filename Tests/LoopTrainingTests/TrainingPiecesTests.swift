import Foundation
import LoopModel
import LoopTraining
import Testing

@Suite struct TrainingPiecesTests {
    @Test func scheduleWarmsUpThenDecaysByCosine() {
        let schedule = LearningRateSchedule(peak: 1e-3, minimum: 1e-4, warmupSteps: 10, totalSteps: 110)
        #expect(abs(schedule.rate(atStep: 1) - 1e-4) < 1e-9)
        #expect(abs(schedule.rate(atStep: 10) - 1e-3) < 1e-9)
        #expect(abs(schedule.rate(atStep: 60) - 5.5e-4) < 1e-8)
        #expect(schedule.rate(atStep: 110) == 1e-4)
        #expect(schedule.rate(atStep: 500) == 1e-4)
    }

    @Test func tokenFileRoundTripInLlmcFormat() throws {
        let path = NSTemporaryDirectory() + "looplm-tokens-\(UUID().uuidString).bin"
        let tokens: [UInt16] = [0, 1, 255, 50256, 7]
        try TokenFile(path: path, tokens: tokens, tokenizer: .gpt2).write()
        let data = try Data(contentsOf: URL(fileURLWithPath: path))
        #expect(data.count == 1024 + 2 * tokens.count)
        let header = data.withUnsafeBytes { raw in (0..<4).map { raw.loadUnaligned(fromByteOffset: 4 * $0, as: Int32.self) } }
        #expect(header == [20_240_520, 1, 5, 2])
        let read = try TokenFile.read(path: path)
        #expect(read.tokens == tokens && read.tokenizer == .gpt2)
    }

    @Test func batchesAreWindowsWithShiftedTargets() throws {
        let file = TokenFile(path: "memory", tokens: (0..<100).map(UInt16.init), tokenizer: .bytes)
        let stream = try TokenStream(file: file, vocabSize: 256, time: 8)
        var generator = SeededGenerator(seed: 1)
        let batch = try stream.batch(rows: 3, time: 8, generator: &generator)
        #expect(batch.tokens.count == 24 && batch.rows == 3 && batch.time == 8)
        for i in 0..<24 { #expect(batch.targets[i] == batch.tokens[i] + 1) }
        // 99 (input, target) pairs: 12 windows of 8 in batches of 2, then the last 3 pairs.
        let eval = try stream.sequentialBatches(rows: 2, time: 8, maxBatches: nil)
        #expect(eval.count == 7 && eval[0].tokens[0] == 0 && eval[0].tokens[8] == 8 && eval[1].tokens[0] == 16)
        #expect(eval[6].rows == 1 && eval[6].time == 3 && eval[6].tokens == [96, 97, 98] && eval[6].targets == [97, 98, 99])
        #expect(eval.reduce(0) { $0 + $1.scoredTokens } == 99, "every token but the first is scored once")
        #expect(try stream.sequentialBatches(rows: 2, time: 8, maxBatches: 2).count == 2)
        // Ids outside the vocabulary are found when a window holding them is read.
        let narrow = try TokenStream(file: file, vocabSize: 50, time: 8)
        #expect(throws: DataError.tokenOutOfVocabulary("memory", token: 50, vocabSize: 50)) {
            _ = try narrow.sequentialBatches(rows: 2, time: 8, maxBatches: nil)
        }
        #expect(throws: DataError.self) { try TokenStream(file: file, vocabSize: 256, time: 100) }
    }

    @Test func gradientAccumulationEqualsOneLargeBatch() throws {
        let config = try ModelConfiguration(vocabSize: 40, contextLength: 8, channels: 16, heads: 2,
                                            layout: LoopLayout(looped: 1, loops: 2))
        var generator = SeededGenerator(seed: 3)
        let model = try LoopGPT(config: config, generator: &generator, workers: .init(threads: 1))
        let tokens = (0..<32).map { _ in Int32(generator.next() % 40) }
        let targets = (0..<32).map { _ in Int32(generator.next() % 40) }
        model.zeroGradients()
        try model.forward(tokens: tokens, targets: targets, batch: 4, time: 8)
        model.backward()
        let whole = model.gradients.array
        model.zeroGradients()
        for half in 0..<2 {
            let range = (half * 16)..<(half * 16 + 16)
            try model.forward(tokens: Array(tokens[range]), targets: Array(targets[range]), batch: 2, time: 8)
            model.backward(lossScale: 0.5)
        }
        let accumulated = model.gradients.array
        var worst: Float = 0, scale: Float = 0
        for (a, b) in zip(whole, accumulated) { worst = max(worst, abs(a - b)); scale = max(scale, abs(a)) }
        #expect(worst / scale < 1e-5)
    }
}

/// Memory planning: what a run needs, and how a suite makes a run fit.
@Suite struct TrainingMemoryTests {
    func paperLoop() throws -> ModelConfiguration {
        try ModelConfiguration(vocabSize: 50257, contextLength: 1024, channels: 768, heads: 12, layout: LoopLayout(looped: 6, loops: 6))
    }

    func options(batch: Int) -> TrainingOptions {
        TrainingOptions(batch: batch, time: 1024, microBatches: 1,
                        schedule: LearningRateSchedule(peak: 1e-3, minimum: 1e-4, warmupSteps: 1, totalSteps: 2))
    }

    @Test func loop81mNeedsAboutFifteenGigabytesAndUnderThreeRecomputing() throws {
        let kept = try TrainingMemory(config: paperLoop(), options: options(batch: 4)).total!
        var recomputing = options(batch: 4)
        recomputing.recompute = true
        let recomputed = try TrainingMemory(config: paperLoop(), options: recomputing).total!
        #expect(kept > 15_000_000_000 && kept < 18_000_000_000, "\(kept)")
        #expect(recomputed < 3_000_000_000, "\(recomputed)")
    }

    @Test func aSuiteRunIsFittedWithTheSameGlobalBatch() throws {
        let config = try paperLoop(), wanted = options(batch: 8)
        // Enough memory: unchanged.
        #expect(TrainingMemory.fitting(config: config, options: wanted, available: 1 << 40) == wanted)
        // 24 GB: recomputing is enough.
        let fitted = try #require(TrainingMemory.fitting(config: config, options: wanted, available: 24_000_000_000))
        #expect(fitted.recompute == true && fitted.batch == 8 && fitted.microBatches == 1)
        // 3 GB: the batch is split into micro-batches too, keeping batch × micro-batches.
        let tight = try #require(TrainingMemory.fitting(config: config, options: wanted, available: 3_000_000_000))
        #expect(tight.recompute == true && tight.batch * tight.microBatches == 8 && tight.batch < 8)
        #expect(TrainingMemory(config: config, options: tight).total! <= 3_000_000_000)
        // Nothing fits in 100 MB.
        #expect(TrainingMemory.fitting(config: config, options: wanted, available: 100_000_000) == nil)
    }
}
