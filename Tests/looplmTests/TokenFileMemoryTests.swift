import Foundation
import Testing

/// Token files are mapped, not read: training on a file far larger than the model touches
/// only the windows it samples, so peak memory stays with the model's own need.
@Suite struct TokenFileMemoryTests {
    /// 400 MB of tokens (a sparse file of token 0, made in an instant).
    static let largeTokenCount: Int32 = 200_000_000

    func peakResidentBytes(_ data: String, _ out: String) throws -> Int {
        let result = try Looplm.run(["train", "--data", data, "--out", out, "--preset", "tiny", "--steps", "4",
                                     "--batch", "2", "--context", "32", "--eval-interval", "4", "--eval-batches", "1",
                                     "--json"])
        #expect(result.status == 0, "\(result.stderr)")
        return try #require(json(result.stdout)["peak_resident_bytes"] as? Int)
    }

    @Test func aLargeTokenFileCostsOnlyWhatIsRead() throws {
        let root = temporaryDirectory("large-tokens")
        defer { try? FileManager.default.removeItem(atPath: root) }
        let small = try preparedCorpus(in: root)
        let large = root + "/large"
        try FileManager.default.createDirectory(atPath: large, withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: small + "/val.bin", toPath: large + "/val.bin")
        var header = [Int32](repeating: 0, count: 256)
        header[0] = 20_240_520
        header[1] = 1
        header[2] = Self.largeTokenCount
        header[3] = 1  // bytes
        let path = large + "/train.bin"
        try header.withUnsafeBytes { Data($0) }.write(to: URL(fileURLWithPath: path))
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
        try handle.truncate(atOffset: UInt64(1024 + 2 * Int(Self.largeTokenCount)))
        try handle.close()
        let fileBytes = try #require(try FileManager.default.attributesOfItem(atPath: path)[.size] as? Int)
        #expect(fileBytes > 400_000_000)

        let baseline = try peakResidentBytes(small, root + "/small-run")
        let peak = try peakResidentBytes(large, root + "/large-run")
        // The model, its optimizer and activations are a few MB; the file is 400 MB.
        #expect(peak - baseline < 16_000_000, "peak \(peak) bytes against \(baseline) on a small file")
    }
}
