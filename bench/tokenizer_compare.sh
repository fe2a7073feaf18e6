#!/usr/bin/env bash
# Encodes three English corpora single-threaded with looplm and with tiktoken, alternating,
# on this machine in this run, and prints the throughput ratio per corpus:
#   shakespeare  the complete works (5.1 MB, verse and prose, CRLF line endings)
#   news         Lee's corpus of Australian news articles (0.36 MB, ordinary prose)
#   wikipedia    Wikipedia articles as wikitext (5.8 MB, prose with markup)
# Each file is one encode call on both sides. Needs: pip install tiktoken.
#   bash bench/tokenizer_compare.sh [rounds]
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-3}
cache=$(bash scripts/setup.sh --bench)
# LOOPLM=/path/to/looplm uses that binary instead of building one.
looplm=${LOOPLM:-.build/release/looplm}
[ -n "${LOOPLM:-}" ] || swift build -c release --product looplm >/dev/null
python3 -c 'import tiktoken' 2>/dev/null || { echo "tokenizer_compare.sh needs: pip install tiktoken" >&2; exit 1; }
echo "machine: $($looplm tokenize --tokenizer gpt2 --bench "$cache/english/news.txt" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["cpu"])')"
for corpus in shakespeare news wikipedia; do
  case $corpus in
    shakespeare) files=("$cache"/shakespeare/*.txt) ;;
    *) files=("$cache/english/$corpus.txt") ;;
  esac
  # Correctness first: the same ids as tiktoken, file by file.
  for file in "${files[@]}"; do
    $looplm tokenize --tokenizer gpt2 < "$file" > /tmp/looplm-ids.txt
    LOOPLM_CACHE=$cache python3 - "$file" <<'PY'
import os, sys
sys.path.insert(0, os.path.join("scripts", "tokenizer"))
import tiktoken_gpt2
text = open(sys.argv[1], "rb").read().decode("utf-8", errors="replace")
expected = tiktoken_gpt2.encoding().encode_ordinary(text)
ours = [int(x) for x in open("/tmp/looplm-ids.txt").read().split()]
if ours != expected:
    sys.exit(f"{sys.argv[1]}: ids differ from tiktoken's ({len(ours)} against {len(expected)} tokens)")
PY
  done
  ours=(); theirs=()
  for ((i = 1; i <= rounds; i++)); do
    ours+=("$($looplm tokenize --tokenizer gpt2 --bench "${files[@]}" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["mb_per_second"])')")
    theirs+=("$(LOOPLM_CACHE=$cache python3 bench/tiktoken_bench.py "${files[@]}" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["mb_per_second"])')")
  done
  python3 - "$corpus" "${ours[*]}" "${theirs[*]}" <<'PY'
import statistics, sys
corpus = sys.argv[1]
o = statistics.median(float(x) for x in sys.argv[2].split())
t = statistics.median(float(x) for x in sys.argv[3].split())
print(f"{corpus:12s} identical ids · looplm {o:6.2f} MB/s, tiktoken {t:6.2f} MB/s, ratio {o / t:.2f}x (median of {len(sys.argv[2].split())}, single-threaded)")
PY
done
