import Foundation
import LoopModel
import LoopTokenizer

/// The body of `POST /v1/completions` as it arrives: OpenAI's fields and LoopLM's two
/// extensions (`loops`, `exit`). Every field is optional here; `CompletionJob` checks them.
struct CompletionBody: Decodable {
    var model: String?
    var prompt: PromptField?
    var maxTokens: WholeNumber?
    var temperature: Double?
    var topP: Double?
    var seed: WholeNumber?
    var stop: StopField?
    var stream: Bool?
    var streamOptions: StreamOptions?
    var echo: Bool?
    var n: WholeNumber?
    var bestOf: WholeNumber?
    var logprobs: WholeNumber?
    var suffix: String?
    var presencePenalty: Double?
    var frequencyPenalty: Double?
    var loops: WholeNumber?
    var exit: String?

    struct StreamOptions: Decodable {
        var includeUsage: Bool?
    }

    enum CodingKeys: String, CodingKey {
        case model, prompt, temperature, seed, stop, stream, echo, n, logprobs, suffix, loops, exit
        case maxTokens = "max_tokens", topP = "top_p", streamOptions = "stream_options", bestOf = "best_of"
        case presencePenalty = "presence_penalty", frequencyPenalty = "frequency_penalty"
    }
}

extension CompletionBody.StreamOptions {
    enum CodingKeys: String, CodingKey { case includeUsage = "include_usage" }
}

/// An integer field. Foundation's decoder reports a number that is not a whole Int (2.5,
/// 1e30) as invalid JSON without naming the field; this names it.
struct WholeNumber: Decodable {
    let value: Int

    init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if let whole = try? container.decode(Int.self) {
            value = whole
            return
        }
        let number = try container.decode(Double.self)
        throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath,
                                                debugDescription: "\(number) is not a whole number in range"))
    }
}

/// `prompt`: a string, a list of strings, a list of token ids, or a list of such lists.
enum PromptField: Decodable {
    case texts([String])
    case ids([[Int]])

    init(from decoder: any Decoder) throws {
        let value = try decoder.singleValueContainer()
        if let text = try? value.decode(String.self) {
            self = .texts([text])
        } else if let texts = try? value.decode([String].self) {
            self = .texts(texts)
        } else if let ids = try? value.decode([Int].self) {
            self = .ids([ids])
        } else if let lists = try? value.decode([[Int]].self) {
            self = .ids(lists)
        } else {
            throw DecodingError.typeMismatch(PromptField.self, .init(
                codingPath: decoder.codingPath,
                debugDescription: "a string, a list of strings, a list of token ids or a list of such lists"))
        }
    }
}

/// `stop`: a string or a list of strings.
enum StopField: Decodable {
    case one(String)
    case many([String])

    init(from decoder: any Decoder) throws {
        let value = try decoder.singleValueContainer()
        if let one = try? value.decode(String.self) {
            self = .one(one)
        } else if let many = try? value.decode([String].self) {
            self = .many(many)
        } else {
            throw DecodingError.typeMismatch(StopField.self, .init(codingPath: decoder.codingPath,
                                                                   debugDescription: "a string or a list of strings"))
        }
    }

    var strings: [String] {
        switch self {
        case .one(let s): [s]
        case .many(let list): list
        }
    }
}

/// What the server knows of the model it serves, for checking requests.
public struct ServedModel: Sendable {
    /// The id clients name in `model` (the checkpoint folder's name).
    public let id: String
    public let tokenizer: any Tokenizer
    public let vocabSize: Int
    public let contextLength: Int
    /// Loop passes trained, and the most a request may ask for (the cache holds this many).
    public let trainedLoops: Int
    public let maxLoops: Int
    public let hasExitGate: Bool

    public init(id: String, tokenizer: any Tokenizer, vocabSize: Int, contextLength: Int, trainedLoops: Int,
                maxLoops: Int, hasExitGate: Bool) {
        self.id = id
        self.tokenizer = tokenizer
        self.vocabSize = vocabSize
        self.contextLength = contextLength
        self.trainedLoops = trainedLoops
        self.maxLoops = maxLoops
        self.hasExitGate = hasExitGate
    }
}

/// A checked completion request: what the scheduler runs.
public struct CompletionJob: Sendable {
    /// Each prompt's token ids (its last `contextLength` go through the model, as `sample` does)
    /// and bytes (for `echo`).
    public var prompts: [[Int32]]
    public var promptBytes: [[UInt8]]
    public var maxTokens: Int
    public var temperature: Float
    public var topP: Float?
    /// Prompt i samples with seed + i (as `looplm sample --prompts` does).
    public var seed: UInt64
    public var stop: [[UInt8]]
    public var stream: Bool
    public var includeUsage: Bool
    public var echo: Bool
    /// The most loop passes a token runs, and when it stops earlier.
    public var loops: Int
    public var exit: ExitRule

    /// Limits of one request.
    public static let maximumPrompts = 64
    public static let maximumStops = 4
    static let defaultMaxTokens = 16  // OpenAI's default

    /// Decodes and checks a request body; `fallbackSeed` is used when the request has none.
    public static func parse(_ data: Data, model: ServedModel, fallbackSeed: UInt64) throws(ServingError) -> CompletionJob {
        let body: CompletionBody
        do {
            body = try JSONDecoder().decode(CompletionBody.self, from: data)
        } catch let error as DecodingError {
            throw Self.describe(error)
        } catch {
            throw .invalid(nil, "the body is not valid JSON")
        }
        return try CompletionJob(body, model: model, fallbackSeed: fallbackSeed)
    }

