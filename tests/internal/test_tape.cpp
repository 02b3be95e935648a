// The tape (api.md): what rnnlab_step records and rnnlab_backward consumes, through the public C API
// on the reference backend in float32.
//
// Tolerances: everything here is bit for bit (the same float operations in the same order), except
// rnnlab_loss against a loss written here from the returned logits (1e-6 relative: the library sums
// in double from float logits, as does this file, in another order) and the hand-made case (1e-6).
#include "cmocka_cpp.h"

#include <rnnlab/rnnlab.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <vector>

#include "core/rng.h"

namespace {

const int I = 3, H = 5, O = 4;

rnnlab_model *make(rnnlab_cell cell, rnnlab_head head, uint64_t seed = 7) {
  rnnlab_config c = RNNLAB_CONFIG_INIT;
  c.cell = cell;
  c.input_size = I;
  c.hidden_size = H;
  c.head = head;
  c.output_size = head == RNNLAB_HEAD_NONE ? 0 : O;
  c.backend = RNNLAB_BACKEND_REFERENCE;
  c.seed = seed;
  c.diag_level = RNNLAB_DIAG_FULL;
  rnnlab_model *m = nullptr;
  const rnnlab_status st = rnnlab_create(&m, &c);
  if (st != RNNLAB_OK) print_error("%s\n", rnnlab_last_error());
  assert_int_equal(st, RNNLAB_OK);
  return m;
}

int width(rnnlab_head head) { return head == RNNLAB_HEAD_NONE ? H : O; }

std::vector<float> randv(size_t n, uint64_t seed, double lo = -1.0, double hi = 1.0) {
  rnnlab::Rng r(seed);
  std::vector<float> v(n);
  for (auto &x : v) x = static_cast<float>(r.uniform(lo, hi));
  return v;
}

void step_ok(rnnlab_model *m, std::vector<float> *y, const float *x, int T, int B, int W) {
  y->assign(static_cast<size_t>(T) * B * W, 0.0f);
  const rnnlab_status st = rnnlab_step(y->data(), y->size(), m, x, static_cast<size_t>(T) * B * I, T, B);
  if (st != RNNLAB_OK) print_error("rnnlab_step: %s\n", rnnlab_last_error());
  assert_int_equal(st, RNNLAB_OK);
}

std::vector<float> hidden(const rnnlab_model *m, int B) {
  std::vector<float> h(static_cast<size_t>(B) * H);
  assert_int_equal(rnnlab_get_hidden(h.data(), h.size(), m), RNNLAB_OK);
  return h;
}

std::vector<float> grads(const rnnlab_model *m) {
  size_t total = 0;
  assert_int_equal(rnnlab_param_count(&total, nullptr, m), RNNLAB_OK);
  std::vector<float> g(total);
  assert_int_equal(rnnlab_get_grads(g.data(), g.size(), m), RNNLAB_OK);
  return g;
}

void expect_bits(const char *what, const std::vector<float> &a, const std::vector<float> &b) {
  if (a.size() != b.size() || std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) != 0) {
    size_t k = 0;
    while (k < a.size() && k < b.size() && std::memcmp(&a[k], &b[k], sizeof(float)) == 0) ++k;
    print_error("%s: not bit-identical (sizes %zu, %zu; first difference at %zu)\n", what, a.size(), b.size(), k);
    fail();
  }
}

