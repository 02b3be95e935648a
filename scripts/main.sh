#!/usr/bin/env bash
# Sets up a fresh machine, builds rnnlab, and runs the main job on its embedded default.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
BUILD_DIR=${BUILD_DIR:-build}
cmake -S . -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Release
cmake --build "$BUILD_DIR" -j2
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-2} OMP_WAIT_POLICY=PASSIVE GOMP_SPINCOUNT=${GOMP_SPINCOUNT:-20000}
# The main job: seed 000's gate-bias ablation (baseline b_z, b_r = +1 learnable vs frozen at 0) on
# sequential Fashion-MNIST (the embedded data set), with the budget of `--preset main` (the program
# prints what it chose and why). Extra arguments go to rnnlab-train (e.g. --epochs 3, or --preset
# seed000 --data-dir DIR with the CIFAR-10 binaries). Outputs go under out/ (git-ignored).
OUT=out/main
mkdir -p "$OUT"
"$BUILD_DIR"/programs/rnnlab-train ablation --preset main --out "$OUT" --name ablation "$@"
echo
echo "plots:"
python3 tools/rnnlab_plot.py "$OUT/ablation.npz" --out "$OUT" | sed 's/^/  /'
echo "data: $OUT/ablation.npz (every per-epoch, per-update and per-step array; python3 -c \"import numpy as np; print(np.load('$OUT/ablation.npz').files)\")"
