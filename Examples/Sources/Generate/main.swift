// Loads a checkpoint and continues a prompt: `generate CHECKPOINT [PROMPT]`.
import Foundation
import LoopLM

let arguments = CommandLine.arguments.dropFirst()
guard let path = arguments.first else { print("usage: generate CHECKPOINT [PROMPT]"); exit(64) }
let (model, config) = try Checkpoint.loadLanguageModel(from: path, workers: Workers(threads: 2))
let tokenizer = try makeTokenizer(config.vocabulary == .gpt2 ? .gpt2 : .bytes)
let prompt = tokenizer.encode(arguments.dropFirst().first ?? "ROMEO:").map(Int32.init)
let options = GenerationOptions(maxNewTokens: 200, temperature: 0.8, seed: 1)
let result = try TextGenerator(model: model).generate(prompts: [prompt], options: options)
print(tokenizer.decode(prompt.map(Int.init) + result.tokens[0]))
