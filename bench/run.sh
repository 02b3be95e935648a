#!/usr/bin/env bash
# One command for spec/performance.md's table: rnnlab (reference and CPU backend, every diagnostics
# level, both GRU variants), the oneDNN fused-GRU anchor and PyTorch nn.GRU (when the system Python
# has torch: `bash scripts/setup.sh --bench`), at 1 and 2 threads, all in this one invocation, then
# P1's peak memory in a process of its own, then one table with ratios.
#   bash bench/run.sh [--quick]        (--quick: fewer repetitions, no reference-backend P1)
set -euo pipefail
cd "$(dirname "$0")/.."
QUICK=0
[ "${1:-}" = "--quick" ] && QUICK=1
BUILD=${BUILD_DIR:-build-bench}
OUT=${OUT_DIR:-out/bench}
mkdir -p "$OUT"
cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DRNNLAB_BUILD_BENCH=ON -DRNNLAB_BUILD_TESTS=OFF >/dev/null
cmake --build "$BUILD" -j2 --target rnnlab rnnlab_bench rnnlab_bench_anchor >/dev/null
# The small-GEMM table (dnnl_sgemm against libxsmm on these shapes) where libxsmm is built in.
have_xsmm=0
cmake --build "$BUILD" -j2 --target rnnlab_gemm_shapes >/dev/null 2>&1 && have_xsmm=1
# Threads are benchmark arguments. OpenMP must not spin for long on this shared 2-core machine
# (PASSIVE), but with no spin at all every fork/join of a per-step parallel region costs a futex
# wake-up and a context switch (P1 at 2 threads: 381 ms without spin, 322 ms with it; P2 18 -> 4.9
# ms; oneDNN's fused primitive gains as much): GOMP_SPINCOUNT bounds the spin to a few tens of
# microseconds before a thread sleeps. Every engine below (PyTorch too) runs under the same setting.
export OMP_NUM_THREADS=1 OMP_WAIT_POLICY=PASSIVE GOMP_SPINCOUNT=20000
REPS=3
[ "$QUICK" = 1 ] && REPS=1
isa=$(python3 - "$BUILD" <<'PY'
import ctypes, glob, sys
lib = ctypes.CDLL(sorted(glob.glob(sys.argv[1] + "/lib/librnnlab.so*"))[0])
lib.rnnlab_cpu_isa_name.restype = ctypes.c_char_p
print(lib.rnnlab_cpu_isa_name(lib.rnnlab_cpu_isa_best()).decode())
PY
)
flags=$(grep -m1 '^flags' /proc/cpuinfo | tr ' ' '\n' | grep -xE 'avx2|fma|avx512f|avx512bw|avx512_bf16|amx_tile' | tr '\n' ' ')
{ date -u '+date: %Y-%m-%d %H:%M UTC'; echo "uptime: $(uptime)"; echo "cores: $(nproc --all)";
  grep -m1 'model name' /proc/cpuinfo | sed 's/.*: /cpu: /'; echo "cpu features: ${flags% }";
  echo "rnnlab CPU kernels: $isa${RNNLAB_CPU_ISA:+ (capped by RNNLAB_CPU_ISA=$RNNLAB_CPU_ISA)}"; } > "$OUT/machine.txt"
cat "$OUT/machine.txt"

gb() {  # gb BINARY OUTFILE FILTER [extra args]
  local bin=$1 out=$2 filter=$3; shift 3
  "$BUILD/bench/$bin" --benchmark_filter="$filter" --benchmark_repetitions="$REPS" \
    --benchmark_report_aggregates_only=true --benchmark_out="$out" --benchmark_out_format=json "$@" >/dev/null
}
echo "== oneDNN fused anchor"
gb rnnlab_bench_anchor "$OUT/anchor.json" '.'
echo "== rnnlab, CPU backend"
gb rnnlab_bench "$OUT/rnnlab.json" 'BM_(P1|P2|P2iter|P3)/backend:1'
echo "== rnnlab, reference backend (P2, P3)"
gb rnnlab_bench "$OUT/reference.json" 'BM_(P2|P3)/backend:0'
if [ "$QUICK" = 0 ]; then
  echo "== rnnlab, reference backend P1 (one iteration each; slow by design)"
  REPS=1 gb rnnlab_bench "$OUT/reference_p1.json" 'BM_P1_reference'
fi
echo "== time per step over T and B"
gb rnnlab_bench "$OUT/scaling.json" 'BM_Scaling'

echo "== P1 peak memory, rnnlab alone in its own process (CPU backend, full diagnostics, 1 thread)"
/usr/bin/time -v "$BUILD/bench/rnnlab_bench" --benchmark_filter='^BM_P1/backend:1/cell:0/level:2/threads:1/' \
  2> "$OUT/p1_mem.txt" >/dev/null || true
grep -E 'Maximum resident' "$OUT/p1_mem.txt" | sed 's/^\s*//'

# PyTorch: the current release from PyPI (the venv `scripts/setup.sh --bench` makes) is the anchor
# the goals name; Debian's 1.13 (system Python) goes beside it when present.
qflag=""
[ "$QUICK" = 1 ] && qflag="--quick"
: > "$OUT/torch.jsonl"
: > "$OUT/torch_debian.jsonl"
rm -f "$OUT/torch_p1_mem.txt" "$OUT/torch_version.txt" "$OUT/torch_debian_version.txt"
TORCH_PY=${RNNLAB_TORCH_VENV:-/opt/rnnlab-torch}/bin/python
if [ -x "$TORCH_PY" ] && "$TORCH_PY" -c 'import torch' 2>/dev/null; then
  "$TORCH_PY" -c 'import torch; print(torch.__version__)' > "$OUT/torch_version.txt"
  echo "== PyTorch $(cat "$OUT/torch_version.txt") nn.GRU (PyPI, $TORCH_PY)"
  "$TORCH_PY" bench/torch_gru.py --threads 1,2 $qflag > "$OUT/torch.jsonl" 2>"$OUT/torch.log" || true
  /usr/bin/time -v "$TORCH_PY" bench/torch_gru.py --p1-only --threads 1 > /dev/null 2> "$OUT/torch_p1_mem.txt" || true
else
  echo "== PyTorch (PyPI): no venv at $TORCH_PY (bash scripts/setup.sh --bench makes it); column left out"
fi
if /usr/bin/python3 -c 'import torch' 2>/dev/null; then
  /usr/bin/python3 -c 'import torch; print(torch.__version__)' > "$OUT/torch_debian_version.txt"
  echo "== PyTorch $(cat "$OUT/torch_debian_version.txt") nn.GRU (Debian, /usr/bin/python3)"
  /usr/bin/python3 bench/torch_gru.py --threads 1,2 $qflag > "$OUT/torch_debian.jsonl" 2>"$OUT/torch_debian.log" || true
else
  echo "== PyTorch (Debian): 'import torch' fails for /usr/bin/python3; its rows left out"
fi
python3 bench/report.py "$OUT" | tee "$OUT/table.md"
if [ "$have_xsmm" = 1 ]; then
  echo "== small GEMMs, one thread (bench/gemm_shapes.cpp)"
  { echo; echo '```'; "$BUILD/bench/rnnlab_gemm_shapes" --reps $((REPS * 5)); echo '```'; } | tee -a "$OUT/table.md"
fi