// Targets for a tape of T steps and batch B; the vectors keep the storage alive.
struct Targets {
  std::vector<int32_t> classes;
  std::vector<float> values, dy;
  rnnlab_targets tg = RNNLAB_TARGETS_INIT;
};
void make_targets(Targets *t, rnnlab_head head, int T, int B, uint64_t seed) {
  rnnlab::Rng r(seed);
  t->tg = RNNLAB_TARGETS_INIT;
  if (head == RNNLAB_HEAD_NONE) {
    t->dy = randv(static_cast<size_t>(T) * B * H, seed);
    t->tg.dy = t->dy.data();
    t->tg.count = t->dy.size();
  } else if (head == RNNLAB_HEAD_LAST_LINEAR) {
    t->values = randv(static_cast<size_t>(B) * O, seed);
    t->tg.values = t->values.data();
    t->tg.count = t->values.size();
  } else {
    const int n = head == RNNLAB_HEAD_EVERY_SOFTMAX ? T * B : B;
    t->classes.resize(n);
    for (auto &c : t->classes) c = static_cast<int32_t>(r.below(O));
    t->tg.classes = t->classes.data();
    t->tg.count = t->classes.size();
  }
}

struct PassResult {
  std::vector<float> g, dx, dh0;
  double loss = 0;
};
PassResult backward_ok(rnnlab_model *m, const Targets &t, int T, int B) {
  const rnnlab_status st = rnnlab_backward(m, &t.tg);
  if (st != RNNLAB_OK) print_error("rnnlab_backward: %s\n", rnnlab_last_error());
  assert_int_equal(st, RNNLAB_OK);
  PassResult r;
  r.g = grads(m);
  r.dx.resize(static_cast<size_t>(T) * B * I);
  r.dh0.resize(static_cast<size_t>(B) * H);
  assert_int_equal(rnnlab_get_input_grad(r.dx.data(), r.dx.size(), m), RNNLAB_OK);
  assert_int_equal(rnnlab_get_h0_grad(r.dh0.data(), r.dh0.size(), m), RNNLAB_OK);
  rnnlab_diag d = RNNLAB_DIAG_INIT;
  assert_int_equal(rnnlab_diagnostics(&d, m), RNNLAB_OK);
  r.loss = d.loss;
  return r;
}

const rnnlab_cell kCells[] = {RNNLAB_CELL_GRU, RNNLAB_CELL_GRU_RESET_BEFORE, RNNLAB_CELL_RNN_TANH,
                              RNNLAB_CELL_RNN_RELU};
const rnnlab_head kHeads[] = {RNNLAB_HEAD_NONE, RNNLAB_HEAD_LAST_SOFTMAX, RNNLAB_HEAD_EVERY_SOFTMAX,
                              RNNLAB_HEAD_LAST_LINEAR};

