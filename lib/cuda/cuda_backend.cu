// RNNLAB_BACKEND_CUDA: rnnlab's own kernels on an NVIDIA GPU, shaped like the CPU backend
// (lib/cpu/cpu_backend.cpp), so that the two read side by side:
//   forward   one cuBLAS GEMM for the input projection of a chunk of steps, one recurrent GEMM per
//             step, then one fused kernel per step that applies the cell (common/cell_math.h, the
//             same __host__ __device__ functions the CPU kernels call), writes the tape and, at
//             diag level full, the forward-side sums of diagnostics.md;
//   backward  per step one fused kernel (gate gradients, ||dL/dh_t||^2, non-finite counts) and one
//             GEMM for dL/dh_{t-1}; per chunk of steps the weight-gradient GEMMs and dL/dx.
// Every per-step sum is reduced by one thread block per sequence in a fixed tree and written to its
// own slot; the host adds the slots in sequence order. No atomics anywhere: the same inputs give the
// same bits, run after run.
//
// The seam (backend.h hands host params / grads to every call): this backend keeps a device copy of
// the parameters together with a host image of what it uploaded, and uploads again only when the
// caller's parameters differ from that image (a memcmp of 4 bytes per parameter on the host, about a
// tenth of the cost of the upload itself, and no change to the core or the CPU backend). Training
// changes the parameters every update, so there the upload is paid once per update; gradients come
// back once per backward. At seed size that is 2 x 400 KB per update; gpu_check.sh measures it.
//
// The loss and dL/dy are computed on the host by common/head.h from the outputs the step already
// brought back to the caller, so losses agree with the CPU backend's bit for bit given the same y.
#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <cudnn.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include "common/cell_math.h"
#include "common/head.h"
#include "core/backend.h"
#include "core/error.h"
#include "core/pass_stats.h"

namespace rnnlab {

namespace {

// ---- errors ---------------------------------------------------------------------------------------
void cuda_check(cudaError_t e, const char *what) {
  if (e == cudaSuccess) return;
  cudaGetLastError();  // clear the sticky-free error so that the next call starts clean
  if (e == cudaErrorMemoryAllocation) raise(RNNLAB_E_NO_MEMORY, "CUDA: out of device memory in %s", what);
  raise(RNNLAB_E_INTERNAL, "CUDA: %s failed: %s", what, cudaGetErrorString(e));
}

void blas_check(cublasStatus_t s, const char *what) {
  if (s == CUBLAS_STATUS_SUCCESS) return;
  if (s == CUBLAS_STATUS_ALLOC_FAILED) raise(RNNLAB_E_NO_MEMORY, "cuBLAS: out of memory in %s", what);
  raise(RNNLAB_E_INTERNAL, "cuBLAS: %s failed (status %d)", what, static_cast<int>(s));
}

void launch_check(const char *what) { cuda_check(cudaGetLastError(), what); }

void dnn_check(cudnnStatus_t s, const char *what) {
  if (s == CUDNN_STATUS_SUCCESS) return;
  if (s == CUDNN_STATUS_ALLOC_FAILED) raise(RNNLAB_E_NO_MEMORY, "cuDNN: out of memory in %s", what);
  raise(RNNLAB_E_INTERNAL, "cuDNN: %s failed: %s", what, cudnnGetErrorString(s));
}

// ---- device buffers -------------------------------------------------------------------------------
// A device array that only grows. Growth is geometric (streaming T = 1 calls stay amortised) and keeps
// the old contents (the tape grows under a live sequence). A failed growth throws before anything
// else changed: the old allocation is still there and still holds the same values.
template <class T>
class DevVec {
 public:
  DevVec() = default;
  DevVec(const DevVec &) = delete;
  DevVec &operator=(const DevVec &) = delete;
  ~DevVec() {
    if (p_) cudaFree(p_);
  }
  T *data() { return p_; }
  const T *data() const { return p_; }
  size_t capacity() const { return cap_; }
  void grow(size_t n, cudaStream_t s) {
    if (n <= cap_) return;
    const size_t want = std::max(n, cap_ * 2);
    T *q = nullptr;
    cuda_check(cudaMalloc(reinterpret_cast<void **>(&q), want * sizeof(T)), "cudaMalloc");
    if (p_) {
      const cudaError_t e = cudaMemcpyAsync(q, p_, cap_ * sizeof(T), cudaMemcpyDeviceToDevice, s);
      const cudaError_t e2 = e == cudaSuccess ? cudaStreamSynchronize(s) : e;
      if (e2 != cudaSuccess) {
        cudaFree(q);
        cuda_check(e2, "cudaMemcpy (growing a device buffer)");
      }
      cudaFree(p_);
    }
    p_ = q;
    cap_ = want;
  }

