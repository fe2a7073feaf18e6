import CKernels
import Foundation

/// What processor this is: its model name and the widest SIMD it offers, for reports (every
/// speed figure is quoted with the machine it came from) and for choosing kernels at run time.
public enum CPU {
    /// The vector instruction sets LoopLM distinguishes, widest last.
    public enum SIMDLevel: String, Sendable, Comparable, CaseIterable {
        case baseline = "SSE2"
        case avx2 = "AVX2+FMA"
        case avx512 = "AVX-512"

        public static func < (a: SIMDLevel, b: SIMDLevel) -> Bool {
            allCases.firstIndex(of: a)! < allCases.firstIndex(of: b)!
        }
    }

    /// The CPU's model name (from /proc/cpuinfo on Linux, sysctl on Apple platforms).
    public static let model: String = {
        #if canImport(Darwin)
        var size = 0
        if sysctlbyname("machdep.cpu.brand_string", nil, &size, nil, 0) == 0, size > 0 {
            var name = [CChar](repeating: 0, count: size)
            if sysctlbyname("machdep.cpu.brand_string", &name, &size, nil, 0) == 0 {
                return String(decoding: name.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            }
        }
        #endif
        #if os(Linux)
        if let info = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8) {
            for line in info.split(separator: "\n") where line.hasPrefix("model name") {
                if let value = line.split(separator: ":", maxSplits: 1).last {
                    return value.trimmingCharacters(in: .whitespaces)
                }
            }
        }
        #endif
        return "unknown CPU"
    }()

    /// The widest SIMD level the CPU and operating system support.
    public static let simd: SIMDLevel = {
        #if os(Linux) && arch(x86_64)
        if let info = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8),
            let flags = info.split(separator: "\n").first(where: { $0.hasPrefix("flags") })
        {
            let set = Set(flags.split(separator: " ").map(String.init))
            if set.isSuperset(of: ["avx512f", "avx512bw", "avx512vl", "fma"]) { return .avx512 }
            if set.isSuperset(of: ["avx2", "fma"]) { return .avx2 }
        }
        #endif
        return .baseline
    }()

    /// Whether the CPU runs each 512-bit vector operation as two 256-bit halves: AMD's Zen 4 (family
    /// 25 with AVX-512; Zen 3, also family 25, has no AVX-512). There a 512-bit kernel does no more
    /// arithmetic per cycle than an AVX2 one, so the AVX2 kernels are chosen when they were measured
    /// faster (`SGEMMKernel.preferred`).
    public static let splitsWideVectors: Bool = {
        guard simd == .avx512 else { return false }
        #if os(Linux) && arch(x86_64)
        if let info = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8) {
            return isAMDFamily25(cpuinfo: info)
        }
        #endif
        return false
    }()

    /// AMD family 25 (Zen 3 and Zen 4), from /proc/cpuinfo's first processor; parsed apart so tests
    /// can give it any text.
    static func isAMDFamily25(cpuinfo: String) -> Bool {
        var vendor: Substring?
        var family: Substring?
        for line in cpuinfo.split(separator: "\n", omittingEmptySubsequences: false) {
            if line.isEmpty { break }  // the first processor's block ends here
            let parts = line.split(separator: ":", maxSplits: 1)
            guard parts.count == 2 else { continue }
            let key = parts[0].trimmingCharacters(in: .whitespaces)
            let value = parts[1].drop { $0 == " " || $0 == "\t" }
            if key == "vendor_id" { vendor = value }
            if key == "cpu family" { family = value }
        }
        return vendor == "AuthenticAMD" && family == "25"
    }

    /// Whether to use the AVX2+FMA kernels of CKernels (decode dot products, softmax, GELU):
    /// decided once, from the CPU this runs on. LoopLM's Swift kernels are compiled for
    /// baseline x86-64, so one binary serves every x86 machine.
    public static let hasAVX2Kernels = simd >= .avx2 && looplm_has_avx2_kernels() != 0

    /// "AMD EPYC (AVX2+FMA, 2 cores)"
    public static var description: String {
        "\(model) (\(simd.rawValue), \(ProcessInfo.processInfo.activeProcessorCount) cores)"
    }
}
