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
    /// Bytes mapped with `PageMapping` (0 when allocated on the heap).
    private let mappedLength: Int

    /// A buffer of `count` zeros. Throws when the system refuses the memory (an address-space
    /// limit, or an overcommit policy that says no) instead of trapping. `hugePages`: for
    /// buffers streamed whole again and again, such as weights (see `PageMapping`).
    public init(count: Int, hugePages: Bool = false) throws(MemoryError) {
        precondition(count >= 0, "FloatBuffer count must be non-negative")
        self.count = count
        guard let bytes = CheckedSize.product(max(count, 1), MemoryLayout<Float>.stride) else {
            throw MemoryError(needed: nil, available: SystemMemory.availableBytes(), what: "a buffer of \(count) floats",
                              advice: Self.advice)
        }
        if bytes >= Self.mappedBytes {
            guard let mapped = PageMapping.map(bytes: bytes, hugePages: hugePages) else {
                throw MemoryError(needed: bytes, available: SystemMemory.availableBytes(), what: "a buffer of \(count) floats",
                                  advice: Self.advice)
            }
            pointer = mapped.assumingMemoryBound(to: Float.self)  // page-aligned, zero on first touch
            mappedLength = bytes
            return
        }
        var raw: UnsafeMutableRawPointer?
        guard posix_memalign(&raw, Self.alignment, bytes) == 0, let raw else {
            throw MemoryError(needed: bytes, available: SystemMemory.availableBytes(), what: "a buffer of \(count) floats",
                              advice: Self.advice)
        }
        raw.initializeMemory(as: Float.self, repeating: 0, count: max(count, 1))
        pointer = raw.assumingMemoryBound(to: Float.self)
        mappedLength = 0
    }

    static let advice = "the process cannot get more memory (see `ulimit -v`); make the job smaller"

    public convenience init(_ values: [Float]) throws(MemoryError) {
        try self.init(count: values.count)
        values.withUnsafeBufferPointer { pointer.update(from: $0.baseAddress!, count: values.count) }
    }

    deinit {
        if mappedLength > 0 {
            PageMapping.unmap(pointer, bytes: mappedLength)
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
