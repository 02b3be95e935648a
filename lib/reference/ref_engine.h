// The reference engine: plain, readable C++ templated on the float type, the ground truth every
// other backend is tested against. Tests instantiate it in double to check gradients by central
// finite differences; the reference backend runs it in float.
//
// Everything is written per sequence b and per unit j, in the order of the equations in math.md,
// with the unit math from common/cell_math.h. No attempt at speed.
#ifndef RNNLAB_REFERENCE_REF_ENGINE_H
#define RNNLAB_REFERENCE_REF_ENGINE_H

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include "common/cell_math.h"
#include "common/head.h"
#include "core/backend.h"
#include "core/error.h"
#include "core/spec.h"

namespace rnnlab {

template <class T>
class RefEngine {
 public:
  explicit RefEngine(const ModelSpec &spec) : s_(spec), L_(make_layout(spec)) {}

  const ModelSpec &spec() const { return s_; }
  const Layout &layout() const { return L_; }
  int batch() const { return B_; }
  int tape_steps() const { return consumed_ ? 0 : static_cast<int>(tape_.size()); }
  int recorded_steps() const { return static_cast<int>(tape_.size()); }
  const std::vector<T> &hidden() const { return h_; }

  void reset(int B, const T *h0) {
    B_ = B;
    h_.assign(static_cast<size_t>(B) * s_.H, T(0));
    if (h0) std::copy(h0, h0 + h_.size(), h_.begin());
    tape_.clear();
    consumed_ = false;
    dx_.clear();
    dh0_.clear();
    grad_steps_ = 0;
  }
  void clear_tape() {
    tape_.clear();
    consumed_ = false;
  }

  // Runs T steps from x (T*B*I); writes outputs into y (T*B*out_width) when y is not null.
  void step(const T *p, const T *x, int T_, T *y, bool record) {
    // Everything is computed into locals and committed at the end, so that a failed allocation
    // leaves the engine as it was.
    const int B = B_, I = s_.I, H = s_.H, W = s_.out_width();
    std::vector<Rec> fresh;
    if (record) fresh.reserve(static_cast<size_t>(T_));
    std::vector<T> h = h_;
    Rec rec;
    for (int t = 0; t < T_; ++t) {
      alloc(rec);
      const T *xt = x + static_cast<size_t>(t) * B * I;
      std::copy(xt, xt + static_cast<size_t>(B) * I, rec.x.begin());
      rec.h_prev = h;
      for (int b = 0; b < B; ++b) cell_forward(p, rec, b);
      h = rec.h;
      if (s_.has_head()) {
        for (int b = 0; b < B; ++b)
          head_forward(p, &rec.h[static_cast<size_t>(b) * H], &rec.y[static_cast<size_t>(b) * W]);
      } else {
        rec.y = rec.h;
      }
      if (y) std::copy(rec.y.begin(), rec.y.end(), y + static_cast<size_t>(t) * B * W);
      if (record) fresh.push_back(std::move(rec));
    }
    if (consumed_) {  // a new tape starts after a backward; the consumed one is gone
      tape_.clear();
      consumed_ = false;
    }
    if (record) {
      tape_.reserve(tape_.size() + fresh.size());
      for (auto &r : fresh) tape_.push_back(std::move(r));
    }
    h_.swap(h);
  }