 private:
  T *p_ = nullptr;
  size_t cap_ = 0;
};

// ---- kernels ----------------------------------------------------------------------------------------
// Forward-side sums of one step: core/pass_stats.h's FwdSum order (kSat ... kNumFwd).

constexpr int kThreads = 128;  // threads per block; one block per sequence in every row kernel

// Sums v over the block in a fixed tree (deterministic); every thread gets the total. sh holds
// kThreads doubles.
__device__ double block_sum(double v, double *sh) {
  sh[threadIdx.x] = v;
  __syncthreads();
  for (int s = kThreads / 2; s > 0; s >>= 1) {
    if (threadIdx.x < s) sh[threadIdx.x] += sh[threadIdx.x + s];
    __syncthreads();
  }
  const double total = sh[0];
  __syncthreads();
  return total;
}

__device__ __forceinline__ double nonfinite_d(float v) { return isfinite(v) ? 0.0 : 1.0; }

// Sums kNumFwd per-thread partials over the block and writes them to out[0..kNumFwd) (thread 0).
__device__ void write_fwd_sums(const double *part, double *out, double *sh) {
  for (int k = 0; k < kNumFwd; ++k) {
    const double s = block_sum(part[k], sh);
    if (threadIdx.x == 0) out[k] = s;
  }
}

// dst[r * ld + c] = v[c] for r < rows, c < cols.
__global__ void k_bias_rows(float *dst, const float *v, int64_t rows, int cols, int ld) {
  const int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
  if (i >= rows * cols) return;
  const int64_t r = i / cols;
  const int c = static_cast<int>(i % cols);
  dst[r * ld + c] = v[c];
}

__global__ void k_fill(float *dst, int64_t n, float v) {
  const int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
  if (i < n) dst[i] = v;
}

// y[i] = a[i] * b[i]
__global__ void k_mul(float *y, const float *a, const float *b, int64_t n) {
  const int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
  if (i < n) y[i] = a[i] * b[i];
}

// Vanilla RNN forward, one block per sequence b: h = act(gx + gh).
template <cell::Act A>
__global__ void k_rnn_fwd(int H, const float *gx, const float *gh, float *hnew, double *fs, float thr) {
  __shared__ double sh[kThreads];
  const int b = blockIdx.x;
  const size_t o = static_cast<size_t>(b) * H;
  double part[kNumFwd] = {};
  for (int j = threadIdx.x; j < H; j += kThreads) {
    const float h = cell::activate(A, gx[o + j] + gh[o + j]);
    hnew[o + j] = h;
    const float d = cell::hidden_sat_distance(A, h);
    part[kSat] += d;
    part[kSatFrac] += d < thr ? 1.0 : 0.0;
    part[kAct] += cell::act_derivative_from_output(A, h);
  }
  if (fs) write_fwd_sums(part, fs + static_cast<size_t>(b) * kNumFwd, sh);
}

// GRU forward-side sums of one unit.
__device__ __forceinline__ void gru_sums(double *part, float h, float r, float z, float n, float zpre, float thr) {
  const float d = cell::hidden_sat_distance(cell::Act::Tanh, h);
  part[kSat] += d;
  part[kSatFrac] += d < thr ? 1.0 : 0.0;
  part[kAct] += cell::act_derivative_from_output(cell::Act::Tanh, h);
  const float dz = cell::unit_interval_sat_distance(z), dr = cell::unit_interval_sat_distance(r);
  part[kCand] += 1.0f - n * n;
  part[kZSat] += dz;
  part[kRSat] += dr;
  part[kZSatFrac] += dz < thr ? 1.0 : 0.0;
  part[kRSatFrac] += dr < thr ? 1.0 : 0.0;
  part[kZMean] += z;
  part[kRMean] += r;
  part[kZPre] += zpre;
}

// LBR GRU forward: gx, gh are B x 3H (gx with the input-side bias of r, z plus b_hh of r, z; gh
// without bias); b_hn the hidden-side candidate bias.
__global__ void k_gru_lbr_fwd(int H, const float *gx, const float *gh, const float *b_hn, const float *hp, float *r,
                              float *z, float *n, float *hn, float *hnew, double *fs, float thr) {
  __shared__ double sh[kThreads];
  const int b = blockIdx.x;
  const size_t o = static_cast<size_t>(b) * H, g = static_cast<size_t>(b) * 3 * H;
  double part[kNumFwd] = {};
  for (int j = threadIdx.x; j < H; j += kThreads) {
    const float zpre = gx[g + H + j] + gh[g + H + j];
    const float hnj = gh[g + 2 * H + j] + b_hn[j];
    const cell::GruUnit<float> u = cell::gru_lbr_forward(gx[g + j] + gh[g + j], zpre, gx[g + 2 * H + j], hnj, hp[o + j]);
    r[o + j] = u.r;
    z[o + j] = u.z;
    n[o + j] = u.n;
    hn[o + j] = hnj;
    hnew[o + j] = u.h;
    if (fs) gru_sums(part, u.h, u.r, u.z, u.n, zpre, thr);
  }
  if (fs) write_fwd_sums(part, fs + static_cast<size_t>(b) * kNumFwd, sh);
}

// Reset-before GRU, gates: r, z and r * h_prev.
__global__ void k_gru_rb_gates(int H, const float *gx, const float *gh, const float *hp, float *r, float *z,
                               float *rh) {
  const int b = blockIdx.x;
  const size_t o = static_cast<size_t>(b) * H, g = static_cast<size_t>(b) * 3 * H;
  for (int j = threadIdx.x; j < H; j += kThreads) {
    const float rj = cell::sigmoid(gx[g + j] + gh[g + j]);
    r[o + j] = rj;
    z[o + j] = cell::sigmoid(gx[g + H + j] + gh[g + H + j]);
    rh[o + j] = rj * hp[o + j];
  }
}

// Reset-before GRU, candidate and blend: gh's n columns hold W_hn (r * h) + b_hn.
__global__ void k_gru_rb_cand(int H, const float *gx, const float *gh, const float *hp, const float *r,
                              const float *z, float *n, float *hnew, double *fs, float thr) {
  __shared__ double sh[kThreads];
  const int b = blockIdx.x;
  const size_t o = static_cast<size_t>(b) * H, g = static_cast<size_t>(b) * 3 * H;
  double part[kNumFwd] = {};
  for (int j = threadIdx.x; j < H; j += kThreads) {
    const float nj = cell::gru_rb_candidate(gx[g + 2 * H + j], gh[g + 2 * H + j]);
    const float h = cell::gru_blend(z[o + j], nj, hp[o + j]);
    n[o + j] = nj;
    hnew[o + j] = h;
    if (fs) gru_sums(part, h, r[o + j], z[o + j], nj, gx[g + H + j] + gh[g + H + j], thr);
  }
  if (fs) write_fwd_sums(part, fs + static_cast<size_t>(b) * kNumFwd, sh);
}

// Backward, one block per sequence: delta = dnext + add (add may be null). Writes the gate
// gradients (dgx input side, dgh hidden side, B x G*H), overwrites dnext with the direct part of
// dL/dh_{t-1}, and writes ||delta||^2 (dn2) and the non-finite count of delta, h_t and the gates
// (bad) into the sequence's slots.
template <cell::Act A>
__global__ void k_rnn_bwd(int H, float *dnext, const float *add, const float *h, float *dgx, float *dgh, double *dn2,
                          double *bad) {
  __shared__ double sh[kThreads];
  const int b = blockIdx.x;
  const size_t o = static_cast<size_t>(b) * H;
  double s2 = 0, nb = 0;
  for (int j = threadIdx.x; j < H; j += kThreads) {
    const float d = dnext[o + j] + (add ? add[o + j] : 0.0f);
    const float da = d * cell::act_derivative_from_output(A, h[o + j]);
    dgx[o + j] = da;
    dgh[o + j] = da;
    dnext[o + j] = 0.0f;
    s2 += static_cast<double>(d) * d;
    nb += nonfinite_d(d) + nonfinite_d(h[o + j]);
  }
  s2 = block_sum(s2, sh);
  nb = block_sum(nb, sh);
  if (threadIdx.x == 0) {
    dn2[b] = s2;
    bad[b] = nb;
  }
}

__global__ void k_gru_bwd(int H, bool lbr, float *dnext, const float *add, const float *r, const float *z,
                          const float *n, const float *hn, const float *hp, const float *h, float *dgx, float *dgh,
                          double *dn2, double *bad) {
  __shared__ double sh[kThreads];
  const int b = blockIdx.x;
  const size_t o = static_cast<size_t>(b) * H, g = static_cast<size_t>(b) * 3 * H;
  double s2 = 0, nb = 0;
  for (int j = threadIdx.x; j < H; j += kThreads) {
    const float d = dnext[o + j] + (add ? add[o + j] : 0.0f);
    cell::GruGrad<float> gg;
    if (lbr) {
      gg = cell::gru_lbr_backward(d, r[o + j], z[o + j], n[o + j], hn[o + j], hp[o + j]);
      dgx[g + j] = gg.da_r;
      dgh[g + j] = gg.da_r;
    } else {
      gg = cell::gru_rb_backward_candidate(d, z[o + j], n[o + j], hp[o + j]);
    }
    dgx[g + H + j] = gg.da_z;
    dgh[g + H + j] = gg.da_z;
    dgx[g + 2 * H + j] = gg.da_n;
    dgh[g + 2 * H + j] = gg.dhn;
    dnext[o + j] = gg.dh_prev;
    s2 += static_cast<double>(d) * d;
    nb += nonfinite_d(d) + nonfinite_d(h[o + j]) + nonfinite_d(r[o + j]) + nonfinite_d(z[o + j]) +
          nonfinite_d(n[o + j]);
  }
  s2 = block_sum(s2, sh);
  nb = block_sum(nb, sh);
  if (threadIdx.x == 0) {
    dn2[b] = s2;
    bad[b] = nb;
  }
}

// Reset-before: r's gradient from drh = W_hn^T da_n, and the r-path into dL/dh_{t-1}.
__global__ void k_gru_rb_reset(int H, const float *drh, const float *r, const float *hp, float *dgx, float *dgh,
                               float *dnext) {
  const int b = blockIdx.x;
  const size_t o = static_cast<size_t>(b) * H, g = static_cast<size_t>(b) * 3 * H;
  for (int j = threadIdx.x; j < H; j += kThreads) {
    float dp = dnext[o + j];
    const float da = cell::gru_rb_backward_reset(drh[o + j], r[o + j], hp[o + j], &dp);
    dnext[o + j] = dp;
    dgx[g + j] = da;
    dgh[g + j] = da;
  }
}

// ||dL/dh_{t-1}||^2 per sequence; with gs, also the Omega-gradient rows
// gs_b = 4 (pn2/dn2 - 1)/dn2 * dgh_b (zero where dn2 < bound), the CPU backend's formula.
__global__ void k_prev_norm(int H, int GH, const float *dprev, double *pn2, const double *dn2, const float *dgh,
                            float *gs, double bound) {
  __shared__ double sh[kThreads];
  const int b = blockIdx.x;
  const size_t o = static_cast<size_t>(b) * H;
  double s2 = 0;
  for (int j = threadIdx.x; j < H; j += kThreads) s2 += static_cast<double>(dprev[o + j]) * dprev[o + j];
  s2 = block_sum(s2, sh);
  if (threadIdx.x == 0) pn2[b] = s2;
  if (!gs) return;
  const double dn = dn2[b];
  const float coef = dn >= bound ? static_cast<float>(4.0 * (s2 / dn - 1.0) / dn) : 0.0f;
  for (int j = threadIdx.x; j < H; j += kThreads) gs[o + j] = coef * dgh[static_cast<size_t>(b) * GH + j];
}

// Non-finite entries of v, as kNfBlocks partial counts (each block its own slot; the host adds them).
constexpr int kNfBlocks = 64;
__global__ void k_count_nonfinite(const float *v, int64_t n, double *part) {
  __shared__ double sh[kThreads];
  double c = 0;
  for (int64_t i = blockIdx.x * static_cast<int64_t>(kThreads) + threadIdx.x; i < n;
       i += static_cast<int64_t>(kNfBlocks) * kThreads)
    c += nonfinite_d(v[i]);
  c = block_sum(c, sh);
  if (threadIdx.x == 0) part[blockIdx.x] = c;
}

int blocks_for(int64_t n) { return static_cast<int>((n + 255) / 256); }

constexpr int kChunk = 64;  // steps per input-projection GEMM (forward) and weight-gradient GEMM (backward)

template <class V>
void grow_host(V &v, size_t n) {
  if (n > v.capacity()) v.reserve(std::max(n, v.capacity() * 2));
  if (v.size() < n) v.resize(n);
}

// Owns the stream and the cuBLAS handle.
struct Context {
  cudaStream_t stream = nullptr;
  cublasHandle_t blas = nullptr;
  ~Context() {
    if (blas) cublasDestroy(blas);
    if (stream) cudaStreamDestroy(stream);
  }
};

// cuDNN's fused recurrence (opt-in: RNNLAB_CUDA_CUDNN=1 in the environment), for the cells it has:
// the LBR GRU and the tanh / relu RNNs. Both biases are passed (a held b_hh keeps its held value; the
// core zeroes held gradients), FP32 FMA math (no TF32), a dropout descriptor with p = 0.
struct CudnnRnn {
  cudnnHandle_t h = nullptr;
  cudnnDropoutDescriptor_t drop = nullptr;
  cudnnRNNDescriptor_t rnn = nullptr;
  cudnnRNNDataDescriptor_t xd = nullptr, yd = nullptr;
  cudnnTensorDescriptor_t hd = nullptr, md = nullptr, bd = nullptr;
  DevVec<char> drop_states, ws, rs, w, dw;
  DevVec<int32_t> lens;
  size_t wsize = 0, work = 0, reserve = 0;
  int T = -1, B = -1;
  bool w_valid = false;
  ~CudnnRnn() {
    if (xd) cudnnDestroyRNNDataDescriptor(xd);
    if (yd) cudnnDestroyRNNDataDescriptor(yd);
    if (hd) cudnnDestroyTensorDescriptor(hd);
    if (md) cudnnDestroyTensorDescriptor(md);
    if (bd) cudnnDestroyTensorDescriptor(bd);
    if (rnn) cudnnDestroyRNNDescriptor(rnn);
    if (drop) cudnnDestroyDropoutDescriptor(drop);
    if (h) cudnnDestroy(h);
  }
};

class CudaBackend final : public Backend {
 public:
  explicit CudaBackend(const ModelSpec &s) : s_(s), L_(make_layout(s)) {
    cuda_check(cudaStreamCreateWithFlags(&ctx_.stream, cudaStreamNonBlocking), "cudaStreamCreate");
    blas_check(cublasCreate(&ctx_.blas), "cublasCreate");
    blas_check(cublasSetStream(ctx_.blas, ctx_.stream), "cublasSetStream");
    // FP32 arithmetic in every GEMM (no TF32), as on the CPU: the parity tolerances assume it.
    blas_check(cublasSetMathMode(ctx_.blas, CUBLAS_PEDANTIC_MATH), "cublasSetMathMode");
    const char *e = std::getenv("RNNLAB_CUDA_CUDNN");
    const bool has = s.cell == RNNLAB_CELL_GRU || s.cell == RNNLAB_CELL_RNN_TANH || s.cell == RNNLAB_CELL_RNN_RELU;
    cudnn_on_ = has && e && e[0] == '1' && e[1] == '\0';
  }

