#!/usr/bin/env bash
# No binary of a CUDA build needs the CUDA libraries, except the CUDA backend's module itself
# (librnnlab_cuda.so, which the library dlopens on demand) and the programs that are about the GPU
# (the CUDA tests that run device code, the cuDNN benchmark). CTest: cuda_libraries_not_needed.
#
#   tests/cuda_needed_check.sh <build-dir>
#
# Reads the DT_NEEDED entries (readelf -d) of every ELF executable and shared object under the build
# tree (CMake's own scratch directories left out), and fails on libcudart / libcublas(Lt) / libcudnn
# anywhere else. It also checks that it saw what it must (librnnlab.so, rnnlab-train, the module,
# which does need them) and that the module exports one symbol, the loader's entry point.
set -euo pipefail
[ $# -eq 1 ] || { echo "usage: $0 <build-dir>" >&2; exit 2; }
build=$(cd "$1" && pwd)

cuda_re='^(libcudart|libcublas|libcublasLt|libcudnn)[._]'
# Binaries allowed to need them (basename patterns).
allowed_re='^(librnnlab_cuda\.so.*|test_cuda_cell_math|rnnlab_cuda_bench)$'

checked=0 bad=0 saw_lib=0 saw_train=0 saw_module=0 module_needs=0
while IFS= read -r -d '' f; do
  head -c 4 "$f" 2>/dev/null | grep -q 'ELF' || continue
  needed=$(readelf -d "$f" 2>/dev/null | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p') || continue
  name=$(basename "$f")
  rel=${f#"$build"/}
  case "$name" in
    librnnlab.so.*) saw_lib=1 ;;
    rnnlab-train) saw_train=1 ;;
  esac
  cuda=$(grep -E "$cuda_re" <<< "$needed" | paste -sd' ' || true)
  if [[ "$name" =~ $allowed_re ]]; then
    if [[ "$name" == librnnlab_cuda.so.* ]]; then
      saw_module=1
      [ -n "$cuda" ] && module_needs=1
      exports=$(nm -D --defined-only "$f" | awk '$2 == "T" {print $3}' | sed 's/@.*//' | paste -sd' ')
      if [ "$exports" != "rnnlab_cuda_plugin_entry_v1" ]; then
        echo "FAIL: $rel exports '$exports', not just rnnlab_cuda_plugin_entry_v1" >&2
        bad=1
      fi
    fi
    echo "   allowed: $rel${cuda:+ (needs $cuda)}"
    continue
  fi
  checked=$((checked + 1))
  if [ -n "$cuda" ]; then
    echo "FAIL: $rel needs $cuda" >&2
    bad=1
  fi
done < <(find "$build" -path '*/CMakeFiles' -prune -o -path '*/_deps' -prune -o -type f \
           \( -name '*.so' -o -name '*.so.*' -o -perm -u+x \) -print0)

echo "checked $checked binaries for DT_NEEDED on the CUDA libraries"
[ "$saw_lib" = 1 ] || { echo "FAIL: no librnnlab.so.* under $build" >&2; bad=1; }
[ "$saw_train" = 1 ] || echo "   (rnnlab-train not built here)"
[ "$saw_module" = 1 ] || { echo "FAIL: no librnnlab_cuda.so.* under $build (not a CUDA build?)" >&2; bad=1; }
[ "$saw_module" = 0 ] || [ "$module_needs" = 1 ] ||
  { echo "FAIL: librnnlab_cuda.so needs no CUDA library: is this check reading DT_NEEDED at all?" >&2; bad=1; }
exit $bad
