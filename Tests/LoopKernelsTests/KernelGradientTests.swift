import LoopKernels
import Testing

@Suite struct KernelGradientTests {
    let workers = Workers(threads: 2)

    /// 24 channels run both vector loops; 29 also the scalar tail.
    @Test(arguments: [24, 29]) func layerNorm(channels c: Int) throws {
        var check = GradientCheck()
        let n = 6
        let x = try check.buffer(n * c, scale: 2, offset: 0.3), w = try check.buffer(c, scale: 0.5, offset: 1)
        let b = try check.buffer(c), r = try check.buffer(n * c)
        let out = try FloatBuffer(count: n * c), mean = try FloatBuffer(count: n), rstd = try FloatBuffer(count: n)
        func objective() -> Double {
            LayerNorm.forward(out: out.pointer, mean: mean.pointer, rstd: rstd.pointer, inp: x.pointer,
                              weight: w.pointer, bias: b.pointer, rows: n, channels: c, workers: workers)
            return GradientCheck.dot(out, r)
        }
        _ = objective()
        // Values against the formula computed in Double.
        for row in 0..<n {
            let xs = (0..<c).map { Double(x[row * c + $0]) }
            let m = xs.reduce(0, +) / Double(c)
            let s = 1 / (xs.map { ($0 - m) * ($0 - m) }.reduce(0, +) / Double(c) + Double(LayerNorm.epsilon)).squareRoot()
            for i in 0..<c {
                let expected = (xs[i] - m) * s * Double(w[i]) + Double(b[i])
                #expect(abs(Double(out[row * c + i]) - expected) < 1e-5, "row \(row), channel \(i)")
            }
        }
        let dx = try FloatBuffer(count: n * c), dw = try FloatBuffer(count: c), db = try FloatBuffer(count: c)
        let scratch = try FloatBuffer(count: LayerNorm.scratchCount(channels: c))
        LayerNorm.backward(dinp: dx.pointer, dweight: dw.pointer, dbias: db.pointer, dout: r.pointer,
                           inp: x.pointer, weight: w.pointer, mean: mean.pointer, rstd: rstd.pointer,
                           scratch: scratch.bufferPointer, rows: n, channels: c, workers: workers)
        for (input, gradient) in [(x, dx), (w, dw), (b, db)] {
            let result = check.directional(input: input, gradient: gradient.array, objective: objective)
            #expect(agrees(result), "\(result)")
        }
    }

    @Test func gelu() throws {
        var check = GradientCheck()
        let count = 37  // not a multiple of the vector width: the scalar tail is checked too
        let x = try check.buffer(count, scale: 3), r = try check.buffer(count)
        let out = try FloatBuffer(count: count)
        func objective() -> Double {
            GELU.forward(out: out.pointer, inp: x.pointer, count: count, workers: workers)
            return GradientCheck.dot(out, r)
        }
        let dx = try FloatBuffer(count: count)
        GELU.backward(dinp: dx.pointer, inp: x.pointer, dout: r.pointer, count: count, workers: workers)
        #expect(agrees(check.directional(input: x, gradient: dx.array, step: 1e-3, objective: objective)))
        // Values against the formula computed in Double.
        _ = objective()
        for i in 0..<count {
            let v = Double(x[i])
            let expected = 0.5 * v * (1 + _tanh(0.7978845608028654 * (v + 0.044715 * v * v * v)))
            #expect(abs(Double(out[i]) - expected) < 1e-6)
        }
    }

