#!/usr/bin/env bash
# Runs `looplm bench` and the PyTorch peer (bench/torch_train_bench.py) on the reference
# configuration, alternating, on this machine in this run, and prints the tokens/s ratio.
#   bash bench/compare.sh [rounds]        (needs: pip install torch)
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-3}
# LOOPLM=/path/to/looplm uses that binary instead of building one.
looplm=${LOOPLM:-.build/release/looplm}
[ -n "${LOOPLM:-}" ] || swift build -c release --product looplm >/dev/null
python3 -c 'import torch' 2>/dev/null || { echo "compare.sh needs torch: pip install torch" >&2; exit 1; }
ours=(); theirs=()
for ((i = 1; i <= rounds; i++)); do
  ours+=("$($looplm bench --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["tokens_per_second"])')")
  theirs+=("$(python3 bench/torch_train_bench.py --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["tokens_per_second"])')")
  echo "round $i: looplm ${ours[-1]} tokens/s, pytorch eager ${theirs[-1]} tokens/s"
done
python3 - "${ours[*]}" "${theirs[*]}" <<'PY'
import statistics, sys
ours = [float(x) for x in sys.argv[1].split()]
theirs = [float(x) for x in sys.argv[2].split()]
o, t = statistics.median(ours), statistics.median(theirs)
rounds = statistics.median(a / b for a, b in zip(ours, theirs))
print(f"median: looplm {o:.0f} tokens/s, pytorch eager {t:.0f} tokens/s, ratio {o / t:.2f}x")
# Each round runs both back to back, so its ratio is the least disturbed by a machine whose speed drifts.
print(f"median of the rounds' ratios: {rounds:.2f}x")
PY
