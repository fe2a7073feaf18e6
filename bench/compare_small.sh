#!/usr/bin/env bash
# The research size: the `small` preset (2 blocks, width 192, 6 heads, context 128, byte
# vocabulary) at batch 16 × 128, LoopLM against the PyTorch peer on the same model, alternating.
#   bash bench/compare_small.sh [rounds]     (needs: pip install torch)
set -euo pipefail
cd "$(dirname "$0")/.."
LOOPLM_ARGS="--preset small --batch 16 --context 128 --warmup 3 --steps 20" \
TORCH_ARGS="--blocks 2 --width 192 --heads 6 --vocab 256 --time 128 --batch 16 --warmup 3 --steps 20" \
  exec bash bench/compare.sh "${1:-5}"
