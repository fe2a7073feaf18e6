#!/usr/bin/env bash
# The main job on a fresh machine: install, fetch the corpus, build, then show the mechanism.
#   1. A reasoning task where depth is needed (`chains`: follow pointers to a root): one
#      transformer block, and the same block looped twice (the same parameters), trained side
#      by side in two processes; the looped one is then run for 3 loops on chains longer than
#      any it saw in training.
#   2. A small loop model on Shakespeare for a minute, trained meanwhile, for a sample.
#   3. A three-line verdict with the numbers, then the sample.
# About 7–10 minutes on a fresh 2-core machine, the build included. QUICKSTART_STEPS=N shortens
# the reasoning runs (the tests use it).
set -euo pipefail
cd "$(dirname "$0")/.."
cache=$(bash scripts/setup.sh)
swift build -c release --product looplm
looplm=.build/release/looplm
data=data/shakespeare-bytes
[ -f $data/train.bin ] || $looplm prepare "$cache/shakespeare" --output $data >/dev/null
out=runs/quickstart
steps=${QUICKSTART_STEPS:-1500}
language_steps=$(( steps < 300 ? steps : 300 ))
rm -rf "$out"  # the quickstart's own folder, made again
mkdir -p "$out"
chains=(experiment --suite reasoning --task chains --model 1x1 --model 1x2 --steps "$steps" --out "$out/chains" --threads 1)

echo "== training 1×1 and 1×2 on chains (two processes), then a loop model on Shakespeare" >&2
(
  # The first process takes 1×1; when it is done (1×2 is the other's), it trains the language model.
  $looplm "${chains[@]}" >/dev/null 2>"$out/chains-a.log" || true
  $looplm train --data $data --out "$out/language" --preset small-loop --steps "$language_steps" --batch 16 \
    --warmup 30 --lr 2e-3 --min-lr 2e-4 --eval-interval "$language_steps" --threads 1 >/dev/null 2>"$out/language.log"
) &
sleep 2  # let the first process lock 1×1
$looplm "${chains[@]}" >/dev/null 2>"$out/chains-b.log" || true
wait
$looplm "${chains[@]}" --json >"$out/chains.json"  # every run is finished: this only gathers them

python3 - "$out/chains.json" <<'PY'
import json, sys
results = json.load(open(sys.argv[1]))
def accuracy(model, difficulty, loops):
    run = next(r for r in results if r["model"] == model)
    return 100 * next(p["solved"] / p["asked"] for p in run["accuracy"] if p["difficulty"] == difficulty and p["loops"] == loops)
shallow, looped = accuracy("1x1", 2, 1), accuracy("1x2", 2, 2)
params = next(r["parameters"] for r in results if r["model"] == "1x1")
print()
print(f"1. Depth is needed: one block solves {shallow:.0f}% of 2-hop chains (a guess among the 4 roots scores 25%); "
      f"the same block looped twice solves {looped:.0f}%, with the same {params:,} parameters.")
print(f"2. Loops are test-time compute: trained on chains of at most 2 hops, the looped block resolves 3-hop chains "
      f"{accuracy('1x2', 3, 2):.0f}% of the time at its 2 trained loops and {accuracy('1x2', 3, 3):.0f}% when run for 3.")
worth = {w["model"]: w["phi"] for w in json.load(open("docs/results/shakespeare-depth/worth.json"))}
print(f"3. On language, loops pay less than on reasoning: in the committed Shakespeare study (docs/language.md) "
      f"a second pass is worth {worth['1x2']:.2f} of a new block, and four passes {worth['1x4']:.2f} each.")
PY
echo
echo "== a sample from the loop model trained on Shakespeare (2 blocks × 2 loops, $language_steps steps)"
$looplm sample "$out/language" --prompt "ROMEO:" --tokens 240 --temperature 0.8 --seed 1 2>/dev/null
echo
echo "== tables, plots and logs: $out/chains (table.md, plots/), $out/language"
