#!/usr/bin/env bash
# The main job on a fresh machine: install, fetch the corpus, build, then run the `quick`
# experiment: a small plain model and its loop version (the same 2 blocks run twice, the same
# parameters) trained on Shakespeare for a few minutes each; print both validation losses
# (the table, with the loop sweep) and a sample from the loop model.
set -euo pipefail
cd "$(dirname "$0")/.."
cache=$(bash scripts/setup.sh)
swift build -c release --product looplm
looplm=.build/release/looplm
data=data/shakespeare-bytes
[ -f $data/train.bin ] || $looplm prepare "$cache/shakespeare" --output $data
steps=()
[ -n "${QUICKSTART_STEPS:-}" ] && steps=(--steps "$QUICKSTART_STEPS")
rm -rf runs/quick
$looplm experiment --suite quick --data $data --out runs/quick "${steps[@]}"
echo "== plots: runs/quick/plots/*.svg; logs: runs/quick/runs/*/metrics.jsonl"
echo "== sample from the loop model"
$looplm sample runs/quick/runs/small-loop-2x2-seed1337/latest --prompt "ROMEO:" --tokens 300 --temperature 0.8 --seed 1