  rnnlab_backend kind() const override { return RNNLAB_BACKEND_CUDA; }
  bool omega_grad_supported() const override { return true; }

  void reset(int B, const float *h0) override {
    const size_t BH = static_cast<size_t>(B) * s_.H;
    h_.grow(BH, st());
    std::vector<float> zeros;
    if (!h0) zeros.assign(BH, 0.0f);
    upload(h_.data(), h0 ? h0 : zeros.data(), BH);
    sync();
    B_ = B;
    n_ = 0;
    consumed_ = false;
    tape_cudnn_ = false;
    grad_steps_ = 0;
  }

  int tape_steps() const override { return consumed_ ? 0 : n_; }
  void clear_tape() override {
    n_ = 0;
    consumed_ = false;
    tape_cudnn_ = false;
  }
  int batch() const override { return B_; }
  void hidden(float *h) const override {
    download(h, h_.data(), static_cast<size_t>(B_) * s_.H);
    sync();
  }
  int grad_steps() const override { return grad_steps_; }
  void input_grad(float *dx) const override {
    std::copy(dx_host_.begin(), dx_host_.begin() + static_cast<size_t>(grad_steps_) * B_ * s_.I, dx);
  }
  void h0_grad(float *dh0) const override {
    std::copy(dh0_host_.begin(), dh0_host_.begin() + static_cast<size_t>(B_) * s_.H, dh0);
  }
  int jacobian_steps() const override { return n_; }

