#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A fixed-size, 64-byte aligned, zero-initialised block of `Float`s.
///
/// Kernels work on raw pointers into these buffers; the buffer owns the memory. It is not
/// Sendable: the threads of a kernel share its pointer under `Workers`' contract, never the
/// buffer itself. Large buffers are mapped from the kernel, whose pages are zero and cost no
/// memory until first written: a key/value cache sized for the whole context holds only what
/// the tokens so far have filled.
public final class FloatBuffer {
    public static let alignment = 64
    /// Buffers of at least this many bytes are mapped rather than allocated and zeroed.
    static let mappedBytes = 1 << 20
    public let count: Int
    public let pointer: UnsafeMutablePointer<Float>
    /// Buffers of at least this many bytes start on a huge-page boundary and ask for huge
    /// pages (Linux's transparent huge pages, when the system allows them on request).
    static let hugePageBytes = 2 << 20
    /// The mapping made with mmap, which `pointer` lies in (length 0 when allocated on the heap).
    private let mappedBase: UnsafeMutableRawPointer?
    private let mappedLength: Int

    /// A buffer of `count` zeros. Throws when the system refuses the memory (an address-space
    /// limit, or an overcommit policy that says no) instead of trapping.
    public init(count: Int) throws(MemoryError) {
        precondition(count >= 0, "FloatBuffer count must be non-negative")
        self.count = count
        guard let bytes = CheckedSize.product(max(count, 1), MemoryLayout<Float>.stride) else {
            throw MemoryError(needed: nil, available: SystemMemory.availableBytes(), what: "a buffer of \(count) floats",
                              advice: Self.advice)
        }
        if bytes >= Self.mappedBytes {
            let mapping = try Self.map(bytes: bytes, count: count)
            pointer = mapping.pointer
            mappedBase = mapping.base
            mappedLength = mapping.length
            return
        }
        var raw: UnsafeMutableRawPointer?
        guard posix_memalign(&raw, Self.alignment, bytes) == 0, let raw else {
            throw MemoryError(needed: bytes, available: SystemMemory.availableBytes(), what: "a buffer of \(count) floats",
                              advice: Self.advice)
        }
        raw.initializeMemory(as: Float.self, repeating: 0, count: max(count, 1))
        pointer = raw.assumingMemoryBound(to: Float.self)
        mappedBase = nil
        mappedLength = 0
    }

    /// Maps `bytes` of zero pages. From `hugePageBytes` up, the mapping is one huge page longer
    /// so that the buffer can start on a huge-page boundary, and asks for huge pages: decoding
    /// streams every weight once per token, and with 4 KB pages each page costs a walk of the
    /// page tables and restarts the prefetchers (Zen 4, one thread, GPT-2 124M's products: 21 →
    /// 16 ms per token; a plain streaming read 27 → 32 GB/s). Pages stay unbacked until touched.
    private static func map(bytes: Int, count: Int) throws(MemoryError) -> (base: UnsafeMutableRawPointer, length: Int, pointer: UnsafeMutablePointer<Float>) {
        let huge = bytes >= hugePageBytes
        guard let length = huge ? CheckedSize.sum(bytes, hugePageBytes) : bytes,
            let base = mmap(nil, length, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0), base != MAP_FAILED
        else {
            throw MemoryError(needed: bytes, available: SystemMemory.availableBytes(), what: "a buffer of \(count) floats",
                              advice: advice)
        }
        guard huge else { return (base, length, base.assumingMemoryBound(to: Float.self)) }
        let address = UInt(bitPattern: base), boundary = UInt(hugePageBytes)
        let start = base + Int((boundary - address % boundary) % boundary)
        #if os(Linux)
        _ = madvise(start, bytes, MADV_HUGEPAGE)  // advice only: where refused, the buffer works with small pages
        #endif
        return (base, length, start.assumingMemoryBound(to: Float.self))
    }

    static let advice = "the process cannot get more memory (see `ulimit -v`); make the job smaller"

    public convenience init(_ values: [Float]) throws(MemoryError) {
        try self.init(count: values.count)
        values.withUnsafeBufferPointer { pointer.update(from: $0.baseAddress!, count: values.count) }
    }

    deinit {
        if let mappedBase {
            munmap(mappedBase, mappedLength)
        } else {
            free(pointer)
        }
    }

    /// Element `index`; out of range is a programmer's mistake, checked in debug builds (kernels
    /// in release builds go through `pointer` without checks).
    public subscript(index: Int) -> Float {
        get {
            assert(index >= 0 && index < count, "FloatBuffer index \(index) out of 0..<\(count)")
            return pointer[index]
        }
        set {
            assert(index >= 0 && index < count, "FloatBuffer index \(index) out of 0..<\(count)")
            pointer[index] = newValue
        }
    }

    public func zero() { pointer.update(repeating: 0, count: count) }

    public var array: [Float] { Array(UnsafeBufferPointer(start: pointer, count: count)) }

    public var bufferPointer: UnsafeMutableBufferPointer<Float> {
        UnsafeMutableBufferPointer(start: pointer, count: count)
    }
}
