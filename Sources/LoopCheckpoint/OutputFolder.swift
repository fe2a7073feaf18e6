import Foundation
import LoopModel
#if canImport(Glibc)
import Glibc
#else
import Darwin
#endif

/// A folder a command writes whole (`export-hf`, `import-hf`), written so that nothing it did
/// not write is ever deleted:
/// - the files go into a new hidden sibling folder, which is renamed into place when complete;
/// - an existing `--output` is used only when it is absent or empty, or when it holds exactly
///   an earlier output of the same command (its `looplm-output.json` lists the files) and the
///   caller passed `replacing`; that earlier output is then moved aside and only its listed
///   files are removed;
/// - an output that is, contains or lies inside one of the inputs is refused, as is a file or a
///   symbolic link at that path.
public enum OutputFolder {
    /// The command that writes the folder, recorded in it.
    public enum Writer: String, Codable, Sendable {
        case exportHF = "export-hf"
        case importHF = "import-hf"
    }

    /// Written last into every output: who wrote it and which files it holds.
    public static let markerFile = "looplm-output.json"

    struct Marker: Codable {
        let writtenBy: Writer
        let files: [String]
    }

    /// Writes the folder at `path` through `body`, which fills the folder it is given.
    /// `inputs` are the folders the command reads; `replacing` allows replacing an earlier
    /// output of the same `writer`.
    public static func write(
        to path: String, by writer: Writer, inputs: [String], replacing: Bool,
        _ body: (String) throws -> Void
    ) throws {
        func refuse(_ reason: String) -> CheckpointError { .unsafeOutput(path, reason: reason) }
        let target = canonicalPath(path)
        for input in inputs {
            let source = canonicalPath(input)
            if target == source || source.hasPrefix(target + "/") {
                throw refuse(target == source ? "it is the input \(input)" : "it contains the input \(input)")
            }
            if target.hasPrefix(source + "/") { throw refuse("it lies inside the input \(input)") }
        }
        let existing = try inspect(path, writer: writer, refuse: refuse)
        if existing == .earlierOutput && !replacing {
            throw refuse("it holds an earlier \(writer.rawValue) output; pass --force to replace it")
        }
        let parent = (target as NSString).deletingLastPathComponent, name = (target as NSString).lastPathComponent
        let staging = try makeSibling(parent: parent, name: name, purpose: "new")
        do {
            try body(staging)
            let files = try FileManager.default.contentsOfDirectory(atPath: staging).sorted()
            let marker = try JSONFormat.encoder(pretty: true).encode(Marker(writtenBy: writer, files: files))
            try AtomicFiles.write(to: staging + "/" + markerFile) { (sink) throws(CheckpointError) in try sink.write(marker) }
            AtomicFiles.syncDirectory(path: staging)
            try swap(staging, into: target, existing: existing, parent: parent, name: name)
        } catch {
            removeOwn(staging)
            throw error
        }
    }

    enum Existing { case nothing, emptyFolder, earlierOutput }

    /// What is at `path` now, refusing anything but nothing, an empty folder or an earlier
    /// output of `writer` that holds only the files it lists.
    static func inspect(
        _ path: String, writer: Writer, refuse: (String) -> CheckpointError
    ) throws(CheckpointError) -> Existing {
        var info = stat()
        guard lstat(path, &info) == 0 else {
            if errno == ENOENT { return .nothing }
            throw refuse("cannot inspect it: \(FileSink.lastError())")
        }
        let kind = info.st_mode & S_IFMT
        if kind == S_IFLNK { throw refuse("it is a symbolic link; give the folder itself") }
        guard kind == S_IFDIR else { throw refuse("it is a file, not a folder") }
        let entries: [String]
        do { entries = try FileManager.default.contentsOfDirectory(atPath: path) } catch {
            throw refuse("cannot list it: \(error.localizedDescription)")
        }
        if entries.isEmpty { return .emptyFolder }
        var foreign = entries
        if let marker = readMarker(path), marker.writtenBy == writer {
            foreign = entries.filter { !marker.files.contains($0) && $0 != markerFile }
            if foreign.isEmpty { return .earlierOutput }
        }
        let shown = foreign.sorted().prefix(3).joined(separator: ", ") + (foreign.count > 3 ? ", …" : "")
        throw refuse("it already holds files \(writer.rawValue) did not write (\(shown)); choose a new or empty folder")
    }

