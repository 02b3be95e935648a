// The cell functions of common/cell_math.h compiled by nvcc, as the CUDA backend compiles them:
// host side (always, no GPU needed) against the same functions in double (libm), and, where a
// device is usable, the device side too (the GPU's own expf/tanhf) against the same double values.
// A float evaluation must be within a few float ulps of the double one; what is checked is that
// the header's RNNLAB_HD functions compile for both sides and compute the same equations.
#include <cuda_runtime.h>

#include <cmath>
#include <cstdio>
#include <vector>

#include "common/cell_math.h"

namespace cell = rnnlab::cell;

namespace {

constexpr int kOut = 24;  // values written per input

// Every function of the header at one input tuple, in T. The order is fixed; the host, the device
// and the double evaluation write the same slots.
template <class T>
RNNLAB_HD void eval_all(T a, T b, T c, T d, T *out) {
  out[0] = cell::sigmoid(a);
  out[1] = cell::tanh_(a);
  out[2] = cell::activate(cell::Act::Tanh, a);
  out[3] = cell::activate(cell::Act::Sigmoid, a);
  out[4] = cell::activate(cell::Act::Relu, a);
  out[5] = cell::activate(cell::Act::Linear, a);
  out[6] = cell::act_derivative_from_output(cell::Act::Tanh, out[2]);
  out[7] = cell::act_derivative_from_output(cell::Act::Sigmoid, out[3]);
  const cell::GruUnit<T> u = cell::gru_lbr_forward(a, b, c, d, T(0.3) * a);
  out[8] = u.r;
  out[9] = u.z;
  out[10] = u.n;
  out[11] = u.h;
  const cell::GruGrad<T> g = cell::gru_lbr_backward(d, u.r, u.z, u.n, c, b * T(0.5));
  out[12] = g.da_r;
  out[13] = g.da_z;
  out[14] = g.da_n;
  out[15] = g.dhn;
  out[16] = g.dh_prev;
  const cell::GruGrad<T> h = cell::gru_rb_backward_candidate(d, u.z, cell::gru_rb_candidate(a, c), b * T(0.5));
  out[17] = h.da_z;
  out[18] = h.da_n;
  T dp = h.dh_prev;
  out[19] = cell::gru_rb_backward_reset(c, u.r, b * T(0.5), &dp);
  out[20] = dp;
  out[21] = cell::hidden_sat_distance(cell::Act::Tanh, out[2]);
  out[22] = cell::hidden_sat_distance(cell::Act::Sigmoid, out[3]);
  out[23] = cell::unit_interval_sat_distance(u.z);
}

__global__ void k_eval_all(const float *in, int n, float *out) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) eval_all(in[4 * i], in[4 * i + 1], in[4 * i + 2], in[4 * i + 3], out + static_cast<size_t>(i) * kOut);
}

int compare(const char *side, const std::vector<float> &got, const std::vector<double> &want) {
  int bad = 0;
  for (size_t k = 0; k < want.size(); ++k) {
    const double tol = 4e-6 * (1.0 + std::fabs(want[k]));
    if (!(std::fabs(static_cast<double>(got[k]) - want[k]) <= tol)) {
      if (bad < 10)
        std::printf("FAIL %s: input %zu value %zu: float %.9g, double %.9g\n", side, k / kOut, k % kOut,
                    static_cast<double>(got[k]), want[k]);
      ++bad;
    }
  }
  return bad;
}

}  // namespace

