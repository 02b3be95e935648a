#!/usr/bin/env bash
# P4 (spec/performance.md): the CS728 handout's run A4 end to end, at 2 threads, timed.
#
#   bash bench/p4_cs728.sh                     the exact handout command (50000 iterations at most;
#                                              it stops earlier if the GRU solves the task)
#   bash bench/p4_cs728.sh --maxiters 2000     a shortened run: any flags given here are appended to the
#                                              handout's command, and a repeated flag keeps its last value
#
# Prints the trainer's own output, its [time] line (wall time per phase: training, validation, rho,
# diagnostics, I/O, setup), then wall time and peak RSS from /usr/bin/time -v, and, for a shortened run,
# the extrapolation to the full 50000 iterations (validation and training both scale with the number of
# iterations; a run that solves the task stops early, so this is the worst case).
# Not run by CI. Environment: BUILD_DIR (default build), OUT_DIR (default out/p4_cs728).
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD_DIR:-build}
OUT=${OUT_DIR:-out/p4_cs728}
TRAIN="$BUILD/programs/rnnlab-train"
if [ ! -x "$TRAIN" ]; then
  cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=Release >/dev/null
  cmake --build "$BUILD" -j2 --target rnnlab-train >/dev/null
fi
[ -x /usr/bin/time ] || { echo "p4_cs728.sh: /usr/bin/time is missing (Debian package 'time')" >&2; exit 1; }
mkdir -p "$OUT"

# Two threads: validation runs two chunks at once (one model each), training runs its B = 20 passes
# on two library threads (--train_threads 2: 3.9 vs 4.1 ms per iteration, measured with the spin
# setting below; without it two threads are 3x slower than one at this size, which is why
# rnnlab-train's default is 1). OpenMP must not spin for long on this shared 2-core machine, but a
# short bounded spin (GOMP_SPINCOUNT, see bench/run.sh) keeps its per-step fork/join cheap.
export OMP_NUM_THREADS=2 OMP_WAIT_POLICY=PASSIVE GOMP_SPINCOUNT=20000

# The handout's A4 command, exactly (seed 002, section 3.2), with the program name swapped; then the
# rnnlab flags of this benchmark; then the caller's.
A4=(--task mem --model gru --alpha 0.0
    --clipstyle nothing --diagGates
    --nhid 50 --lr 0.01 --bs 20 --min_length 50 --max_length 200
    --maxiters 50000 --ebs 10000 --cbs 1000 --checkFreq 20
    --seed 52 --valid_seed 12345 --collectDiags --diagBins 60 --satThresh 0.05
    --name A4_mem_gru_noclip)
{ date -u '+date: %Y-%m-%d %H:%M UTC'; echo "uptime: $(uptime)"; nproc | sed 's/^/cores: /';
  grep -m1 'model name' /proc/cpuinfo | sed 's/.*: /cpu: /'; } | tee "$OUT/machine.txt"
echo "command: rnnlab-train ${A4[*]} --threads 2 --train_threads 2 --timing $*" | tee "$OUT/command.txt"

/usr/bin/time -v -o "$OUT/time.txt" "$TRAIN" "${A4[@]}" --threads 2 --train_threads 2 --timing --out_dir "$OUT" "$@" | tee "$OUT/log.txt"

wall=$(sed -n 's/.*Elapsed (wall clock) time (h:mm:ss or m:ss): //p' "$OUT/time.txt")
rss_kb=$(sed -n 's/.*Maximum resident set size (kbytes): //p' "$OUT/time.txt")
echo "P4 A4: wall $wall, peak RSS $((rss_kb / 1024)) MiB (/usr/bin/time -v)"

# Extrapolation of a shortened, unsolved run to the handout's 50000 iterations.
python3 - "$OUT/log.txt" <<'EOF'
import re, sys
log = open(sys.argv[1]).read()
t = re.search(r"^\[time\] total ([\d.]+)s: training ([\d.]+)s \((\d+) iterations.*?validation ([\d.]+)s \((\d+) checks"
              r".*?rho ([\d.]+)s, diagnostics ([\d.]+)s.*?I/O ([\d.]+)s.*?setup ([\d.]+)s", log, re.M)
done = re.search(r"^Done\. solved=(\d)", log, re.M)
if not t or not done:
    sys.exit("p4_cs728.sh: no [time] / Done. line in the log")
total, train, iters, valid, checks, rho, diag, io, setup = (float(x) for x in t.groups())
if done.group(1) == "1":
    print("solved: the run stopped early; no extrapolation needed (its wall time is the figure)")
elif iters < 50000:
    k = 50000.0 / iters
    full = setup + k * (train + valid + rho + diag + io)
    print("extrapolated to 50000 iterations (if it never solves): %.1f min "
          "(training %.1f min, validation %.1f min, diagnostics %.1f min)" % (full / 60, k * train / 60,
                                                                            k * valid / 60, k * diag / 60))
EOF
