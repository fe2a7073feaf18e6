import Foundation
import Testing

/// `--replicas`: data-parallel copies of the model on threads of one process, with the real binary.
@Suite(.serialized) struct ReplicaCommandTests {
    let root = temporaryDirectory("replicas")

    func train(_ out: String, _ extra: [String]) -> [String] { tinyTraining(data: root + "/data", out: out, steps: 6) + extra }

    func losses(_ out: String) throws -> [Double] { try trainLosses(out) }

    /// Two replicas of one thread each are one process of one thread accumulating two
    /// micro-batches, bit for bit: the same micro-batches, each gradient alone, added in order.
    @Test func twoReplicasEqualOneThreadAccumulatingTwo() throws {
        _ = try preparedCorpus(in: root)
        let replicas = try Looplm.run(train(root + "/two", ["--replicas", "2", "--threads", "2"]))
        #expect(replicas.status == 0, "\(replicas.stderr)")
        let single = try Looplm.run(train(root + "/one", ["--accumulate", "2", "--threads", "1"]))
        #expect(single.status == 0, "\(single.stderr)")
        #expect(json(replicas.stdout)["weights_hash"] as? String == json(single.stdout)["weights_hash"] as? String)
        #expect(contents(root + "/two/latest/model.safetensors") == contents(root + "/one/latest/model.safetensors"))
        #expect(try losses(root + "/two") == (try losses(root + "/one")), "identical loss curves")
        #expect(json(replicas.stdout)["val_loss"] as? Double == json(single.stdout)["val_loss"] as? Double)
        #expect(try losses(root + "/two").count == 6, "one metrics line per step: only rank 0 writes")
        // The run continues in one replica, which then computes both micro-batches itself.
        let resumed = try Looplm.run(["train", "--data", root + "/data", "--out", root + "/two", "--resume", "--steps", "8",
                                      "--threads", "1", "--json"])
        #expect(resumed.status == 0 && resumed.stderr.contains("2 rank(s) (processes or replicas)"), "\(resumed.stderr)")
        #expect(json(resumed.stdout)["step"] as? Int == 8)
    }

    @Test func threadsMustDivideAmongTheReplicas() throws {
        _ = try preparedCorpus(in: root)
        let result = try Looplm.run(train(root + "/odd", ["--replicas", "2", "--threads", "3"]))
        #expect(result.status == 64, "\(result.stderr)")
        #expect(result.stderr.contains("--threads 3 does not divide among 2 replicas"), "\(result.stderr)")
        #expect(!FileManager.default.fileExists(atPath: root + "/odd"), "nothing written")
        let zero = try Looplm.run(["bench", "--preset", "tiny", "--replicas", "0"])
        #expect(zero.status == 64 && zero.stderr.contains("--replicas must be in"), "\(zero.stderr)")
    }

    @Test func benchTimesTheReplicasTogether() throws {
        let result = try Looplm.run(["bench", "--preset", "tiny", "--batch", "2", "--steps", "2", "--warmup", "1",
                                     "--replicas", "2", "--threads", "2", "--json"])
        #expect(result.status == 0, "\(result.stderr)")
        let report = json(result.stdout)
        #expect(report["replicas"] as? Int == 2 && report["threads"] as? Int == 1, "\(report)")
        #expect((report["tokens_per_second"] as? Double ?? 0) > 0)
    }
}
