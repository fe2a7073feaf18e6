import Foundation

/// What the server sends back, in OpenAI's shapes (snake_case keys), with LoopLM's loop
/// report beside each choice.
enum OpenAIBody {
    struct Completion: Encodable {
        let id: String
        let object = "text_completion"
        let created: Int
        let model: String
        let choices: [Choice]
        let usage: Usage?
        let looplm: LoopReport?
    }

    struct Choice: Encodable {
        let text: String
        let index: Int
        let logprobs: String? = nil
        let finishReason: String?
        /// Mean loop passes per token of this choice (prompt and new tokens).
        let meanLoops: Double?

        enum CodingKeys: String, CodingKey {
            case text, index, logprobs
            case finishReason = "finish_reason", meanLoops = "mean_loops"
        }

        func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(text, forKey: .text)
            try container.encode(index, forKey: .index)
            try container.encodeNil(forKey: .logprobs)
            try container.encode(finishReason, forKey: .finishReason)  // null while streaming
            try container.encodeIfPresent(meanLoops, forKey: .meanLoops)
        }
    }

    struct Usage: Encodable, Equatable {
        var promptTokens: Int
        var completionTokens: Int
        var totalTokens: Int { promptTokens + completionTokens }

        enum CodingKeys: String, CodingKey {
            case promptTokens = "prompt_tokens", completionTokens = "completion_tokens", totalTokens = "total_tokens"
        }

        func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(promptTokens, forKey: .promptTokens)
            try container.encode(completionTokens, forKey: .completionTokens)
            try container.encode(totalTokens, forKey: .totalTokens)
        }
    }

    /// LoopLM's extension: the loop cap and exit rule the request ran under, and the mean
    /// passes its tokens used.
    struct LoopReport: Encodable {
        let loops: Int
        let exit: String
        let meanLoops: Double

        enum CodingKeys: String, CodingKey {
            case loops, exit
            case meanLoops = "mean_loops"
        }
    }

    struct ErrorEnvelope: Encodable {
        struct Detail: Encodable {
            let message: String
            let type: String
            let param: String?
            let code: String?

            func encode(to encoder: any Encoder) throws {
                var container = encoder.container(keyedBy: CodingKeys.self)
                try container.encode(message, forKey: .message)
                try container.encode(type, forKey: .type)
                try container.encode(param, forKey: .param)
                try container.encode(code, forKey: .code)
            }

            enum CodingKeys: String, CodingKey { case message, type, param, code }
        }

        let error: Detail

        init(_ error: ServingError) {
            self.error = Detail(message: error.message, type: error.type, param: error.param, code: error.code)
        }
    }

    struct ModelList: Encodable {
        struct Entry: Encodable {
            let id: String
            let object = "model"
            let created: Int
            let ownedBy = "looplm"

            enum CodingKeys: String, CodingKey {
                case id, object, created
                case ownedBy = "owned_by"
            }
        }

        let object = "list"
        let data: [Entry]
    }

    struct Health: Encodable {
        let status = "ok"
        let model: String
        let slots: Int
        let running: Int
        let waiting: Int
    }

    /// The body as JSON. Every body is built from plain values; the one value JSONEncoder
    /// refuses is a non-finite number, and should one appear the client gets an error body
    /// saying so, not a silent `{}`.
    static func json<T: Encodable>(_ value: T) -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        do {
            return try encoder.encode(value)
        } catch {
            return Data(#"{"error":{"code":"encoding_failed","message":"the server could not encode its answer (a number was not finite)","param":null,"type":"server_error"}}"#.utf8)
        }
    }
}
