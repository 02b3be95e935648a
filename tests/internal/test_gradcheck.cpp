// Gradients of the reference engine in double against central finite differences of the loss.
//
// Every cell (GRU, GRU_RESET_BEFORE, RNN tanh/sigmoid/relu/linear) x every head (none with a fixed
// random dL/dy, last-softmax, every-softmax, last-linear) x frozen biases (GRUs: none, z and r, n;
// RNNs: none, its one gate) x bias mode (double, single): every trainable parameter entry, dL/dx and
// dL/dh0 against (L(v + h) - L(v - h)) / 2h with h = 1e-6; every frozen or held entry's gradient,
// after zero_held, exactly 0. For the head "none" the scalar is sum(dy * y) over the whole tape.
// Then truncated BPTT: two backward passes without a reset, each pass's gradient against the finite
// differences of that pass's loss with the carried hidden state held constant.
//
// The loss the finite differences use is written here from math.md, not taken from the library.
//
// Tolerance: |analytic - fd| <= 1e-7 + 1e-6 |fd|. Central differences with h = 1e-6 in double have a
// truncation error of order h^2 |L'''| ~ 1e-11 and a round-off error of order eps |L| / h ~ 1e-9 for
// these O(1) losses; a wrong term in a backward formula is off by 1e-3 or more.
#include "cmocka_cpp.h"

#include <rnnlab/rnnlab.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "core/rng.h"
#include "core/spec.h"
#include "reference/ref_engine.h"
#include "test_support.h"

using namespace rnnlab;

