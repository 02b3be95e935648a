// libxsmm's JIT small-matrix kernels for the CPU backend's GEMMs where they beat dnnl_sgemm
// (bench/gemm_shapes: the eval-mode GEMMs of P3 and the recurrent GEMM of P2 on AVX2).
//
// libxsmm generates code for one target per process. rnnlab sets that target once, to
// rnnlab_cpu_isa_best() (the processor's level, lowered by RNNLAB_CPU_ISA), so that a model's
// kernels and its small GEMMs belong to the same level: xsmm_usable(isa) is true only for models
// running at exactly that level, and the others keep dnnl_sgemm. RNNLAB_XSMM=0 in the environment
// turns it off (to compare against dnnl_sgemm in one build).
#ifndef RNNLAB_CPU_XSMM_H
#define RNNLAB_CPU_XSMM_H

#include <rnnlab/rnnlab.h>

namespace rnnlab {

// A row-major product C (M x N) = A (M x K) B (K x N) (+ C when accumulating), leading dimensions
// fixed at dispatch. Null when libxsmm is not built in or has no kernel for the shape.
using XsmmKernel = void (*)(const float *a, const float *b, float *c, ...);

// Whether models whose kernels run at `isa` may use libxsmm (built in, enabled, same level).
bool xsmm_usable(rnnlab_cpu_isa isa);

// The kernel for one shape (thread-safe; libxsmm keeps each one for the life of the process).
// Call it as k(B, A, C): libxsmm is column-major, and C^T = B^T A^T there.
XsmmKernel xsmm_rowmajor(int M, int N, int K, int lda, int ldb, int ldc, bool accumulate);

// Whether rnnlab calls libxsmm rather than dnnl_sgemm for a row-major product of this shape (beta 0
// or 1, any leading dimensions). The rule comes from bench/gemm_shapes (README "Small GEMMs"):
// libxsmm's kernels are unblocked, so they win while both operands and the result fit in L1/L2 and
// lose to dnnl_sgemm's blocked kernels beyond that.
bool xsmm_prefer(int M, int N, int K);

// A short name of the target libxsmm generates for ("avx2", "avx512", or "off" with the reason).
const char *xsmm_target_name();

}  // namespace rnnlab

#endif