// step(T=5) then step(T=3) == step(T=8) == eight step(T=1): outputs and final hidden bit for bit;
// and backward after each split forward == backward after one forward, bit for bit.
void split_forward_and_backward(void **) {
  const int B = 3, T = 8;
  for (rnnlab_cell cell : kCells)
    for (rnnlab_head head : kHeads) {
      const int W = width(head);
      const std::vector<float> x = randv(static_cast<size_t>(T) * B * I, 100 + cell, -2, 2);
      const std::vector<float> h0 = randv(static_cast<size_t>(B) * H, 200 + cell, -0.5, 0.5);
      Targets tg;
      make_targets(&tg, head, T, B, 300 + cell * 4 + head);
      const size_t per_t = static_cast<size_t>(B) * I;

      rnnlab_model *one = make(cell, head), *two = make(cell, head), *eight = make(cell, head);
      for (rnnlab_model *m : {one, two, eight}) assert_int_equal(rnnlab_set_h0(m, h0.data(), h0.size(), B), RNNLAB_OK);
      std::vector<float> y1, ya, yb, y2, y8, yt;
      step_ok(one, &y1, x.data(), T, B, W);
      step_ok(two, &ya, x.data(), 5, B, W);
      step_ok(two, &yb, x.data() + 5 * per_t, 3, B, W);
      y2 = ya;
      y2.insert(y2.end(), yb.begin(), yb.end());
      for (int t = 0; t < T; ++t) {
        step_ok(eight, &yt, x.data() + t * per_t, 1, B, W);
        y8.insert(y8.end(), yt.begin(), yt.end());
      }
      expect_bits("outputs, 5 + 3 steps vs 8", y2, y1);
      expect_bits("outputs, 8 x 1 step vs 8", y8, y1);
      expect_bits("final hidden, 5 + 3", hidden(two, B), hidden(one, B));
      expect_bits("final hidden, 8 x 1", hidden(eight, B), hidden(one, B));

      const PassResult r1 = backward_ok(one, tg, T, B), r2 = backward_ok(two, tg, T, B), r8 = backward_ok(eight, tg, T, B);
      expect_bits("gradients, 5 + 3 vs 8", r2.g, r1.g);
      expect_bits("gradients, 8 x 1 vs 8", r8.g, r1.g);
      expect_bits("dL/dx, 5 + 3 vs 8", r2.dx, r1.dx);
      expect_bits("dL/dx, 8 x 1 vs 8", r8.dx, r1.dx);
      expect_bits("dL/dh0, 5 + 3 vs 8", r2.dh0, r1.dh0);
      expect_bits("dL/dh0, 8 x 1 vs 8", r8.dh0, r1.dh0);
      if (head == RNNLAB_HEAD_NONE) {
        assert_true(std::isnan(r1.loss) && std::isnan(r2.loss));  // from dy: no loss
      } else {
        assert_true(std::isfinite(r1.loss));
        assert_memory_equal(&r1.loss, &r2.loss, sizeof(double));
        assert_memory_equal(&r1.loss, &r8.loss, sizeof(double));
      }
      // Some gradient is non-zero: the comparison is not of empty buffers.
      double s = 0;
      for (float v : r1.g) s += std::fabs(v);
      assert_true(s > 0);
      rnnlab_destroy(one);
      rnnlab_destroy(two);
      rnnlab_destroy(eight);
    }
}

// Backward twice without a reset is truncated BPTT: the second pass starts from the carried state.
// It equals a pass of a model whose h0 is set to that state (bit for bit: the same floats).
void backward_twice_is_truncated_bptt(void **) {
  const int B = 2, T1 = 4, T2 = 3;
  for (rnnlab_cell cell : kCells)
    for (rnnlab_head head : kHeads) {
      const int W = width(head);
      const std::vector<float> x1 = randv(static_cast<size_t>(T1) * B * I, 11 + cell);
      const std::vector<float> x2 = randv(static_cast<size_t>(T2) * B * I, 12 + cell);
      Targets t1, t2;
      make_targets(&t1, head, T1, B, 13 + head);
      make_targets(&t2, head, T2, B, 14 + head);
      rnnlab_model *a = make(cell, head), *b = make(cell, head);
      std::vector<float> y;
      step_ok(a, &y, x1.data(), T1, B, W);
      backward_ok(a, t1, T1, B);
      const std::vector<float> hc = hidden(a, B);  // backward keeps the hidden state
      assert_int_equal(rnnlab_zero_grad(a), RNNLAB_OK);
      std::vector<float> ya, yb;
      step_ok(a, &ya, x2.data(), T2, B, W);
      const PassResult ra = backward_ok(a, t2, T2, B);

      assert_int_equal(rnnlab_set_h0(b, hc.data(), hc.size(), B), RNNLAB_OK);
      step_ok(b, &yb, x2.data(), T2, B, W);
      const PassResult rb = backward_ok(b, t2, T2, B);
      expect_bits("outputs from the carried state", ya, yb);
      expect_bits("gradients of the second pass", ra.g, rb.g);
      expect_bits("dL/dx of the second pass (T2 steps only)", ra.dx, rb.dx);
      expect_bits("dL/dh0 of the second pass (w.r.t. the carried state)", ra.dh0, rb.dh0);
      if (head != RNNLAB_HEAD_NONE) assert_memory_equal(&ra.loss, &rb.loss, sizeof(double));
      rnnlab_diag d = RNNLAB_DIAG_INIT;
      assert_int_equal(rnnlab_diagnostics(&d, a), RNNLAB_OK);
      assert_int_equal(d.steps, T2);
      // The second pass's trace covers its own T2 steps.
      int32_t len = 0;
      assert_int_equal(rnnlab_get_trace(nullptr, 0, &len, a, RNNLAB_TRACE_GRAD_TIME), RNNLAB_OK);
      assert_int_equal(len, T2);
      rnnlab_destroy(a);
      rnnlab_destroy(b);
    }
}

