#!/usr/bin/env bash
# Installs every system and Python package rnnlab needs to build, test and run its main job.
# Idempotent: packages already present are left alone. Run as root (or with sudo available).
#   scripts/setup.sh          build + test dependencies
#   scripts/setup.sh --bench  also PyTorch (Debian python3-torch, system Python) for the benchmark anchor
set -euo pipefail

want_bench=0
for a in "$@"; do
  case "$a" in
    --bench) want_bench=1 ;;
    *) echo "setup.sh: unknown option '$a' (only --bench)" >&2; exit 2 ;;
  esac
done

# What each package is for (also in README.md, "Dependencies").
pkgs=(
  cmake g++ pkg-config make    # the build
  libdnnl-dev                  # oneDNN 2.6: GEMMs of the CPU backend and the fused-GRU benchmark anchor
  ocl-icd-opencl-dev           # oneDNN's CMake config asks for OpenCL headers
  libcmocka-dev                # C unit tests, run by CTest
  liblapacke-dev libopenblas-dev  # eigenvalues / singular values for the spectral diagnostics
  libzip-dev                   # .npz files (zip archives of .npy arrays)
  zlib1g-dev                   # gzip-compressed IDX data files
  libbenchmark-dev             # bench/ (Google Benchmark)
  swig                         # generated language bindings
  dataset-fashion-mnist        # the embedded real data set of the main job and tests
  clang libclang-rt-14-dev     # tests/fuzz: libFuzzer harnesses (clang's runtime ships libFuzzer)
  valgrind                     # .ci/run: memcheck over the examples and a short rnnlab-train
)
# --bench: PyTorch for the anchor column; /usr/bin/time for peak memory and the P4 wall time.
[ "$want_bench" = 1 ] && pkgs+=(python3-torch time)

missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
SUDO=""
[ "$(id -u)" = 0 ] || SUDO="sudo"
if [ "${#missing[@]}" -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# Python side (the python3 on PATH): plots of npz files, and pytest for the trainer's file tests.
py=python3
if ! $py -c 'import numpy, matplotlib, pytest' 2>/dev/null; then
  echo "setup: pip installing numpy matplotlib pytest"
  $py -m pip install -q numpy matplotlib pytest
fi
echo "setup: done"
