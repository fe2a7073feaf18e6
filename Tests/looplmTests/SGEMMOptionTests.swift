import Foundation
import LoopKernels
import Testing

/// `--sgemm`: the binary runs the step with the kernel asked for, says which in its report, and
/// refuses what it does not know or what this CPU cannot run.
@Suite struct SGEMMOptionTests {
    func benchKernel(_ choice: String) throws -> CommandResult {
        try Looplm.run(["bench", "--preset", "tiny", "--batch", "2", "--steps", "1", "--warmup", "0", "--no-roofline",
                        "--json", "--sgemm", choice])
    }

    @Test func reportsTheKernelAskedFor() throws {
        var choices = ["openblas": "openblas", "auto": SGEMMKernel.preferred.rawValue]
        if SGEMMKernel.avx2.isSupported { choices["avx2"] = "avx2" }
        for (choice, expected) in choices {
            let result = try benchKernel(choice)
            #expect(result.status == 0, "\(result.stderr)")
            let report = try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any]
            #expect(report?["sgemm"] as? String == expected, "--sgemm \(choice)")
            #expect((report?["tokens_per_second"] as? Double ?? 0) > 0)
        }
    }

    @Test func unknownOrUnsupportedKernelIsRefused() throws {
        let unknown = try benchKernel("mkl")
        #expect(unknown.status != 0)
        #expect(unknown.stderr.contains("sgemm"), "\(unknown.stderr)")
        if !SGEMMKernel.avx2.isSupported {
            let unsupported = try benchKernel("avx2")
            #expect(unsupported.status != 0)
            #expect(unsupported.stderr.contains("AVX2"), "\(unsupported.stderr)")
        }
    }
}
