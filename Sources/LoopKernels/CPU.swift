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

    /// Whether to use the AVX2+FMA kernels of CKernels (decode dot products, softmax, GELU):
    /// decided once, from the CPU this runs on. LoopLM's Swift kernels are compiled for
    /// baseline x86-64, so one binary serves every x86 machine.
    public static let hasAVX2Kernels = simd >= .avx2 && looplm_has_avx2_kernels() != 0

    /// "AMD EPYC (AVX2+FMA, 2 cores)"
    public static var description: String {
        "\(model) (\(simd.rawValue), \(ProcessInfo.processInfo.activeProcessorCount) cores)"
    }
}
