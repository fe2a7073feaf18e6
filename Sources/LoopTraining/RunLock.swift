import Foundation
#if canImport(Glibc)
import Glibc
#else
import Darwin
#endif

/// An exclusive lock on a run directory, held while a process writes into it, so a second
/// `train` on the same `--out` is refused instead of interleaving its checkpoints and metrics.
/// The kernel drops the lock when the process ends, however it ends.
public final class RunLock {
    public static let fileName = ".lock"
    private let descriptor: Int32

    public init(directory: String) throws(TrainingError) {
        let path = directory + "/" + Self.fileName
        descriptor = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else {
            throw .resume("cannot open \(path): \(String(cString: strerror(errno)))")
        }
        guard flock(descriptor, LOCK_EX | LOCK_NB) == 0 else {
            close(descriptor)
            throw .runInUse(directory)
        }
    }

    deinit { close(descriptor) }
}
