"""The tiktoken side of the tokenizer benchmark: encode files single-threaded, report MB/s.

    python3 bench/tiktoken_bench.py FILE... [--json]      (needs: pip install tiktoken)
"""
import json
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "scripts", "tokenizer"))
import tiktoken_gpt2  # noqa: E402


def main():
    paths = [a for a in sys.argv[1:] if a != "--json"]
    enc = tiktoken_gpt2.encoding()
    texts = [open(p, "rb").read().decode("utf-8", errors="replace") for p in paths]
    size = sum(len(t.encode("utf-8")) for t in texts)
    start = time.perf_counter()
    tokens = sum(len(enc.encode_ordinary(t)) for t in texts)
    seconds = time.perf_counter() - start
    result = {"implementation": "tiktoken", "bytes": size, "tokens": tokens, "seconds": seconds,
              "mb_per_second": size / 1e6 / seconds, "threads": 1}
    if "--json" in sys.argv:
        print(json.dumps(result, sort_keys=True))
    else:
        print(f"tiktoken gpt2: {size} bytes → {tokens} tokens in {seconds:.2f} s: {result['mb_per_second']:.2f} MB/s (1 thread)")


if __name__ == "__main__":
    main()
