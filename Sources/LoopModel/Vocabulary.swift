/// What a model's token ids stand for, as a checkpoint records it (`looplm_tokenizer` in
/// config.json): text through a tokenizer, or the symbols of a generated reasoning task.
public enum Vocabulary: Hashable, Sendable, CustomStringConvertible {
    /// One id per byte (256 ids).
    case bytes
    /// GPT-2's byte-level BPE (50,257 ids, <|endoftext|> = 50256).
    case gpt2
    /// The symbols of a reasoning task (`task:NAME`), made by the task's own generator.
    case task(String)

    /// Reads a recorded name: `bytes`, `gpt2` or `task:NAME`; nil for anything else.
    public init?(recorded: String) {
        switch recorded {
        case "bytes": self = .bytes
        case "gpt2": self = .gpt2
        case let name where name.hasPrefix(Self.taskPrefix) && name.count > Self.taskPrefix.count
            && name.dropFirst(Self.taskPrefix.count).allSatisfy({ $0.isLetter || $0.isNumber || $0 == "-" }):
            self = .task(String(name.dropFirst(Self.taskPrefix.count)))
        default: return nil
        }
    }

    static let taskPrefix = "task:"

    /// The name written to checkpoints.
    public var recorded: String {
        switch self {
        case .bytes: "bytes"
        case .gpt2: "gpt2"
        case .task(let name): Self.taskPrefix + name
        }
    }

    public var description: String { recorded }
}

extension Vocabulary: Codable {
    /// Coded as its recorded name; an unknown name does not decode.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        let name = try container.decode(String.self)
        guard let vocabulary = Vocabulary(recorded: name) else {
            throw DecodingError.dataCorruptedError(in: container, debugDescription: "unknown tokenizer '\(name.prefix(40))'")
        }
        self = vocabulary
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(recorded)
    }
}
