#if canImport(Glibc)
import Glibc
#endif
@testable import LoopKernels
@testable import LoopModel
import Testing

/// A one-sequence cache asks the kernel for huge pages (its every-token walk would otherwise miss
/// the TLB at every 4 KB); a cache of several slots does not (each slot's first token would hold
/// 2 MB of every layer). Checked where the kernel records the advice: the mapping's `hg` flag in
/// /proc/self/smaps. The cache is one mapping, so every layer's keys and values lie inside it,
/// whole huge pages included (mapped apart, each 3 MB buffer ended in a megabyte of small pages).
@Suite struct KVCacheTests {
    @Test(arguments: [(1, true), (2, false), (8, false)])
    func oneSequenceCachesAskForHugePages(slots: Int, expected: Bool) throws {
        #if os(Linux)
        // 1,024 positions × 768 channels: 3 MB per slot and buffer, more than one huge page.
        let config = try ModelConfiguration(vocabSize: 256, contextLength: 1024, channels: 768, heads: 12,
                                            layout: LoopLayout(looped: 1, loops: 2))
        let cache = try KVCache(config: config, slots: slots)
        let perBuffer = slots * 1024 * 768
        let mapping = try #require(try Self.mapping(holding: cache.keys(0)))
        #expect(mapping.advisedHugePages == expected, "\(slots) slots")
        for application in 0..<2 {
            #expect(cache.values(application) - cache.keys(application) == perBuffer)
            for buffer in [cache.keys(application), cache.values(application)] {
                let start = UInt(bitPattern: buffer), end = UInt(bitPattern: buffer + perBuffer)
                #expect(mapping.range.contains(start) && mapping.range.upperBound >= end, "application \(application)")
            }
        }
        #expect(cache.keys(1) - cache.keys(0) == 2 * perBuffer)
        #endif
    }

    /// A cache too large to count is a typed error, not an overflow trap.
    @Test func aCacheTooLargeToCountThrows() throws {
        let config = try ModelConfiguration(vocabSize: 256, contextLength: 1024, channels: 768, heads: 12,
                                            layout: LoopLayout(looped: 1, loops: 2))
        #expect(throws: MemoryError.self) { try KVCache(config: config, slots: Int.max / 1024) }
        #expect(throws: MemoryError.self) { try KVCache(config: config, slots: Int.max / (1024 * 768 * 2)) }
    }

    /// The mapping holding `address`: its range, and whether it carries MADV_HUGEPAGE (VmFlags `hg`).
    static func mapping(holding address: UnsafeMutablePointer<Float>) throws -> (range: Range<UInt>, advisedHugePages: Bool)? {
        let target = UInt(bitPattern: address)
        // Read line by line: /proc files report no size, and the whole of smaps is large.
        let file = try #require(fopen("/proc/self/smaps", "r"))
        defer { fclose(file) }
        var lines: [String] = []
        var buffer: UnsafeMutablePointer<CChar>? = nil, capacity = 0
        defer { free(buffer) }
        while getline(&buffer, &capacity, file) > 0, let buffer {
            lines.append(String(cString: buffer).trimmingSuffix("\n"))
        }
        var inside: Range<UInt>? = nil
        for line in lines {
            let fields = line.split(separator: " ")
            if let range = fields.first, range.contains("-"), !line.hasPrefix("VmFlags") {
                let bounds = range.split(separator: "-").compactMap { UInt($0, radix: 16) }
                inside = bounds.count == 2 && bounds[0] <= target && target < bounds[1] ? bounds[0]..<bounds[1] : nil
            } else if let range = inside, line.hasPrefix("VmFlags:") {
                return (range, fields.contains("hg"))
            }
        }
        Issue.record("no mapping holds \(address)")
        return nil
    }
}

private extension String {
    func trimmingSuffix(_ suffix: String) -> String { hasSuffix(suffix) ? String(dropLast(suffix.count)) : self }
}