  // Back-propagates through the tape, adding parameter gradients into g (raw: held entries are
  // the caller's to zero). Returns the loss (NaN when started from dy).
  // With ds.omega_grad (vanilla RNNs; training's alpha > 0) it also accumulates Pascanu's Omega
  // gradient, the immediate partial of tasks.md: for every valid (t, b) (||delta||^2 >= bound, the
  // same rule as omega), g = delta_t * phi'_t, v = W_hh^T g (= dprev), and
  // dOmega/dW_hh[i][j] += 4 (r - 1) / y * g_i v_j; divided by the valid count at the end, into
  // st->omega_grad. omega and steps_in_past are then computed at every level.
  double backward(const T *p, T *g, const TargetsView &tg, const DiagSettings &ds, PassStats *st) {
    const int n = static_cast<int>(tape_.size());
    const int B = B_, I = s_.I, H = s_.H, W = s_.out_width();
    const size_t BH = static_cast<size_t>(B) * H;
    if (ds.omega_grad && s_.is_gru())
      raise(RNNLAB_E_UNSUPPORTED, "the Omega gradient is defined for vanilla RNNs only, not for a GRU");
    const bool want_og = ds.omega_grad && st;
    std::vector<double> og(want_og ? static_cast<size_t>(H) * H : 0, 0.0);
    int64_t og_valid = 0;
    // dL/dy for every step of the tape.
    std::vector<std::vector<T>> dy(n, std::vector<T>(static_cast<size_t>(B) * W, T(0)));
    double loss = std::numeric_limits<double>::quiet_NaN();
    if (tg.dy) {
      for (int t = 0; t < n; ++t)
        for (size_t k = 0; k < dy[t].size(); ++k) dy[t][k] = static_cast<T>(tg.dy[static_cast<size_t>(t) * B * W + k]);
    } else {
      std::vector<const T *> ys(n);
      std::vector<T *> dys(n);
      for (int t = 0; t < n; ++t) {
        ys[t] = tape_[t].y.data();
        dys[t] = dy[t].data();
      }
      loss = tg.values64 ? head_loss<T, double>(s_.head, s_.O, B, n, ys.data(), tg.classes, tg.values64, dys.data(),
                                                nullptr, 0.0)
                         : head_loss<T, float>(s_.head, s_.O, B, n, ys.data(), tg.classes, tg.values, dys.data(),
                                               nullptr, 0.0);
    }

    dx_.assign(static_cast<size_t>(n) * B * I, T(0));
    std::vector<T> dnext(BH, T(0)), delta(BH), dprev(BH);
    std::vector<double> dnorm2(static_cast<size_t>(n) * B), pnorm2(static_cast<size_t>(n) * B);
    int64_t nonfinite = (!tg.dy && !std::isfinite(loss)) ? 1 : 0;
    int first_bad = -1;

    for (int t = n - 1; t >= 0; --t) {
      Rec &rec = tape_[t];
      // delta_t = recurrent part from t+1 + what the head sends back at t.
      delta = dnext;
      for (int b = 0; b < B; ++b) {
        T *d = &delta[static_cast<size_t>(b) * H];
        const T *dyb = &dy[t][static_cast<size_t>(b) * W];
        if (s_.has_head()) {
          const T *hb = &rec.h[static_cast<size_t>(b) * H];
          for (int o = 0; o < s_.O; ++o) {
            const T dyo = dyb[o];
            if (dyo == T(0)) continue;
            const T *wrow = p + L_.head_w + static_cast<size_t>(o) * H;
            T *gw = g + L_.head_w + static_cast<size_t>(o) * H;
            for (int j = 0; j < H; ++j) {
              d[j] += wrow[j] * dyo;
              gw[j] += dyo * hb[j];
            }
            g[L_.head_b + o] += dyo;
          }
        } else {
          for (int j = 0; j < H; ++j) d[j] += dyb[j];
        }
      }
      for (int b = 0; b < B; ++b) {
        cell_backward(p, g, rec, b, &delta[static_cast<size_t>(b) * H], &dprev[static_cast<size_t>(b) * H],
                      &dx_[(static_cast<size_t>(t) * B + b) * I]);
        double dn = 0, pn = 0;
        for (int j = 0; j < H; ++j) {
          const double dv = delta[static_cast<size_t>(b) * H + j], pv = dprev[static_cast<size_t>(b) * H + j];
          dn += dv * dv;
          pn += pv * pv;
        }
        dnorm2[static_cast<size_t>(t) * B + b] = dn;
        pnorm2[static_cast<size_t>(t) * B + b] = pn;
        if (want_og && dn >= ds.bound) omega_grad_add(rec, b, &delta[static_cast<size_t>(b) * H],
                                                      &dprev[static_cast<size_t>(b) * H], dn, pn, og.data(), &og_valid);
      }
      // Non-finite activations (forward) and dL/dh (backward) at this step.
      const int64_t bad = count_nonfinite(rec.h) + count_nonfinite(rec.r) + count_nonfinite(rec.z) +
                          count_nonfinite(rec.n) + count_nonfinite(delta);
      if (bad) {
        nonfinite += bad;
        first_bad = t;  // the loop runs backwards: the last assignment is the smallest t
      }
      dnext.swap(dprev);
    }
    dh0_ = dnext;
    grad_steps_ = n;
    for (size_t i = 0; i < L_.total; ++i) nonfinite += !std::isfinite(static_cast<double>(g[i]));

    if (st) {
      st->steps = n;
      st->batch = B;
      st->level = ds.level;
      st->loss = loss;
      st->nonfinite = nonfinite;
      st->nonfinite_first_t = first_bad;
      for (auto &tr : st->traces) tr.clear();
      st->omega = std::numeric_limits<double>::quiet_NaN();
      st->steps_in_past = std::numeric_limits<double>::quiet_NaN();
      if (ds.level >= RNNLAB_DIAG_SUMMARY || want_og) omega_and_steps(dnorm2, pnorm2, n, ds.bound, st);
      st->omega_grad.clear();
      if (want_og) {
        if (og_valid > 0)
          for (double &v : og) v /= static_cast<double>(og_valid);
        st->omega_grad.swap(og);
      }
      if (ds.level >= RNNLAB_DIAG_FULL) traces(dnorm2, pnorm2, n, ds, st);
    }
    consumed_ = true;
    return loss;
  }

