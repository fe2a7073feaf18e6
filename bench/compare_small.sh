#!/usr/bin/env bash
# The research size: the `small` preset (2 blocks, width 192, 6 heads, context 128, byte
# vocabulary) at batch 16 × 128, LoopLM against the PyTorch peer on the same model, alternating.
# LoopLM trains it as two replicas of 8 sequences, one per core (`--replicas 2`: each matrix
# product of a model this small runs faster whole on one thread than split over two); a step
# is the same 16 sequences either way.
#   bash bench/compare_small.sh [rounds]     (needs: pip install torch)
#   REPLICAS=1 bash bench/compare_small.sh   (one copy, every product split over the threads)
set -euo pipefail
cd "$(dirname "$0")/.."
replicas=${REPLICAS:-2}
case "$replicas" in 1|2) ;; *) echo "REPLICAS must be 1 or 2 (2 threads, 16 sequences per step)" >&2; exit 1 ;; esac
LOOPLM_ARGS="--preset small --batch $((16 / replicas)) --replicas $replicas --context 128 --warmup 3 --steps 20" \
TORCH_ARGS="--blocks 2 --width 192 --heads 6 --vocab 256 --time 128 --batch 16 --warmup 3 --steps 20" \
  exec bash bench/compare.sh "${1:-5}"
