"""The transformers peer for `looplm bench --generate`: greedy decoding of the same GPT-2.

    python3 bench/hf_generate_bench.py --make MODEL_DIR         # a random GPT-2 124M, seeded
    python3 bench/hf_generate_bench.py --model MODEL_DIR [--json]

Decodes `--tokens` new tokens greedily after an 8-token prompt with the KV cache, on
`--threads` threads, and reports decode tokens/s: (t(1 + N new) − t(1 new)) / N, so the prompt's
own pass is left out as `looplm bench --generate` leaves it out. `--ids` prints the greedy ids
instead, to check that both implementations produce the same tokens. Needs torch and
transformers (pip install); LoopLM itself never does.
"""
import argparse
import json
import time

import torch
import transformers


def make(directory):
    torch.manual_seed(1234)
    model = transformers.GPT2LMHeadModel(transformers.GPT2Config())  # 124M: 12 × 768, 12 heads, 1024 positions
    model.save_pretrained(directory, safe_serialization=True)


def prompt():
    return torch.tensor([[464, 3290, 286, 262, 995, 318, 257, 1588]])  # 8 GPT-2 ids


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--make")
    parser.add_argument("--model")
    parser.add_argument("--tokens", type=int, default=128)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--ids", action="store_true")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if args.make:
        return make(args.make)
    torch.set_num_threads(args.threads)
    model = transformers.GPT2LMHeadModel.from_pretrained(args.model).eval()
    ids = prompt()

    def generate(n):
        with torch.no_grad():
            start = time.perf_counter()
            out = model.generate(ids, max_new_tokens=n, min_new_tokens=n, do_sample=False, use_cache=True,
                                 pad_token_id=0, eos_token_id=None)
            return time.perf_counter() - start, out[0, ids.shape[1]:].tolist()

    if args.ids:
        print(" ".join(map(str, generate(args.tokens)[1])))
        return
    generate(4)  # warm-up
    first, _ = generate(1)
    total, _ = generate(1 + args.tokens)
    rate = args.tokens / (total - first)
    result = {"implementation": f"transformers {transformers.__version__} / torch {torch.__version__}",
              "decode_tokens_per_second": rate, "threads": args.threads}
    print(json.dumps(result) if args.json else f"transformers greedy decode: {rate:.1f} tokens/s ({args.threads} threads)")


if __name__ == "__main__":
    main()
