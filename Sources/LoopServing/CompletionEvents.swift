import Foundation
import Synchronization

/// What happens to a submitted request, told to its `events` callback on the scheduler's
/// thread, in order: text as it becomes safe to send (streaming requests only), then each
/// choice's end; or one failure.
public enum CompletionEvent: Sendable {
    case text(choice: Int, String)
    case finished(ChoiceResult)
    case failed(ServingError)
}

/// How one prompt of a request ended.
public struct ChoiceResult: Sendable, Equatable {
    public let choice: Int
    /// The whole text (the prompt first when the request asked for echo).
    public let text: String
    /// "stop" (a stop sequence appeared) or "length" (max_tokens reached).
    public let finishReason: String
    public let promptTokens: Int
    public let completionTokens: Int
    /// Loop passes per token over the prompt and the new tokens.
    public let meanLoops: Double
}

/// A submitted request: its id, and the switch a client's disconnection flips.
public final class CompletionTicket: Sendable {
    public let id: String
    public let choices: Int
    private let cancelled = Atomic<Bool>(false)

    init(id: String, choices: Int) {
        self.id = id
        self.choices = choices
    }

    /// Frees the request's slots at the scheduler's next step; no more events follow.
    public func cancel() { cancelled.store(true, ordering: .relaxed) }
    public var isCancelled: Bool { cancelled.load(ordering: .relaxed) }
}
