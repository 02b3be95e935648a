#!/usr/bin/env bash
# Builds the libFuzzer harnesses (clang, ASan + UBSan, build-fuzz/) and runs each one: first every
# committed regression input (each once crashed a harness), then fuzzing from the committed seed
# corpus for a fixed number of executions or for a time.
#   tests/fuzz/run.sh                  every harness, 10000 executions each (what .ci/run does)
#   tests/fuzz/run.sh --runs N         N executions each
#   tests/fuzz/run.sh --seconds S      S seconds each (a long hunt)
#   tests/fuzz/run.sh --make-seeds     rewrite tests/fuzz/corpus/ from what rnnlab writes now
#   tests/fuzz/run.sh ... fuzz_npz     only the harnesses named
# New inputs found go to build-fuzz/fuzz-work/<harness>/, crashers to build-fuzz/fuzz-artifacts/ (add
# a fixed crasher to tests/fuzz/regressions/<harness>/). Exit status 1 when any harness failed.
set -euo pipefail
cd "$(dirname "$0")/../.."
runs=10000
seconds=""
make_seeds=0
only=()
while [ $# -gt 0 ]; do
  case "$1" in
    --runs) runs="$2"; shift 2 ;;
    --seconds) seconds="$2"; shift 2 ;;
    --make-seeds) make_seeds=1; shift ;;
    fuzz_*) only+=("$1"); shift ;;
    *) echo "run.sh: unknown argument '$1'" >&2; exit 2 ;;
  esac
done
BUILD=${FUZZ_BUILD_DIR:-build-fuzz}
harnesses=(fuzz_checkpoint fuzz_npz fuzz_npy fuzz_idx fuzz_cifar fuzz_cli fuzz_grid fuzz_train_flags)
[ ${#only[@]} -gt 0 ] && harnesses=("${only[@]}")

CC=clang CXX=clang++ cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DRNNLAB_FUZZ=ON -DRNNLAB_SANITIZE=ON \
  -DRNNLAB_WITH_ONEDNN=OFF -DRNNLAB_WITH_CUDA=OFF -DRNNLAB_BUILD_TESTS=OFF -DRNNLAB_BUILD_PROGRAMS=OFF \
  -DRNNLAB_BUILD_EXAMPLES=OFF -DRNNLAB_BUILD_BENCH=OFF >/dev/null
cmake --build "$BUILD" -j"${JOBS:-2}" --target "${harnesses[@]}" fuzz_make_seeds

export ASAN_OPTIONS=abort_on_error=0:halt_on_error=1:detect_leaks=1:allocator_may_return_null=0
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
export OMP_NUM_THREADS=1

if [ "$make_seeds" = 1 ]; then
  rm -rf tests/fuzz/corpus && mkdir -p tests/fuzz/corpus
  "$BUILD/tests/fuzz/fuzz_make_seeds" tests/fuzz/corpus
fi

status=0
summary=()
for h in "${harnesses[@]}"; do
  bin="$BUILD/tests/fuzz/$h"
  work="$BUILD/fuzz-work/$h"
  art="$BUILD/fuzz-artifacts"
  mkdir -p "$work" "$art"
  reg=(tests/fuzz/regressions/"$h"/*)
  if [ -e "${reg[0]}" ]; then
    if ! "$bin" "${reg[@]}" >"$BUILD/$h.regressions.log" 2>&1; then
      echo "== $h: a regression input fails again:"; tail -40 "$BUILD/$h.regressions.log"; status=1; continue
    fi
  else
    reg=()
  fi
  limit=(-runs="$runs")
  [ -n "$seconds" ] && limit=(-max_total_time="$seconds")
  log="$BUILD/$h.log"
  if "$bin" "${limit[@]}" -max_len=16384 -timeout=20 -rss_limit_mb=2560 -print_final_stats=1 \
       -artifact_prefix="$art/$h-" "$work" "tests/fuzz/corpus/$h" >"$log" 2>&1; then
    ok="ok"
  else
    ok="FAILED"; status=1
    echo "== $h failed:"; grep -v '^#[0-9]' "$log" | tail -60
  fi
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  secs=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
  cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1)
  summary+=("$(printf '%-16s %-6s %10s execs %7s/s  %s  corpus %s, %d regression inputs' "$h" "$ok" "${execs:-?}" \
             "${secs:-?}" "${cov:-cov: ?}" "$(ls "$work" | wc -l)+$(ls "tests/fuzz/corpus/$h" | wc -l)" "${#reg[@]}")")
done
echo "== fuzzing summary"
printf '%s\n' "${summary[@]}"
exit $status
