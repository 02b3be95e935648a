#!/usr/bin/env bash
# The installed rnnlab is usable (CTest: abi_install).
#
#   tests/install_check.sh <build-dir> <source-dir>
#
# 1. cmake --install <build-dir> into a temporary prefix (not the configured one: the package must be
#    relocatable) and checks that the headers, both libraries, rnnlab.pc and the CMake package are there;
# 2. builds every examples/*.c against it with pkg-config, twice: shared (`pkg-config --cflags --libs`)
#    and static (`pkg-config --static --libs`, with librnnlab.a itself), and runs both; the shared one
#    with LD_LIBRARY_PATH pointing into the prefix, the static one with no librnnlab.so needed at all.
#    An example that must not be run without arguments or data says so with a line containing
#    "install_check: build-only";
# 3. configures, builds and runs tests/consumer, a C-only CMake project using
#    find_package(rnnlab CONFIG REQUIRED) with CMAKE_PREFIX_PATH=<prefix>, linking rnnlab::rnnlab and
#    rnnlab::rnnlab_static.
# In a CUDA build (the build tree has librnnlab_cuda.so) it also checks that the CUDA module is installed
# beside the library, that nothing else installed or built against the install needs the CUDA
# libraries (pkg-config's static flags included), and that the consumer finds the module without
# RNNLAB_CUDA_PLUGIN (tests/consumer/main.c, RNNLAB_EXPECT_CUDA_MODULE=1).
# Environment: CC, CMAKE, PKG_CONFIG (tools to use), RNNLAB_TEST_EXTRA_FLAGS (added to every compile
# and link, e.g. the sanitizer flags of an instrumented build), KEEP_TMP=1 keeps the temporary tree.
set -euo pipefail

