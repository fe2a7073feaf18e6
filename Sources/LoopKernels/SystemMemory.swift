import Foundation
#if canImport(Glibc)
import Glibc
#else
import Darwin
#endif

/// Memory a job needs, compared with what the machine can give before anything large is
/// allocated, so that a run that cannot fit says so instead of being killed.
public enum SystemMemory {
    /// Bytes that can still be allocated: the smaller of what the machine can give without
    /// swapping (Linux's MemAvailable, or the physical memory elsewhere) and what the
    /// process's address-space limit (`ulimit -v`, RLIMIT_AS) leaves; nil when neither can be read.
    public static func availableBytes() -> Int? {
        switch (machineAvailableBytes(), addressSpaceLeft()) {
        case let (machine?, space?): return min(machine, space)
        case let (machine, space): return machine ?? space
        }
    }

    static func machineAvailableBytes() -> Int? {
        #if os(Linux)
        guard let kib = procField("/proc/meminfo", "MemAvailable:") else { return nil }
        return kib * 1024
        #else
        return Int(ProcessInfo.processInfo.physicalMemory)
        #endif
    }

    /// RLIMIT_AS minus the address space already mapped (nil: no limit, or not readable).
    static func addressSpaceLeft() -> Int? {
        #if os(Linux)
        var limit = rlimit()
        guard getrlimit(__rlimit_resource_t(RLIMIT_AS.rawValue), &limit) == 0, limit.rlim_cur != rlim_t.max,
            let mappedKiB = procField("/proc/self/status", "VmSize:")
        else { return nil }
        let cap = Int(clamping: limit.rlim_cur)
        return max(0, cap - mappedKiB * 1024)
        #else
        return nil  // Darwin does not enforce RLIMIT_AS
        #endif
    }

    /// The number after `key` on its line of a /proc file (values in kB).
    static func procField(_ path: String, _ key: String) -> Int? {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return nil }
        for line in text.split(separator: "\n") where line.hasPrefix(key) {
            let fields = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
            guard fields.count >= 2 else { return nil }
            return Int(fields[1])
        }
        return nil
    }

    /// The most memory this process has held at once (its peak resident set).
    public static func peakResidentBytes() -> Int {
        #if os(Linux)
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        return usage.ru_maxrss * 1024
        #else
        var usage = rusage()
        getrusage(RUSAGE_SELF, &usage)
        return usage.ru_maxrss
        #endif
    }

    /// Throws unless `bytes` (nil: too large to count) fits in the available memory.
    /// `what` names the job; `advice` says which options make it smaller.
    public static func require(_ bytes: Int?, for what: String, advice: String) throws(MemoryError) {
        guard let bytes else { throw MemoryError(needed: nil, available: availableBytes(), what: what, advice: advice) }
        if let available = availableBytes(), bytes > available {
            throw MemoryError(needed: bytes, available: available, what: what, advice: advice)
        }
    }

    /// "1.23 GB"
    public static func format(_ bytes: Int) -> String {
        let value = Double(bytes)
        if value >= 1e9 { return String(format: "%.2f GB", value / 1e9) }
        if value >= 1e6 { return String(format: "%.1f MB", value / 1e6) }
        return String(format: "%.0f kB", value / 1e3)
    }
}

/// A job that needs more memory than the machine has.
public struct MemoryError: Error, Equatable, CustomStringConvertible {
    public let needed: Int?  // nil: more than can be counted
    public let available: Int?
    public let what: String
    public let advice: String

    public init(needed: Int?, available: Int?, what: String, advice: String) {
        self.needed = needed
        self.available = available
        self.what = what
        self.advice = advice
    }

    public var description: String {
        let need = needed.map(SystemMemory.format) ?? "more bytes than can be counted"
        let have = available.map { ", but only \(SystemMemory.format($0)) is available" } ?? ""
        return "\(what) needs \(need)\(have); \(advice)"
    }
}

/// Overflow-checked arithmetic for sizes computed from untrusted numbers.
public enum CheckedSize {
    /// The product, or nil on overflow.
    public static func product(_ factors: Int...) -> Int? { product(factors) }

    public static func product(_ factors: [Int]) -> Int? {
        var result = 1
        for factor in factors {
            let (value, overflow) = result.multipliedReportingOverflow(by: factor)
            if overflow { return nil }
            result = value
        }
        return result
    }

    /// The sum, or nil on overflow (or when any term is nil).
    public static func sum(_ terms: Int?...) -> Int? { sum(terms) }

    public static func sum(_ terms: [Int?]) -> Int? {
        var result = 0
        for term in terms {
            guard let term else { return nil }
            let (value, overflow) = result.addingReportingOverflow(term)
            if overflow { return nil }
            result = value
        }
        return result
    }
}