  // J[i][j] = d h_t[i] / d h_{t-1}[j] of recorded step t, sequence b: row i is J^T e_i, what one
  // backward step sends to h_{t-1} from dL/dh_t = e_i.
  void jacobian(const T *p, int t, int b, T *J) const {
    const int H = s_.H;
    std::vector<T> e(H, T(0)), row(H), dxs(s_.I);
    std::vector<T> scratch(L_.total, T(0));
    for (int i = 0; i < H; ++i) {
      std::fill(e.begin(), e.end(), T(0));
      e[i] = T(1);
      cell_backward(p, scratch.data(), tape_[t], b, e.data(), row.data(), dxs.data());
      std::copy(row.begin(), row.end(), J + static_cast<size_t>(i) * H);
    }
  }

  // h_t of recorded step t (B*H), for tests.
  const std::vector<T> &recorded_hidden(int t) const { return tape_[t].h; }
  const std::vector<T> &input_grad() const { return dx_; }
  const std::vector<T> &h0_grad() const { return dh0_; }
  int grad_steps() const { return grad_steps_; }

 private:
  // What one step records: enough to redo its backward and its diagnostics.
  struct Rec {
    std::vector<T> x, h_prev, h, r, z, n, hn, az, y;
  };

  void alloc(Rec &rec) const {
    const size_t BH = static_cast<size_t>(B_) * s_.H;
    rec.x.assign(static_cast<size_t>(B_) * s_.I, T(0));
    rec.h.assign(BH, T(0));
    if (s_.is_gru()) {
      rec.r.assign(BH, T(0));
      rec.z.assign(BH, T(0));
      rec.n.assign(BH, T(0));
      rec.hn.assign(BH, T(0));
      rec.az.assign(BH, T(0));
    }
    rec.y.assign(static_cast<size_t>(B_) * s_.out_width(), T(0));
  }

  // sum_k W[row][k] v[k] for a row-major matrix with `cols` columns.
  static T dot_row(const T *W, int row, int cols, const T *v) {
    T acc = T(0);
    const T *w = W + static_cast<size_t>(row) * cols;
    for (int k = 0; k < cols; ++k) acc += w[k] * v[k];
    return acc;
  }

