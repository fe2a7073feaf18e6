import LoopKernels

/// The backward of `Block.forward` for one training application. Parameter gradients are
/// accumulated (+=), so a block applied several times sums its gradients over applications
/// with no extra code.
struct BlockBackward {
    let config: ModelConfiguration
    let table: ParameterTable
    let workers: Workers

    /// On entry `acts.dResidual` holds dL/d(output); on exit dL/d(input).
    func backward(
        block: Int, input x: FloatBuffer, activations act: ApplicationActivations,
        scratch s: Activations, parameters: UnsafeMutablePointer<Float>,
        gradients: UnsafeMutablePointer<Float>
    ) {
        let n = s.batch * s.time, c = config.channels
        func w(_ tensor: BlockTensor) -> UnsafeMutablePointer<Float> {
            parameters + table.offset(block: block, tensor)
        }
        func g(_ tensor: BlockTensor) -> UnsafeMutablePointer<Float> {
            gradients + table.offset(block: block, tensor)
        }
        let shape = AttentionShape(batch: s.batch, time: s.time, channels: c, heads: config.heads)
        let dResidual = s.dResidual.pointer

        // MLP branch.
        Matmul.backward(dinp: s.dFC.pointer, dweight: g(.fcProjectionWeight),
                        dbias: g(.fcProjectionBias), dout: dResidual, inp: act.fcGelu.pointer,
                        weight: w(.fcProjectionWeight), ones: s.ones.pointer,
                        rows: n, inChannels: 4 * c, outChannels: c, workers: workers)
        GELU.backward(dinp: s.dFC.pointer, inp: act.fc.pointer, dout: s.dFC.pointer,
                      count: n * 4 * c, workers: workers)
        Matmul.backward(dinp: s.dNormed.pointer, dweight: g(.fcWeight), dbias: g(.fcBias),
                        dout: s.dFC.pointer, inp: act.ln2.pointer, weight: w(.fcWeight),
                        ones: s.ones.pointer, rows: n, inChannels: c, outChannels: 4 * c,
                        workers: workers)
        LayerNorm.backward(dinp: dResidual, dweight: g(.ln2Weight), dbias: g(.ln2Bias),
                           dout: s.dNormed.pointer, inp: act.afterAttention.pointer,
                           weight: w(.ln2Weight), mean: act.ln2Mean.pointer,
                           rstd: act.ln2Rstd.pointer, scratch: s.layerNormScratch.bufferPointer,
                           rows: n, channels: c, workers: workers)

        // Attention branch.
        Matmul.backward(dinp: s.dAttentionOutput.pointer, dweight: g(.attentionProjectionWeight),
                        dbias: g(.attentionProjectionBias), dout: dResidual,
                        inp: act.attentionOutput.pointer, weight: w(.attentionProjectionWeight),
                        ones: s.ones.pointer, rows: n, inChannels: c, outChannels: c,
                        workers: workers)
        Attention.backward(dqkv: s.dQKV.pointer, scratch: s.dScores.pointer,
                           dout: s.dAttentionOutput.pointer, qkv: act.qkv.pointer,
                           probabilities: act.attention.pointer, shape: shape, workers: workers)
        Matmul.backward(dinp: s.dNormed.pointer, dweight: g(.qkvWeight), dbias: g(.qkvBias),
                        dout: s.dQKV.pointer, inp: act.ln1.pointer, weight: w(.qkvWeight),
                        ones: s.ones.pointer, rows: n, inChannels: c, outChannels: 3 * c,
                        workers: workers)
        LayerNorm.backward(dinp: dResidual, dweight: g(.ln1Weight), dbias: g(.ln1Bias),
                           dout: s.dNormed.pointer, inp: x.pointer, weight: w(.ln1Weight),
                           mean: act.ln1Mean.pointer, rstd: act.ln1Rstd.pointer,
                           scratch: s.layerNormScratch.bufferPointer, rows: n, channels: c,
                           workers: workers)
    }
}
