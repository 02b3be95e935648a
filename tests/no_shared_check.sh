#!/usr/bin/env bash
# The test suite carries its own data: it builds and passes in a copy of the repository that has
# nothing beside it (no ../shared, no build tree), as a user's clone has.
#
#   tests/no_shared_check.sh [<repo-dir>] [-- <ctest arguments>]
#   tests/no_shared_check.sh [<repo-dir>] --run '<command>'
#
# 1. checks that no CMake file, script or test of the repository reads ../shared;
# 2. copies the repository's files (tracked plus untracked-but-not-ignored, so uncommitted work counts;
#    build trees and other ignored paths stay behind) to <tmp>/clone, where <tmp>/shared does not exist;
# 3. configures it (Release, -DRNNLAB_BUILD_BENCH=OFF -DRNNLAB_WITH_CUDA=OFF), builds it and runs ctest
#    with the given arguments (default: the whole suite); with --run, runs <command> in the copy instead
#    (.ci/run: the README's `bash scripts/test.sh`, set-up included).
# <repo-dir> (a git work tree) defaults to the repository holding this script. Environment: JOBS (default 2),
# KEEP_TMP=1 keeps <tmp>; NO_SHARED_DIR=<dir> uses <dir> as <tmp> (empty or new; kept); the CMAKE_*_COMPILER_LAUNCHER variables (ccache) pass through to cmake.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
if [ $# -gt 0 ] && [ "$1" != "--" ] && [ "$1" != "--run" ]; then
  repo=$(cd "$1" && pwd)
  shift
fi
run_cmd=""
if [ "${1:-}" = "--run" ]; then
  run_cmd=${2:?"--run needs a command"}
  shift 2
fi
[ "${1:-}" = "--" ] && shift
ctest_args=("$@")
JOBS=${JOBS:-2}

run() {
  echo "+ $*"
  "$@"
}

echo "== no_shared_check: $repo"
# Step 1. This script is the one file allowed to name the path (it says what it rules out).
if hits=$(cd "$repo" && git grep --untracked -n -e '\.\./shared' -- CMakeLists.txt '*.cmake' '*/CMakeLists.txt' \
            scripts tests .ci ':!tests/no_shared_check.sh' 2>/dev/null); then
  echo "no_shared_check: these lines refer to ../shared:" >&2
  echo "$hits" >&2
  exit 1
fi

if [ -n "${NO_SHARED_DIR:-}" ]; then  # a caller's directory (.ci/run reuses the copy's build): kept
  tmp=$NO_SHARED_DIR
  mkdir -p "$tmp"
  KEEP_TMP=1
else
  tmp=$(mktemp -d "${TMPDIR:-/tmp}/rnnlab-noshared.XXXXXX")
fi
if [ "${KEEP_TMP:-0}" = 1 ]; then
  echo "keeping $tmp"
else
  trap 'rm -rf "$tmp"' EXIT
fi
clone=$tmp/clone
mkdir "$clone"

# Step 2. Files git knows or would add; a tracked file deleted in the work tree is left out.
echo "+ copy the files of $repo (git ls-files --cached --others --exclude-standard) to $clone"
(cd "$repo" && git ls-files -z --cached --others --exclude-standard |
   while IFS= read -r -d '' f; do if [ -e "$f" ] || [ -L "$f" ]; then printf '%s\0' "$f"; fi; done |
   tar --null -T - -cf -) | tar -C "$clone" -xf -
if [ -e "$tmp/shared" ]; then
  echo "no_shared_check: $tmp/shared exists" >&2
  exit 1
fi
echo "  $(find "$clone" -type f | wc -l) files copied; $tmp/shared does not exist"

# Step 3.
if [ -n "$run_cmd" ]; then
  echo "+ (cd $clone && $run_cmd)"
  (cd "$clone" && bash -c "$run_cmd")
  echo "== no_shared_check: passed"
  exit 0
fi
export OMP_NUM_THREADS=1 OMP_WAIT_POLICY=PASSIVE
run cmake -S "$clone" -B "$clone/build" -DCMAKE_BUILD_TYPE=Release -DRNNLAB_BUILD_BENCH=OFF -DRNNLAB_WITH_CUDA=OFF
run cmake --build "$clone/build" -j"$JOBS"
run ctest --test-dir "$clone/build" --output-on-failure -j"$JOBS" "${ctest_args[@]}"
echo "== no_shared_check: passed"