  void cell_forward(const T *p, Rec &rec, int b) const {
    const int I = s_.I, H = s_.H;
    const T *x = &rec.x[static_cast<size_t>(b) * I];
    const T *hp = &rec.h_prev[static_cast<size_t>(b) * H];
    const T *w_ih = p + L_.w_ih, *w_hh = p + L_.w_hh, *b_ih = p + L_.b_ih, *b_hh = p + L_.b_hh;
    const size_t o = static_cast<size_t>(b) * H;
    if (!s_.is_gru()) {
      for (int j = 0; j < H; ++j) {
        const T a = dot_row(w_ih, j, I, x) + b_ih[j] + dot_row(w_hh, j, H, hp) + b_hh[j];
        rec.h[o + j] = cell::activate(s_.act(), a);
      }
      return;
    }
    for (int j = 0; j < H; ++j) {
      rec.az[o + j] = dot_row(w_ih, H + j, I, x) + b_ih[H + j] + dot_row(w_hh, H + j, H, hp) + b_hh[H + j];
    }
    if (s_.lbr()) {
      for (int j = 0; j < H; ++j) {
        const T a_r = dot_row(w_ih, j, I, x) + b_ih[j] + dot_row(w_hh, j, H, hp) + b_hh[j];
        const T a_in = dot_row(w_ih, 2 * H + j, I, x) + b_ih[2 * H + j];
        const T hn = dot_row(w_hh, 2 * H + j, H, hp) + b_hh[2 * H + j];
        const cell::GruUnit<T> u = cell::gru_lbr_forward(a_r, rec.az[o + j], a_in, hn, hp[j]);
        rec.r[o + j] = u.r;
        rec.z[o + j] = u.z;
        rec.n[o + j] = u.n;
        rec.hn[o + j] = hn;
        rec.h[o + j] = u.h;
      }
    } else {
      std::vector<T> rh(H);
      for (int j = 0; j < H; ++j) {
        const T a_r = dot_row(w_ih, j, I, x) + b_ih[j] + dot_row(w_hh, j, H, hp) + b_hh[j];
        rec.r[o + j] = cell::sigmoid(a_r);
        rec.z[o + j] = cell::sigmoid(rec.az[o + j]);
        rh[j] = rec.r[o + j] * hp[j];
      }
      for (int j = 0; j < H; ++j) {
        const T a_in = dot_row(w_ih, 2 * H + j, I, x) + b_ih[2 * H + j];
        const T a_hn = dot_row(w_hh, 2 * H + j, H, rh.data()) + b_hh[2 * H + j];
        rec.hn[o + j] = a_hn;
        rec.n[o + j] = cell::gru_rb_candidate(a_in, a_hn);
        rec.h[o + j] = cell::gru_blend(rec.z[o + j], rec.n[o + j], hp[j]);
      }
    }
  }

  void head_forward(const T *p, const T *h, T *y) const {
    for (int o = 0; o < s_.O; ++o) y[o] = dot_row(p + L_.head_w, o, s_.H, h) + p[L_.head_b + o];
  }

