#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Zeroed memory mapped from the kernel, optionally on huge pages: what `FloatBuffer` and the
/// converted inference weights allocate large blocks with.
///
/// Huge pages are for memory that is streamed whole, again and again: weights read once per
/// decoded token, and the bandwidth measurement beside them. With 4 KB pages each page of a
/// streamed matrix costs a walk of the page tables and restarts the prefetchers (Zen 4, one
/// thread, a C loop over GPT-2 124M's decode products: 19.1–23.0 ms per token on small pages,
/// 15.8–18.5 ms on huge ones; a plain streaming read 24–29 → 30–32 GB/s). They are not for
/// memory filled bit by bit in many places, like a server's key/value cache of many slots: a huge
/// page is backed whole at its first touch, so each slot's first token would hold 2 MB of every
/// layer's cache (a single sequence's cache does use them: `KVCache.usesHugePages`).
public enum PageMapping {
    /// A huge page of x86-64 Linux; mappings from this size up may ask for huge pages.
    public static let hugePageBytes = 2 << 20

    /// `bytes` (> 0) of zero pages, unbacked until touched, or nil when the system refuses.
    /// With `hugePages`, a mapping of at least `hugePageBytes` starts on a huge-page boundary
    /// and asks for transparent huge pages (advice only: where refused, small pages serve).
    public static func map(bytes: Int, hugePages: Bool) -> UnsafeMutableRawPointer? {
        guard bytes > 0 else { return nil }
        guard hugePages && bytes >= hugePageBytes else { return mapPages(bytes) }
        // One huge page more, so that a boundary falls inside; the unused head and tail go back.
        guard let length = CheckedSize.sum(bytes, hugePageBytes), let base = mapPages(length) else { return nil }
        let address = UInt(bitPattern: base), boundary = UInt(hugePageBytes)
        let head = Int((boundary - address % boundary) % boundary), used = roundedToPages(bytes)
        if head > 0 { munmap(base, head) }
        if length - head - used > 0 { munmap(base + head + used, length - head - used) }
        let start = base + head
        #if os(Linux)
        _ = madvise(start, used, MADV_HUGEPAGE)
        #endif
        return start
    }

    /// Returns a mapping of `bytes` made by `map`.
    public static func unmap(_ pointer: UnsafeMutableRawPointer, bytes: Int) {
        munmap(pointer, roundedToPages(bytes))
    }

    private static func mapPages(_ length: Int) -> UnsafeMutableRawPointer? {
        guard let mapped = mmap(nil, length, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0),
            mapped != MAP_FAILED
        else { return nil }
        return mapped
    }

    private static let pageBytes = Int(sysconf(Int32(_SC_PAGESIZE)))

    /// `bytes` rounded up to whole pages (cannot overflow: `map` had the pages).
    private static func roundedToPages(_ bytes: Int) -> Int { (bytes + pageBytes - 1) / pageBytes * pageBytes }
}