  void step(const float *p, const float *x, int T, float *y, bool record, const DiagSettings &ds) override {
    const int B = B_, H = s_.H, I = s_.I, G = s_.gates(), W = s_.out_width();
    const size_t BH = static_cast<size_t>(B) * H, GH = static_cast<size_t>(G) * H;
    const int base = consumed_ ? 0 : n_;
    const int steps = base + T;
    const bool full = record && ds.level >= RNNLAB_DIAG_FULL;
    const int fchunk = std::min(kChunk, T);
    // Reserve everything first (growth keeps contents): nothing below allocates.
    cudaStream_t s = st();
    if (record) {
      tp_h_.grow((static_cast<size_t>(steps) + 1) * BH, s);
      if (s_.is_gru()) {
        tp_r_.grow(steps * BH, s);
        tp_z_.grow(steps * BH, s);
        tp_n_.grow(steps * BH, s);
        if (s_.lbr()) tp_hn_.grow(steps * BH, s);
      }
      tp_x_.grow(static_cast<size_t>(steps) * B * I, s);
      grow_host(tp_y_, static_cast<size_t>(steps) * B * W);
      if (full) fwd_.grow(static_cast<size_t>(steps) * B * kNumFwd, s);
    } else {
      ev_h_.grow((static_cast<size_t>(fchunk) + 1) * BH, s);
      if (s_.is_gru()) {
        ev_r_.grow(BH, s);
        ev_z_.grow(BH, s);
        ev_n_.grow(BH, s);
        ev_hn_.grow(BH, s);
      }
      ev_x_.grow(static_cast<size_t>(fchunk) * B * I, s);
    }
    gx_.grow(static_cast<size_t>(fchunk) * B * GH, s);
    gh_.grow(static_cast<size_t>(B) * GH, s);
    rh_.grow(BH, s);
    ys_.grow(static_cast<size_t>(fchunk) * B * W, s);
    params_.grow(L_.total, s);
    bias_.grow(GH, s);
    grow_host(param_image_, L_.total);
    grow_host(bias_host_, GH);
    // cuDNN runs a whole tape recorded by one call at level off; anything else runs rnnlab's kernels
    // (a tape cuDNN recorded is first re-run by them: materialize()).
    const bool use_dnn = cudnn_on_ && record && base == 0 && ds.level == RNNLAB_DIAG_OFF;
    if (use_dnn) {
      snap_.grow(L_.total, s);
      snap_bias_.grow(GH, s);
      dnn_nf_.grow(kNfBlocks, s);
    }
    upload_params(p);
    if (use_dnn) cudnn_setup(T, B);
    if (record && base > 0 && tape_cudnn_) materialize(base);

    if (consumed_) {  // a new tape starts after a backward
      n_ = 0;
      consumed_ = false;
    }
    if (record) tape_cudnn_ = false;
    const float *dp = params_.data();
    const float thr = static_cast<float>(ds.sat_thresh);
    // Slot 0 of this call's h range is the current hidden state (an eval call in between may have
    // moved it past the tape's last slot).
    float *hs_base = record ? tp_h_.data() + static_cast<size_t>(base) * BH : ev_h_.data();
    copy_d2d(hs_base, h_.data(), BH);
    if (record) upload(tp_x_.data() + static_cast<size_t>(base) * B * I, x, static_cast<size_t>(T) * B * I);
    if (use_dnn) {
      // The parameters of this tape, for materialize(); then cuDNN's forward straight into the tape's
      // h slots. A non-finite h (the gates are then finite too) hands the tape to rnnlab's kernels,
      // which count non-finite values per step as diagnostics.md says.
      copy_d2d(snap_.data(), dp, L_.total);
      copy_d2d(snap_bias_.data(), bias_.data(), GH);
      cudnn_load_weights(dp);
      dnn_check(cudnnRNNForward(dnn_.h, dnn_.rnn, CUDNN_FWD_MODE_TRAINING, dnn_.lens.data(), dnn_.xd, tp_x_.data(),
                                dnn_.yd, tp_h_.data() + BH, dnn_.hd, tp_h_.data(), h_.data(), dnn_.hd, nullptr,
                                nullptr, dnn_.wsize, dnn_.w.data(), dnn_.work, dnn_.ws.data(), dnn_.reserve,
                                dnn_.rs.data()),
                "cudnnRNNForward");
      tape_cudnn_ = true;
      if (count_nonfinite(tp_h_.data() + BH, static_cast<int64_t>(T) * BH) > 0) materialize(T);
    }

    for (int c0 = 0; c0 < T; c0 += fchunk) {
      const int cn = std::min(fchunk, T - c0);
      const float *xc;
      float *hc;  // slot 0: h before the chunk's first step; slot k + 1: after its step k
      if (record) {
        xc = tp_x_.data() + (static_cast<size_t>(base) + c0) * B * I;
        hc = tp_h_.data() + (static_cast<size_t>(base) + c0) * BH;
      } else {
        upload(ev_x_.data(), x + static_cast<size_t>(c0) * B * I, static_cast<size_t>(cn) * B * I);
        xc = ev_x_.data();
        hc = ev_h_.data();
        if (c0 > 0) copy_d2d(hc, hc + static_cast<size_t>(fchunk) * BH, BH);
      }
      // gx = x W_ih^T + bias for cn steps at once.
      if (!use_dnn) {
        bias_rows(gx_.data(), bias_.data(), static_cast<int64_t>(cn) * B, static_cast<int>(GH), static_cast<int>(GH));
        gemm(false, true, static_cast<int64_t>(cn) * B, GH, I, 1.0f, xc, I, dp + L_.w_ih, I, 1.0f, gx_.data(), GH);
      }
      for (int k = 0; k < cn && !use_dnn; ++k) {
        const size_t t = static_cast<size_t>(base) + c0 + k;
        const float *hp = hc + static_cast<size_t>(k) * BH;
        float *hnew = hc + static_cast<size_t>(k + 1) * BH;
        float *r = nullptr, *z = nullptr, *n = nullptr, *hn = nullptr;
        if (s_.is_gru()) {
          r = record ? tp_r_.data() + t * BH : ev_r_.data();
          z = record ? tp_z_.data() + t * BH : ev_z_.data();
          n = record ? tp_n_.data() + t * BH : ev_n_.data();
          hn = record && s_.lbr() ? tp_hn_.data() + t * BH : ev_hn_.data();
        }
        double *fs = full ? fwd_.data() + t * B * kNumFwd : nullptr;
        forward_step(dp, gx_.data() + static_cast<size_t>(k) * B * GH, hp, hnew, r, z, n, hn, fs, thr);
      }
      // Outputs of the chunk's steps, into the caller's y (and the host copy of the tape's y).
      const float *hsc = hc + BH;
      float *yc = y + static_cast<size_t>(c0) * B * W;
      if (s_.has_head()) {
        bias_rows(ys_.data(), dp + L_.head_b, static_cast<int64_t>(cn) * B, s_.O, W);
        gemm(false, true, static_cast<int64_t>(cn) * B, s_.O, H, 1.0f, hsc, H, dp + L_.head_w, H, 1.0f, ys_.data(), W);
        download(yc, ys_.data(), static_cast<size_t>(cn) * B * W);
      } else {
        download(yc, hsc, static_cast<size_t>(cn) * BH);
      }
      if (c0 + cn == T) copy_d2d(h_.data(), hc + static_cast<size_t>(cn) * BH, BH);
    }
    sync();
    if (!record) return;
    std::copy(y, y + static_cast<size_t>(T) * B * W, tp_y_.begin() + static_cast<size_t>(base) * B * W);
    n_ = steps;
    tape_level_full_ = base == 0 ? full : tape_level_full_;
  }

