import Foundation

/// Learning rate: linear warm-up from 0, then cosine decay to `minimum` at `totalSteps`
/// (nanoGPT's schedule). Steps count from 1.
public struct LearningRateSchedule: Codable, Equatable, Sendable {
    public var peak: Float
    public var minimum: Float
    public var warmupSteps: Int
    public var totalSteps: Int

    public init(peak: Float, minimum: Float, warmupSteps: Int, totalSteps: Int) {
        self.peak = peak
        self.minimum = minimum
        self.warmupSteps = warmupSteps
        self.totalSteps = totalSteps
    }

    public func rate(atStep step: Int) -> Float {
        if step <= warmupSteps { return peak * Float(step) / Float(max(warmupSteps, 1)) }
        if step >= totalSteps { return minimum }
        let progress = Double(step - warmupSteps) / Double(max(totalSteps - warmupSteps, 1))
        let cosine = 0.5 * (1 + cos(Double.pi * progress))
        return minimum + Float(cosine) * (peak - minimum)
    }
}
