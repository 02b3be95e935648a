#!/usr/bin/env bash
# One prepared command for a machine with an NVIDIA GPU (spec/cuda.md): builds rnnlab with the CUDA
# backend on all cores, runs the GPU tests (parity against the reference backend, the cell math on
# the device), then the GPU benchmark, and prints its table. Meant to finish well under 10 minutes
# on a 16-core H100 machine; the build is the long part (nvcc), so only the targets needed are built.
#   scripts/gpu_check.sh            -> build-gpu/
# Environment: BUILD_DIR (default build-gpu), JOBS (default: all cores), ARCH (CUDA architectures to
# compile for; default "native" where a GPU is present, which is this script's purpose), REPS (5).
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${BUILD_DIR:-build-gpu}
JOBS=${JOBS:-$(nproc)}
ARCH=${ARCH:-native}
REPS=${REPS:-5}
export CUBLAS_WORKSPACE_CONFIG=:4096:8 OMP_NUM_THREADS=1 OMP_WAIT_POLICY=PASSIVE
export PATH="$PATH:/usr/local/cuda/bin"

# The build needs what scripts/setup.sh installs; a bare GPU machine without network may lack some.
missing=""
for m in libzip lapacke cmocka zlib; do pkg-config --exists "$m" 2>/dev/null || missing="$missing $m"; done
command -v nvcc >/dev/null || missing="$missing nvcc"
if [ -n "$missing" ]; then
  echo "gpu_check: missing build prerequisites:$missing (run scripts/setup.sh where there is network)"
  exit 2
fi

echo "=== GPU ==="
nvidia-smi -L || echo "nvidia-smi failed (the tests below say whether a device is usable)"
start=$(date +%s)
launcher=()
command -v ccache >/dev/null && launcher=(-DCMAKE_C_COMPILER_LAUNCHER=ccache -DCMAKE_CXX_COMPILER_LAUNCHER=ccache
                                          -DCMAKE_CUDA_COMPILER_LAUNCHER=ccache)
echo "=== configure + build (${JOBS} jobs, CUDA architectures ${ARCH}) ==="
cmake -S . -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Release -DRNNLAB_WITH_CUDA=ON -DRNNLAB_BUILD_BENCH=ON \
  -DRNNLAB_BUILD_EXAMPLES=OFF -DRNNLAB_BUILD_PROGRAMS=OFF -DCMAKE_CUDA_ARCHITECTURES="$ARCH" "${launcher[@]}" >/dev/null
cmake --build "$BUILD_DIR" -j"$JOBS" --target test_cuda_cell_math test_cuda_parity test_cuda_unavailable test_cuda_plugin test_cuda_lazy rnnlab_cuda_bench
echo "build: $(( $(date +%s) - start )) s"

echo "=== GPU tests ==="
status=0
ctest --test-dir "$BUILD_DIR" -R 'test_cuda_' --output-on-failure --timeout 400 || status=$?
echo "tests: $(( $(date +%s) - start )) s (ctest exit $status)"

echo "=== GPU benchmark ==="
"$BUILD_DIR/bench/cuda/rnnlab_cuda_bench" "$REPS" || status=$?
echo "total: $(( $(date +%s) - start )) s"
exit $status
