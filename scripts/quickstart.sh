#!/usr/bin/env bash
# The main job on a fresh machine: install, fetch the corpus, build, train a small loop
# model and its plain baseline (same parameters, one loop) on Shakespeare for a few
# minutes each, print both validation losses and a sample.
set -euo pipefail
cd "$(dirname "$0")/.."
cache=$(bash scripts/setup.sh)
swift build -c release --product looplm
looplm=.build/release/looplm
data=data/shakespeare-bytes
[ -f $data/train.bin ] || $looplm prepare "$cache/shakespeare" --output $data
steps=${QUICKSTART_STEPS:-800}
common=(--data $data --steps $steps --batch 16 --context 128 --lr 2e-3 --min-lr 2e-4 --warmup 40
        --eval-interval 200 --eval-batches 20 --checkpoint-interval 200 --seed 1337)
rm -rf runs/quickstart
for preset in small small-loop; do
  echo "== training $preset ($($looplm info $preset --json | python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["layout"], "layout,", d["parameters"], "parameters")'))"
  $looplm train --preset $preset --out runs/quickstart/$preset "${common[@]}"
done
echo "== validation loss (nats/token) on hamlet, macbeth and tempest"
for preset in small small-loop; do
  printf '%-11s ' $preset; $looplm eval runs/quickstart/$preset/latest --data $data/val.bin --max-batches 40
done
echo "== sample from small-loop"
$looplm sample runs/quickstart/small-loop/latest --prompt "ROMEO:" --tokens 300 --temperature 0.8 --seed 1