  void backward(const float *p, float *g, const TargetsView &tg, const DiagSettings &ds, PassStats *stt) override {
    const int n = n_, B = B_, H = s_.H, I = s_.I, G = s_.gates(), W = s_.out_width();
    const size_t BH = static_cast<size_t>(B) * H, GH = static_cast<size_t>(G) * H;
    if (ds.omega_grad && s_.is_gru())
      raise(RNNLAB_E_UNSUPPORTED, "the Omega gradient is defined for vanilla RNNs only, not for a GRU");
    const bool want_og = ds.omega_grad && stt;
    const bool norms = ds.level >= RNNLAB_DIAG_SUMMARY || ds.omega_grad;
    const bool every = s_.head == RNNLAB_HEAD_EVERY_SOFTMAX || !s_.has_head() || tg.dy;
    const int cmax = std::min(kChunk, n);
    cudaStream_t s = st();
    // Reserve first.
    params_.grow(L_.total, s);
    grads_.grow(L_.total, s);
    dy_.grow(static_cast<size_t>(n) * B * W, s);
    dx_.grow(static_cast<size_t>(n) * B * I, s);
    dnext_.grow(BH, s);
    dgx_.grow(static_cast<size_t>(cmax) * B * GH, s);
    dgh_.grow(static_cast<size_t>(cmax) * B * GH, s);
    drh_.grow(BH, s);
    rhc_.grow(static_cast<size_t>(cmax) * BH, s);
    dn2_.grow(static_cast<size_t>(n) * B, s);
    pn2_.grow(static_cast<size_t>(n) * B, s);
    bad_.grow(static_cast<size_t>(n) * B, s);
    if (s_.has_head() && every) dhead_.grow(static_cast<size_t>(n) * BH, s);
    const size_t ones_n = std::max(static_cast<size_t>(cmax) * B, static_cast<size_t>(n) * B);
    const bool ones_fresh = ones_.capacity() < ones_n;
    ones_.grow(ones_n, s);
    if (want_og) {
      og_.grow(static_cast<size_t>(H) * H, s);
      gs_.grow(BH, s);
    }
    grow_host(param_image_, L_.total);
    grow_host(dy_host_, static_cast<size_t>(n) * B * W);
    grow_host(gtmp_, L_.total);
    grow_host(dn2_host_, static_cast<size_t>(n) * B);
    grow_host(pn2_host_, static_cast<size_t>(n) * B);
    grow_host(bad_host_, static_cast<size_t>(n) * B);
    grow_host(dx_host_, static_cast<size_t>(n) * B * I);
    grow_host(dh0_host_, BH);
    if (tape_level_full_) grow_host(fwd_host_, static_cast<size_t>(n) * B * kNumFwd);
    if (want_og) grow_host(og_host_, static_cast<size_t>(H) * H);
    if (tape_cudnn_) {
      dhx_.grow(BH, s);
      if (s_.has_head() && !every) dyy_.grow(static_cast<size_t>(n) * BH, s);
    }
    upload_params(p);
    if (ones_fresh) fill(ones_.data(), static_cast<int64_t>(ones_.capacity()), 1.0f);
    // cuDNN hides the gates and dL/dh_t: diagnostics beyond level off need rnnlab's kernels.
    if (tape_cudnn_ && (ds.level > RNNLAB_DIAG_OFF || ds.omega_grad)) materialize(n);

    // dL/dy of every step, on the host from the tape's outputs (common/head.h).
    double loss = std::numeric_limits<double>::quiet_NaN();
    float *dyh = dy_host_.data();
    if (tg.dy) {
      std::copy(tg.dy, tg.dy + static_cast<size_t>(n) * B * W, dyh);
    } else {
      std::fill(dyh, dyh + static_cast<size_t>(n) * B * W, 0.0f);
      std::vector<const float *> ys(n);
      std::vector<float *> dys(n);
      for (int t = 0; t < n; ++t) {
        ys[t] = tp_y_.data() + static_cast<size_t>(t) * B * W;
        dys[t] = dyh + static_cast<size_t>(t) * B * W;
      }
      loss = head_loss<float>(s_.head, s_.O, B, n, ys.data(), tg.classes, tg.values, dys.data(), nullptr, 0.0, 1);
    }
    int64_t nonfinite = (!tg.dy && !std::isfinite(loss)) ? 1 : 0;
    upload(dy_.data(), dyh, static_cast<size_t>(n) * B * W);
    if (want_og) cuda_check(cudaMemsetAsync(og_.data(), 0, static_cast<size_t>(H) * H * sizeof(float), s), "cudaMemset");

    const float *dp = params_.data();
    float *dg = grads_.data();
    head_backward(n, every);
    // A tape cuDNN recorded goes back through cuDNN, unless something is not finite: then rnnlab's
    // kernels redo it and count (diagnostics.md).
    if (tape_cudnn_ && !(std::isfinite(loss) || tg.dy) ) materialize(n);
    if (tape_cudnn_ && !cudnn_backward(n, every)) {
      materialize(n);
      head_backward(n, every);
    }
    const bool own = !tape_cudnn_;
    const float *w_hh = dp + L_.w_hh, *w_ih = dp + L_.w_ih;
    float *dnext = dnext_.data();
    for (int c1 = own ? n : 0; c1 > 0; c1 -= kChunk) {
      const int c0 = std::max(0, c1 - kChunk), cn = c1 - c0;
      for (int t = c1 - 1; t >= c0; --t) {
        float *dgx = dgx_.data() + static_cast<size_t>(t - c0) * B * GH;
        float *dgh = dgh_.data() + static_cast<size_t>(t - c0) * B * GH;
        const float *add = nullptr;
        if (!s_.has_head()) add = dy_.data() + static_cast<size_t>(t) * BH;
        else if (every) add = dhead_.data() + static_cast<size_t>(t) * BH;
        backward_step(dp, t, add, dgx, dgh, dnext);
        // dL/dh_{t-1}: the matrix part, on top of the direct part backward_step wrote.
        const int kr = s_.lbr() ? 3 * H : (s_.is_gru() ? 2 * H : H);
        gemm(false, false, B, H, kr, 1.0f, dgh, GH, w_hh, H, 1.0f, dnext, H);
        if (norms) {
          k_prev_norm<<<B, kThreads, 0, s>>>(H, static_cast<int>(GH), dnext, pn2_.data() + static_cast<size_t>(t) * B,
                                              dn2_.data() + static_cast<size_t>(t) * B, dgh,
                                              want_og ? gs_.data() : nullptr, ds.bound);
          launch_check("k_prev_norm");
        }
        // Pascanu's Omega, immediate partial (tasks.md): og += gs^T dL/dh_{t-1}, one GEMM over the batch.
        if (want_og) gemm(true, false, H, H, B, 1.0f, gs_.data(), H, dnext, H, 1.0f, og_.data(), H);
      }
      // Weight gradients and dL/dx of the chunk: one GEMM each over cn*B rows.
      const int64_t rows = static_cast<int64_t>(cn) * B;
      const float *hprev = tp_h_.data() + static_cast<size_t>(c0) * BH;
      const float *xc = tp_x_.data() + static_cast<size_t>(c0) * B * I;
      gemm(true, false, GH, I, rows, 1.0f, dgx_.data(), GH, xc, I, 1.0f, dg + L_.w_ih, I);
      gemm(false, false, rows, I, GH, 1.0f, dgx_.data(), GH, w_ih, I, 0.0f, dx_.data() + static_cast<size_t>(c0) * B * I, I);
      if (s_.is_gru() && !s_.lbr()) {
        // reset-before: r and z rows see h_{t-1}; the candidate rows see r * h_{t-1}.
        gemm(true, false, 2 * H, H, rows, 1.0f, dgh_.data(), GH, hprev, H, 1.0f, dg + L_.w_hh, H);
        const int64_t cnt = rows * H;
        k_mul<<<blocks_for(cnt), 256, 0, s>>>(rhc_.data(), tp_r_.data() + static_cast<size_t>(c0) * BH, hprev, cnt);
        launch_check("k_mul");
        gemm(true, false, H, H, rows, 1.0f, dgh_.data() + 2 * H, GH, rhc_.data(), H, 1.0f,
             dg + L_.w_hh + 2 * static_cast<size_t>(H) * H, H);
      } else {
        gemm(true, false, GH, H, rows, 1.0f, dgh_.data(), GH, hprev, H, 1.0f, dg + L_.w_hh, H);
      }
      // Bias gradients: column sums as GEMMs against a vector of ones (deterministic, no atomics).
      gemm(true, false, GH, 1, rows, 1.0f, dgx_.data(), GH, ones_.data(), 1, 1.0f, dg + L_.b_ih, 1);
      gemm(true, false, GH, 1, rows, 1.0f, dgh_.data(), GH, ones_.data(), 1, 1.0f, dg + L_.b_hh, 1);
    }
    // Everything the host needs, then one synchronisation.
    download(gtmp_.data(), dg, L_.total);
    download(dx_host_.data(), dx_.data(), static_cast<size_t>(n) * B * I);
    download(dh0_host_.data(), dnext, BH);
    download(bad_host_.data(), bad_.data(), static_cast<size_t>(n) * B);
    if (norms) {
      download(dn2_host_.data(), dn2_.data(), static_cast<size_t>(n) * B);
      download(pn2_host_.data(), pn2_.data(), static_cast<size_t>(n) * B);
    }
    const bool fwd_sums = ds.level >= RNNLAB_DIAG_FULL && tape_level_full_;
    if (fwd_sums) download(fwd_host_.data(), fwd_.data(), static_cast<size_t>(n) * B * kNumFwd);
    if (want_og) download(og_host_.data(), og_.data(), static_cast<size_t>(H) * H);
    sync();

    // Commit: nothing below can fail.
    int first_bad = -1;
    for (int t = 0; t < n && first_bad < 0; ++t)
      for (int b = 0; b < B; ++b)
        if (bad_host_[static_cast<size_t>(t) * B + b] != 0) {
          first_bad = t;
          break;
        }
    for (size_t k = 0; k < static_cast<size_t>(n) * B; ++k) nonfinite += static_cast<int64_t>(bad_host_[k]);
    for (size_t i = 0; i < L_.total; ++i) g[i] += gtmp_[i];
    for (size_t i = 0; i < L_.total; ++i) nonfinite += !std::isfinite(g[i]);
    grad_steps_ = n;
    if (stt) {
      fill_stats(loss, nonfinite, first_bad, ds, fwd_sums, stt);
      if (want_og) {
        int64_t valid = 0;
        for (size_t k = 0; k < static_cast<size_t>(n) * B; ++k) valid += dn2_host_[k] >= ds.bound;
        stt->omega_grad.assign(og_host_.begin(), og_host_.begin() + static_cast<size_t>(H) * H);
        if (valid > 0)
          for (double &v : stt->omega_grad) v /= static_cast<double>(valid);
      }
    }
    consumed_ = true;
  }

  void jacobian(const float *p, int t, int b, float *J) const override {
    // A tape cuDNN recorded has no gates yet: rnnlab's kernels re-run it first (its values do not
    // change what any call reports; only the tape's form).
    if (tape_cudnn_) const_cast<CudaBackend *>(this)->materialize(n_);
    // Row i of J is J^T e_i: one backward step from dL/dh_t = e_i, done per unit in double on the
    // host from the recorded rows of (t, b), as the CPU backend does.
    const int H = s_.H;
    const size_t BH = static_cast<size_t>(B_) * H, o = static_cast<size_t>(t) * BH + static_cast<size_t>(b) * H;
    std::vector<float> hp(H), ht(H), r(H), z(H), nn(H), hn(H);
    download(hp.data(), tp_h_.data() + o, H);
    download(ht.data(), tp_h_.data() + o + BH, H);
    if (s_.is_gru()) {
      download(r.data(), tp_r_.data() + o, H);
      download(z.data(), tp_z_.data() + o, H);
      download(nn.data(), tp_n_.data() + o, H);
      if (s_.lbr()) download(hn.data(), tp_hn_.data() + o, H);
    }
    sync();
    step_jacobian(s_, p + L_.w_hh, hp.data(), ht.data(), r.data(), z.data(), nn.data(), hn.data(), J);
  }

