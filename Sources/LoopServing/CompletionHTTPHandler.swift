import Foundation
import NIOCore
import NIOHTTP1

/// One connection: reads a request (its body up to the limit), answers the routes, and for a
/// completion hands the request to the scheduler and writes its events back, as one JSON
/// answer or as server-sent events. A connection that closes cancels its request.
final class CompletionHTTPHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let routes: Routes
    private var head: HTTPRequestHead?
    private var body = ByteBuffer()
    private var refused = false  // the body went past the limit; the answer is out
    private var ticket: CompletionTicket?

    init(routes: Routes) { self.routes = routes }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let request):
            guard ticket == nil else {
                // A second request before the first answer ended (pipelining): not served; the
                // connection closes, which also cancels the first.
                context.close(promise: nil)
                return
            }
            head = request
            body.clear()
            refused = false
            if let length = request.headers.first(name: "content-length").flatMap(Int.init),
                length > CompletionServer.maximumBodyBytes
            {
                refuse(context, .bodyTooLarge(limit: CompletionServer.maximumBodyBytes))
            }
        case .body(var chunk):
            guard !refused else { return }
            if body.readableBytes + chunk.readableBytes > CompletionServer.maximumBodyBytes {
                refuse(context, .bodyTooLarge(limit: CompletionServer.maximumBodyBytes))
                return
            }
            body.writeBuffer(&chunk)
        case .end:
            guard !refused, let request = head else { return }
            route(context, request)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        ticket?.cancel()
        context.fireChannelInactive()
    }

    /// Answers an oversized body at once and closes the connection (the rest is not read).
    private func refuse(_ context: ChannelHandlerContext, _ error: ServingError) {
        refused = true
        respond(context, error: error, close: true)
    }

    private func route(_ context: ChannelHandlerContext, _ request: HTTPRequestHead) {
        let path = String(request.uri.split(separator: "?", maxSplits: 1).first ?? "")
        switch (request.method, path) {
        case (.GET, "/v1/models"):
            respond(context, status: .ok, json: routes.models())
        case (.GET, "/health"):
            respond(context, status: .ok, json: routes.health())
        case (.POST, "/v1/completions"):
            complete(context)
        case (_, "/v1/chat/completions"):
            respond(context, error: .noChatTemplate)
        case (_, "/v1/models"), (_, "/health"), (_, "/v1/completions"):
            respond(context, error: .methodNotAllowed("\(request.method)", path))
        default:
            respond(context, error: .notFound(path))
        }
    }

    private func complete(_ context: ChannelHandlerContext) {
        let data = Data(body.readableBytesView)
        let job: CompletionJob
        do {
            job = try CompletionJob.parse(data, model: routes.served, fallbackSeed: routes.fallbackSeed())
        } catch {
            respond(context, error: error)
            return
        }
        let writer = CompletionWriter(context: context, handler: self, job: job, model: routes.served.id,
                                      created: Int(Date().timeIntervalSince1970))
        do {
            ticket = try routes.scheduler.submit(job) { event in writer.deliver(event) }
            writer.start(id: ticket!.id)
        } catch {
            respond(context, error: error)
        }
    }

    /// Called when an answer is complete.
    func answered() { ticket = nil }

    func respond(_ context: ChannelHandlerContext, error: ServingError, close: Bool = false) {
        respond(context, status: HTTPResponseStatus(statusCode: error.status),
                json: OpenAIBody.json(OpenAIBody.ErrorEnvelope(error)), close: close)
    }

    func respond(_ context: ChannelHandlerContext, status: HTTPResponseStatus, json: Data, close: Bool = false) {
        var headers = HTTPHeaders()
        headers.add(name: "content-type", value: "application/json")
        headers.add(name: "content-length", value: "\(json.count)")
        let keepAlive = !close && (head?.isKeepAlive ?? false)
        headers.add(name: "connection", value: keepAlive ? "keep-alive" : "close")
        let version = head?.version ?? .http1_1
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: version, status: status, headers: headers))), promise: nil)
        context.write(wrapOutboundOut(.body(.byteBuffer(ByteBuffer(bytes: json)))), promise: nil)
        let channel = context.channel
        context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { _ in
            if !keepAlive { channel.close(promise: nil) }
        }
    }
}
