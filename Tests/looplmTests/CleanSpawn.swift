import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Starts a command with every signal unblocked and at its default action, its output going to
/// files (in `outputDirectory` when given, which a caller can read while it runs): what a shell
/// does, and what a launcher such as mpirun needs to hear Ctrl-C.
enum CleanSpawn {
    static func run(
        _ command: [String], environment extra: [String: String] = [:],
        signalAfter: (() -> Bool)? = nil, whileRunning: ((Int32) -> Void)? = nil, outputDirectory: String? = nil
    ) throws -> CommandResult {
        let directory = outputDirectory ?? temporaryDirectory("spawn")
        let outPath = directory + "/stdout", errPath = directory + "/stderr"
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 1, outPath, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        posix_spawn_file_actions_addopen(&actions, 2, errPath, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var empty = sigset_t(), all = sigset_t()
        sigemptyset(&empty)
        sigfillset(&all)
        posix_spawnattr_setsigmask(&attributes, &empty)
        posix_spawnattr_setsigdefault(&attributes, &all)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
        var arguments = command.map { strdup($0) } + [nil]
        defer { for pointer in arguments { free(pointer) } }
        let variables = ProcessInfo.processInfo.environment.merging(extra) { $1 }
        var environment = variables.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer { for pointer in environment { free(pointer) } }
        var pid: pid_t = 0
        let spawned = posix_spawn(&pid, command[0], &actions, &attributes, &arguments, &environment)
        guard spawned == 0 else { throw CocoaError(.executableLoad, userInfo: [NSLocalizedDescriptionKey: "posix_spawn \(command[0]): \(spawned)"]) }
        if let signalAfter {
            let deadline = Date().addingTimeInterval(60)
            while !signalAfter() && Date() < deadline && !exited(pid) { usleep(20_000) }
            if !exited(pid) { kill(pid, SIGINT) }
        }
        whileRunning?(pid)
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        let code = (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
        let read = { (path: String) in String(decoding: FileManager.default.contents(atPath: path) ?? Data(), as: UTF8.self) }
        let result = CommandResult(status: code, stdout: read(outPath), stderr: read(errPath))
        if outputDirectory == nil { try? FileManager.default.removeItem(atPath: directory) }
        return result
    }

    /// Whether the child has ended (without reaping it).
    static func exited(_ pid: pid_t) -> Bool {
        var info = siginfo_t()
        return waitid(P_PID, id_t(pid), &info, WEXITED | WNOHANG | WNOWAIT) == 0 && info._sifields._sigchld.si_pid == pid
    }
}
