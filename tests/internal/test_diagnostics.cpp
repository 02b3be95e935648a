// diagnostics.md, through RefEngine<double> and through the public API (reference backend, float32).
//
// The per-step gradients are checked against finite differences of an injected perturbation: a
// forward written here runs the engine one step at a time and can add eps * e_j to h_t in one of
// two ways,
//   TOTAL: to h_t itself (the head at t and step t+1 both see it)    -> dL/dh_t = delta_t,
//   REC:   only to the copy of h_t that step t+1 consumes           -> J_{t+1}^T delta_{t+1},
// (REC at h_0 perturbs the initial state), the latter being "dL/dh_t minus the head's direct part
// at t", the recurrent part that transfer_time and omega use. A third way, HEAD (only what the head
// reads at t), checks that split: TOTAL = HEAD + REC.
//
// Tolerances (stated again where used):
//   FD in double (fourth-order central differences, h = 1e-4, errors ~1e-11: see fd()): 1e-6
//     relative + 1e-9 absolute on norms of dL/dh and their ratios; omega 1e-5 relative + 1e-8 (it
//     squares a ratio of those norms);
//   recomputed saturation / activation / gate traces (double): 1e-12 absolute (the same values,
//     summed in another order);
//   float32 API against the double values on the same parameters: 1e-4 relative (float32
//     round-off through <= 6 steps), Jacobian entries 1e-5 absolute;
//   seed 001's limits: sigma(+-40) is 1 or ~4e-18, so J is I, 0 or diag(1 - n^2) W_hn to float
//     round-off: 1e-6 absolute;
//   spectral: 1e-6 (eigenvalues of a normal matrix move by at most the float32 rounding, ~1e-7);
//   summaries: exact values written by hand from numpy's definitions, 1e-12.
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
#include "test_support.h"

using namespace rnnlab;

