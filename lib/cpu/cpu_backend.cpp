// RNNLAB_BACKEND_CPU: rnnlab's own fused cell kernels around oneDNN's GEMMs.
//
// oneDNN's fused RNN primitives hide dL/dh_t and the gates, and its step-wise execution needs a
// workspace per step; so this backend drives dnnl_sgemm itself:
//   forward   one GEMM for the input projection of a chunk of steps, one recurrent GEMM per step,
//             then one fused pass over its output: gate math (common/cell_math.h), the tape, and
//             (level full) the forward-side diagnostics;
//   backward  per step: one fused pass (gate gradients, ||dL/dh_t||), one GEMM for dL/dh_{t-1};
//             per chunk of steps: the weight-gradient GEMMs and dL/dx.
// The tape is h, r, z, n and the hidden-side candidate product: 5 floats per (t, b, unit).
//
// This file is compiled once per instruction-set level (lib/CMakeLists.txt: baseline, AVX2 + FMA,
// AVX-512), each time inside its own namespace RNNLAB_KERNEL_ISA; cpu_dispatch.cpp picks one per
// model. Nothing here may be defined outside that namespace (see common/isa_ns.h).
#ifndef RNNLAB_KERNEL_ISA
#error "cpu_backend.cpp is compiled per ISA with -DRNNLAB_KERNEL_ISA=<name> (lib/CMakeLists.txt)"
#endif
#include <dnnl.h>
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <type_traits>

#include "common/cell_math.h"
#include "common/head.h"
#include "core/backend.h"
#include "core/error.h"
#include "core/pass_stats.h"
#include "cpu/fp_mode.h"
#include "cpu/xsmm.h"

