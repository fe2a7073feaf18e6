// Trains the small loop model on a folder from `looplm prepare` for 200 steps: `train DATA`.
import Foundation
import LoopLM

guard let data = CommandLine.arguments.dropFirst().first else { print("usage: train DATA_FOLDER"); exit(64) }
let config = try Preset.named("small-loop").configuration()
let options = TrainingOptions(batch: 16, time: 128, schedule: LearningRateSchedule(peak: 2e-3, minimum: 2e-4, warmupSteps: 20, totalSteps: 200))
let session = try TrainingSession.start(NewRun(config: config, options: options, vocabulary: .bytes), in: "example-run",
                                        workers: Workers(threads: 2)) { config, options in
    try TokenData.load(directory: data, config: config, options: options, tokenizer: .bytes)
}
session.onStep = { if $0.step % 50 == 0 { print("step \($0.step): loss \($0.trainLoss)") } }
let summary = try session.run()
print("validation loss \(summary.validationLoss ?? .nan); checkpoint in \(summary.checkpoint)")
