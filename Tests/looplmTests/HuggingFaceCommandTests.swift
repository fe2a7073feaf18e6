import Foundation
import Testing

@Suite struct HuggingFaceCommandTests {
    let tinyHF = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("LoopCheckpointTests/Fixtures/hf-gpt2-tiny").path

    @Test func importWithLayoutThenExportAndBack() throws {
        let root = temporaryDirectory("hfcli")
        let imported = try Looplm.run(["import-hf", tinyHF, "--output", root + "/loop", "--prelude", "1", "--looped", "1",
                                       "--coda", "1", "--loops", "2", "--init", "average", "--json"])
        #expect(imported.status == 0, "\(imported.stderr)")
        #expect(json(imported.stdout)["layout"] as? String == "1+1×2+1")
        let info = json(try Looplm.run(["info", root + "/loop", "--json"]).stdout)
        #expect(info["unique_blocks"] as? Int == 3 && info["effective_depth"] as? Int == 4)
        let exported = try Looplm.run(["export-hf", root + "/loop", "--output", root + "/hf", "--json"])
        #expect(exported.status == 0 && json(exported.stdout)["n_layer"] as? Int == 4)
        let back = try Looplm.run(["import-hf", root + "/hf", "--output", root + "/plain", "--json"])
        #expect(json(back.stdout)["layout"] as? String == "4×1")
        // Same function: greedy samples agree.
        let a = json(try Looplm.run(["sample", root + "/loop", "--prompt", "a", "--tokens", "12", "--temperature", "0", "--json"]).stdout)
        let b = json(try Looplm.run(["sample", root + "/plain", "--prompt", "a", "--tokens", "12", "--temperature", "0", "--json"]).stdout)
        #expect(a["ids"] as? [Int] != nil && a["ids"] as? [Int] == b["ids"] as? [Int])
    }

    @Test func badFoldersAreNamed() throws {
        let root = temporaryDirectory("hfbad")
        try FileManager.default.copyItem(atPath: tinyHF + "/config.json", toPath: root + "/config.json")
        let missing = try Looplm.run(["import-hf", root, "--output", root + "/out"])
        #expect(missing.status != 0 && missing.stderr.contains("model.safetensors"))
        let tooDeep = try Looplm.run(["import-hf", tinyHF, "--output", root + "/out2", "--prelude", "3", "--looped", "2"])
        #expect(tooDeep.status != 0 && tooDeep.stderr.contains("does not fit"))
    }
}