namespace {

const double kStep = 1e-6;   // finite-difference step
const double kAtol = 1e-7;   // see the header comment
const double kRtol = 1e-6;
const double kKink = 1e-4;   // relu: no pre-activation closer than this to 0

const char *cell_str(rnnlab_cell c) {
  static const char *n[] = {"gru", "gru_reset_before", "rnn_tanh", "rnn_sigmoid", "rnn_relu", "rnn_linear"};
  return n[c];
}
const char *head_str(rnnlab_head h) {
  static const char *n[] = {"none", "last_softmax", "every_softmax", "last_linear"};
  return n[h];
}

// One problem: a model, its parameters, a batch, targets for a pass of T steps.
struct Problem {
  ModelSpec s;
  Layout L;
  int T = 0, B = 0;
  std::vector<double> p, x, h0;
  std::vector<int32_t> classes;  // softmax heads
  std::vector<double> values;    // last-linear
  std::vector<float> dy;         // head none (float, as TargetsView carries it)
  std::string name;
};

bool is_gru(rnnlab_cell c) { return c == RNNLAB_CELL_GRU || c == RNNLAB_CELL_GRU_RESET_BEFORE; }

// The loss of outputs y (T x B x W) for the problem's targets, written from math.md.
double loss_of_outputs(const Problem &pr, const std::vector<double> &y, int T) {
  return rnnlab_test::independent_loss(pr.s.head, pr.s.O, pr.s.out_width(), T, pr.B, y, pr.classes.data(),
                                       pr.values.data(), pr.dy.data());
}

// Forward only (nothing recorded): the loss as a function of (p, x, h0).
double loss(const Problem &pr, const std::vector<double> &p, const std::vector<double> &x,
            const std::vector<double> &h0) {
  RefEngine<double> e(pr.s);
  e.reset(pr.B, h0.data());
  std::vector<double> y(static_cast<size_t>(pr.T) * pr.B * pr.s.out_width());
  e.step(p.data(), x.data(), pr.T, y.data(), false);
  return loss_of_outputs(pr, y, pr.T);
}

TargetsView targets_of(const Problem &pr) {
  TargetsView tv;
  if (pr.s.head == RNNLAB_HEAD_NONE) tv.dy = pr.dy.data();
  else if (pr.s.head == RNNLAB_HEAD_LAST_LINEAR) tv.values64 = pr.values.data();
  else tv.classes = pr.classes.data();
  return tv;
}

// Relu: the smallest |pre-activation| over the pass (from the recorded hidden states).
double min_abs_preact(const Problem &pr, const std::vector<double> &p, const std::vector<double> &x,
                      const std::vector<double> &h0) {
  RefEngine<double> e(pr.s);
  e.reset(pr.B, h0.data());
  e.step(p.data(), x.data(), pr.T, nullptr, true);
  const int I = pr.s.I, H = pr.s.H;
  double m = INFINITY;
  for (int t = 0; t < pr.T; ++t) {
    const std::vector<double> &hp = t == 0 ? h0 : e.recorded_hidden(t - 1);
    for (int b = 0; b < pr.B; ++b)
      for (int j = 0; j < H; ++j) {
        double a = p[pr.L.b_ih + j] + p[pr.L.b_hh + j];
        for (int i = 0; i < I; ++i)
          a += p[pr.L.w_ih + static_cast<size_t>(j) * I + i] * x[(static_cast<size_t>(t) * pr.B + b) * I + i];
        for (int k = 0; k < H; ++k)
          a += p[pr.L.w_hh + static_cast<size_t>(j) * H + k] * hp[static_cast<size_t>(b) * H + k];
        m = std::min(m, std::fabs(a));
      }
  }
  return m;
}

void draw(Problem &pr, Rng &rng) {
  const ModelSpec &s = pr.s;
  pr.p.assign(pr.L.total, 0.0);
  for (size_t i = 0; i < pr.L.total; ++i)
    pr.p[i] = pr.L.trainable[i] ? rng.uniform(-0.8, 0.8) : static_cast<double>(pr.L.held[i]);
  pr.x.resize(static_cast<size_t>(pr.T) * pr.B * s.I);
  for (auto &v : pr.x) v = rng.uniform(-1.0, 1.0);
  pr.h0.resize(static_cast<size_t>(pr.B) * s.H);
  for (auto &v : pr.h0) v = rng.uniform(-0.5, 0.5);
  const int W = s.out_width();
  pr.dy.assign(s.head == RNNLAB_HEAD_NONE ? static_cast<size_t>(pr.T) * pr.B * W : 0, 0.0f);
  for (auto &v : pr.dy) v = static_cast<float>(rng.uniform(-1.0, 1.0));
  pr.classes.clear();
  const int nc = s.head == RNNLAB_HEAD_EVERY_SOFTMAX ? pr.T * pr.B : pr.B;
  if (s.head == RNNLAB_HEAD_LAST_SOFTMAX || s.head == RNNLAB_HEAD_EVERY_SOFTMAX)
    for (int k = 0; k < nc; ++k) pr.classes.push_back(static_cast<int32_t>(rng.below(static_cast<uint64_t>(s.O))));
  pr.values.clear();
  if (s.head == RNNLAB_HEAD_LAST_LINEAR)
    for (int k = 0; k < pr.B * s.O; ++k) pr.values.push_back(rng.uniform(-1.0, 1.0));
}

Problem make_problem(rnnlab_cell cell, rnnlab_head head, uint32_t frozen, rnnlab_bias_mode bm, int idx) {
  Problem pr;
  pr.s.cell = cell;
  pr.s.head = head;
  pr.s.I = 2 + idx % 2;
  pr.s.H = 3 + (idx / 2) % 2;
  pr.s.O = head == RNNLAB_HEAD_NONE ? 0 : head == RNNLAB_HEAD_LAST_LINEAR ? 2 : 3;
  pr.s.bias_mode = bm;
  pr.s.frozen_mask = frozen;
  pr.s.frozen_value[0] = 0.3f;   // r
  pr.s.frozen_value[1] = -0.4f;  // z
  pr.s.frozen_value[2] = 0.25f;  // n (the vanilla RNN's gate)
  pr.L = make_layout(pr.s);
  pr.T = 4 + idx % 2;
  pr.B = 2 + (idx / 3) % 2;
  char buf[160];
  std::snprintf(buf, sizeof buf, "%s/%s/frozen=0x%x/%s (I=%d H=%d T=%d B=%d)", cell_str(cell), head_str(head), frozen,
                bm == RNNLAB_BIAS_SINGLE ? "single" : "double", pr.s.I, pr.s.H, pr.T, pr.B);
  pr.name = buf;
  Rng rng(1000 + static_cast<uint64_t>(idx));
  draw(pr, rng);
  if (cell == RNNLAB_CELL_RNN_RELU) {
    int tries = 0;
    while (min_abs_preact(pr, pr.p, pr.x, pr.h0) < kKink) {
      draw(pr, rng);
      if (++tries > 1000) break;
    }
  }
  return pr;
}

// Counts and reports entries where analytic and fd disagree.
int compare(const std::string &what, const std::string &cse, size_t k, double analytic, double fd,
            double *worst) {
  const double err = std::fabs(analytic - fd);
  const double lim = kAtol + kRtol * std::fabs(fd);
  *worst = std::max(*worst, err / lim);
  if (err <= lim) return 0;
  print_error("%s: %s[%zu]: analytic %.12g, finite difference %.12g (|diff| %.3g > %.3g)\n", cse.c_str(),
              what.c_str(), k, analytic, fd, err, lim);
  return 1;
}

// Checks one pass of the problem: parameters, dL/dx, dL/dh0 and held entries. Returns the number of
// failures.
int check_problem(const Problem &pr, double *worst) {
  int bad = 0;
  RefEngine<double> e(pr.s);
  e.reset(pr.B, pr.h0.data());
  e.step(pr.p.data(), pr.x.data(), pr.T, nullptr, true);
  std::vector<double> g(pr.L.total, 0.0);
  DiagSettings ds;
  ds.level = RNNLAB_DIAG_FULL;
  PassStats st;
  const double L = e.backward(pr.p.data(), g.data(), targets_of(pr), ds, &st);
  zero_held(pr.L, g.data());
  const double L_here = loss(pr, pr.p, pr.x, pr.h0);
  if (pr.s.head == RNNLAB_HEAD_NONE) {
    if (!std::isnan(L)) {
      print_error("%s: a pass from dy must report its loss as NaN, got %g\n", pr.name.c_str(), L);
      ++bad;
    }
  } else if (!(std::fabs(L - L_here) <= 1e-12 * std::max(1.0, std::fabs(L_here)))) {  // same sums, round-off only
    print_error("%s: backward's loss %.15g, math.md's %.15g\n", pr.name.c_str(), L, L_here);
    ++bad;
  }
  size_t n_held = 0;
  for (size_t i = 0; i < pr.L.total; ++i) {
    if (!pr.L.trainable[i]) {
      ++n_held;
      if (g[i] != 0.0) {
        print_error("%s: held entry %zu has gradient %g after zero_held\n", pr.name.c_str(), i, g[i]);
        ++bad;
      }
      continue;
    }
    std::vector<double> pp = pr.p, pm = pr.p;
    pp[i] += kStep;
    pm[i] -= kStep;
    const double fd = (loss(pr, pp, pr.x, pr.h0) - loss(pr, pm, pr.x, pr.h0)) / (2 * kStep);
    bad += compare("param", pr.name, i, g[i], fd, worst);
  }
  // The held count is what the configuration asks for: single mode holds every b_h, a frozen gate
  // holds its b_i and b_h.
  size_t want_held = 0;
  const size_t H = static_cast<size_t>(pr.s.H);
  for (int g8 = 0; g8 < pr.s.gates(); ++g8) {
    const int gate = is_gru(pr.s.cell) ? g8 : 2;
    const bool fz = (pr.s.frozen_mask >> gate) & 1u;
    want_held += (fz ? H : 0) + ((fz || pr.s.bias_mode == RNNLAB_BIAS_SINGLE) ? H : 0);
  }
  if (n_held != want_held) {
    print_error("%s: %zu held entries, expected %zu\n", pr.name.c_str(), n_held, want_held);
    ++bad;
  }
  const std::vector<double> &dx = e.input_grad();
  if (dx.size() != pr.x.size()) {
    print_error("%s: dL/dx has %zu values, expected %zu\n", pr.name.c_str(), dx.size(), pr.x.size());
    return bad + 1;
  }
  for (size_t k = 0; k < pr.x.size(); ++k) {
    std::vector<double> xp = pr.x, xm = pr.x;
    xp[k] += kStep;
    xm[k] -= kStep;
    const double fd = (loss(pr, pr.p, xp, pr.h0) - loss(pr, pr.p, xm, pr.h0)) / (2 * kStep);
    bad += compare("dx", pr.name, k, dx[k], fd, worst);
  }
  const std::vector<double> &dh0 = e.h0_grad();
  if (dh0.size() != pr.h0.size()) {
    print_error("%s: dL/dh0 has %zu values, expected %zu\n", pr.name.c_str(), dh0.size(), pr.h0.size());
    return bad + 1;
  }
  for (size_t k = 0; k < pr.h0.size(); ++k) {
    std::vector<double> hp = pr.h0, hm = pr.h0;
    hp[k] += kStep;
    hm[k] -= kStep;
    const double fd = (loss(pr, pr.p, pr.x, hp) - loss(pr, pr.p, pr.x, hm)) / (2 * kStep);
    bad += compare("dh0", pr.name, k, dh0[k], fd, worst);
  }
  return bad;
}

const rnnlab_cell kCells[] = {RNNLAB_CELL_GRU,         RNNLAB_CELL_GRU_RESET_BEFORE, RNNLAB_CELL_RNN_TANH,
                              RNNLAB_CELL_RNN_SIGMOID, RNNLAB_CELL_RNN_RELU,         RNNLAB_CELL_RNN_LINEAR};
const rnnlab_head kHeads[] = {RNNLAB_HEAD_NONE, RNNLAB_HEAD_LAST_SOFTMAX, RNNLAB_HEAD_EVERY_SOFTMAX,
                              RNNLAB_HEAD_LAST_LINEAR};

void run_cells(void **, bool gru) {
  int bad = 0, cases = 0, idx = 0;
  double worst = 0;
  for (rnnlab_cell cell : kCells) {
    if (is_gru(cell) != gru) continue;
    std::vector<uint32_t> frozen = gru ? std::vector<uint32_t>{0u, RNNLAB_GATE_R | RNNLAB_GATE_Z, RNNLAB_GATE_N}
                                       : std::vector<uint32_t>{0u, RNNLAB_GATE_N};
    for (rnnlab_head head : kHeads)
      for (uint32_t fz : frozen)
        for (rnnlab_bias_mode bm : {RNNLAB_BIAS_DOUBLE, RNNLAB_BIAS_SINGLE}) {
          const Problem pr = make_problem(cell, head, fz, bm, idx++);
          if (cell == RNNLAB_CELL_RNN_RELU && min_abs_preact(pr, pr.p, pr.x, pr.h0) < kKink) {
            print_error("%s: could not draw a batch away from relu's kink\n", pr.name.c_str());
            ++bad;
            continue;
          }
          bad += check_problem(pr, &worst);
          ++cases;
        }
  }
  print_message("%d cases, worst |diff| / tolerance %.3g\n", cases, worst);
  assert_int_equal(bad, 0);
  assert_true(cases == (gru ? 2 * 4 * 3 * 2 : 4 * 4 * 2 * 2));
}

void gradcheck_gru(void **state) { run_cells(state, true); }
void gradcheck_rnn(void **state) { run_cells(state, false); }

// Truncated BPTT: pass 1 over x1 from h0, backward (the tape is consumed, the hidden state kept);
// pass 2 over x2 from the carried h_c, backward. Pass 2's gradients are those of its own loss with
// h_c a constant: the finite differences run pass 2 alone from the fixed h_c.
void truncated_bptt(void **) {
  int bad = 0, idx = 0;
  double worst = 0;
  for (rnnlab_cell cell : kCells)
    for (rnnlab_head head : kHeads) {
      const uint32_t fz = is_gru(cell) ? (RNNLAB_GATE_R | RNNLAB_GATE_Z) : 0u;
      Problem p1, p2;
      std::unique_ptr<RefEngine<double>> eng;
      std::vector<double> g1, g2, dx1, dh01, hc;
      bool ok = false;
      for (int attempt = 0; attempt < 100 && !ok; ++attempt) {
        p1 = make_problem(cell, head, fz, RNNLAB_BIAS_DOUBLE, 500 + idx + 1000 * attempt);
        p2 = p1;  // the same model; its own inputs and targets, shaped for its own tape
        p2.T = p1.T - 1;
        Rng rng(77 + static_cast<uint64_t>(idx) + 1000 * static_cast<uint64_t>(attempt));
        const int Wd = p1.s.out_width();
        p2.x.assign(static_cast<size_t>(p2.T) * p2.B * p2.s.I, 0.0);
        for (auto &v : p2.x) v = rng.uniform(-1.0, 1.0);
        p2.dy.assign(head == RNNLAB_HEAD_NONE ? static_cast<size_t>(p2.T) * p2.B * Wd : 0, 0.0f);
        for (auto &v : p2.dy) v = static_cast<float>(rng.uniform(-1.0, 1.0));
        p2.classes.clear();
        const int nc = head == RNNLAB_HEAD_EVERY_SOFTMAX ? p2.T * p2.B : p2.B;
        if (head == RNNLAB_HEAD_LAST_SOFTMAX || head == RNNLAB_HEAD_EVERY_SOFTMAX)
          for (int k = 0; k < nc; ++k)
            p2.classes.push_back(static_cast<int32_t>(rng.below(static_cast<uint64_t>(p2.s.O))));
        p2.values.clear();
        if (head == RNNLAB_HEAD_LAST_LINEAR)
          for (int k = 0; k < p2.B * p2.s.O; ++k) p2.values.push_back(rng.uniform(-1.0, 1.0));
        p2.name = p1.name + " [truncated BPTT, pass 2]";
        p1.name += " [truncated BPTT, pass 1]";

        eng = std::make_unique<RefEngine<double>>(p1.s);
        RefEngine<double> &e = *eng;
        e.reset(p1.B, p1.h0.data());
        e.step(p1.p.data(), p1.x.data(), p1.T, nullptr, true);
        g1.assign(p1.L.total, 0.0);
        g2.assign(p1.L.total, 0.0);
        DiagSettings ds;
        e.backward(p1.p.data(), g1.data(), targets_of(p1), ds, nullptr);
        zero_held(p1.L, g1.data());
        dx1 = e.input_grad();
        dh01 = e.h0_grad();
        hc = e.hidden();
        p2.h0 = hc;
        // Relu: both passes away from the kink, or draw again.
        ok = cell != RNNLAB_CELL_RNN_RELU || (min_abs_preact(p1, p1.p, p1.x, p1.h0) >= kKink &&
                                              min_abs_preact(p2, p2.p, p2.x, p2.h0) >= kKink);
      }
      ++idx;
      if (!ok) {
        print_error("%s: could not draw batches away from relu's kink\n", p2.name.c_str());
        ++bad;
        continue;
      }
      const int W2 = p1.s.out_width();
      DiagSettings ds;
      RefEngine<double> &e = *eng;
      e.step(p2.p.data(), p2.x.data(), p2.T, nullptr, true);  // no reset: state carried
      e.backward(p2.p.data(), g2.data(), targets_of(p2), ds, nullptr);
      zero_held(p2.L, g2.data());
      const std::vector<double> dx2 = e.input_grad(), dh02 = e.h0_grad();
      if (dx2.size() != p2.x.size() || dh02.size() != hc.size()) {
        print_error("%s: pass-2 dL/dx has %zu values (want %zu), dL/dh0 %zu (want %zu)\n", p2.name.c_str(),
                    dx2.size(), p2.x.size(), dh02.size(), hc.size());
        ++bad;
        continue;
      }
      const Problem *prs[2] = {&p1, &p2};
      const std::vector<double> *gs[2] = {&g1, &g2}, *dxs[2] = {&dx1, &dx2}, *dh0s[2] = {&dh01, &dh02};
      for (int k = 0; k < 2; ++k) {
        const Problem &pr = *prs[k];
        for (size_t i = 0; i < pr.L.total; ++i) {
          if (!pr.L.trainable[i]) {
            if ((*gs[k])[i] != 0.0) ++bad;
            continue;
          }
          std::vector<double> pp = pr.p, pm = pr.p;
          pp[i] += kStep;
          pm[i] -= kStep;
          const double fd = (loss(pr, pp, pr.x, pr.h0) - loss(pr, pm, pr.x, pr.h0)) / (2 * kStep);
          bad += compare("param", pr.name, i, (*gs[k])[i], fd, &worst);
        }
        for (size_t j = 0; j < pr.x.size(); ++j) {
          std::vector<double> xp = pr.x, xm = pr.x;
          xp[j] += kStep;
          xm[j] -= kStep;
          const double fd = (loss(pr, pr.p, xp, pr.h0) - loss(pr, pr.p, xm, pr.h0)) / (2 * kStep);
          bad += compare("dx", pr.name, j, (*dxs[k])[j], fd, &worst);
        }
        for (size_t j = 0; j < pr.h0.size(); ++j) {
          std::vector<double> hp = pr.h0, hm = pr.h0;
          hp[j] += kStep;
          hm[j] -= kStep;
          const double fd = (loss(pr, pr.p, pr.x, hp) - loss(pr, pr.p, pr.x, hm)) / (2 * kStep);
          bad += compare("dh0 (carried state)", pr.name, j, (*dh0s[k])[j], fd, &worst);
        }
      }
      // The check can tell truncation from full BPTT: the gradient of pass 2's loss through the
      // carried state (h_c a function of the parameters) differs from the truncated one.
      double max_gap = 0;
      for (size_t i = 0; i < p1.L.total; ++i) {
        if (!p1.L.trainable[i] || i >= p1.L.b_hh) continue;  // cell weights are enough
        auto full = [&](double d) {
          std::vector<double> pp = p1.p;
          pp[i] += d;
          RefEngine<double> f(p1.s);
          f.reset(p1.B, p1.h0.data());
          f.step(pp.data(), p1.x.data(), p1.T, nullptr, false);
          std::vector<double> y(static_cast<size_t>(p2.T) * p2.B * W2);
          f.step(pp.data(), p2.x.data(), p2.T, y.data(), false);
          return loss_of_outputs(p2, y, p2.T);
        };
        max_gap = std::max(max_gap, std::fabs((full(kStep) - full(-kStep)) / (2 * kStep) - g2[i]));
      }
      if (!(max_gap > 1e-5)) {
        print_error("%s: truncated and full gradients agree (gap %g): the check cannot tell them apart\n",
                    p2.name.c_str(), max_gap);
        ++bad;
      }
    }
  print_message("worst |diff| / tolerance %.3g\n", worst);
  assert_int_equal(bad, 0);
}

}  // namespace

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(gradcheck_gru),
      cmocka_unit_test(gradcheck_rnn),
      cmocka_unit_test(truncated_bptt),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
