#include "cpu/xsmm.h"

#include <cstdlib>
#include <cstring>
#include <mutex>

#ifdef RNNLAB_HAVE_XSMM
#include <libxsmm.h>
#endif

namespace rnnlab {

namespace {

// Where libxsmm beats dnnl_sgemm (bench/gemm_shapes, AVX2, libxsmm / dnnl_sgemm speed of paired
// batches): small products (P3's eval GEMMs 1.1-1.8, P2's 20 x 150 x 50 1.15; P1's 64 x 543 x 181
// 0.6) whose N, libxsmm's vector dimension, is not too narrow (N = 50: 0.97, N = 64: 1.05).
constexpr double kXsmmMaxMNK = 2.0 * 1024 * 1024;
constexpr int kXsmmMinN = 64;

struct XsmmState {
  rnnlab_cpu_isa level = RNNLAB_ISA_BASELINE;  // the level libxsmm generates for; baseline: unused
  const char *name = "off (not built in)";
};

const XsmmState &state() {
  static XsmmState s;
  static std::once_flag once;
  std::call_once(once, [] {
#ifdef RNNLAB_HAVE_XSMM
    const char *env = std::getenv("RNNLAB_XSMM");
    if (env && std::strcmp(env, "0") == 0) {
      s.name = "off (RNNLAB_XSMM=0)";
      return;
    }
    switch (rnnlab_cpu_isa_best()) {
      case RNNLAB_ISA_AVX512:
        // AVX-512 F/CD/BW/DQ/VL: what the avx512 copy of the kernels is compiled for.
        libxsmm_set_target_archid(LIBXSMM_X86_AVX512_CORE);
        s.level = RNNLAB_ISA_AVX512;
        s.name = "avx512";
        break;
      case RNNLAB_ISA_AVX2:
        libxsmm_set_target_archid(LIBXSMM_X86_AVX2);
        s.level = RNNLAB_ISA_AVX2;
        s.name = "avx2";
        break;
      default:
        // Below AVX2 the dnnl_sgemm kernels are as good as anything libxsmm generates.
        s.name = "off (no AVX2)";
        break;
    }
#endif
  });
  return s;
}

}  // namespace

bool xsmm_usable(rnnlab_cpu_isa isa) {
  const XsmmState &s = state();
  return s.level != RNNLAB_ISA_BASELINE && s.level == isa;
}

bool xsmm_prefer(int M, int N, int K) {
  return N >= kXsmmMinN && static_cast<double>(M) * N * K <= kXsmmMaxMNK;
}

const char *xsmm_target_name() { return state().name; }

XsmmKernel xsmm_rowmajor(int M, int N, int K, int lda, int ldb, int ldc, bool accumulate) {
#ifdef RNNLAB_HAVE_XSMM
  if (state().level == RNNLAB_ISA_BASELINE || M <= 0 || N <= 0 || K <= 0) return nullptr;
  // Column-major C^T (N x M) = B^T (N x K) A^T (K x M): B is libxsmm's "a", A its "b".
  const libxsmm_blasint m = N, n = M, k = K, la = ldb, lb = lda, lc = ldc;
  const float alpha = 1.0f, beta = accumulate ? 1.0f : 0.0f;
  const int flags = LIBXSMM_GEMM_FLAG_NONE, prefetch = LIBXSMM_PREFETCH_NONE;
  return reinterpret_cast<XsmmKernel>(libxsmm_smmdispatch(m, n, k, &la, &lb, &lc, &alpha, &beta, &flags, &prefetch));
#else
  (void)M, (void)N, (void)K, (void)lda, (void)ldb, (void)ldc, (void)accumulate;
  return nullptr;
#endif
}

}  // namespace rnnlab
