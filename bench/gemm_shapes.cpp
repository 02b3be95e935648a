// The small GEMMs of P1-P3 (spec/performance.md), timed with each candidate kernel on one thread:
//   dnnl_sgemm   oneDNN's sgemm (what the CPU backend calls today)
//   libxsmm      libxsmm 1.17's JIT kernel for the exact shape (Debian libxsmm-dev), dispatched once
// Every product is row-major C(M x N) = A(M x K) B(K x N) with beta = 0, the weight operand in the
// layout the kernel wants (a pass packs it once for all T steps). The training passes split the
// batch over the team (cpu_backend.cpp: forward_rows), so each thread's share of B appears too.
// Each candidate's result is checked against a double-precision product before it is timed; the
// last column is what lib/cpu/xsmm.h's rule (xsmm_prefer) picks for the shape.
//
// Usage: rnnlab_gemm_shapes [--reps N]   (prints one table; GFLOP/s, median of N batches of each
// kernel, interleaved, and the median ratio libxsmm / dnnl_sgemm of the paired batches)
#include <libxsmm.h>
#include <oneapi/dnnl/dnnl.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <vector>

#include "cpu/xsmm.h"

namespace {

struct Shape {
  const char *what;
  int M, N, K;
};

// P1: GRU H = 181, B = 64; P2: H = 50, B = 20; P3: H = 50, I = 7, blocks of 128 sequences
// (unit-major: weights x [h; x]); the main job's H = 64, B = 64.
const Shape kShapes[] = {
    {"P1 fwd h W_hh^T", 64, 543, 181},    {"P1 fwd, 1 of 2 threads", 32, 543, 181},
    {"P1 bwd dG W_hh", 64, 181, 543},     {"P1 bwd, 1 of 2 threads", 32, 181, 543},
    {"P2 fwd h W_hh^T", 20, 150, 50},     {"P2 fwd, 1 of 2 threads", 10, 150, 50},
    {"P2 bwd dG W_hh", 20, 50, 150},      {"P2 bwd, 1 of 2 threads", 10, 50, 150},
    {"P3 eval Wcat [h;x]", 150, 128, 57}, {"P3 eval W_in x", 50, 128, 7},
    {"P3 eval head", 6, 128, 50},
    // The main job (rnnlab-train --preset main: GRU H = 64, B = 64, one thread per model).
    {"main fwd h W_hh^T", 64, 192, 64},   {"main bwd dG W_hh", 64, 64, 192},
};

double now_s() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// GFLOP/s of one batch of calls (about 5 ms).
template <class F>
double batch(const Shape &s, F &&f) {
  const double flop = 2.0 * s.M * s.N * s.K;
  const int calls = std::max(1, static_cast<int>(5e-3 * 20e9 / flop));
  const double t0 = now_s();
  for (int c = 0; c < calls; ++c) f();
  return flop * calls / (now_s() - t0) * 1e-9;
}

double median(std::vector<double> v) {
  std::nth_element(v.begin(), v.begin() + v.size() / 2, v.end());
  return v[v.size() / 2];
}

double max_rel_err(const std::vector<float> &c, const std::vector<double> &ref) {
  double scale = 0, err = 0;
  for (double v : ref) scale = std::max(scale, std::fabs(v));
  for (size_t i = 0; i < c.size(); ++i) err = std::max(err, std::fabs(c[i] - ref[i]));
  return err / std::max(scale, 1e-30);
}

}  // namespace

