#include "core/init.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "core/error.h"
#include "core/linalg.h"
#include "core/rng.h"

namespace rnnlab {

namespace {

void fill_normal(Rng &rng, double *p, size_t n, double stddev) {
  for (size_t i = 0; i < n; ++i) p[i] = rng.normal(0.0, stddev);
}
void fill_uniform(Rng &rng, double *p, size_t n, double bound) {
  for (size_t i = 0; i < n; ++i) p[i] = rng.uniform(-bound, bound);
}

// One H x H Gaussian block made orthogonal.
void orthogonal_block(Rng &rng, double *dst, int H) {
  std::vector<double> a(static_cast<size_t>(H) * H);
  for (auto &v : a) v = rng.normal();
  orthonormalize_columns(a, H, H);
  std::copy(a.begin(), a.end(), dst);
}

// Pascanu's smart_tanh recurrent matrix: sparse rows (15 incoming connections per unit), rescaled
// to spectral radius 0.95.
void smart_tanh_whh(Rng &rng, double *W, int H) {
  const int keep = std::min(H, 15);
  std::vector<int> idx(H);
  for (int i = 0; i < H; ++i) {
    double *row = W + static_cast<size_t>(i) * H;
    for (int j = 0; j < H; ++j) row[j] = rng.normal(0.0, 0.01);
    std::iota(idx.begin(), idx.end(), 0);
    for (int k = 0; k < keep; ++k) {  // partial Fisher-Yates: the first `keep` are the kept columns
      const int m = k + static_cast<int>(rng.below(static_cast<uint64_t>(H - k)));
      std::swap(idx[k], idx[m]);
    }
    std::vector<char> kept(H, 0);
    for (int k = 0; k < keep; ++k) kept[idx[k]] = 1;
    for (int j = 0; j < H; ++j)
      if (!kept[j]) row[j] = 0.0;
  }
  std::vector<double> a(W, W + static_cast<size_t>(H) * H);
  const double rho = spectral_radius(a, H);
  if (rho > 0)
    for (size_t i = 0; i < a.size(); ++i) W[i] *= 0.95 / rho;
}

}  // namespace

std::vector<double> initialize(const ModelSpec &s, const Layout &L, const InitSpec &in) {
  std::vector<double> p(L.total, 0.0);
  Rng rng(in.seed);
  const int G = s.gates(), H = s.H;
  const size_t HH = static_cast<size_t>(H) * H;
  double *w_ih = p.data() + L.w_ih, *w_hh = p.data() + L.w_hh;
  double *b_ih = p.data() + L.b_ih, *b_hh = p.data() + L.b_hh;
  const size_t n_ih = static_cast<size_t>(G) * H * s.I, n_hh = static_cast<size_t>(G) * HH;
  const size_t n_b = static_cast<size_t>(G) * H;
  const size_t n_hw = s.has_head() ? static_cast<size_t>(s.O) * H : 0;
  double *head_w = s.has_head() ? p.data() + L.head_w : nullptr;
  double *head_b = s.has_head() ? p.data() + L.head_b : nullptr;

  switch (in.init) {
    case RNNLAB_INIT_PYTORCH:
    case RNNLAB_INIT_ORTHOGONAL:
    case RNNLAB_INIT_ORTHOGONAL_STACKED: {
      // nn.GRU / nn.RNN: every tensor U(-1/sqrt(H), 1/sqrt(H)); nn.Linear(H, O): bound 1/sqrt(fan_in = H).
      const double k = 1.0 / std::sqrt(static_cast<double>(H));
      fill_uniform(rng, w_ih, n_ih, k);
      fill_uniform(rng, w_hh, n_hh, k);
      fill_uniform(rng, b_ih, n_b, k);
      fill_uniform(rng, b_hh, n_b, k);
      if (head_w) {
        fill_uniform(rng, head_w, n_hw, k);
        fill_uniform(rng, head_b, static_cast<size_t>(s.O), k);
      }
      if (in.init == RNNLAB_INIT_ORTHOGONAL) {
        for (int g = 0; g < G; ++g) orthogonal_block(rng, w_hh + g * HH, H);
      } else if (in.init == RNNLAB_INIT_ORTHOGONAL_STACKED) {
        std::vector<double> a(n_hh);
        for (auto &v : a) v = rng.normal();
        orthonormalize_columns(a, G * H, H);
        std::copy(a.begin(), a.end(), w_hh);
      }
      break;
    }
    case RNNLAB_INIT_SIGMOID:
    case RNNLAB_INIT_BASIC_TANH:
    case RNNLAB_INIT_TEST:
    case RNNLAB_INIT_SMART_TANH: {
      const double sd = in.init == RNNLAB_INIT_BASIC_TANH ? 0.1 : in.init == RNNLAB_INIT_TEST ? 0.8 : 0.01;
      fill_normal(rng, w_ih, n_ih, sd);
      if (in.init == RNNLAB_INIT_SMART_TANH) {
        for (int g = 0; g < G; ++g) smart_tanh_whh(rng, w_hh + g * HH, H);
      } else {
        fill_normal(rng, w_hh, n_hh, sd);
      }
      if (head_w) fill_normal(rng, head_w, n_hw, sd);
      break;  // biases 0
    }
    case RNNLAB_INIT_CS728_GRU: {
      if (!s.is_gru()) raise(RNNLAB_E_INVALID_CONFIG, "init cs728_gru needs a GRU cell");
      fill_normal(rng, w_ih, n_ih, 0.01);
      fill_normal(rng, w_hh, 2 * HH, 0.005);          // W_hr, W_hz
      fill_normal(rng, w_hh + 2 * HH, HH, 0.01);      // W_hn
      if (head_w) fill_normal(rng, head_w, n_hw, 0.01);
      for (int j = 0; j < H; ++j) b_ih[H + j] = 2.0;  // the starter's b_z = -2 in its own z convention
      break;
    }
    default:
      raise(RNNLAB_E_INVALID_ARGUMENT, "init %d is not a known rnnlab_init", static_cast<int>(in.init));
  }

  // Bias overrides: the effective value goes to b_i., and b_h. starts at 0 (math.md).
  auto set_gate_bias = [&](int gate_slot, int j, double v) {
    b_ih[static_cast<size_t>(gate_slot) * H + j] = v;
    b_hh[static_cast<size_t>(gate_slot) * H + j] = 0.0;
  };
  if (in.bias_init == RNNLAB_BIAS_INIT_CONSTANT) {
    for (int gate = 0; gate < 3; ++gate) {
      if (!((in.bias_init_mask >> gate) & 1u)) continue;
      const int slot = s.is_gru() ? gate : 0;
      for (int j = 0; j < H; ++j) set_gate_bias(slot, j, in.bias_init_value[gate]);
    }
  } else if (in.bias_init == RNNLAB_BIAS_INIT_CHRONO) {
    for (int j = 0; j < H; ++j) {
      set_gate_bias(0, j, 0.0);
      set_gate_bias(1, j, std::log(rng.uniform(1.0, static_cast<double>(in.chrono_tmax - 1))));
    }
  }
  // Held entries (frozen gates, single-bias b_hh) take their held value whatever the scheme drew.
  for (size_t i = 0; i < L.total; ++i)
    if (!L.trainable[i]) p[i] = L.held[i];
  return p;
}

}  // namespace rnnlab