    /// Head size 4 runs the BLAS path everywhere; 16 and 32 run the causal C kernel on CPUs
    /// with AVX2 (with 13 and 19 positions: partial 6-row and 16-column tiles).
    @Test(arguments: [(time: 5, channels: 8), (time: 13, channels: 64), (time: 19, channels: 32)])
    func attention(time: Int, channels: Int) throws {
        var check = GradientCheck()
        let shape = AttentionShape(batch: 2, time: time, channels: channels, heads: 2)
        let n = shape.batch * shape.time, c = shape.channels
        let qkv = try check.buffer(n * 3 * c), r = try check.buffer(n * c)
        let out = try FloatBuffer(count: n * c), att = try FloatBuffer(count: shape.probabilityCount)
        func objective() -> Double {
            Attention.forward(out: out.pointer, probabilities: .keep(att.pointer), qkv: qkv.pointer,
                              shape: shape, workers: workers)
            return GradientCheck.dot(out, r)
        }
        _ = objective()
        let dqkv = try FloatBuffer(count: n * 3 * c), scratch = try FloatBuffer(count: shape.probabilityCount)
        Attention.backward(dqkv: dqkv.pointer, scratch: scratch.pointer, dout: r.pointer,
                           qkv: qkv.pointer, probabilities: att.pointer, shape: shape, workers: workers)
        for _ in 0..<3 {
            #expect(agrees(check.directional(input: qkv, gradient: dqkv.array, objective: objective)))
        }
        // Causality: the first position's output depends only on its own value vector.
        _ = objective()
        let hs = shape.headSize
        let t0 = out.array[0..<hs]
        let v0 = qkv.array[(2 * c)..<(2 * c + hs)]
        for (a, b) in zip(t0, v0) { #expect(abs(a - b) < 1e-6) }
    }

    @Test func matmulWithBias() throws {
        var check = GradientCheck()
        let n = 7, c = 5, oc = 9
        let x = try check.buffer(n * c), w = try check.buffer(c * oc), b = try check.buffer(oc), r = try check.buffer(n * oc)
        let out = try FloatBuffer(count: n * oc), ones = try FloatBuffer([Float](repeating: 1, count: n))
        func objective() -> Double {
            Matmul.forward(out: out.pointer, inp: x.pointer, weight: w.pointer, bias: b.pointer,
                           rows: n, inChannels: c, outChannels: oc, workers: workers)
            return GradientCheck.dot(out, r)
        }
        let dx = try FloatBuffer(count: n * c), dw = try FloatBuffer(count: c * oc), db = try FloatBuffer(count: oc)
        Matmul.backward(dinp: dx.pointer, dweight: dw.pointer, dbias: db.pointer, dout: r.pointer,
                        inp: x.pointer, weight: w.pointer, ones: ones.pointer, rows: n,
                        inChannels: c, outChannels: oc, workers: workers)
        for (input, gradient) in [(x, dx), (w, dw), (b, db)] {
            #expect(agrees(check.directional(input: input, gradient: gradient.array, objective: objective)))
        }
    }

    @Test func crossEntropyWithPaddedVocabulary() throws {
        var check = GradientCheck()
        let n = 4, v = 11, vp = 16
        let logits = try check.buffer(n * vp, scale: 3)
        let targets: [Int32] = [0, 10, 3, 7]
        let rowMax = try FloatBuffer(count: n), norm = try FloatBuffer(count: n), losses = try FloatBuffer(count: n)
        func objective() -> Double {
            Double(CrossEntropy.forward(logits: logits.pointer, rowMax: rowMax.pointer,
                                        normalizers: norm.pointer, losses: losses.pointer,
                                        targets: targets, rows: n, vocabSize: v,
                                        paddedVocabSize: vp, workers: workers))
        }
        let loss = objective()
        // Against a direct Double computation.
        var expected = 0.0
        for row in 0..<n {
            let x = (0..<v).map { Double(logits[row * vp + $0]) }
            let m = x.max()!
            let logSum = _log(x.map { _exp($0 - m) }.reduce(0, +)) + m
            expected += logSum - x[Int(targets[row])]
        }
        #expect(abs(loss - expected / Double(n)) < 1e-5)
        let gradient = try FloatBuffer(logits.array)
        CrossEntropy.backward(logits: gradient.pointer, rowMax: rowMax.pointer, normalizers: norm.pointer,
                              targets: targets, lossScale: 1 / Float(n), rows: n, vocabSize: v,
                              paddedVocabSize: vp, workers: workers)
        for row in 0..<n { for i in v..<vp { #expect(gradient[row * vp + i] == 0) } }
        #expect(agrees(check.directional(input: logits, gradient: gradient.array, objective: objective)))
    }

    /// Rows whose target is −1 are left out of the mean and get no gradient; the gradient of
    /// the mean over the scored rows agrees with finite differences.
    @Test func crossEntropyIgnoresMaskedRows() throws {
        var check = GradientCheck()
        let n = 5, v = 9, vp = 16
        let logits = try check.buffer(n * vp, scale: 3)
        let targets: [Int32] = [4, -1, 0, -1, 8]
        let rowMax = try FloatBuffer(count: n), norm = try FloatBuffer(count: n), losses = try FloatBuffer(count: n)
        func objective() -> Double {
            Double(CrossEntropy.forward(logits: logits.pointer, rowMax: rowMax.pointer, normalizers: norm.pointer,
                                        losses: losses.pointer, targets: targets, rows: n, vocabSize: v,
                                        paddedVocabSize: vp, workers: workers))
        }
        let loss = objective()
        var expected = 0.0
        for row in [0, 2, 4] {
            let x = (0..<v).map { Double(logits[row * vp + $0]) }
            let m = x.max()!
            expected += _log(x.map { _exp($0 - m) }.reduce(0, +)) + m - x[Int(targets[row])]
        }
        #expect(abs(loss - expected / 3) < 1e-5, "the mean is over the 3 scored rows")
        #expect(losses[1] == 0 && losses[3] == 0)
        #expect(CrossEntropy.targetCount(targets, rows: n) == 3)
        let gradient = try FloatBuffer(logits.array)
        CrossEntropy.backward(logits: gradient.pointer, rowMax: rowMax.pointer, normalizers: norm.pointer,
                              targets: targets, lossScale: 1 / 3, rows: n, vocabSize: v, paddedVocabSize: vp,
                              workers: workers)
        for row in [1, 3] { for i in 0..<vp { #expect(gradient[row * vp + i] == 0) } }
        #expect(agrees(check.directional(input: logits, gradient: gradient.array, objective: objective)))
    }

    @Test func embeddingAccumulatesRepeatedTokens() throws {
        let b = 1, t = 3, c = 2
        let dwte = try FloatBuffer(count: 4 * c), dwpe = try FloatBuffer(count: t * c)
        let dout = try FloatBuffer([1, 2, 3, 4, 5, 6])
        let tokens: [Int32] = [2, 1, 2]
        Embedding.backward(dwte: dwte.pointer, dwpe: dwpe.pointer, dout: dout.pointer, tokens: tokens,
                           batch: b, time: t, channels: c)
        #expect(dwte.array == [0, 0, 3, 4, 6, 8, 0, 0])
        #expect(dwpe.array == [1, 2, 3, 4, 5, 6])
    }

    @Test func vectorExpMatchesLibm() throws {
        var worst: Double = 0
        var x: Float = -80
        while x < 80 {
            let ours = Double(VectorMath.exp(x)), reference = _exp(Double(x))
            worst = max(worst, abs(ours - reference) / reference)
            x += 0.173
        }
        #expect(worst < 5e-7)
    }
}

#if canImport(Glibc)
import Glibc
#else
import Darwin
#endif
func _exp(_ x: Double) -> Double { exp(x) }
func _log(_ x: Double) -> Double { log(x) }
func _tanh(_ x: Double) -> Double { tanh(x) }
