/// A request the server refuses, with what OpenAI's clients expect of it: an HTTP status and a
/// JSON body `{"error": {"message", "type", "param", "code"}}`.
public struct ServingError: Error, Equatable, Sendable, CustomStringConvertible {
    public let status: Int
    public let message: String
    public let type: String
    public let param: String?
    public let code: String?

    public init(status: Int, message: String, type: String = "invalid_request_error", param: String? = nil,
                code: String? = nil) {
        self.status = status
        self.message = message
        self.type = type
        self.param = param
        self.code = code
    }

    public var description: String { "\(status) \(type): \(message)" }

    /// 400: a field is missing, of the wrong type or out of range.
    static func invalid(_ param: String?, _ message: String) -> ServingError {
        ServingError(status: 400, message: message, param: param)
    }

    static func modelNotFound(_ asked: String, served: String) -> ServingError {
        ServingError(status: 404, message: "the model '\(asked)' does not exist here; this server serves '\(served)' (GET /v1/models)",
                     param: "model", code: "model_not_found")
    }

    static func bodyTooLarge(limit: Int) -> ServingError {
        ServingError(status: 413, message: "the request body is larger than \(limit) bytes", code: "body_too_large")
    }

    static func queueFull(waiting: Int) -> ServingError {
        ServingError(status: 429, message: "the server is busy: \(waiting) sequences already wait for a slot; retry later",
                     type: "rate_limit_error", code: "queue_full")
    }

    static let noChatTemplate = ServingError(
        status: 404,
        message: "this checkpoint carries no chat template, so /v1/chat/completions is not served; send plain text to /v1/completions",
        code: "no_chat_template")

    static func notFound(_ path: String) -> ServingError {
        ServingError(status: 404, message: "no route \(path); the routes are GET /v1/models, POST /v1/completions and GET /health",
                     code: "not_found")
    }

    static func methodNotAllowed(_ method: String, _ path: String) -> ServingError {
        ServingError(status: 405, message: "\(path) does not take \(method)", code: "method_not_allowed")
    }

    static let shuttingDown = ServingError(status: 503, message: "the server is shutting down", type: "server_error",
                                           code: "shutting_down")

    static func internalFailure(_ message: String) -> ServingError {
        ServingError(status: 500, message: message, type: "server_error")
    }
}
