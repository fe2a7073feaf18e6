#!/usr/bin/env bash
# Runs `looplm bench` and the PyTorch peer (bench/torch_train_bench.py) on the reference
# configuration, alternating, on this machine in this run, and prints the tokens/s ratio.
#   bash bench/compare.sh [rounds]        (needs: pip install torch)
#   PEER=openblas bash bench/compare.sh [rounds]
#   LOOPLM_ARGS="--preset small --batch 16 --context 128" TORCH_ARGS="--blocks 2 ..." bash bench/compare.sh
#                                         another model on both sides (bench/compare_small.sh sets them)
#                                         the peer is LoopLM itself with --sgemm openblas (its matrix
#                                         products in OpenBLAS instead of its own kernel)
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-3}
# LOOPLM=/path/to/looplm uses that binary instead of building one.
looplm=${LOOPLM:-.build/release/looplm}
[ -n "${LOOPLM:-}" ] || swift build -c release --product looplm >/dev/null
peer=${PEER:-pytorch}
case "$peer" in
  pytorch) python3 -c 'import torch' 2>/dev/null || { echo "compare.sh needs torch: pip install torch" >&2; exit 1; }
           case " ${TORCH_ARGS:-} " in *" --compile "*) peer_name="pytorch compiled" ;; *) peer_name="pytorch eager" ;; esac
           peer_command=(python3 bench/torch_train_bench.py ${TORCH_ARGS:-} --json) ;;
  openblas) peer_name="looplm --sgemm openblas"; peer_command=("$looplm" bench ${LOOPLM_ARGS:-} --no-roofline --sgemm openblas --json) ;;
  *) echo "PEER must be pytorch or openblas" >&2; exit 1 ;;
esac
tokens_per_second() { "$@" | python3 -c 'import json,sys; print(json.load(sys.stdin)["tokens_per_second"])'; }
ours=(); theirs=()
for ((i = 1; i <= rounds; i++)); do
  ours+=("$(tokens_per_second "$looplm" bench ${LOOPLM_ARGS:-} --no-roofline --json)")
  theirs+=("$(tokens_per_second "${peer_command[@]}")")
  echo "round $i: looplm ${ours[-1]} tokens/s, $peer_name ${theirs[-1]} tokens/s"
done
python3 - "${ours[*]}" "${theirs[*]}" "$peer_name" <<'PY'
import statistics, sys
ours = [float(x) for x in sys.argv[1].split()]
theirs = [float(x) for x in sys.argv[2].split()]
o, t = statistics.median(ours), statistics.median(theirs)
rounds = statistics.median(a / b for a, b in zip(ours, theirs))
print(f"median: looplm {o:.0f} tokens/s, {sys.argv[3]} {t:.0f} tokens/s, ratio {o / t:.2f}x")
# Each round runs both back to back, so its ratio is the least disturbed by a machine whose speed drifts.
print(f"median of the rounds' ratios: {rounds:.2f}x")
PY
