import Foundation
import LoopKernels

/// What the objectives other than `last` keep per loop pass t, for N rows.
final class PassHeadBuffers {
    let passes: Int
    let normed: [FloatBuffer]  // (N, C) ln_f of the state after the pass
    let mean: [FloatBuffer], rstd: [FloatBuffer]  // (N)
    let losses: [FloatBuffer], rowMax: [FloatBuffer], normalizers: [FloatBuffer]  // (N) its cross-entropy
    let lossWeights: [FloatBuffer]  // (N) d objective / d L_t, already divided by the scored rows
    let gateLogits: [FloatBuffer], dGateLogits: [FloatBuffer]  // (N) a_t = w · z_t + b, and d objective / d a_t
    let dStates: [FloatBuffer]  // (N, C) d objective / d h_t through this pass's head

    init(passes: Int, rows n: Int, channels c: Int) throws(MemoryError) {
        self.passes = passes
        func buffers(_ count: Int) throws(MemoryError) -> [FloatBuffer] {
            var list: [FloatBuffer] = []
            for _ in 0..<passes { list.append(try FloatBuffer(count: count)) }
            return list
        }
        normed = try buffers(n * c)
        mean = try buffers(n)
        rstd = try buffers(n)
        losses = try buffers(n)
        rowMax = try buffers(n)
        normalizers = try buffers(n)
        lossWeights = try buffers(n)
        gateLogits = try buffers(n)
        dGateLogits = try buffers(n)
        dStates = try buffers(n * c)
    }

    /// Floats held per row for `passes` passes.
    static func floatsPerRow(passes: Int, channels c: Int) -> Int { passes * (2 * c + 9) }
}

/// The objectives that read every pass's prediction (`LoopObjective`): each pass's state goes
/// through ln_f and the tied head, its cross-entropy is weighted by the objective, and in
/// backward its gradient joins the stream's where the pass ends.
extension LoopGPT {
    /// The stream after pass t.
    func passState(_ acts: Activations, pass t: Int) -> FloatBuffer {
        acts.output(of: acts.layout.prelude + (t + 1) * acts.layout.looped - 1)
    }

    /// Forward of every pass's head and the objective's value (mean over scored rows).
    func passHeadsForward(_ acts: Activations, objective: LoopObjective) throws(MemoryError) -> Float {
        let layout = acts.layout, n = acts.batch * acts.time, c = config.channels, v = config.vocabSize
        let heads = try acts.passHeads(passes: layout.loops)
        let vp = config.paddedVocabSize, logits = acts.logits.pointer
        acts.targets.withUnsafeBufferPointer { ids in
            for t in 0..<layout.loops {
                LayerNorm.forward(out: heads.normed[t].pointer, mean: heads.mean[t].pointer, rstd: heads.rstd[t].pointer,
                                  inp: passState(acts, pass: t).pointer, weight: weights.finalNormWeight,
                                  bias: weights.finalNormBias, rows: n, channels: c, workers: workers)
                for rows in headChunks(acts) {
                    BLAS.gemm(transposeB: true, m: rows.count, n: vp, k: c, a: heads.normed[t].pointer + rows.lowerBound * c,
                              lda: c, b: weights.tokenEmbedding, ldb: c, beta: 0, c: logits, ldc: vp, workers: workers)
                    _ = CrossEntropy.forward(logits: logits, rowMax: heads.rowMax[t].pointer + rows.lowerBound,
                                             normalizers: heads.normalizers[t].pointer + rows.lowerBound,
                                             losses: heads.losses[t].pointer + rows.lowerBound,
                                             targets: ids.baseAddress! + rows.lowerBound, rows: rows.count, vocabSize: v,
                                             paddedVocabSize: vp, workers: workers)
                }
                if t < layout.loops - 1, let gate = weights.exitGate {
                    let z = heads.normed[t].pointer, a = heads.gateLogits[t].pointer
                    workers.forEachChunk(n, minPerChunk: 64) { range, _ in
                        for row in range {
                            var sum = gate.bias[0]
                            for i in 0..<c { sum += gate.weight[i] * z[row * c + i] }
                            a[row] = sum
                        }
                    }
                }
            }
        }
        // The objective row by row (Double), with its derivatives for backward.
        let passes = layout.loops, scored = max(acts.targetCount, 1)
        var total = 0.0
        for row in 0..<n {
            let has = acts.targets[row] != CrossEntropy.ignored
            let losses = (0..<passes).map { Double(heads.losses[$0][row]) }
            let lambdas = (0..<(passes - 1)).map { 1 / (1 + exp(-Double(heads.gateLogits[$0][row]))) }
            var dLosses = [Double](repeating: 0, count: passes), dLogits = [Double](repeating: 0, count: passes - 1)
            if has {
                switch objective {
                case .last:
                    total += losses[passes - 1]
                    dLosses[passes - 1] = 1
                case .all:
                    total += losses.reduce(0, +) / Double(passes)
                    dLosses = Array(repeating: 1 / Double(passes), count: passes)
                case .gate(let beta):
                    let (value, dL, dLambda) = GateObjective.stageOne(losses: losses, lambdas: lambdas, entropy: Double(beta))
                    total += value
                    dLosses = dL
                    dLogits = zip(dLambda, lambdas).map { $0 * $1 * (1 - $1) }
                case .gateOnly(let k, let margin):
                    let targets = GateObjective.exitTargets(losses: losses, sharpness: Double(k), margin: Double(margin))
                    let (value, dA) = GateObjective.stageTwo(lambdas: lambdas, targets: targets)
                    total += value
                    dLogits = dA
                    dLosses = Array(repeating: 0, count: passes)  // the losses are detached
                }
            }
            for t in 0..<passes { heads.lossWeights[t][row] = Float(dLosses[t] / Double(scored)) }
            for t in 0..<(passes - 1) { heads.dGateLogits[t][row] = Float(dLogits[t] / Double(scored)) }
        }
        return Float(total / Double(scored))
    }

