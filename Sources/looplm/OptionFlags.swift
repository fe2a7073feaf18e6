import ArgumentParser
import LoopTraining

/// The library names training options as the saved state does; the command line names the
/// flag a person typed. An option out of range is a usage error (exit 64).
extension TrainingOptions.Field {
    var flag: String {
        switch self {
        case .batch: "--batch"
        case .time: "--context"
        case .microBatches: "--accumulate"
        case .peakLearningRate: "--lr"
        case .minimumLearningRate: "--min-lr"
        case .totalSteps: "--steps"
        case .warmupSteps: "--warmup"
        case .weightDecay: "--weight-decay"
        case .maxGradientNorm: "--clip"
        case .adam: "Adam's hyperparameters"
        case .evalInterval: "--eval-interval"
        case .evalBatches: "--eval-batches"
        case .checkpointInterval: "--checkpoint-interval"
        case .loopSampling: "--loops-sample"
        case .gradientLoops: "--backprop-loops"
        case .loopObjective: "--loop-loss"
        }
    }
}

extension TrainingOptions {
    /// `validate`, with a problem reported as the flag that caused it.
    func validateFlags(contextLength: Int) throws {
        do { try validate(contextLength: contextLength) } catch {
            throw ValidationError("\(error.field.flag) \(error.requirement)")
        }
    }
}