    /// A decoding failure in the words of the field it concerns.
    static func describe(_ error: DecodingError) -> ServingError {
        switch error {
        case .typeMismatch(_, let context), .valueNotFound(_, let context):
            guard let field = context.codingPath.first?.stringValue else {
                return .invalid(nil, "the body must be a JSON object")
            }
            return .invalid(field, "'\(field)' has the wrong type: \(context.debugDescription)")
        case .dataCorrupted(let context):
            if let field = context.codingPath.first?.stringValue {
                return .invalid(field, "'\(field)' is not a valid value: \(context.debugDescription)")
            }
            return .invalid(nil, "the body is not valid JSON")
        case .keyNotFound(let key, _):
            return .invalid(key.stringValue, "'\(key.stringValue)' is required")
        @unknown default:
            return .invalid(nil, "the body is not a valid completion request")
        }
    }

    init(_ body: CompletionBody, model: ServedModel, fallbackSeed: UInt64) throws(ServingError) {
        guard let name = body.model else { throw .invalid("model", "'model' is required (GET /v1/models lists '\(model.id)')") }
        guard name == model.id else { throw .modelNotFound(name, served: model.id) }
        guard let prompt = body.prompt else { throw .invalid("prompt", "'prompt' is required") }
        switch prompt {
        case .texts(let texts):
            promptBytes = texts.map { Array($0.utf8) }
            prompts = promptBytes.map { model.tokenizer.encode(bytes: $0).map(Int32.init) }
        case .ids(let lists):
            for list in lists {
                if let bad = list.first(where: { !(0..<model.vocabSize).contains($0) }) {
                    throw .invalid("prompt", "token id \(bad) is outside the vocabulary (0..<\(model.vocabSize))")
                }
            }
            prompts = lists.map { $0.map(Int32.init) }
            promptBytes = lists.map { model.tokenizer.decodeBytes($0) }
        }
        guard !prompts.isEmpty else { throw .invalid("prompt", "'prompt' holds no prompts") }
        guard prompts.count <= Self.maximumPrompts else {
            throw .invalid("prompt", "at most \(Self.maximumPrompts) prompts per request")
        }
        guard prompts.allSatisfy({ !$0.isEmpty }) else { throw .invalid("prompt", "every prompt needs some text") }

        maxTokens = body.maxTokens?.value ?? Self.defaultMaxTokens
        guard (0...model.contextLength).contains(maxTokens) else {
            throw .invalid("max_tokens", "'max_tokens' must be in 0...\(model.contextLength) (the model's context)")
        }
        let temperature = body.temperature ?? 1
        guard temperature.isFinite, (0...2).contains(temperature) else {
            throw .invalid("temperature", "'temperature' must be in 0...2")
        }
        self.temperature = Float(temperature)
        if let topP = body.topP, !(topP > 0 && topP <= 1) { throw .invalid("top_p", "'top_p' must be in (0, 1]") }
        topP = body.topP.map(Float.init)
        if let seed = body.seed?.value, seed < 0 { throw .invalid("seed", "'seed' must be ≥ 0") }
        seed = body.seed.map { UInt64($0.value) } ?? fallbackSeed
        let stops = body.stop?.strings ?? []
        guard stops.count <= Self.maximumStops else { throw .invalid("stop", "at most \(Self.maximumStops) stop sequences") }
        guard stops.allSatisfy({ !$0.isEmpty }) else { throw .invalid("stop", "a stop sequence cannot be empty") }
        stop = stops.map { Array($0.utf8) }
        stream = body.stream ?? false
        includeUsage = body.streamOptions?.includeUsage ?? false
        echo = body.echo ?? false
        if let n = body.n?.value, n != 1 { throw .invalid("n", "'n' must be 1 (send the prompt several times in a list instead)") }
        if let bestOf = body.bestOf?.value, bestOf != 1 { throw .invalid("best_of", "'best_of' must be 1") }
        if let logprobs = body.logprobs?.value, logprobs != 0 { throw .invalid("logprobs", "'logprobs' is not supported") }
        if let suffix = body.suffix, !suffix.isEmpty { throw .invalid("suffix", "'suffix' is not supported") }
        if let p = body.presencePenalty, p != 0 { throw .invalid("presence_penalty", "'presence_penalty' is not supported") }
        if let f = body.frequencyPenalty, f != 0 { throw .invalid("frequency_penalty", "'frequency_penalty' is not supported") }

        if let text = body.exit {
            guard let rule = ExitRule(argument: text) else {
                throw .invalid("exit", "'exit' must be fixed, change:τ, kl:τ (τ ≥ 0) or gate:q (q in (0, 1])")
            }
            exit = rule
        } else {
            exit = .fixed
        }
        if case .gate = exit, !model.hasExitGate {
            throw .invalid("exit", "'exit': \(exit) needs an exit gate, and this model has none; use change:τ or kl:τ")
        }
        // The cap as `sample` sets it: loops, else the trained count (twice it for change and kl).
        let cap: Int
        switch exit {
        case .change, .kl: cap = body.loops?.value ?? 2 * model.trainedLoops
        case .fixed, .gate: cap = body.loops?.value ?? model.trainedLoops
        }
        guard (1...model.maxLoops).contains(cap) else {
            let what = body.loops == nil ? "the default cap for \(exit.name), \(cap) loops," : "'loops'"
            throw .invalid("loops", "\(what) must be in 1...\(model.maxLoops) (start the server with --max-loops to allow more)")
        }
        loops = cap
    }

    /// New tokens this request may produce, over all its prompts.
    var sequences: Int { prompts.count }
}
