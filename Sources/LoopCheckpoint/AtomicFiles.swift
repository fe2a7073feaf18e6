import Foundation
#if canImport(Glibc)
import Glibc
#else
import Darwin
#endif

/// A file being written through POSIX calls so that every failure (a full disk included)
/// surfaces as a `CheckpointError`, and `finish()` forces the bytes to disk.
public final class FileSink {
    public let path: String
    private var descriptor: Int32

    /// A new file at `path`, or nil when something already has that name (it is left alone).
    init?(creatingNew path: String) throws(CheckpointError) {
        self.path = path
        descriptor = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        if descriptor < 0 {
            if errno == EEXIST { return nil }
            throw .writeFailed(path, detail: Self.lastError())
        }
    }

    /// A file opened for appending (created if missing); each `write` goes to its end.
    public init(appendingTo path: String) throws(CheckpointError) {
        self.path = path
        descriptor = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else { throw .writeFailed(path, detail: Self.lastError()) }
    }

    deinit { if descriptor >= 0 { close(descriptor) } }

    public func write(_ bytes: UnsafeRawPointer, count: Int) throws(CheckpointError) {
        var written = 0
        while written < count {
            let result = Foundation.write(descriptor, bytes + written, count - written)
            if result < 0 {
                if errno == EINTR { continue }
                throw .writeFailed(path, detail: Self.lastError())
            }
            written += result
        }
    }

    public func write(_ data: Data) throws(CheckpointError) {
        var failure: CheckpointError?
        data.withUnsafeBytes { raw in
            guard let base = raw.baseAddress else { return }
            do throws(CheckpointError) { try write(base, count: raw.count) } catch { failure = error }
        }
        if let failure { throw failure }
    }

    func finish() throws(CheckpointError) {
        if fsync(descriptor) != 0 { throw .writeFailed(path, detail: Self.lastError()) }
        if close(descriptor) != 0 {
            descriptor = -1
            throw .writeFailed(path, detail: Self.lastError())
        }
        descriptor = -1
    }

    static func lastError() -> String { String(cString: strerror(errno)) }
}

/// Atomic replacement of files and directories: write beside, fsync, rename.
/// A crash at any moment leaves either the old or the new version, never a mixture.
public enum AtomicFiles {
    /// Names tried for the file written beside `path`: `path.partial`, then `path.partial.1`, …
    static let partialNames = 100

    /// Writes `path` by writing a new file beside it (`path.partial`, or `path.partial.N` when
    /// that name is taken: a file this did not create is never truncated or removed), syncing
    /// it, and renaming it over `path`.
    public static func write(
        to path: String, _ body: (FileSink) throws(CheckpointError) -> Void
    ) throws(CheckpointError) {
        var created: FileSink?
        for n in 0..<partialNames {
            created = try FileSink(creatingNew: path + ".partial" + (n == 0 ? "" : ".\(n)"))
            if created != nil { break }
        }
        guard let sink = created else {
            throw .writeFailed(path, detail: "\(path).partial and \(partialNames - 1) numbered names beside it all exist; remove them")
        }
        let partial = sink.path
        do throws(CheckpointError) {
            try body(sink)
            try sink.finish()
            guard rename(partial, path) == 0 else {
                throw CheckpointError.writeFailed(path, detail: FileSink.lastError())
            }
            syncDirectory(containing: path)
        } catch {
            unlink(partial)
            throw error
        }
    }

    /// Replaces directory `path` with one filled by `body`: the new one is written to
    /// `path.partial`; the old one is moved to `path.previous` for the instant of the swap.
    /// `recover(_:)` finishes an interrupted swap.
    ///
    /// `path`, `path.partial` and `path.previous` are replaced or removed only when each is
    /// absent or a folder holding nothing but the files `body` writes (`names`, or their own
    /// `.partial` files): a folder of the user's, or a file, at any of them is refused with
    /// `.unsafeOutput` before anything changes.
    public static func replaceDirectory(
        at path: String, holding names: Set<String>, _ body: (String) throws(CheckpointError) -> Void
    ) throws(CheckpointError) {
        let partial = path + ".partial", previous = path + ".previous"
        for folder in [path, partial, previous] { try checkReplaceable(folder, holding: names, for: path) }
        try remove(partial)
        do {
            try FileManager.default.createDirectory(atPath: partial, withIntermediateDirectories: true)
        } catch {
            throw .writeFailed(partial, detail: error.localizedDescription)
        }
        do throws(CheckpointError) {
            try body(partial)
            syncDirectory(path: partial)
            try recover(path)
            if FileManager.default.fileExists(atPath: path) {
                try remove(previous)
                guard rename(path, previous) == 0 else {
                    throw CheckpointError.writeFailed(path, detail: FileSink.lastError())
                }
            }
            guard rename(partial, path) == 0 else {
                throw CheckpointError.writeFailed(path, detail: FileSink.lastError())
            }
            syncDirectory(containing: path)
            try remove(previous)
        } catch {
            try? remove(partial)  // the error being thrown says what went wrong; this only tidies up
            try recover(path)
            throw error
        }
    }

