// Helpers shared by the CPU-vs-reference parity tests (test_cpu_parity, test_heavy_cpu_parity).
// Include after "cmocka_cpp.h".
#ifndef RNNLAB_TEST_PARITY_H
#define RNNLAB_TEST_PARITY_H

#include <rnnlab/rnnlab.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include "core/rng.h"
#include "test_support.h"

namespace parity {


inline const rnnlab_cell kCells[] = {RNNLAB_CELL_GRU,      RNNLAB_CELL_GRU_RESET_BEFORE, RNNLAB_CELL_RNN_TANH,
                              RNNLAB_CELL_RNN_SIGMOID, RNNLAB_CELL_RNN_RELU,       RNNLAB_CELL_RNN_LINEAR};
inline const rnnlab_head kHeads[] = {RNNLAB_HEAD_NONE, RNNLAB_HEAD_LAST_SOFTMAX, RNNLAB_HEAD_EVERY_SOFTMAX,
                              RNNLAB_HEAD_LAST_LINEAR};

struct Shape {
  int I, H, T, B, O;
};

inline bool is_gru(rnnlab_cell c) { return c == RNNLAB_CELL_GRU || c == RNNLAB_CELL_GRU_RESET_BEFORE; }

inline rnnlab_model *make(rnnlab_backend be, rnnlab_cell cell, rnnlab_head head, const Shape &s, rnnlab_diag_level lvl,
                   bool frozen, rnnlab_bias_mode bm, int threads) {
  rnnlab_config c = RNNLAB_CONFIG_INIT;
  c.cell = cell;
  c.input_size = s.I;
  c.hidden_size = s.H;
  c.head = head;
  c.output_size = head == RNNLAB_HEAD_NONE ? 0 : s.O;
  c.backend = be;
  c.bias_mode = bm;
  c.diag_level = lvl;
  c.threads = threads;
  c.seed = 1234;
  if (frozen) {
    c.frozen_bias_mask = is_gru(cell) ? (RNNLAB_GATE_Z | RNNLAB_GATE_R) : RNNLAB_GATE_N;
    c.frozen_bias_value[1] = 0.5f;
  }
  // Larger weights than the default so that gates move away from 0.5 and saturation shows.
  c.init = RNNLAB_INIT_BASIC_TANH;
  rnnlab_model *m = nullptr;
  if (rnnlab_create(&m, &c) != RNNLAB_OK) {
    print_error("create failed: %s\n", rnnlab_last_error());
    return nullptr;
  }
  return m;
}

inline void near(const char *what, const std::string &ctx, const std::vector<double> &a, const std::vector<double> &b,
          double rel = 1e-4) {
  assert_int_equal(a.size(), b.size());
  double scale = 0;
  for (double v : b)
    if (std::isfinite(v)) scale = std::max(scale, std::fabs(v));
  std::string rep;
  if (!rnnlab_test::close_enough(a.data(), b.data(), a.size(), rel, rel * scale + 1e-30, &rep)) {
    print_error("%s: %s: %s\n", ctx.c_str(), what, rep.c_str());
    fail();
  }
}

inline std::vector<double> dvec(const std::vector<float> &v) { return std::vector<double>(v.begin(), v.end()); }

struct Pass {
  std::vector<float> y, grads, dx, dh0, J;
  rnnlab_diag d = RNNLAB_DIAG_INIT;
  std::vector<std::vector<double>> traces;
  std::vector<double> blocks;
};

// Runs one training pass (optionally with its forward split into pieces) and collects everything.
inline Pass run(rnnlab_model *m, rnnlab_head head, const Shape &s, const std::vector<float> &x, const std::vector<float> &h0,
         const std::vector<int> &split, uint64_t seed) {
  Pass p;
  const int W = head == RNNLAB_HEAD_NONE ? s.H : s.O;
  assert_int_equal(rnnlab_set_h0(m, h0.data(), h0.size(), s.B), RNNLAB_OK);
  p.y.assign(static_cast<size_t>(s.T) * s.B * W, 0.0f);
  int t0 = 0;
  for (int piece : split) {
    const size_t xo = static_cast<size_t>(t0) * s.B * s.I, yo = static_cast<size_t>(t0) * s.B * W;
    assert_int_equal(rnnlab_step(p.y.data() + yo, static_cast<size_t>(piece) * s.B * W, m, x.data() + xo,
                                 static_cast<size_t>(piece) * s.B * s.I, piece, s.B),
                     RNNLAB_OK);
    t0 += piece;
  }
  // Jacobian of a middle step before the backward consumes the tape.
  p.J.assign(static_cast<size_t>(s.H) * s.H, 0.0f);
  assert_int_equal(rnnlab_jacobian(p.J.data(), p.J.size(), m, s.T / 2, s.B - 1), RNNLAB_OK);
  rnnlab::Rng rng(seed);
  std::vector<int32_t> cls;
  std::vector<float> vals, dy;
  rnnlab_targets tg = RNNLAB_TARGETS_INIT;
  if (head == RNNLAB_HEAD_NONE) {
    dy.resize(p.y.size());
    for (auto &v : dy) v = static_cast<float>(rng.normal());
    tg.dy = dy.data();
    tg.count = dy.size();
  } else if (head == RNNLAB_HEAD_LAST_LINEAR) {
    vals.resize(static_cast<size_t>(s.B) * s.O);
    for (auto &v : vals) v = static_cast<float>(rng.uniform());
    tg.values = vals.data();
    tg.count = vals.size();
  } else {
    cls.resize(head == RNNLAB_HEAD_EVERY_SOFTMAX ? static_cast<size_t>(s.T) * s.B : s.B);
    for (auto &c : cls) c = static_cast<int32_t>(rng.below(s.O));
    tg.classes = cls.data();
    tg.count = cls.size();
  }
  assert_int_equal(rnnlab_backward(m, &tg), RNNLAB_OK);
  assert_int_equal(rnnlab_diagnostics(&p.d, m), RNNLAB_OK);
  size_t total = 0;
  assert_int_equal(rnnlab_param_count(&total, nullptr, m), RNNLAB_OK);
  p.grads.resize(total);
  assert_int_equal(rnnlab_get_grads(p.grads.data(), total, m), RNNLAB_OK);
  p.dx.resize(x.size());
  p.dh0.resize(h0.size());
  assert_int_equal(rnnlab_get_input_grad(p.dx.data(), p.dx.size(), m), RNNLAB_OK);
  assert_int_equal(rnnlab_get_h0_grad(p.dh0.data(), p.dh0.size(), m), RNNLAB_OK);
  for (int k = 0; k < RNNLAB_TRACE_COUNT; ++k) {
    std::vector<double> v(static_cast<size_t>(s.T));
    int32_t len = 0;
    const rnnlab_status st = rnnlab_get_trace(v.data(), v.size(), &len, m, static_cast<rnnlab_trace>(k));
    p.traces.push_back(st == RNNLAB_OK ? v : std::vector<double>());
  }
  int32_t nb = 0;
  if (rnnlab_grad_norm_blocks(nullptr, nullptr, 0, &nb, m) == RNNLAB_OK) {
    p.blocks.resize(nb);
    assert_int_equal(rnnlab_grad_norm_blocks(p.blocks.data(), nullptr, nb, &nb, m), RNNLAB_OK);
  }
  return p;
}

inline void compare(const Pass &a, const Pass &b, const std::string &ctx) {
  near("y", ctx, dvec(a.y), dvec(b.y));
  near("grads", ctx, dvec(a.grads), dvec(b.grads), 2e-4);
  near("dx", ctx, dvec(a.dx), dvec(b.dx), 2e-4);
  near("dh0", ctx, dvec(a.dh0), dvec(b.dh0), 2e-4);
  near("jacobian", ctx, dvec(a.J), dvec(b.J));
  if (std::isfinite(b.d.loss) || std::isfinite(a.d.loss)) near("loss", ctx, {a.d.loss}, {b.d.loss});
  near("grad_norm", ctx, {a.d.grad_norm}, {b.d.grad_norm}, 2e-4);
  near("omega", ctx, {a.d.omega}, {b.d.omega}, 1e-3);
  near("steps_in_past", ctx, {a.d.steps_in_past}, {b.d.steps_in_past}, 0);
  assert_int_equal(a.d.nonfinite, b.d.nonfinite);
  assert_int_equal(a.d.nonfinite_first_t, b.d.nonfinite_first_t);
  assert_int_equal(a.d.level, b.d.level);
  near("grad_norm_blocks", ctx, a.blocks, b.blocks, 2e-4);
  for (int k = 0; k < RNNLAB_TRACE_COUNT; ++k) {
    const std::string what = std::string("trace ") + rnnlab_trace_name(static_cast<rnnlab_trace>(k));
    assert_int_equal(a.traces[k].size(), b.traces[k].size());
    near(what.c_str(), ctx, a.traces[k], b.traces[k], 1e-3);
  }
}

inline void matrix_case(const Shape &s, rnnlab_cell cell, rnnlab_head head, rnnlab_diag_level lvl, bool frozen,
                 rnnlab_bias_mode bm, const std::vector<int> &cpu_split, int threads,
                 rnnlab_backend be = RNNLAB_BACKEND_CPU) {
  char buf[200];
  std::snprintf(buf, sizeof buf, "cell %d head %d level %d frozen %d bias %d I%d H%d T%d B%d threads %d split %zu",
                cell, head, lvl, frozen, bm, s.I, s.H, s.T, s.B, threads, cpu_split.size());
  rnnlab_model *ref = make(RNNLAB_BACKEND_REFERENCE, cell, head, s, lvl, frozen, bm, 1);
  rnnlab_model *cpu = make(be, cell, head, s, lvl, frozen, bm, threads);  // the backend under test
  assert_non_null(ref);
  assert_non_null(cpu);
  rnnlab::Rng rng(99);
  std::vector<float> x(static_cast<size_t>(s.T) * s.B * s.I), h0(static_cast<size_t>(s.B) * s.H);
  for (auto &v : x) v = static_cast<float>(rng.normal());
  for (auto &v : h0) v = static_cast<float>(rng.uniform(-0.5, 0.5));
  const Pass a = run(cpu, head, s, x, h0, cpu_split, 5);
  const Pass b = run(ref, head, s, x, h0, {s.T}, 5);
  compare(a, b, buf);
  // A second pass without reset: truncated BPTT from the carried state, gradients accumulated.
  std::vector<float> x2(x.rbegin(), x.rend());
  std::vector<float> hc(h0.size()), hr(h0.size());
  assert_int_equal(rnnlab_get_hidden(hc.data(), hc.size(), cpu), RNNLAB_OK);
  assert_int_equal(rnnlab_get_hidden(hr.data(), hr.size(), ref), RNNLAB_OK);
  near("carried h", buf, dvec(hc), dvec(hr));
  rnnlab_destroy(ref);
  rnnlab_destroy(cpu);
}

}  // namespace parity

#endif
