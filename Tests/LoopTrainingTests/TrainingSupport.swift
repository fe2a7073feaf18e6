import Foundation
import LoopCheckpoint
import LoopKernels
import LoopModel
import LoopTokenizer
import LoopTraining

func temporaryDirectory(_ name: String) -> String {
    let path = NSTemporaryDirectory() + "looplm-\(name)-\(UUID().uuidString)"
    try! FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
}

/// A byte corpus with some structure: train.bin and val.bin in `directory`.
func writeTokenData(in directory: String, trainTokens: Int = 6000, validationTokens: Int = 900) throws {
    var state: UInt64 = 7
    func next() -> UInt16 {
        state = state &* 6364136223846793005 &+ 1442695040888963407
        return UInt16(97 + Int(state >> 60))  // 16 letters
    }
    var train: [UInt16] = [], validation: [UInt16] = []
    for i in 0..<trainTokens { train.append(i % 9 == 8 ? 32 : next()) }
    for i in 0..<validationTokens { validation.append(i % 9 == 8 ? 32 : next()) }
    try TokenFile(path: directory + "/train.bin", tokens: train, tokenizer: .bytes).write()
    try TokenFile(path: directory + "/val.bin", tokens: validation, tokenizer: .bytes).write()
}

/// A small loop model and the options of a short run.
struct SmallRun {
    var config = try! ModelConfiguration(vocabSize: 256, contextLength: 16, channels: 16, heads: 2,
                                         layout: LoopLayout(prelude: 1, looped: 1, coda: 1, loops: 2))
    var options = TrainingOptions(batch: 2, time: 16, microBatches: 1,
                                  schedule: LearningRateSchedule(peak: 3e-3, minimum: 3e-4, warmupSteps: 2, totalSteps: 8),
                                  seed: 11, evalInterval: 3, evalBatches: 2, checkpointInterval: 5)

    func data(_ directory: String) -> (ModelConfiguration, TrainingOptions) throws -> TrainingData {
        { config, options in try TokenData.load(directory: directory, config: config, options: options, tokenizer: .bytes) }
    }

    func start(data: String, out: String, threads: Int = 1) throws -> TrainingSession {
        try TrainingSession.start(NewRun(config: config, options: options, vocabulary: .bytes), in: out,
                                  workers: Workers(threads: threads), data: self.data(data))
    }

    func resume(data: String, out: String, threads: Int = 1) throws -> TrainingSession {
        try TrainingSession.resume(in: out, vocabulary: .bytes, workers: Workers(threads: threads), data: self.data(data))
    }
}

func contents(_ path: String) -> Data? { FileManager.default.contents(atPath: path) }