    /// Throws `.unsafeOutput` unless `folder` is absent or a folder whose entries are all in
    /// `names` (or `.partial` files of them, left by an interrupted `write`) and none is itself a
    /// folder: removing the old checkpoint removes recursively, and a folder of the user's that
    /// happens to bear a checkpoint file's name must not go with it.
    static func checkReplaceable(_ folder: String, holding names: Set<String>, for path: String) throws(CheckpointError) {
        var isFolder: ObjCBool = false
        guard FileManager.default.fileExists(atPath: folder, isDirectory: &isFolder) else { return }
        guard isFolder.boolValue else {
            throw .unsafeOutput(path, reason: "\(folder) is a file, not a folder this command wrote")
        }
        let entries: [String]
        do { entries = try FileManager.default.contentsOfDirectory(atPath: folder) } catch {
            throw .unsafeOutput(path, reason: "cannot list \(folder): \(error.localizedDescription)")
        }
        let foreign = entries.filter { entry in
            !names.contains(entry) && !names.contains { entry.hasPrefix($0 + ".partial") }
        }
        guard foreign.isEmpty else {
            throw .unsafeOutput(path, reason: "\(folder) holds files a checkpoint does not (\(foreign.sorted().prefix(3).joined(separator: ", "))); move them or choose another folder")
        }
        let folders = entries.filter { entry in  // anything lstat cannot call a plain file is refused
            var info = stat()
            return lstat(folder + "/" + entry, &info) != 0 || info.st_mode & S_IFMT != S_IFREG
        }
        guard folders.isEmpty else {
            throw .unsafeOutput(path, reason: "in \(folder), \(folders.sorted().prefix(3).joined(separator: ", ")) is not a plain file as a checkpoint writes; move it or choose another folder")
        }
    }

    /// If a swap was interrupted after the old directory was moved aside, puts it back.
    public static func recover(_ path: String) throws(CheckpointError) {
        let manager = FileManager.default
        let previous = path + ".previous"
        if !manager.fileExists(atPath: path), manager.fileExists(atPath: previous) {
            guard rename(previous, path) == 0 else {
                throw .writeFailed(path, detail: "cannot restore \(previous): \(FileSink.lastError())")
            }
        }
    }

    /// Creates folder `path` and any missing parents; a file where a folder must be is named.
    public static func makeFolder(_ path: String) throws(CheckpointError) {
        var prefix = path.hasPrefix("/") ? "/" : ""
        for component in path.split(separator: "/") {
            prefix += (prefix.isEmpty || prefix.hasSuffix("/") ? "" : "/") + component
            var isFolder: ObjCBool = false
            if FileManager.default.fileExists(atPath: prefix, isDirectory: &isFolder) {
                guard isFolder.boolValue else {
                    throw .writeFailed(path, detail: "\(prefix) is a file, not a folder")
                }
                continue
            }
            guard mkdir(prefix, 0o755) == 0 || errno == EEXIST else {
                throw .writeFailed(path, detail: "cannot create the folder \(prefix): \(FileSink.lastError())")
            }
        }
    }

    /// Removes a file or directory if it is there.
    static func remove(_ path: String) throws(CheckpointError) {
        guard FileManager.default.fileExists(atPath: path) else { return }
        do { try FileManager.default.removeItem(atPath: path) } catch {
            throw .writeFailed(path, detail: "cannot remove it: \(error.localizedDescription)")
        }
    }

    static func syncDirectory(containing path: String) {
        syncDirectory(path: (path as NSString).deletingLastPathComponent.isEmpty
            ? "." : (path as NSString).deletingLastPathComponent)
    }

    static func syncDirectory(path: String) {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        if descriptor >= 0 {
            fsync(descriptor)
            close(descriptor)
        }
    }
}
