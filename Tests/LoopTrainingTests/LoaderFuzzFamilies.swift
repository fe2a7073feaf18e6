import Foundation
import LoopCheckpoint
import LoopKernels
import LoopModel
@testable import LoopTraining
import Testing

/// The second fuzzing round's families (issue 20): edits of the JSON inside the files (keys
/// duplicated, deleted, misspelled, added; values of the wrong kind), non-finite or negative
/// Adam moments, edited training options, and weight groups too small for an int8 scale.
/// Each mutation must be refused with a typed error or load into a model that runs; the
/// edits that make a file ambiguous or incomplete must be refused.
extension LoaderFuzzTests {
    static let familyMutations = 800

    enum Family: CaseIterable { case headerEdit, configEdit, optionEdit, momentValues, tinyGroups }

    @Test func secondRoundFamiliesGiveTypedErrorsOrValidLoads() throws {
        let (checkpoint, _) = try realFiles()
        let files = [Checkpoint.weightsFile, TrainingState.fileName, Checkpoint.configFile]
        let originals = try files.map { try Data(contentsOf: URL(fileURLWithPath: checkpoint + "/" + $0)) }
        let scratch = temporaryDirectory("fuzz-family")
        var generator = SeededGenerator(seed: 2026)
        var outcomes: [String: [Outcome: Int]] = [:]
        for index in 0..<Self.familyMutations {
            for (file, original) in zip(files, originals) { try original.write(to: URL(fileURLWithPath: scratch + "/" + file)) }
            let family = Family.allCases[index % Family.allCases.count]
            let mustRefuse: Bool
            switch family {
            case .headerEdit:
                mustRefuse = try editHeader(scratch + "/" + Checkpoint.weightsFile, generator: &generator)
            case .configEdit:
                let path = scratch + "/" + Checkpoint.configFile
                var tree = try StrictJSON.parse(Data(contentsOf: URL(fileURLWithPath: path)))
                mustRefuse = editTree(&tree, generator: &generator, strictKeys: false)
                try Data(serialize(tree).utf8).write(to: URL(fileURLWithPath: path))
            case .optionEdit:
                mustRefuse = try editOptions(scratch + "/" + TrainingState.fileName, generator: &generator)
            case .momentValues:
                try rewriteTensors(scratch + "/" + TrainingState.fileName) { name, values in
                    let i = Int(generator.next() % UInt64(values.count))
                    values[i] = [Float.nan, .infinity, -.infinity, name == AdamW.secondMomentName ? -1 : .nan][Int(generator.next() % 4)]
                }
                mustRefuse = true
            case .tinyGroups:
                try rewriteTensors(scratch + "/" + Checkpoint.weightsFile) { name, values in
                    guard name.hasSuffix(".weight"), name.hasPrefix("h."), values.count >= 64 else { return }
                    let group = Int(generator.next() % UInt64(values.count / 64)) * 64
                    let tiny: [Float] = [1e-38, -1e-38, 1e-40, 0, 1.5e-36, .leastNonzeroMagnitude]
                    for i in group..<(group + 64) { values[i] = tiny[Int(generator.next() % UInt64(tiny.count))] }
                }
                mustRefuse = false
            }
            let outcome = try loadCheckpoint(scratch)
            outcomes["\(family)", default: [:]][outcome, default: 0] += 1
            if mustRefuse { #expect(outcome == .refused, "case \(index) (\(family)) was accepted") }
            if family == .tinyGroups { #expect(outcome == .loaded, "case \(index): tiny weights are valid weights") }
        }
        #expect(outcomes.count == Family.allCases.count, "\(outcomes)")
    }

    /// Edits the safetensors header's JSON; true when the edit must be refused.
    func editHeader(_ path: String, generator: inout SeededGenerator) throws -> Bool {
        let bytes = try Data(contentsOf: URL(fileURLWithPath: path))
        let length = Int(bytes.prefix(8).withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) })
        guard case .object(var members) = try StrictJSON.parse(bytes.subdata(in: 8..<(8 + length))) else { return false }
        // The tensor entries are strict; `__metadata__` is free-form strings, so it is left as it is.
        let metadata = members.filter { $0.key == "__metadata__" }
        members.removeAll { $0.key == "__metadata__" }
        var tree = StrictJSON.Value.object(members)
        let mustRefuse = editTree(&tree, generator: &generator, strictKeys: true)
        guard case .object(let edited) = tree else { return false }
        var header = Array(serialize(.object(metadata + edited)).utf8)
        while header.count % 8 != 0 { header.append(UInt8(ascii: " ")) }
        var out = Data()
        withUnsafeBytes(of: UInt64(header.count).littleEndian) { out.append(contentsOf: $0) }
        out.append(contentsOf: header)
        out.append(bytes.subdata(in: (8 + length)..<bytes.count))
        try out.write(to: URL(fileURLWithPath: path))
        return mustRefuse
    }

