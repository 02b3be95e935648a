#!/usr/bin/env bash
# Sets up a fresh machine, builds rnnlab, and runs the main job on its embedded default.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
BUILD_DIR=${BUILD_DIR:-build}
cmake -S . -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Release
cmake --build "$BUILD_DIR" -j2
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-2} OMP_WAIT_POLICY=PASSIVE
# Until rnnlab-train lands, the main job is the toy GRU trained through the C API alone.
"$BUILD_DIR"/examples/train_toy
