import Foundation
import LoopKernels
import LoopModel

/// max |a − b| / max |b|: the relative error of a whole tensor (elementwise ratios blow up
/// on entries near zero).
func relativeError(_ a: [Float], _ b: [Float]) -> Double {
    precondition(a.count == b.count, "size mismatch \(a.count) vs \(b.count)")
    var diff = 0.0, scale = 0.0
    for (x, y) in zip(a, b) {
        diff = max(diff, Double(abs(x - y)))
        scale = max(scale, Double(abs(y)))
    }
    return scale == 0 ? diff : diff / scale
}

let fixturesDirectory = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
    .appendingPathComponent("Fixtures").path

func randomTokens(_ count: Int, vocab: Int, generator: inout SeededGenerator) -> [Int32] {
    (0..<count).map { _ in Int32(generator.next() % UInt64(vocab)) }
}

/// Copies a tensor of the model's parameters.
func parameterArray(_ model: LoopGPT, _ spec: TensorSpec, gradients: Bool = false) -> [Float] {
    let base = (gradients ? model.gradients : model.parameters).pointer + spec.offset
    return Array(UnsafeBufferPointer(start: base, count: spec.count))
}
