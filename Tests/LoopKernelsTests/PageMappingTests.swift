#if canImport(Glibc)
import Glibc
#endif
@testable import LoopKernels
import Testing

/// Mapped blocks: zero, writable to their last byte, on a huge-page boundary when asked for huge
/// pages, and returned whole (the address space they took is free again).
@Suite struct PageMappingTests {
    @Test(arguments: [(3, false), (4096, true), (PageMapping.hugePageBytes - 4, true), (PageMapping.hugePageBytes, true),
                      (5 * PageMapping.hugePageBytes + 12, true), (5 * PageMapping.hugePageBytes + 12, false)])
    func blocksAreZeroWritableAndAligned(bytes: Int, hugePages: Bool) throws {
        let block = try #require(PageMapping.map(bytes: bytes, hugePages: hugePages))
        let raw = block.assumingMemoryBound(to: UInt8.self)
        #expect(raw[0] == 0 && raw[bytes - 1] == 0)
        raw[0] = 1
        raw[bytes - 1] = 2
        #expect(raw[0] == 1 && raw[bytes - 1] == 2)
        let aligned = UInt(bitPattern: block) % UInt(PageMapping.hugePageBytes) == 0
        if hugePages && bytes >= PageMapping.hugePageBytes { #expect(aligned) }
        PageMapping.unmap(block, bytes: bytes)
    }

    @Test func theSpareHeadAndTailAreReturned() throws {
        // Mapping and unmapping a huge-page block many times must not leak the spare huge page
        // each mapping starts with: 2,000 leaks of 2 MB would be 4 GB of address space.
        let before = try mappedBytes()
        for _ in 0..<2_000 {
            let block = try #require(PageMapping.map(bytes: 3 * PageMapping.hugePageBytes, hugePages: true))
            PageMapping.unmap(block, bytes: 3 * PageMapping.hugePageBytes)
        }
        #expect(try mappedBytes() < before + 64 * PageMapping.hugePageBytes)
    }

    @Test func floatBuffersOnHugePagesHoldZeros() throws {
        let buffer = try FloatBuffer(count: 3 * PageMapping.hugePageBytes / 4 + 5, hugePages: true)
        #expect(buffer[0] == 0 && buffer[buffer.count - 1] == 0)
        buffer[buffer.count - 1] = 7
        #expect(buffer.array.reduce(0, +) == 7)
    }

    /// The process's mapped address space (VmSize), in bytes.
    private func mappedBytes() throws -> Int {
        let status = try String(contentsOfFile: "/proc/self/status", encoding: .utf8)
        let line = try #require(status.split(separator: "\n").first { $0.hasPrefix("VmSize:") })
        let kilobytes = try #require(Int(line.split(separator: " ").dropFirst().first ?? ""))
        return kilobytes * 1024
    }
}
