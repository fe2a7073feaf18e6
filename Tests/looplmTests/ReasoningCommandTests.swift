import Foundation
#if canImport(Glibc)
import Glibc
#endif
import Testing

/// The reasoning suite end to end with the real binary, at toy size: every task and model
/// trained, evaluated at every loop count, reported; and shared between two processes.
@Suite struct ReasoningCommandTests {
    let root = temporaryDirectory("reasoning")

    func results(_ out: String) throws -> [[String: Any]] {
        let data = try #require(contents(out + "/results.json"))
        return try #require(try JSONSerialization.jsonObject(with: data) as? [[String: Any]])
    }

    @Test func miniSuiteTrainsEvaluatesAndReports() throws {
        let out = root + "/mini"
        let result = try Looplm.run(["experiment", "--suite", "mini-reasoning", "--out", out, "--steps", "3"])
        #expect(result.status == 0, "\(result.stderr)")
        let runs = try results(out)
        // 3 tasks × 4 models (1x1, 2x1, 1x2, 1x2-random), one seed.
        #expect(runs.count == 12)
        for run in runs {
            let accuracy = try #require(run["accuracy"] as? [[String: Any]])
            let loops = Set(accuracy.compactMap { $0["loops"] as? Int })
            let looped = (run["loops"] as? Int ?? 1) > 1 || run["loop_sampling"] is String
            // Looped models are swept from 1 to twice their loops; unlooped ones at their own depth.
            #expect(loops == (looped ? [1, 2, 3, 4] : [1]), "\(run["model"] ?? "")")
            #expect(accuracy.allSatisfy { ($0["asked"] as? Int ?? 0) >= 16 && ($0["solved"] as? Int ?? -1) >= 0 })
        }
        let table = try String(contentsOfFile: out + "/table.md", encoding: .utf8)
        for task in ["pointers", "p-hop", "addition"] { #expect(table.contains(task), "\(task) in table.md") }
        #expect(FileManager.default.fileExists(atPath: out + "/table.csv"))
        let plots = try FileManager.default.contentsOfDirectory(atPath: out + "/plots")
        #expect(plots.contains { $0.hasSuffix("accuracy_vs_loops.svg") } && plots.contains { $0.hasSuffix("accuracy_vs_compute.svg") })
        // Run again: nothing to train, the same report.
        let again = try Looplm.run(["experiment", "--suite", "mini-reasoning", "--out", out, "--steps", "3"])
        #expect(again.status == 0 && !again.stderr.contains("== "), "\(again.stderr)")
        #expect(try results(out).count == 12)
    }

    /// A run another process is training (its folder locked) is left to that process, so
    /// several processes started with the same command share a suite; a later run gathers all.
    @Test func aLockedRunIsLeftToItsProcessAndGatheredLater() throws {
        let out = root + "/shared"
        let arguments = ["experiment", "--suite", "mini-reasoning", "--out", out, "--steps", "3", "--task", "p-hop"]
        let locked = out + "/runs/p-hop-2x1-seed1337"
        try FileManager.default.createDirectory(atPath: locked, withIntermediateDirectories: true)
        let descriptor = open(locked + "/.lock", O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        #expect(descriptor >= 0 && flock(descriptor, LOCK_EX | LOCK_NB) == 0)
        let partial = try Looplm.run(arguments)
        #expect(partial.status == 0 && partial.stderr.contains("another process is training it"), "\(partial.stderr)")
        #expect(partial.stderr.contains("run the same command again"))
        #expect(try results(out).count == 3)
        close(descriptor)
        let gathered = try Looplm.run(arguments)
        #expect(gathered.status == 0, "\(gathered.stderr)")
        #expect(try results(out).map { $0["model"] as? String } == ["1x1", "2x1", "1x2", "1x2-random"])
        // Filters name what they accept.
        let unknown = try Looplm.run(["experiment", "--suite", "mini-reasoning", "--out", out, "--task", "sudoku"])
        #expect(unknown.status != 0 && unknown.stderr.contains("p-hop"), "\(unknown.stderr)")
    }
}
