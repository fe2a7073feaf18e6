#!/usr/bin/env bash
# Greedy decoding of the same random GPT-2 124M by looplm and by transformers (with its KV
# cache), alternating on this machine in this run, 2 threads each; prints decode tokens/s and
# their ratio, and checks that both produce the same tokens.
#   bash bench/generate_compare.sh [rounds] [--weights f32|bf16|int8]
# Needs: pip install torch transformers (for the peer only).
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-3}
weights=${3:-f32}
cache=$(bash scripts/setup.sh)
# LOOPLM=/path/to/looplm uses that binary instead of building one.
looplm=${LOOPLM:-.build/release/looplm}
[ -n "${LOOPLM:-}" ] || swift build -c release --product looplm >/dev/null
python3 -c 'import torch, transformers' 2>/dev/null || { echo "generate_compare.sh needs: pip install torch transformers" >&2; exit 1; }
model=$cache/bench/gpt2-random
[ -f "$model/hf/model.safetensors" ] || python3 bench/hf_generate_bench.py --make "$model/hf"
[ -f "$model/looplm/model.safetensors" ] || $looplm import-hf "$model/hf" --output "$model/looplm" >/dev/null
theirs_ids=$(python3 bench/hf_generate_bench.py --model "$model/hf" --ids --tokens 32)
ours_ids=$($looplm sample "$model/looplm" --prompt "The dog of the world is a large" --tokens 32 --temperature 0 --json \
  | python3 -c 'import json,sys; print(" ".join(map(str, json.load(sys.stdin)["ids"])))')
[ "$ours_ids" = "$theirs_ids" ] && echo "greedy tokens: identical (32 of 32)" || echo "greedy tokens DIFFER: looplm [$ours_ids] transformers [$theirs_ids]"
ours=(); theirs=()
for ((i = 1; i <= rounds; i++)); do
  ours+=("$($looplm bench --generate --checkpoint "$model/looplm" --weights "$weights" --prompt-tokens 8 --tokens 128 --batches 1 --json \
    | python3 -c 'import json,sys; print(json.load(sys.stdin)["decode_tokens_per_second"])')")
  theirs+=("$(python3 bench/hf_generate_bench.py --model "$model/hf" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["decode_tokens_per_second"])')")
  echo "round $i: looplm ($weights) ${ours[-1]} tokens/s, transformers ${theirs[-1]} tokens/s"
done
python3 - "${ours[*]}" "${theirs[*]}" <<'PY'
import statistics, sys
o = statistics.median(float(x) for x in sys.argv[1].split())
t = statistics.median(float(x) for x in sys.argv[2].split())
print(f"median: looplm {o:.1f} tokens/s, transformers {t:.1f} tokens/s, ratio {o / t:.2f}x")
PY