    /// Backward of every pass's head: parameter gradients of the head, ln_f and the gate, and
    /// each pass's d objective / d h_t in `dStates` (the last pass's in `dResidual`). Returns
    /// false when only the gate learns (stage II): nothing flows into the stack.
    func passHeadsBackward(_ acts: Activations, objective: LoopObjective) -> Bool {
        guard let heads = acts.passHeadBuffers else { preconditionFailure("backward after a per-pass forward") }
        let n = acts.batch * acts.time, c = config.channels, vp = config.paddedVocabSize, v = config.vocabSize
        let p = parameters.pointer, g = gradients.pointer, logits = acts.logits.pointer
        let trunk = !isGateOnly(objective)
        for t in 0..<heads.passes {
            if trunk {
                acts.targets.withUnsafeBufferPointer { ids in
                    for rows in headChunks(acts) {
                        BLAS.gemm(transposeB: true, m: rows.count, n: vp, k: c, a: heads.normed[t].pointer + rows.lowerBound * c,
                                  lda: c, b: weights.tokenEmbedding, ldb: c, beta: 0, c: logits, ldc: vp, workers: workers)
                        CrossEntropy.backward(logits: logits, rowMax: heads.rowMax[t].pointer + rows.lowerBound,
                                              normalizers: heads.normalizers[t].pointer + rows.lowerBound,
                                              targets: ids.baseAddress! + rows.lowerBound, lossScale: 1,
                                              rowScales: heads.lossWeights[t].pointer + rows.lowerBound, rows: rows.count,
                                              vocabSize: v, paddedVocabSize: vp, workers: workers)
                        BLAS.gemm(m: rows.count, n: c, k: vp, a: logits, lda: vp, b: p + table.wte.offset, ldb: c, beta: 0,
                                  c: acts.dNormed.pointer + rows.lowerBound * c, ldc: c, workers: workers)
                        BLAS.gemm(transposeA: true, m: vp, n: c, k: rows.count, a: logits, lda: vp,
                                  b: heads.normed[t].pointer + rows.lowerBound * c, ldb: c, beta: 1, c: g + table.wte.offset,
                                  ldc: c, workers: workers)
                    }
                }
            } else {
                acts.dNormed.zero()
            }
            if t < heads.passes - 1, let weight = table.exitGateWeight, let bias = table.exitGateBias {
                let dA = heads.dGateLogits[t].pointer, z = heads.normed[t].pointer, dz = acts.dNormed.pointer
                let w = p + weight.offset
                for row in 0..<n where dA[row] != 0 {
                    for i in 0..<c {
                        dz[row * c + i] += dA[row] * w[i]
                        g[weight.offset + i] += dA[row] * z[row * c + i]
                    }
                    g[bias.offset] += dA[row]
                }
            }
            guard trunk else { continue }
            heads.dStates[t].zero()
            LayerNorm.backward(dinp: heads.dStates[t].pointer, dweight: g + table.lnfWeight.offset,
                               dbias: g + table.lnfBias.offset, dout: acts.dNormed.pointer,
                               inp: passState(acts, pass: t).pointer, weight: p + table.lnfWeight.offset,
                               mean: heads.mean[t].pointer, rstd: heads.rstd[t].pointer,
                               scratch: acts.layerNormScratch.bufferPointer, rows: n, channels: c, workers: workers)
        }
        guard trunk else { return false }
        acts.dResidual.pointer.update(from: heads.dStates[heads.passes - 1].pointer, count: n * c)
        return true
    }

    func isGateOnly(_ objective: LoopObjective) -> Bool {
        if case .gateOnly = objective { return true }
        return false
    }
}