namespace {

const double kEps = 1e-6;

const char *cell_str(rnnlab_cell c) {
  static const char *n[] = {"gru", "gru_reset_before", "rnn_tanh", "rnn_sigmoid", "rnn_relu", "rnn_linear"};
  return n[c];
}
bool is_gru(rnnlab_cell c) { return c == RNNLAB_CELL_GRU || c == RNNLAB_CELL_GRU_RESET_BEFORE; }

bool close(double a, double b, double rtol, double atol) {
  if (std::isnan(a) || std::isnan(b)) return std::isnan(a) && std::isnan(b);
  return std::fabs(a - b) <= atol + rtol * std::fabs(b);
}

// ---- a problem and the perturbed forward ---------------------------------------------------------

struct Prob {
  ModelSpec s;
  Layout L;
  int T = 0, B = 0;
  std::vector<double> p, x, h0;
  std::vector<int32_t> classes;
  std::vector<double> values;
  std::vector<float> dy;
};

double loss_of_outputs(const Prob &pr, const std::vector<double> &y) {
  return rnnlab_test::independent_loss(pr.s.head, pr.s.O, pr.s.out_width(), pr.T, pr.B, y, pr.classes.data(),
                                       pr.values.data(), pr.dy.data());
}

enum class Pert { None, Total, Rec, H0, Head };

// The loss with eps added to unit (b, j) of h_{t0} (0-based step index; ignored for H0).
double loss_perturbed(const Prob &pr, Pert mode, int t0, int b, int j, double eps) {
  const int B = pr.B, H = pr.s.H, I = pr.s.I, W = pr.s.out_width();
  RefEngine<double> e(pr.s);
  std::vector<double> h = pr.h0, y(static_cast<size_t>(pr.T) * B * W);
  const size_t u = static_cast<size_t>(b) * H + j;
  for (int t = 0; t < pr.T; ++t) {
    std::vector<double> h_in = h;
    if (mode == Pert::H0 && t == 0) h_in[u] += eps;
    if (mode == Pert::Rec && t == t0 + 1) h_in[u] += eps;
    e.reset(B, h_in.data());
    e.step(pr.p.data(), pr.x.data() + static_cast<size_t>(t) * B * I, 1, nullptr, false);
    h = e.hidden();
    if (mode == Pert::Total && t == t0) h[u] += eps;
    std::vector<double> h_head = h;  // what the head reads
    if (mode == Pert::Head && t == t0) h_head[u] += eps;
    double *yt = &y[static_cast<size_t>(t) * B * W];
    for (int bb = 0; bb < B; ++bb) {
      const double *hb = &h_head[static_cast<size_t>(bb) * H];
      if (!pr.s.has_head()) {
        std::copy(hb, hb + H, yt + static_cast<size_t>(bb) * W);
        continue;
      }
      for (int o = 0; o < pr.s.O; ++o) {
        double a = pr.p[pr.L.head_b + o];
        for (int k = 0; k < H; ++k) a += pr.p[pr.L.head_w + static_cast<size_t>(o) * H + k] * hb[k];
        yt[static_cast<size_t>(bb) * W + o] = a;
      }
    }
  }
  return loss_of_outputs(pr, y);
}

// Fourth-order central differences, step kEpsH = 1e-4: truncation ~h^4 |L^(5)| ~ 1e-16, round-off
// ~eps_mach |L| / h ~ 1e-11 (the losses here sum up to 60 terms). Plain central differences with
// h = 1e-6 leave ~1e-9 of round-off, 1e-6 relative on the smallest dL/dh (~5e-4) of a last-step
// loss: too close to the tolerance for the transfer ratios.
const double kEpsH = 1e-4;
double fd(const Prob &pr, Pert mode, int t0, int b, int j) {
  auto L = [&](double e) { return loss_perturbed(pr, mode, t0, b, j, e); };
  const double d1 = L(kEpsH) - L(-kEpsH), d2 = L(2 * kEpsH) - L(-2 * kEpsH);
  return (8 * d1 - d2) / (12 * kEpsH);
}

// delta[t][b][j] (TOTAL) and rec[t][b][j] = J_t^T delta_t, the recurrent part of dL/dh_{t-1}
// (REC at t-1, or H0 for t = 0).
void fd_deltas(const Prob &pr, std::vector<double> *delta, std::vector<double> *rec) {
  const int T = pr.T, B = pr.B, H = pr.s.H;
  delta->assign(static_cast<size_t>(T) * B * H, 0.0);
  rec->assign(static_cast<size_t>(T) * B * H, 0.0);
  for (int t = 0; t < T; ++t)
    for (int b = 0; b < B; ++b)
      for (int j = 0; j < H; ++j) {
        const size_t k = (static_cast<size_t>(t) * B + b) * H + j;
        (*delta)[k] = fd(pr, Pert::Total, t, b, j);
        (*rec)[k] = t == 0 ? fd(pr, Pert::H0, 0, b, j) : fd(pr, Pert::Rec, t - 1, b, j);
      }
}

double norm2(const double *v, int n) {
  double s = 0;
  for (int k = 0; k < n; ++k) s += v[k] * v[k];
  return s;
}

Prob make_prob(rnnlab_cell cell, rnnlab_head head, uint64_t seed, double wscale = 0.9) {
  Prob pr;
  pr.s.cell = cell;
  pr.s.head = head;
  pr.s.I = 3;
  pr.s.H = 4;
  pr.s.O = head == RNNLAB_HEAD_NONE ? 0 : 3;
  pr.L = make_layout(pr.s);
  pr.T = 5;
  pr.B = 3;
  Rng rng(seed);
  // Parameters are float-representable, so the float API runs the very same model.
  pr.p.resize(pr.L.total);
  for (auto &v : pr.p) v = static_cast<float>(rng.uniform(-wscale, wscale));
  pr.x.resize(static_cast<size_t>(pr.T) * pr.B * pr.s.I);
  for (auto &v : pr.x) v = static_cast<float>(rng.uniform(-1.5, 1.5));
  pr.h0.resize(static_cast<size_t>(pr.B) * pr.s.H);
  for (auto &v : pr.h0) v = static_cast<float>(rng.uniform(-0.5, 0.5));
  const int W = pr.s.out_width();
  if (head == RNNLAB_HEAD_NONE) {
    pr.dy.resize(static_cast<size_t>(pr.T) * pr.B * W);
    for (auto &v : pr.dy) v = static_cast<float>(rng.uniform(-1.0, 1.0));
  } else if (head == RNNLAB_HEAD_LAST_LINEAR) {
    for (int k = 0; k < pr.B * pr.s.O; ++k) pr.values.push_back(static_cast<float>(rng.uniform(-1.0, 1.0)));
  } else {
    const int n = head == RNNLAB_HEAD_EVERY_SOFTMAX ? pr.T * pr.B : pr.B;
    for (int k = 0; k < n; ++k) pr.classes.push_back(static_cast<int32_t>(rng.below(pr.s.O)));
  }
  return pr;
}

// Relu: the smallest |pre-activation| of the pass. The finite differences move h by up to 2e-4,
// so a pre-activation closer than 1e-3 to relu's kink would make them meaningless there.
double min_abs_preact(const Prob &pr) {
  RefEngine<double> e(pr.s);
  e.reset(pr.B, pr.h0.data());
  e.step(pr.p.data(), pr.x.data(), pr.T, nullptr, true);
  const int I = pr.s.I, H = pr.s.H;
  double m = INFINITY;
  for (int t = 0; t < pr.T; ++t)
    for (int b = 0; b < pr.B; ++b) {
      const double *hp = t == 0 ? &pr.h0[static_cast<size_t>(b) * H] : &e.recorded_hidden(t - 1)[static_cast<size_t>(b) * H];
      const double *x = &pr.x[(static_cast<size_t>(t) * pr.B + b) * I];
      for (int j = 0; j < H; ++j) {
        double a = pr.p[pr.L.b_ih + j] + pr.p[pr.L.b_hh + j];
        for (int i = 0; i < I; ++i) a += pr.p[pr.L.w_ih + static_cast<size_t>(j) * I + i] * x[i];
        for (int k = 0; k < H; ++k) a += pr.p[pr.L.w_hh + static_cast<size_t>(j) * H + k] * hp[k];
        m = std::min(m, std::fabs(a));
      }
    }
  return m;
}
void expect_away_from_kink(const Prob &pr) {
  if (pr.s.cell != RNNLAB_CELL_RNN_RELU) return;
  const double m = min_abs_preact(pr);
  if (!(m > 1e-3)) {
    print_error("relu problem has a pre-activation %g from the kink: pick another seed\n", m);
    fail();
  }
}

TargetsView view_of(const Prob &pr) {
  TargetsView tv;
  if (pr.s.head == RNNLAB_HEAD_NONE) tv.dy = pr.dy.data();
  else if (pr.s.head == RNNLAB_HEAD_LAST_LINEAR) tv.values64 = pr.values.data();
  else tv.classes = pr.classes.data();
  return tv;
}

// The same problem as a float model through the API (reference backend, level full).
struct ApiRun {
  rnnlab_model *m = nullptr;
  std::vector<float> values, dy;
  rnnlab_targets tg = RNNLAB_TARGETS_INIT;
};
rnnlab_model *api_model(const Prob &pr, rnnlab_diag_level level = RNNLAB_DIAG_FULL) {
  rnnlab_config c = RNNLAB_CONFIG_INIT;
  c.cell = pr.s.cell;
  c.input_size = pr.s.I;
  c.hidden_size = pr.s.H;
  c.head = pr.s.head;
  c.output_size = pr.s.O;
  c.backend = RNNLAB_BACKEND_REFERENCE;
  c.diag_level = level;
  rnnlab_model *m = nullptr;
  assert_int_equal(rnnlab_create(&m, &c), RNNLAB_OK);
  std::vector<float> pf(pr.p.begin(), pr.p.end());
  assert_int_equal(rnnlab_set_params(m, pf.data(), pf.size()), RNNLAB_OK);
  return m;
}
void api_pass(ApiRun *r, const Prob &pr, bool backward = true) {
  std::vector<float> h0(pr.h0.begin(), pr.h0.end()), x(pr.x.begin(), pr.x.end());
  assert_int_equal(rnnlab_set_h0(r->m, h0.data(), h0.size(), pr.B), RNNLAB_OK);
  assert_int_equal(rnnlab_step(nullptr, 0, r->m, x.data(), x.size(), pr.T, pr.B), RNNLAB_OK);
  r->tg = RNNLAB_TARGETS_INIT;
  if (pr.s.head == RNNLAB_HEAD_NONE) {
    r->dy = pr.dy;
    r->tg.dy = r->dy.data();
    r->tg.count = r->dy.size();
  } else if (pr.s.head == RNNLAB_HEAD_LAST_LINEAR) {
    r->values.assign(pr.values.begin(), pr.values.end());
    r->tg.values = r->values.data();
    r->tg.count = r->values.size();
  } else {
    r->tg.classes = pr.classes.data();
    r->tg.count = pr.classes.size();
  }
  if (backward) {
    const rnnlab_status st = rnnlab_backward(r->m, &r->tg);
    if (st != RNNLAB_OK) print_error("%s\n", rnnlab_last_error());
    assert_int_equal(st, RNNLAB_OK);
  }
}
std::vector<double> api_trace(const rnnlab_model *m, rnnlab_trace tr, int T) {
  std::vector<double> v(T);
  int32_t len = 0;
  const rnnlab_status st = rnnlab_get_trace(v.data(), v.size(), &len, m, tr);
  if (st != RNNLAB_OK) print_error("get_trace(%s): %s\n", rnnlab_trace_name(tr), rnnlab_last_error());
  assert_int_equal(st, RNNLAB_OK);
  assert_int_equal(len, T);
  return v;
}

// ---- grad_time, transfer_time, omega, steps_in_past against injected perturbations ---------------

void per_step_gradients(void **) {
  int bad = 0;
  double worst = 0;  // largest |engine - fd| / tolerance seen, reported
  const rnnlab_head heads[] = {RNNLAB_HEAD_NONE, RNNLAB_HEAD_LAST_SOFTMAX, RNNLAB_HEAD_EVERY_SOFTMAX,
                               RNNLAB_HEAD_LAST_LINEAR};
  for (int ci = 0; ci < 6; ++ci)
    for (rnnlab_head head : heads) {
      const rnnlab_cell cell = static_cast<rnnlab_cell>(ci);
      const Prob pr = make_prob(cell, head, 50 + ci * 7 + head);
      expect_away_from_kink(pr);
      const int T = pr.T, B = pr.B, H = pr.s.H;
      std::vector<double> delta, rec;
      fd_deltas(pr, &delta, &rec);
      // The harness itself: dL/dh_t = the head's direct part at t + the recurrent part (REC at t).
      for (int t = 0; t < T; ++t)
        for (int b = 0; b < B; ++b)
          for (int j = 0; j < H; ++j) {
            const size_t k = (static_cast<size_t>(t) * B + b) * H + j;
            const double split = fd(pr, Pert::Head, t, b, j) + (t + 1 < T ? rec[k + static_cast<size_t>(B) * H] : 0.0);
            if (!close(split, delta[k], 1e-6, 1e-9)) {
              print_error("%s head %d: FD harness: head part + recurrent part %.10g != dL/dh %.10g\n", cell_str(cell),
                          head, split, delta[k]);
              ++bad;
            }
          }
      // What diagnostics.md defines, from the finite differences.
      std::vector<double> d2(static_cast<size_t>(T) * B), r2(static_cast<size_t>(T) * B);
      std::vector<double> grad(T, 0.0), transfer(T, 0.0);
      for (int t = 0; t < T; ++t) {
        int n = 0;
        for (int b = 0; b < B; ++b) {
          const size_t k = static_cast<size_t>(t) * B + b;
          d2[k] = norm2(&delta[k * H], H);
          r2[k] = norm2(&rec[k * H], H);
          grad[t] += std::sqrt(d2[k]) / B;
          if (std::sqrt(d2[k]) >= 1e-10) {
            transfer[t] += std::sqrt(r2[k] / d2[k]);
            ++n;
          }
        }
        transfer[t] = n ? transfer[t] / n : NAN;
      }
      // A bound that splits the (t, b): between two sorted ||delta||^2 at least 1.5x apart, so that
      // finite-difference noise cannot move any across it; the smallest bound if there is no gap.
      std::vector<double> sorted = d2;
      std::sort(sorted.begin(), sorted.end());
      double bound = 1e-20;
      for (size_t k = sorted.size() / 4; k + 1 < sorted.size(); ++k)
        if (sorted[k + 1] > 1.5 * sorted[k] && sorted[k] > 0) {
          bound = std::sqrt(sorted[k] * sorted[k + 1]);
          break;
        }
      double omega = 0;
      int valid = 0;
      for (size_t k = 0; k < d2.size(); ++k)
        if (d2[k] >= bound) {
          omega += (r2[k] / d2[k] - 1) * (r2[k] / d2[k] - 1);
          ++valid;
        }
      omega = valid ? omega / valid : NAN;
      const double steps_in_past = static_cast<double>(valid) / d2.size();

      // Double engine: 1e-6 relative + 1e-9 (norms); omega 1e-5 + 1e-8.
      RefEngine<double> e(pr.s);
      e.reset(B, pr.h0.data());
      e.step(pr.p.data(), pr.x.data(), T, nullptr, true);
      std::vector<double> g(pr.L.total, 0.0);
      DiagSettings ds;
      ds.level = RNNLAB_DIAG_FULL;
      ds.bound = bound;
      PassStats st;
      e.backward(pr.p.data(), g.data(), view_of(pr), ds, &st);
      const std::vector<double> &eg = st.traces[RNNLAB_TRACE_GRAD_TIME], &et = st.traces[RNNLAB_TRACE_TRANSFER_TIME];
      std::string where = std::string(cell_str(cell)) + " head " + std::to_string(head);
      for (int t = 0; t < T; ++t) {
        worst = std::max(worst, std::fabs(eg[t] - grad[t]) / (1e-9 + 1e-6 * std::fabs(grad[t])));
        if (!std::isnan(et[t])) worst = std::max(worst, std::fabs(et[t] - transfer[t]) / (1e-9 + 1e-6 * std::fabs(transfer[t])));
        if (!close(eg[t], grad[t], 1e-6, 1e-9)) {
          print_error("%s: grad_time[%d] = %.10g, finite differences %.10g\n", where.c_str(), t, eg[t], grad[t]);
          ++bad;
        }
        if (!close(et[t], transfer[t], 1e-6, 1e-9)) {
          print_error("%s: transfer_time[%d] = %.10g, finite differences %.10g\n", where.c_str(), t, et[t], transfer[t]);
          ++bad;
        }
      }
      if (!close(st.omega, omega, 1e-5, 1e-8) || st.steps_in_past != steps_in_past) {
        print_error("%s: omega %.10g steps_in_past %g; finite differences %.10g, %g (bound %g)\n", where.c_str(),
                    st.omega, st.steps_in_past, omega, steps_in_past, bound);
        ++bad;
      }
      // The recurrent part is J_t^T delta_t with J from the engine's Jacobian (J[i][j] = dh_t[i]/dh_{t-1}[j]).
      std::vector<double> J(static_cast<size_t>(H) * H);
      for (int t = 0; t < T; ++t)
        for (int b = 0; b < B; ++b) {
          e.jacobian(pr.p.data(), t, b, J.data());
          const size_t k = static_cast<size_t>(t) * B + b;
          for (int j = 0; j < H; ++j) {
            double v = 0;
            for (int i = 0; i < H; ++i) v += J[static_cast<size_t>(i) * H + j] * delta[k * H + i];
            if (!close(v, rec[k * H + j], 1e-6, 1e-9)) {
              print_error("%s: (J^T delta)[t=%d][b=%d][%d] = %.10g, recurrent part of dL/dh_{t-1} %.10g\n",
                          where.c_str(), t, b, j, v, rec[k * H + j]);
              ++bad;
            }
          }
        }

      // Float API: 1e-4 relative.
      ApiRun r;
      r.m = api_model(pr);
      assert_int_equal(rnnlab_set_bound(r.m, bound), RNNLAB_OK);
      api_pass(&r, pr);
      const std::vector<double> ag = api_trace(r.m, RNNLAB_TRACE_GRAD_TIME, T);
      const std::vector<double> at = api_trace(r.m, RNNLAB_TRACE_TRANSFER_TIME, T);
      for (int t = 0; t < T; ++t)
        if (!close(ag[t], grad[t], 1e-4, 1e-9) || !close(at[t], transfer[t], 1e-4, 1e-9)) {
          print_error("%s: API grad_time[%d] %g / transfer_time %g; finite differences %g / %g\n", where.c_str(), t,
                      ag[t], at[t], grad[t], transfer[t]);
          ++bad;
        }
      // rnnlab_jacobian after the backward: J^T delta_t is the recurrent part of dL/dh_{t-1}
      // (float32 entries: 1e-4 relative + 1e-6).
      std::vector<float> Jf(static_cast<size_t>(H) * H);
      for (int t = 0; t < T; ++t)
        for (int b = 0; b < B; ++b) {
          assert_int_equal(rnnlab_jacobian(Jf.data(), Jf.size(), r.m, t, b), RNNLAB_OK);
          const size_t k = static_cast<size_t>(t) * B + b;
          for (int j = 0; j < H; ++j) {
            double v = 0;
            for (int i = 0; i < H; ++i) v += Jf[static_cast<size_t>(i) * H + j] * delta[k * H + i];
            if (!close(v, rec[k * H + j], 1e-4, 1e-6)) {
              print_error("%s: API (J^T delta)[t=%d][b=%d][%d] = %.8g, recurrent part %.8g\n", where.c_str(), t, b, j,
                          v, rec[k * H + j]);
              ++bad;
            }
          }
        }
      rnnlab_diag d = RNNLAB_DIAG_INIT;
      assert_int_equal(rnnlab_diagnostics(&d, r.m), RNNLAB_OK);
      if (!close(d.omega, omega, 1e-3, 1e-6) || d.steps_in_past != steps_in_past) {
        print_error("%s: API omega %g steps_in_past %g; finite differences %g, %g\n", where.c_str(), d.omega,
                    d.steps_in_past, omega, steps_in_past);
        ++bad;
      }
      rnnlab_destroy(r.m);
    }
  print_message("worst |engine - finite differences| / tolerance (double): %.3g\n", worst);
  assert_int_equal(bad, 0);
}

// ---- saturation, activation and gate traces against recomputation --------------------------------

void value_traces(void **) {
  int bad = 0;
  const double thresh = 0.3;  // large enough that every fraction trace is neither 0 nor 1 somewhere
  for (int ci = 0; ci < 6; ++ci) {
    const rnnlab_cell cell = static_cast<rnnlab_cell>(ci);
    const Prob pr = make_prob(cell, RNNLAB_HEAD_EVERY_SOFTMAX, 900 + ci, 2.0);
    const int T = pr.T, B = pr.B, H = pr.s.H, I = pr.s.I;
    RefEngine<double> e(pr.s);
    e.reset(B, pr.h0.data());
    e.step(pr.p.data(), pr.x.data(), T, nullptr, true);
    std::vector<double> hs[8];
    for (int t = 0; t < T; ++t) hs[t] = e.recorded_hidden(t);
    std::vector<double> g(pr.L.total, 0.0);
    DiagSettings ds;
    ds.level = RNNLAB_DIAG_FULL;
    ds.sat_thresh = thresh;
    PassStats st;
    e.backward(pr.p.data(), g.data(), view_of(pr), ds, &st);

    // Which traces the cell has (diagnostics.md), in the engine and through the API.
    ApiRun r;
    r.m = api_model(pr);
    assert_int_equal(rnnlab_set_sat_thresh(r.m, static_cast<float>(thresh)), RNNLAB_OK);
    api_pass(&r, pr);
    for (int k = 0; k < RNNLAB_TRACE_COUNT; ++k) {
      const rnnlab_trace tr = static_cast<rnnlab_trace>(k);
      bool want = true;
      if (tr == RNNLAB_TRACE_SAT_TIME) want = cell != RNNLAB_CELL_RNN_LINEAR;
      else if (tr == RNNLAB_TRACE_SAT_FRAC_TIME) want = cell != RNNLAB_CELL_RNN_LINEAR && cell != RNNLAB_CELL_RNN_RELU;
      else if (tr != RNNLAB_TRACE_GRAD_TIME && tr != RNNLAB_TRACE_ACT_TIME && tr != RNNLAB_TRACE_TRANSFER_TIME)
        want = is_gru(cell);
      const bool has = rnnlab_has_trace(r.m, tr) == 1;
      std::vector<double> v(T);
      const rnnlab_status s = rnnlab_get_trace(v.data(), v.size(), nullptr, r.m, tr);
      if (has != want || (s == RNNLAB_OK) != want || (!want && s != RNNLAB_E_NOT_FOUND) ||
          st.traces[k].empty() == want) {
        print_error("%s: trace %s: has %d, get_trace %d, engine %zu values; expected %s\n", cell_str(cell),
                    rnnlab_trace_name(tr), has, s, st.traces[k].size(), want ? "present" : "absent");
        ++bad;
      }
    }

    // Recompute from recorded h, gates (from x, h_{t-1} and the weights) and the weights.
    const double *w_ih = &pr.p[pr.L.w_ih], *w_hh = &pr.p[pr.L.w_hh], *b_ih = &pr.p[pr.L.b_ih], *b_hh = &pr.p[pr.L.b_hh];
    auto row = [&](const double *W, int r0, int cols, const double *v) {
      double a = 0;
      for (int k = 0; k < cols; ++k) a += W[static_cast<size_t>(r0) * cols + k] * v[k];
      return a;
    };
    auto sig = [](double a) { return 1.0 / (1.0 + std::exp(-a)); };
    double frac_seen[5][2] = {};  // per fraction trace: any value > 0, any < 1
    for (int t = 0; t < T; ++t) {
      double sat = 0, act = 0, satf = 0, cand = 0, zs = 0, rs = 0, zm = 0, rm = 0, zp = 0, zsf = 0, rsf = 0;
      for (int b = 0; b < B; ++b) {
        const double *x = &pr.x[(static_cast<size_t>(t) * B + b) * I];
        const double *hp = t == 0 ? &pr.h0[static_cast<size_t>(b) * H] : &hs[t - 1][static_cast<size_t>(b) * H];
        for (int j = 0; j < H; ++j) {
          const double h = hs[t][static_cast<size_t>(b) * H + j];
          double dist = 0, der = 0;
          switch (cell) {
            case RNNLAB_CELL_RNN_SIGMOID: dist = std::min(h, 1 - h); der = h * (1 - h); break;
            case RNNLAB_CELL_RNN_RELU: dist = h == 0.0 ? 1.0 : 0.0; der = h > 0 ? 1.0 : 0.0; break;
            case RNNLAB_CELL_RNN_LINEAR: der = 1.0; break;
            default: dist = 1 - std::fabs(h); der = 1 - h * h;  // tanh and both GRUs
          }
          sat += dist;
          act += der;
          satf += dist < thresh;
          if (!is_gru(cell)) continue;
          const double ar = row(w_ih, j, I, x) + b_ih[j] + row(w_hh, j, H, hp) + b_hh[j];
          const double az = row(w_ih, H + j, I, x) + b_ih[H + j] + row(w_hh, H + j, H, hp) + b_hh[H + j];
          const double rr = sig(ar), z = sig(az);
          double n;
          if (cell == RNNLAB_CELL_GRU) {
            n = std::tanh(row(w_ih, 2 * H + j, I, x) + b_ih[2 * H + j] + rr * (row(w_hh, 2 * H + j, H, hp) + b_hh[2 * H + j]));
          } else {
            std::vector<double> rh(H);
            for (int k = 0; k < H; ++k) {
              const double ak = row(w_ih, k, I, x) + b_ih[k] + row(w_hh, k, H, hp) + b_hh[k];
              rh[k] = sig(ak) * hp[k];
            }
            n = std::tanh(row(w_ih, 2 * H + j, I, x) + b_ih[2 * H + j] + row(w_hh, 2 * H + j, H, rh.data()) + b_hh[2 * H + j]);
          }
          // The recorded h is the blend of these gates (a check of the recomputation itself).
          if (std::fabs((1 - z) * n + z * hp[j] - h) > 1e-12) {
            print_error("%s: recomputed gates do not reproduce h\n", cell_str(cell));
            ++bad;
          }
          cand += 1 - n * n;
          zs += std::min(z, 1 - z);
          rs += std::min(rr, 1 - rr);
          zm += z;
          rm += rr;
          zp += az;
          zsf += std::min(z, 1 - z) < thresh;
          rsf += std::min(rr, 1 - rr) < thresh;
        }
      }
      const double cnt = static_cast<double>(B) * H;
      struct {
        rnnlab_trace tr;
        double want;
      } checks[] = {{RNNLAB_TRACE_SAT_TIME, sat / cnt},         {RNNLAB_TRACE_ACT_TIME, act / cnt},
                    {RNNLAB_TRACE_SAT_FRAC_TIME, satf / cnt},   {RNNLAB_TRACE_CAND_ACT_TIME, cand / cnt},
                    {RNNLAB_TRACE_GATE_Z_SAT_TIME, zs / cnt},   {RNNLAB_TRACE_GATE_R_SAT_TIME, rs / cnt},
                    {RNNLAB_TRACE_GATE_Z_MEAN_TIME, zm / cnt},  {RNNLAB_TRACE_GATE_R_MEAN_TIME, rm / cnt},
                    {RNNLAB_TRACE_GATE_Z_PREACT_TIME, zp / cnt}, {RNNLAB_TRACE_GATE_Z_SAT_FRAC_TIME, zsf / cnt},
                    {RNNLAB_TRACE_GATE_R_SAT_FRAC_TIME, rsf / cnt}};
      for (const auto &c : checks) {
        if (st.traces[c.tr].empty()) continue;  // absent for this cell (checked above)
        const double got = st.traces[c.tr][t];
        if (!close(got, c.want, 0, 1e-12)) {
          print_error("%s: %s[%d] = %.15g, recomputed %.15g\n", cell_str(cell), rnnlab_trace_name(c.tr), t, got, c.want);
          ++bad;
        }
        const bool frac = c.tr == RNNLAB_TRACE_SAT_FRAC_TIME || c.tr == RNNLAB_TRACE_GATE_Z_SAT_FRAC_TIME ||
                          c.tr == RNNLAB_TRACE_GATE_R_SAT_FRAC_TIME || (c.tr == RNNLAB_TRACE_SAT_TIME && cell == RNNLAB_CELL_RNN_RELU);
        if (frac) {
          const int fi = c.tr == RNNLAB_TRACE_SAT_TIME ? 0 : c.tr == RNNLAB_TRACE_SAT_FRAC_TIME ? 1 : c.tr == RNNLAB_TRACE_GATE_Z_SAT_FRAC_TIME ? 2 : 3;
          frac_seen[fi][0] += c.want > 0;
          frac_seen[fi][1] += c.want < 1;
        } else {
          // Float API on the same parameters: 1e-4 relative + 1e-6 (fractions are left out: a value
          // within float round-off of the threshold could count differently).
          const std::vector<double> av = api_trace(r.m, c.tr, T);
          if (!close(av[t], c.want, 1e-4, 1e-6)) {
            print_error("%s: API %s[%d] = %.9g, recomputed %.9g\n", cell_str(cell), rnnlab_trace_name(c.tr), t, av[t],
                        c.want);
            ++bad;
          }
        }
      }
    }
    // The fractions are not trivially 0 or 1 everywhere (the check could otherwise not fail).
    if (cell == RNNLAB_CELL_RNN_RELU && !(frac_seen[0][0] > 0 && frac_seen[0][1] > 0)) ++bad;
    if (is_gru(cell) && !(frac_seen[2][0] + frac_seen[3][0] > 0)) ++bad;
    rnnlab_destroy(r.m);
  }
  assert_int_equal(bad, 0);
}

// ---- the Jacobian --------------------------------------------------------------------------------

// J[i][j] = dh_t[i] / dh_{t-1}[j] against finite differences of one step (in double, from the
// float run's recorded h_{t-1}); the orientation matters (J is far from symmetric).
void jacobian_orientation(void **) {
  for (int ci = 0; ci < 6; ++ci) {
    const rnnlab_cell cell = static_cast<rnnlab_cell>(ci);
    Prob pr = make_prob(cell, RNNLAB_HEAD_NONE, 300 + ci);
    expect_away_from_kink(pr);
    const int T = pr.T, B = pr.B, H = pr.s.H, I = pr.s.I;
    ApiRun r;
    r.m = api_model(pr);
    std::vector<float> h0(pr.h0.begin(), pr.h0.end()), x(pr.x.begin(), pr.x.end());
    std::vector<float> y(static_cast<size_t>(T) * B * H);
    assert_int_equal(rnnlab_set_h0(r.m, h0.data(), h0.size(), B), RNNLAB_OK);
    assert_int_equal(rnnlab_step(y.data(), y.size(), r.m, x.data(), x.size(), T, B), RNNLAB_OK);
    std::vector<float> J(static_cast<size_t>(H) * H);
    assert_int_equal(rnnlab_jacobian(J.data(), J.size() - 1, r.m, 0, 0), RNNLAB_E_SIZE_MISMATCH);
    assert_int_equal(rnnlab_jacobian(J.data(), J.size(), r.m, T, 0), RNNLAB_E_INVALID_ARGUMENT);
    assert_int_equal(rnnlab_jacobian(J.data(), J.size(), r.m, 0, B), RNNLAB_E_INVALID_ARGUMENT);
    double asym = 0;  // max |J[i][j] - J[j][i]| over the checked steps
    for (int t : {0, 2, T - 1})
      for (int b = 0; b < B; ++b) {
        assert_int_equal(rnnlab_jacobian(J.data(), J.size(), r.m, t, b), RNNLAB_OK);
        std::vector<double> hp(static_cast<size_t>(B) * H);
        for (size_t k = 0; k < hp.size(); ++k)
          hp[k] = t == 0 ? pr.h0[k] : static_cast<double>(y[(static_cast<size_t>(t) - 1) * B * H + k]);
        auto one_step = [&](const std::vector<double> &h) {
          RefEngine<double> e(pr.s);
          e.reset(B, h.data());
          e.step(pr.p.data(), pr.x.data() + static_cast<size_t>(t) * B * I, 1, nullptr, false);
          return e.hidden();
        };
        for (int j = 0; j < H; ++j) {
          std::vector<double> hpp = hp, hpm = hp;
          hpp[static_cast<size_t>(b) * H + j] += kEps;
          hpm[static_cast<size_t>(b) * H + j] -= kEps;
          const std::vector<double> up = one_step(hpp), dn = one_step(hpm);
          for (int i = 0; i < H; ++i) {
            const double want = (up[static_cast<size_t>(b) * H + i] - dn[static_cast<size_t>(b) * H + i]) / (2 * kEps);
            const double got = J[static_cast<size_t>(i) * H + j];
            if (!close(got, want, 0, 1e-5)) {  // float32 entries of O(1)
              print_error("%s: J[%d][%d] (t=%d, b=%d) = %.8g, finite differences %.8g\n", cell_str(cell), i, j, t, b,
                          got, want);
              fail();
            }
            asym = std::max(asym, static_cast<double>(std::fabs(J[static_cast<size_t>(i) * H + j] - J[static_cast<size_t>(j) * H + i])));
          }
        }
      }
    assert_true(asym > 1e-2);  // J is far from symmetric: a transposed J would fail the check above
    // Still available after the backward that consumes the tape, until the next step.
    std::vector<float> before(J.size()), after(J.size());
    assert_int_equal(rnnlab_jacobian(before.data(), before.size(), r.m, 1, 1), RNNLAB_OK);
    api_pass(&r, pr, false);  // re-runs set_h0 + step: a fresh tape
    rnnlab_targets tg = RNNLAB_TARGETS_INIT;
    tg.dy = r.dy.data();
    tg.count = r.dy.size();
    assert_int_equal(rnnlab_backward(r.m, &tg), RNNLAB_OK);
    assert_int_equal(rnnlab_jacobian(after.data(), after.size(), r.m, 1, 1), RNNLAB_OK);
    assert_memory_equal(before.data(), after.data(), before.size() * sizeof(float));
    rnnlab_destroy(r.m);
  }
}

// Seed 001's three cases: z -> 1 gives I; reset-before with z = 0, r = 0 gives 0; z = 0, r = 1 gives
// diag(1 - n^2) W_hn (both GRUs: with r = 1 they are the same cell). Gates pinned with b = +-40.
void jacobian_seed001(void **) {
  const int H = 5, I = 2, B = 2, T = 3;
  for (int which = 0; which < 3; ++which)
    for (rnnlab_cell cell : {RNNLAB_CELL_GRU, RNNLAB_CELL_GRU_RESET_BEFORE}) {
      if (which == 1 && cell == RNNLAB_CELL_GRU) continue;  // seed 001's case 2 is the reset-before cell
      rnnlab_config c = RNNLAB_CONFIG_INIT;
      c.cell = cell;
      c.input_size = I;
      c.hidden_size = H;
      c.backend = RNNLAB_BACKEND_REFERENCE;
      c.init = RNNLAB_INIT_ORTHOGONAL;  // |W| ~ 1: n away from saturation, W_hn far from I
      c.seed = 60 + which;
      rnnlab_model *m = nullptr;
      assert_int_equal(rnnlab_create(&m, &c), RNNLAB_OK);
      std::vector<float> bi(3 * H);
      assert_int_equal(rnnlab_get_tensor(bi.data(), bi.size(), m, "bias_ih"), RNNLAB_OK);
      const float br = which == 2 ? 40.0f : -40.0f, bz = which == 0 ? 40.0f : -40.0f;
      for (int j = 0; j < H; ++j) {
        if (which > 0) bi[j] = br;
        bi[H + j] = bz;
      }
      assert_int_equal(rnnlab_set_tensor(m, "bias_ih", bi.data(), bi.size()), RNNLAB_OK);
      std::vector<float> w_ih(3 * H * I), w_hh(3 * H * H), b_ih(3 * H), b_hh(3 * H);
      assert_int_equal(rnnlab_get_tensor(w_ih.data(), w_ih.size(), m, "weight_ih"), RNNLAB_OK);
      assert_int_equal(rnnlab_get_tensor(w_hh.data(), w_hh.size(), m, "weight_hh"), RNNLAB_OK);
      assert_int_equal(rnnlab_get_tensor(b_ih.data(), b_ih.size(), m, "bias_ih"), RNNLAB_OK);
      assert_int_equal(rnnlab_get_tensor(b_hh.data(), b_hh.size(), m, "bias_hh"), RNNLAB_OK);
      Rng rng(5);
      std::vector<float> x(static_cast<size_t>(T) * B * I), h0(static_cast<size_t>(B) * H);
      for (auto &v : x) v = static_cast<float>(rng.uniform(-1, 1));
      for (auto &v : h0) v = static_cast<float>(rng.uniform(-0.7, 0.7));
      std::vector<float> y(static_cast<size_t>(T) * B * H), J(static_cast<size_t>(H) * H);
      assert_int_equal(rnnlab_set_h0(m, h0.data(), h0.size(), B), RNNLAB_OK);
      assert_int_equal(rnnlab_step(y.data(), y.size(), m, x.data(), x.size(), T, B), RNNLAB_OK);
      const int t = 1, b = 1;
      assert_int_equal(rnnlab_jacobian(J.data(), J.size(), m, t, b), RNNLAB_OK);
      const float *hp = &y[(static_cast<size_t>(t) - 1) * B * H + static_cast<size_t>(b) * H];
      const float *xt = &x[(static_cast<size_t>(t) * B + b) * I];
      double worst = 0, scale = 0;
      for (int i = 0; i < H; ++i) {
        double n = 0;
        if (which == 2) {  // n = tanh(W_in x + b_in + W_hn h + b_hn) (r = 1)
          double a = static_cast<double>(b_ih[2 * H + i]) + b_hh[2 * H + i];
          for (int k = 0; k < I; ++k) a += static_cast<double>(w_ih[static_cast<size_t>(2 * H + i) * I + k]) * xt[k];
          for (int k = 0; k < H; ++k) a += static_cast<double>(w_hh[static_cast<size_t>(2 * H + i) * H + k]) * hp[k];
          n = std::tanh(a);
        }
        for (int j = 0; j < H; ++j) {
          double want = 0;
          if (which == 0) want = i == j ? 1.0 : 0.0;
          else if (which == 2) want = (1 - n * n) * w_hh[static_cast<size_t>(2 * H + i) * H + j];
          worst = std::max(worst, std::fabs(J[static_cast<size_t>(i) * H + j] - want));
          scale = std::max(scale, std::fabs(want));
        }
      }
      if (!(worst <= 1e-6)) {
        print_error("seed 001 case %d (%s): max |J - expected| = %g\n", which + 1, cell_str(cell), worst);
        fail();
      }
      if (which == 2) assert_true(scale > 0.1);  // diag(1 - n^2) W_hn is not near 0 or I here
      rnnlab_destroy(m);
    }
}

// ---- spectral --------------------------------------------------------------------------------------

void spectral(void **) {
  const int H = 6;
  rnnlab_config c = RNNLAB_CONFIG_INIT;
  c.cell = RNNLAB_CELL_GRU;
  c.input_size = 2;
  c.hidden_size = H;
  c.backend = RNNLAB_BACKEND_REFERENCE;
  rnnlab_model *m = nullptr;
  assert_int_equal(rnnlab_create(&m, &c), RNNLAB_OK);
  // R: a product of Givens rotations (orthogonal, det 1, complex eigenvalues), scaled by 0.95.
  std::vector<double> R(H * H, 0.0);
  for (int i = 0; i < H; ++i) R[i * H + i] = 1;
  const struct {
    int p, q;
    double th;
  } rot[] = {{0, 1, 0.7}, {2, 3, -1.9}, {4, 5, 2.4}, {1, 2, 0.4}, {3, 4, 1.1}, {0, 5, -0.6}};
  for (const auto &g : rot) {
    const double cth = std::cos(g.th), sth = std::sin(g.th);
    for (int k = 0; k < H; ++k) {  // R = G R
      const double a = R[g.p * H + k], b = R[g.q * H + k];
      R[g.p * H + k] = cth * a - sth * b;
      R[g.q * H + k] = sth * a + cth * b;
    }
  }
  std::vector<float> w(3 * H * H);
  assert_int_equal(rnnlab_get_tensor(w.data(), w.size(), m, "weight_hh"), RNNLAB_OK);
  for (int k = 0; k < H * H; ++k) {
    w[2 * H * H + k] = static_cast<float>(0.95 * R[k]);  // W_hn
    w[H * H + k] = 0.0f;                                  // W_hz = diag(0.1 .. 0.6)
    w[k] = 0.0f;                                          // W_hr: upper triangular, diagonal 0.3, one 5
  }
  for (int i = 0; i < H; ++i) {
    w[H * H + i * H + i] = 0.1f * (i + 1);
    w[i * H + i] = 0.3f;
  }
  w[0 * H + 4] = 5.0f;
  assert_int_equal(rnnlab_set_tensor(m, "weight_hh", w.data(), w.size()), RNNLAB_OK);
  double rho = 0, sig = 0;
  assert_int_equal(rnnlab_spectral(&rho, &sig, m, RNNLAB_BLOCK_HN), RNNLAB_OK);
  assert_true(std::fabs(rho - 0.95) <= 1e-6 && std::fabs(sig - 0.95) <= 1e-6);
  assert_int_equal(rnnlab_spectral(&rho, &sig, m, RNNLAB_BLOCK_HZ), RNNLAB_OK);
  assert_true(std::fabs(rho - 0.6) <= 1e-6 && std::fabs(sig - 0.6) <= 1e-6);
  // Non-normal: rho = 0.3 (triangular), sigma_max > 5 (it has a column of norm > 5).
  assert_int_equal(rnnlab_spectral(&rho, &sig, m, RNNLAB_BLOCK_HR), RNNLAB_OK);
  assert_true(std::fabs(rho - 0.3) <= 1e-6 && sig > 5.0);
  double only = 0;
  assert_int_equal(rnnlab_spectral(&only, nullptr, m, RNNLAB_BLOCK_HN), RNNLAB_OK);
  assert_true(std::fabs(only - 0.95) <= 1e-6);
  rnnlab_destroy(m);
  // A vanilla RNN: W_hh is the HN block; it has no gate blocks.
  c.cell = RNNLAB_CELL_RNN_TANH;
  assert_int_equal(rnnlab_create(&m, &c), RNNLAB_OK);
  std::vector<float> wr(H * H);
  for (int k = 0; k < H * H; ++k) wr[k] = static_cast<float>(0.95 * R[k]);
  assert_int_equal(rnnlab_set_tensor(m, "weight_hh", wr.data(), wr.size()), RNNLAB_OK);
  assert_int_equal(rnnlab_spectral(&rho, &sig, m, RNNLAB_BLOCK_HN), RNNLAB_OK);
  assert_true(std::fabs(rho - 0.95) <= 1e-6 && std::fabs(sig - 0.95) <= 1e-6);
  assert_int_equal(rnnlab_spectral(&rho, &sig, m, RNNLAB_BLOCK_HZ), RNNLAB_E_NOT_FOUND);
  rnnlab_destroy(m);
}

// ---- non-finite values ---------------------------------------------------------------------------

// A relu RNN with weights 1e20 and x = 1 overflows float inside the pass: h_0 = 2e20 (finite),
// h_1 = 1e20 * 3 * 2e20 = inf, h_2, h_3 inf. dL/dy is non-zero at t = 0 only, so every dL/dh is
// finite (0 from t = 1 on) while dW_hh = sum_t (0 * h_{t-1}) picks up 0 * inf = NaN. Counted:
// 3 steps x B x H infinite activations + H*H NaN gradient entries = 18 + 9 = 27; first t = 1.
void nonfinite_inside_pass(void **) {
  const int I = 2, H = 3, B = 2, T = 4;
  rnnlab_config c = RNNLAB_CONFIG_INIT;
  c.cell = RNNLAB_CELL_RNN_RELU;
  c.input_size = I;
  c.hidden_size = H;
  c.backend = RNNLAB_BACKEND_REFERENCE;
  c.diag_level = RNNLAB_DIAG_OFF;  // nonfinite is reported at every level
  rnnlab_model *m = nullptr;
  assert_int_equal(rnnlab_create(&m, &c), RNNLAB_OK);
  std::vector<float> p(H * I + H * H + 2 * H, 0.0f);
  for (int k = 0; k < H * I + H * H; ++k) p[k] = 1e20f;
  assert_int_equal(rnnlab_set_params(m, p.data(), p.size()), RNNLAB_OK);
  std::vector<float> x(static_cast<size_t>(T) * B * I, 1.0f), y(static_cast<size_t>(T) * B * H);
  assert_int_equal(rnnlab_step(y.data(), y.size(), m, x.data(), x.size(), T, B), RNNLAB_OK);  // completes
  assert_true(std::isfinite(y[0]) && std::isinf(y[static_cast<size_t>(B) * H]));
  std::vector<float> dy(y.size(), 0.0f);
  for (int k = 0; k < B * H; ++k) dy[k] = 0.5f;
  rnnlab_targets tg = RNNLAB_TARGETS_INIT;
  tg.dy = dy.data();
  tg.count = dy.size();
  assert_int_equal(rnnlab_backward(m, &tg), RNNLAB_OK);  // not an error
  rnnlab_diag d = RNNLAB_DIAG_INIT;
  assert_int_equal(rnnlab_diagnostics(&d, m), RNNLAB_OK);
  if (d.nonfinite != 27 || d.nonfinite_first_t != 1) {
    print_error("nonfinite = %lld, first t = %d; expected 27, 1\n", static_cast<long long>(d.nonfinite),
                d.nonfinite_first_t);
    fail();
  }
  rnnlab_destroy(m);
  // A finite pass reports none.
  c.cell = RNNLAB_CELL_RNN_TANH;
  assert_int_equal(rnnlab_create(&m, &c), RNNLAB_OK);
  assert_int_equal(rnnlab_step(y.data(), y.size(), m, x.data(), x.size(), T, B), RNNLAB_OK);
  assert_int_equal(rnnlab_backward(m, &tg), RNNLAB_OK);
  assert_int_equal(rnnlab_diagnostics(&d, m), RNNLAB_OK);
  assert_true(d.nonfinite == 0 && d.nonfinite_first_t == -1);
  rnnlab_destroy(m);
}

// NaN in x is refused with its (t, b, i), and the model is unchanged: hidden state, parameters,
// gradients and the tape (a later pass equals one that never saw the refused call).
void nonfinite_input_refused(void **) {
  const int I = 3, H = 4, B = 2, T = 4;
  rnnlab_config c = RNNLAB_CONFIG_INIT;
  c.cell = RNNLAB_CELL_GRU;
  c.input_size = I;
  c.hidden_size = H;
  c.head = RNNLAB_HEAD_LAST_SOFTMAX;
  c.output_size = 3;
  c.backend = RNNLAB_BACKEND_REFERENCE;
  c.diag_level = RNNLAB_DIAG_FULL;
  rnnlab_model *a = nullptr, *b = nullptr;
  assert_int_equal(rnnlab_create(&a, &c), RNNLAB_OK);
  assert_int_equal(rnnlab_create(&b, &c), RNNLAB_OK);
  Rng rng(3);
  std::vector<float> x1(static_cast<size_t>(T) * B * I), x2(x1.size()), y(static_cast<size_t>(T) * B * 3);
  for (auto &v : x1) v = static_cast<float>(rng.uniform(-1, 1));
  for (auto &v : x2) v = static_cast<float>(rng.uniform(-1, 1));
  std::vector<float> bad = x2;
  bad[(static_cast<size_t>(2) * B + 1) * I + 2] = NAN;       // (t=2, b=1, i=2): the first one
  bad[(static_cast<size_t>(3) * B + 0) * I + 0] = INFINITY;  // (t=3, b=0, i=0)
  assert_int_equal(rnnlab_step(y.data(), y.size(), a, x1.data(), x1.size(), T, B), RNNLAB_OK);
  std::vector<float> h_before(static_cast<size_t>(B) * H), h_after(h_before.size());
  assert_int_equal(rnnlab_get_hidden(h_before.data(), h_before.size(), a), RNNLAB_OK);
  std::vector<float> y_bad(y.size(), 7.0f);
  assert_int_equal(rnnlab_step(y_bad.data(), y_bad.size(), a, bad.data(), bad.size(), T, B), RNNLAB_E_NONFINITE);
  const std::string msg = rnnlab_last_error();
  if (msg.find("t=2") == std::string::npos || msg.find("b=1") == std::string::npos ||
      msg.find("[2]") == std::string::npos) {
    print_error("the message does not name (t=2, b=1, i=2): \"%s\"\n", msg.c_str());
    fail();
  }
  for (float v : y_bad) assert_true(v == 7.0f);  // y untouched
  assert_int_equal(rnnlab_get_hidden(h_after.data(), h_after.size(), a), RNNLAB_OK);
  assert_memory_equal(h_before.data(), h_after.data(), h_before.size() * sizeof(float));
  // Continue both models identically: a saw the refused call, b did not.
  assert_int_equal(rnnlab_step(y.data(), y.size(), a, x2.data(), x2.size(), T, B), RNNLAB_OK);
  assert_int_equal(rnnlab_step(y.data(), y.size(), b, x1.data(), x1.size(), T, B), RNNLAB_OK);
  assert_int_equal(rnnlab_step(y.data(), y.size(), b, x2.data(), x2.size(), T, B), RNNLAB_OK);
  const int32_t cls[] = {0, 2};
  rnnlab_targets tg = RNNLAB_TARGETS_INIT;
  tg.classes = cls;
  tg.count = 2;
  assert_int_equal(rnnlab_backward(a, &tg), RNNLAB_OK);
  assert_int_equal(rnnlab_backward(b, &tg), RNNLAB_OK);
  size_t total = 0;
  assert_int_equal(rnnlab_param_count(&total, nullptr, a), RNNLAB_OK);
  std::vector<float> ga(total), gb(total), pa(total), pb(total), dxa(static_cast<size_t>(2 * T) * B * I), dxb(dxa.size());
  assert_int_equal(rnnlab_get_grads(ga.data(), total, a), RNNLAB_OK);
  assert_int_equal(rnnlab_get_grads(gb.data(), total, b), RNNLAB_OK);
  assert_int_equal(rnnlab_get_params(pa.data(), total, a), RNNLAB_OK);
  assert_int_equal(rnnlab_get_params(pb.data(), total, b), RNNLAB_OK);
  assert_int_equal(rnnlab_get_input_grad(dxa.data(), dxa.size(), a), RNNLAB_OK);  // the tape: 2T steps
  assert_int_equal(rnnlab_get_input_grad(dxb.data(), dxb.size(), b), RNNLAB_OK);
  assert_memory_equal(ga.data(), gb.data(), total * sizeof(float));
  assert_memory_equal(pa.data(), pb.data(), total * sizeof(float));
  assert_memory_equal(dxa.data(), dxb.data(), dxa.size() * sizeof(float));
  rnnlab_destroy(a);
  rnnlab_destroy(b);

  // NaN in dy or in target values is refused too, and leaves the tape for a retry that then
  // equals a pass that never saw the refused call.
  for (rnnlab_head head : {RNNLAB_HEAD_NONE, RNNLAB_HEAD_LAST_LINEAR}) {
    c.head = head;
    c.output_size = head == RNNLAB_HEAD_NONE ? 0 : 2;
    const int W = head == RNNLAB_HEAD_NONE ? H : 2;
    assert_int_equal(rnnlab_create(&a, &c), RNNLAB_OK);
    assert_int_equal(rnnlab_create(&b, &c), RNNLAB_OK);
    for (rnnlab_model *m : {a, b}) assert_int_equal(rnnlab_step(nullptr, 0, m, x1.data(), x1.size(), T, B), RNNLAB_OK);
    std::vector<float> good(head == RNNLAB_HEAD_NONE ? static_cast<size_t>(T) * B * W : static_cast<size_t>(B) * W, 0.25f);
    std::vector<float> nan = good;
    nan[nan.size() - 1] = NAN;
    rnnlab_targets tg2 = RNNLAB_TARGETS_INIT;
    (head == RNNLAB_HEAD_NONE ? tg2.dy : tg2.values) = nan.data();
    tg2.count = nan.size();
    assert_int_equal(rnnlab_backward(a, &tg2), RNNLAB_E_NONFINITE);
    (head == RNNLAB_HEAD_NONE ? tg2.dy : tg2.values) = good.data();
    assert_int_equal(rnnlab_backward(a, &tg2), RNNLAB_OK);
    assert_int_equal(rnnlab_backward(b, &tg2), RNNLAB_OK);
    assert_int_equal(rnnlab_param_count(&total, nullptr, a), RNNLAB_OK);
    ga.resize(total);
    gb.resize(total);
    assert_int_equal(rnnlab_get_grads(ga.data(), total, a), RNNLAB_OK);
    assert_int_equal(rnnlab_get_grads(gb.data(), total, b), RNNLAB_OK);
    assert_memory_equal(ga.data(), gb.data(), total * sizeof(float));
    rnnlab_destroy(a);
    rnnlab_destroy(b);
  }
}

// ---- levels ----------------------------------------------------------------------------------------

void levels(void **) {
  for (rnnlab_cell cell : {RNNLAB_CELL_GRU, RNNLAB_CELL_RNN_TANH}) {
    const Prob pr = make_prob(cell, RNNLAB_HEAD_EVERY_SOFTMAX, 77);
    ApiRun off, sum, full;
    off.m = api_model(pr, RNNLAB_DIAG_OFF);
    sum.m = api_model(pr, RNNLAB_DIAG_SUMMARY);
    full.m = api_model(pr, RNNLAB_DIAG_FULL);
    std::vector<float> x(pr.x.begin(), pr.x.end()), h0(pr.h0.begin(), pr.h0.end());
    std::vector<float> ys[3];
    ApiRun *runs[3] = {&off, &sum, &full};
    for (int k = 0; k < 3; ++k) {
      ys[k].resize(static_cast<size_t>(pr.T) * pr.B * pr.s.O);
      assert_int_equal(rnnlab_set_h0(runs[k]->m, h0.data(), h0.size(), pr.B), RNNLAB_OK);
      assert_int_equal(rnnlab_step(ys[k].data(), ys[k].size(), runs[k]->m, x.data(), x.size(), pr.T, pr.B), RNNLAB_OK);
      rnnlab_targets tg = RNNLAB_TARGETS_INIT;
      tg.classes = pr.classes.data();
      tg.count = pr.classes.size();
      assert_int_equal(rnnlab_backward(runs[k]->m, &tg), RNNLAB_OK);
    }
    size_t total = 0;
    assert_int_equal(rnnlab_param_count(&total, nullptr, off.m), RNNLAB_OK);
    std::vector<float> g[3], dx[3], dh0[3];
    rnnlab_diag d[3];
    for (int k = 0; k < 3; ++k) {
      g[k].resize(total);
      dx[k].resize(x.size());
      dh0[k].resize(h0.size());
      assert_int_equal(rnnlab_get_grads(g[k].data(), total, runs[k]->m), RNNLAB_OK);
      assert_int_equal(rnnlab_get_input_grad(dx[k].data(), dx[k].size(), runs[k]->m), RNNLAB_OK);
      assert_int_equal(rnnlab_get_h0_grad(dh0[k].data(), dh0[k].size(), runs[k]->m), RNNLAB_OK);
      d[k] = RNNLAB_DIAG_INIT;
      assert_int_equal(rnnlab_diagnostics(&d[k], runs[k]->m), RNNLAB_OK);
    }
    for (int k = 0; k < 2; ++k) {  // off and summary: bit-identical to full
      assert_memory_equal(ys[k].data(), ys[2].data(), ys[k].size() * sizeof(float));
      assert_memory_equal(g[k].data(), g[2].data(), total * sizeof(float));
      assert_memory_equal(dx[k].data(), dx[2].data(), dx[k].size() * sizeof(float));
      assert_memory_equal(dh0[k].data(), dh0[2].data(), dh0[k].size() * sizeof(float));
      assert_memory_equal(&d[k].loss, &d[2].loss, sizeof(double));
      assert_memory_equal(&d[k].grad_norm, &d[2].grad_norm, sizeof(double));
      assert_int_equal(d[k].nonfinite, d[2].nonfinite);
    }
    assert_int_equal(d[0].level, RNNLAB_DIAG_OFF);
    assert_int_equal(d[1].level, RNNLAB_DIAG_SUMMARY);
    // off: no omega / steps_in_past, no blocks, no traces.
    assert_true(std::isnan(d[0].omega));
    assert_true(std::isnan(d[0].steps_in_past));
    int32_t n = 0;
    assert_int_equal(rnnlab_grad_norm_blocks(nullptr, nullptr, 0, &n, off.m), RNNLAB_E_UNAVAILABLE);
    // summary: the scalars (the same numbers as full) and the blocks; still no traces.
    assert_true(std::isfinite(d[1].omega));
    assert_memory_equal(&d[1].omega, &d[2].omega, sizeof(double));
    assert_memory_equal(&d[1].steps_in_past, &d[2].steps_in_past, sizeof(double));
    assert_int_equal(rnnlab_grad_norm_blocks(nullptr, nullptr, 0, &n, sum.m), RNNLAB_OK);
    assert_true(n > 0);
    for (int k = 0; k < RNNLAB_TRACE_COUNT; ++k) {
      const rnnlab_trace tr = static_cast<rnnlab_trace>(k);
      if (!rnnlab_has_trace(full.m, tr)) continue;
      std::vector<double> v(pr.T);
      assert_int_equal(rnnlab_get_trace(v.data(), v.size(), nullptr, off.m, tr), RNNLAB_E_UNAVAILABLE);
      assert_int_equal(rnnlab_get_trace(v.data(), v.size(), nullptr, sum.m, tr), RNNLAB_E_UNAVAILABLE);
      assert_int_equal(rnnlab_get_trace(v.data(), v.size(), nullptr, full.m, tr), RNNLAB_OK);
      rnnlab_summary s = RNNLAB_SUMMARY_INIT;
      assert_int_equal(rnnlab_trace_summary(&s, nullptr, 4, 0, 0, off.m, tr), RNNLAB_E_UNAVAILABLE);
    }
    // The level can change between passes; a pass runs at the level it started with.
    assert_int_equal(rnnlab_set_diag_level(off.m, RNNLAB_DIAG_FULL), RNNLAB_OK);
    assert_int_equal(rnnlab_set_h0(off.m, h0.data(), h0.size(), pr.B), RNNLAB_OK);
    assert_int_equal(rnnlab_step(ys[0].data(), ys[0].size(), off.m, x.data(), x.size(), pr.T, pr.B), RNNLAB_OK);
    rnnlab_targets tg = RNNLAB_TARGETS_INIT;
    tg.classes = pr.classes.data();
    tg.count = pr.classes.size();
    assert_int_equal(rnnlab_backward(off.m, &tg), RNNLAB_OK);
    std::vector<double> v(pr.T);
    assert_int_equal(rnnlab_get_trace(v.data(), v.size(), nullptr, off.m, RNNLAB_TRACE_GRAD_TIME), RNNLAB_OK);
    for (ApiRun *r : runs) rnnlab_destroy(r->m);
  }
}

// ---- grad_norm_blocks ----------------------------------------------------------------------------

void grad_norm_blocks(void **) {
  for (rnnlab_cell cell : {RNNLAB_CELL_GRU, RNNLAB_CELL_RNN_TANH}) {
    const bool gru = is_gru(cell);
    rnnlab_config c = RNNLAB_CONFIG_INIT;
    c.cell = cell;
    c.input_size = 3;
    c.hidden_size = 4;
    c.head = RNNLAB_HEAD_LAST_SOFTMAX;
    c.output_size = 3;
    c.backend = RNNLAB_BACKEND_REFERENCE;
    c.diag_level = RNNLAB_DIAG_SUMMARY;
    c.frozen_bias_mask = gru ? (RNNLAB_GATE_R | RNNLAB_GATE_Z) : 0u;
    c.frozen_bias_value[1] = 1.0f;
    rnnlab_model *m = nullptr;
    assert_int_equal(rnnlab_create(&m, &c), RNNLAB_OK);
    const int T = 4, B = 2;
    Rng rng(12);
    std::vector<float> x(static_cast<size_t>(T) * B * 3);
    for (auto &v : x) v = static_cast<float>(rng.uniform(-1, 1));
    const int32_t cls[] = {2, 0};
    rnnlab_targets tg = RNNLAB_TARGETS_INIT;
    tg.classes = cls;
    tg.count = 2;
    for (int pass = 0; pass < 2; ++pass) {  // two passes: the norms are of the accumulated gradient
      assert_int_equal(rnnlab_step(nullptr, 0, m, x.data(), x.size(), T, B), RNNLAB_OK);
      assert_int_equal(rnnlab_backward(m, &tg), RNNLAB_OK);
    }
    int32_t n = 0;
    assert_int_equal(rnnlab_grad_norm_blocks(nullptr, nullptr, 0, &n, m), RNNLAB_OK);
    std::vector<std::string> want;
    for (const char *t : {"weight_ih", "weight_hh", "bias_ih", "bias_hh"}) {
      want.push_back(t);
      if (gru)
        for (const char *g : {".r", ".z", ".n"}) want.push_back(std::string(t) + g);
    }
    want.push_back("head.weight");
    want.push_back("head.bias");
    assert_int_equal(n, static_cast<int32_t>(want.size()));
    std::vector<double> norms(n);
    std::vector<const char *> names(n);
    assert_int_equal(rnnlab_grad_norm_blocks(norms.data(), names.data(), norms.size() - 1, &n, m),
                     RNNLAB_E_SIZE_MISMATCH);
    assert_int_equal(rnnlab_grad_norm_blocks(norms.data(), names.data(), norms.size(), &n, m), RNNLAB_OK);
    size_t total = 0;
    assert_int_equal(rnnlab_param_count(&total, nullptr, m), RNNLAB_OK);
    std::vector<float> g(total);
    std::vector<uint8_t> mask(total);
    assert_int_equal(rnnlab_get_grads(g.data(), total, m), RNNLAB_OK);
    assert_int_equal(rnnlab_get_trainable_mask(mask.data(), total, m), RNNLAB_OK);
    rnnlab_diag d = RNNLAB_DIAG_INIT;
    assert_int_equal(rnnlab_diagnostics(&d, m), RNNLAB_OK);
    double tensors2 = 0;
    for (int k = 0; k < n; ++k) {
      assert_string_equal(names[k], want[k].c_str());
      // The block's own entries, from the tensor's info: rows split in three for the gate blocks.
      const std::string nm = names[k];
      const size_t dot = nm.find('.', 0);
      const bool gate_block = gru && dot != std::string::npos && nm.compare(0, 5, "head.") != 0;
      rnnlab_tensor_info info;
      assert_int_equal(rnnlab_tensor_info_by_name(&info, m, gate_block ? nm.substr(0, dot).c_str() : nm.c_str()),
                       RNNLAB_OK);
      size_t off = info.offset, cnt = info.count;
      if (gate_block) {
        const int gi = nm[dot + 1] == 'r' ? 0 : nm[dot + 1] == 'z' ? 1 : 2;
        cnt = info.count / 3;
        off += gi * cnt;
      }
      double s2 = 0, frozen2 = 0;
      for (size_t i = off; i < off + cnt; ++i) (mask[i] ? s2 : frozen2) += static_cast<double>(g[i]) * g[i];
      assert_true(close(norms[k], std::sqrt(s2), 1e-12, 0));  // double sums of the same squares
      if (!gate_block) tensors2 += norms[k] * norms[k];
      // Frozen entries: b_r and b_z of the GRU (both sides) count for nothing.
      if (gru && (nm == "bias_ih.r" || nm == "bias_ih.z" || nm == "bias_hh.r" || nm == "bias_hh.z"))
        assert_true(norms[k] == 0.0);
    }
    // The tensors' squares sum to grad_norm^2 (1e-12: double sums in another order).
    assert_true(close(tensors2, d.grad_norm * d.grad_norm, 1e-12, 0));
    assert_true(d.grad_norm > 0);
    rnnlab_destroy(m);
  }
}

// ---- summaries ------------------------------------------------------------------------------------

void summaries(void **) {
  // numpy: mean([10, 3, 1, 4, 2]) = 4; np.percentile (linear): sorted 1 2 3 4 10, position q (n-1):
  // p05 -> 0.2: 1.2; p10 -> 0.4: 1.4; p25 -> 1: 2; p50 -> 2: 3; p75 -> 3: 4; p90 -> 3.6: 4 + 0.6*6 =
  // 7.6; p95 -> 3.8: 8.8. The NaN is left out.
  const double v[] = {10, 3, NAN, 1, 4, 2};
  rnnlab_summary s = RNNLAB_SUMMARY_INIT;
  int64_t hist[10];
  assert_int_equal(rnnlab_summarize(&s, hist, 3, 0, 0, v, 6), RNNLAB_OK);
  assert_int_equal(s.count, 5);
  const double tol = 1e-12;
  assert_true(close(s.mean, 4, 0, tol) && s.min == 1 && s.max == 10);
  assert_true(close(s.p05, 1.2, 0, tol) && close(s.p10, 1.4, 0, tol) && close(s.p25, 2, 0, tol));
  assert_true(close(s.p50, 3, 0, tol) && close(s.p75, 4, 0, tol) && close(s.p90, 7.6, 0, tol) &&
              close(s.p95, 8.8, 0, tol));
  // lo == hi: the data's range [1, 10], 3 bins [1, 4) [4, 7) [7, 10]: 1 2 3 | 4 | 10.
  assert_true(s.lo == 1 && s.hi == 10);
  assert_true(hist[0] == 3 && hist[1] == 1 && hist[2] == 1);
  assert_int_equal(hist[0] + hist[1] + hist[2], s.count);

  // numpy.histogram's edges on [-1, 1], 10 bins of 0.2: a value on an interior edge goes to the bin
  // it starts (-0.8 -> bin 1, 0 -> bin 5), the last bin is closed (1.0 -> bin 9), values outside
  // the range are not counted (1.5, -1.01). numpy: [1 1 1 0 0 1 0 0 0 2].
  const double w[] = {-1.0, -0.8, -0.5, 0.0, 0.95, 1.0, 1.5, -1.01};
  assert_int_equal(rnnlab_summarize(&s, hist, 10, -1.0, 1.0, w, 8), RNNLAB_OK);
  const int64_t want[10] = {1, 1, 1, 0, 0, 1, 0, 0, 0, 2};
  for (int k = 0; k < 10; ++k)
    if (hist[k] != want[k]) {
      print_error("histogram bin %d: %lld, numpy gives %lld\n", k, static_cast<long long>(hist[k]),
                  static_cast<long long>(want[k]));
      fail();
    }
  assert_int_equal(s.count, 8);
  assert_true(s.lo == -1.0 && s.hi == 1.0);
  // Flat data, own range: numpy widens it by 0.5 on each side: [1.5, 2.5] in 4 bins, all in bin 2.
  const double f[] = {2, 2, 2};
  assert_int_equal(rnnlab_summarize(&s, hist, 4, 0, 0, f, 3), RNNLAB_OK);
  assert_true(s.lo == 1.5 && s.hi == 2.5);
  assert_true(hist[0] == 0 && hist[1] == 0 && hist[2] == 3 && hist[3] == 0);
  assert_true(s.p05 == 2 && s.p95 == 2 && s.mean == 2);
  // Bad arguments.
  assert_int_equal(rnnlab_summarize(&s, hist, 0, 0, 0, f, 3), RNNLAB_E_INVALID_ARGUMENT);
  assert_int_equal(rnnlab_summarize(&s, hist, 4, 1, 0, f, 3), RNNLAB_E_INVALID_ARGUMENT);

  // Traces: grad_time is summarised as log10(g + 1e-12); other traces as they are. With dL/dy = 0,
  // every g is 0 and every summarised value is log10(1e-12) = -12.
  Prob pr = make_prob(RNNLAB_CELL_GRU, RNNLAB_HEAD_NONE, 5);
  ApiRun r;
  r.m = api_model(pr);
  api_pass(&r, pr);
  const std::vector<double> g = api_trace(r.m, RNNLAB_TRACE_GRAD_TIME, pr.T), sat = api_trace(r.m, RNNLAB_TRACE_SAT_TIME, pr.T);
  std::vector<double> lg(g.size());
  for (size_t k = 0; k < g.size(); ++k) lg[k] = std::log10(g[k] + 1e-12);
  rnnlab_summary a = RNNLAB_SUMMARY_INIT, b = RNNLAB_SUMMARY_INIT;
  int64_t ha[6], hb[6];
  assert_int_equal(rnnlab_trace_summary(&a, ha, 6, 0, 0, r.m, RNNLAB_TRACE_GRAD_TIME), RNNLAB_OK);
  assert_int_equal(rnnlab_summarize(&b, hb, 6, 0, 0, lg.data(), lg.size()), RNNLAB_OK);
  assert_memory_equal(&a, &b, sizeof a);
  assert_memory_equal(ha, hb, sizeof ha);
  int64_t hsum = 0;
  for (int64_t c : ha) hsum += c;
  assert_int_equal(hsum, pr.T);
  assert_true(a.mean > -3 && a.mean < 3);  // logs of O(1) gradients, not of raw values
  assert_int_equal(rnnlab_trace_summary(&a, ha, 6, 0, 0, r.m, RNNLAB_TRACE_SAT_TIME), RNNLAB_OK);
  assert_int_equal(rnnlab_summarize(&b, hb, 6, 0, 0, sat.data(), sat.size()), RNNLAB_OK);
  assert_memory_equal(&a, &b, sizeof a);
  assert_memory_equal(ha, hb, sizeof ha);
  std::fill(r.dy.begin(), r.dy.end(), 0.0f);
  pr.dy.assign(pr.dy.size(), 0.0f);
  api_pass(&r, pr);
  assert_int_equal(rnnlab_trace_summary(&a, nullptr, 6, 0, 0, r.m, RNNLAB_TRACE_GRAD_TIME), RNNLAB_OK);
  assert_true(close(a.mean, -12, 0, 1e-12) && close(a.p50, -12, 0, 1e-12) && a.count == pr.T);
  // With every dL/dh = 0 nothing is valid: transfer_time is NaN at every t (its summary counts
  // nothing), omega is NaN and steps_in_past 0.
  for (double v : api_trace(r.m, RNNLAB_TRACE_TRANSFER_TIME, pr.T)) assert_true(std::isnan(v));
  assert_int_equal(rnnlab_trace_summary(&a, nullptr, 6, 0, 0, r.m, RNNLAB_TRACE_TRANSFER_TIME), RNNLAB_OK);
  assert_true(a.count == 0 && std::isnan(a.mean));
  rnnlab_diag d = RNNLAB_DIAG_INIT;
  assert_int_equal(rnnlab_diagnostics(&d, r.m), RNNLAB_OK);
  assert_true(std::isnan(d.omega) && d.steps_in_past == 0.0);
  // dL/dy only at t = 0: dL/dh_t = 0 for t >= 1, so those sequences are left out (NaN) and only
  // t = 0 counts: steps_in_past = 1/T.
  for (int k = 0; k < pr.B * pr.s.H; ++k) pr.dy[k] = 0.5f;
  api_pass(&r, pr);
  const std::vector<double> tr = api_trace(r.m, RNNLAB_TRACE_TRANSFER_TIME, pr.T);
  assert_true(std::isfinite(tr[0]) && tr[0] > 0);
  for (int t = 1; t < pr.T; ++t) assert_true(std::isnan(tr[t]));
  assert_int_equal(rnnlab_diagnostics(&d, r.m), RNNLAB_OK);
  assert_true(std::isfinite(d.omega) && close(d.steps_in_past, 1.0 / pr.T, 0, 1e-15));
  rnnlab_destroy(r.m);
}

// ---- ownership -----------------------------------------------------------------------------------

// The trace is copied: the caller's copy stays as it was after a new pass changes the model's.
void trace_ownership(void **) {
  Prob pr = make_prob(RNNLAB_CELL_GRU, RNNLAB_HEAD_EVERY_SOFTMAX, 8);
  ApiRun r;
  r.m = api_model(pr);
  api_pass(&r, pr);
  std::vector<double> copy = api_trace(r.m, RNNLAB_TRACE_GRAD_TIME, pr.T);
  const std::vector<double> saved = copy;
  for (auto &v : pr.x) v = -v;
  api_pass(&r, pr);
  const std::vector<double> now = api_trace(r.m, RNNLAB_TRACE_GRAD_TIME, pr.T);
  assert_memory_equal(copy.data(), saved.data(), copy.size() * sizeof(double));
  assert_true(now != saved);
  // count < T is refused; len alone can be asked for.
  int32_t len = 0;
  assert_int_equal(rnnlab_get_trace(copy.data(), pr.T - 1, &len, r.m, RNNLAB_TRACE_GRAD_TIME), RNNLAB_E_SIZE_MISMATCH);
  assert_int_equal(rnnlab_get_trace(nullptr, 0, &len, r.m, RNNLAB_TRACE_GRAD_TIME), RNNLAB_OK);
  assert_int_equal(len, pr.T);
  rnnlab_destroy(r.m);
}

}  // namespace

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(per_step_gradients),    cmocka_unit_test(value_traces),
      cmocka_unit_test(jacobian_orientation),  cmocka_unit_test(jacobian_seed001),
      cmocka_unit_test(spectral),              cmocka_unit_test(nonfinite_inside_pass),
      cmocka_unit_test(nonfinite_input_refused), cmocka_unit_test(levels),
      cmocka_unit_test(grad_norm_blocks),      cmocka_unit_test(summaries),
      cmocka_unit_test(trace_ownership),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
