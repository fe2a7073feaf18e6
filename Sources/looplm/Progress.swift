import Foundation
import LoopTraining

/// A progress bar on a terminal (step, loss, tokens/s, ETA), plain lines otherwise.
final class Progress {
    let totalSteps: Int
    let isTerminal = isatty(STDERR_FILENO) != 0
    let start = Date()
    var firstStep: Int?
    var lastLine = Date.distantPast
    static let barWidth = 24
    static let plainInterval: TimeInterval = 5

    init(totalSteps: Int) { self.totalSteps = totalSteps }

    func update(_ metrics: StepMetrics) {
        let step = metrics.step
        if firstStep == nil { firstStep = step - 1 }
        // Seconds per step so far; the first step's own time until a second one is measured.
        let done = step - firstStep!
        let perStep = done > 1 ? Date().timeIntervalSince(start) / Double(done) : metrics.stepSeconds
        let eta = perStep * Double(totalSteps - step)
        var text = String(format: "step %d/%d  loss %.4f", step, totalSteps, metrics.trainLoss)
        if let validation = metrics.validationLoss { text += String(format: "  val %.4f", validation) }
        text += String(format: "  %.0f tok/s  ETA %@", metrics.tokensPerSecond, Self.duration(eta))
        if isTerminal {
            let filled = Int(Double(Self.barWidth) * Double(step) / Double(max(totalSteps, 1)))
            let bar = String(repeating: "█", count: filled) + String(repeating: "·", count: Self.barWidth - filled)
            // A step with a validation loss stays on screen; the others are overwritten.
            let end = metrics.validationLoss != nil && step < totalSteps ? "\n" : ""
            FileHandle.standardError.write(Data("\r\u{1B}[K[\(bar)] \(text)\(end)".utf8))
        } else if metrics.validationLoss != nil || step == totalSteps || Date().timeIntervalSince(lastLine) > Self.plainInterval {
            lastLine = Date()
            printError(text)
        }
    }

    func finish() {
        if isTerminal { FileHandle.standardError.write(Data("\n".utf8)) }
    }

    static func duration(_ seconds: Double) -> String {
        guard seconds.isFinite else { return "?" }
        if seconds > 0 && seconds < 1 { return "<1s" }
        let s = Int(seconds.rounded(.up))
        return s >= 3600 ? String(format: "%dh%02dm", s / 3600, s % 3600 / 60) : String(format: "%dm%02ds", s / 60, s % 60)
    }
}

/// The progress of a suite: a new bar whenever the run being trained changes.
final class SuiteProgress {
    private var current: (name: String, bar: Progress)?
    private let totalSteps: (String) -> Int

    /// `totalSteps` gives the steps of a run from its name.
    init(totalSteps: @escaping (String) -> Int) { self.totalSteps = totalSteps }

    func update(_ name: String, _ metrics: StepMetrics) {
        if current?.name != name {
            current?.bar.finish()
            current = (name, Progress(totalSteps: totalSteps(name)))
        }
        current?.bar.update(metrics)
    }

    func finish() { current?.bar.finish() }
}

/// Progress of a long evaluation: nothing for the first seconds, then batches done and an
/// estimate of the time left (on a terminal, one line updated in place).
final class EvaluationProgress {
    let start = Date()
    let label: String
    let isTerminal = isatty(STDERR_FILENO) != 0
    var lastLine = Date.distantPast
    var shown = false
    static let quietSeconds: TimeInterval = 3

    init(label: String) { self.label = label }

    func update(_ done: Int, _ total: Int) {
        let elapsed = Date().timeIntervalSince(start)
        guard elapsed > Self.quietSeconds, done < total else { return }
        guard isTerminal || Date().timeIntervalSince(lastLine) > Progress.plainInterval else { return }
        lastLine = Date()
        shown = true
        let eta = elapsed / Double(done) * Double(total - done)
        let text = "\(label): batch \(done)/\(total), ETA \(Progress.duration(eta))"
        if isTerminal { FileHandle.standardError.write(Data("\r\u{1B}[K\(text)".utf8)) } else { printError(text) }
    }

    func finish() {
        if shown && isTerminal { FileHandle.standardError.write(Data("\r\u{1B}[K".utf8)) }
    }
}
