import LoopKernels

/// The block stack of a training forward and backward pass, application by application:
/// prelude, `loops` passes over the looped blocks, coda. Before each pass the stream may get
/// the embedded input again and a learned step embedding (`PassInput`).
extension LoopGPT {
    func forwardStack(_ acts: Activations) {
        let layout = acts.layout, n = acts.batch * acts.time, c = config.channels
        let shape = AttentionShape(batch: acts.batch, time: acts.time, channels: c, heads: config.heads)
        for a in 0..<layout.effectiveDepth {
            var input = a == 0 ? acts.encoded : acts.output(of: a - 1)
            if let (pass, index) = layout.pass(ofApplication: a), index == 0,
                PassInput.addsToStream(pass: pass, config: config)
            {
                let x = acts.passInputs[pass]
                x.pointer.update(from: input.pointer, count: n * c)
                PassInput.add(pass: pass, to: x.pointer, embedded: acts.embeddedInput.pointer, rows: n,
                              weights: weights, workers: workers)
                input = x
            }
            acts.inputs[a] = input
            Block.forward(weights.blocks[layout.block(forApplication: a)], input: input.pointer,
                          buffers: acts.forwardBuffers(a), rows: n,
                          attention: .batch(shape, .keep(acts.perApplication[a].attention.pointer)), config: config,
                          workers: workers)
        }
    }

    /// With recomputation: runs application `a` forward again into its scratch set, so its
    /// backward finds the activations it needs (bit for bit the ones forward computed).
    func recomputeApplication(_ a: Int, _ acts: Activations) {
        let set = acts.perApplication[a]
        let shape = AttentionShape(batch: acts.batch, time: acts.time, channels: config.channels, heads: config.heads)
        Block.forward(weights.blocks[acts.layout.block(forApplication: a)], input: acts.inputs[a].pointer,
                      buffers: set.buffers, rows: acts.batch * acts.time, attention: .batch(shape, .keep(set.attention.pointer)),
                      config: config, workers: workers)
    }

    /// On entry `acts.dResidual` holds dL/d(final residual); on exit dL/d(embeddings).
    /// Truncated passes (activations not kept) stop the gradient along the stream; the
    /// embedded input still gets what flows into it through the injections of kept passes.
    func backwardStack(_ acts: Activations) {
        let layout = acts.layout, n = acts.batch * acts.time, c = config.channels
        let p = parameters.pointer, g = gradients.pointer
        let runner = BlockBackward(config: config, table: table, workers: workers)
        if config.injectInput { acts.dInjected.zero() }
        let loopEnd = layout.prelude + layout.looped * layout.loops
        var a = layout.effectiveDepth - 1
        let heads = acts.objective.perPass ? acts.passHeadBuffers : nil
        while a >= 0 {
            // Where a pass ends, its own prediction's gradient joins the stream's.
            if let heads, let (pass, index) = layout.pass(ofApplication: a), index == layout.looped - 1, pass < layout.loops - 1 {
                Residual.forward(out: acts.dResidual.pointer, a: acts.dResidual.pointer, b: heads.dStates[pass].pointer,
                                 count: n * c, workers: workers)
            }
            if acts.recompute { recomputeApplication(a, acts) }
            runner.backward(block: layout.block(forApplication: a), input: acts.inputs[a],
                            activations: acts.perApplication[a], scratch: acts, parameters: p, gradients: g)
            if let (pass, index) = layout.pass(ofApplication: a), index == 0,
                PassInput.addsToStream(pass: pass, config: config)
            {
                if let spec = table.loopEmbedding {
                    let row = min(pass, config.loopEmbeddings - 1)
                    BLAS.gemvTransposed(m: n, n: c, a: acts.dResidual.pointer, lda: c, x: acts.ones.pointer,
                                        beta: 1, y: g + spec.offset + row * c)
                }
                if config.injectInput && pass >= 1 {
                    Residual.forward(out: acts.dInjected.pointer, a: acts.dInjected.pointer,
                                     b: acts.dResidual.pointer, count: n * c, workers: workers)
                }
            }
            a -= 1
            if a >= layout.prelude && a < loopEnd && !acts.keepsActivations(a) {
                acts.dResidual.zero()  // truncated: no gradient through the earlier passes
                a = layout.prelude - 1
            }
            if a == layout.prelude - 1 && config.injectInput {
                Residual.forward(out: acts.dResidual.pointer, a: acts.dResidual.pointer,
                                 b: acts.dInjected.pointer, count: n * c, workers: workers)
            }
        }
    }
}