// Gradients accumulate across backward calls until rnnlab_zero_grad.
void gradients_accumulate(void **) {
  const int B = 2, T = 4;
  for (rnnlab_head head : kHeads) {
    const int W = width(head);
    rnnlab_model *m = make(RNNLAB_CELL_GRU, head);
    const std::vector<float> xa = randv(static_cast<size_t>(T) * B * I, 1), xb = randv(static_cast<size_t>(T) * B * I, 2);
    Targets ta, tb;
    make_targets(&ta, head, T, B, 3);
    make_targets(&tb, head, T, B, 4);
    std::vector<float> y;
    // Pass A alone, pass B alone (each from a reset and zeroed gradients).
    step_ok(m, &y, xa.data(), T, B, W);
    const std::vector<float> ga = backward_ok(m, ta, T, B).g;
    assert_int_equal(rnnlab_zero_grad(m), RNNLAB_OK);
    assert_int_equal(rnnlab_reset(m), RNNLAB_OK);
    step_ok(m, &y, xb.data(), T, B, W);
    const std::vector<float> gb = backward_ok(m, tb, T, B).g;
    // A then B without zeroing: ga + gb (one float addition per entry, so bit for bit).
    assert_int_equal(rnnlab_zero_grad(m), RNNLAB_OK);
    for (float v : grads(m)) assert_true(v == 0.0f);
    assert_int_equal(rnnlab_reset(m), RNNLAB_OK);
    step_ok(m, &y, xa.data(), T, B, W);
    backward_ok(m, ta, T, B);
    assert_int_equal(rnnlab_reset(m), RNNLAB_OK);
    step_ok(m, &y, xb.data(), T, B, W);
    const std::vector<float> gab = backward_ok(m, tb, T, B).g;
    std::vector<float> sum(ga.size());
    for (size_t k = 0; k < ga.size(); ++k) sum[k] = ga[k] + gb[k];
    expect_bits("accumulated gradient", gab, sum);
    // grad_norm is that of the accumulated gradient.
    rnnlab_diag d = RNNLAB_DIAG_INIT;
    assert_int_equal(rnnlab_diagnostics(&d, m), RNNLAB_OK);
    double n2 = 0;
    for (float v : sum) n2 += static_cast<double>(v) * v;
    assert_true(std::fabs(d.grad_norm - std::sqrt(n2)) <= 1e-12 * std::sqrt(n2));  // double sums, order only
    assert_int_equal(rnnlab_zero_grad(m), RNNLAB_OK);
    for (float v : grads(m)) assert_true(v == 0.0f);
    rnnlab_destroy(m);
  }
}

