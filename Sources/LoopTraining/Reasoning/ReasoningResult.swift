import Foundation
import LoopKernels
import LoopModel

/// Exact-match accuracy of one model at one difficulty and loop count.
public struct AccuracyPoint: Codable, Sendable, Equatable {
    public var difficulty: Int
    public var loops: Int
    public var solved: Int
    public var asked: Int
    public var accuracy: Double { Double(solved) / Double(max(asked, 1)) }

    public init(difficulty: Int, loops: Int, solved: Int, asked: Int) {
        self.difficulty = difficulty
        self.loops = loops
        self.solved = solved
        self.asked = asked
    }
}

/// What one trained model of the reasoning suite measured.
public struct ReasoningResult: Codable, Sendable {
    public var task: String
    public var model: String
    public var role: String
    public var seed: UInt64
    public var layout: String
    public var loops: Int
    public var loopSampling: String?
    public var parameters: Int
    public var effectiveDepth: Int
    public var trainedDifficulty: Int
    public var trainingFlops: Double
    public var trainingSeconds: Double
    public var finalTrainLoss: Double
    public var accuracy: [AccuracyPoint]

    /// Accuracy at `difficulty` and `loops` (nil when not measured).
    public func accuracy(difficulty: Int, loops: Int) -> Double? {
        accuracy.first { $0.difficulty == difficulty && $0.loops == loops }?.accuracy
    }
}