int main() {
  // Inputs over the ranges a pass sees, including the saturated tails.
  std::vector<float> in;
  for (int i = 0; i < 2000; ++i) {
    const float a = -12.0f + 24.0f * static_cast<float>(i) / 1999.0f;
    in.push_back(a);
    in.push_back(std::sin(0.37f * i) * 6.0f);
    in.push_back(std::cos(0.11f * i) * 3.0f);
    in.push_back(std::sin(0.05f * i + 1.0f));
  }
  const int n = static_cast<int>(in.size() / 4);
  std::vector<double> want(static_cast<size_t>(n) * kOut);
  std::vector<float> host(want.size());
  for (int i = 0; i < n; ++i) {
    eval_all<double>(in[4 * i], in[4 * i + 1], in[4 * i + 2], in[4 * i + 3], want.data() + static_cast<size_t>(i) * kOut);
    eval_all<float>(in[4 * i], in[4 * i + 1], in[4 * i + 2], in[4 * i + 3], host.data() + static_cast<size_t>(i) * kOut);
  }
  // The double values themselves against the equations written out here independently (math.md:
  // PyTorch's linear-before-reset GRU), so that a wrong equation in the header cannot pass unseen.
  int eq_bad = 0;
  for (int i = 0; i < n; ++i) {
    const double a = in[4 * i], b = in[4 * i + 1], c = in[4 * i + 2], d = in[4 * i + 3];
    const double r = 1.0 / (1.0 + std::exp(-a)), z = 1.0 / (1.0 + std::exp(-b)), nn = std::tanh(c + r * d);
    const double hp = 0.3 * a, h = (1.0 - z) * nn + z * hp;
    // Backward of that unit from dL/dh = d, with n and h_prev recomputed as eval_all feeds them.
    const double hp2 = 0.5 * b, dn = d * (1.0 - z), dz = d * (hp2 - nn), da_n = dn * (1.0 - nn * nn);
    const double expect[][2] = {{0, r}, {1, std::tanh(a)}, {4, a > 0 ? a : 0.0}, {8, r}, {9, z}, {10, nn}, {11, h},
                                {13, dz * z * (1.0 - z)}, {14, da_n}, {15, da_n * r}, {16, d * z},
                                {12, da_n * c * r * (1.0 - r)}};
    for (const auto &e : expect) {
      const double got = want[static_cast<size_t>(i) * kOut + static_cast<int>(e[0])];
      if (!(std::fabs(got - e[1]) <= 1e-12 * (1.0 + std::fabs(e[1])))) {
        if (eq_bad < 10) std::printf("FAIL equation: input %d value %d: header %.17g, written out %.17g\n", i,
                                     static_cast<int>(e[0]), got, e[1]);
        ++eq_bad;
      }
    }
  }
  std::printf("header equations against the written-out ones (double): %d mismatches\n", eq_bad);
  int bad = compare("host (nvcc)", host, want) + eq_bad;
  std::printf("host side (nvcc-compiled cell_math.h): %d inputs x %d values, %d outside tolerance\n", n, kOut, bad);

  int devices = 0;
  const cudaError_t e = cudaGetDeviceCount(&devices);
  if (e != cudaSuccess || devices == 0) {
    std::printf("device side NOT run: %s (host side checked above)\n",
                e != cudaSuccess ? cudaGetErrorString(e) : "no CUDA device");
    return bad ? 1 : 0;
  }
  float *din = nullptr, *dout = nullptr;
  std::vector<float> dev(want.size());
  bool ok = cudaMalloc(&din, in.size() * sizeof(float)) == cudaSuccess &&
            cudaMalloc(&dout, dev.size() * sizeof(float)) == cudaSuccess &&
            cudaMemcpy(din, in.data(), in.size() * sizeof(float), cudaMemcpyHostToDevice) == cudaSuccess;
  if (ok) {
    k_eval_all<<<(n + 127) / 128, 128>>>(din, n, dout);
    ok = cudaGetLastError() == cudaSuccess &&
         cudaMemcpy(dev.data(), dout, dev.size() * sizeof(float), cudaMemcpyDeviceToHost) == cudaSuccess;
  }
  cudaFree(din);
  cudaFree(dout);
  if (!ok) {
    std::printf("FAIL: the device evaluation did not run\n");
    return 1;
  }
  const int dbad = compare("device", dev, want);
  std::printf("device side: %d outside tolerance\n", dbad);
  return bad || dbad ? 1 : 0;
}
