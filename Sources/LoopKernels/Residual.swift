/// out = a + b, elementwise (the residual stream update x ← x + f(x)).
public enum Residual {
    public static func forward(
        out: UnsafeMutablePointer<Float>, a: UnsafePointer<Float>, b: UnsafePointer<Float>,
        count: Int, workers: Workers
    ) {
        workers.forEachChunk(count, minPerChunk: 32768) { range, _ in
            for i in range { out[i] = a[i] + b[i] }
        }
    }
}
