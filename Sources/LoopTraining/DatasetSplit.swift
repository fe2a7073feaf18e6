/// How prepared text is split into training and validation tokens.
///
/// Whole documents go to validation when their names contain one of the validation words (the
/// Shakespeare corpus holds out three plays); otherwise, or when a fraction is asked for, the
/// last fraction of the token stream does (nanoGPT's 90/10 split of one file). A split is never
/// empty: training on nothing, or validating on nothing, is refused with a reason.
public struct DatasetSplit: Sendable, Equatable {
    public let train: [UInt16]
    public let validation: [UInt16]
    /// Documents held out whole (empty when a fraction was held out).
    public let validationDocuments: [String]
    /// The fraction of the stream held out (nil when whole documents were).
    public let heldOutFraction: Double?

    /// The fraction held out when no document name matches a validation word.
    public static let defaultFraction = 0.1
    /// Each split needs one window and its target.
    static let minimumTokens = 2

    /// Splits `documents` (in order): by `fraction` when given, else by `words`, else by
    /// `defaultFraction`.
    public static func make(
        documents: [(name: String, tokens: [UInt16])], words: [String], fraction: Double?
    ) throws(DataError) -> DatasetSplit {
        let total = documents.reduce(0) { $0 + $1.tokens.count }
        guard total > 0 else {
            throw .noInput("no text: \(documents.map(\.name).joined(separator: ", ")) \(documents.count == 1 ? "is" : "are") empty")
        }
        let matching = words.map { $0.lowercased() }.filter { !$0.isEmpty }
        let held = documents.filter { document in matching.contains { document.name.lowercased().contains($0) } }
        if fraction == nil && !held.isEmpty {
            let train = documents.filter { document in !held.contains { $0.name == document.name } }.flatMap(\.tokens)
            let validation = held.flatMap(\.tokens)
            guard train.count >= minimumTokens else {
                throw .noInput("no training text: every input matched the validation words (\(held.map(\.name).joined(separator: ", "))); choose other words or a fraction")
            }
            guard validation.count >= minimumTokens else {
                throw .noInput("the validation documents (\(held.map(\.name).joined(separator: ", "))) hold \(validation.count) token(s); at least \(minimumTokens) are needed")
            }
            return DatasetSplit(train: train, validation: validation, validationDocuments: held.map(\.name), heldOutFraction: nil)
        }
        let share = fraction ?? defaultFraction
        let stream = documents.flatMap(\.tokens)
        let count = Int((Double(stream.count) * share).rounded())
        guard count >= minimumTokens, stream.count - count >= minimumTokens else {
            throw .noInput("\(stream.count) token(s) are too few to hold out \(share * 100)% for validation and keep the rest for training; give more text")
        }
        return DatasetSplit(train: Array(stream.dropLast(count)), validation: Array(stream.suffix(count)),
                            validationDocuments: [], heldOutFraction: share)
    }
}
