#!/usr/bin/env bash
# Runs the whole test suite on a fresh machine: installs OpenBLAS if missing, then builds
# and tests in release mode (numeric Swift is too slow in debug) with testing enabled.
# The tests need no network and no Python.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! pkg-config --exists openblas 2>/dev/null; then
  sudo_cmd=""; [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq libopenblas-dev pkg-config >/dev/null
fi
swift build -c release -Xswiftc -enable-testing --build-tests
swift test -c release -Xswiftc -enable-testing --skip-build "$@"
