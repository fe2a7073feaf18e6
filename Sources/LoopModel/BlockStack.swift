import LoopKernels

/// The block stack of a forward and backward pass, application by application:
/// prelude, `loops` passes over the looped blocks, coda. Before each pass the stream may get
/// the embedded input again (injection, passes after the first) and a learned step embedding.
extension LoopGPT {
    /// Whether pass `n` adds anything to the stream before its first block.
    func passAddsToStream(_ n: Int) -> Bool {
        (config.injectInput && n >= 1) || config.loopEmbeddings > 0
    }

    /// Row of the step-embedding table used by pass `n` (the last row past the table).
    func loopEmbeddingRow(_ n: Int) -> Int { min(n, config.loopEmbeddings - 1) }

    func forwardStack(_ acts: Activations) {
        let layout = acts.layout, n = acts.batch * acts.time, c = config.channels
        let runner = BlockRunner(config: config, table: table, workers: workers)
        for a in 0..<layout.effectiveDepth {
            var input = a == 0 ? acts.encoded : acts.perApplication[a - 1].output
            if let (pass, index) = layout.pass(ofApplication: a), index == 0, passAddsToStream(pass) {
                let x = acts.passInputs[pass].pointer, previous = input.pointer
                x.update(from: previous, count: n * c)
                if config.injectInput && pass >= 1 {
                    Residual.forward(out: x, a: x, b: acts.embeddedInput.pointer, count: n * c, workers: workers)
                }
                if let spec = table.loopEmbedding {
                    let row = parameters.pointer + spec.offset + loopEmbeddingRow(pass) * c
                    for r in 0..<n { for i in 0..<c { x[r * c + i] += row[i] } }
                }
                input = acts.passInputs[pass]
            }
            acts.inputs[a] = input
            runner.forward(block: layout.block(forApplication: a), input: input, into: acts.perApplication[a],
                           parameters: parameters.pointer, batch: acts.batch, time: acts.time)
        }
    }

    /// On entry `acts.dResidual` holds dL/d(final residual); on exit dL/d(embeddings).
    /// Truncated passes (activations not kept) stop the gradient along the stream; the
    /// embedded input still gets what flows into it through the injections of kept passes.
    func backwardStack(_ acts: Activations) {
        let layout = acts.layout, n = acts.batch * acts.time, c = config.channels
        let p = parameters.pointer, g = gradients.pointer
        let runner = BlockRunner(config: config, table: table, workers: workers)
        if config.injectInput { acts.dInjected.zero() }
        let loopEnd = layout.prelude + layout.looped * layout.loops
        var a = layout.effectiveDepth - 1
        while a >= 0 {
            runner.backward(block: layout.block(forApplication: a), input: acts.inputs[a],
                            activations: acts.perApplication[a], scratch: acts, parameters: p, gradients: g)
            if let (pass, index) = layout.pass(ofApplication: a), index == 0, passAddsToStream(pass) {
                if let spec = table.loopEmbedding {
                    BLAS.gemvTransposed(m: n, n: c, a: acts.dResidual.pointer, lda: c, x: acts.ones.pointer,
                                        beta: 1, y: g + spec.offset + loopEmbeddingRow(pass) * c)
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