namespace rnnlab {
namespace RNNLAB_KERNEL_ISA {
namespace {

// C (M x N) = alpha * op(A) op(B) + beta * C, row-major. Never throws (it also runs inside OpenMP
// regions); returns oneDNN's status.
dnnl_status_t gemm_status(bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha, const float *A, int64_t lda,
                          const float *B, int64_t ldb, float beta, float *C, int64_t ldc) {
  if (M == 0 || N == 0) return dnnl_success;
  if (K == 0) {
    for (int64_t i = 0; i < M; ++i)
      for (int64_t j = 0; j < N; ++j) C[i * ldc + j] = beta == 0.0f ? 0.0f : beta * C[i * ldc + j];
    return dnnl_success;
  }
  return dnnl_sgemm(ta ? 'T' : 'N', tb ? 'T' : 'N', M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

// C (M x N) = A (M x K) B (K x N), row-major, beta = 0: through k (libxsmm's kernel for exactly
// this shape and these leading dimensions) when there is one, else dnnl_sgemm. Never throws.
bool small_gemm(XsmmKernel k, int64_t M, int64_t N, int64_t K, const float *A, int64_t lda, const float *B,
                int64_t ldb, float *C, int64_t ldc) {
  if (k) {
    k(B, A, C);
    return true;
  }
  return gemm_status(false, false, M, N, K, 1.0f, A, lda, B, ldb, 0.0f, C, ldc) == dnnl_success;
}

void gemm(bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha, const float *A, int64_t lda,
          const float *B, int64_t ldb, float beta, float *C, int64_t ldc) {
  const dnnl_status_t st = gemm_status(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
  if (st != dnnl_success) raise(RNNLAB_E_INTERNAL, "dnnl_sgemm failed (status %d)", static_cast<int>(st));
}

// Grows v to n elements; capacity grows geometrically so that streaming steps stay amortised and a
// steady state of varying T and B allocates nothing.
template <class V>
void grow(V &v, size_t n) {
  if (n > v.capacity()) v.reserve(std::max(n, v.capacity() * 2));
  if (v.size() < n) v.resize(n);
}

// Applies the model's thread count to OpenMP (which oneDNN uses) for one call, then restores the
// calling thread's setting.
class ThreadScope {
 public:
  explicit ThreadScope(int n) : saved_(omp_get_max_threads()) { omp_set_num_threads(n); }
  ~ThreadScope() { omp_set_num_threads(saved_); }

 private:
  int saved_;
};


// ---- Fused row kernels: one sequence's H units. Restrict-qualified and branch-free so that the
// compiler vectorises them (with -fno-trapping-math, see lib/CMakeLists.txt).
#define RL_R __restrict

template <cell::Act A>
void rnn_fwd_row(int H, const float *RL_R gx, const float *RL_R gh, float *RL_R h) {
  for (int j = 0; j < H; ++j) h[j] = cell::activate(A, gx[j] + gh[j]);
}

// Two loops (the gates, then the candidate and h): one fused loop would hold more constants than
// there are vector registers, and spill. The second reads r and hn back from L1.
void gru_lbr_fwd_row(int H, const float *RL_R gx, const float *RL_R gh, const float *RL_R b_hn,
                     const float *RL_R hp, float *RL_R r, float *RL_R z, float *RL_R n, float *RL_R hn,
                     float *RL_R h) {
  for (int j = 0; j < H; ++j) {
    r[j] = cell::sigmoid(gx[j] + gh[j]);
    z[j] = cell::sigmoid(gx[H + j] + gh[H + j]);
    hn[j] = gh[2 * H + j] + b_hn[j];
  }
  for (int j = 0; j < H; ++j) {
    n[j] = cell::gru_lbr_candidate(gx[2 * H + j], r[j], hn[j]);
    h[j] = cell::gru_blend(z[j], n[j], hp[j]);
  }
}

void gru_rb_gates_row(int H, const float *RL_R gx, const float *RL_R gh, const float *RL_R hp, float *RL_R r,
                      float *RL_R z, float *RL_R rh) {
  for (int j = 0; j < H; ++j) {
    r[j] = cell::sigmoid(gx[j] + gh[j]);
    z[j] = cell::sigmoid(gx[H + j] + gh[H + j]);
    rh[j] = r[j] * hp[j];
  }
}

void gru_rb_cand_row(int H, const float *RL_R gx_n, const float *RL_R gh_n, const float *RL_R z,
                     const float *RL_R hp, float *RL_R n, float *RL_R h) {
  for (int j = 0; j < H; ++j) {
    n[j] = cell::gru_rb_candidate(gx_n[j], gh_n[j]);
    h[j] = cell::gru_blend(z[j], n[j], hp[j]);
  }
}

inline float nonfinite_f(float v) { return std::fabs(v) <= std::numeric_limits<float>::max() ? 0.0f : 1.0f; }

// Sum of squares with 8 independent float lanes (vectorisable without reassociation flags),
// finished in double.
inline double sum_sq(const float *RL_R v, int H) {
  float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  int j = 0;
  for (; j + 8 <= H; j += 8)
    for (int k = 0; k < 8; ++k) acc[k] += v[j + k] * v[j + k];
  double s = 0;
  for (; j < H; ++j) s += static_cast<double>(v[j]) * v[j];
  for (int k = 0; k < 8; ++k) s += acc[k];
  return s;
}

// Number of NaN/Inf in v: a vectorised test (v * 0 is NaN exactly when v is not finite), then an
// exact count only in the rare case that one is there.
inline float count_nonfinite(const float *RL_R v, int H) {
  float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  int j = 0;
  for (; j + 8 <= H; j += 8)
    for (int k = 0; k < 8; ++k) acc[k] += v[j + k] * 0.0f;
  float t = 0;
  for (; j < H; ++j) t += v[j] * 0.0f;
  for (int k = 0; k < 8; ++k) t += acc[k];
  if (t == 0.0f) return 0.0f;
  float c = 0;
  for (j = 0; j < H; ++j) c += nonfinite_f(v[j]);
  return c;
}

// Non-finite entries among a GRU row's h, r, z, n. A NaN gate always makes h NaN (r feeds n, and
// (1 - z) * n + z * h_prev is NaN when any factor is), and the float gate functions never return
// Inf, so the gates are only scanned in the rare row whose h holds a non-finite value.
inline float gru_activation_nonfinite(int H, const float *h, const float *r, const float *z, const float *n) {
  const float bh = count_nonfinite(h, H);
  return bh == 0.0f ? 0.0f : bh + count_nonfinite(r, H) + count_nonfinite(z, H) + count_nonfinite(n, H);
}

// Returns ||delta||^2 when norms (else 0: nothing at diag level off needs it); bad += non-finite
// entries of delta and the activations.
template <cell::Act A>
double rnn_bwd_row(int H, const float *RL_R delta, const float *RL_R h, float *RL_R dgx, float *RL_R dgh,
                   float *RL_R dprev, float *bad, bool norms) {
  for (int j = 0; j < H; ++j) {
    const float da = delta[j] * cell::act_derivative_from_output(A, h[j]);
    dgx[j] = da;
    dgh[j] = da;
    dprev[j] = 0.0f;
  }
  *bad += count_nonfinite(delta, H) + count_nonfinite(h, H);
  return norms ? sum_sq(delta, H) : 0.0;
}

double gru_lbr_bwd_row(int H, const float *RL_R delta, const float *RL_R r, const float *RL_R z,
                       const float *RL_R n, const float *RL_R hn, const float *RL_R hp, const float *RL_R h,
                       float *RL_R dgx, float *RL_R dgh, float *RL_R dprev, float *bad, bool norms) {
  for (int j = 0; j < H; ++j) {
    const cell::GruGrad<float> gg = cell::gru_lbr_backward(delta[j], r[j], z[j], n[j], hn[j], hp[j]);
    dgx[j] = gg.da_r;
    dgh[j] = gg.da_r;
    dgx[H + j] = gg.da_z;
    dgh[H + j] = gg.da_z;
    dgx[2 * H + j] = gg.da_n;
    dgh[2 * H + j] = gg.dhn;
    dprev[j] = gg.dh_prev;
  }
  *bad += count_nonfinite(delta, H) + gru_activation_nonfinite(H, h, r, z, n);
  return norms ? sum_sq(delta, H) : 0.0;
}

double gru_rb_bwd_row(int H, const float *RL_R delta, const float *RL_R r, const float *RL_R z,
                      const float *RL_R n, const float *RL_R hp, const float *RL_R h, float *RL_R dgx,
                      float *RL_R dgh, float *RL_R dprev, float *bad, bool norms) {
  for (int j = 0; j < H; ++j) {
    const cell::GruGrad<float> gg = cell::gru_rb_backward_candidate(delta[j], z[j], n[j], hp[j]);
    dgx[H + j] = gg.da_z;
    dgh[H + j] = gg.da_z;
    dgx[2 * H + j] = gg.da_n;
    dgh[2 * H + j] = gg.da_n;
    dprev[j] = gg.dh_prev;
  }
  *bad += count_nonfinite(delta, H) + gru_activation_nonfinite(H, h, r, z, n);
  return norms ? sum_sq(delta, H) : 0.0;
}

void gru_rb_reset_row(int H, const float *RL_R drh, const float *RL_R r, const float *RL_R hp, float *RL_R dgx,
                      float *RL_R dgh, float *RL_R dprev) {
  for (int j = 0; j < H; ++j) {
    float dp = dprev[j];
    const float da = cell::gru_rb_backward_reset(drh[j], r[j], hp[j], &dp);
    dprev[j] = dp;
    dgx[j] = da;
    dgh[j] = da;
  }
}

// Forward-side diagnostic sums of one row (diagnostics.md), float partial sums over the H units.
template <cell::Act A>
void hidden_sums_row(int H, const float *RL_R h, float thr, double *out) {
  float sat = 0, satf = 0, act = 0;
  for (int j = 0; j < H; ++j) {
    const float d = cell::hidden_sat_distance(A, h[j]);
    sat += d;
    satf += d < thr ? 1.0f : 0.0f;
    act += cell::act_derivative_from_output(A, h[j]);
  }
  out[kSat] = sat;
  out[kSatFrac] = satf;
  out[kAct] = act;
}

void gate_sums_row(int H, const float *RL_R r, const float *RL_R z, const float *RL_R n, const float *RL_R gx_z,
                   const float *RL_R gh_z, float thr, double *out) {
  float cand = 0, zs = 0, rs = 0, zsf = 0, rsf = 0, zm = 0, rm = 0, zp = 0;
  for (int j = 0; j < H; ++j) {
    const float dz = cell::unit_interval_sat_distance(z[j]), dr = cell::unit_interval_sat_distance(r[j]);
    cand += 1.0f - n[j] * n[j];
    zs += dz;
    rs += dr;
    zsf += dz < thr ? 1.0f : 0.0f;
    rsf += dr < thr ? 1.0f : 0.0f;
    zm += z[j];
    rm += r[j];
    zp += gx_z[j] + gh_z[j];
  }
  out[kCand] = cand;
  out[kZSat] = zs;
  out[kRSat] = rs;
  out[kZSatFrac] = zsf;
  out[kRSatFrac] = rsf;
  out[kZMean] = zm;
  out[kRMean] = rm;
  out[kZPre] = zp;
}

// ---- Eval mode in blocks of sequences (CpuBackend::step_eval). Unit-major layout: unit j of a
// block of nb sequences is one contiguous row of nb values, so each pass below is a flat loop over
// the block whatever H is. bias is step()'s input-side bias; b_hn the hidden-side candidate bias.
// LBR in two passes per row (two logistic functions, then tanh): one fused loop would hold more
// constants than there are vector registers, and spill.
void gru_lbr_eval_gates_row(int nb, const float *RL_R ar, const float *RL_R az, float br, float bz, float *RL_R z,
                            float *RL_R r) {
  for (int b = 0; b < nb; ++b) {
    z[b] = cell::sigmoid(az[b] + bz);
    r[b] = cell::sigmoid(ar[b] + br);
  }
}

void gru_lbr_eval_cand_row(int nb, const float *RL_R gxn, const float *RL_R ghn, float bn, float bhn,
                           const float *RL_R r, const float *RL_R z, const float *RL_R hp, float *RL_R h) {
  for (int b = 0; b < nb; ++b)
    h[b] = cell::gru_blend(z[b], cell::gru_lbr_candidate(gxn[b] + bn, r[b], ghn[b] + bhn), hp[b]);
}

void gru_rb_eval_gates_row(int nb, const float *RL_R ar, const float *RL_R az, float br, float bz,
                           const float *RL_R hp, float *RL_R z, float *RL_R rh) {
  for (int b = 0; b < nb; ++b) {
    z[b] = cell::sigmoid(az[b] + bz);
    rh[b] = cell::sigmoid(ar[b] + br) * hp[b];
  }
}

// an: W_hn (r * h) + W_in x, without biases.
void gru_rb_eval_cand_row(int nb, const float *RL_R an, float bn, float bhn, const float *RL_R z,
                          const float *RL_R hp, float *RL_R h) {
  for (int b = 0; b < nb; ++b) h[b] = cell::gru_blend(z[b], cell::gru_rb_candidate(an[b] + bn, bhn), hp[b]);
}

template <cell::Act A>
void rnn_eval_row(int nb, const float *RL_R a, float bias, float *RL_R h) {
  for (int b = 0; b < nb; ++b) h[b] = cell::activate(A, a[b] + bias);
}

template <class F>
void with_act(cell::Act a, F &&f) {
  switch (a) {
    case cell::Act::Tanh: f(std::integral_constant<cell::Act, cell::Act::Tanh>()); break;
    case cell::Act::Sigmoid: f(std::integral_constant<cell::Act, cell::Act::Sigmoid>()); break;
    case cell::Act::Relu: f(std::integral_constant<cell::Act, cell::Act::Relu>()); break;
    default: f(std::integral_constant<cell::Act, cell::Act::Linear>()); break;
  }
}

constexpr int kChunk = 32;  // steps per weight-gradient GEMM in backward
// Multiply-adds of one step's recurrent GEMM up to which a training pass splits the batch over its
// threads rather than each GEMM (CpuBackend::teams).
constexpr double kRowsMaxMacs = 2.0 * 1024 * 1024;
// Eval calls with fewer (step, sequence) pairs than this take the recording path: packing the
// stacked weights once per call (G*H*(H+I) floats) costs more than their GEMMs (T = 1, B = 1,
// H = 181: 28 us per step blocked, 11 us recording).
constexpr int64_t kEvalBlockedMin = 32;
// Steps per input-projection GEMM in forward: as many as keep its output (B x 3H floats a step) in
// about 256 KiB, so that the gate pass reads it from L2 (at P1, B*3H*4 bytes is already 139 KiB).
inline int forward_chunk(int B, int GH) {
  const size_t per_step = static_cast<size_t>(B) * GH * sizeof(float);
  return static_cast<int>(std::max<size_t>(1, std::min<size_t>(kChunk, (256u << 10) / per_step)));
}

// The training passes' per-step GEMMs for one thread's nb rows, where libxsmm is preferred for the
// shape (null: dnnl_sgemm). Forward: h W_hh^T against the packed W_hh^T (and reset-before's
// (r * h) W_hn^T); backward: dL/dh_{t-1} += dG W_hh.
struct RowKernels {
  XsmmKernel fwd = nullptr, fwd_n = nullptr, bwd = nullptr;
};

// The eval-mode GEMMs' libxsmm kernels for one block width nb (null: dnnl_sgemm).
struct EvalKernels {
  int nb = -1;
  XsmmKernel main = nullptr, second = nullptr;
  XsmmKernel head = nullptr;  // head_w (O x H) times the block's h (H x nb), unit-major like the rest
};

class CpuBackend final : public Backend {
 public:
  CpuBackend(const ModelSpec &s, const CpuOptions &o)
      : s_(s), L_(make_layout(s)), threads_(o.threads), flush_(o.denormals == RNNLAB_DENORMALS_FLUSH),
        xsmm_(xsmm_usable(o.isa)) {}

  rnnlab_backend kind() const override { return RNNLAB_BACKEND_CPU; }
  bool omega_grad_supported() const override { return true; }

  void reset(int B, const float *h0) override {
    grow(h_, static_cast<size_t>(B) * s_.H);
    h_.resize(static_cast<size_t>(B) * s_.H);
    if (h0) std::copy(h0, h0 + h_.size(), h_.begin());
    else std::fill(h_.begin(), h_.end(), 0.0f);
    B_ = B;
    n_ = 0;
    consumed_ = false;
    grad_steps_ = 0;
  }

  int tape_steps() const override { return consumed_ ? 0 : n_; }
  void clear_tape() override {
    n_ = 0;
    consumed_ = false;
  }
  int batch() const override { return B_; }
  void hidden(float *h) const override { std::copy(h_.begin(), h_.begin() + static_cast<size_t>(B_) * s_.H, h); }
  int grad_steps() const override { return grad_steps_; }
  void input_grad(float *dx) const override {
    std::copy(dx_.begin(), dx_.begin() + static_cast<size_t>(grad_steps_) * B_ * s_.I, dx);
  }
  void h0_grad(float *dh0) const override { std::copy(dh0_.begin(), dh0_.begin() + static_cast<size_t>(B_) * s_.H, dh0); }
  int jacobian_steps() const override { return n_; }

  void step(const float *p, const float *x, int T, float *y, bool record, const DiagSettings &ds) override {
    ThreadScope ts(threads_);
    FlushDenormalsScope fz(flush_, threads_);
    const int B = B_, H = s_.H, I = s_.I, G = s_.gates();
    const size_t BH = static_cast<size_t>(B) * H;
    if (consumed_) {  // a new tape starts after a backward
      n_ = 0;
      consumed_ = false;
    }
    // Eval mode: the blocked path, unless the call is too small (streaming, T * B < kEvalBlockedMin) to
    // pay for its per-call weight packing; then the recording path below runs on the (empty: eval
    // mode keeps no tape) tape and forgets it.
    if (!record && (static_cast<int64_t>(T) * B >= kEvalBlockedMin || n_ != 0)) {
      step_eval(p, x, T, y);
      return;
    }
    // This call's steps go after the tape.
    const int base = n_;
    const int steps = base + T;
    const bool full = record && ds.level >= RNNLAB_DIAG_FULL;
    // Reserve everything first: nothing below allocates or throws (but for a GEMM failure).
    Tape &tp = tape_;
    grow(tp.h, (static_cast<size_t>(steps) + 1) * BH);
    const size_t gate_steps = static_cast<size_t>(steps);
    if (s_.is_gru()) {
      grow(tp.r, gate_steps * BH);
      grow(tp.z, gate_steps * BH);
      grow(tp.n, gate_steps * BH);
      if (s_.lbr()) grow(tp.hn, gate_steps * BH);
    }
    grow(tp.x, static_cast<size_t>(steps) * B * I);
    grow(tp.y, static_cast<size_t>(steps) * B * s_.out_width());
    if (full) grow(fwd_, static_cast<size_t>(steps) * kNumFwd);
    grow(gx_, static_cast<size_t>(kChunk) * B * G * H);
    grow(gh_, static_cast<size_t>(B) * G * H);
    grow(rh_, BH);
    const int fchunk = forward_chunk(B, G * H);
    if (full) grow(fsum_b_, static_cast<size_t>(fchunk) * B * kNumFwd);

    // The tape keeps x for dW_ih.
    std::copy(x, x + static_cast<size_t>(T) * B * I, tp.x.begin() + static_cast<size_t>(base) * B * I);
    const float *xs = tp.x.data() + static_cast<size_t>(base) * B * I;
    if (base == 0) std::copy(h_.begin(), h_.begin() + BH, tp.h.begin());
    input_bias(p);
    const int nth = std::max(1, std::min(threads_, B));
    const Teams tm = teams(B, nth, false);
    // libxsmm's per-step kernels (row_kernels) take W_hh^T: packed when a thread's rows use them.
    const bool packed = row_kernels((B + tm.team - 1) / tm.team).fwd || row_kernels(B / tm.team).fwd;
    if (packed) pack_whh_t(p);

    for (int c0 = 0; c0 < T; c0 += fchunk) {
      const int cn = std::min(fchunk, T - c0);
      // gx = x W_ih^T + bias for cn steps at once.
      const float *xc = xs + static_cast<size_t>(c0) * B * I;
      for (int r = 0; r < cn * B; ++r) std::copy(bias_.begin(), bias_.begin() + G * H, gx_.begin() + static_cast<size_t>(r) * G * H);
      gemm(false, true, static_cast<int64_t>(cn) * B, G * H, I, 1.0f, xc, I, p + L_.w_ih, I, 1.0f, gx_.data(), G * H);
      // The chunk's steps, each thread of the team its own rows (teams(), forward_rows).
      const RowsOut fo = run_teams(tm, B, [&](int b0, int b1, int inner) {
        RowsOut o;
        RowKernels rk = row_kernels(b1 - b0);
        if (!packed) rk.fwd = rk.fwd_n = nullptr;
        for (int k = 0; k < cn; ++k) {
          double *fs = full ? fsum_b_.data() + static_cast<size_t>(k) * B * kNumFwd : nullptr;
          if (!forward_rows(p, base + c0 + k, gx_.data() + static_cast<size_t>(k) * B * G * H, tp, fs, ds, b0, b1, rk,
                            inner))
            ++o.failed;
        }
        return o;
      });
      if (fo.failed) raise(RNNLAB_E_INTERNAL, "dnnl_sgemm failed in a forward step");
      // Each step's sums over the batch, in sequence order (the same whatever the thread count).
      if (full) {
        for (int k = 0; k < cn; ++k) {
          const double *fs = fsum_b_.data() + static_cast<size_t>(k) * B * kNumFwd;
          double *fwd = fwd_.data() + static_cast<size_t>(base + c0 + k) * kNumFwd;
          for (int q = 0; q < kNumFwd; ++q) {
            double sum = 0;
            for (int b = 0; b < B; ++b) sum += fs[static_cast<size_t>(b) * kNumFwd + q];
            fwd[q] = sum;
          }
        }
      }
    }
    // Outputs of every step of this call.
    const int W = s_.out_width();
    const float *hs = tp.h.data() + (static_cast<size_t>(base) + 1) * BH;
    float *ys = tp.y.data() + static_cast<size_t>(base) * B * W;
    if (s_.has_head()) {
      for (int r = 0; r < T * B; ++r) std::copy(p + L_.head_b, p + L_.head_b + s_.O, ys + static_cast<size_t>(r) * W);
      gemm(false, true, static_cast<int64_t>(T) * B, s_.O, H, 1.0f, hs, H, p + L_.head_w, H, 1.0f, ys, W);
    } else {
      std::copy(hs, hs + static_cast<size_t>(T) * BH, ys);
    }
    std::copy(ys, ys + static_cast<size_t>(T) * B * W, y);
    std::copy(tp.h.begin() + static_cast<size_t>(steps) * BH, tp.h.begin() + (static_cast<size_t>(steps) + 1) * BH, h_.begin());
    if (!record) return;  // a small eval call: nothing stays on the tape
    n_ = steps;
    tape_level_full_ = base == 0 ? full : tape_level_full_;
  }

  void backward(const float *p, float *g, const TargetsView &tg, const DiagSettings &ds, PassStats *st) override {
    ThreadScope ts(threads_);
    FlushDenormalsScope fz(flush_, threads_);
    const int n = n_, B = B_, H = s_.H, I = s_.I, G = s_.gates(), W = s_.out_width();
    const size_t BH = static_cast<size_t>(B) * H, GH = static_cast<size_t>(G) * H;
    Tape &tp = tape_;
    if (ds.omega_grad && s_.is_gru())
      raise(RNNLAB_E_UNSUPPORTED, "the Omega gradient is defined for vanilla RNNs only, not for a GRU");
    const bool want_og = ds.omega_grad && st;
    if (want_og) {
      grow(og_, static_cast<size_t>(H) * H);
      grow(gs_, BH);
      std::fill(og_.begin(), og_.begin() + static_cast<size_t>(H) * H, 0.0f);
    }
    int64_t og_valid = 0;
    // Per-(t, b) norms of dL/dh_t and dL/dh_{t-1} feed every diagnostic beyond level off (and Omega).
    const bool norms = ds.level >= RNNLAB_DIAG_SUMMARY || ds.omega_grad;
    grow(dy_, static_cast<size_t>(n) * B * W);
    grow(dx_, static_cast<size_t>(n) * B * I);
    grow(dh0_, BH);
    grow(dnext_, BH);
    grow(delta_, BH);
    grow(dgx_, static_cast<size_t>(kChunk) * B * GH);
    grow(dgh_, static_cast<size_t>(kChunk) * B * GH);
    grow(drh_, BH);
    grow(rhc_, static_cast<size_t>(kChunk) * BH);
    grow(dn2_, static_cast<size_t>(n) * B);
    grow(pn2_, static_cast<size_t>(n) * B);
    const bool every = s_.head == RNNLAB_HEAD_EVERY_SOFTMAX || !s_.has_head() || tg.dy;
    if (s_.has_head() && every) grow(dhead_, static_cast<size_t>(n) * BH);

    // dL/dy of every step.
    double loss = std::numeric_limits<double>::quiet_NaN();
    if (tg.dy) {
      std::copy(tg.dy, tg.dy + static_cast<size_t>(n) * B * W, dy_.begin());
    } else {
      std::fill(dy_.begin(), dy_.begin() + static_cast<size_t>(n) * B * W, 0.0f);
      grow(ys_, static_cast<size_t>(n));
      grow(dys_, static_cast<size_t>(n));
      for (int t = 0; t < n; ++t) {
        ys_[t] = tp.y.data() + static_cast<size_t>(t) * B * W;
        dys_[t] = dy_.data() + static_cast<size_t>(t) * B * W;
      }
      loss = head_loss<float>(s_.head, s_.O, B, n, ys_.data(), tg.classes, tg.values, dys_.data(), nullptr, 0.0, threads_);
    }
    int64_t nonfinite = (!tg.dy && !std::isfinite(loss)) ? 1 : 0;
    int first_bad = -1;

    // The head: dW_y, db_y, and what it sends into each h_t.
    const float *hs = tp.h.data() + BH;  // h_1 .. h_n
    if (s_.has_head()) {
      const int t0 = every ? 0 : n - 1;
      const int64_t rows = static_cast<int64_t>(n - t0) * B;
      const float *dyr = dy_.data() + static_cast<size_t>(t0) * B * W;
      gemm(true, false, s_.O, H, rows, 1.0f, dyr, W, hs + static_cast<size_t>(t0) * BH, H, 1.0f, g + L_.head_w, H);
      for (int64_t r = 0; r < rows; ++r)
        for (int o = 0; o < s_.O; ++o) g[L_.head_b + o] += dyr[r * W + o];
      if (every) gemm(false, false, static_cast<int64_t>(n) * B, H, s_.O, 1.0f, dy_.data(), W, p + L_.head_w, H, 0.0f, dhead_.data(), H);
    }

    std::fill(dnext_.begin(), dnext_.begin() + BH, 0.0f);
    const int nth = std::max(1, std::min(threads_, B));
    const Teams tb = teams(B, nth, want_og);
    const float *w_hh = p + L_.w_hh, *w_ih = p + L_.w_ih;
    for (int c1 = n; c1 > 0; c1 -= kChunk) {
      const int c0 = std::max(0, c1 - kChunk), cn = c1 - c0;
      // Each thread of the team runs its own rows back through the chunk's steps (teams()): every
      // per-step product is row by row (delta, the gate gradients, dL/dh_{t-1} = dG W_hh). Omega's
      // per-step GEMM sums over the batch, so with it the team is one thread.
      const RowsOut bo = run_teams(tb, B, [&](int b0, int b1, int inner) {
        RowsOut o;
        const int nb = b1 - b0;
        const size_t ro = static_cast<size_t>(b0) * H, rn = static_cast<size_t>(nb) * H;
        const XsmmKernel dprev_kernel = row_kernels(nb).bwd;
        for (int t = c1 - 1; t >= c0 && nb > 0; --t) {
          float *dgx = dgx_.data() + static_cast<size_t>(t - c0) * B * GH;
          float *dgh = dgh_.data() + static_cast<size_t>(t - c0) * B * GH;
          // delta_t = recurrent part + head part.
          float *delta = delta_.data();
          float *dnext = dnext_.data();
          if (!s_.has_head()) {
            const float *d = dy_.data() + static_cast<size_t>(t) * BH;
            for (size_t k = ro; k < ro + rn; ++k) delta[k] = dnext[k] + d[k];
          } else if (every) {
            const float *d = dhead_.data() + static_cast<size_t>(t) * BH;
            for (size_t k = ro; k < ro + rn; ++k) delta[k] = dnext[k] + d[k];
          } else if (t == n - 1) {
            std::copy(dnext + ro, dnext + ro + rn, delta + ro);
            if (gemm_status(false, false, nb, H, s_.O, 1.0f, dy_.data() + (static_cast<size_t>(t) * B + b0) * W, W,
                            p + L_.head_w, H, 1.0f, delta + ro, H) != dnnl_success)
              ++o.failed;
          } else {
            std::copy(dnext + ro, dnext + ro + rn, delta + ro);
          }
          int64_t bad = 0;
          if (!backward_rows(p, t, delta, dgx, dgh, dnext, dn2_.data() + static_cast<size_t>(t) * B, norms, b0, b1,
                             &bad, inner))
            ++o.failed;
          if (bad) {
            o.bad += bad;
            o.first_bad = t;  // t descends: the last one kept is the smallest
          }
          // dL/dh_{t-1}: the matrix part, on top of the direct part backward_rows wrote.
          const int kk = s_.lbr() ? 3 * H : (s_.is_gru() ? 2 * H : H);
          if (dprev_kernel)
            dprev_kernel(w_hh, dgh + static_cast<size_t>(b0) * GH, dnext + ro);
          else if (gemm_status(false, false, nb, H, kk, 1.0f, dgh + static_cast<size_t>(b0) * GH, GH, w_hh, H, 1.0f,
                               dnext + ro, H) != dnnl_success)
            ++o.failed;
          double *pn = pn2_.data() + static_cast<size_t>(t) * B;
          if (norms) {
#pragma omp parallel for num_threads(inner) schedule(static) if (inner > 1)
            for (int b = b0; b < b1; ++b) pn[b] = sum_sq(dnext + static_cast<size_t>(b) * H, H);
          }
          if (want_og) {
            // Pascanu's Omega, immediate partial (tasks.md): for each valid (t, b), with g = dgh (the
            // gradient of the pre-activation) and v = dL/dh_{t-1} = W_hh^T g, add
            // 4 (||v||^2/||delta||^2 - 1) / ||delta||^2 * g v^T: one GEMM over the batch (a team of one).
            const double *dn = dn2_.data() + static_cast<size_t>(t) * B;
            for (int b = 0; b < B; ++b) {
              const bool valid = dn[b] >= ds.bound;
              const float coef = valid ? static_cast<float>(4.0 * (pn[b] / dn[b] - 1.0) / dn[b]) : 0.0f;
              og_valid += valid;
              for (int j = 0; j < H; ++j) gs_[static_cast<size_t>(b) * H + j] = coef * dgh[static_cast<size_t>(b) * GH + j];
            }
            if (gemm_status(true, false, H, H, B, 1.0f, gs_.data(), H, dnext, H, 1.0f, og_.data(), H) != dnnl_success)
              ++o.failed;
          }
        }
        return o;
      });
      if (bo.failed) raise(RNNLAB_E_INTERNAL, "dnnl_sgemm failed in a backward step");
      if (bo.bad) {
        nonfinite += bo.bad;
        first_bad = bo.first_bad;
      }
      // Weight gradients and dL/dx of the chunk: one GEMM each over cn*B rows.
      const int64_t rows = static_cast<int64_t>(cn) * B;
      const float *hprev = tp.h.data() + static_cast<size_t>(c0) * BH;
      const float *xc = tp.x.data() + static_cast<size_t>(c0) * B * I;
      gemm(true, false, GH, I, rows, 1.0f, dgx_.data(), GH, xc, I, 1.0f, g + L_.w_ih, I);
      gemm(false, false, rows, I, GH, 1.0f, dgx_.data(), GH, w_ih, I, 0.0f, dx_.data() + static_cast<size_t>(c0) * B * I, I);
      if (s_.is_gru() && !s_.lbr()) {
        // reset-before: r and z rows see h_{t-1}; the candidate rows see r * h_{t-1}.
        gemm(true, false, 2 * H, H, rows, 1.0f, dgh_.data(), GH, hprev, H, 1.0f, g + L_.w_hh, H);
        float *rh = rhc_.data();
        const float *r = tp.r.data() + static_cast<size_t>(c0) * BH;
        for (size_t k = 0; k < static_cast<size_t>(rows) * H; ++k) rh[k] = r[k] * hprev[k];
        gemm(true, false, H, H, rows, 1.0f, dgh_.data() + 2 * H, GH, rh, H, 1.0f, g + L_.w_hh + 2 * static_cast<size_t>(H) * H, H);
      } else {
        gemm(true, false, GH, H, rows, 1.0f, dgh_.data(), GH, hprev, H, 1.0f, g + L_.w_hh, H);
      }
      for (int64_t r = 0; r < rows; ++r) {
        const float *a = dgx_.data() + r * GH, *bb = dgh_.data() + r * GH;
        float *gbi = g + L_.b_ih, *gbh = g + L_.b_hh;
        for (size_t k = 0; k < GH; ++k) {
          gbi[k] += a[k];
          gbh[k] += bb[k];
        }
      }
    }
    std::copy(dnext_.begin(), dnext_.begin() + BH, dh0_.begin());
    grad_steps_ = n;
    for (size_t i = 0; i < L_.total; ++i) nonfinite += !std::isfinite(g[i]);
    fill_stats(loss, nonfinite, first_bad, ds, st);
    if (want_og) {
      st->omega_grad.assign(og_.begin(), og_.begin() + static_cast<size_t>(H) * H);
      if (og_valid > 0)
        for (double &v : st->omega_grad) v /= static_cast<double>(og_valid);
    }
    consumed_ = true;
  }

  double loss(const ModelSpec &spec, int B, int T, const float *const *ys, const int32_t *classes, const float *values,
              int32_t *n_wrong, double err_abs, int threads) const override {
    ThreadScope ts(threads);
    FlushDenormalsScope fz(flush_, threads);
    return head_loss<float>(spec.head, spec.O, B, T, ys, classes, values, nullptr, n_wrong, err_abs, threads);
  }

  void jacobian(const float *p, int t, int b, float *J) const override {
    FlushDenormalsScope fz(flush_, 1);  // single-threaded; double arithmetic, float results
    const size_t BH = static_cast<size_t>(B_) * s_.H, o = static_cast<size_t>(t) * BH + static_cast<size_t>(b) * s_.H;
    const Tape &tp = tape_;
    const bool gru = s_.is_gru();
    // h_{t-1} of step t is slot t of the tape, h_t slot t + 1.
    step_jacobian(s_, p + L_.w_hh, tp.h.data() + o, tp.h.data() + o + BH, gru ? tp.r.data() + o : nullptr,
                  gru ? tp.z.data() + o : nullptr, gru ? tp.n.data() + o : nullptr,
                  gru && s_.lbr() ? tp.hn.data() + o : nullptr, J);
  }


 private:
  struct Tape {
    std::vector<float> h, r, z, n, hn, x, y;
  };

  // Input-side bias into bias_: r and z get both biases (they are only ever summed); n gets b_in
  // only (b_hn sits inside r * (...) for the LBR GRU, and with W_hn (r*h) for reset-before).
  void input_bias(const float *p) {
    const int GH = s_.gates() * s_.H, H = s_.H;
    grow(bias_, static_cast<size_t>(GH));
    const float *b_ih = p + L_.b_ih, *b_hh = p + L_.b_hh;
    for (int k = 0; k < GH; ++k) bias_[k] = b_ih[k] + (k < 2 * H || !s_.is_gru() ? b_hh[k] : 0.0f);
  }

  // Sequences per block in eval mode: the block's workspace ((8H + 3I) rows, eval_block_run) in
  // about 256 KiB of L2, a multiple of 8 (the vector width), and at least one block per thread.
  static int eval_block(int B, int H, int I, int nt) {
    const int per_seq = (8 * H + 3 * I) * static_cast<int>(sizeof(float));
    int bb = std::max(8, std::min(128, (256 << 10) / per_seq / 8 * 8));
    const int fair = (B + nt - 1) / nt;
    bb = std::min(bb, (fair + 7) / 8 * 8);
    return std::max(1, std::min(bb, B));
  }

  // The eval-mode weights with the input side beside the hidden side, so that one GEMM over the
  // stacked [h; x] (K = H + I) does the recurrent and the input projection at once:
  //   vanilla RNN  [W_hh W_ih]                                  H x (H + I)
  //   LBR GRU      [W_hr W_ir; W_hz W_iz; W_hn 0]              3H x (H + I)  (W_in x by its own GEMM)
  //   reset-before [W_hr W_ir; W_hz W_iz] then [W_hn W_in]     3H x (H + I)  (two GEMMs)
  void pack_eval_weights(const float *p) {
    const int H = s_.H, I = s_.I, G = s_.gates(), K = H + I;
    grow(wcat_, static_cast<size_t>(G) * H * K);
    const float *w_ih = p + L_.w_ih, *w_hh = p + L_.w_hh;
    for (int r = 0; r < G * H; ++r) {
      float *row = wcat_.data() + static_cast<size_t>(r) * K;
      std::copy(w_hh + static_cast<size_t>(r) * H, w_hh + static_cast<size_t>(r + 1) * H, row);
      const bool lbr_n = s_.is_gru() && s_.lbr() && r >= 2 * H;
      if (lbr_n) std::fill(row + H, row + K, 0.0f);
      else std::copy(w_ih + static_cast<size_t>(r) * I, w_ih + static_cast<size_t>(r + 1) * I, row + H);
    }
  }

  // Eval mode (nothing recorded). Sequences are independent, so each block of sequences runs all
  // T steps on its own thread, with no barrier per step, in a unit-major layout (H rows of the
  // block's nb sequences): the GEMMs are weights times [h; x]^T, each gate pass a flat loop over
  // a row, and the block's whole workspace stays in L2. The head's outputs go straight into y.
  void step_eval(const float *p, const float *x, int T, float *y) {
    const int B = B_, H = s_.H, I = s_.I;
    const int nt = threads_;
    const int Bb = eval_block(B, H, I, nt);
    const int nblk = (B + Bb - 1) / Bb;
    const int nth = std::min(nt, nblk);
    const size_t per = static_cast<size_t>(8 * H + 3 * I + s_.O) * Bb;
    grow(ews_, per * nth);
    input_bias(p);
    pack_eval_weights(p);
    // At most two block widths: Bb, and what is left for the last block.
    const EvalKernels full = eval_kernels(Bb), tail = eval_kernels(B - (nblk - 1) * Bb);
    int failed = 0;
#pragma omp parallel for num_threads(nth) schedule(static) reduction(+ : failed)
    for (int k = 0; k < nblk; ++k) {
      const int b0 = k * Bb, nb = std::min(Bb, B - b0);
      const EvalKernels &ek = nb == full.nb ? full : tail;
      if (!eval_block_run(p, x, T, y, b0, nb, ek, ews_.data() + per * omp_get_thread_num())) ++failed;
    }
    if (failed) raise(RNNLAB_E_INTERNAL, "a GEMM failed in an eval-mode step");
  }

  // One block of nb sequences from b0 through T steps; ws holds (8H + 3I + O) * nb floats. Returns
  // false if a GEMM failed (nothing may throw inside the parallel region).
  bool eval_block_run(const float *p, const float *x, int T, float *y, int b0, int nb, const EvalKernels &ek,
                      float *ws) {
    const int B = B_, H = s_.H, I = s_.I, O = s_.O, W = s_.out_width(), K = H + I;
    const size_t HN = static_cast<size_t>(H) * nb, KN = static_cast<size_t>(K) * nb;
    // g: up to 3H rows of GEMM output; gxn: W_in x (LBR); sa, sb: [h; x] of the previous and the
    // new step; za: z; rs: r (LBR) or [r * h; x] (reset-before).
    float *g = ws, *gxn = g + 3 * HN, *sa = gxn + HN, *sb = sa + KN, *za = sb + KN, *rs = za + HN;
    const float *wc = wcat_.data(), *b_hn = p + L_.b_hh + 2 * H, *bias = bias_.data();
    const float *w_in = p + L_.w_ih + 2 * static_cast<size_t>(H) * I;
    bool ok = true;
    for (int b = 0; b < nb; ++b)
      for (int j = 0; j < H; ++j) sa[static_cast<size_t>(j) * nb + b] = h_[static_cast<size_t>(b0 + b) * H + j];
    for (int t = 0; t < T; ++t) {
      // x_t^T below h in the stacked operand (and below r * h for reset-before's second GEMM).
      const float *xt = x + (static_cast<size_t>(t) * B + b0) * I;
      for (int i = 0; i < I; ++i) {
        float *row = sa + HN + static_cast<size_t>(i) * nb;
        for (int b = 0; b < nb; ++b) row[b] = xt[static_cast<size_t>(b) * I + i];
      }
      if (s_.is_gru() && s_.lbr()) {
        ok &= small_gemm(ek.main, 3 * H, nb, K, wc, K, sa, nb, g, nb);
        ok &= small_gemm(ek.second, H, nb, I, w_in, I, sa + HN, nb, gxn, nb);
        for (int j = 0; j < H; ++j) {
          const size_t r = static_cast<size_t>(j) * nb, z = r + HN, n = z + HN;
          gru_lbr_eval_gates_row(nb, g + r, g + z, bias[j], bias[H + j], za + r, rs + r);
          gru_lbr_eval_cand_row(nb, gxn + r, g + n, bias[2 * H + j], b_hn[j], rs + r, za + r, sa + r, sb + r);
        }
      } else if (s_.is_gru()) {
        ok &= small_gemm(ek.main, 2 * H, nb, K, wc, K, sa, nb, g, nb);
        for (int j = 0; j < H; ++j) {
          const size_t r = static_cast<size_t>(j) * nb, z = r + HN;
          gru_rb_eval_gates_row(nb, g + r, g + z, bias[j], bias[H + j], sa + r, za + r, rs + r);
        }
        std::copy(sa + HN, sa + KN, rs + HN);
        // a_n^T = [W_hn W_in] [r * h; x]^T
        ok &= small_gemm(ek.second, H, nb, K, wc + 2 * static_cast<size_t>(H) * K, K, rs, nb, g + 2 * HN, nb);
        for (int j = 0; j < H; ++j) {
          const size_t r = static_cast<size_t>(j) * nb, n = r + 2 * HN;
          gru_rb_eval_cand_row(nb, g + n, bias[2 * H + j], b_hn[j], za + r, sa + r, sb + r);
        }
      } else {
        ok &= small_gemm(ek.main, H, nb, K, wc, K, sa, nb, g, nb);
        with_act(s_.act(), [&](auto A) {
          for (int j = 0; j < H; ++j) {
            const size_t r = static_cast<size_t>(j) * nb;
            rnn_eval_row<decltype(A)::value>(nb, g + r, bias[j], sb + r);
          }
        });
      }
      // Outputs of step t for the block's rows of y.
      float *yt = y + (static_cast<size_t>(t) * B + b0) * W;
      if (s_.has_head() && ek.head) {
        // Unit-major logits (O rows of nb), then into y's rows with the bias.
        float *yo = rs + KN;
        ek.head(sb, p + L_.head_w, yo);
        const float *hb = p + L_.head_b;
        for (int b = 0; b < nb; ++b)
          for (int o = 0; o < O; ++o) yt[static_cast<size_t>(b) * W + o] = yo[static_cast<size_t>(o) * nb + b] + hb[o];
      } else if (s_.has_head()) {
        for (int b = 0; b < nb; ++b) std::copy(p + L_.head_b, p + L_.head_b + O, yt + static_cast<size_t>(b) * W);
        ok &= gemm_status(true, true, nb, O, H, 1.0f, sb, nb, p + L_.head_w, H, 1.0f, yt, W) == dnnl_success;
      } else {
        for (int b = 0; b < nb; ++b)
          for (int j = 0; j < H; ++j) yt[static_cast<size_t>(b) * W + j] = sb[static_cast<size_t>(j) * nb + b];
      }
      std::swap(sa, sb);
    }
    for (int b = 0; b < nb; ++b)
      for (int j = 0; j < H; ++j) h_[static_cast<size_t>(b0 + b) * H + j] = sa[static_cast<size_t>(j) * nb + b];
    return ok;
  }

  // How a training pass spreads its steps over nth threads. Small steps (P2: 20 x 150 x 50 per
  // recurrent GEMM): a team of nth, each thread its own rows through a whole chunk of steps with
  // no barrier, its GEMMs on that thread alone. Large steps (P1: 64 x 543 x 181): a team of one,
  // whose GEMMs oneDNN threads itself and whose row loops run in parallel (inner): there the
  // GEMM split by rows ran 12 % slower per flop and P1 at 2 threads lost ~20 % (bench/gemm_shapes).
  struct Teams {
    int team, inner;
  };
  // What one thread's rows report back from a team: GEMM failures, non-finite values, and the
  // smallest step t that had one (-1: none). Combined the same whatever the order.
  struct RowsOut {
    int failed = 0;
    int64_t bad = 0;
    int first_bad = -1;
    void add(const RowsOut &o) {
      failed += o.failed;
      bad += o.bad;
      if (o.first_bad >= 0 && (first_bad < 0 || o.first_bad < first_bad)) first_bad = o.first_bad;
    }
  };
  // Runs body(b0, b1, inner) -> RowsOut over the batch as teams() says. A team of one runs on the
  // calling thread, outside any parallel region, so that oneDNN's GEMMs and the `inner` row loops
  // are top-level regions (nested inside even a one-thread region, libgomp would build a new team
  // for every one of them: P1 at 2 threads took twice as long).
  template <class F>
  static RowsOut run_teams(const Teams &tm, int B, F &&body) {
    if (tm.team <= 1) return body(0, B, tm.inner);
    RowsOut total;
#pragma omp parallel num_threads(tm.team)
    {
      const int id = omp_get_thread_num(), nteam = omp_get_num_threads();
      const RowsOut mine = body(static_cast<int>(static_cast<int64_t>(B) * id / nteam),
                                static_cast<int>(static_cast<int64_t>(B) * (id + 1) / nteam), 1);
#pragma omp critical(rnnlab_cpu_rows_out)
      total.add(mine);
    }
    return total;
  }
  Teams teams(int B, int nth, bool single) const {
    const int H = s_.H, GH = s_.gates() * H;
    const bool rows = !single && static_cast<double>(B) * GH * H <= kRowsMaxMacs;
    return rows ? Teams{nth, 1} : Teams{1, nth};
  }

  // One forward step t for the sequences b0 .. b1-1: gx holds x_t W_ih^T + bias (B x G*H). Reads
  // h_{t-1} from slot t of the tape and writes h_t to slot t+1; with fs (full diagnostics), each
  // sequence's forward sums into fs[b * kNumFwd ...]. Sequences are independent in a forward step:
  // run by each thread of a team of several for its own rows (its GEMMs on that thread alone:
  // oneDNN does not nest), or by a team of one for all rows with `inner` threads for the row loops
  // and oneDNN's own for the GEMMs (teams()). Returns false if a GEMM failed (nothing may throw
  // inside a team).
  bool forward_rows(const float *p, int t, const float *gx, Tape &tp, double *fs, const DiagSettings &ds, int b0,
                    int b1, const RowKernels &rk, int inner) {
    const int B = B_, H = s_.H, G = s_.gates(), nb = b1 - b0;
    const size_t BH = static_cast<size_t>(B) * H, GH = static_cast<size_t>(G) * H;
    const size_t ro = static_cast<size_t>(b0) * H;  // the first row's offset in B x H arrays
    const float *hp = tp.h.data() + static_cast<size_t>(t) * BH;
    float *hnew = tp.h.data() + (static_cast<size_t>(t) + 1) * BH;
    const float *w_hh = p + L_.w_hh, *b_hh = p + L_.b_hh;
    float *gh = gh_.data();
    const float thr = static_cast<float>(ds.sat_thresh);
    bool ok = true;
    if (nb <= 0) return ok;
    if (!s_.is_gru()) {
      if (rk.fwd) rk.fwd(wT_.data(), hp + ro, gh + ro);
      else ok &= gemm_status(false, true, nb, H, H, 1.0f, hp + ro, H, w_hh, H, 0.0f, gh + ro, H) == dnnl_success;
      with_act(s_.act(), [&](auto A) {
#pragma omp parallel for num_threads(inner) schedule(static) if (inner > 1)
        for (int b = b0; b < b1; ++b) {
          const size_t o = static_cast<size_t>(b) * H;
          rnn_fwd_row<decltype(A)::value>(H, gx + o, gh + o, hnew + o);
          if (fs) hidden_sums_row<decltype(A)::value>(H, hnew + o, thr, fs + static_cast<size_t>(b) * kNumFwd);
        }
      });
      return ok;
    }
    const size_t gt = static_cast<size_t>(t);
    float *rt = tp.r.data() + gt * BH, *zt = tp.z.data() + gt * BH;
    float *nt_ = tp.n.data() + gt * BH;
    const size_t go = static_cast<size_t>(b0) * GH;  // the first row's offset in B x G*H arrays
    if (s_.lbr()) {
      if (rk.fwd) rk.fwd(wT_.data(), hp + ro, gh + go);
      else ok &= gemm_status(false, true, nb, 3 * H, H, 1.0f, hp + ro, H, w_hh, H, 0.0f, gh + go, 3 * H) == dnnl_success;
      const float *b_hn = b_hh + 2 * H;
      float *hnt = tp.hn.data() + gt * BH;
#pragma omp parallel for num_threads(inner) schedule(static) if (inner > 1)
      for (int b = b0; b < b1; ++b) {
        const size_t o = static_cast<size_t>(b) * H;
        gru_lbr_fwd_row(H, gx + b * GH, gh + b * GH, b_hn, hp + o, rt + o, zt + o, nt_ + o, hnt + o, hnew + o);
      }
    } else {
      if (rk.fwd) rk.fwd(wT_.data(), hp + ro, gh + go);
      else ok &= gemm_status(false, true, nb, 2 * H, H, 1.0f, hp + ro, H, w_hh, H, 0.0f, gh + go, 3 * H) == dnnl_success;
      float *rh = rh_.data();
#pragma omp parallel for num_threads(inner) schedule(static) if (inner > 1)
      for (int b = b0; b < b1; ++b) {
        const size_t o = static_cast<size_t>(b) * H;
        gru_rb_gates_row(H, gx + b * GH, gh + b * GH, hp + o, rt + o, zt + o, rh + o);
      }
      // a_hn = (r * h) W_hn^T + b_hn, into the n columns of gh.
#pragma omp parallel for num_threads(inner) schedule(static) if (inner > 1)
      for (int b = b0; b < b1; ++b) std::copy(b_hh + 2 * H, b_hh + 3 * H, gh + b * GH + 2 * H);
      if (rk.fwd_n) rk.fwd_n(wT_.data() + 2 * H, rh + ro, gh + go + 2 * H);
      else
        ok &= gemm_status(false, true, nb, H, H, 1.0f, rh + ro, H, w_hh + 2 * static_cast<size_t>(H) * H, H, 1.0f,
                          gh + go + 2 * H, 3 * H) == dnnl_success;
#pragma omp parallel for num_threads(inner) schedule(static) if (inner > 1)
      for (int b = b0; b < b1; ++b) {
        const size_t o = static_cast<size_t>(b) * H;
        gru_rb_cand_row(H, gx + b * GH + 2 * H, gh + b * GH + 2 * H, zt + o, hp + o, nt_ + o, hnew + o);
      }
    }
    if (fs) {
#pragma omp parallel for num_threads(inner) schedule(static) if (inner > 1)
      for (int b = b0; b < b1; ++b) {
        const size_t o = static_cast<size_t>(b) * H;
        double *out = fs + static_cast<size_t>(b) * kNumFwd;
        hidden_sums_row<cell::Act::Tanh>(H, hnew + o, thr, out);
        gate_sums_row(H, rt + o, zt + o, nt_ + o, gx + b * GH + H, gh + b * GH + H, thr, out);
      }
    }
    return ok;
  }

  // One backward step t for the sequences b0 .. b1-1 from delta = dL/dh_t (B x H): writes their
  // gate gradients (input side dgx, hidden side dgh, B x G*H), the direct part of dL/dh_{t-1} into
  // dprev, ||delta_b||^2 into dn2; adds the non-finite values among h_t, the gates and delta to *bad.
  // Like forward_rows: one thread's rows, its GEMMs on that thread. Returns false if a GEMM failed.
  bool backward_rows(const float *p, int t, const float *delta, float *dgx, float *dgh, float *dprev, double *dn2,
                     bool norms, int b0, int b1, int64_t *bad, int inner) {
    const int B = B_, H = s_.H, G = s_.gates(), nb = b1 - b0;
    const size_t BH = static_cast<size_t>(B) * H, GH = static_cast<size_t>(G) * H;
    const Tape &tp = tape_;
    const float *hp = tp.h.data() + static_cast<size_t>(t) * BH, *ht = hp + BH;
    float nbad = 0;
    if (nb <= 0) return true;
    if (!s_.is_gru()) {
      with_act(s_.act(), [&](auto A) {
#pragma omp parallel for num_threads(inner) schedule(static) if (inner > 1) reduction(+ : nbad)
        for (int b = b0; b < b1; ++b) {
          const size_t o = static_cast<size_t>(b) * H;
          dn2[b] = rnn_bwd_row<decltype(A)::value>(H, delta + o, ht + o, dgx + o, dgh + o, dprev + o, &nbad, norms);
        }
      });
      *bad += static_cast<int64_t>(nbad);
      return true;
    }
    const float *r = tp.r.data() + static_cast<size_t>(t) * BH, *z = tp.z.data() + static_cast<size_t>(t) * BH;
    const float *n = tp.n.data() + static_cast<size_t>(t) * BH;
    if (s_.lbr()) {
      const float *hn = tp.hn.data() + static_cast<size_t>(t) * BH;
#pragma omp parallel for num_threads(inner) schedule(static) if (inner > 1) reduction(+ : nbad)
      for (int b = b0; b < b1; ++b) {
        const size_t o = static_cast<size_t>(b) * H;
        dn2[b] = gru_lbr_bwd_row(H, delta + o, r + o, z + o, n + o, hn + o, hp + o, ht + o, dgx + b * GH, dgh + b * GH,
                                 dprev + o, &nbad, norms);
      }
      *bad += static_cast<int64_t>(nbad);
      return true;
    }
    // Reset-before: r's gradient needs d(r*h) = da_n W_hn, a GEMM between two unit passes.
#pragma omp parallel for num_threads(inner) schedule(static) if (inner > 1) reduction(+ : nbad)
    for (int b = b0; b < b1; ++b) {
      const size_t o = static_cast<size_t>(b) * H;
      dn2[b] = gru_rb_bwd_row(H, delta + o, r + o, z + o, n + o, hp + o, ht + o, dgx + b * GH, dgh + b * GH, dprev + o,
                              &nbad, norms);
    }
    *bad += static_cast<int64_t>(nbad);
    float *drh = drh_.data();
    const size_t ro = static_cast<size_t>(b0) * H;
    if (gemm_status(false, false, nb, H, H, 1.0f, dgh + static_cast<size_t>(b0) * GH + 2 * H, GH,
                    p + L_.w_hh + 2 * static_cast<size_t>(H) * H, H, 0.0f, drh + ro, H) != dnnl_success)
      return false;
#pragma omp parallel for num_threads(inner) schedule(static) if (inner > 1)
    for (int b = b0; b < b1; ++b) {
      const size_t o = static_cast<size_t>(b) * H;
      gru_rb_reset_row(H, drh + o, r + o, hp + o, dgx + b * GH, dgh + b * GH, dprev + o);
    }
    return true;
  }

  void fill_stats(double loss, int64_t nonfinite, int first_bad, const DiagSettings &ds, PassStats *st) {
    // fwd_ holds each step's sums over the batch already (forward_step): one slot per step.
    finish_pass_stats(s_, n_, B_, loss, nonfinite, first_bad, ds, dn2_.data(), pn2_.data(),
                      tape_level_full_ ? fwd_.data() : nullptr, 1, st);
  }

  ModelSpec s_;
  Layout L_;
  int threads_;
  bool flush_;
  bool xsmm_;  // the eval-mode GEMMs may use libxsmm (cpu/xsmm.h)
  int B_ = 0, n_ = 0, grad_steps_ = 0;
  bool consumed_ = false, tape_level_full_ = false;
  Tape tape_;
  EvalKernels eval_kernels(int nb) const {
    EvalKernels e;
    e.nb = nb;
    if (!xsmm_) return e;
    const int H = s_.H, I = s_.I, K = H + I;
    auto pick = [&](int M, int N, int Kd, int lda) {
      return xsmm_prefer(M, N, Kd) ? xsmm_rowmajor(M, N, Kd, lda, nb, nb, false) : nullptr;
    };
    if (s_.is_gru() && s_.lbr()) {
      e.main = pick(3 * H, nb, K, K);
      e.second = pick(H, nb, I, I);
    } else if (s_.is_gru()) {
      e.main = pick(2 * H, nb, K, K);
      e.second = pick(H, nb, K, K);
    } else {
      e.main = pick(H, nb, K, K);
    }
    if (s_.has_head()) e.head = pick(s_.O, nb, H, H);
    return e;
  }

  // The per-step kernels for nb rows (RowKernels); fwd ones need wT_ packed (pack_whh_t).
  RowKernels row_kernels(int nb) const {
    RowKernels k;
    if (!xsmm_ || nb <= 0) return k;
    const int H = s_.H, G = s_.gates(), GH = G * H;
    const int fn = s_.is_gru() && !s_.lbr() ? 2 * H : GH;  // columns of the first forward product
    if (xsmm_prefer(nb, fn, H)) k.fwd = xsmm_rowmajor(nb, fn, H, H, GH, GH, false);
    if (s_.is_gru() && !s_.lbr() && xsmm_prefer(nb, H, H)) k.fwd_n = xsmm_rowmajor(nb, H, H, H, GH, GH, true);
    const int kk = s_.is_gru() ? (s_.lbr() ? 3 * H : 2 * H) : H;
    if (xsmm_prefer(nb, H, kk)) k.bwd = xsmm_rowmajor(nb, H, kk, GH, H, H, true);
    return k;
  }

  // wT_ = W_hh^T (H x G*H), the layout libxsmm's forward kernels take, once per step() call.
  void pack_whh_t(const float *p) {
    const int H = s_.H, GH = s_.gates() * H;
    grow(wT_, static_cast<size_t>(H) * GH);
    const float *w = p + L_.w_hh;
    for (int r = 0; r < GH; ++r)
      for (int c = 0; c < H; ++c) wT_[static_cast<size_t>(c) * GH + r] = w[static_cast<size_t>(r) * H + c];
  }

  std::vector<float> h_, gx_, gh_, rh_, bias_, ews_, wcat_, wT_;
  std::vector<double> fwd_, fsum_b_;
  std::vector<float> dy_, dx_, dh0_, dnext_, delta_, dgx_, dgh_, drh_, rhc_, dhead_;
  std::vector<double> dn2_, pn2_;
  std::vector<const float *> ys_;
  std::vector<float *> dys_;
  std::vector<float> og_, gs_;  // Omega gradient accumulator (H x H) and scaled g rows (B x H)
};

}  // namespace

std::unique_ptr<Backend> make_cpu_backend_isa(const ModelSpec &spec, const CpuOptions &options) {
  return std::make_unique<CpuBackend>(spec, options);
}

}  // namespace RNNLAB_KERNEL_ISA
}  // namespace rnnlab
