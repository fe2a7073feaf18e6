import Dispatch
import LoopKernels
import LoopModel

/// The roofline of a training step: the same sgemm calls, with the same shapes and
/// transposes, and nothing else. A step can go no faster than this on this BLAS.
struct BLASCeiling {
    let seconds: Double
    let flops: Double

    struct Call {
        let transposeA: Bool, transposeB: Bool
        let m: Int, n: Int, k: Int
        let count: Int  // how many times per step
    }

    static func calls(config: ModelConfiguration, batch: Int, time t: Int) -> [Call] {
        let n = batch * t, c = config.channels, vp = config.paddedVocabSize
        let hs = config.headSize, heads = batch * config.heads, l = config.layout.effectiveDepth
        var calls: [Call] = []
        for (inC, outC) in [(c, 3 * c), (c, c), (c, 4 * c), (4 * c, c)] {
            calls.append(Call(transposeA: false, transposeB: false, m: n, n: outC, k: inC, count: l))
            calls.append(Call(transposeA: false, transposeB: true, m: n, n: inC, k: outC, count: l))
            calls.append(Call(transposeA: true, transposeB: false, m: inC, n: outC, k: n, count: l))
        }
        // Attention: forward QKᵀ, PV; backward dY·Vᵀ, Pᵀ·dY, dS·K, dSᵀ·Q.
        calls.append(Call(transposeA: false, transposeB: true, m: t, n: t, k: hs, count: 2 * l * heads))
        calls.append(Call(transposeA: false, transposeB: false, m: t, n: hs, k: t, count: 2 * l * heads))
        calls.append(Call(transposeA: true, transposeB: false, m: t, n: hs, k: t, count: 2 * l * heads))
        // Tied output head: logits, dlnf, dwte.
        calls.append(Call(transposeA: false, transposeB: true, m: n, n: vp, k: c, count: 1))
        calls.append(Call(transposeA: false, transposeB: false, m: n, n: c, k: vp, count: 1))
        calls.append(Call(transposeA: true, transposeB: false, m: vp, n: c, k: n, count: 1))
        return calls
    }

    /// Runs each call shape on scratch buffers (one warm-up, then timed) and sums, threaded
    /// as the model threads them: many small calls (attention heads) spread over the
    /// workers, each large call split into bands (`BLAS.gemm(…, workers:)`).
    static func measure(
        config: ModelConfiguration, batch: Int, time: Int, workers: Workers
    ) throws(MemoryError) -> BLASCeiling {
        var seconds = 0.0, flops = 0.0
        for call in calls(config: config, batch: batch, time: time) {
            let a = try FloatBuffer(count: call.m * call.k), b = try FloatBuffer(count: call.k * call.n)
            var outputs: [FloatBuffer] = []
            for _ in 0..<workers.threads { outputs.append(try FloatBuffer(count: call.m * call.n)) }
            let lda = call.transposeA ? call.m : call.k, ldb = call.transposeB ? call.k : call.n
            let perHead = call.count >= 4 * workers.threads
            func run() {
                if perHead {
                    workers.forEachChunk(workers.threads) { threads, _ in
                        for thread in threads {
                            BLAS.gemm(transposeA: call.transposeA, transposeB: call.transposeB,
                                      m: call.m, n: call.n, k: call.k, a: a.pointer, lda: lda,
                                      b: b.pointer, ldb: ldb, beta: 0, c: outputs[thread].pointer,
                                      ldc: call.n, kernel: workers.sgemm)
                        }
                    }
                } else {
                    BLAS.gemm(transposeA: call.transposeA, transposeB: call.transposeB,
                              m: call.m, n: call.n, k: call.k, a: a.pointer, lda: lda,
                              b: b.pointer, ldb: ldb, beta: 0, c: outputs[0].pointer, ldc: call.n,
                              workers: workers)
                }
            }
            run()
            let calls = perHead ? call.count / workers.threads : call.count
            let repeats = min(calls, 8)
            let start = DispatchTime.now().uptimeNanoseconds
            for _ in 0..<repeats { run() }
            let each = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9 / Double(repeats)
            seconds += each * Double(calls)
            flops += 2 * Double(call.m * call.n * call.k * call.count)
        }
        return BLASCeiling(seconds: seconds, flops: flops)
    }
}
