/// GPT-2's input: token embedding plus learned position embedding.
public enum Embedding {
    /// out[n, :] = wte[tokens[n], :] + wpe[positions[n], :] for each of the N rows.
    public static func forward(
        out: UnsafeMutablePointer<Float>,  // (N, C)
        tokens: UnsafePointer<Int32>,  // (N)
        positions: UnsafePointer<Int32>,  // (N)
        wte: UnsafePointer<Float>,  // (V, C)
        wpe: UnsafePointer<Float>,  // (maxT, C)
        rows n: Int, channels c: Int, workers: Workers
    ) {
        workers.forEachChunk(n, minPerChunk: 64) { rows, _ in
            for row in rows {
                let token = (wte + Int(tokens[row]) * c), position = wpe + Int(positions[row]) * c
                let y = out + row * c
                for i in 0..<c { y[i] = token[i] + position[i] }
            }
        }
    }

    /// dwte[tokens[b, t], :] += dout[b, t, :]; dwpe[t, :] += dout[b, t, :].
    public static func backward(
        dwte: UnsafeMutablePointer<Float>, dwpe: UnsafeMutablePointer<Float>,
        dout: UnsafePointer<Float>, tokens: UnsafePointer<Int32>,
        batch b: Int, time t: Int, channels c: Int
    ) {
        for row in 0..<(b * t) {
            let token = dwte + Int(tokens[row]) * c, position = dwpe + (row % t) * c
            let dy = dout + row * c
            for i in 0..<c {
                token[i] += dy[i]
                position[i] += dy[i]
            }
        }
    }
}
