// The forward pass against an independent implementation of math.md, seed 001's corner cases, and
// the initialisation schemes.
//
// The independent forward below is written from the equations with explicit matrices (one per gate
// block, cut out of the flat buffer by offsets computed here from math.md's table) and per-unit
// loops; it does not use cell_math.h, the Layout or the engine. The logistic function is written as
// (1 + tanh(a/2)) / 2 so that not even that line is shared.
//
// Tolerances (each stated where used):
//   double engine vs the independent forward: 1e-12 absolute on O(1) values (the sums differ only in
//     order and in the form of the logistic function: a few ulps);
//   float32 API vs the independent forward in double on the same (float) parameters: 1e-5 absolute
//     (float32 round-off, ~6e-8 per operation, through <= 5 steps of short dot products);
//   float32 statistics of random draws: stated per check, >= 4 standard errors.
#include "cmocka_cpp.h"

#include <rnnlab/rnnlab.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "core/rng.h"
#include "core/spec.h"
#include "reference/ref_engine.h"

using namespace rnnlab;

namespace {

const char *cell_str(rnnlab_cell c) {
  static const char *n[] = {"gru", "gru_reset_before", "rnn_tanh", "rnn_sigmoid", "rnn_relu", "rnn_linear"};
  return n[c];
}
bool is_gru(rnnlab_cell c) { return c == RNNLAB_CELL_GRU || c == RNNLAB_CELL_GRU_RESET_BEFORE; }

// ---- the independent forward ----------------------------------------------------------------------

struct Mat {
  int rows = 0, cols = 0;
  std::vector<double> v;
  double operator()(int i, int j) const { return v[static_cast<size_t>(i) * cols + j]; }
};

// y = M x
std::vector<double> matvec(const Mat &M, const std::vector<double> &x) {
  std::vector<double> y(M.rows, 0.0);
  for (int i = 0; i < M.rows; ++i)
    for (int j = 0; j < M.cols; ++j) y[i] += M(i, j) * x[j];
  return y;
}

double logistic(double a) { return 0.5 * (1.0 + std::tanh(0.5 * a)); }

// A model cut out of a flat buffer in math.md's order: weight_ih (G*H x I), weight_hh (G*H x H),
// bias_ih (G*H), bias_hh (G*H), head.weight (O x H), head.bias (O); GRU gate rows r, z, n.
struct Net {
  rnnlab_cell cell;
  int I, H, O;
  Mat Wi[3], Wh[3];                // per gate (RNN: index 0 only)
  std::vector<double> bi[3], bh[3];
  Mat Wy;
  std::vector<double> by;
};

Net net_from_flat(rnnlab_cell cell, int I, int H, int O, const std::vector<double> &flat) {
  Net n;
  n.cell = cell;
  n.I = I;
  n.H = H;
  n.O = O;
  const int G = is_gru(cell) ? 3 : 1;
  size_t off = 0;
  auto take_mat = [&](int rows, int cols) {
    Mat M;
    M.rows = rows;
    M.cols = cols;
    M.v.assign(flat.begin() + off, flat.begin() + off + static_cast<size_t>(rows) * cols);
    off += static_cast<size_t>(rows) * cols;
    return M;
  };
  auto take_vec = [&](int k) {
    std::vector<double> v(flat.begin() + off, flat.begin() + off + k);
    off += k;
    return v;
  };
  for (int g = 0; g < G; ++g) n.Wi[g] = take_mat(H, I);
  for (int g = 0; g < G; ++g) n.Wh[g] = take_mat(H, H);
  for (int g = 0; g < G; ++g) n.bi[g] = take_vec(H);
  for (int g = 0; g < G; ++g) n.bh[g] = take_vec(H);
  if (O > 0) {
    n.Wy = take_mat(O, H);
    n.by = take_vec(O);
  }
  assert_int_equal(off, flat.size());
  return n;
}

// One step of one sequence.
std::vector<double> cell_step(const Net &n, const std::vector<double> &x, const std::vector<double> &h) {
  const int H = n.H;
  std::vector<double> out(H);
  if (!is_gru(n.cell)) {
    const std::vector<double> ax = matvec(n.Wi[0], x), ah = matvec(n.Wh[0], h);
    for (int j = 0; j < H; ++j) {
      const double a = ax[j] + n.bi[0][j] + ah[j] + n.bh[0][j];
      switch (n.cell) {
        case RNNLAB_CELL_RNN_TANH: out[j] = std::tanh(a); break;
        case RNNLAB_CELL_RNN_SIGMOID: out[j] = logistic(a); break;
        case RNNLAB_CELL_RNN_RELU: out[j] = std::max(a, 0.0); break;
        default: out[j] = a;
      }
    }
    return out;
  }
  // r_t = σ(W_ir x + b_ir + W_hr h + b_hr), z_t likewise.
  const std::vector<double> xr = matvec(n.Wi[0], x), hr = matvec(n.Wh[0], h);
  const std::vector<double> xz = matvec(n.Wi[1], x), hz = matvec(n.Wh[1], h);
  const std::vector<double> xn = matvec(n.Wi[2], x);
  std::vector<double> r(H), z(H);
  for (int j = 0; j < H; ++j) {
    r[j] = logistic(xr[j] + n.bi[0][j] + hr[j] + n.bh[0][j]);
    z[j] = logistic(xz[j] + n.bi[1][j] + hz[j] + n.bh[1][j]);
  }
  std::vector<double> cand(H);
  if (n.cell == RNNLAB_CELL_GRU) {
    // n_t = tanh(W_in x + b_in + r ⊙ (W_hn h + b_hn))
    const std::vector<double> hn = matvec(n.Wh[2], h);
    for (int j = 0; j < H; ++j) cand[j] = std::tanh(xn[j] + n.bi[2][j] + r[j] * (hn[j] + n.bh[2][j]));
  } else {
    // n_t = tanh(W_in x + b_in + W_hn (r ⊙ h) + b_hn)
    std::vector<double> rh(H);
    for (int j = 0; j < H; ++j) rh[j] = r[j] * h[j];
    const std::vector<double> hn = matvec(n.Wh[2], rh);
    for (int j = 0; j < H; ++j) cand[j] = std::tanh(xn[j] + n.bi[2][j] + hn[j] + n.bh[2][j]);
  }
  // h_t = (1 − z) ⊙ n + z ⊙ h_{t−1}
  for (int j = 0; j < H; ++j) out[j] = (1.0 - z[j]) * cand[j] + z[j] * h[j];
  return out;
}

// Whole pass: outputs y[T][B][W] (logits / y, or h without a head) and hidden states h[T][B][H].
void naive_forward(const Net &n, const std::vector<double> &x, const std::vector<double> &h0, int T, int B,
                   std::vector<double> *y, std::vector<double> *hs) {
  const int I = n.I, H = n.H, W = n.O > 0 ? n.O : H;
  y->assign(static_cast<size_t>(T) * B * W, 0.0);
  hs->assign(static_cast<size_t>(T) * B * H, 0.0);
  for (int b = 0; b < B; ++b) {
    std::vector<double> h(h0.begin() + static_cast<size_t>(b) * H, h0.begin() + static_cast<size_t>(b + 1) * H);
    for (int t = 0; t < T; ++t) {
      const size_t xo = (static_cast<size_t>(t) * B + b) * I;
      std::vector<double> xt(x.begin() + xo, x.begin() + xo + I);
      h = cell_step(n, xt, h);
      std::copy(h.begin(), h.end(), hs->begin() + (static_cast<size_t>(t) * B + b) * H);
      std::vector<double> o = h;
      if (n.O > 0) {
        o = matvec(n.Wy, h);
        for (int k = 0; k < n.O; ++k) o[k] += n.by[k];
      }
      std::copy(o.begin(), o.end(), y->begin() + (static_cast<size_t>(t) * B + b) * W);
    }
  }
}

double max_abs_diff(const std::vector<double> &a, const std::vector<double> &b) {
  if (a.size() != b.size()) return INFINITY;
  double m = 0;
  for (size_t k = 0; k < a.size(); ++k) m = std::max(m, std::fabs(a[k] - b[k]));
  return m;
}

// ---- API helpers ----------------------------------------------------------------------------------

rnnlab_model *create(const rnnlab_config &c) {
  rnnlab_model *m = nullptr;
  const rnnlab_status st = rnnlab_create(&m, &c);
  if (st != RNNLAB_OK) print_error("rnnlab_create: %s\n", rnnlab_last_error());
  assert_int_equal(st, RNNLAB_OK);
  return m;
}

rnnlab_config base_config(rnnlab_cell cell, int I, int H, rnnlab_head head, int O) {
  rnnlab_config c = RNNLAB_CONFIG_INIT;
  c.cell = cell;
  c.input_size = I;
  c.hidden_size = H;
  c.head = head;
  c.output_size = head == RNNLAB_HEAD_NONE ? 0 : O;
  c.backend = RNNLAB_BACKEND_REFERENCE;
  return c;
}

std::vector<float> tensor(const rnnlab_model *m, const char *name) {
  rnnlab_tensor_info info;
  assert_int_equal(rnnlab_tensor_info_by_name(&info, m, name), RNNLAB_OK);
  std::vector<float> v(info.count);
  assert_int_equal(rnnlab_get_tensor(v.data(), v.size(), m, name), RNNLAB_OK);
  return v;
}

std::vector<float> all_params(const rnnlab_model *m) {
  size_t total = 0;
  assert_int_equal(rnnlab_param_count(&total, nullptr, m), RNNLAB_OK);
  std::vector<float> v(total);
  assert_int_equal(rnnlab_get_params(v.data(), v.size(), m), RNNLAB_OK);
  return v;
}

// ---- forward against the independent implementation ----------------------------------------------

// Every cell x every head, hand-sized (I=2, H=3, O=2, T=4, B=2): the double engine and the float API.
void forward_matches_math(void **) {
  const int I = 2, H = 3, O = 2, T = 4, B = 2;
  int bad = 0;
  for (int ci = 0; ci < 6; ++ci)
    for (int hi = 0; hi < 4; ++hi) {
      const rnnlab_cell cell = static_cast<rnnlab_cell>(ci);
      const rnnlab_head head = static_cast<rnnlab_head>(hi);
      const int Oh = head == RNNLAB_HEAD_NONE ? 0 : O;
      rnnlab_model *m = create(base_config(cell, I, H, head, O));
      // The flat order and shapes of math.md's table.
      const int G = is_gru(cell) ? 3 : 1;
      const char *names[] = {"weight_ih", "weight_hh", "bias_ih", "bias_hh", "head.weight", "head.bias"};
      const int rows[] = {G * H, G * H, G * H, G * H, Oh, Oh}, cols[] = {I, H, 1, 1, H, 1};
      int32_t nt = 0;
      assert_int_equal(rnnlab_tensor_count(&nt, m), RNNLAB_OK);
      assert_int_equal(nt, head == RNNLAB_HEAD_NONE ? 4 : 6);
      size_t off = 0;
      for (int k = 0; k < nt; ++k) {
        rnnlab_tensor_info info;
        assert_int_equal(rnnlab_tensor_info_at(&info, m, k), RNNLAB_OK);
        assert_string_equal(info.name, names[k]);
        assert_int_equal(info.rows, rows[k]);
        assert_int_equal(info.cols, cols[k]);
        assert_int_equal(info.offset, off);
        off += info.count;
      }
      // Parameters in (-0.9, 0.9), rounded to float so both sides see the same numbers.
      Rng rng(40 + ci * 4 + hi);
      std::vector<float> pf(off);
      for (auto &v : pf) v = static_cast<float>(rng.uniform(-0.9, 0.9));
      std::vector<float> xf(static_cast<size_t>(T) * B * I), h0f(static_cast<size_t>(B) * H);
      for (auto &v : xf) v = static_cast<float>(rng.uniform(-1.5, 1.5));
      for (auto &v : h0f) v = static_cast<float>(rng.uniform(-0.6, 0.6));
      const std::vector<double> p(pf.begin(), pf.end()), x(xf.begin(), xf.end()), h0(h0f.begin(), h0f.end());

      std::vector<double> want_y, want_h;
      naive_forward(net_from_flat(cell, I, H, Oh, p), x, h0, T, B, &want_y, &want_h);

      // Double engine: 1e-12 (see the header).
      ModelSpec s;
      s.cell = cell;
      s.I = I;
      s.H = H;
      s.O = Oh;
      s.head = head;
      RefEngine<double> e(s);
      e.reset(B, h0.data());
      const int W = Oh > 0 ? Oh : H;
      std::vector<double> y(static_cast<size_t>(T) * B * W);
      e.step(p.data(), x.data(), T, y.data(), true);
      std::vector<double> hs;
      for (int t = 0; t < T; ++t) hs.insert(hs.end(), e.recorded_hidden(t).begin(), e.recorded_hidden(t).end());
      const double dy = max_abs_diff(y, want_y), dh = max_abs_diff(hs, want_h);
      if (!(dy <= 1e-12 && dh <= 1e-12)) {
        print_error("%s head %d: double engine differs from math.md by %g (outputs), %g (hidden)\n", cell_str(cell),
                    hi, dy, dh);
        ++bad;
      }
      // Float API: 1e-5 (see the header).
      assert_int_equal(rnnlab_set_params(m, pf.data(), pf.size()), RNNLAB_OK);
      assert_int_equal(rnnlab_set_h0(m, h0f.data(), h0f.size(), B), RNNLAB_OK);
      std::vector<float> yf(static_cast<size_t>(T) * B * W);
      assert_int_equal(rnnlab_step(yf.data(), yf.size(), m, xf.data(), xf.size(), T, B), RNNLAB_OK);
      std::vector<float> hT(static_cast<size_t>(B) * H);
      assert_int_equal(rnnlab_get_hidden(hT.data(), hT.size(), m), RNNLAB_OK);
      const double dyf = max_abs_diff(std::vector<double>(yf.begin(), yf.end()), want_y);
      const double dhf = max_abs_diff(std::vector<double>(hT.begin(), hT.end()),
                                      std::vector<double>(want_h.end() - static_cast<long>(B) * H, want_h.end()));
      if (!(dyf <= 1e-5 && dhf <= 1e-5)) {
        print_error("%s head %d: float API differs from math.md by %g (outputs), %g (final hidden)\n",
                    cell_str(cell), hi, dyf, dhf);
        ++bad;
      }
      rnnlab_destroy(m);
    }
  assert_int_equal(bad, 0);
}

// Two cases worked out in closed form, one scalar RNN and one scalar GRU (I = H = 1).
void forward_scalar_by_hand(void **) {
  {  // tanh RNN: w_ih 0.5, w_hh -0.7, b_ih 0.1, b_hh 0.2, h0 0.3, x = 1, -2
    const float p[] = {0.5f, -0.7f, 0.1f, 0.2f};
    rnnlab_model *m = create(base_config(RNNLAB_CELL_RNN_TANH, 1, 1, RNNLAB_HEAD_NONE, 0));
    assert_int_equal(rnnlab_set_params(m, p, 4), RNNLAB_OK);
    const float h0 = 0.3f, x[] = {1.0f, -2.0f};
    assert_int_equal(rnnlab_set_h0(m, &h0, 1, 1), RNNLAB_OK);
    float y[2];
    assert_int_equal(rnnlab_step(y, 2, m, x, 2, 2, 1), RNNLAB_OK);
    const double w_ih = 0.5f, w_hh = -0.7f, b = double(0.1f) + double(0.2f);
    const double h1 = std::tanh(w_ih * 1.0 + w_hh * double(0.3f) + b);
    const double h2 = std::tanh(w_ih * -2.0 + w_hh * h1 + b);
    assert_true(std::fabs(y[0] - h1) <= 1e-6);  // float round-off of one tanh
    assert_true(std::fabs(y[1] - h2) <= 1e-6);
    rnnlab_destroy(m);
  }
  {  // GRU (PyTorch): rows r, z, n. W_i = (0.2, -0.4, 0.9), W_h = (0.3, 0.5, -0.6),
     // b_i = (0.1, 0.2, -0.1), b_h = (-0.2, 0.05, 0.4); h0 = 0.5, x = 0.7, then head = 2 h - 1.
    const float p[] = {0.2f, -0.4f, 0.9f, 0.3f, 0.5f, -0.6f, 0.1f, 0.2f, -0.1f, -0.2f, 0.05f, 0.4f, 2.0f, -1.0f};
    for (rnnlab_cell cell : {RNNLAB_CELL_GRU, RNNLAB_CELL_GRU_RESET_BEFORE}) {
      rnnlab_model *m = create(base_config(cell, 1, 1, RNNLAB_HEAD_LAST_LINEAR, 1));
      assert_int_equal(rnnlab_set_params(m, p, 14), RNNLAB_OK);
      const float h0 = 0.5f, x = 0.7f;
      assert_int_equal(rnnlab_set_h0(m, &h0, 1, 1), RNNLAB_OK);
      float y;
      assert_int_equal(rnnlab_step(&y, 1, m, &x, 1, 1, 1), RNNLAB_OK);
      auto d = [](float v) { return static_cast<double>(v); };
      const double H0 = 0.5, X = d(0.7f);
      const double r = 1.0 / (1.0 + std::exp(-(d(0.2f) * X + d(0.1f) + d(0.3f) * H0 + d(-0.2f))));
      const double z = 1.0 / (1.0 + std::exp(-(d(-0.4f) * X + d(0.2f) + d(0.5f) * H0 + d(0.05f))));
      const double n = cell == RNNLAB_CELL_GRU ? std::tanh(d(0.9f) * X + d(-0.1f) + r * (d(-0.6f) * H0 + d(0.4f)))
                                               : std::tanh(d(0.9f) * X + d(-0.1f) + d(-0.6f) * (r * H0) + d(0.4f));
      const double h1 = (1 - z) * n + z * H0;
      assert_true(std::fabs(y - (2.0 * h1 - 1.0)) <= 1e-6);  // float round-off
      rnnlab_destroy(m);
    }
  }
}

// ---- seed 001's corner cases ----------------------------------------------------------------------

// Sets the `gate` block (0 r, 1 z, 2 n) of bias_ih to v.
void set_gate_bias(rnnlab_model *m, int H, int gate, float v) {
  std::vector<float> b = tensor(m, "bias_ih");
  for (int j = 0; j < H; ++j) b[static_cast<size_t>(gate) * H + j] = v;
  assert_int_equal(rnnlab_set_tensor(m, "bias_ih", b.data(), b.size()), RNNLAB_OK);
}

// z -> 1 (b_z = +40: sigma(40) rounds to 1 in float and in double): h_t == h_{t-1}, both GRUs, over
// five steps, whatever x is.
void huge_bz_keeps_h(void **) {
  const int I = 2, H = 4, T = 5, B = 2;
  for (rnnlab_cell cell : {RNNLAB_CELL_GRU, RNNLAB_CELL_GRU_RESET_BEFORE}) {
    rnnlab_config c = base_config(cell, I, H, RNNLAB_HEAD_NONE, 0);
    c.seed = 3;
    rnnlab_model *m = create(c);
    set_gate_bias(m, H, 1, 40.0f);
    Rng rng(9);
    std::vector<float> h0(static_cast<size_t>(B) * H), x(static_cast<size_t>(T) * B * I);
    for (auto &v : h0) v = static_cast<float>(rng.uniform(-0.9, 0.9));
    for (auto &v : x) v = static_cast<float>(rng.uniform(-2.0, 2.0));
    assert_int_equal(rnnlab_set_h0(m, h0.data(), h0.size(), B), RNNLAB_OK);
    std::vector<float> y(static_cast<size_t>(T) * B * H);
    assert_int_equal(rnnlab_step(y.data(), y.size(), m, x.data(), x.size(), T, B), RNNLAB_OK);
    for (int t = 0; t < T; ++t)
      for (size_t k = 0; k < static_cast<size_t>(B) * H; ++k) {
        const float prev = t == 0 ? h0[k] : y[(static_cast<size_t>(t) - 1) * B * H + k];
        const float cur = y[static_cast<size_t>(t) * B * H + k];
        // To float round-off: one ulp of h.
        assert_true(std::fabs(cur - prev) <= 1.2e-7f * std::fabs(prev));
      }
    rnnlab_destroy(m);

    // The same in double through the engine: 1e-15 relative.
    ModelSpec s;
    s.cell = cell;
    s.I = I;
    s.H = H;
    RefEngine<double> e(s);
    std::vector<double> p(e.layout().total);
    for (auto &v : p) v = rng.uniform(-0.5, 0.5);
    for (int j = 0; j < H; ++j) p[e.layout().b_ih + H + j] = 40.0;
    std::vector<double> h0d(h0.begin(), h0.end()), xd(x.begin(), x.end());
    e.reset(B, h0d.data());
    std::vector<double> yd(static_cast<size_t>(T) * B * H);
    e.step(p.data(), xd.data(), T, yd.data(), false);
    for (size_t k = 0; k < yd.size(); ++k) {
      const double prev = k < h0d.size() ? h0d[k] : yd[k - h0d.size()];
      assert_true(std::fabs(yd[k] - prev) <= 1e-15 * std::fabs(prev) + 1e-300);
    }
  }
}

// Reset-before GRU with z = 0 and r = 0 (b_z = b_r = -40): h_t = tanh(W_in x + b_in + b_hn) forgets
// h_{t-1}: two very different h0 give the same h_1, and h_1 is that formula.
void reset_before_forgets(void **) {
  const int I = 3, H = 4, B = 2;
  rnnlab_config c = base_config(RNNLAB_CELL_GRU_RESET_BEFORE, I, H, RNNLAB_HEAD_NONE, 0);
  c.seed = 11;
  rnnlab_model *m = create(c);
  set_gate_bias(m, H, 0, -40.0f);
  set_gate_bias(m, H, 1, -40.0f);
  const std::vector<float> w_ih = tensor(m, "weight_ih"), b_ih = tensor(m, "bias_ih"), b_hh = tensor(m, "bias_hh");
  const float x[] = {0.3f, -1.2f, 0.8f, 1.5f, 0.1f, -0.4f};
  std::vector<float> ha(static_cast<size_t>(B) * H, 0.95f), hb(static_cast<size_t>(B) * H, -0.95f);
  std::vector<float> ya(static_cast<size_t>(B) * H), yb(static_cast<size_t>(B) * H);
  assert_int_equal(rnnlab_set_h0(m, ha.data(), ha.size(), B), RNNLAB_OK);
  assert_int_equal(rnnlab_step(ya.data(), ya.size(), m, x, 6, 1, B), RNNLAB_OK);
  assert_int_equal(rnnlab_set_h0(m, hb.data(), hb.size(), B), RNNLAB_OK);
  assert_int_equal(rnnlab_step(yb.data(), yb.size(), m, x, 6, 1, B), RNNLAB_OK);
  for (int b = 0; b < B; ++b)
    for (int j = 0; j < H; ++j) {
      const size_t k = static_cast<size_t>(b) * H + j;
      // sigma(-40) ~ 4e-18: r * h and z * h are far below float round-off of O(1) values.
      assert_true(std::fabs(ya[k] - yb[k]) <= 1e-6f);
      double a = static_cast<double>(b_ih[2 * H + j]) + b_hh[2 * H + j];
      for (int i = 0; i < I; ++i) a += static_cast<double>(w_ih[static_cast<size_t>(2 * H + j) * I + i]) * x[b * I + i];
      assert_true(std::fabs(ya[k] - std::tanh(a)) <= 1e-6);  // float round-off
    }
  rnnlab_destroy(m);
}

// ---- initialisation -------------------------------------------------------------------------------

// Seed 000's model: I=1, H=181, a 10-class last-softmax head: 101,732 parameters; 101,008 trainable
// with z and r frozen (4 x 181 bias entries held); 101,189 in single-bias mode (181 x 3 b_h held).
void param_count_seed000(void **) {
  rnnlab_config c = base_config(RNNLAB_CELL_GRU, 1, 181, RNNLAB_HEAD_LAST_SOFTMAX, 10);
  size_t total = 0, trainable = 0;
  rnnlab_model *m = create(c);
  assert_int_equal(rnnlab_param_count(&total, &trainable, m), RNNLAB_OK);
  assert_int_equal(total, 101732);
  assert_int_equal(trainable, 101732);
  rnnlab_destroy(m);
  c.frozen_bias_mask = RNNLAB_GATE_Z | RNNLAB_GATE_R;
  m = create(c);
  assert_int_equal(rnnlab_param_count(&total, &trainable, m), RNNLAB_OK);
  assert_int_equal(total, 101732);
  assert_int_equal(trainable, 101008);
  std::vector<uint8_t> mask(total);
  assert_int_equal(rnnlab_get_trainable_mask(mask.data(), mask.size(), m), RNNLAB_OK);
  size_t ones = 0;
  for (uint8_t v : mask) ones += v;
  assert_int_equal(ones, 101008);
  rnnlab_destroy(m);
  c.frozen_bias_mask = 0;
  c.bias_mode = RNNLAB_BIAS_SINGLE;
  m = create(c);
  assert_int_equal(rnnlab_param_count(&total, &trainable, m), RNNLAB_OK);
  assert_int_equal(trainable, 101732 - 3 * 181);
  rnnlab_destroy(m);
}

struct InitCase {
  const char *name;
  rnnlab_config cfg;
};

std::vector<InitCase> init_cases() {
  std::vector<InitCase> v;
  auto add = [&](const char *name, rnnlab_cell cell, rnnlab_init init) {
    rnnlab_config c = base_config(cell, 3, 20, RNNLAB_HEAD_LAST_SOFTMAX, 4);
    c.init = init;
    v.push_back({name, c});
    return &v.back().cfg;
  };
  add("pytorch/gru", RNNLAB_CELL_GRU, RNNLAB_INIT_PYTORCH);
  add("pytorch/rnn", RNNLAB_CELL_RNN_TANH, RNNLAB_INIT_PYTORCH);
  add("orthogonal/gru", RNNLAB_CELL_GRU, RNNLAB_INIT_ORTHOGONAL);
  add("orthogonal_stacked/gru", RNNLAB_CELL_GRU, RNNLAB_INIT_ORTHOGONAL_STACKED);
  add("sigmoid/rnn", RNNLAB_CELL_RNN_SIGMOID, RNNLAB_INIT_SIGMOID);
  add("basic_tanh/rnn", RNNLAB_CELL_RNN_TANH, RNNLAB_INIT_BASIC_TANH);
  add("smart_tanh/rnn", RNNLAB_CELL_RNN_TANH, RNNLAB_INIT_SMART_TANH);
  add("smart_tanh/gru", RNNLAB_CELL_GRU, RNNLAB_INIT_SMART_TANH);
  add("test/rnn", RNNLAB_CELL_RNN_LINEAR, RNNLAB_INIT_TEST);
  add("cs728_gru", RNNLAB_CELL_GRU_RESET_BEFORE, RNNLAB_INIT_CS728_GRU);
  rnnlab_config *c = add("pytorch+chrono/gru", RNNLAB_CELL_GRU, RNNLAB_INIT_PYTORCH);
  c->bias_init = RNNLAB_BIAS_INIT_CHRONO;
  c->chrono_tmax = 100;
  c = add("orthogonal+constant/gru", RNNLAB_CELL_GRU, RNNLAB_INIT_ORTHOGONAL);
  c->bias_init = RNNLAB_BIAS_INIT_CONSTANT;
  c->bias_init_mask = RNNLAB_GATE_Z;
  c->bias_init_value[1] = 1.0f;
  return v;
}

// Every scheme: the same seed gives the same parameters bit for bit; another seed other ones.
void init_reproducible(void **) {
  for (InitCase ic : init_cases()) {
    ic.cfg.seed = 1234;
    rnnlab_model *a = create(ic.cfg), *b = create(ic.cfg);
    ic.cfg.seed = 1235;
    rnnlab_model *c = create(ic.cfg);
    const std::vector<float> pa = all_params(a), pb = all_params(b), pc = all_params(c);
    assert_int_equal(pa.size(), pb.size());
    assert_memory_equal(pa.data(), pb.data(), pa.size() * sizeof(float));
    // Different across seeds: every weight tensor differs in most of its entries.
    for (const char *t : {"weight_ih", "weight_hh", "head.weight"}) {
      const std::vector<float> ta = tensor(a, t), tc = tensor(c, t);
      size_t same = 0, nonzero = 0;
      for (size_t k = 0; k < ta.size(); ++k) {
        same += ta[k] == tc[k];
        nonzero += ta[k] != 0.0f;
      }
      if (!(same < nonzero / 2 + 1 && nonzero > 0) || same == ta.size()) {
        print_error("%s: %s: %zu of %zu entries equal across seeds\n", ic.name, t, same, ta.size());
        fail();
      }
    }
    rnnlab_destroy(a);
    rnnlab_destroy(b);
    rnnlab_destroy(c);
  }
}

// max |M M^T - I| of an n x n block (or M^T M for a tall matrix: rows x cols).
double gram_error(const float *M, int rows, int cols, bool columns) {
  double worst = 0;
  const int n = columns ? cols : rows;
  for (int i = 0; i < n; ++i)
    for (int j = 0; j < n; ++j) {
      double s = 0;
      if (columns)
        for (int k = 0; k < rows; ++k) s += static_cast<double>(M[k * cols + i]) * M[k * cols + j];
      else
        for (int k = 0; k < cols; ++k) s += static_cast<double>(M[i * cols + k]) * M[j * cols + k];
      worst = std::max(worst, std::fabs(s - (i == j ? 1.0 : 0.0)));
    }
  return worst;
}

// Each H x H block of weight_hh orthogonal (W W^T = I); stacked: weight_hh^T weight_hh = I.
// Tolerance 1e-5: H = 20 float32 products of entries rounded at 6e-8 relative.
void init_orthogonal(void **) {
  const int H = 20;
  for (rnnlab_cell cell : {RNNLAB_CELL_GRU, RNNLAB_CELL_RNN_TANH}) {
    rnnlab_config c = base_config(cell, 3, H, RNNLAB_HEAD_NONE, 0);
    c.init = RNNLAB_INIT_ORTHOGONAL;
    c.seed = 8;
    rnnlab_model *m = create(c);
    const std::vector<float> w = tensor(m, "weight_hh");
    const int G = is_gru(cell) ? 3 : 1;
    for (int g = 0; g < G; ++g) {
      const double e = gram_error(w.data() + static_cast<size_t>(g) * H * H, H, H, false);
      if (!(e <= 1e-5)) {
        print_error("%s: block %d: max |W W^T - I| = %g\n", cell_str(cell), g, e);
        fail();
      }
      // ... and W^T W = I (a square orthogonal matrix).
      assert_true(gram_error(w.data() + static_cast<size_t>(g) * H * H, H, H, true) <= 1e-5);
    }
    // Every eigenvalue on the unit circle (seed 000's wish): rho = sigma_max = 1 for every block.
    const rnnlab_block blocks[] = {RNNLAB_BLOCK_HR, RNNLAB_BLOCK_HZ, RNNLAB_BLOCK_HN};
    for (int g = 0; g < G; ++g) {
      double rho = 0, sig = 0;
      assert_int_equal(rnnlab_spectral(&rho, &sig, m, G == 3 ? blocks[g] : RNNLAB_BLOCK_HN), RNNLAB_OK);
      assert_true(std::fabs(rho - 1.0) <= 1e-5 && std::fabs(sig - 1.0) <= 1e-5);
    }
    if (G == 3) {  // three different blocks
      assert_true(std::memcmp(w.data(), w.data() + H * H, H * H * sizeof(float)) != 0);
      // Stacked, these blocks are not orthonormal columns (W^T W = 3 I): the two schemes differ.
      assert_true(gram_error(w.data(), 3 * H, H, true) > 1.0);
    }
    // The other tensors stay PyTorch's U(-1/sqrt(H), 1/sqrt(H)).
    const float k = 1.0f / std::sqrt(static_cast<float>(H));
    for (const char *t : {"weight_ih", "bias_ih", "bias_hh"})
      for (float v : tensor(m, t)) assert_true(std::fabs(v) <= k);
    rnnlab_destroy(m);
  }
  rnnlab_config c = base_config(RNNLAB_CELL_GRU, 3, H, RNNLAB_HEAD_NONE, 0);
  c.init = RNNLAB_INIT_ORTHOGONAL_STACKED;
  c.seed = 8;
  rnnlab_model *m = create(c);
  const std::vector<float> w = tensor(m, "weight_hh");
  const double e = gram_error(w.data(), 3 * H, H, true);
  if (!(e <= 1e-5)) {
    print_error("orthogonal_stacked: max |W^T W - I| = %g\n", e);
    fail();
  }
  rnnlab_destroy(m);
}

// smart_tanh: spectral radius 0.95 (rnnlab_spectral; 1e-5, float32 entries), at most 15 non-zeros
// per row (exactly 15 when H > 15: normal draws are never 0), N(0, 0.01^2) input weights, biases 0.
void init_smart_tanh(void **) {
  const int H = 40;
  for (rnnlab_cell cell : {RNNLAB_CELL_RNN_TANH, RNNLAB_CELL_GRU}) {
    rnnlab_config c = base_config(cell, 5, H, RNNLAB_HEAD_NONE, 0);
    c.init = RNNLAB_INIT_SMART_TANH;
    c.seed = 21;
    rnnlab_model *m = create(c);
    const std::vector<float> w = tensor(m, "weight_hh");
    for (size_t row = 0; row < w.size() / H; ++row) {
      int nz = 0;
      for (int j = 0; j < H; ++j) nz += w[row * H + j] != 0.0f;
      if (nz != 15) {
        print_error("%s: row %zu of weight_hh has %d non-zeros\n", cell_str(cell), row, nz);
        fail();
      }
    }
    const rnnlab_block blocks[] = {RNNLAB_BLOCK_HN, RNNLAB_BLOCK_HZ, RNNLAB_BLOCK_HR};
    for (int k = 0; k < (is_gru(cell) ? 3 : 1); ++k) {
      double rho = 0;
      assert_int_equal(rnnlab_spectral(&rho, nullptr, m, blocks[k]), RNNLAB_OK);
      if (!(std::fabs(rho - 0.95) <= 1e-5)) {
        print_error("%s: block %d: spectral radius %.9f, expected 0.95\n", cell_str(cell), k, rho);
        fail();
      }
    }
    for (float v : tensor(m, "bias_ih")) assert_true(v == 0.0f);
    for (float v : tensor(m, "bias_hh")) assert_true(v == 0.0f);
    rnnlab_destroy(m);
  }
}

// Sample mean and standard deviation of a set of tensors.
void moments(const rnnlab_model *m, std::initializer_list<const char *> names, double *mean, double *sd,
             size_t *n) {
  double s = 0, s2 = 0;
  size_t k = 0;
  for (const char *name : names)
    for (float v : tensor(m, name)) {
      s += v;
      s2 += static_cast<double>(v) * v;
      ++k;
    }
  *mean = s / k;
  *sd = std::sqrt(s2 / k - *mean * *mean);
  *n = k;
}

// pytorch: every tensor within +-1/sqrt(H) (and spread over that range). Pascanu's schemes: sample
// standard deviations 0.01 / 0.1 / 0.8 within 5 % (n = 12,000 draws: standard error 0.65 %), mean
// within 5 standard errors of 0, biases 0.
void init_distributions(void **) {
  {
    const int H = 16;
    rnnlab_config c = base_config(RNNLAB_CELL_GRU, 3, H, RNNLAB_HEAD_LAST_SOFTMAX, 5);
    c.seed = 4;
    rnnlab_model *m = create(c);
    const std::vector<float> p = all_params(m);
    const float k = 1.0f / std::sqrt(static_cast<float>(H));
    float mx = 0;
    for (float v : p) {
      assert_true(std::fabs(v) <= k);
      mx = std::max(mx, std::fabs(v));
    }
    assert_true(mx > 0.95f * k);  // 1,000+ uniform draws come this close to the bound
    rnnlab_destroy(m);
  }
  const struct {
    rnnlab_init init;
    rnnlab_cell cell;
    double sd;
  } cases[] = {{RNNLAB_INIT_SIGMOID, RNNLAB_CELL_RNN_SIGMOID, 0.01},
               {RNNLAB_INIT_BASIC_TANH, RNNLAB_CELL_RNN_TANH, 0.1},
               {RNNLAB_INIT_TEST, RNNLAB_CELL_RNN_LINEAR, 0.8}};
  for (const auto &cs : cases) {
    rnnlab_config c = base_config(cs.cell, 10, 100, RNNLAB_HEAD_LAST_SOFTMAX, 10);
    c.init = cs.init;
    c.seed = 17;
    rnnlab_model *m = create(c);
    double mean = 0, sd = 0;
    size_t n = 0;
    moments(m, {"weight_ih", "weight_hh", "head.weight"}, &mean, &sd, &n);
    assert_int_equal(n, 12000);
    if (!(std::fabs(sd / cs.sd - 1.0) <= 0.05 && std::fabs(mean) <= 5 * cs.sd / std::sqrt(static_cast<double>(n)))) {
      print_error("init %d: sample mean %g, sd %g; expected 0, %g\n", cs.init, mean, sd, cs.sd);
      fail();
    }
    for (const char *t : {"bias_ih", "bias_hh", "head.bias"})
      for (float v : tensor(m, t)) assert_true(v == 0.0f);
    rnnlab_destroy(m);
  }
}

// cs728_gru: effective b_z = +2 (bias_ih z block = 2, every other bias 0, bias_hh 0); W_hz and W_hr
// N(0, 0.005^2), the rest N(0, 0.01^2) (sd within 8 %: n >= 3,000, standard error <= 1.3 %).
void init_cs728_gru(void **) {
  const int H = 50, I = 30;
  rnnlab_config c = base_config(RNNLAB_CELL_GRU_RESET_BEFORE, I, H, RNNLAB_HEAD_LAST_SOFTMAX, 60);
  c.init = RNNLAB_INIT_CS728_GRU;
  c.seed = 2;
  rnnlab_model *m = create(c);
  const std::vector<float> bi = tensor(m, "bias_ih"), bh = tensor(m, "bias_hh"), w = tensor(m, "weight_hh");
  for (int g = 0; g < 3; ++g)
    for (int j = 0; j < H; ++j) {
      assert_true(bi[static_cast<size_t>(g) * H + j] == (g == 1 ? 2.0f : 0.0f));
      assert_true(bh[static_cast<size_t>(g) * H + j] == 0.0f);
    }
  for (float v : tensor(m, "head.bias")) assert_true(v == 0.0f);
  auto sd_of = [](const float *v, size_t n) {
    double s2 = 0;
    for (size_t k = 0; k < n; ++k) s2 += static_cast<double>(v[k]) * v[k];
    return std::sqrt(s2 / n);
  };
  const size_t HH = static_cast<size_t>(H) * H;
  assert_true(std::fabs(sd_of(w.data(), 2 * HH) / 0.005 - 1) <= 0.08);  // W_hr, W_hz
  assert_true(std::fabs(sd_of(w.data() + 2 * HH, HH) / 0.01 - 1) <= 0.08);  // W_hn
  const std::vector<float> wi = tensor(m, "weight_ih"), wy = tensor(m, "head.weight");
  assert_true(std::fabs(sd_of(wi.data(), wi.size()) / 0.01 - 1) <= 0.08);
  assert_true(std::fabs(sd_of(wy.data(), wy.size()) / 0.01 - 1) <= 0.08);
  rnnlab_destroy(m);
}

// chrono: effective b_z = log(U[1, Tmax - 1]) per unit (bias_ih z block, bias_hh z block 0), b_r = 0,
// b_n untouched; the mean near E[log U] = ((b ln b - b) + 1) / (b - 1) with b = Tmax - 1.
// H = 400 draws of log U (sd ~0.9 for Tmax = 1024): the mean within 0.2 (~4.5 standard errors).
void init_chrono(void **) {
  const int H = 400, Tmax = 1024;
  rnnlab_config c = base_config(RNNLAB_CELL_GRU, 1, H, RNNLAB_HEAD_NONE, 0);
  c.bias_init = RNNLAB_BIAS_INIT_CHRONO;
  c.chrono_tmax = Tmax;
  c.seed = 31;
  rnnlab_model *m = create(c);
  const std::vector<float> bi = tensor(m, "bias_ih"), bh = tensor(m, "bias_hh");
  const double b = Tmax - 1;
  const double expect = (b * std::log(b) - b + 1.0) / (b - 1.0);  // 5.937 for Tmax = 1024
  double sum = 0;
  for (int j = 0; j < H; ++j) {
    const double bz = bi[H + j];
    // exp(b_z) in [1, Tmax - 1], to float32 round-off of b_z (1e-6 relative).
    assert_true(bz >= 0.0 && bz <= std::log(b) * (1 + 1e-6));
    sum += bz;
    assert_true(bh[H + j] == 0.0f);
    assert_true(bi[j] == 0.0f && bh[j] == 0.0f);  // b_r = 0
    const float k = 1.0f / std::sqrt(static_cast<float>(H));
    assert_true(std::fabs(bi[2 * H + j]) <= k && std::fabs(bh[2 * H + j]) <= k);  // b_n: PyTorch's
  }
  const double mean = sum / H;
  if (!(std::fabs(mean - expect) <= 0.2)) {
    print_error("chrono: mean b_z %g, expected %g\n", mean, expect);
    fail();
  }
  rnnlab_destroy(m);
}

// Per-gate constant: effective b_z = 1.0 gives bias_ih z block = 1, bias_hh z block = 0; r and n
// blocks keep the scheme's values. A vanilla RNN's gate (N) likewise.
void init_constant_bias(void **) {
  const int H = 12;
  rnnlab_config c = base_config(RNNLAB_CELL_GRU, 2, H, RNNLAB_HEAD_NONE, 0);
  c.bias_init = RNNLAB_BIAS_INIT_CONSTANT;
  c.bias_init_mask = RNNLAB_GATE_Z;
  c.bias_init_value[1] = 1.0f;
  c.seed = 5;
  rnnlab_model *m = create(c);
  std::vector<float> bi = tensor(m, "bias_ih"), bh = tensor(m, "bias_hh");
  int other_nonzero = 0;
  for (int j = 0; j < H; ++j) {
    assert_true(bi[H + j] == 1.0f);
    assert_true(bh[H + j] == 0.0f);
    other_nonzero += (bi[j] != 0.0f) + (bh[j] != 0.0f) + (bi[2 * H + j] != 0.0f) + (bh[2 * H + j] != 0.0f);
  }
  assert_true(other_nonzero == 4 * H);  // PyTorch's uniform draws
  rnnlab_destroy(m);

  c = base_config(RNNLAB_CELL_RNN_TANH, 2, H, RNNLAB_HEAD_NONE, 0);
  c.bias_init = RNNLAB_BIAS_INIT_CONSTANT;
  c.bias_init_mask = RNNLAB_GATE_N;
  c.bias_init_value[2] = 0.5f;
  m = create(c);
  bi = tensor(m, "bias_ih");
  bh = tensor(m, "bias_hh");
  for (int j = 0; j < H; ++j) assert_true(bi[j] == 0.5f && bh[j] == 0.0f);
  rnnlab_destroy(m);
}

// Frozen biases hold their values after every scheme's initialisation (b_i = v, b_h = 0), and the
// single bias mode holds every b_h at 0.
void init_frozen_held(void **) {
  const int H = 20;
  for (InitCase ic : init_cases()) {
    const bool gru = is_gru(ic.cfg.cell);
    if (ic.cfg.bias_init == RNNLAB_BIAS_INIT_CHRONO) continue;  // chrono sets b_z, b_r: refused with frozen ones
    ic.cfg.bias_init_mask = 0;
    ic.cfg.bias_init = RNNLAB_BIAS_INIT_SCHEME;
    ic.cfg.frozen_bias_mask = gru ? (RNNLAB_GATE_R | RNNLAB_GATE_Z) : RNNLAB_GATE_N;
    ic.cfg.frozen_bias_value[0] = 0.5f;
    ic.cfg.frozen_bias_value[1] = -0.25f;
    ic.cfg.frozen_bias_value[2] = 0.75f;
    for (rnnlab_bias_mode bm : {RNNLAB_BIAS_DOUBLE, RNNLAB_BIAS_SINGLE}) {
      ic.cfg.bias_mode = bm;
      rnnlab_model *m = create(ic.cfg);
      const std::vector<float> bi = tensor(m, "bias_ih"), bh = tensor(m, "bias_hh");
      for (int j = 0; j < H; ++j) {
        if (gru) {
          assert_true(bi[j] == 0.5f && bh[j] == 0.0f);
          assert_true(bi[H + j] == -0.25f && bh[H + j] == 0.0f);
          if (bm == RNNLAB_BIAS_SINGLE) assert_true(bh[2 * H + j] == 0.0f);
        } else {
          assert_true(bi[j] == 0.75f && bh[j] == 0.0f);
        }
      }
      // The held values survive a forward/backward pass (their gradients are zero, not applied).
      const int B = 2;
      std::vector<float> x(static_cast<size_t>(B) * 3, 0.5f), y(static_cast<size_t>(B) * 4);
      assert_int_equal(rnnlab_step(y.data(), y.size(), m, x.data(), x.size(), 1, B), RNNLAB_OK);
      rnnlab_targets tg = RNNLAB_TARGETS_INIT;
      const int32_t cls[] = {1, 2};
      tg.classes = cls;
      tg.count = 2;
      assert_int_equal(rnnlab_backward(m, &tg), RNNLAB_OK);
      std::vector<float> gi(bi.size());
      assert_int_equal(rnnlab_get_grad(gi.data(), gi.size(), m, "bias_ih"), RNNLAB_OK);
      for (int j = 0; j < H; ++j) {
        assert_true(gi[j] == 0.0f);
        if (gru) assert_true(gi[H + j] == 0.0f);
      }
      // Setting another value for a held entry is refused, and changes nothing.
      std::vector<float> bad = bi;
      bad[0] += 1.0f;
      assert_int_equal(rnnlab_set_tensor(m, "bias_ih", bad.data(), bad.size()), RNNLAB_E_FROZEN);
      assert_true(tensor(m, "bias_ih") == bi);
      rnnlab_destroy(m);
    }
  }
}

}  // namespace

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(forward_matches_math), cmocka_unit_test(forward_scalar_by_hand),
      cmocka_unit_test(huge_bz_keeps_h),      cmocka_unit_test(reset_before_forgets),
      cmocka_unit_test(param_count_seed000),  cmocka_unit_test(init_reproducible),
      cmocka_unit_test(init_orthogonal),      cmocka_unit_test(init_smart_tanh),
      cmocka_unit_test(init_distributions),   cmocka_unit_test(init_cs728_gru),
      cmocka_unit_test(init_chrono),          cmocka_unit_test(init_constant_bias),
      cmocka_unit_test(init_frozen_held),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