  // One step of one sequence backwards: from dh = dL/dh_t (total) to dL/dh_{t-1} (dprev) and
  // dL/dx_t (dx); parameter gradients are added into g.
  void cell_backward(const T *p, T *g, const Rec &rec, int b, const T *dh, T *dprev, T *dx) const {
    const int I = s_.I, H = s_.H, G = s_.gates();
    const size_t o = static_cast<size_t>(b) * H;
    const T *x = &rec.x[static_cast<size_t>(b) * I];
    const T *hp = &rec.h_prev[o];
    const T *w_ih = p + L_.w_ih, *w_hh = p + L_.w_hh;
    T *g_wih = g + L_.w_ih, *g_whh = g + L_.w_hh, *g_bih = g + L_.b_ih, *g_bhh = g + L_.b_hh;
    // da_x: gradient of the input-side pre-activations (G*H); da_h: of the hidden-side products.
    std::vector<T> da_x(static_cast<size_t>(G) * H), da_h(static_cast<size_t>(G) * H);
    for (int j = 0; j < H; ++j) dprev[j] = T(0);

    if (!s_.is_gru()) {
      for (int j = 0; j < H; ++j) {
        da_x[j] = dh[j] * cell::act_derivative_from_output(s_.act(), rec.h[o + j]);
        da_h[j] = da_x[j];
      }
    } else if (s_.lbr()) {
      for (int j = 0; j < H; ++j) {
        const cell::GruGrad<T> gg = cell::gru_lbr_backward(dh[j], rec.r[o + j], rec.z[o + j], rec.n[o + j],
                                                           rec.hn[o + j], hp[j]);
        da_x[j] = gg.da_r;
        da_x[H + j] = gg.da_z;
        da_x[2 * H + j] = gg.da_n;
        da_h[j] = gg.da_r;
        da_h[H + j] = gg.da_z;
        da_h[2 * H + j] = gg.dhn;
        dprev[j] = gg.dh_prev;
      }
    } else {
      for (int j = 0; j < H; ++j) {
        const cell::GruGrad<T> gg = cell::gru_rb_backward_candidate(dh[j], rec.z[o + j], rec.n[o + j], hp[j]);
        da_x[H + j] = gg.da_z;
        da_x[2 * H + j] = gg.da_n;
        da_h[H + j] = gg.da_z;
        da_h[2 * H + j] = gg.dhn;
        dprev[j] = gg.dh_prev;
      }
      // dL/d(r * h_prev) = W_hn^T da_n; then r's gradient and the r-path into h_prev.
      for (int k = 0; k < H; ++k) {
        T d_rh = T(0);
        for (int j = 0; j < H; ++j) d_rh += w_hh[static_cast<size_t>(2 * H + j) * H + k] * da_h[2 * H + j];
        const T da_r = cell::gru_rb_backward_reset(d_rh, rec.r[o + k], hp[k], &dprev[k]);
        da_x[k] = da_r;
        da_h[k] = da_r;
      }
    }

    // Input side: weight_ih, bias_ih, dL/dx.
    for (int i = 0; i < I; ++i) dx[i] = T(0);
    for (int row = 0; row < G * H; ++row) {
      const T d = da_x[row];
      g_bih[row] += d;
      T *gw = g_wih + static_cast<size_t>(row) * I;
      const T *w = w_ih + static_cast<size_t>(row) * I;
      for (int i = 0; i < I; ++i) {
        gw[i] += d * x[i];
        dx[i] += w[i] * d;
      }
    }
    // Hidden side: weight_hh, bias_hh, and the matrix part of dL/dh_{t-1}.
    std::vector<T> rh;
    if (s_.is_gru() && !s_.lbr()) {
      rh.resize(H);
      for (int k = 0; k < H; ++k) rh[k] = rec.r[o + k] * hp[k];
    }
    for (int row = 0; row < G * H; ++row) {
      const T d = da_h[row];
      g_bhh[row] += d;
      T *gw = g_whh + static_cast<size_t>(row) * H;
      const T *w = w_hh + static_cast<size_t>(row) * H;
      // Reset-before: the candidate rows multiply r * h_prev, and their h_prev path went through
      // d_rh above.
      const bool cand_rb = s_.is_gru() && !s_.lbr() && row >= 2 * H;
      const T *in = cand_rb ? rh.data() : hp;
      for (int k = 0; k < H; ++k) {
        gw[k] += d * in[k];
        if (!cand_rb) dprev[k] += w[k] * d;
      }
    }
  }

  // One valid (t, b) of the Omega gradient (vanilla RNN): y = ||delta||^2, x = ||v||^2 with
  // v = W_hh^T (delta * phi') = dprev; adds 4 (x / y - 1) / y * g_i v_j into og[i][j].
  void omega_grad_add(const Rec &rec, int b, const T *delta, const T *v, double y, double x, double *og,
                      int64_t *valid) const {
    const int H = s_.H;
    const T *h = &rec.h[static_cast<size_t>(b) * H];
    const double coef = 4.0 * (x / y - 1.0) / y;
    for (int i = 0; i < H; ++i) {
      const double gi = static_cast<double>(delta[i]) * static_cast<double>(cell::act_derivative_from_output(s_.act(), h[i]));
      const double ci = coef * gi;
      double *row = og + static_cast<size_t>(i) * H;
      for (int j = 0; j < H; ++j) row[j] += ci * static_cast<double>(v[j]);
    }
    ++*valid;
  }

  static int64_t count_nonfinite(const std::vector<T> &v) {
    int64_t c = 0;
    for (const T &a : v) c += !std::isfinite(static_cast<double>(a));
    return c;
  }

  void omega_and_steps(const std::vector<double> &dn2, const std::vector<double> &pn2, int n, double bound,
                       PassStats *st) const {
    double sum = 0;
    int64_t valid = 0;
    for (size_t k = 0; k < dn2.size(); ++k) {
      if (!(dn2[k] >= bound)) continue;
      const double r = pn2[k] / dn2[k] - 1.0;
      sum += r * r;
      ++valid;
    }
    const double total = static_cast<double>(n) * B_;
    st->omega = valid ? sum / static_cast<double>(valid) : std::numeric_limits<double>::quiet_NaN();
    st->steps_in_past = total > 0 ? static_cast<double>(valid) / total : std::numeric_limits<double>::quiet_NaN();
  }