    static func readMarker(_ folder: String) -> Marker? {
        guard let data = FileManager.default.contents(atPath: folder + "/" + markerFile), data.count < 1 << 16 else { return nil }
        return try? StrictJSON.decodeExactly(Marker.self, from: data)  // no readable marker: not an earlier output
    }

    /// Moves the finished `staging` folder to `target`: over nothing, an empty folder, or an
    /// earlier output, which is moved aside first and then emptied of its own files only.
    static func swap(_ staging: String, into target: String, existing: Existing, parent: String, name: String) throws {
        switch existing {
        case .nothing:
            try rename(staging, target)
        case .emptyFolder:
            guard rmdir(target) == 0 else {
                throw CheckpointError.unsafeOutput(target, reason: "it is no longer empty (\(FileSink.lastError()))")
            }
            try rename(staging, target)
        case .earlierOutput:
            let old = try makeSibling(parent: parent, name: name, purpose: "old")
            try rename(target, old)
            do { try rename(staging, target) } catch {
                try? rename(old, target)  // put the earlier output back; the first error is the one to report
                throw error
            }
            removeEarlierOutput(old)
        }
        AtomicFiles.syncDirectory(path: parent)
    }

    /// Deletes the files an earlier output's marker lists, then the folder if it is empty.
    static func removeEarlierOutput(_ folder: String) {
        guard let marker = readMarker(folder) else { return }
        for file in marker.files where !file.contains("/") && file != ".." && file != "." { unlink(folder + "/" + file) }
        unlink(folder + "/" + markerFile)
        rmdir(folder)  // fails, leaving it, if anything else appeared in the meantime
    }

    /// Removes a staging folder this process created (its files are all ours).
    static func removeOwn(_ staging: String) {
        if let files = try? FileManager.default.contentsOfDirectory(atPath: staging) {
            for file in files { unlink(staging + "/" + file) }
        }
        rmdir(staging)
    }

    /// A new hidden folder beside the output: `.NAME.looplm-PURPOSE-XXXXXX`.
    static func makeSibling(parent: String, name: String, purpose: String) throws(CheckpointError) -> String {
        do { try FileManager.default.createDirectory(atPath: parent, withIntermediateDirectories: true) } catch {
            throw .writeFailed(parent, detail: error.localizedDescription)
        }
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<16 {
            let suffix = String(generator.next() & 0xFFFF_FFFF, radix: 16)
            let path = parent + "/." + name + ".looplm-\(purpose)-" + suffix
            if mkdir(path, 0o755) == 0 { return path }
            if errno != EEXIST { throw .writeFailed(path, detail: FileSink.lastError()) }
        }
        throw .writeFailed(parent, detail: "cannot create a staging folder beside \(name)")
    }

    static func rename(_ from: String, _ to: String) throws(CheckpointError) {
        guard Foundation.rename(from, to) == 0 else { throw .writeFailed(to, detail: FileSink.lastError()) }
    }

    /// The absolute path with symbolic links resolved as far as the path exists.
    static func canonicalPath(_ path: String) -> String {
        let absolute = path.hasPrefix("/") ? path : FileManager.default.currentDirectoryPath + "/" + path
        var trimmed = (absolute as NSString).standardizingPath
        var missing: [String] = []
        while !trimmed.isEmpty && trimmed != "/" {
            if let resolved = realpath(trimmed, nil) {
                defer { free(resolved) }
                let base = String(cString: resolved)
                return missing.reversed().reduce(base) { $0 == "/" ? "/" + $1 : $0 + "/" + $1 }
            }
            missing.append((trimmed as NSString).lastPathComponent)
            trimmed = (trimmed as NSString).deletingLastPathComponent
        }
        return "/" + missing.reversed().joined(separator: "/")
    }
}