 private:
  cudaStream_t st() const { return ctx_.stream; }
  void sync() const { cuda_check(cudaStreamSynchronize(ctx_.stream), "cudaStreamSynchronize"); }
  void upload(float *dst, const float *src, size_t n) const {
    if (n) cuda_check(cudaMemcpyAsync(dst, src, n * sizeof(float), cudaMemcpyHostToDevice, st()), "cudaMemcpy (to device)");
  }
  template <class T>
  void download(T *dst, const T *src, size_t n) const {
    if (n) cuda_check(cudaMemcpyAsync(dst, src, n * sizeof(T), cudaMemcpyDeviceToHost, st()), "cudaMemcpy (to host)");
  }
  void copy_d2d(float *dst, const float *src, size_t n) const {
    if (n) cuda_check(cudaMemcpyAsync(dst, src, n * sizeof(float), cudaMemcpyDeviceToDevice, st()), "cudaMemcpy");
  }
  void bias_rows(float *dst, const float *v, int64_t rows, int cols, int ld) const {
    const int64_t cnt = rows * cols;
    if (cnt == 0) return;
    k_bias_rows<<<blocks_for(cnt), 256, 0, st()>>>(dst, v, rows, cols, ld);
    launch_check("k_bias_rows");
  }
  void fill(float *dst, int64_t cnt, float v) const {
    if (cnt == 0) return;
    k_fill<<<blocks_for(cnt), 256, 0, st()>>>(dst, cnt, v);
    launch_check("k_fill");
  }

  // C (M x N) = alpha op(A) op(B) + beta C, all row-major, as the CPU backend's gemm. cuBLAS is
  // column-major: a row-major M x N matrix is its N x M transpose, so C^T = op(B)^T op(A)^T.
  void gemm(bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha, const float *A, int64_t lda,
            const float *Bm, int64_t ldb, float beta, float *C, int64_t ldc) const {
    if (M == 0 || N == 0) return;
    if (K == 0) {  // cuBLAS leaves C as it is for K = 0 only when beta = 1
      if (beta != 1.0f) raise(RNNLAB_E_INTERNAL, "CUDA backend: an empty GEMM with beta != 1");
      return;
    }
    blas_check(cublasSgemm(ctx_.blas, tb ? CUBLAS_OP_T : CUBLAS_OP_N, ta ? CUBLAS_OP_T : CUBLAS_OP_N,
                           static_cast<int>(N), static_cast<int>(M), static_cast<int>(K), &alpha, Bm,
                           static_cast<int>(ldb), A, static_cast<int>(lda), &beta, C, static_cast<int>(ldc)),
               "cublasSgemm");
  }

  // Zeroes the device gradients and dL/dh_n, then the head: dW_y, db_y, and what it sends into each h_t
  // (every step: dhead_; last step only: the start of the recurrence, dnext_).
  void head_backward(int n, bool every) {
    const int B = B_, H = s_.H, W = s_.out_width();
    const size_t BH = static_cast<size_t>(B) * H;
    cuda_check(cudaMemsetAsync(grads_.data(), 0, L_.total * sizeof(float), st()), "cudaMemset");
    cuda_check(cudaMemsetAsync(dnext_.data(), 0, BH * sizeof(float), st()), "cudaMemset");
    if (!s_.has_head()) return;
    const float *dp = params_.data(), *hs = tp_h_.data() + BH;  // h_1 .. h_n
    float *dg = grads_.data();
    const int t0 = every ? 0 : n - 1;
    const int64_t rows = static_cast<int64_t>(n - t0) * B;
    const float *dyr = dy_.data() + static_cast<size_t>(t0) * B * W;
    gemm(true, false, s_.O, H, rows, 1.0f, dyr, W, hs + static_cast<size_t>(t0) * BH, H, 1.0f, dg + L_.head_w, H);
    gemm(true, false, s_.O, 1, rows, 1.0f, dyr, W, ones_.data(), 1, 1.0f, dg + L_.head_b, 1);
    if (every)
      gemm(false, false, static_cast<int64_t>(n) * B, H, s_.O, 1.0f, dy_.data(), W, dp + L_.head_w, H, 0.0f,
           dhead_.data(), H);
    else
      gemm(false, false, B, H, s_.O, 1.0f, dyr, W, dp + L_.head_w, H, 0.0f, dnext_.data(), H);
  }

  // Non-finite entries among n floats at v (synchronises).
  int64_t count_nonfinite(const float *v, int64_t n) {
    k_count_nonfinite<<<kNfBlocks, kThreads, 0, st()>>>(v, n, dnn_nf_.data());
    launch_check("k_count_nonfinite");
    double part[kNfBlocks];
    download(part, dnn_nf_.data(), kNfBlocks);
    sync();
    double c = 0;
    for (double v2 : part) c += v2;
    return static_cast<int64_t>(c);
  }

  // cuDNN's descriptors for this model (once) and for T steps of B sequences (when they change).
  void cudnn_setup(int T, int B) {
    CudnnRnn &d = dnn_;
    cudaStream_t s = st();
    const int H = s_.H, I = s_.I;
    if (!d.h) {
      dnn_check(cudnnCreate(&d.h), "cudnnCreate");
      dnn_check(cudnnSetStream(d.h, s), "cudnnSetStream");
      dnn_check(cudnnCreateDropoutDescriptor(&d.drop), "cudnnCreateDropoutDescriptor");
      size_t states = 0;
      dnn_check(cudnnDropoutGetStatesSize(d.h, &states), "cudnnDropoutGetStatesSize");
      d.drop_states.grow(std::max<size_t>(states, 1), s);
      dnn_check(cudnnSetDropoutDescriptor(d.drop, d.h, 0.0f, d.drop_states.data(), states, 0), "cudnnSetDropoutDescriptor");
      dnn_check(cudnnCreateRNNDescriptor(&d.rnn), "cudnnCreateRNNDescriptor");
      const cudnnRNNMode_t mode = s_.is_gru() ? CUDNN_GRU : (s_.cell == RNNLAB_CELL_RNN_RELU ? CUDNN_RNN_RELU : CUDNN_RNN_TANH);
      dnn_check(cudnnSetRNNDescriptor_v8(d.rnn, CUDNN_RNN_ALGO_STANDARD, mode, CUDNN_RNN_DOUBLE_BIAS, CUDNN_UNIDIRECTIONAL,
                                         CUDNN_LINEAR_INPUT, CUDNN_DATA_FLOAT, CUDNN_DATA_FLOAT, CUDNN_FMA_MATH, I, H, H, 1,
                                         d.drop, CUDNN_RNN_PADDED_IO_DISABLED),
                "cudnnSetRNNDescriptor_v8");
      dnn_check(cudnnCreateRNNDataDescriptor(&d.xd), "cudnnCreateRNNDataDescriptor");
      dnn_check(cudnnCreateRNNDataDescriptor(&d.yd), "cudnnCreateRNNDataDescriptor");
      dnn_check(cudnnCreateTensorDescriptor(&d.hd), "cudnnCreateTensorDescriptor");
      dnn_check(cudnnCreateTensorDescriptor(&d.md), "cudnnCreateTensorDescriptor");
      dnn_check(cudnnCreateTensorDescriptor(&d.bd), "cudnnCreateTensorDescriptor");
      dnn_check(cudnnGetRNNWeightSpaceSize(d.h, d.rnn, &d.wsize), "cudnnGetRNNWeightSpaceSize");
      d.w.grow(d.wsize, s);
      d.dw.grow(d.wsize, s);
      d.w_valid = false;
    }
    if (T == d.T && B == d.B) return;
    d.T = d.B = -1;  // until everything below succeeded
    std::vector<int> lens(static_cast<size_t>(B), T);
    dnn_check(cudnnSetRNNDataDescriptor(d.xd, CUDNN_DATA_FLOAT, CUDNN_RNN_DATA_LAYOUT_SEQ_MAJOR_UNPACKED, T, B, I,
                                        lens.data(), nullptr),
              "cudnnSetRNNDataDescriptor");
    dnn_check(cudnnSetRNNDataDescriptor(d.yd, CUDNN_DATA_FLOAT, CUDNN_RNN_DATA_LAYOUT_SEQ_MAJOR_UNPACKED, T, B, H,
                                        lens.data(), nullptr),
              "cudnnSetRNNDataDescriptor");
    const int dims[3] = {1, B, H}, strides[3] = {B * H, H, 1};
    dnn_check(cudnnSetTensorNdDescriptor(d.hd, CUDNN_DATA_FLOAT, 3, dims, strides), "cudnnSetTensorNdDescriptor");
    dnn_check(cudnnGetRNNTempSpaceSizes(d.h, d.rnn, CUDNN_FWD_MODE_TRAINING, d.xd, &d.work, &d.reserve),
              "cudnnGetRNNTempSpaceSizes");
    d.ws.grow(std::max<size_t>(d.work, 1), s);
    d.rs.grow(std::max<size_t>(d.reserve, 1), s);
    d.lens.grow(static_cast<size_t>(B), s);
    cuda_check(cudaMemcpyAsync(d.lens.data(), lens.data(), static_cast<size_t>(B) * sizeof(int32_t),
                               cudaMemcpyHostToDevice, s),
               "cudaMemcpy (sequence lengths)");
    sync();
    d.T = T;
    d.B = B;
  }

