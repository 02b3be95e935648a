// rnnlab against PyTorch: every golden pass of tests/golden (PyTorch, float64) — outputs,
// hidden states, loss, every gradient (parameters, x, h0) and every diagnostic — in double through
// the reference engine, and in float32 through the public C API on the reference backend.
//
// Tolerances: double rtol 1e-9, atol 1e-12 (PyTorch and rnnlab sum in different orders);
// float32 rtol 2e-4 with atol 2e-5 times the tensor's largest magnitude (64-step chains of float
// round-off), diagnostics rtol 1e-3.
#include "cmocka_cpp.h"

#include <rnnlab/rnnlab.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include "reference/ref_engine.h"
#include "test_support.h"

using namespace rnnlab;
using rnnlab_test::Golden;

static const char *kCases[] = {"gru_last_softmax", "gru_every_softmax", "gru_last_linear",
                               "gru_long",         "rnn_tanh_last_softmax", "rnn_relu_last_linear"};

static ModelSpec spec_of(const Golden &g) {
  ModelSpec s;
  const std::string cell = g.attrs.at("cell");
  if (cell == "gru") s.cell = RNNLAB_CELL_GRU;
  else {
    const std::string nl = g.attrs.at("nonlinearity");
    s.cell = nl == "relu" ? RNNLAB_CELL_RNN_RELU : RNNLAB_CELL_RNN_TANH;
  }
  const std::string head = g.attrs.at("head");
  s.head = head == "last-softmax" ? RNNLAB_HEAD_LAST_SOFTMAX
           : head == "every-softmax" ? RNNLAB_HEAD_EVERY_SOFTMAX : RNNLAB_HEAD_LAST_LINEAR;
  s.I = g.I;
  s.H = g.H;
  s.O = g.O;
  return s;
}

static const char *kTensors[] = {"weight_ih", "weight_hh", "bias_ih", "bias_hh", "head.weight", "head.bias"};

static std::vector<double> flat_params(const Golden &g) {
  std::vector<double> p;
  for (const char *n : kTensors) p.insert(p.end(), g.at(n).begin(), g.at(n).end());
  return p;
}

static void expect_close(const char *what, const std::string &cse, const std::vector<double> &got,
                         const std::vector<double> &want, double rtol, double atol_rel) {
  assert_int_equal(got.size(), want.size());
  double scale = 0;
  for (double v : want)
    if (std::isfinite(v)) scale = std::max(scale, std::fabs(v));
  std::string rep;
  const bool ok = rnnlab_test::close_enough(got.data(), want.data(), got.size(), rtol, atol_rel * std::max(scale, 1e-30), &rep);
  if (!ok) {
    print_error("%s: %s: %s\n", cse.c_str(), what, rep.c_str());
    fail();
  }
}

static bool load(const char *name, Golden *g) {
  std::string why;
  if (!rnnlab_test::load_golden(RNNLAB_GOLDEN_DIR, name, g, &why)) {
    print_error("%s\n", why.c_str());
    return false;
  }
  return true;
}

static void golden_double(void **) {
  for (const char *name : kCases) {
    Golden g;
    assert_true(load(name, &g));
    const ModelSpec s = spec_of(g);
    RefEngine<double> e(s);
    const std::vector<double> p = flat_params(g);
    assert_int_equal(p.size(), e.layout().total);
    e.reset(g.B, g.at("h0").data());
    std::vector<double> y(static_cast<size_t>(g.T) * g.B * g.O);
    e.step(p.data(), g.at("x").data(), g.T, y.data(), true);
    // output: logits of the scored steps (last-*: the last step only).
    std::vector<double> out = y;
    if (s.head != RNNLAB_HEAD_EVERY_SOFTMAX)
      out.assign(y.end() - static_cast<long>(g.B) * g.O, y.end());
    const double tol = 1e-9, atol = 1e-12;
    expect_close("output", name, out, g.at("output"), tol, atol);
    std::vector<double> hidden;
    for (int t = 0; t < g.T; ++t) hidden.insert(hidden.end(), e.recorded_hidden(t).begin(), e.recorded_hidden(t).end());
    expect_close("hidden", name, hidden, g.at("hidden"), tol, atol);

    std::vector<int32_t> classes;
    std::vector<float> values;
    TargetsView tv;
    if (s.head == RNNLAB_HEAD_LAST_LINEAR) {
      tv.values64 = g.at("target").data();
    } else {
      for (double v : g.at("target")) classes.push_back(static_cast<int32_t>(v));
      tv.classes = classes.data();
    }
    std::vector<double> grads(p.size(), 0.0);
    DiagSettings ds;
    ds.level = RNNLAB_DIAG_FULL;
    PassStats st;
    const double loss = e.backward(p.data(), grads.data(), tv, ds, &st);
    expect_close("loss", name, {loss}, g.at("loss"), tol, atol);
    size_t off = 0;
    for (const char *n : kTensors) {
      const std::vector<double> &want = g.at(std::string("grad.") + n);
      std::vector<double> got(grads.begin() + off, grads.begin() + off + want.size());
      expect_close((std::string("grad.") + n).c_str(), name, got, want, tol, atol);
      off += want.size();
    }
    expect_close("grad.x", name, e.input_grad(), g.at("grad.x"), tol, atol);
    expect_close("grad.h0", name, e.h0_grad(), g.at("grad.h0"), tol, atol);
    double gn = 0;
    for (double v : grads) gn += v * v;
    expect_close("grad_norm", name, {std::sqrt(gn)}, g.at("grad_norm"), tol, atol);
    expect_close("omega", name, {st.omega}, g.at("omega"), 1e-8, 1e-12);
    expect_close("steps_in_past", name, {st.steps_in_past}, g.at("steps_in_past"), tol, atol);
    int checked = 0;
    for (int k = 0; k < RNNLAB_TRACE_COUNT; ++k) {
      const char *tn = rnnlab_trace_name(static_cast<rnnlab_trace>(k));
      if (!g.has(tn)) {
        assert_true(st.traces[k].empty());  // the cell has no such trace, and neither has rnnlab
        continue;
      }
      expect_close(tn, name, st.traces[k], g.at(tn), 1e-8, 1e-12);
      ++checked;
    }
    assert_true(checked >= 4);
  }
}

