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
cmake --build "$BUILD" -j2 --target rnnlab_bench rnnlab_bench_anchor >/dev/null
# Threads are benchmark arguments. OpenMP must not spin for long on this shared 2-core machine
# (PASSIVE), but with no spin at all every fork/join of a per-step parallel region costs a futex
# wake-up and a context switch (P1 at 2 threads: 381 ms without spin, 322 ms with it; P2 18 -> 4.9
# ms; oneDNN's fused primitive gains as much): GOMP_SPINCOUNT bounds the spin to a few tens of
# microseconds before a thread sleeps. Every engine below (PyTorch too) runs under the same setting.
export OMP_NUM_THREADS=1 OMP_WAIT_POLICY=PASSIVE GOMP_SPINCOUNT=20000
REPS=3
[ "$QUICK" = 1 ] && REPS=1
{ date -u '+date: %Y-%m-%d %H:%M UTC'; echo "uptime: $(uptime)"; echo "cores: $(nproc --all)";
  grep -m1 'model name' /proc/cpuinfo | sed 's/.*: /cpu: /'; } > "$OUT/machine.txt"
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

: > "$OUT/torch.jsonl"
if /usr/bin/python3 -c 'import torch' 2>/dev/null; then
  echo "== PyTorch nn.GRU (system Python)"
  qflag=""
  [ "$QUICK" = 1 ] && qflag="--quick"
  /usr/bin/python3 bench/torch_gru.py --threads 1,2 $qflag > "$OUT/torch.jsonl" 2>"$OUT/torch.log" || true
  /usr/bin/time -v /usr/bin/python3 bench/torch_gru.py --p1-only --threads 1 > /dev/null 2> "$OUT/torch_p1_mem.txt" || true
else
  echo "== PyTorch: 'import torch' fails for /usr/bin/python3 (bash scripts/setup.sh --bench installs it); column left out"
fi
python3 bench/report.py "$OUT" | tee "$OUT/table.md"