  // The linear layers of cuDNN's weight space (GRU: 0-2 input side r, z, n, 3-5 hidden side; RNN:
  // 0 input, 1 hidden), each matrix and bias one block of rnnlab's layout.
  template <class F>
  void cudnn_blocks(void *space, F &&f) {
    const int H = s_.H, I = s_.I, G = s_.gates();
    for (int id = 0; id < 2 * G; ++id) {
      const bool hid = id >= G;
      const int g = hid ? id - G : id;
      void *m = nullptr, *b = nullptr;
      dnn_check(cudnnGetRNNWeightParams(dnn_.h, dnn_.rnn, 0, dnn_.wsize, space, id, dnn_.md, &m, dnn_.bd, &b),
                "cudnnGetRNNWeightParams");
      const size_t k = hid ? H : I;
      f(static_cast<float *>(m), (hid ? L_.w_hh : L_.w_ih) + static_cast<size_t>(g) * H * k, static_cast<size_t>(H) * k);
      f(static_cast<float *>(b), (hid ? L_.b_hh : L_.b_ih) + static_cast<size_t>(g) * H, static_cast<size_t>(H));
    }
  }

  void cudnn_load_weights(const float *dp) {
    if (dnn_.w_valid) return;
    cudnn_blocks(dnn_.w.data(), [&](float *dst, size_t off, size_t cnt) { copy_d2d(dst, dp + off, cnt); });
    dnn_.w_valid = true;
  }

  // Back through a tape cuDNN recorded: dL/dh of every step (every-step head or none) or of the last
  // (last-step heads: dnext_ holds it) into cuDNN's backward data and weights, the weight gradients
  // copied into rnnlab's layout. Returns false, having committed nothing, when a gradient is not finite.
  bool cudnn_backward(int n, bool every) {
    const int B = B_, H = s_.H, I = s_.I;
    const size_t BH = static_cast<size_t>(B) * H;
    cudaStream_t s = st();
    const float *dyy;
    const float *dhy = nullptr;
    if (!s_.has_head()) {
      dyy = dy_.data();
    } else if (every) {
      dyy = dhead_.data();
    } else {
      cuda_check(cudaMemsetAsync(dyy_.data(), 0, static_cast<size_t>(n) * BH * sizeof(float), s), "cudaMemset");
      dyy = dyy_.data();
      dhy = dnext_.data();
    }
    dnn_check(cudnnRNNBackwardData_v8(dnn_.h, dnn_.rnn, dnn_.lens.data(), dnn_.yd, tp_h_.data() + BH, dyy, dnn_.xd,
                                      dx_.data(), dnn_.hd, tp_h_.data(), dhy, dhx_.data(), dnn_.hd, nullptr, nullptr,
                                      nullptr, dnn_.wsize, dnn_.w.data(), dnn_.work, dnn_.ws.data(), dnn_.reserve,
                                      dnn_.rs.data()),
              "cudnnRNNBackwardData_v8");
    cuda_check(cudaMemsetAsync(dnn_.dw.data(), 0, dnn_.wsize, s), "cudaMemset");
    dnn_check(cudnnRNNBackwardWeights_v8(dnn_.h, dnn_.rnn, CUDNN_WGRAD_MODE_ADD, dnn_.lens.data(), dnn_.xd,
                                         tp_x_.data(), dnn_.hd, tp_h_.data(), dnn_.yd, tp_h_.data() + BH, dnn_.wsize,
                                         dnn_.dw.data(), dnn_.work, dnn_.ws.data(), dnn_.reserve, dnn_.rs.data()),
              "cudnnRNNBackwardWeights_v8");
    float *dg = grads_.data();
    cudnn_blocks(dnn_.dw.data(), [&](float *src, size_t off, size_t cnt) { copy_d2d(dg + off, src, cnt); });
    if (count_nonfinite(dg, static_cast<int64_t>(L_.total)) + count_nonfinite(dx_.data(), static_cast<int64_t>(n) * B * I) +
            count_nonfinite(dhx_.data(), static_cast<int64_t>(BH)) >
        0)
      return false;
    copy_d2d(dnext_.data(), dhx_.data(), BH);
    // Nothing is non-finite: every (t, b) slot of the count is 0.
    cuda_check(cudaMemsetAsync(bad_.data(), 0, static_cast<size_t>(n) * B * sizeof(double), s), "cudaMemset");
    return true;
  }

  // Re-runs the first `steps` steps of a tape cuDNN recorded with rnnlab's kernels and the tape's own
  // parameters (snap_), so that the tape holds the gates as if rnnlab had recorded it.
  void materialize(int steps) {
    const int B = B_, H = s_.H, I = s_.I, G = s_.gates();
    const size_t BH = static_cast<size_t>(B) * H, GH = static_cast<size_t>(G) * H;
    const int chunk = std::min(kChunk, steps);
    gx_.grow(static_cast<size_t>(chunk) * B * GH, st());
    const float *sp = snap_.data();
    for (int c0 = 0; c0 < steps; c0 += chunk) {
      const int cn = std::min(chunk, steps - c0);
      bias_rows(gx_.data(), snap_bias_.data(), static_cast<int64_t>(cn) * B, static_cast<int>(GH), static_cast<int>(GH));
      gemm(false, true, static_cast<int64_t>(cn) * B, GH, I, 1.0f, tp_x_.data() + static_cast<size_t>(c0) * B * I, I,
           sp + L_.w_ih, I, 1.0f, gx_.data(), GH);
      for (int k = 0; k < cn; ++k) {
        const size_t t = static_cast<size_t>(c0) + k;
        float *r = nullptr, *z = nullptr, *nn = nullptr, *hn = nullptr;
        if (s_.is_gru()) {
          r = tp_r_.data() + t * BH;
          z = tp_z_.data() + t * BH;
          nn = tp_n_.data() + t * BH;
          hn = tp_hn_.data() + t * BH;
        }
        forward_step(sp, gx_.data() + static_cast<size_t>(k) * B * GH, tp_h_.data() + t * BH, tp_h_.data() + (t + 1) * BH,
                     r, z, nn, hn, nullptr, 0.0f);
      }
    }
    sync();
    tape_cudnn_ = false;
  }

  // Uploads the parameters unless the device copy already holds exactly these values.
  void upload_params(const float *p) {
    const size_t n = L_.total;
    if (params_valid_ && std::memcmp(param_image_.data(), p, n * sizeof(float)) == 0) return;
    params_valid_ = false;
    dnn_.w_valid = false;
    std::copy(p, p + n, param_image_.begin());
    upload(params_.data(), p, n);
    // Input-side bias: r and z get both biases (they are only ever summed); n gets b_in only.
    const int GH = s_.gates() * s_.H, H = s_.H;
    for (int k = 0; k < GH; ++k)
      bias_host_[k] = p[L_.b_ih + k] + (k < 2 * H || !s_.is_gru() ? p[L_.b_hh + k] : 0.0f);
    upload(bias_.data(), bias_host_.data(), GH);
    sync();  // bias_host_ may change before an asynchronous copy from it would have run
    params_valid_ = true;
  }

