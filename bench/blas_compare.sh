#!/usr/bin/env bash
# Single-threaded sgemm on the reference training step's shapes: OpenBLAS, BLIS (Debian's
# libblis-dev) and LoopLM's own AVX2+FMA kernel (Sources/CKernels/sgemm_avx2.c), alternating on
# this machine in this run, after the machine's measured FMA peak (bench/fma_peak.c), the
# ceiling all three are quoted against.
#   bash bench/blas_compare.sh [rounds]
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-3}
dpkg -s libblis-dev >/dev/null 2>&1 || apt-get install -y libblis-dev >/dev/null
out=$(mktemp -d)
gcc -O3 -pthread bench/fma_peak.c -o "$out/fma_peak"
gcc -O2 bench/sgemm_shapes.c -o "$out/openblas" $(pkg-config --cflags --libs openblas)
gcc -O2 bench/sgemm_shapes.c -o "$out/blis" -I/usr/include/x86_64-linux-gnu/blis-openmp -lblis -lm
has_avx2=$(grep -m1 -o -w -E 'avx2' /proc/cpuinfo || true)
[ -z "$has_avx2" ] || gcc -O2 -DLOOPLM_KERNEL -ISources/CKernels/include bench/sgemm_shapes.c Sources/CKernels/sgemm_avx2.c \
  -o "$out/looplm" -pthread $(pkg-config --cflags --libs openblas)
export OPENBLAS_NUM_THREADS=1 BLIS_NUM_THREADS=1 OMP_NUM_THREADS=1
echo "CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //'); flags: $(grep -m1 -o -w -E 'avx512f|avx2' /proc/cpuinfo | sort -u | tr '\n' ' ')"
"$out/fma_peak" 2
for ((i = 1; i <= rounds; i++)); do
  echo "== round $i: OpenBLAS"; "$out/openblas"
  echo "== round $i: BLIS"; "$out/blis"
  [ -z "$has_avx2" ] || { echo "== round $i: LoopLM's AVX2 kernel"; "$out/looplm"; }
done
rm -rf "$out"
