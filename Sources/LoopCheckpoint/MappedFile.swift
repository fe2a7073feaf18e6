import Foundation
#if canImport(Glibc)
import Glibc
#else
import Darwin
#endif

/// A whole file mapped read-only into memory. Pages are read from disk when first touched
/// and can be dropped again (`release`), so a large file costs memory only for what is read.
/// (Or, for bytes already in memory, a private copy of them.)
public final class MappedFile {
    public let path: String
    public let count: Int  // bytes
    public let bytes: UnsafeRawPointer
    private let mapped: Bool

    /// A copy of `data`, treated as the contents of a file named `path`.
    public init(copying data: Data, path: String) {
        self.path = path
        count = data.count
        let copy = UnsafeMutableRawPointer.allocate(byteCount: max(data.count, 1), alignment: 16)
        data.copyBytes(to: copy.assumingMemoryBound(to: UInt8.self), count: data.count)
        bytes = UnsafeRawPointer(copy)
        mapped = false
    }

    public init(path: String) throws(CheckpointError) {
        self.path = path
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else {
            if errno == ENOENT { throw .missingFile(path) }
            throw .badHeader(path, detail: "cannot open: \(String(cString: strerror(errno)))")
        }
        defer { close(descriptor) }
        var status = stat()
        guard fstat(descriptor, &status) == 0 else {
            throw .badHeader(path, detail: "cannot stat: \(String(cString: strerror(errno)))")
        }
        guard (status.st_mode & S_IFMT) == S_IFREG else { throw .notARegularFile(path, kind: Self.kind(status.st_mode)) }
        count = Int(status.st_size)
        if count == 0 {
            bytes = UnsafeRawPointer(UnsafeMutableRawPointer.allocate(byteCount: 1, alignment: 16))
            mapped = false
            return
        }
        let mapped = mmap(nil, count, PROT_READ, MAP_PRIVATE, descriptor, 0)
        guard let mapped, mapped != MAP_FAILED else {
            throw .badHeader(path, detail: "cannot map: \(String(cString: strerror(errno)))")
        }
        bytes = UnsafeRawPointer(mapped)
        self.mapped = true
    }

    /// "a folder", "a device", … for a file mode that is not a regular file.
    static func kind(_ mode: mode_t) -> String {
        switch mode & S_IFMT {
        case S_IFDIR: "a folder"
        case S_IFCHR, S_IFBLK: "a device"
        case S_IFIFO: "a pipe"
        case S_IFSOCK: "a socket"
        default: "a special file"
        }
    }

    /// What is at `path`: nil when it is a regular file (or nothing), otherwise a description
    /// such as "a folder" (symbolic links followed).
    public static func nonRegularKind(_ path: String) -> String? {
        var status = stat()
        guard stat(path, &status) == 0, (status.st_mode & S_IFMT) != S_IFREG else { return nil }
        return kind(status.st_mode)
    }

    deinit {
        if !mapped {
            UnsafeMutableRawPointer(mutating: bytes).deallocate()
        } else {
            munmap(UnsafeMutableRawPointer(mutating: bytes), count)
        }
    }

    /// Whether `pointer` points into the file's bytes.
    public func contains(_ pointer: UnsafeRawPointer) -> Bool {
        pointer >= bytes && pointer < bytes + count
    }

    /// Tells the kernel the byte range will not be read again: its pages leave this
    /// process's memory (they are read from disk again if touched).
    /// Lets the pages of `byteCount` bytes at `pointer` go, when they lie in this mapping.
    public func release(pointer: UnsafeRawPointer, byteCount: Int) {
        let offset = pointer - bytes
        guard offset >= 0, byteCount >= 0, offset <= count - byteCount else { return }
        release(offset..<(offset + byteCount))
    }

    public func release(_ range: Range<Int>) {
        guard mapped else { return }
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        let start = (range.lowerBound + page - 1) / page * page
        let end = range.upperBound / page * page
        guard end > start else { return }
        madvise(UnsafeMutableRawPointer(mutating: bytes + start), end - start, Int32(MADV_DONTNEED))
    }
}
