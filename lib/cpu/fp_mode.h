// Flush-to-zero and denormals-are-zero for the length of one CPU-backend call.
//
// A vanishing gradient runs dL/dh_t (and what is computed from it) through the float denormal range
// for most of a long sequence, and some processors (Intel Sapphire Rapids, measured: P1 5x slower)
// take a slow path on every operation that reads or writes a denormal. With FTZ + DAZ set, values
// below FLT_MIN read and write as 0. MXCSR is per thread: the scope sets it on the calling thread and
// on every worker of the OpenMP team the call uses (oneDNN's sgemm runs on the same team), and puts
// back each thread's own value when the call returns, so neither the caller nor the OpenMP pool it
// shares with other code is left in a changed floating-point mode.
#ifndef RNNLAB_CPU_FP_MODE_H
#define RNNLAB_CPU_FP_MODE_H

#include <omp.h>

#if defined(__SSE__) || defined(__x86_64__)
#include <xmmintrin.h>
#define RNNLAB_HAVE_MXCSR 1
#endif

#include "common/isa_ns.h"

namespace rnnlab {
RNNLAB_ISA_NS_BEGIN

class FlushDenormalsScope {
 public:
  FlushDenormalsScope(bool on, int threads) {
#if defined(RNNLAB_HAVE_MXCSR)
    on_ = on;
    if (!on_) return;
    threads_ = threads > kMaxWorkers ? kMaxWorkers : threads;
    caller_ = _mm_getcsr();
    // Workers first: a worker that the first parallel region creates inherits the creating thread's
    // MXCSR, which must still be the caller's own (it is what the worker gets back at the end).
    if (threads_ > 1) {
      unsigned *saved = saved_;
#pragma omp parallel num_threads(threads_)
      {
        const int i = omp_get_thread_num();
        if (i > 0 && i < kMaxWorkers) {  // thread 0 is the caller, done above
          saved[i] = _mm_getcsr();
          _mm_setcsr(saved[i] | kFtzDaz);
        }
      }
    }
    _mm_setcsr(caller_ | kFtzDaz);
#else
    (void)on;
    (void)threads;
#endif
  }
  ~FlushDenormalsScope() {
#if defined(RNNLAB_HAVE_MXCSR)
    if (!on_) return;
    if (threads_ > 1) {
      // libgomp keeps the same worker for the same slot of a team of the same size, so slot i gets
      // back what slot i had.
      const unsigned *saved = saved_;
#pragma omp parallel num_threads(threads_)
      {
        const int i = omp_get_thread_num();
        if (i > 0 && i < kMaxWorkers) _mm_setcsr(saved[i]);
      }
    }
    _mm_setcsr(caller_);
#endif
  }
  FlushDenormalsScope(const FlushDenormalsScope &) = delete;
  FlushDenormalsScope &operator=(const FlushDenormalsScope &) = delete;

 private:
  static constexpr unsigned kFtzDaz = 0x8040u;  // MXCSR bit 15 (FTZ) and bit 6 (DAZ)
  static constexpr int kMaxWorkers = 256;
  bool on_ = false;
  int threads_ = 1;
  unsigned caller_ = 0;
  unsigned saved_[kMaxWorkers] = {};
};

RNNLAB_ISA_NS_END
}  // namespace rnnlab

#endif
