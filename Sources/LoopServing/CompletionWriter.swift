import Foundation
import LoopModel
import NIOCore
import NIOHTTP1

/// Writes one completion's events to its connection. Events come from the scheduler's thread;
/// each hops to the connection's event loop, where everything here runs.
final class CompletionWriter: Sendable {
    private let eventLoop: any EventLoop
    private let state: NIOLoopBound<State>

    init(context: ChannelHandlerContext, handler: CompletionHTTPHandler, job: CompletionJob, model: String, created: Int) {
        eventLoop = context.eventLoop
        state = NIOLoopBound(State(context: context, handler: handler, job: job, model: model, created: created),
                             eventLoop: context.eventLoop)
    }

    /// The request was queued: a stream's response head goes out now.
    func start(id: String) {
        state.value.id = id
        if state.value.job.stream { state.value.startStream() }
    }

    func deliver(_ event: CompletionEvent) {
        eventLoop.execute { [state] in state.value.handle(event) }
    }

    final class State {
        let context: ChannelHandlerContext
        let handler: CompletionHTTPHandler
        let job: CompletionJob
        let model: String
        let created: Int
        var id = ""
        var results: [ChoiceResult] = []
        var done = false

        init(context: ChannelHandlerContext, handler: CompletionHTTPHandler, job: CompletionJob, model: String, created: Int) {
            self.context = context
            self.handler = handler
            self.job = job
            self.model = model
            self.created = created
        }

        func handle(_ event: CompletionEvent) {
            guard !done else { return }
            switch event {
            case .text(let choice, let text):
                guard job.stream else { return }
                send(completion(choices: [OpenAIBody.Choice(text: text, index: choice, finishReason: nil, meanLoops: nil)]))
            case .finished(let result):
                results.append(result)
                if job.stream {
                    send(completion(choices: [OpenAIBody.Choice(text: "", index: result.choice, finishReason: result.finishReason,
                                                                 meanLoops: result.meanLoops)]))
                }
                if results.count == job.sequences { finish() }
            case .failed(let error):
                done = true
                handler.answered()
                if job.stream {
                    send(OpenAIBody.json(OpenAIBody.ErrorEnvelope(error)))
                    endStream()
                } else {
                    handler.respond(context, error: error)
                }
            }
        }

        private func finish() {
            done = true
            handler.answered()
            let usage = OpenAIBody.Usage(promptTokens: results.reduce(0) { $0 + $1.promptTokens },
                                         completionTokens: results.reduce(0) { $0 + $1.completionTokens })
            if job.stream {
                if job.includeUsage { send(completion(choices: [], usage: usage)) }
                endStream()
                return
            }
            let choices = results.sorted { $0.choice < $1.choice }.map {
                OpenAIBody.Choice(text: $0.text, index: $0.choice, finishReason: $0.finishReason, meanLoops: $0.meanLoops)
            }
            handler.respond(context, status: .ok, json: completion(choices: choices, usage: usage))
        }

        /// The request's mean loops per token over all its sequences, weighted by tokens.
        private var report: OpenAIBody.LoopReport {
            let tokens = results.reduce(0) { $0 + $1.promptTokens + $1.completionTokens }
            let loops = results.reduce(0.0) { $0 + $1.meanLoops * Double($1.promptTokens + $1.completionTokens) }
            return OpenAIBody.LoopReport(loops: job.loops, exit: job.exit.description,
                                         meanLoops: tokens > 0 ? loops / Double(tokens) : 0)
        }

        private func completion(choices: [OpenAIBody.Choice], usage: OpenAIBody.Usage? = nil) -> Data {
            OpenAIBody.json(OpenAIBody.Completion(id: id, created: created, model: model, choices: choices, usage: usage,
                                                  looplm: usage == nil ? nil : report))
        }

        func startStream() {
            var headers = HTTPHeaders()
            headers.add(name: "content-type", value: "text/event-stream")
            headers.add(name: "cache-control", value: "no-cache")
            let head = HTTPResponseHead(version: .http1_1, status: .ok, headers: headers)
            context.writeAndFlush(NIOAny(HTTPServerResponsePart.head(head)), promise: nil)
        }

        private func send(_ json: Data) {
            var buffer = context.channel.allocator.buffer(capacity: json.count + 8)
            buffer.writeString("data: ")
            buffer.writeBytes(json)
            buffer.writeString("\n\n")
            context.writeAndFlush(NIOAny(HTTPServerResponsePart.body(.byteBuffer(buffer))), promise: nil)
        }

        private func endStream() {
            var buffer = context.channel.allocator.buffer(capacity: 16)
            buffer.writeString("data: [DONE]\n\n")
            context.write(NIOAny(HTTPServerResponsePart.body(.byteBuffer(buffer))), promise: nil)
            context.writeAndFlush(NIOAny(HTTPServerResponsePart.end(nil)), promise: nil)
        }
    }
}
