import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import Synchronization
import LoopModel

/// The OpenAI-compatible HTTP front of a `BatchScheduler`, on SwiftNIO:
/// `GET /v1/models`, `POST /v1/completions` (streamed as server-sent events when asked),
/// `GET /health`; `/v1/chat/completions` answers 404 (checkpoints carry no chat template).
public final class CompletionServer: Sendable {
    /// Request bodies past this many bytes are refused with 413.
    public static let maximumBodyBytes = 1 << 20

    let scheduler: BatchScheduler
    private let group: MultiThreadedEventLoopGroup
    private let channel: any Channel

    /// Binds `host:port` (port 0: one the system picks; see `port`) and starts serving.
    public init(scheduler: BatchScheduler, host: String, port: Int) throws {
        self.scheduler = scheduler
        group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let routes = Routes(scheduler: scheduler, created: Int(Date().timeIntervalSince1970), seeds: SeedSequence())
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 256)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    // Without pipelining assistance the connection keeps reading while an answer
                    // streams, so a client that leaves is seen at once (its end of file), not at
                    // the next failed write; requests on one connection go one at a time.
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline(
                        withPipeliningAssistance: false, withErrorHandling: true)
                    try channel.pipeline.syncOperations.addHandler(CompletionHTTPHandler(routes: routes))
                }
            }
            .childChannelOption(.socketOption(.so_reuseaddr), value: 1)
        do {
            channel = try bootstrap.bind(host: host, port: port).wait()
        } catch {
            try? group.syncShutdownGracefully()  // nothing ran on it; the bind error is the one to report
            throw error
        }
    }

    /// The port the server listens on.
    public var port: Int { channel.localAddress?.port ?? 0 }

    /// Stops accepting connections, ends requests in flight (503 within one step), lets their
    /// answers go out, and stops the event loop. Returns what failed on the way, if anything
    /// (the caller reports it; shutting down goes on regardless).
    public func shutdown() -> [String] {
        var problems: [String] = []
        do { try channel.close().wait() } catch { problems.append("closing the listening socket: \(error)") }
        scheduler.stop(timeout: 5)
        Thread.sleep(forTimeInterval: 0.2)  // the last writes leave the event loop
        do { try group.syncShutdownGracefully() } catch { problems.append("stopping the event loop: \(error)") }
        return problems
    }
}

/// What the routes need, shared by every connection.
struct Routes: Sendable {
    let scheduler: BatchScheduler
    let created: Int
    let seeds: SeedSequence

    var served: ServedModel { scheduler.served }

    func models() -> Data {
        OpenAIBody.json(OpenAIBody.ModelList(data: [.init(id: served.id, created: created)]))
    }

    func health() -> Data {
        let load = scheduler.load
        return OpenAIBody.json(OpenAIBody.Health(model: served.id, slots: scheduler.limits.slots,
                                                 running: load.running, waiting: load.waiting))
    }

    /// A seed for requests that bring none: a different one for each.
    func fallbackSeed() -> UInt64 { seeds.next() }
}

/// Seeds for requests that bring none: the n-th request of the server's life draws the n-th
/// value of a seeded generator, so a run of requests can be replayed.
final class SeedSequence: Sendable {
    private let state = Mutex(SeededGenerator(seed: 0x5EED))

    func next() -> UInt64 { state.withLock { $0.next() } }
}