  void forward_step(const float *p, const float *gx, const float *hp, float *hnew, float *r, float *z, float *n,
                    float *hn, double *fs, float thr) {
    const int B = B_, H = s_.H, G = s_.gates();
    const int64_t GH = static_cast<int64_t>(G) * H;
    const float *w_hh = p + L_.w_hh, *b_hh = p + L_.b_hh;
    float *gh = gh_.data();
    cudaStream_t s = st();
    if (!s_.is_gru()) {
      gemm(false, true, B, H, H, 1.0f, hp, H, w_hh, H, 0.0f, gh, H);
      switch (s_.act()) {
        case cell::Act::Tanh: k_rnn_fwd<cell::Act::Tanh><<<B, kThreads, 0, s>>>(H, gx, gh, hnew, fs, thr); break;
        case cell::Act::Sigmoid: k_rnn_fwd<cell::Act::Sigmoid><<<B, kThreads, 0, s>>>(H, gx, gh, hnew, fs, thr); break;
        case cell::Act::Relu: k_rnn_fwd<cell::Act::Relu><<<B, kThreads, 0, s>>>(H, gx, gh, hnew, fs, thr); break;
        default: k_rnn_fwd<cell::Act::Linear><<<B, kThreads, 0, s>>>(H, gx, gh, hnew, fs, thr); break;
      }
      launch_check("k_rnn_fwd");
    } else if (s_.lbr()) {
      gemm(false, true, B, 3 * H, H, 1.0f, hp, H, w_hh, H, 0.0f, gh, 3 * H);
      k_gru_lbr_fwd<<<B, kThreads, 0, s>>>(H, gx, gh, b_hh + 2 * H, hp, r, z, n, hn, hnew, fs, thr);
      launch_check("k_gru_lbr_fwd");
    } else {
      gemm(false, true, B, 2 * H, H, 1.0f, hp, H, w_hh, H, 0.0f, gh, 3 * H);
      float *rh = rh_.data();
      k_gru_rb_gates<<<B, kThreads, 0, s>>>(H, gx, gh, hp, r, z, rh);
      launch_check("k_gru_rb_gates");
      // a_hn = (r * h) W_hn^T + b_hn, into the n columns of gh.
      bias_rows(gh + 2 * H, b_hh + 2 * H, B, H, static_cast<int>(GH));
      gemm(false, true, B, H, H, 1.0f, rh, H, w_hh + 2 * static_cast<size_t>(H) * H, H, 1.0f, gh + 2 * H, GH);
      k_gru_rb_cand<<<B, kThreads, 0, s>>>(H, gx, gh, hp, r, z, n, hnew, fs, thr);
      launch_check("k_gru_rb_cand");
    }
  }

  // One backward step t: delta = dnext + add; gate gradients into dgx / dgh; dnext becomes
  // dL/dh_{t-1}'s direct part (reset-before: plus its r-path); norms and non-finite counts into the
  // (t, b) slots.
  void backward_step(const float *p, int t, const float *add, float *dgx, float *dgh, float *dnext) {
    const int B = B_, H = s_.H, G = s_.gates();
    const size_t BH = static_cast<size_t>(B) * H, GH = static_cast<size_t>(G) * H;
    const size_t ts = static_cast<size_t>(t);
    const float *hp = tp_h_.data() + ts * BH, *ht = hp + BH;
    double *dn2 = dn2_.data() + ts * B, *bad = bad_.data() + ts * B;
    cudaStream_t s = st();
    if (!s_.is_gru()) {
      switch (s_.act()) {
        case cell::Act::Tanh: k_rnn_bwd<cell::Act::Tanh><<<B, kThreads, 0, s>>>(H, dnext, add, ht, dgx, dgh, dn2, bad); break;
        case cell::Act::Sigmoid: k_rnn_bwd<cell::Act::Sigmoid><<<B, kThreads, 0, s>>>(H, dnext, add, ht, dgx, dgh, dn2, bad); break;
        case cell::Act::Relu: k_rnn_bwd<cell::Act::Relu><<<B, kThreads, 0, s>>>(H, dnext, add, ht, dgx, dgh, dn2, bad); break;
        default: k_rnn_bwd<cell::Act::Linear><<<B, kThreads, 0, s>>>(H, dnext, add, ht, dgx, dgh, dn2, bad); break;
      }
      launch_check("k_rnn_bwd");
      return;
    }
    const float *r = tp_r_.data() + ts * BH, *z = tp_z_.data() + ts * BH, *n = tp_n_.data() + ts * BH;
    const float *hn = s_.lbr() ? tp_hn_.data() + ts * BH : nullptr;
    k_gru_bwd<<<B, kThreads, 0, s>>>(H, s_.lbr(), dnext, add, r, z, n, hn, hp, ht, dgx, dgh, dn2, bad);
    launch_check("k_gru_bwd");
    if (s_.lbr()) return;
    // Reset-before: r's gradient needs d(r*h) = da_n W_hn, a GEMM between two unit passes.
    float *drh = drh_.data();
    gemm(false, false, B, H, H, 1.0f, dgh + 2 * H, GH, p + L_.w_hh + 2 * static_cast<size_t>(H) * H, H, 0.0f, drh, H);
    k_gru_rb_reset<<<B, kThreads, 0, s>>>(H, drh, r, hp, dgx, dgh, dnext);
    launch_check("k_gru_rb_reset");
  }

  void fill_stats(double loss, int64_t nonfinite, int first_bad, const DiagSettings &ds, bool fwd_sums, PassStats *st) {
    // fwd_host_ holds one slot of sums per sequence and step (one block per sequence wrote each).
    finish_pass_stats(s_, n_, B_, loss, nonfinite, first_bad, ds, dn2_host_.data(), pn2_host_.data(),
                      fwd_sums ? fwd_host_.data() : nullptr, B_, st);
  }

  ModelSpec s_;
  Layout L_;
  Context ctx_;
  int B_ = 0, n_ = 0, grad_steps_ = 0;
  bool consumed_ = false, tape_level_full_ = false, params_valid_ = false;
  // Device: hidden state, parameters (+ the combined input-side bias), the tape, scratch.
  DevVec<float> h_, params_, bias_, grads_;
  DevVec<float> tp_h_, tp_r_, tp_z_, tp_n_, tp_hn_, tp_x_;
  DevVec<float> ev_h_, ev_r_, ev_z_, ev_n_, ev_hn_, ev_x_;
  DevVec<float> gx_, gh_, rh_, ys_;
  DevVec<float> dy_, dx_, dnext_, dgx_, dgh_, drh_, rhc_, dhead_, ones_, og_, gs_;
  DevVec<double> fwd_, dn2_, pn2_, bad_;
  // Host: the tape's outputs (for the loss), the uploaded parameter image, results.
  std::vector<float> tp_y_, param_image_, bias_host_, dy_host_, gtmp_, dx_host_, dh0_host_, og_host_;
  std::vector<double> fwd_host_, dn2_host_, pn2_host_, bad_host_;
  // cuDNN (opt-in): its state, whether the tape was recorded by it, that tape's parameters and
  // combined input-side bias, scratch.
  bool cudnn_on_ = false, tape_cudnn_ = false;
  CudnnRnn dnn_;
  DevVec<float> snap_, snap_bias_, dhx_, dyy_;
  DevVec<double> dnn_nf_;
};

}  // namespace

bool cuda_device_usable(std::string *why) {
  int count = 0;
  const cudaError_t e = cudaGetDeviceCount(&count);
  if (e != cudaSuccess) {
    cudaGetLastError();
    if (why) {
      if (e == cudaErrorInsufficientDriver)
        *why = "no usable NVIDIA driver (none installed, or older than this CUDA runtime)";
      else if (e == cudaErrorNoDevice)
        *why = "no CUDA device is present";
      else
        *why = std::string("cudaGetDeviceCount failed: ") + cudaGetErrorString(e);
    }
    return false;
  }
  if (count == 0) {
    if (why) *why = "no CUDA device is present";
    return false;
  }
  return true;
}

std::unique_ptr<Backend> make_cuda_backend(const ModelSpec &spec, std::string *why) {
  if (!cuda_device_usable(why)) return nullptr;
  return std::make_unique<CudaBackend>(spec);
}

}  // namespace rnnlab
