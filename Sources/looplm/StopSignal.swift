import Dispatch
import Foundation
import Synchronization

/// Set when SIGINT or SIGTERM arrives; training finishes its step, saves and exits 0.
/// Shared by the replicas of one process: after `init` only the atomic flag changes.
final class StopSignal: @unchecked Sendable {
    /// The flag the signal handlers set from Dispatch's queue.
    private final class Flag: Sendable {
        let value = Atomic<Bool>(false)
    }

    private let flag = Flag()
    private var sources: [any DispatchSourceSignal] = []

    init() {
        for signalNumber in [SIGINT, SIGTERM] {
            signal(signalNumber, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: signalNumber, queue: .global())
            source.setEventHandler { [flag] in flag.value.store(true, ordering: .relaxed) }
            source.resume()
            sources.append(source)
        }
    }

    deinit {
        for source in sources { source.cancel() }
        signal(SIGINT, SIG_DFL)
        signal(SIGTERM, SIG_DFL)
    }

    var requested: Bool { flag.value.load(ordering: .relaxed) }
}
