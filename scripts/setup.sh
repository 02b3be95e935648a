#!/usr/bin/env bash
# Installs every system and Python package rnnlab needs to build, test and run its main job.
# Idempotent: packages already present are left alone. Run as root (or with sudo available).
#   scripts/setup.sh          build + test dependencies
#   scripts/setup.sh --bench  also PyTorch for the benchmark anchors: the current release from PyPI in a venv
#                             of its own (RNNLAB_TORCH_VENV, default /opt/rnnlab-torch; ~5.4 GB with its CUDA
#                             libraries, run on the CPU) and Debian's python3-torch 1.13 (system Python)
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
  libxsmm-dev                  # libxsmm 1.17: JIT kernels for the CPU backend's small GEMMs (P2, P3 shapes)
  libcmocka-dev                # C unit tests, run by CTest
  liblapacke-dev libopenblas-dev  # eigenvalues / singular values for the spectral diagnostics
  libzip-dev                   # .npz files (zip archives of .npy arrays)
  zlib1g-dev                   # gzip-compressed IDX data files
  libbenchmark-dev             # bench/ (Google Benchmark)
  swig                         # generated language bindings
  python3-dev python3-venv     # the Python binding's extension headers; the pip-install test's venv
  dataset-fashion-mnist        # the embedded real data set of the main job and tests
  openmpi-bin libopenmpi-dev   # MPI data-parallel runs (rnnlab-train run under mpirun) and their tests
  parallel                     # GNU parallel: the sweep tests run a grid with it, as the README does
  slurm-wlm munge              # a one-node Slurm the tests start to run the job-array and MPI templates
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

# Python side (the python3 on PATH): plots of npz files, and pytest for the trainer's file tests;
# scikit-build-core builds the Python binding with pip (pip install ./bindings/python).
py=python3
if ! $py -c 'import numpy, matplotlib, pytest, scikit_build_core' 2>/dev/null; then
  echo "setup: pip installing numpy matplotlib pytest scikit-build-core"
  $py -m pip install -q numpy matplotlib pytest scikit-build-core
fi
# tree-sitter + its Julia grammar: the Julia binding's sources are parsed, not run (no Julia here).
if ! $py -c 'import tree_sitter, tree_sitter_julia' 2>/dev/null; then
  echo "setup: pip installing tree-sitter tree-sitter-julia"
  $py -m pip install -q tree-sitter tree-sitter-julia
fi
# --bench: current PyTorch from PyPI, in a venv so that it touches neither Python above.
if [ "$want_bench" = 1 ]; then
  venv=${RNNLAB_TORCH_VENV:-/opt/rnnlab-torch}
  if ! "$venv/bin/python" -c 'import torch' 2>/dev/null; then
    echo "setup: pip installing torch (PyPI, ~5.4 GB) into $venv"
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q torch numpy
  fi
fi
echo "setup: done"
