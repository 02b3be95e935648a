// The cell equations and their derivatives, written once.
//
// Every backend (reference, CPU, CUDA) evaluates a cell unit by calling these functions, so a CPU
// test of them covers the GPU's arithmetic too. Everything is per unit and per sequence: the caller
// supplies the pre-activations that came out of its GEMMs. Gate order is r, z, n (PyTorch's).
#ifndef RNNLAB_COMMON_CELL_MATH_H
#define RNNLAB_COMMON_CELL_MATH_H

#include <cmath>
#include <cstdint>
#include <cstring>

#include "common/isa_ns.h"

#if defined(__CUDACC__)
#define RNNLAB_HD __host__ __device__ __forceinline__
#else
#define RNNLAB_HD inline
#endif

namespace rnnlab {
namespace cell {
RNNLAB_ISA_NS_BEGIN

// Activation of a vanilla RNN. The numbers are pinned: they are the rnnlab_cell values minus 2.
enum class Act : int { Tanh = 0, Sigmoid = 1, Relu = 2, Linear = 3 };

// exp and tanh. In double (the tests' ground truth) they are libm's. In float on the host they are
// branch-free polynomials that compilers vectorise inside the fused gate loops (libm calls are not),
// accurate to a few float ulps (test_cell_math bounds them); NaN stays NaN and overflow saturates as
// libm's does. On a GPU they are the device's own expf/tanhf.
template <class T>
RNNLAB_HD T exp_(T x) {
  return std::exp(x);
}
template <class T>
RNNLAB_HD T tanh_(T x) {
  return std::tanh(x);
}

#if !defined(__CUDA_ARCH__)
namespace detail {
inline float bits_to_float(uint32_t u) {
  float f;
  std::memcpy(&f, &u, sizeof f);
  return f;
}
inline uint32_t float_to_bits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, sizeof u);
  return u;
}
// Rounds x (|x| < 2^22) to the nearest integer k by adding 1.5 * 2^23: the sum's low mantissa bits
// are k. Returns k as a float and 2^k as a float (valid for k in [-126, 127]). NaN gives NaN and an
// unspecified (but defined: unsigned arithmetic) 2^k.
inline void round_pow2(float x, float *k, float *two_k) {
  const float magic = 12582912.0f;
  const float kb = x + magic;
  *k = kb - magic;
  *two_k = bits_to_float((float_to_bits(kb) - float_to_bits(magic) + 127u) << 23);
}
// e^r - 1 for |r| <= ln(2)/2, without cancellation: r + r^2 P(r), P of degree 5 (Cephes' expf
// coefficients).
inline float expm1_reduced(float r) {
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  return p * (r * r) + r;
}
// Splits x into k ln 2 + r, |r| <= ln(2)/2 (Cody-Waite: ln 2 in two parts); returns r.
inline float reduce_ln2(float x, float *two_k) {
  float k;
  round_pow2(x * 1.44269504088896341f, &k, two_k);
  return (x - k * 0.693359375f) + k * 2.12194440e-4f;
}
}  // namespace detail

// exp(x) = 2^k (1 + expm1(r)). x is clamped to where 2^k is a normal float; below that the true
// value rounds to (almost) 0 in every use here, above it the result is a huge finite number, not
// Inf. NaN passes the clamps (comparisons with NaN are false) and every later step keeps it NaN.
// No branch, no libm call: the compiler vectorises it inside the fused gate loops.
template <>
inline float exp_<float>(float x) {
  const float xc = x < -87.0f ? -87.0f : (x > 88.0f ? 88.0f : x);
  float two_k;
  const float r = detail::reduce_ln2(xc, &two_k);
  return (detail::expm1_reduced(r) + 1.0f) * two_k;
}

// tanh(|x|) = -m / (2 + m) with m = e^(-2|x|) - 1 in (-1, 0], computed as 2^k (e^r - 1) + (2^k - 1)
// so that neither small |x| (m ~ -2|x|) nor large |x| (tanh ~ 1) loses digits; the sign of x is
// put back last (tanh(-0) = -0). Within 2.5 ulp of tanh in double over every float (checked by
// test_cell_math). |x| >= 10 gives +-1 exactly, as tanh rounds there; NaN stays NaN.
template <>
inline float tanh_<float>(float x) {
  const float u0 = -2.0f * std::fabs(x);
  const float u = u0 < -20.0f ? -20.0f : u0;
  float two_k;
  const float r = detail::reduce_ln2(u, &two_k);
  const float m = two_k * detail::expm1_reduced(r) + (two_k - 1.0f);
  const float t = -m / (2.0f + m);
  return detail::bits_to_float((detail::float_to_bits(t) & 0x7FFFFFFFu) | (detail::float_to_bits(x) & 0x80000000u));
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
RNNLAB_HD T gru_lbr_candidate(T a_in, T r, T hn) {
  return tanh_(a_in + r * hn);
}
template <class T>
RNNLAB_HD T gru_blend(T z, T n, T h_prev) {
  return (T(1) - z) * n + z * h_prev;
}

// The whole unit; kernels that split it into passes (gates, then candidate and blend) call the
// three pieces above and below in this order.
template <class T>
RNNLAB_HD GruUnit<T> gru_lbr_forward(T a_r, T a_z, T a_in, T hn, T h_prev) {
  GruUnit<T> u;
  u.r = sigmoid(a_r);
  u.z = sigmoid(a_z);
  u.n = gru_lbr_candidate(a_in, u.r, hn);
  u.h = gru_blend(u.z, u.n, h_prev);
  return u;
}

// Reset-before (Cho et al.): n = tanh(a_in + a_hn), a_hn = W_hn (r * h_prev) + b_hn, computed by the
// caller after r is known. These two helpers split the unit at that point.
template <class T>
RNNLAB_HD T gru_rb_candidate(T a_in, T a_hn) {
  return tanh_(a_in + a_hn);
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

RNNLAB_ISA_NS_END
}  // namespace cell
}  // namespace rnnlab

#endif
