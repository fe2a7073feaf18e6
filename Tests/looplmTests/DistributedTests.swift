import Foundation
import Testing

/// `mpirun` with the real binary, when this build has MPI (scripts/test.sh builds it so) and
/// Open MPI's launcher is installed; otherwise these tests are skipped.
enum MPIRun {
    static let launcher = ["/usr/bin/mpirun", "/usr/local/bin/mpirun", "/opt/homebrew/bin/mpirun"]
        .first { FileManager.default.isExecutableFile(atPath: $0) }

    static var available: Bool {
        guard launcher != nil, let version = try? Looplm.run(["--version"]) else { return false }
        return version.stdout.contains("(MPI)")
    }

    /// `mpirun -np N looplm ARGUMENTS` (as root it needs --allow-run-as-root; 2 ranks on 2 cores
    /// need --oversubscribe when cores are counted strictly).
    static func command(_ processes: Int, _ arguments: [String]) -> [String] {
        [launcher!, "--allow-run-as-root", "--oversubscribe", "-np", "\(processes)", Looplm.binary]
            + arguments + (Looplm.takesThreads(arguments) ? ["--threads", "1"] : [])
    }

    /// Runs mpirun with a clean signal mask (Foundation's Process starts children with most
    /// signals blocked, and mpirun would then never see the SIGINT of Ctrl-C).
    @discardableResult
    static func run(_ processes: Int, _ arguments: [String], signalAfter: (() -> Bool)? = nil,
                    whileRunning: ((Int32) -> Void)? = nil) throws -> CommandResult {
        try CleanSpawn.run(command(processes, arguments), signalAfter: signalAfter, whileRunning: whileRunning)
    }
}

@Suite(.serialized, .enabled(if: MPIRun.available)) struct DistributedTests {
    let root = temporaryDirectory("mpi")

    func train(_ out: String, steps: Int = 6, _ extra: [String] = []) -> [String] {
        tinyTraining(data: root + "/data", out: out, steps: steps) + extra
    }

    func losses(_ out: String) throws -> [Double] { try trainLosses(out) }

    /// Two ranks of B sequences are one process of B × 2 micro-batches, bit for bit: each
    /// micro-batch's gradient is computed alone and the two are added in the same order.
    @Test func twoRanksEqualOneProcessAccumulatingTwo() throws {
        _ = try preparedCorpus(in: root)
        let parallel = try MPIRun.run(2, train(root + "/two"))
        #expect(parallel.status == 0, "\(parallel.stderr)")
        let single = try Looplm.run(train(root + "/one", ["--accumulate", "2"]))
        #expect(single.status == 0, "\(single.stderr)")
        #expect(json(parallel.stdout)["processes"] as? Int == 2)
        #expect(json(parallel.stdout)["weights_hash"] as? String == json(single.stdout)["weights_hash"] as? String)
        #expect(contents(root + "/two/latest/model.safetensors") == contents(root + "/one/latest/model.safetensors"))
        #expect(try losses(root + "/two") == (try losses(root + "/one")), "identical loss curves")
        #expect(json(parallel.stdout)["val_loss"] as? Double == json(single.stdout)["val_loss"] as? Double)
        // Only rank 0 wrote: one metrics line per step.
        #expect(try losses(root + "/two").count == 6)
        // …and a run trained by two processes continues in one, accumulating two micro-batches.
        let resumed = try Looplm.run(["train", "--data", root + "/data", "--out", root + "/two", "--resume", "--json"])
        #expect(resumed.status == 0 && resumed.stderr.contains("2 rank(s) (processes or replicas)"), "\(resumed.stderr)")
    }

    /// Ctrl-C (SIGINT) to mpirun stops every rank after the same step; rank 0 saves; --resume
    /// under mpirun continues to the weights of a run that never stopped.
    @Test func interruptedJobResumesToTheUninterruptedWeights() throws {
        _ = try preparedCorpus(in: root)
        let whole = try MPIRun.run(2, train(root + "/whole", steps: 400))
        #expect(whole.status == 0, "\(whole.stderr)")
        let out = root + "/split"
        let stopped = try MPIRun.run(2, train(out, steps: 400), signalAfter: {
            ((try? String(contentsOfFile: out + "/metrics.jsonl", encoding: .utf8)) ?? "").split(separator: "\n").count >= 5
        })
        #expect(stopped.stderr.contains("stopped by signal"), "\(stopped.stderr)")
        let summary = json(stopped.stdout)
        let step = try #require(summary["step"] as? Int)
        #expect(summary["interrupted"] as? Bool == true && step >= 5 && step < 400)
        let info = json(try Looplm.run(["info", out + "/latest", "--json"]).stdout)
        #expect(info["step"] as? Int == step, "rank 0 saved the step every rank stopped after")
        let resumed = try MPIRun.run(2, ["train", "--data", root + "/data", "--out", out, "--resume", "--json"])
        #expect(resumed.status == 0, "\(resumed.stderr)")
        #expect(contents(root + "/whole/latest/model.safetensors") == contents(out + "/latest/model.safetensors"))
    }

    /// A rank killed with SIGKILL ends the whole job with a non-zero status and mpirun's
    /// message, within seconds; the last checkpoint is intact.
    @Test func aKilledRankEndsTheJobAndKeepsTheCheckpoint() throws {
        _ = try preparedCorpus(in: root)
        let out = root + "/killed"
        let start = Date()
        let result = try MPIRun.run(2, train(out, steps: 100_000), whileRunning: { _ in
            let deadline = Date().addingTimeInterval(60)
            while Date() < deadline && !FileManager.default.fileExists(atPath: out + "/latest/model.safetensors") { usleep(50_000) }
            let ranks = Looplm.processes(matching: out)
            if let victim = ranks.last { kill(victim, SIGKILL) }
        })
        #expect(result.status != 0)
        #expect(Date().timeIntervalSince(start) < 90, "the job ended within a bounded time")
        #expect(result.stderr.contains("signal 9") || result.stderr.contains("Killed"), "\(result.stderr)")
        let eval = try Looplm.run(["eval", out + "/latest", "--data", root + "/data/val.bin", "--max-batches", "1", "--json"])
        #expect(eval.status == 0 && json(eval.stdout)["loss"] is Double, "\(eval.stderr)")
    }

    @Test func benchReportsTheJobAndTheAllReduce() throws {
        let result = try MPIRun.run(2, ["bench", "--preset", "tiny", "--batch", "2", "--steps", "2", "--warmup", "1", "--json"])
        #expect(result.status == 0, "\(result.stderr)")
        let report = json(result.stdout)
        #expect(report["processes"] as? Int == 2 && (report["allreduce_seconds"] as? Double ?? -1) >= 0)
        #expect(result.stdout.split(separator: "\n").count == 1, "only rank 0 prints")
    }
}
