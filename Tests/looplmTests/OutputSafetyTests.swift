import Foundation
import Testing

/// `export-hf` and `import-hf` write whole folders: they never delete what they did not write
/// (issue 20, fault 1). Every refused case leaves every file as it was, byte for byte.
@Suite struct OutputSafetyTests {
    let root = temporaryDirectory("output-safety")

    /// A trained run: RUN/latest, RUN/best, RUN/metrics.jsonl.
    func trainedRun() throws -> String {
        let data = try preparedCorpus(in: root)
        let run = root + "/run"
        let trained = try Looplm.run(["train", "--data", data, "--out", run, "--preset", "tiny-loop", "--steps", "4",
                                      "--batch", "2", "--context", "16", "--eval-interval", "2"])
        #expect(trained.status == 0, "\(trained.stderr)")
        return run
    }

    /// Every file under `path` with its bytes (hidden ones included).
    func snapshot(_ path: String) -> [String: Data] {
        var files: [String: Data] = [:]
        guard let walker = FileManager.default.enumerator(atPath: path) else { return files }
        while let relative = walker.nextObject() as? String {
            if let data = contents(path + "/" + relative) { files[relative] = data }
        }
        return files
    }

    func expectRefused(_ arguments: [String], mentioning word: String, keeps paths: [String],
                       sourceLocation: SourceLocation = #_sourceLocation) throws {
        let before = paths.map(snapshot)
        let result = try Looplm.run(arguments)
        #expect(result.status == 1, "\(arguments): \(result.stderr)", sourceLocation: sourceLocation)
        #expect(result.stderr.contains("refusing to write") && result.stderr.contains(word), "\(result.stderr)",
                sourceLocation: sourceLocation)
        for (path, files) in zip(paths, before) {
            #expect(snapshot(path) == files, "\(path) changed", sourceLocation: sourceLocation)
        }
    }

    @Test func exportNeverReplacesTheRunOrTheCheckpointItReads() throws {
        let run = try trainedRun()
        #expect(!snapshot(run).isEmpty)
        try expectRefused(["export-hf", run + "/latest", "--output", run], mentioning: "contains the input", keeps: [run])
        try expectRefused(["export-hf", run + "/latest", "--output", run, "--force"], mentioning: "contains the input", keeps: [run])
        try expectRefused(["export-hf", run + "/latest", "--output", run + "/latest", "--force"], mentioning: "is the input",
                          keeps: [run])
        try expectRefused(["export-hf", run + "/latest", "--output", run + "/latest/hf"], mentioning: "inside the input",
                          keeps: [run])
        // The same folder reached through a symbolic link is still the input.
        try FileManager.default.createSymbolicLink(atPath: root + "/link", withDestinationPath: run)
        try expectRefused(["export-hf", run + "/latest", "--output", root + "/link/latest"], mentioning: "is the input",
                          keeps: [run])
    }

    @Test func userFilesAndFilesAreNeverReplaced() throws {
        let run = try trainedRun()
        let mine = root + "/mine"
        try FileManager.default.createDirectory(atPath: mine, withIntermediateDirectories: true)
        try Data("notes".utf8).write(to: URL(fileURLWithPath: mine + "/notes.txt"))
        try expectRefused(["export-hf", run + "/latest", "--output", mine, "--force"], mentioning: "notes.txt", keeps: [mine])
        try Data("a file".utf8).write(to: URL(fileURLWithPath: root + "/plain-file"))
        try expectRefused(["export-hf", run + "/latest", "--output", root + "/plain-file", "--force"],
                          mentioning: "is a file", keeps: [root + "/plain-file"])
        #expect(contents(root + "/plain-file") == Data("a file".utf8))
    }

    @Test func anEarlierExportIsReplacedOnlyWithForceAndOnlyWhenItHoldsNothingElse() throws {
        let run = try trainedRun()
        let hf = root + "/exports/hf"
        let first = try Looplm.run(["export-hf", run + "/latest", "--output", hf])
        #expect(first.status == 0, "\(first.stderr)")
        try expectRefused(["export-hf", run + "/latest", "--output", hf], mentioning: "--force", keeps: [hf])
        let again = try Looplm.run(["export-hf", run + "/best", "--output", hf, "--force"])
        #expect(again.status == 0, "\(again.stderr)")
        #expect(Set(snapshot(hf).keys) == ["config.json", "model.safetensors", "looplm-output.json"])
        // Nothing but the export is left beside it: no staging or moved-aside folders.
        #expect(try FileManager.default.contentsOfDirectory(atPath: root + "/exports") == ["hf"])
        // A file someone added to the export makes it theirs: never replaced.
        try Data("x".utf8).write(to: URL(fileURLWithPath: hf + "/added.txt"))
        try expectRefused(["export-hf", run + "/latest", "--output", hf, "--force"], mentioning: "added.txt", keeps: [hf])
        // Another command's output is not an earlier output of this one.
        try expectRefused(["import-hf", hf, "--output", hf, "--force"], mentioning: "is the input", keeps: [hf])
    }

    @Test func importNeverReplacesTheFolderAboveItsInput() throws {
        let run = try trainedRun()
        let parent = root + "/par"
        #expect(try Looplm.run(["export-hf", run + "/latest", "--output", parent + "/ck"]).status == 0)
        try Data("keep".utf8).write(to: URL(fileURLWithPath: parent + "/keep.txt"))
        try expectRefused(["import-hf", parent + "/ck", "--output", parent, "--force"], mentioning: "contains the input",
                          keeps: [parent])
        let empty = root + "/empty"
        try FileManager.default.createDirectory(atPath: empty, withIntermediateDirectories: true)
        let imported = try Looplm.run(["import-hf", parent + "/ck", "--output", empty])
        #expect(imported.status == 0, "\(imported.stderr)")
        try expectRefused(["import-hf", parent + "/ck", "--output", empty], mentioning: "--force", keeps: [empty])
        #expect(try Looplm.run(["import-hf", parent + "/ck", "--output", empty, "--force"]).status == 0)
        // export-hf does not replace import-hf's output either.
        try expectRefused(["export-hf", run + "/latest", "--output", empty, "--force"], mentioning: "did not write",
                          keeps: [empty])
    }
}
