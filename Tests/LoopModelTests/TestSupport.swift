import Foundation
import Testing
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

    /// Central difference along each named tensor's own gradient direction.
func checkFiniteDifferences(_ model: LoopGPT, tensors: [TensorSpec], loss: () throws -> Double) throws {
    let step: Float = 1e-2
    for spec in tensors {
        let gradient = parameterArray(model, spec, gradients: true)
        let norm = gradient.reduce(0) { $0 + Double($1) * Double($1) }.squareRoot()
        try #require(norm > 1e-7, "\(spec.name) has no gradient")
        let p = model.parameters.pointer + spec.offset
        let original = Array(UnsafeBufferPointer(start: p, count: spec.count))
        for i in 0..<spec.count { p[i] = original[i] + step * gradient[i] / Float(norm) }
        let plus = try loss()
        for i in 0..<spec.count { p[i] = original[i] - step * gradient[i] / Float(norm) }
        let minus = try loss()
        p.update(from: original, count: spec.count)
        let numeric = (plus - minus) / Double(2 * step)
        #expect(abs(numeric - norm) <= 2e-2 * norm + 1e-4, "\(spec.name): finite difference \(numeric), analytic \(norm)")
    }
}
