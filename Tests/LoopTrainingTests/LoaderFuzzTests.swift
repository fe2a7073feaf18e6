import Foundation
import LoopCheckpoint
import LoopKernels
import LoopModel
import LoopTraining
import Testing


/// Seeded mutations of real files through every loader: each must end in a typed error or a
/// valid load (one that then runs), never a crash, a hang or a huge allocation. A crash ends
/// the test process, which fails the run.
@Suite struct LoaderFuzzTests {
    static let mutations = 2400
    let workers = Workers(threads: 1)

    /// A short real run: its `latest` checkpoint and its token files.
    func realFiles() throws -> (checkpoint: String, data: String) {
        let data = temporaryDirectory("fuzz-data")
        try writeTokenData(in: data, trainTokens: 800, validationTokens: 200)
        let out = temporaryDirectory("fuzz-run")
        var run = SmallRun()
        run.options.schedule.totalSteps = 2
        do { _ = try run.start(data: data, out: out).run() }
        return (out + "/latest", data)
    }

    enum Outcome { case loaded, refused }

    @Test func seededMutationsGiveTypedErrorsOrValidLoads() throws {
        let (checkpoint, data) = try realFiles()
        let files = [Checkpoint.weightsFile, TrainingState.fileName, Checkpoint.configFile]
        let originals = try files.map { try Data(contentsOf: URL(fileURLWithPath: checkpoint + "/" + $0)) }
        let tokens = try Data(contentsOf: URL(fileURLWithPath: data + "/train.bin"))
        let scratch = temporaryDirectory("fuzz-case")
        var generator = SeededGenerator(seed: 2024)
        var outcomes: [String: [Outcome: Int]] = [:]
        let memoryBefore = SystemMemory.peakResidentBytes()
        let clock = ContinuousClock(), start = clock.now
        for index in 0..<Self.mutations {
            let target = Int(generator.next() % 4)  // 0-2: a checkpoint file, 3: a token file
            let caseStart = clock.now
            let outcome: Outcome
            if target == 3 {
                let mutated = mutate(tokens, generator: &generator, headerBytes: TokenFile.headerBytes)
                try mutated.write(to: URL(fileURLWithPath: scratch + "/train.bin"))
                outcome = loadTokens(scratch + "/train.bin")
            } else {
                for (file, original) in zip(files, originals) {
                    try original.write(to: URL(fileURLWithPath: scratch + "/" + file))
                }
                let original = originals[target]
                let headerEnd = target == 2 ? original.count : 8 + Int(original.prefix(8).withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) })
                let mutated = mutate(original, generator: &generator, headerBytes: min(headerEnd, original.count))
                try mutated.write(to: URL(fileURLWithPath: scratch + "/" + files[target]))
                outcome = try loadCheckpoint(scratch)
            }
            outcomes[target == 3 ? "train.bin" : files[target], default: [:]][outcome, default: 0] += 1
            #expect(clock.now - caseStart < .seconds(5), "case \(index) took too long")
        }
        #expect(clock.now - start < .seconds(240))
        let grown = SystemMemory.peakResidentBytes() - memoryBefore
        #expect(grown < 512 << 20, "peak memory grew by \(grown) bytes")
        // The mutations reach both outcomes for every kind of file, so the test sees loads and refusals.
        for (file, counts) in outcomes {
            #expect((counts[.refused] ?? 0) > 10 && (counts[.loaded] ?? 0) > 10, "\(file): \(counts)")
        }
    }

    /// Every loader a checkpoint directory meets; a load that succeeds must also run.
    func loadCheckpoint(_ directory: String) throws -> Outcome {
        var loaded = false
        do {
            let (model, _) = try Checkpoint.load(from: directory, workers: workers)
            let (state, file) = try TrainingState.read(directory: directory, contextLength: model.config.contextLength)
            let optimizer = try AdamW(table: model.table)
            try optimizer.restore(step: state.step, from: file)
            try model.forward(tokens: [1, 2, 3], targets: [2, 3, 4], batch: 1, time: 3)
            loaded = true
        } catch is CheckpointError {} catch is TrainingError {} catch is MemoryError {}
        do {
            let (language, _) = try Checkpoint.loadLanguageModel(from: directory, precision: .int8, workers: workers)
            let decoder = try IncrementalDecoder(model: language)
            try decoder.append([SlotInput(slot: 0, tokens: [1, 2])])
            let finite = decoder.logits(0).allSatisfy { $0.isFinite }
            #expect(finite)
        } catch is CheckpointError {} catch is MemoryError {}
        return loaded ? .loaded : .refused
    }

    func loadTokens(_ path: String) -> Outcome {
        do {
            let file = try TokenFile.read(path: path)
            let stream = try TokenStream(file: file, vocabSize: 256, time: 8)
            _ = try stream.sequentialBatches(rows: 4, time: 8, maxBatches: nil)
            var generator = SeededGenerator(seed: 1)
            _ = try stream.batch(rows: 4, time: 8, generator: &generator)
            return .loaded
        } catch {
            #expect(error is DataError, "\(error)")
            return .refused
        }
    }

    /// One random damage: flipped bytes (mostly in the header), a cut, an extension, an
    /// extreme header length, or a number in the JSON replaced by an extreme value.
    func mutate(_ data: Data, generator: inout SeededGenerator, headerBytes: Int) -> Data {
        var bytes = [UInt8](data)
        func below(_ n: Int) -> Int { n <= 0 ? 0 : Int(generator.next() % UInt64(n)) }
        switch below(6) {
        case 0:  // flip bytes, mostly in the header
            for _ in 0...below(8) {
                let i = below(4) > 0 ? below(max(headerBytes, 1)) : below(bytes.count)
                if i < bytes.count { bytes[i] ^= UInt8(1 + below(255)) }
            }
        case 1:  // cut short
            bytes = Array(bytes.prefix(below(bytes.count)))
        case 2:  // extend
            bytes += (0..<(1 + below(64))).map { _ in UInt8(below(256)) }
        case 3 where bytes.count >= 8:  // an extreme 8-byte length at the front
            let values: [UInt64] = [0, 1, 7, UInt64(bytes.count), UInt64(bytes.count) + 1, 1 << 31, 1 << 62, .max, 100_000_001]
            withUnsafeBytes(of: values[below(values.count)].littleEndian) { for k in 0..<8 { bytes[k] = $0[k] } }
        default:  // a number in the JSON replaced
            let text = Array(bytes.prefix(headerBytes))
            let digits = text.indices.filter { (48...57).contains(text[$0]) && ($0 == 0 || !(48...57).contains(text[$0 - 1])) }
            guard !digits.isEmpty else { break }
            let start = digits[below(digits.count)]
            var end = start
            while end < text.count && ((48...57).contains(text[end]) || text[end] == UInt8(ascii: ".")) { end += 1 }
            let extremes = ["-1", "0", "2147483648", "4294967296", "4611686018427387904", "9223372036854775807",
                            "-9223372036854775808", "1e308", "99999999999999999999", "3", "65536"]
            bytes.replaceSubrange(start..<end, with: Array(extremes[below(extremes.count)].utf8))
        }
        return Data(bytes)
    }
}
