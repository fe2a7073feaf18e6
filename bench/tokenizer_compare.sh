#!/usr/bin/env bash
# Encodes the whole default corpus single-threaded with looplm and with tiktoken, alternating,
# on this machine in this run, and prints the throughput ratio. Needs: pip install tiktoken.
#   bash bench/tokenizer_compare.sh [rounds]
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-3}
cache=$(bash scripts/setup.sh)
swift build -c release --product looplm >/dev/null
files=("$cache"/shakespeare/*.txt)
ours=(); theirs=()
for ((i = 1; i <= rounds; i++)); do
  ours+=("$(.build/release/looplm tokenize --bench "${files[@]}" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["mb_per_second"])')")
  theirs+=("$(LOOPLM_CACHE=$cache python3 bench/tiktoken_bench.py "${files[@]}" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["mb_per_second"])')")
  echo "round $i: looplm ${ours[-1]} MB/s, tiktoken ${theirs[-1]} MB/s"
done
python3 - "${ours[*]}" "${theirs[*]}" <<'PY'
import statistics, sys
o = statistics.median(float(x) for x in sys.argv[1].split())
t = statistics.median(float(x) for x in sys.argv[2].split())
print(f"median: looplm {o:.2f} MB/s, tiktoken {t:.2f} MB/s, ratio {o / t:.2f}x (single-threaded)")
PY