// Eval mode records nothing (backward after eval steps is RNNLAB_E_STATE) and gives the same outputs.
void eval_mode(void **) {
  const int B = 2, T = 6;
  for (rnnlab_cell cell : kCells) {
    const rnnlab_head head = RNNLAB_HEAD_LAST_SOFTMAX;
    rnnlab_model *tr = make(cell, head), *ev = make(cell, head);
    const std::vector<float> x = randv(static_cast<size_t>(T) * B * I, 5);
    std::vector<float> yt, ye;
    step_ok(tr, &yt, x.data(), T, B, O);
    assert_int_equal(rnnlab_set_training(ev, 0), RNNLAB_OK);
    step_ok(ev, &ye, x.data(), T, B, O);
    expect_bits("eval outputs", ye, yt);
    expect_bits("eval hidden", hidden(ev, B), hidden(tr, B));
    Targets tg;
    make_targets(&tg, head, T, B, 6);
    const std::vector<float> g_before = grads(ev);
    assert_int_equal(rnnlab_backward(ev, &tg.tg), RNNLAB_E_STATE);
    // Back in training mode, the eval steps are still not on the tape.
    assert_int_equal(rnnlab_set_training(ev, 1), RNNLAB_OK);
    assert_int_equal(rnnlab_backward(ev, &tg.tg), RNNLAB_E_STATE);
    expect_bits("gradients after refused backward", grads(ev), g_before);
    // Eval steps keep carrying the hidden state; a training step after them records only itself.
    step_ok(ev, &ye, x.data(), 2, B, O);
    Targets t2;
    make_targets(&t2, head, 2, B, 7);
    assert_int_equal(rnnlab_backward(ev, &t2.tg), RNNLAB_OK);
    rnnlab_diag d = RNNLAB_DIAG_INIT;
    assert_int_equal(rnnlab_diagnostics(&d, ev), RNNLAB_OK);
    assert_int_equal(d.steps, 2);
    std::vector<float> dx(static_cast<size_t>(2) * B * I);
    assert_int_equal(rnnlab_get_input_grad(dx.data(), dx.size(), ev), RNNLAB_OK);
    // Switching to eval drops a recorded tape.
    step_ok(ev, &ye, x.data(), 2, B, O);
    assert_int_equal(rnnlab_set_training(ev, 0), RNNLAB_OK);
    assert_int_equal(rnnlab_set_training(ev, 1), RNNLAB_OK);
    assert_int_equal(rnnlab_backward(ev, &t2.tg), RNNLAB_E_STATE);
    rnnlab_destroy(tr);
    rnnlab_destroy(ev);
  }
}

// set_h0 then reset restores h0 (and without set_h0, reset restores zeros).
void set_h0_and_reset(void **) {
  const int B = 3, T = 4;
  rnnlab_model *m = make(RNNLAB_CELL_GRU, RNNLAB_HEAD_NONE);
  const std::vector<float> h0 = randv(static_cast<size_t>(B) * H, 9, -0.8, 0.8);
  const std::vector<float> x = randv(static_cast<size_t>(T) * B * I, 10);
  assert_int_equal(rnnlab_set_h0(m, h0.data(), h0.size(), B), RNNLAB_OK);
  expect_bits("hidden right after set_h0", hidden(m, B), h0);
  std::vector<float> y1, y2, y3;
  step_ok(m, &y1, x.data(), T, B, H);
  assert_true(hidden(m, B) != h0);
  assert_int_equal(rnnlab_reset(m), RNNLAB_OK);
  expect_bits("hidden after reset", hidden(m, B), h0);
  step_ok(m, &y2, x.data(), T, B, H);
  expect_bits("outputs after reset", y2, y1);
  // B is fixed by h0 until h0 is cleared.
  std::vector<float> xb(static_cast<size_t>(T) * 2 * I, 0.1f), yb(static_cast<size_t>(T) * 2 * H);
  assert_int_equal(rnnlab_step(yb.data(), yb.size(), m, xb.data(), xb.size(), T, 2), RNNLAB_E_STATE);
  // Back to zero h0.
  assert_int_equal(rnnlab_set_h0(m, nullptr, 0, 0), RNNLAB_OK);
  step_ok(m, &y3, x.data(), T, B, H);
  rnnlab_model *z = make(RNNLAB_CELL_GRU, RNNLAB_HEAD_NONE);
  std::vector<float> yz;
  step_ok(z, &yz, x.data(), T, B, H);
  expect_bits("outputs from a cleared h0 == from zeros", y3, yz);
  assert_int_equal(rnnlab_reset(m), RNNLAB_OK);
  step_ok(m, &y3, x.data(), T, B, H);
  expect_bits("outputs after reset without h0", y3, yz);
  rnnlab_destroy(m);
  // Without h0, B is fixed by the first step until a reset.
  std::vector<float> y4;
  step_ok(z, &y4, x.data(), 1, B, H);
  assert_int_equal(rnnlab_step(yb.data(), static_cast<size_t>(1) * 2 * H, z, xb.data(), static_cast<size_t>(1) * 2 * I, 1, 2),
                   RNNLAB_E_STATE);
  assert_int_equal(rnnlab_reset(z), RNNLAB_OK);
  step_ok(z, &y4, xb.data(), 1, 2, H);
  rnnlab_destroy(z);
}

