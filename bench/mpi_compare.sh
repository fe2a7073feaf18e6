#!/usr/bin/env bash
# The reference configuration trained by 1 process × 2 threads and by 2 MPI processes × 1
# thread (the same global batch: 2 × 2 sequences against 1 × 4), alternating on this machine in
# this run; prints tokens/s of the whole job and the all-reduce time per step.
#   bash bench/mpi_compare.sh [rounds]     (needs Open MPI: bash scripts/setup.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-3}
# LOOPLM=/path/to/looplm uses that binary (built with --traits MPI) instead of building one.
looplm=${LOOPLM:-.build/release/looplm}
[ -n "${LOOPLM:-}" ] || swift build -c release --traits MPI --product looplm >/dev/null
root=(); [ "$(id -u)" = 0 ] && root=(--allow-run-as-root)
field() { python3 -c "import json,sys; d=json.load(sys.stdin); print(' '.join(str(d[k]) for k in sys.argv[1:]))" "$@"; }
for ((i = 1; i <= rounds; i++)); do
  one=$($looplm bench --batch 4 --threads 2 --no-roofline --json | field tokens_per_second median_step_seconds)
  two=$(mpirun "${root[@]}" --oversubscribe -np 2 $looplm bench --batch 2 --threads 1 --no-roofline --json \
    | field tokens_per_second median_step_seconds allreduce_seconds)
  read -r t1 s1 <<< "$one"; read -r t2 s2 a2 <<< "$two"
  printf "round %d: 1 process × 2 threads %.0f tokens/s (step %.2f s); 2 processes × 1 thread %.0f tokens/s (step %.2f s, all-reduce %.3f s)\n" \
    "$i" "$t1" "$s1" "$t2" "$s2" "$a2"
done
