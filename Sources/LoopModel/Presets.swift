/// Named model shapes: the paper's four GPT-2-sized models and small ones for a 2-core CPU.
public struct Preset: Sendable {
    public let name: String
    public let summary: String
    public let vocabSize: Int
    public let contextLength: Int
    public let channels: Int
    public let heads: Int
    public let layout: LoopLayout

    public func configuration() throws(ConfigurationError) -> ModelConfiguration {
        try ModelConfiguration(vocabSize: vocabSize, contextLength: contextLength,
                               channels: channels, heads: heads, layout: layout)
    }

    /// GPT-2's vocabulary (50257 BPE tokens) and the byte vocabulary of the small models.
    public static let gpt2VocabSize = 50257
    public static let byteVocabSize = 256

    public static let all: [Preset] = [
        // Ng & Wang, Table 1: width 768, 12 heads, context 1024, GPT-2 vocabulary.
        paper("gpt2-124m", "GPT-2 small: 12 blocks, 1 loop", LoopLayout(looped: 12)),
        paper("loop-81m", "6 shared blocks × 6 loops", LoopLayout(looped: 6, loops: 6)),
        paper("lite-45m", "1 block, 1 loop", LoopLayout(looped: 1)),
        paper("loop-45m", "1 shared block × 2 loops", LoopLayout(looped: 1, loops: 2)),
        // The benchmark's reference model (issue: 6 blocks, 6 heads, width 384, ctx 256).
        Preset(name: "bench", summary: "benchmark reference: 6 blocks, width 384, vocab 50304",
               vocabSize: 50304, contextLength: 256, channels: 384, heads: 6,
               layout: LoopLayout(looped: 6)),
        // Byte-level models that train in minutes on 2 cores.
        small("tiny", "2 blocks, width 64 (tests)", channels: 64, heads: 4, context: 64,
              LoopLayout(looped: 2)),
        small("tiny-loop", "1 prelude + 1 block × 3 loops + 1 coda, width 64 (tests)",
              channels: 64, heads: 4, context: 64, LoopLayout(prelude: 1, looped: 1, coda: 1, loops: 3)),
        small("small", "2 blocks, width 192: the loop model's plain baseline", channels: 192,
              heads: 6, context: 128, LoopLayout(looped: 2)),
        small("small-loop", "2 shared blocks × 2 loops, width 192", channels: 192, heads: 6,
              context: 128, LoopLayout(looped: 2, loops: 2)),
    ]

    public static func named(_ name: String) throws(ConfigurationError) -> Preset {
        guard let preset = all.first(where: { $0.name == name }) else {
            throw .unknownName(name, kind: "preset", known: all.map(\.name))
        }
        return preset
    }

    private static func paper(_ name: String, _ summary: String, _ layout: LoopLayout) -> Preset {
        Preset(name: name, summary: summary, vocabSize: gpt2VocabSize, contextLength: 1024,
               channels: 768, heads: 12, layout: layout)
    }

    private static func small(
        _ name: String, _ summary: String, channels: Int, heads: Int, context: Int,
        _ layout: LoopLayout
    ) -> Preset {
        Preset(name: name, summary: summary, vocabSize: byteVocabSize, contextLength: context,
               channels: channels, heads: heads, layout: layout)
    }
}