  void traces(const std::vector<double> &dn2, const std::vector<double> &pn2, int n, const DiagSettings &ds,
              PassStats *st) const {
    const int B = B_, H = s_.H;
    const double nan = std::numeric_limits<double>::quiet_NaN();
    auto want = [&](rnnlab_trace k) {
      if (!cell_has_trace(s_, k)) return static_cast<std::vector<double> *>(nullptr);
      st->traces[k].assign(n, 0.0);
      return &st->traces[k];
    };
    std::vector<double> *grad = want(RNNLAB_TRACE_GRAD_TIME), *transfer = want(RNNLAB_TRACE_TRANSFER_TIME);
    std::vector<double> *sat = want(RNNLAB_TRACE_SAT_TIME), *act = want(RNNLAB_TRACE_ACT_TIME);
    std::vector<double> *satf = want(RNNLAB_TRACE_SAT_FRAC_TIME), *cand = want(RNNLAB_TRACE_CAND_ACT_TIME);
    std::vector<double> *zs = want(RNNLAB_TRACE_GATE_Z_SAT_TIME), *rs = want(RNNLAB_TRACE_GATE_R_SAT_TIME);
    std::vector<double> *zm = want(RNNLAB_TRACE_GATE_Z_MEAN_TIME), *rm = want(RNNLAB_TRACE_GATE_R_MEAN_TIME);
    std::vector<double> *zp = want(RNNLAB_TRACE_GATE_Z_PREACT_TIME);
    std::vector<double> *zsf = want(RNNLAB_TRACE_GATE_Z_SAT_FRAC_TIME), *rsf = want(RNNLAB_TRACE_GATE_R_SAT_FRAC_TIME);
    const double cnt = static_cast<double>(B) * H;
    const cell::Act a = s_.act();
    for (int t = 0; t < n; ++t) {
      const Rec &rec = tape_[t];
      double g = 0, tr = 0;
      int tr_n = 0;
      for (int b = 0; b < B; ++b) {
        const double d2 = dn2[static_cast<size_t>(t) * B + b], p2 = pn2[static_cast<size_t>(t) * B + b];
        const double dn = std::sqrt(d2);
        g += dn;
        if (dn >= 1e-10) {
          tr += std::sqrt(p2) / dn;
          ++tr_n;
        }
      }
      (*grad)[t] = g / B;
      (*transfer)[t] = tr_n ? tr / tr_n : nan;
      double s_sat = 0, s_act = 0, s_satf = 0, s_cand = 0, s_zs = 0, s_rs = 0, s_zm = 0, s_rm = 0, s_zp = 0,
             s_zsf = 0, s_rsf = 0;
      for (size_t k = 0; k < rec.h.size(); ++k) {
        const double h = rec.h[k];
        const double d = cell::hidden_sat_distance(a, h);
        s_sat += d;
        s_satf += d < ds.sat_thresh;
        s_act += cell::act_derivative_from_output(a, h);
        if (s_.is_gru()) {
          const double z = rec.z[k], r = rec.r[k], nn = rec.n[k];
          s_cand += 1.0 - nn * nn;
          const double dz = cell::unit_interval_sat_distance(z), dr = cell::unit_interval_sat_distance(r);
          s_zs += dz;
          s_rs += dr;
          s_zsf += dz < ds.sat_thresh;
          s_rsf += dr < ds.sat_thresh;
          s_zm += z;
          s_rm += r;
          s_zp += rec.az[k];
        }
      }
      if (sat) (*sat)[t] = s_sat / cnt;
      if (act) (*act)[t] = s_act / cnt;
      if (satf) (*satf)[t] = s_satf / cnt;
      if (cand) {
        (*cand)[t] = s_cand / cnt;
        (*zs)[t] = s_zs / cnt;
        (*rs)[t] = s_rs / cnt;
        (*zm)[t] = s_zm / cnt;
        (*rm)[t] = s_rm / cnt;
        (*zp)[t] = s_zp / cnt;
        (*zsf)[t] = s_zsf / cnt;
        (*rsf)[t] = s_rsf / cnt;
      }
    }
  }

  ModelSpec s_;
  Layout L_;
  int B_ = 0;
  std::vector<T> h_;
  std::vector<Rec> tape_;
  bool consumed_ = false;
  std::vector<T> dx_, dh0_;
  int grad_steps_ = 0;
};

}  // namespace rnnlab

#endif
