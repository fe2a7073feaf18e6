import Foundation
import LoopModel
@testable import LoopServing
import LoopTokenizer
import Testing

/// Request checking and stop sequences, in process (the server itself is tested through the
/// real binary in looplmTests).
@Suite struct CompletionRequestTests {
    static let model = ServedModel(id: "tiny", tokenizer: ByteTokenizer(), vocabSize: 256, contextLength: 32,
                                   trainedLoops: 2, maxLoops: 4, hasExitGate: false)

    func parse(_ json: String) throws(ServingError) -> CompletionJob {
        try CompletionJob.parse(Data(json.utf8), model: Self.model, fallbackSeed: 7)
    }

    func refusal(_ json: String) -> ServingError? {
        do {
            _ = try parse(json)
            return nil
        } catch {
            return error
        }
    }

    @Test func aFullRequestBecomesAJob() throws {
        let job = try parse(#"{"model":"tiny","prompt":["ab","c"],"max_tokens":5,"temperature":0,"top_p":0.5,"seed":3,"stop":"\n","stream":true,"stream_options":{"include_usage":true},"echo":true,"loops":3,"exit":"kl:0.1","user":"x"}"#)
        #expect(job.prompts == [[97, 98], [99]] && job.maxTokens == 5 && job.temperature == 0 && job.topP == 0.5)
        #expect(job.seed == 3 && job.stop == [[10]] && job.stream && job.includeUsage && job.echo)
        #expect(job.loops == 3 && job.exit == .kl(0.1))
        let plain = try parse(#"{"model":"tiny","prompt":[104,105]}"#)
        #expect(plain.prompts == [[104, 105]] && plain.maxTokens == 16 && plain.temperature == 1 && plain.seed == 7)
        #expect(plain.loops == 2 && plain.exit == .fixed && !plain.stream)
        #expect(try parse(#"{"model":"tiny","prompt":"x","exit":"change:0.2"}"#).loops == 4, "change and kl cap at twice the trained loops")
    }

    @Test func badRequestsAreRefusedNamingTheField() throws {
        let cases: [(String, Int, String?)] = [
            ("{", 400, nil),
            ("[1,2]", 400, nil),
            (#"{"prompt":"x"}"#, 400, "model"),
            (#"{"model":"other","prompt":"x"}"#, 404, "model"),
            (#"{"model":"tiny"}"#, 400, "prompt"),
            (#"{"model":"tiny","prompt":5}"#, 400, "prompt"),
            (#"{"model":"tiny","prompt":[]}"#, 400, "prompt"),
            (#"{"model":"tiny","prompt":""}"#, 400, "prompt"),
            (#"{"model":"tiny","prompt":[300]}"#, 400, "prompt"),
            (#"{"model":"tiny","prompt":"x","max_tokens":-1}"#, 400, "max_tokens"),
            (#"{"model":"tiny","prompt":"x","max_tokens":1e30}"#, 400, "max_tokens"),
            (#"{"model":"tiny","prompt":"x","max_tokens":33}"#, 400, "max_tokens"),
            (#"{"model":"tiny","prompt":"x","max_tokens":"5"}"#, 400, "max_tokens"),
            (#"{"model":"tiny","prompt":"x","max_tokens":2.5}"#, 400, "max_tokens"),
            (#"{"model":"tiny","prompt":"x","temperature":-0.5}"#, 400, "temperature"),
            (#"{"model":"tiny","prompt":"x","temperature":NaN}"#, 400, nil),
            (#"{"model":"tiny","prompt":"x","temperature":"hot"}"#, 400, "temperature"),
            (#"{"model":"tiny","prompt":"x","top_p":0}"#, 400, "top_p"),
            (#"{"model":"tiny","prompt":"x","seed":-1}"#, 400, "seed"),
            (#"{"model":"tiny","prompt":"x","stop":["a","b","c","d","e"]}"#, 400, "stop"),
            (#"{"model":"tiny","prompt":"x","stop":[""]}"#, 400, "stop"),
            (#"{"model":"tiny","prompt":"x","stream":"yes"}"#, 400, "stream"),
            (#"{"model":"tiny","prompt":"x","n":2}"#, 400, "n"),
            (#"{"model":"tiny","prompt":"x","logprobs":3}"#, 400, "logprobs"),
            (#"{"model":"tiny","prompt":"x","loops":5}"#, 400, "loops"),
            (#"{"model":"tiny","prompt":"x","loops":0}"#, 400, "loops"),
            (#"{"model":"tiny","prompt":"x","exit":"gate:0.5"}"#, 400, "exit"),
            (#"{"model":"tiny","prompt":"x","exit":"sometimes"}"#, 400, "exit"),
            (#"{"model":"tiny","prompt":"x","exit":"kl:0.1","loops":null}"#, 200, nil),
        ]
        for (json, status, param) in cases {
            let error = refusal(json)
            if status == 200 {
                #expect(error == nil, "\(json)")
                continue
            }
            #expect(error?.status == status, "\(json): \(String(describing: error))")
            #expect(error?.param == param, "\(json): \(String(describing: error))")
            #expect(error.map { !$0.message.isEmpty } == true)
        }
    }

    /// A stream's pieces add up to the whole text; a stop sequence split over tokens is found
    /// and never sent; an incomplete UTF-8 character waits for its last byte.
    @Test func theAssemblerHoldsBackWhatMayYetChange() {
        var assembler = TextAssembler(stops: [Array("END".utf8)])
        var sent = ""
        for piece in ["ab", "cE", "N", "x", "yE", "ND", "more"] { sent += assembler.append(Array(piece.utf8)) }
        sent += assembler.finish()
        #expect(sent == "abcENxy" && assembler.text == "abcENxy" && assembler.stoppedAt == 7)

        var utf8 = TextAssembler(stops: [])
        let euro = Array("€".utf8)  // three bytes
        #expect(utf8.append([euro[0]]) == "" && utf8.append([euro[1]]) == "")
        #expect(utf8.append([euro[2], 0x41]) == "€A")
        #expect(utf8.append([0xFF]) == "\u{FFFD}", "an invalid byte is not held")
        #expect(utf8.finish() == "")
    }
}
