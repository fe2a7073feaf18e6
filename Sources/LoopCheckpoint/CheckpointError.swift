/// Why a checkpoint or tensor file could not be read or written. Each case names the file
/// and the problem, and the message says what to do.
public enum CheckpointError: Error, Equatable, CustomStringConvertible {
    case missingFile(String)
    /// A path that should be a regular file is a folder, a device or another special file.
    case notARegularFile(String, kind: String)
    /// A path that should be a checkpoint folder is something else.
    case notAFolder(String)
    case truncated(String, detail: String)
    case badHeader(String, detail: String)
    case unsupportedDType(String, tensor: String, dtype: String)
    case missingTensor(String, tensor: String)
    case unexpectedTensor(String, tensor: String)
    case shapeMismatch(String, tensor: String, expected: [Int], found: [Int])
    case badConfig(String, detail: String)
    case badValues(String, tensor: String, detail: String)
    case writeFailed(String, detail: String)
    /// A command refused to write a folder where something it must not replace is.
    case unsafeOutput(String, reason: String)

    public var description: String {
        switch self {
        case .missingFile(let path):
            return "\(path): no such file; pass a checkpoint directory written by `looplm train`"
        case .notARegularFile(let path, let kind):
            return "\(path) is \(kind), not a regular file"
        case .notAFolder(let path):
            return "\(path) is not a folder; pass a checkpoint folder (one holding config.json and model.safetensors, such as RUN/latest)"
        case .truncated(let path, let detail):
            return "\(path): file is truncated (\(detail)); it was not completely written — use another checkpoint"
        case .badHeader(let path, let detail):
            return "\(path): not a valid safetensors file (\(detail))"
        case .unsupportedDType(let path, let tensor, let dtype):
            return "\(path): tensor '\(tensor)' has dtype \(dtype); LoopLM reads F32, F16 and BF16"
        case .missingTensor(let path, let tensor):
            return "\(path): tensor '\(tensor)' is missing; the file does not match its config.json"
        case .unexpectedTensor(let path, let tensor):
            return "\(path): unexpected tensor '\(tensor)'; the file does not match its config.json"
        case .shapeMismatch(let path, let tensor, let expected, let found):
            return "\(path): tensor '\(tensor)' has shape \(found) but config.json implies \(expected)"
        case .badConfig(let path, let detail):
            return "\(path): \(detail)"
        case .badValues(let path, let tensor, let detail):
            return "\(path): tensor '\(tensor)' holds NaN or infinite values (\(detail)); the checkpoint is damaged or came from a diverged run"
        case .unsafeOutput(let path, let reason):
            return "refusing to write \(path): \(reason); nothing was changed"
        case .writeFailed(let path, let detail):
            return "could not write \(path): \(detail); what was there before is untouched"
        }
    }
}