if [ $# -ne 2 ]; then
  echo "usage: $0 <build-dir> <source-dir>" >&2
  exit 2
fi
build=$(cd "$1" && pwd)
src=$(cd "$2" && pwd)
CC=${CC:-cc}
CMAKE=${CMAKE:-cmake}
PKG_CONFIG=${PKG_CONFIG:-pkg-config}
read -r -a extra <<< "${RNNLAB_TEST_EXTRA_FLAGS:-}"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/rnnlab-install-check.XXXXXX")
if [ "${KEEP_TMP:-0}" = 1 ]; then
  echo "keeping $tmp"
else
  trap 'rm -rf "$tmp"' EXIT
fi
prefix=$tmp/prefix

step() { echo "== $*"; }
fail() {
  echo "FAIL: $*" >&2
  exit 1
}
# Runs a command quietly; on failure shows its output and fails.
quiet() {
  local log=$tmp/last.log
  if ! "$@" > "$log" 2>&1; then
    cat "$log" >&2
    fail "command failed: $*"
  fi
}
# Does the binary $1 have librnnlab.so as a DT_NEEDED entry?
needs_rnnlab_so() {
  local needed
  needed=$(readelf -d "$1" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p')
  grep -q '^librnnlab\.so' <<< "$needed"
}

version=$(sed -n 's/^#define RNNLAB_VERSION_\(MAJOR\|MINOR\|PATCH\) \([0-9]*\)$/\2/p' "$src/include/rnnlab/rnnlab.h" |
          paste -sd.)
[ -n "$version" ] || fail "could not read the version from include/rnnlab/rnnlab.h"

# ---- 1. install ---------------------------------------------------------------------------------
step "cmake --install $build --prefix $prefix"
quiet "$CMAKE" --install "$build" --prefix "$prefix"

pc=$(find "$prefix" -path '*/pkgconfig/rnnlab.pc' | head -n 1)
[ -n "$pc" ] || fail "no pkgconfig/rnnlab.pc under $prefix"
pcdir=$(dirname "$pc")
libdir=$(dirname "$pcdir")
for f in librnnlab.so librnnlab.a cmake/rnnlab/rnnlabConfig.cmake cmake/rnnlab/rnnlabConfigVersion.cmake; do
  [ -e "$libdir/$f" ] || fail "$libdir/$f was not installed"
done
for h in "$src"/include/rnnlab/*.h; do
  [ -f "$prefix/include/rnnlab/$(basename "$h")" ] || fail "header $(basename "$h") was not installed"
done

# A CUDA build: the CUDA backend is a module installed beside the library (librnnlab_cuda.so.<major>);
# nothing else the install holds, and nothing built against it, may need the CUDA libraries.
cuda_build=0
major=${version%%.*}
if compgen -G "$build/lib/librnnlab_cuda.so*" > /dev/null; then
  cuda_build=1
  [ -e "$libdir/librnnlab_cuda.so.$major" ] || fail "$libdir/librnnlab_cuda.so.$major (the CUDA module) was not installed"
fi
needs_cuda() {  # prints the CUDA libraries the binary $1 needs
  readelf -d "$1" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p' | grep -E '^lib(cudart|cublas|cublasLt|cudnn)[._]' || true
}
for f in "$libdir"/librnnlab.so*; do
  [ -z "$(needs_cuda "$f")" ] || fail "$f needs the CUDA libraries: $(needs_cuda "$f" | paste -sd' ')"
done
export RNNLAB_EXPECT_CUDA_MODULE=$cuda_build
unset RNNLAB_CUDA_PLUGIN

export PKG_CONFIG_PATH="$pcdir"
pc_version=$("$PKG_CONFIG" --modversion rnnlab)
[ "$pc_version" = "$version" ] || fail "rnnlab.pc says version $pc_version, the header $version"
pc_includedir=$("$PKG_CONFIG" --variable=includedir rnnlab)
pc_libdir=$("$PKG_CONFIG" --variable=libdir rnnlab)
[ "$(realpath "$pc_includedir")" = "$(realpath "$prefix/include")" ] ||
  fail "rnnlab.pc's includedir $pc_includedir is not the install prefix's ($prefix/include): not relocatable"
[ "$(realpath "$pc_libdir")" = "$(realpath "$libdir")" ] ||
  fail "rnnlab.pc's libdir $pc_libdir is not where the library was installed ($libdir): not relocatable"

read -r -a cflags <<< "$("$PKG_CONFIG" --cflags rnnlab)"
read -r -a libs <<< "$("$PKG_CONFIG" --libs rnnlab)"
read -r -a static_libs <<< "$("$PKG_CONFIG" --static --libs rnnlab)"
# Link the archive itself: -lrnnlab would pick librnnlab.so when both are there.
for i in "${!static_libs[@]}"; do
  [ "${static_libs[$i]}" = "-lrnnlab" ] && static_libs[$i]="-l:librnnlab.a"
done
echo "   pkg-config --cflags --libs:  ${cflags[*]} ${libs[*]}"
echo "   pkg-config --static --libs:  ${static_libs[*]}"
if grep -qE -- '-l(cudart|cublas|cudnn)' <<< "${static_libs[*]}"; then
  fail "pkg-config --static --libs names CUDA libraries: a static link needs none (the CUDA backend is a module)"
fi

# ---- 2. the examples through pkg-config ---------------------------------------------------------
shopt -s nullglob
examples=("$src"/examples/*.c)
[ ${#examples[@]} -gt 0 ] || fail "no examples/*.c"
[ -f "$src/examples/c_api_smoke.c" ] || fail "examples/c_api_smoke.c is missing"
mkdir -p "$tmp/examples"
for ex in "${examples[@]}"; do
  name=$(basename "$ex" .c)
  shared_bin=$tmp/examples/$name
  static_bin=$tmp/examples/${name}_static
  step "example $name: build against the installed library (shared, static)"
  quiet "$CC" "${extra[@]}" -std=c99 -Wall -Wextra -o "$shared_bin" "$ex" "${cflags[@]}" "${libs[@]}" -lm
  quiet "$CC" "${extra[@]}" -std=c99 -Wall -Wextra -o "$static_bin" "$ex" "${cflags[@]}" "${static_libs[@]}" -lm
  needs_rnnlab_so "$shared_bin" || fail "$name (shared) does not need librnnlab.so"
  for b in "$shared_bin" "$static_bin"; do
    [ -z "$(needs_cuda "$b")" ] || fail "$(basename "$b") needs the CUDA libraries: $(needs_cuda "$b" | paste -sd' ')"
  done
  if needs_rnnlab_so "$static_bin"; then
    fail "$name (static) still needs librnnlab.so"
  fi
  resolved=$(LD_LIBRARY_PATH="$libdir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" ldd "$shared_bin" |
             sed -n 's/^[[:space:]]*librnnlab\.so[^ ]* => \([^ ]*\).*/\1/p')
  [ "$(realpath "$(dirname "$resolved")")" = "$(realpath "$libdir")" ] ||
    fail "$name (shared) loads librnnlab from '$resolved', not from the install prefix"
  if grep -q 'install_check: build-only' "$ex"; then
    echo "   (build-only: not run)"
    continue
  fi
  step "example $name: run (shared, with LD_LIBRARY_PATH=$libdir)"
  (cd "$tmp" && LD_LIBRARY_PATH="$libdir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" timeout 120 "$shared_bin") ||
    fail "$name (shared) exited with $?"
  step "example $name: run (static)"
  (cd "$tmp" && timeout 120 "$static_bin") || fail "$name (static) exited with $?"
done

# ---- 3. a CMake consumer ------------------------------------------------------------------------
step "tests/consumer: find_package(rnnlab CONFIG REQUIRED) with CMAKE_PREFIX_PATH=$prefix"
quiet "$CMAKE" -S "$src/tests/consumer" -B "$tmp/consumer" -DCMAKE_PREFIX_PATH="$prefix" \
  -DCMAKE_C_COMPILER="$CC" -DCMAKE_BUILD_TYPE=Release -DRNNLAB_EXPECT_VERSION="$version" \
  -DCMAKE_C_FLAGS="${extra[*]}" -DCMAKE_EXE_LINKER_FLAGS="${extra[*]}"
found_dir=$(sed -n 's/^rnnlab_DIR:PATH=//p' "$tmp/consumer/CMakeCache.txt")
[ "$(realpath "$found_dir")" = "$(realpath "$libdir/cmake/rnnlab")" ] ||
  fail "find_package found rnnlab in '$found_dir', not in the install prefix"
quiet "$CMAKE" --build "$tmp/consumer" -j2
if needs_rnnlab_so "$tmp/consumer/consumer_static"; then
  fail "consumer_static (rnnlab::rnnlab_static) needs librnnlab.so"
fi
needs_rnnlab_so "$tmp/consumer/consumer_shared" ||
  fail "consumer_shared (rnnlab::rnnlab) does not need librnnlab.so"
for b in consumer_shared consumer_static; do
  [ -z "$(needs_cuda "$tmp/consumer/$b")" ] || fail "$b needs the CUDA libraries: $(needs_cuda "$tmp/consumer/$b" | paste -sd' ')"
done
# With RNNLAB_EXPECT_CUDA_MODULE=1 the consumer also checks that the CUDA module is found without
# RNNLAB_CUDA_PLUGIN: beside librnnlab.so for the shared one; for the static one (its executable is
# not in the install's libdir, and the prefix is not the configured one) through the loader's search.
step "tests/consumer: run (shared, through the build RPATH; static, with LD_LIBRARY_PATH=$libdir)"
"$tmp/consumer/consumer_shared" || fail "consumer_shared exited with $?"
LD_LIBRARY_PATH="$libdir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" "$tmp/consumer/consumer_static" ||
  fail "consumer_static exited with $?"

echo "install check passed: rnnlab $version installs, and its examples and a CMake consumer build and run against it"
