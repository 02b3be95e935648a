#!/usr/bin/env bash
# Sets up a fresh machine, builds rnnlab, and runs the whole test suite (CTest).
#   scripts/test.sh            -> build/ + ctest
# Environment: BUILD_DIR (default build), JOBS (default 2).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
BUILD_DIR=${BUILD_DIR:-build}
JOBS=${JOBS:-2}
cmake -S . -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Release
cmake --build "$BUILD_DIR" -j"$JOBS"
export OMP_NUM_THREADS=1 OMP_WAIT_POLICY=PASSIVE
ctest --test-dir "$BUILD_DIR" --output-on-failure -j"$JOBS"