    /// Edits the training options JSON inside the state's metadata; every key edit must be refused.
    func editOptions(_ path: String, generator: inout SeededGenerator) throws -> Bool {
        let file = try SafeTensorsFile(path: path)
        var metadata = file.metadata
        var tree = try StrictJSON.parse(Data(metadata["options"]!.utf8))
        let mustRefuse = editTree(&tree, generator: &generator, strictKeys: true)
        metadata["options"] = serialize(tree)
        let tensors = try [AdamW.firstMomentName, AdamW.secondMomentName].map { ($0, try FloatBuffer(file.floats($0))) }
        var writer = SafeTensorsWriter(metadata: metadata)
        for (name, buffer) in tensors { writer.add(name, shape: [buffer.count], floats: buffer.pointer) }
        try withExtendedLifetime(tensors) { try writer.write(to: path) }
        return mustRefuse
    }

    /// Rewrites every float tensor of a safetensors file through `change`, keeping its metadata.
    func rewriteTensors(_ path: String, _ change: (String, inout [Float]) -> Void) throws {
        let file = try SafeTensorsFile(path: path)
        var writer = SafeTensorsWriter(metadata: file.metadata)
        var buffers: [FloatBuffer] = []
        for name in file.entries.keys.sorted() {
            var values = try file.floats(name)
            change(name, &values)
            let buffer = try FloatBuffer(values)
            buffers.append(buffer)
            writer.add(name, shape: file.entries[name]!.shape, floats: buffer.pointer)
        }
        try withExtendedLifetime(buffers) { try writer.write(to: path) }
    }

    /// One edit of a member of a random object in `tree`. Returns true when the file must
    /// then be refused: a duplicated key always; with `strictKeys` (every key known and
    /// needed), a deleted, misspelled or added key too.
    func editTree(_ tree: inout StrictJSON.Value, generator: inout SeededGenerator, strictKeys: Bool) -> Bool {
        guard case .object(var members) = tree, !members.isEmpty else { return false }
        func below(_ n: Int) -> Int { Int(generator.next() % UInt64(max(n, 1))) }
        let i = below(members.count)
        // Half the time, go one level down into an object member (a tensor entry, the schedule).
        if below(2) == 0, case .object = members[i].value {
            var inner = members[i].value
            let refused = editTree(&inner, generator: &generator, strictKeys: strictKeys)
            members[i].value = inner
            tree = .object(members)
            return refused
        }
        var refused = false
        switch below(5) {
        case 0:  // the same key twice, the second with another value
            members.insert((members[i].key, .number("3")), at: min(i + 1 + below(2), members.count))
            refused = true
        case 1:  // a key deleted
            members.remove(at: i)
            refused = strictKeys
        case 2:  // a key misspelled by one changed byte
            var key = Array(members[i].key.utf8)
            if !key.isEmpty { key[below(key.count)] = UInt8(ascii: "a") + UInt8(below(26)) }
            let misspelled = String(decoding: key, as: UTF8.self)
            refused = strictKeys && misspelled != members[i].key && !members.contains { $0.key == misspelled }
            members[i].key = misspelled
        case 3:  // an unknown key
            members.append(("surprise_\(below(1000))", .number("1")))
            refused = strictKeys
        default:  // a value of another kind
            let values: [StrictJSON.Value] = [.string("12"), .number("64.5"), .number("-1"), .number("1e39"),
                                               .null, .bool(true), .array([]), .object([])]
            members[i].value = values[below(values.count)]
        }
        tree = .object(members)
        return refused
    }

    func serialize(_ value: StrictJSON.Value) -> String {
        switch value {
        case .object(let members):
            return "{" + members.map { quote($0.key) + ":" + serialize($0.value) }.joined(separator: ",") + "}"
        case .array(let elements): return "[" + elements.map(serialize).joined(separator: ",") + "]"
        case .string(let text): return quote(text)
        case .number(let text): return text
        case .bool(let flag): return flag ? "true" : "false"
        case .null: return "null"
        }
    }

    func quote(_ text: String) -> String {
        let data = try? JSONSerialization.data(withJSONObject: [text], options: [.fragmentsAllowed])
        return data.map { String(decoding: $0.dropFirst().dropLast(), as: UTF8.self) } ?? "\"\""
    }
}
