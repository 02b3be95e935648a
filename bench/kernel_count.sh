#!/usr/bin/env bash
# Instruction counts (valgrind --tool=callgrind) of bench/kernel_count.c at every ISA level this
# processor has: repeatable on a busy machine, so two versions of a kernel compare exactly.
#   bash bench/kernel_count.sh [BUILD_DIR]      (default build-bench; builds rnnlab_kernel_count)
# Prints, per level: all instructions of the process, those inside librnnlab (its own kernels, the
# core and the optimiser) and those inside oneDNN (libdnnl and the sgemm kernels it JIT-compiles,
# which callgrind shows without an object file).
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${1:-build-bench}
command -v valgrind >/dev/null || { echo "kernel_count.sh: valgrind is not installed" >&2; exit 1; }
cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DRNNLAB_BUILD_BENCH=ON -DRNNLAB_BUILD_TESTS=OFF >/dev/null
cmake --build "$BUILD" -j2 --target rnnlab_kernel_count >/dev/null
bin="$BUILD/bench/rnnlab_kernel_count"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
printf '%-9s %16s %16s %16s\n' level all librnnlab oneDNN
for isa in baseline avx2 avx512; do
  best=$(RNNLAB_CPU_ISA=$isa python3 - "$BUILD" <<'PY'
import ctypes, glob, sys
lib = ctypes.CDLL(sorted(glob.glob(sys.argv[1] + "/lib/librnnlab.so*"))[0])
lib.rnnlab_cpu_isa_name.restype = ctypes.c_char_p
print(lib.rnnlab_cpu_isa_name(lib.rnnlab_cpu_isa_best()).decode())
PY
)
  if [ "$best" != "$isa" ]; then printf '%-9s (not on this processor)\n' "$isa"; continue; fi
  OMP_NUM_THREADS=1 RNNLAB_CPU_ISA=$isa valgrind --tool=callgrind --callgrind-out-file="$tmp/cg.$isa" \
    "$bin" >/dev/null 2>"$tmp/log.$isa"
  callgrind_annotate --inclusive=no --threshold=100 "$tmp/cg.$isa" > "$tmp/ann.$isa" 2>/dev/null
  python3 - "$tmp/ann.$isa" "$isa" <<'PY'
import re, sys
text = open(sys.argv[1]).read()
total = int(re.search(r"^([\d,]+) \(100\.0%\)\s+PROGRAM TOTALS", text, re.M).group(1).replace(",", ""))
kern = dnnl = 0
for m in re.finditer(r"^\s*([\d,]+) \([^)]*\)\s+(\S.*)$", text, re.M):
    n, fn = int(m.group(1).replace(",", "")), m.group(2)
    if "PROGRAM TOTALS" in fn:
        continue
    obj = fn[fn.rfind("[") + 1:-1] if fn.endswith("]") else ""
    if "librnnlab" in obj:
        kern += n
    elif "libdnnl" in obj or obj == "???":
        dnnl += n
print(f"{sys.argv[2]:<9} {total:>16,} {kern:>16,} {dnnl:>16,}")
PY
done
