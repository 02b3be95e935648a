// The cell equations and their derivatives, written once.
//
// Every backend (reference, CPU, CUDA) evaluates a cell unit by calling these functions, so a CPU
// test of them covers the GPU's arithmetic too. Everything is per unit and per sequence: the caller
// supplies the pre-activations that came out of its GEMMs. Gate order is r, z, n (PyTorch's).
#ifndef RNNLAB_COMMON_CELL_MATH_H
#define RNNLAB_COMMON_CELL_MATH_H

#include <cmath>
#include <cstdint>

#if defined(__CUDACC__)
#define RNNLAB_HD __host__ __device__ __forceinline__
#else
#define RNNLAB_HD inline
#endif

namespace rnnlab {
namespace cell {

// Activation of a vanilla RNN. The numbers are pinned: they are the rnnlab_cell values minus 2.
enum class Act : int { Tanh = 0, Sigmoid = 1, Relu = 2, Linear = 3 };

// exp and tanh. In double (the tests' ground truth) they are libm's. In float on the host they are
// branch-free polynomials that compilers vectorise inside the fused gate loops (libm calls are not),
// accurate to a few float ulps; NaN stays NaN and overflow saturates as libm's does. On a GPU they
// are the device's own expf/tanhf.
template <class T>
RNNLAB_HD T exp_(T x) {
  return std::exp(x);
}
template <class T>
RNNLAB_HD T tanh_(T x) {
  return std::tanh(x);
}

#if !defined(__CUDA_ARCH__)
// exp(x) = 2^k * e^r, r = x - k ln 2 in [-ln2/2, ln2/2], e^r by a degree-7 polynomial (Cephes' expf
// coefficients). x is clamped to where 2^k is a normal float; below that the true value rounds to
// (almost) 0 in every use here, above it the result is a huge finite number, not Inf.
template <>
inline float exp_<float>(float x) {
  // NaN takes the path of 0 (so the exponent arithmetic below stays defined) and is returned at the end.
  const float xn = x == x ? x : 0.0f;
  const float xc = xn < -87.0f ? -87.0f : (xn > 88.0f ? 88.0f : xn);
  const float kf = std::floor(xc * 1.44269504088896341f + 0.5f);
  const float r = (xc - kf * 0.693359375f) + kf * 2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r * r + r + 1.0f;
  union {
    int32_t i;
    float f;
  } two_k;
  two_k.i = (static_cast<int32_t>(kf) + 127) << 23;
  const float y = p * two_k.f;
  return x != x ? x : y;
}

// tanh: an odd Taylor polynomial below |x| = 0.5 (where 1 - e^{-2|x|} would cancel), and
// (1 - e) / (1 + e) with e = e^{-2|x|} above.
template <>
inline float tanh_<float>(float x) {
  const float ax = std::fabs(x);
  const float x2 = x * x;
  float q = 6404582.0f / 10854718875.0f;
  q = q * x2 - 929569.0f / 638512875.0f;
  q = q * x2 + 21844.0f / 6081075.0f;
  q = q * x2 - 1382.0f / 155925.0f;
  q = q * x2 + 62.0f / 2835.0f;
  q = q * x2 - 17.0f / 315.0f;
  q = q * x2 + 2.0f / 15.0f;
  q = q * x2 - 1.0f / 3.0f;
  const float small = x + x * x2 * q;
  const float e = exp_<float>(-2.0f * ax);
  const float big = (1.0f - e) / (1.0f + e);
  const float signed_big = x < 0.0f ? -big : big;
  return ax < 0.5f ? small : signed_big;
}
#endif

template <class T>
RNNLAB_HD T sigmoid(T a) {
  return T(1) / (T(1) + exp_(-a));
}

template <class T>
RNNLAB_HD T activate(Act act, T a) {
  switch (act) {
    case Act::Tanh: return tanh_(a);
    case Act::Sigmoid: return sigmoid(a);
    case Act::Relu: return a > T(0) ? a : T(0);
    default: return a;
  }
}

// phi'(a) expressed through h = phi(a): what the backward pass and act_time both use.
template <class T>
RNNLAB_HD T act_derivative_from_output(Act act, T h) {
  switch (act) {
    case Act::Tanh: return T(1) - h * h;
    case Act::Sigmoid: return h * (T(1) - h);
    case Act::Relu: return h > T(0) ? T(1) : T(0);
    default: return T(1);
  }
}

// ---- GRU, forward -------------------------------------------------------------------------------
// Linear-before-reset (PyTorch/cuDNN): n = tanh(a_in + r * hn), hn = W_hn h + b_hn.
// Inputs: a_r, a_z = full gate pre-activations (input + hidden parts, both biases); a_in = W_in x +
// b_in; hn = the hidden-side candidate product including b_hn.
template <class T>
struct GruUnit {
  T r, z, n, h;
};

template <class T>
RNNLAB_HD GruUnit<T> gru_lbr_forward(T a_r, T a_z, T a_in, T hn, T h_prev) {
  GruUnit<T> u;
  u.r = sigmoid(a_r);
  u.z = sigmoid(a_z);
  u.n = tanh_(a_in + u.r * hn);
  u.h = (T(1) - u.z) * u.n + u.z * h_prev;
  return u;
}

// Reset-before (Cho et al.): n = tanh(a_in + a_hn), a_hn = W_hn (r * h_prev) + b_hn, computed by the
// caller after r is known. These two helpers split the unit at that point.
template <class T>
RNNLAB_HD T gru_rb_candidate(T a_in, T a_hn) {
  return tanh_(a_in + a_hn);
}
template <class T>
RNNLAB_HD T gru_blend(T z, T n, T h_prev) {
  return (T(1) - z) * n + z * h_prev;
}

// ---- GRU, backward ------------------------------------------------------------------------------
// Given dh = dL/dh_t (total), returns the gradients of the pre-activations and the direct part of
// dL/dh_{t-1} (through z * h_prev only; the matrix parts come from the caller's GEMMs).
template <class T>
struct GruGrad {
  T da_r;     // dL/d(a_r): feeds W_ir, W_hr, b_ir, b_hr
  T da_z;     // dL/d(a_z)
  T da_n;     // dL/d(a_in): feeds W_in, b_in (and, reset-before, W_hn and b_hn)
  T dhn;      // LBR: dL/d(hn) = da_n * r, feeds W_hn, b_hn. Reset-before: dL/d(a_hn) = da_n.
  T dh_prev;  // the direct part z * dh
};

// LBR: hn is the hidden-side candidate product (with b_hn) recorded in the forward pass.
template <class T>
RNNLAB_HD GruGrad<T> gru_lbr_backward(T dh, T r, T z, T n, T hn, T h_prev) {
  GruGrad<T> g;
  const T dn = dh * (T(1) - z);
  const T dz = dh * (h_prev - n);
  g.da_n = dn * (T(1) - n * n);
  g.dhn = g.da_n * r;
  const T dr = g.da_n * hn;
  g.da_r = dr * r * (T(1) - r);
  g.da_z = dz * z * (T(1) - z);
  g.dh_prev = dh * z;
  return g;
}

// Reset-before, first half: everything but r's gradient, which needs W_hn^T da_n (a GEMM).
template <class T>
RNNLAB_HD GruGrad<T> gru_rb_backward_candidate(T dh, T z, T n, T h_prev) {
  GruGrad<T> g;
  const T dn = dh * (T(1) - z);
  const T dz = dh * (h_prev - n);
  g.da_n = dn * (T(1) - n * n);
  g.dhn = g.da_n;
  g.da_r = T(0);
  g.da_z = dz * z * (T(1) - z);
  g.dh_prev = dh * z;
  return g;
}
// Reset-before, second half: d_rh = (W_hn^T da_n)[j] is dL/d(r * h_prev). Returns da_r and adds the
// r-path of dL/dh_prev to *dh_prev.
template <class T>
RNNLAB_HD T gru_rb_backward_reset(T d_rh, T r, T h_prev, T *dh_prev) {
  *dh_prev += d_rh * r;
  return d_rh * h_prev * r * (T(1) - r);
}

// ---- Diagnostics per value (diagnostics.md) -----------------------------------------------------
// Distance to saturation of a value in [0, 1] (a gate or a logistic unit).
template <class T>
RNNLAB_HD T unit_interval_sat_distance(T v) {
  return v < T(1) - v ? v : T(1) - v;
}

// Hidden distance to saturation for a cell's h: tanh and both GRUs 1 - |h|; logistic min(h, 1 - h);
// relu: 1 if h == 0 else 0 (sat_time is then the fraction of dead units). Linear RNNs have none.
template <class T>
RNNLAB_HD T hidden_sat_distance(Act act, T h) {
  switch (act) {
    case Act::Sigmoid: return unit_interval_sat_distance(h);
    case Act::Relu: return h == T(0) ? T(1) : T(0);
    default: return T(1) - std::fabs(h);
  }
}

}  // namespace cell
}  // namespace rnnlab

#endif