// dL/dx (T_tape * B * I) and dL/dh0 (B * H) after backward; wrong sizes refused; unavailable before.
void input_and_h0_grads(void **) {
  const int B = 2;
  rnnlab_model *m = make(RNNLAB_CELL_RNN_TANH, RNNLAB_HEAD_EVERY_SOFTMAX);
  std::vector<float> dx(static_cast<size_t>(5) * B * I), dh0(static_cast<size_t>(B) * H);
  assert_int_equal(rnnlab_get_input_grad(dx.data(), dx.size(), m), RNNLAB_E_STATE);
  assert_int_equal(rnnlab_get_h0_grad(dh0.data(), dh0.size(), m), RNNLAB_E_STATE);
  const std::vector<float> x = randv(static_cast<size_t>(5) * B * I, 3);
  std::vector<float> y;
  step_ok(m, &y, x.data(), 2, B, O);
  step_ok(m, &y, x.data() + 2 * B * I, 3, B, O);  // the tape: 5 steps
  Targets tg;
  make_targets(&tg, RNNLAB_HEAD_EVERY_SOFTMAX, 5, B, 4);
  assert_int_equal(rnnlab_backward(m, &tg.tg), RNNLAB_OK);
  assert_int_equal(rnnlab_get_input_grad(dx.data(), dx.size() - 1, m), RNNLAB_E_SIZE_MISMATCH);
  assert_int_equal(rnnlab_get_input_grad(dx.data(), dx.size(), m), RNNLAB_OK);
  assert_int_equal(rnnlab_get_h0_grad(dh0.data(), dh0.size() + 1, m), RNNLAB_E_SIZE_MISMATCH);
  assert_int_equal(rnnlab_get_h0_grad(dh0.data(), dh0.size(), m), RNNLAB_OK);
  // Every step has a loss term, so every dL/dx_t is non-zero somewhere.
  for (int t = 0; t < 5; ++t) {
    double s = 0;
    for (int k = 0; k < B * I; ++k) s += std::fabs(dx[static_cast<size_t>(t) * B * I + k]);
    assert_true(s > 0);
  }
  // h0 = 0 here, but dL/dh0 is not zero (the gradient w.r.t. the starting state).
  double s = 0;
  for (float v : dh0) s += std::fabs(v);
  assert_true(s > 0);
  // After a reset they are gone.
  assert_int_equal(rnnlab_reset(m), RNNLAB_OK);
  assert_int_equal(rnnlab_get_input_grad(dx.data(), dx.size(), m), RNNLAB_E_STATE);
  rnnlab_destroy(m);
}