int main(int argc, char **argv) {
  int reps = 15;
  for (int i = 1; i < argc; ++i)
    if (!std::strcmp(argv[i], "--reps") && i + 1 < argc) reps = std::max(3, std::atoi(argv[++i]));
  libxsmm_init();
  // The same target rnnlab sets (cpu/xsmm.cpp): the processor's level, capped by RNNLAB_CPU_ISA.
  const rnnlab_cpu_isa isa = rnnlab_cpu_isa_best();
  libxsmm_set_target_archid(isa == RNNLAB_ISA_AVX512 ? LIBXSMM_X86_AVX512_CORE
                            : isa == RNNLAB_ISA_AVX2  ? LIBXSMM_X86_AVX2
                                                      : LIBXSMM_X86_GENERIC);
  std::printf("one thread; kernels for %s; libxsmm %s; GFLOP/s, median of %d batches\n", rnnlab_cpu_isa_name(isa),
              LIBXSMM_VERSION, reps);
  std::printf("%-24s %5s %5s %5s %11s %9s %7s  %s\n", "shape", "M", "N", "K", "dnnl_sgemm", "libxsmm", "ratio",
              "rnnlab uses");
  std::mt19937 rng(1);
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  int bad = 0;
  for (const Shape &s : kShapes) {
    std::vector<float> A(static_cast<size_t>(s.M) * s.K), B(static_cast<size_t>(s.K) * s.N),
        C(static_cast<size_t>(s.M) * s.N);
    for (float &v : A) v = u(rng);
    for (float &v : B) v = u(rng);
    std::vector<double> ref(C.size(), 0.0);
    for (int m = 0; m < s.M; ++m)
      for (int k = 0; k < s.K; ++k)
        for (int n = 0; n < s.N; ++n)
          ref[static_cast<size_t>(m) * s.N + n] += double(A[static_cast<size_t>(m) * s.K + k]) * B[static_cast<size_t>(k) * s.N + n];

    auto check = [&](const char *who) {
      const double e = max_rel_err(C, ref);
      if (e > 1e-5) {
        std::fprintf(stderr, "%s on %s: max relative error %.3g\n", who, s.what, e);
        ++bad;
      }
      std::fill(C.begin(), C.end(), std::nanf(""));
    };

    auto run_dnnl = [&] {
      dnnl_sgemm('N', 'N', s.M, s.N, s.K, 1.0f, A.data(), s.K, B.data(), s.N, 0.0f, C.data(), s.N);
    };
    run_dnnl();
    check("dnnl_sgemm");

    // Column-major view: C^T (N x M) = B^T (N x K) A^T (K x M), both operands as they lie.
    const libxsmm_blasint m = s.N, n = s.M, k = s.K, lda = s.N, ldb = s.K, ldc = s.N;
    const float alpha = 1.0f, beta = 0.0f;
    const int flags = LIBXSMM_GEMM_FLAG_NONE, prefetch = LIBXSMM_PREFETCH_NONE;
    libxsmm_smmfunction kern = libxsmm_smmdispatch(m, n, k, &lda, &ldb, &ldc, &alpha, &beta, &flags, &prefetch);
    auto run_xsmm = [&] { kern(B.data(), A.data(), C.data()); };
    if (kern) {
      run_xsmm();
      check("libxsmm");
    }
    // The two kernels' batches interleaved, so that a neighbour's load falls on both alike; the
    // ratio is the median of the paired batches' ratios.
    std::vector<double> gd, gx, ratio;
    for (int r = 0; r < reps; ++r) {
      gd.push_back(batch(s, run_dnnl));
      if (kern) {
        gx.push_back(batch(s, run_xsmm));
        ratio.push_back(gx.back() / gd.back());
      }
    }
    char xs[32] = "none", rs[32] = "";
    if (kern) {
      std::snprintf(xs, sizeof xs, "%.1f", median(gx));
      std::snprintf(rs, sizeof rs, "%.2f", median(ratio));
    }
    std::printf("%-24s %5d %5d %5d %11.1f %9s %7s  %s\n", s.what, s.M, s.N, s.K, median(gd), xs, rs,
                rnnlab::xsmm_prefer(s.M, s.N, s.K) ? "libxsmm" : "dnnl_sgemm");
  }
  libxsmm_finalize();
  return bad ? 1 : 0;
}