// The same passes in float32 through the public API (reference backend).
static void golden_float_api(void **) {
  for (const char *name : kCases) {
    Golden g;
    assert_true(load(name, &g));
    const ModelSpec s = spec_of(g);
    rnnlab_config c = RNNLAB_CONFIG_INIT;
    c.cell = s.cell;
    c.input_size = g.I;
    c.hidden_size = g.H;
    c.head = s.head;
    c.output_size = g.O;
    c.backend = RNNLAB_BACKEND_REFERENCE;
    c.diag_level = RNNLAB_DIAG_FULL;
    rnnlab_model *m = nullptr;
    assert_int_equal(rnnlab_create(&m, &c), RNNLAB_OK);
    for (const char *n : kTensors) {
      std::vector<float> v(g.at(n).begin(), g.at(n).end());
      assert_int_equal(rnnlab_set_tensor(m, n, v.data(), v.size()), RNNLAB_OK);
    }
    std::vector<float> h0(g.at("h0").begin(), g.at("h0").end()), x(g.at("x").begin(), g.at("x").end());
    assert_int_equal(rnnlab_set_h0(m, h0.data(), h0.size(), g.B), RNNLAB_OK);
    std::vector<float> y(static_cast<size_t>(g.T) * g.B * g.O);
    assert_int_equal(rnnlab_step(y.data(), y.size(), m, x.data(), x.size(), g.T, g.B), RNNLAB_OK);
    std::vector<double> out(y.begin(), y.end());
    if (s.head != RNNLAB_HEAD_EVERY_SOFTMAX) out.assign(out.end() - static_cast<long>(g.B) * g.O, out.end());
    const double rt = 2e-4, at = 2e-5;
    expect_close("output(f32)", name, out, g.at("output"), rt, at);
    std::vector<int32_t> classes;
    std::vector<float> values;
    rnnlab_targets tg = RNNLAB_TARGETS_INIT;
    if (s.head == RNNLAB_HEAD_LAST_LINEAR) {
      for (double v : g.at("target")) values.push_back(static_cast<float>(v));
      tg.values = values.data();
      tg.count = values.size();
    } else {
      for (double v : g.at("target")) classes.push_back(static_cast<int32_t>(v));
      tg.classes = classes.data();
      tg.count = classes.size();
    }
    assert_int_equal(rnnlab_backward(m, &tg), RNNLAB_OK);
    rnnlab_diag d = RNNLAB_DIAG_INIT;
    assert_int_equal(rnnlab_diagnostics(&d, m), RNNLAB_OK);
    expect_close("loss(f32)", name, {d.loss}, g.at("loss"), rt, at);
    expect_close("grad_norm(f32)", name, {d.grad_norm}, g.at("grad_norm"), rt, at);
    expect_close("omega(f32)", name, {d.omega}, g.at("omega"), 1e-3, 1e-5);
    expect_close("steps_in_past(f32)", name, {d.steps_in_past}, g.at("steps_in_past"), 0, 1e-12);
    assert_int_equal(d.nonfinite, 0);
    for (const char *n : kTensors) {
      const std::vector<double> &want = g.at(std::string("grad.") + n);
      std::vector<float> got(want.size());
      assert_int_equal(rnnlab_get_grad(got.data(), got.size(), m, n), RNNLAB_OK);
      expect_close((std::string("grad.") + n + "(f32)").c_str(), name, std::vector<double>(got.begin(), got.end()), want,
                   rt, at);
    }
    std::vector<float> dx(g.at("grad.x").size()), dh0(g.at("grad.h0").size());
    assert_int_equal(rnnlab_get_input_grad(dx.data(), dx.size(), m), RNNLAB_OK);
    assert_int_equal(rnnlab_get_h0_grad(dh0.data(), dh0.size(), m), RNNLAB_OK);
    expect_close("grad.x(f32)", name, std::vector<double>(dx.begin(), dx.end()), g.at("grad.x"), rt, at);
    expect_close("grad.h0(f32)", name, std::vector<double>(dh0.begin(), dh0.end()), g.at("grad.h0"), rt, at);
    for (int k = 0; k < RNNLAB_TRACE_COUNT; ++k) {
      const rnnlab_trace tr = static_cast<rnnlab_trace>(k);
      const char *tn = rnnlab_trace_name(tr);
      std::vector<double> v(static_cast<size_t>(g.T));
      int32_t len = 0;
      const rnnlab_status st = rnnlab_get_trace(v.data(), v.size(), &len, m, tr);
      if (!g.has(tn)) {
        assert_int_equal(st, RNNLAB_E_NOT_FOUND);
        continue;
      }
      assert_int_equal(st, RNNLAB_OK);
      assert_int_equal(len, g.T);
      expect_close((std::string(tn) + "(f32)").c_str(), name, v, g.at(tn), 1e-3, 1e-5);
    }
    rnnlab_destroy(m);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(golden_double),
      cmocka_unit_test(golden_float_api),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