// rnnlab_loss matches the backward's loss, and counts wrong sequences; a hand-made case.
void loss_and_wrong_counts(void **) {
  const int B = 3, T = 2;
  // 1) Random model: rnnlab_loss == backward's loss == the loss written here from the logits.
  for (rnnlab_head head : {RNNLAB_HEAD_LAST_SOFTMAX, RNNLAB_HEAD_EVERY_SOFTMAX, RNNLAB_HEAD_LAST_LINEAR}) {
    rnnlab_model *m = make(RNNLAB_CELL_GRU, head, 19);
    const std::vector<float> x = randv(static_cast<size_t>(T) * B * I, 20);
    std::vector<float> y;
    step_ok(m, &y, x.data(), T, B, O);
    Targets tg;
    make_targets(&tg, head, T, B, 21);
    double L = 0, mine = 0;
    int32_t wrong = -1, mine_wrong = 0;
    assert_int_equal(rnnlab_loss(&L, &wrong, m, &tg.tg, 0.5f), RNNLAB_OK);
    for (int b = 0; b < B; ++b) {
      bool bad = false;
      for (int t = (head == RNNLAB_HEAD_EVERY_SOFTMAX ? 0 : T - 1); t < T; ++t) {
        const float *row = &y[(static_cast<size_t>(t) * B + b) * O];
        if (head == RNNLAB_HEAD_LAST_LINEAR) {
          for (int o = 0; o < O; ++o) {
            const double e = static_cast<double>(row[o]) - tg.values[static_cast<size_t>(b) * O + o];
            mine += e * e / B;
            bad = bad || std::fabs(e) > 0.5;
          }
        } else {
          const int c = tg.classes[head == RNNLAB_HEAD_EVERY_SOFTMAX ? static_cast<size_t>(t) * B + b : b];
          double s = 0;
          int arg = 0;
          for (int o = 0; o < O; ++o) {
            s += std::exp(static_cast<double>(row[o]));
            if (row[o] > row[arg]) arg = o;
          }
          mine += (std::log(s) - row[c]) / (head == RNNLAB_HEAD_EVERY_SOFTMAX ? T * B : B);
          bad = bad || arg != c;
        }
      }
      mine_wrong += bad;
    }
    assert_true(std::fabs(L - mine) <= 1e-6 * std::fabs(mine));
    assert_int_equal(wrong, mine_wrong);
    const PassResult r = backward_ok(m, tg, T, B);
    assert_true(std::fabs(r.loss - L) <= 1e-6 * std::fabs(L));  // float logits, double sums
    rnnlab_destroy(m);
  }
  // 2) Hand-made: head.weight = 0, so the logits are head.bias = (1, 3, 0, 2) at every step and for
  //    every sequence: argmax 1, log-sum-exp = log(e + e^3 + 1 + e^2).
  {
    rnnlab_model *m = make(RNNLAB_CELL_GRU, RNNLAB_HEAD_EVERY_SOFTMAX, 3);
    const std::vector<float> w0(static_cast<size_t>(O) * H, 0.0f);
    const float bias[O] = {1.0f, 3.0f, 0.0f, 2.0f};
    assert_int_equal(rnnlab_set_tensor(m, "head.weight", w0.data(), w0.size()), RNNLAB_OK);
    assert_int_equal(rnnlab_set_tensor(m, "head.bias", bias, O), RNNLAB_OK);
    const std::vector<float> x = randv(static_cast<size_t>(T) * B * I, 22);
    std::vector<float> y;
    step_ok(m, &y, x.data(), T, B, O);
    // Classes [t][b]: sequence 0 right at both steps; 1 wrong at t = 1 only; 2 wrong at both.
    const int32_t cls[] = {1, 1, 0, 1, 3, 2};
    rnnlab_targets tg = RNNLAB_TARGETS_INIT;
    tg.classes = cls;
    tg.count = 6;
    double L = 0;
    int32_t wrong = -1;
    assert_int_equal(rnnlab_loss(&L, &wrong, m, &tg, 0.0f), RNNLAB_OK);
    const double lse = std::log(std::exp(1.0) + std::exp(3.0) + 1.0 + std::exp(2.0));
    const double want = lse - (3.0 + 3.0 + 1.0 + 3.0 + 2.0 + 0.0) / 6.0;
    assert_true(std::fabs(L - want) <= 1e-6);
    assert_int_equal(wrong, 2);
    rnnlab_destroy(m);
  }
  {  // last-softmax: only the last step scores; classes (1, 0, 3): one right, two wrong.
    rnnlab_model *m = make(RNNLAB_CELL_RNN_TANH, RNNLAB_HEAD_LAST_SOFTMAX, 3);
    const std::vector<float> w0(static_cast<size_t>(O) * H, 0.0f);
    const float bias[O] = {1.0f, 3.0f, 0.0f, 2.0f};
    assert_int_equal(rnnlab_set_tensor(m, "head.weight", w0.data(), w0.size()), RNNLAB_OK);
    assert_int_equal(rnnlab_set_tensor(m, "head.bias", bias, O), RNNLAB_OK);
    const std::vector<float> x = randv(static_cast<size_t>(T) * B * I, 22);
    std::vector<float> y;
    step_ok(m, &y, x.data(), T, B, O);
    const int32_t cls[] = {1, 0, 3};
    rnnlab_targets tg = RNNLAB_TARGETS_INIT;
    tg.classes = cls;
    tg.count = 3;
    double L = 0;
    int32_t wrong = -1;
    assert_int_equal(rnnlab_loss(&L, &wrong, m, &tg, 0.0f), RNNLAB_OK);
    const double lse = std::log(std::exp(1.0) + std::exp(3.0) + 1.0 + std::exp(2.0));
    assert_true(std::fabs(L - (lse - (3.0 + 1.0 + 2.0) / 3.0)) <= 1e-6);
    assert_int_equal(wrong, 2);
    assert_int_equal(rnnlab_backward(m, &tg), RNNLAB_OK);
    rnnlab_diag d = RNNLAB_DIAG_INIT;
    assert_int_equal(rnnlab_diagnostics(&d, m), RNNLAB_OK);
    assert_true(std::fabs(d.loss - L) <= 1e-6);
    rnnlab_destroy(m);
  }
  {  // last-linear: y = head.bias = (1, 3, 0, 2); err_abs 0.25. Targets per sequence:
     // b0 exact, b1 off by 0.2 in one output (right), b2 off by 0.3 in one output (wrong).
    rnnlab_model *m = make(RNNLAB_CELL_GRU, RNNLAB_HEAD_LAST_LINEAR, 3);
    const std::vector<float> w0(static_cast<size_t>(O) * H, 0.0f);
    const float bias[O] = {1.0f, 3.0f, 0.0f, 2.0f};
    assert_int_equal(rnnlab_set_tensor(m, "head.weight", w0.data(), w0.size()), RNNLAB_OK);
    assert_int_equal(rnnlab_set_tensor(m, "head.bias", bias, O), RNNLAB_OK);
    const std::vector<float> x = randv(static_cast<size_t>(T) * B * I, 23);
    std::vector<float> y;
    step_ok(m, &y, x.data(), T, B, O);
    const float vals[] = {1.0f, 3.0f, 0.0f, 2.0f, 1.0f, 3.2f, 0.0f, 2.0f, 1.0f, 3.0f, -0.3f, 2.0f};
    rnnlab_targets tg = RNNLAB_TARGETS_INIT;
    tg.values = vals;
    tg.count = 12;
    double L = 0;
    int32_t wrong = -1;
    assert_int_equal(rnnlab_loss(&L, &wrong, m, &tg, 0.25f), RNNLAB_OK);
    // mean over batch of the sum of squares: (0 + 0.04 + 0.09) / 3, float round-off of 3.2f, -0.3f.
    assert_true(std::fabs(L - 0.13 / 3.0) <= 1e-6);
    assert_int_equal(wrong, 1);
    rnnlab_destroy(m);
  }
}

}  // namespace

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(split_forward_and_backward), cmocka_unit_test(backward_twice_is_truncated_bptt),
      cmocka_unit_test(gradients_accumulate),       cmocka_unit_test(eval_mode),
      cmocka_unit_test(set_h0_and_reset),           cmocka_unit_test(input_and_h0_grads),
      cmocka_unit_test(loss_and_wrong_counts),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
