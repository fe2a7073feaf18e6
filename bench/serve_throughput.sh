#!/usr/bin/env bash
# Throughput of `looplm serve` under 1, 8 and 32 concurrent clients of the official `openai`
# Python client, on a random GPT-2 124M (or the checkpoint given), with the CPU named.
#   bash bench/serve_throughput.sh [CKPT] [--weights f32|bf16|int8] [--slots 32] [--threads 2]
# Needs: pip install openai (the benchmark's client only).
set -euo pipefail
cd "$(dirname "$0")/.."
looplm=${LOOPLM:-.build/release/looplm}
[ -n "${LOOPLM:-}" ] || swift build -c release --product looplm >/dev/null
python3 -c 'import openai' 2>/dev/null || { echo "serve_throughput.sh needs: pip install openai" >&2; exit 1; }
checkpoint=${1:-}
shift || true
if [ -z "$checkpoint" ]; then
  # A GPT-2 124M trained one step on Shakespeare (GPT-2 tokens): random weights, real shapes.
  cache=$(bash scripts/setup.sh)
  checkpoint=$cache/bench/gpt2-124m-serve
  if [ ! -f "$checkpoint/latest/model.safetensors" ]; then
    [ -f "$cache/bench/shakespeare-gpt2/train.bin" ] || \
      $looplm prepare "$cache/shakespeare" --output "$cache/bench/shakespeare-gpt2" --tokenizer gpt2 --vocab "$cache/gpt2" >/dev/null
    $looplm train --data "$cache/bench/shakespeare-gpt2" --preset gpt2-124m --steps 1 --batch 1 --context 64 \
      --out "$checkpoint" >/dev/null
  fi
fi
log=$(mktemp -d)
$looplm serve "$checkpoint" --port 0 --slots 32 --name bench "$@" >"$log/out" 2>"$log/err" &
server=$!
trap 'kill -TERM $server 2>/dev/null || true; wait $server 2>/dev/null || true; rm -rf "$log"' EXIT
for _ in $(seq 600); do grep -q "at http" "$log/out" 2>/dev/null && break; sleep 0.1; done
port=$(grep -o '[0-9]*$' "$log/out")
$looplm info "$checkpoint" | head -1
echo "server: $(head -1 "$log/out")"
python3 - <<'PY'
import platform, re
model = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
flags = next((l for l in open("/proc/cpuinfo") if l.startswith("flags")), "")
family = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("cpu family")), "?")
simd = "AVX-512" if " avx512f" in flags else "AVX2+FMA" if " avx2" in flags else "SSE2"
print(f"cpu: {model}, family {family}, {simd}")
PY
python3 bench/serve_clients.py --base-url "http://127.0.0.1:$port/v1" --model bench --clients 1,8,32
