// Optimisers, clipping and its guard, the schedule, frozen entries, the Omega term, determinism.
//
// Each optimiser is checked against an independent double-precision implementation of its
// published update rule written here (torch.optim.SGD / Adam / AdamW as documented), over a few
// steps on random gradients written straight into the model's gradient buffer (the test hook:
// internal tests see struct rnnlab_model). Omega is checked in double through the reference engine:
// its value against a direct computation from delta and h computed here, its gradient against
// central finite differences of Omega with delta and h frozen (the immediate partial, tasks.md).
//
// Every other header comes before cmocka.h (its fail() macro).
#include <rnnlab/rnnlab.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/model.h"
#include "core/rng.h"
#include "reference/ref_engine.h"

#include "cmocka_cpp.h"

using namespace rnnlab;

namespace {

#define OK(call) assert_int_equal((call), RNNLAB_OK)

rnnlab_config base_config(rnnlab_cell cell, int I, int H, rnnlab_head head, int O) {
  rnnlab_config c = RNNLAB_CONFIG_INIT;
  c.cell = cell;
  c.input_size = I;
  c.hidden_size = H;
  c.head = head;
  c.output_size = O;
  c.backend = RNNLAB_BACKEND_REFERENCE;
  c.seed = 11;
  return c;
}

rnnlab_model *make(const rnnlab_config &c) {
  rnnlab_model *m = nullptr;
  OK(rnnlab_create(&m, &c));
  assert_non_null(m);
  return m;
}

// Random gradients on trainable entries (held entries get 0, as backward leaves them).
void random_grads(rnnlab_model *m, Rng &rng, double scale) {
  for (size_t i = 0; i < m->layout.total; ++i)
    m->grads[i] = m->layout.trainable[i] ? static_cast<float>(rng.normal(0.0, scale)) : 0.0f;
}

// One forward/backward on random data (reference backend), for tests that need a real pass.
void random_pass(rnnlab_model *m, Rng &rng, int T, int B) {
  const ModelSpec &s = m->spec;
  std::vector<float> x(static_cast<size_t>(T) * B * s.I);
  for (float &v : x) v = static_cast<float>(rng.normal());
  OK(rnnlab_reset(m));
  OK(rnnlab_step(nullptr, 0, m, x.data(), x.size(), T, B));
  rnnlab_targets tg = RNNLAB_TARGETS_INIT;
  std::vector<int32_t> cls;
  std::vector<float> dy;
  if (s.head == RNNLAB_HEAD_LAST_SOFTMAX) {
    for (int b = 0; b < B; ++b) cls.push_back(static_cast<int32_t>(rng.below(static_cast<uint64_t>(s.O))));
    tg.classes = cls.data();
    tg.count = cls.size();
  } else {
    dy.resize(static_cast<size_t>(T) * B * s.out_width());
    for (float &v : dy) v = static_cast<float>(rng.normal());
    tg.dy = dy.data();
    tg.count = dy.size();
  }
  OK(rnnlab_backward(m, &tg));
}

double max_abs_diff(const std::vector<double> &a, const float *b) {
  double w = 0;
  for (size_t i = 0; i < a.size(); ++i) w = std::max(w, std::fabs(a[i] - static_cast<double>(b[i])));
  return w;
}

// ---- independent reference optimisers (the published rules, in double) -------------------------

// torch.optim.lr_scheduler.CosineAnnealingLR's closed form, with a linear warm-up in front.
double ref_lr(double lr, double lr_min, int64_t N, int64_t W, bool cosine, int64_t pos) {
  if (W > 0 && pos < W) return lr * static_cast<double>(pos + 1) / static_cast<double>(W);
  if (!cosine) return lr;
  const double u = static_cast<double>(pos - W);
  if (u >= static_cast<double>(N)) return lr_min;
  return lr_min + 0.5 * (lr - lr_min) * (1.0 + std::cos(M_PI * u / static_cast<double>(N)));
}

struct RefOpt {
  int kind;  // 0 SGD, 1 Adam, 2 AdamW
  double momentum = 0, b1 = 0.9, b2 = 0.999, eps = 1e-8, wd = 0;
  std::vector<double> p, buf, m, v;
  std::vector<uint8_t> trainable;
  int t = 0;
  bool have_buf = false;

  // torch.optim.SGD:  d_p = g + wd p; buf = momentum buf + d_p (buf = d_p at first); p -= lr buf.
  // torch.optim.Adam: g += wd p; m = b1 m + (1-b1) g; v = b2 v + (1-b2) g^2;
  //                   p -= lr/(1-b1^t) * m / (sqrt(v)/sqrt(1-b2^t) + eps).
  // torch.optim.AdamW: p *= 1 - lr wd; then Adam without the L2 term.
  void step(const std::vector<double> &g, double lr) {
    ++t;
    const size_t n = p.size();
    if (m.empty()) {
      m.assign(n, 0);
      v.assign(n, 0);
      buf.assign(n, 0);
    }
    for (size_t i = 0; i < n; ++i) {
      if (!trainable[i]) continue;
      double gi = g[i];
      if (kind == 0) {
        gi += wd * p[i];
        if (momentum != 0) {
          buf[i] = have_buf ? momentum * buf[i] + gi : gi;
          gi = buf[i];
        }
        p[i] -= lr * gi;
      } else {
        if (kind == 2) p[i] *= 1 - lr * wd;
        else gi += wd * p[i];
        m[i] = b1 * m[i] + (1 - b1) * gi;
        v[i] = b2 * v[i] + (1 - b2) * gi * gi;
        const double mh = m[i] / (1 - std::pow(b1, t)), vh = v[i] / (1 - std::pow(b2, t));
        p[i] -= lr * mh / (std::sqrt(vh) + eps);
      }
    }
    have_buf = true;
  }
};

void check_against_reference(rnnlab_optimizer_config oc, int kind, const char *what) {
  rnnlab_config c = base_config(RNNLAB_CELL_RNN_TANH, 3, 5, RNNLAB_HEAD_LAST_LINEAR, 2);
  c.bias_mode = RNNLAB_BIAS_SINGLE;
  c.frozen_bias_mask = RNNLAB_GATE_N;
  c.frozen_bias_value[2] = 0.25f;
  rnnlab_model *m = make(c);
  OK(rnnlab_set_optimizer(m, &oc));
  RefOpt ref;
  ref.kind = kind;
  ref.momentum = oc.momentum;
  ref.b1 = oc.beta1;
  ref.b2 = oc.beta2;
  ref.eps = oc.eps;
  ref.wd = oc.weight_decay;
  ref.p.assign(m->params.begin(), m->params.end());
  ref.trainable = m->layout.trainable;
  Rng rng(99);
  for (int k = 0; k < 6; ++k) {
    random_grads(m, rng, 0.3);
    std::vector<double> g(m->grads.begin(), m->grads.end());
    const double lr = ref_lr(oc.lr, oc.lr_min, oc.schedule_steps, oc.warmup_steps,
                             oc.schedule == RNNLAB_SCHEDULE_COSINE, k);
    rnnlab_optimizer_state st = RNNLAB_OPTIMIZER_STATE_INIT;
    OK(rnnlab_get_optimizer_state(&st, m));
    assert_true(std::fabs(st.lr - lr) <= 1e-12 * lr);
    ref.step(g, lr);
    OK(rnnlab_update(m));
    const double err = max_abs_diff(ref.p, m->params.data());
    if (err > 2e-6) {
      print_error("%s: step %d: params differ from the reference rule by %g\n", what, k, err);
      fail();
    }
    // Float params track the double rule; re-sync so float rounding does not accumulate.
    for (size_t i = 0; i < ref.p.size(); ++i) ref.p[i] = m->params[i];
    for (float gi : m->grads) assert_true(gi == 0.0f);
  }
  // Held entries never moved; their moments stay exactly 0.
  for (size_t i = 0; i < m->layout.total; ++i) {
    if (m->layout.trainable[i]) continue;
    assert_true(m->params[i] == m->layout.held[i]);
    if (!m->opt.m1.empty()) assert_true(m->opt.m1[i] == 0.0f);
    if (!m->opt.m2.empty()) assert_true(m->opt.m2[i] == 0.0f);
  }
  rnnlab_destroy(m);
}

void test_sgd_rule(void **) {
  rnnlab_optimizer_config oc = RNNLAB_OPTIMIZER_CONFIG_INIT;
  oc.kind = RNNLAB_OPTIMIZER_SGD;
  oc.lr = 0.1;
  check_against_reference(oc, 0, "sgd");
  oc.weight_decay = 0.05;
  check_against_reference(oc, 0, "sgd+wd");
  oc.momentum = 0.9;
  check_against_reference(oc, 0, "sgd+momentum+wd");
}

void test_adam_rule(void **) {
  rnnlab_optimizer_config oc = RNNLAB_OPTIMIZER_CONFIG_INIT;
  oc.kind = RNNLAB_OPTIMIZER_ADAM;
  oc.lr = 0.01;
  check_against_reference(oc, 1, "adam");
  oc.weight_decay = 0.1;
  oc.beta1 = 0.8;
  oc.beta2 = 0.95;
  oc.eps = 1e-6;
  check_against_reference(oc, 1, "adam+l2");
}

void test_adamw_rule(void **) {
  rnnlab_optimizer_config oc = RNNLAB_OPTIMIZER_CONFIG_INIT;
  oc.kind = RNNLAB_OPTIMIZER_ADAMW;
  oc.lr = 0.02;
  oc.weight_decay = 0.1;
  check_against_reference(oc, 2, "adamw");
  // With a cosine schedule and warm-up the rate changes every step.
  oc.schedule = RNNLAB_SCHEDULE_COSINE;
  oc.lr_min = 0.001;
  oc.schedule_steps = 4;
  oc.warmup_steps = 2;
  check_against_reference(oc, 2, "adamw+cosine+warmup");
}

void test_schedule(void **) {
  rnnlab_model *m = make(base_config(RNNLAB_CELL_RNN_TANH, 2, 3, RNNLAB_HEAD_NONE, 0));
  rnnlab_optimizer_config oc = RNNLAB_OPTIMIZER_CONFIG_INIT;
  oc.lr = 5e-4;
  oc.lr_min = 1e-5;
  oc.schedule = RNNLAB_SCHEDULE_COSINE;
  oc.schedule_steps = 40;
  oc.schedule_period = 3;  // three updates per "epoch"
  OK(rnnlab_set_optimizer(m, &oc));
  rnnlab_optimizer_state st = RNNLAB_OPTIMIZER_STATE_INIT;
  for (int k = 0; k < 3 * 45; ++k) {
    OK(rnnlab_get_optimizer_state(&st, m));
    const double want = ref_lr(5e-4, 1e-5, 40, 0, true, k / 3);
    assert_true(std::fabs(st.lr - want) <= 1e-12 * want);
    assert_int_equal(st.schedule_pos, k / 3);
    OK(rnnlab_update(m));
    OK(rnnlab_get_optimizer_state(&st, m));
    assert_true(std::fabs(st.last_lr - want) <= 1e-12 * want);
    assert_int_equal(st.step, k + 1);
  }
  assert_true(st.lr == 1e-5);  // past schedule_steps it stays at lr_min
  // Manual stepping (period 0): only rnnlab_schedule_step advances the position.
  oc.schedule_period = 0;
  oc.warmup_steps = 4;
  OK(rnnlab_set_optimizer(m, &oc));
  OK(rnnlab_reset_optimizer(m));
  for (int e = 0; e < 6; ++e) {
    for (int k = 0; k < 5; ++k) {
      OK(rnnlab_get_optimizer_state(&st, m));
      assert_true(std::fabs(st.lr - ref_lr(5e-4, 1e-5, 40, 4, true, e)) <= 1e-12 * 5e-4);
      OK(rnnlab_update(m));
    }
    OK(rnnlab_schedule_step(m));
  }
  OK(rnnlab_get_optimizer_state(&st, m));
  assert_int_equal(st.schedule_pos, 6);
  assert_int_equal(st.step, 30);
  assert_true(std::fabs(st.lr - ref_lr(5e-4, 1e-5, 40, 4, true, 6)) <= 1e-12 * 5e-4);
  rnnlab_destroy(m);
}

void test_config_validation(void **) {
  rnnlab_model *rnn = make(base_config(RNNLAB_CELL_RNN_TANH, 2, 3, RNNLAB_HEAD_NONE, 0));
  rnnlab_model *gru = make(base_config(RNNLAB_CELL_GRU, 2, 3, RNNLAB_HEAD_NONE, 0));
  rnnlab_optimizer_config out = RNNLAB_OPTIMIZER_CONFIG_INIT;
  assert_int_equal(rnnlab_get_optimizer(&out, rnn), RNNLAB_E_STATE);
  assert_int_equal(rnnlab_update(rnn), RNNLAB_E_STATE);
  assert_int_equal(rnnlab_set_optimizer(nullptr, &out), RNNLAB_E_NULL);
  assert_int_equal(rnnlab_set_optimizer(rnn, nullptr), RNNLAB_E_NULL);
  struct Case {
    const char *what;
    void (*edit)(rnnlab_optimizer_config &);
    rnnlab_status want;
  };
  const Case cases[] = {
      {"struct_size", [](rnnlab_optimizer_config &c) { c.struct_size = 4; }, RNNLAB_E_VERSION},
      {"struct_size+", [](rnnlab_optimizer_config &c) { c.struct_size += 8; }, RNNLAB_E_VERSION},
      {"kind", [](rnnlab_optimizer_config &c) { const int32_t v = 9; std::memcpy(&c.kind, &v, 4); }, RNNLAB_E_INVALID_ARGUMENT},
      {"lr", [](rnnlab_optimizer_config &c) { c.lr = 0; }, RNNLAB_E_INVALID_ARGUMENT},
      {"lr nan", [](rnnlab_optimizer_config &c) { c.lr = NAN; }, RNNLAB_E_INVALID_ARGUMENT},
      {"momentum", [](rnnlab_optimizer_config &c) { c.momentum = 1.0; }, RNNLAB_E_INVALID_ARGUMENT},
      {"momentum adam", [](rnnlab_optimizer_config &c) { c.kind = RNNLAB_OPTIMIZER_ADAM; c.momentum = 0.9; }, RNNLAB_E_INVALID_CONFIG},
      {"beta2", [](rnnlab_optimizer_config &c) { c.kind = RNNLAB_OPTIMIZER_ADAMW; c.beta2 = 1.0; }, RNNLAB_E_INVALID_ARGUMENT},
      {"eps", [](rnnlab_optimizer_config &c) { c.kind = RNNLAB_OPTIMIZER_ADAM; c.eps = 0; }, RNNLAB_E_INVALID_ARGUMENT},
      {"wd", [](rnnlab_optimizer_config &c) { c.weight_decay = -1; }, RNNLAB_E_INVALID_ARGUMENT},
      {"lr_min const", [](rnnlab_optimizer_config &c) { c.lr_min = 1e-3; }, RNNLAB_E_INVALID_CONFIG},
      {"steps const", [](rnnlab_optimizer_config &c) { c.schedule_steps = 10; }, RNNLAB_E_INVALID_CONFIG},
      {"cosine steps", [](rnnlab_optimizer_config &c) { c.schedule = RNNLAB_SCHEDULE_COSINE; }, RNNLAB_E_INVALID_ARGUMENT},
      {"cosine lr_min", [](rnnlab_optimizer_config &c) { c.schedule = RNNLAB_SCHEDULE_COSINE; c.schedule_steps = 3; c.lr_min = 1; }, RNNLAB_E_INVALID_ARGUMENT},
      {"warmup", [](rnnlab_optimizer_config &c) { c.warmup_steps = -1; }, RNNLAB_E_INVALID_ARGUMENT},
      {"period", [](rnnlab_optimizer_config &c) { c.schedule_period = -1; }, RNNLAB_E_INVALID_ARGUMENT},
      {"clip", [](rnnlab_optimizer_config &c) { const int32_t v = 5; std::memcpy(&c.clip, &v, 4); }, RNNLAB_E_INVALID_ARGUMENT},
      {"schedule", [](rnnlab_optimizer_config &c) { const int32_t v = -1; std::memcpy(&c.schedule, &v, 4); }, RNNLAB_E_INVALID_ARGUMENT},
      {"cutoff", [](rnnlab_optimizer_config &c) { c.clip = RNNLAB_CLIP_RESCALE; c.cutoff = 0; }, RNNLAB_E_INVALID_ARGUMENT},
      {"clip_value", [](rnnlab_optimizer_config &c) { c.clip_value = -1; }, RNNLAB_E_INVALID_ARGUMENT},
      {"alpha", [](rnnlab_optimizer_config &c) { c.alpha = -1; }, RNNLAB_E_INVALID_ARGUMENT},
  };
  for (const Case &k : cases) {
    rnnlab_optimizer_config c = RNNLAB_OPTIMIZER_CONFIG_INIT;
    k.edit(c);
    const rnnlab_status s = rnnlab_set_optimizer(rnn, &c);
    if (s != k.want) {
      print_error("case %s: got %d, want %d (%s)\n", k.what, s, k.want, rnnlab_last_error());
      fail();
    }
    assert_false(rnn->opt.configured);  // nothing changed
  }
  // alpha on a GRU: declined, with a message that says why.
  rnnlab_optimizer_config c = RNNLAB_OPTIMIZER_CONFIG_INIT;
  c.alpha = 2.0;
  assert_int_equal(rnnlab_set_optimizer(gru, &c), RNNLAB_E_UNSUPPORTED);
  assert_non_null(std::strstr(rnnlab_last_error(), "vanilla RNN"));
  assert_false(gru->opt.configured);
  OK(rnnlab_set_optimizer(rnn, &c));  // fine on a vanilla RNN
  OK(rnnlab_get_optimizer(&out, rnn));
  assert_true(out.alpha == 2.0);
  // A failed re-configuration leaves the working one as it was.
  c.lr = -1;
  assert_int_equal(rnnlab_set_optimizer(rnn, &c), RNNLAB_E_INVALID_ARGUMENT);
  OK(rnnlab_get_optimizer(&out, rnn));
  assert_true(out.lr == 0.01);
  rnnlab_destroy(rnn);
  rnnlab_destroy(gru);
}

// Keeping / restarting moments across rnnlab_set_optimizer calls.
void test_reconfigure(void **) {
  rnnlab_model *m = make(base_config(RNNLAB_CELL_RNN_TANH, 2, 3, RNNLAB_HEAD_NONE, 0));
  rnnlab_optimizer_config oc = RNNLAB_OPTIMIZER_CONFIG_INIT;
  oc.kind = RNNLAB_OPTIMIZER_ADAM;
  OK(rnnlab_set_optimizer(m, &oc));
  Rng rng(5);
  for (int k = 0; k < 3; ++k) {
    random_grads(m, rng, 1.0);
    OK(rnnlab_update(m));
  }
  const std::vector<float> m1 = m->opt.m1;
  oc.lr = 0.001;  // same kind: moments and counters kept
  OK(rnnlab_set_optimizer(m, &oc));
  assert_memory_equal(m1.data(), m->opt.m1.data(), m1.size() * sizeof(float));
  assert_int_equal(m->opt.moment_step, 3);
  oc.kind = RNNLAB_OPTIMIZER_SGD;  // another kind: fresh moments, step kept
  OK(rnnlab_set_optimizer(m, &oc));
  assert_true(m->opt.m1.empty() && m->opt.m2.empty());
  assert_int_equal(m->opt.moment_step, 0);
  assert_int_equal(m->opt.step, 3);
  OK(rnnlab_reset_optimizer(m));
  assert_int_equal(m->opt.step, 0);
  rnnlab_destroy(m);
}

// ---- clipping -----------------------------------------------------------------------------------

struct ClipRig {
  rnnlab_model *m;
  std::vector<float> p0;
};

ClipRig clip_rig(rnnlab_cell cell, rnnlab_optimizer_config oc) {
  ClipRig r;
  r.m = make(base_config(cell, 2, 4, RNNLAB_HEAD_NONE, 0));
  Rng rng(3);
  random_pass(r.m, rng, 3, 2);  // so that rnnlab_diagnostics has a pass to report
  OK(rnnlab_zero_grad(r.m));
  OK(rnnlab_set_optimizer(r.m, &oc));
  r.p0 = r.m->params;
  return r;
}

void diag_norms(const rnnlab_model *m, double *pre, double *post) {
  rnnlab_diag d = RNNLAB_DIAG_INIT;
  OK(rnnlab_diagnostics(&d, m));
  *pre = d.grad_norm;
  *post = d.grad_norm_post_clip;
}

void test_clip_cutoff(void **) {
  rnnlab_optimizer_config oc = RNNLAB_OPTIMIZER_CONFIG_INIT;
  oc.lr = 1.0;
  oc.clip = RNNLAB_CLIP_RESCALE;
  oc.cutoff = 1.0;
  // One non-zero entry: the norm is exactly |g|. Below, at, above the cutoff.
  const float below = std::nextafter(1.0f, 0.0f), at = 1.0f, above = std::nextafter(1.0f, 2.0f);
  for (float v : {below, at, above, 1.5f}) {
    ClipRig r = clip_rig(RNNLAB_CELL_RNN_TANH, oc);
    const size_t i = r.m->layout.w_hh + 1;
    r.m->grads[i] = v;
    OK(rnnlab_update(r.m));
    double pre, post;
    diag_norms(r.m, &pre, &post);
    assert_true(pre == static_cast<double>(v));
    rnnlab_optimizer_state st = RNNLAB_OPTIMIZER_STATE_INIT;
    OK(rnnlab_get_optimizer_state(&st, r.m));
    const bool clipped = v > 1.0f;
    assert_int_equal(st.last_clipped, clipped ? 1 : 0);
    assert_int_equal(st.last_guard, 0);
    const float applied = clipped ? static_cast<float>(static_cast<double>(v) * (1.0 / static_cast<double>(v))) : v;
    assert_true(post == static_cast<double>(applied));
    assert_true(r.m->params[i] == static_cast<float>(static_cast<double>(r.p0[i]) - applied));
    for (size_t k = 0; k < r.p0.size(); ++k)
      if (k != i) assert_true(r.m->params[k] == r.p0[k]);
    rnnlab_destroy(r.m);
  }
  // A dense gradient of norm 3: rescaled to norm 1, direction kept.
  ClipRig r = clip_rig(RNNLAB_CELL_GRU, oc);
  Rng rng(8);
  random_grads(r.m, rng, 1.0);
  const double n0 = trainable_norm(r.m->layout, r.m->grads.data(), 0, r.m->layout.total);
  for (float &g : r.m->grads) g = static_cast<float>(g * (3.0 / n0));
  const std::vector<float> g = r.m->grads;
  const double n3 = trainable_norm(r.m->layout, g.data(), 0, g.size());
  OK(rnnlab_update(r.m));
  double pre, post;
  diag_norms(r.m, &pre, &post);
  assert_true(pre == n3);
  assert_true(std::fabs(post - 1.0) < 1e-6);
  for (size_t k = 0; k < g.size(); ++k) {
    const double want = r.p0[k] - g[k] / n3;
    assert_true(std::fabs(r.m->params[k] - want) < 1e-6);
  }
  rnnlab_destroy(r.m);
}

void test_value_clip(void **) {
  rnnlab_optimizer_config oc = RNNLAB_OPTIMIZER_CONFIG_INIT;
  oc.lr = 1.0;
  oc.clip_value = 0.5;
  ClipRig r = clip_rig(RNNLAB_CELL_RNN_TANH, oc);
  Rng rng(4);
  random_grads(r.m, rng, 1.0);
  std::vector<float> g = r.m->grads;
  for (float &v : g) v = std::min(0.5f, std::max(-0.5f, v));
  OK(rnnlab_update(r.m));
  double pre, post;
  diag_norms(r.m, &pre, &post);
  assert_true(std::fabs(post - trainable_norm(r.m->layout, g.data(), 0, g.size())) < 1e-12);
  assert_true(pre > post);
  for (size_t k = 0; k < g.size(); ++k) assert_true(r.m->params[k] == static_cast<float>(static_cast<double>(r.p0[k]) - g[k]));
  rnnlab_destroy(r.m);
}

// The guard: NaN, Inf, > 1e10 (and exactly 1e10, which is only clipped), for SGD and Adam, RNN and GRU.
void test_guard(void **) {
  const float huge = 2e10f;
  struct Inject {
    const char *what;
    float value;
    bool guard;
  };
  const Inject injects[] = {{"nan", NAN, true}, {"inf", INFINITY, true}, {"-inf", -INFINITY, true},
                            {">1e10", huge, true}, {"=1e10", 1e10f, false}};
  for (rnnlab_cell cell : {RNNLAB_CELL_RNN_TANH, RNNLAB_CELL_GRU}) {
    for (rnnlab_optimizer_kind kind : {RNNLAB_OPTIMIZER_SGD, RNNLAB_OPTIMIZER_ADAMW}) {
      for (const Inject &in : injects) {
        rnnlab_optimizer_config oc = RNNLAB_OPTIMIZER_CONFIG_INIT;
        oc.kind = kind;
        oc.lr = 0.5;
        oc.weight_decay = kind == RNNLAB_OPTIMIZER_ADAMW ? 0.01 : 0.0;
        oc.clip = RNNLAB_CLIP_RESCALE;
        oc.schedule = RNNLAB_SCHEDULE_COSINE;
        oc.schedule_steps = 10;
        ClipRig r = clip_rig(cell, oc);
        rnnlab_model *m = r.m;
        Rng rng(6);
        random_grads(m, rng, 0.1);  // one ordinary step first, so the moments are not zero
        OK(rnnlab_update(m));
        const std::vector<float> p1 = m->params, m1 = m->opt.m1, m2 = m->opt.m2;
        rnnlab_optimizer_state s0 = RNNLAB_OPTIMIZER_STATE_INIT;
        OK(rnnlab_get_optimizer_state(&s0, m));
        random_grads(m, rng, 0.1);
        m->grads[m->layout.w_ih] = in.value;
        OK(rnnlab_update(m));
        rnnlab_optimizer_state s1 = RNNLAB_OPTIMIZER_STATE_INIT;
        OK(rnnlab_get_optimizer_state(&s1, m));
        double pre, post;
        diag_norms(m, &pre, &post);
        assert_int_equal(s1.step, s0.step + 1);
        assert_int_equal(s1.schedule_pos, s0.schedule_pos + 1);
        assert_true(s1.last_lr == s0.lr);
        for (float gv : m->grads) assert_true(gv == 0.0f);
        if (!in.guard) {
          assert_int_equal(s1.last_guard, 0);
          assert_int_equal(s1.last_clipped, 1);
          assert_true(std::fabs(post - 1.0) < 1e-6);
          rnnlab_destroy(m);
          continue;
        }
        // The raw norm is what gets logged.
        if (std::isnan(in.value)) assert_true(std::isnan(pre));
        else if (std::isinf(in.value)) assert_true(std::isinf(pre));
        else assert_true(pre > 1e10);
        assert_true(post == 0.0);
        assert_int_equal(s1.last_guard, 1);
        assert_int_equal(s1.guard_count, 1);
        assert_int_equal(s1.moment_step, s0.moment_step);
        // Moments untouched.
        assert_true(m->opt.m1 == m1);
        assert_true(m->opt.m2 == m2);
        // Only W_hh (RNN) / W_hn (GRU) moved: shrunk by (1 - 0.02 lr_t).
        const size_t H = 4, HH = H * H;
        const size_t b = m->layout.w_hh + (cell == RNNLAB_CELL_GRU ? 2 * HH : 0);
        const double f = 1.0 - 0.02 * s0.lr;
        for (size_t k = 0; k < p1.size(); ++k) {
          if (k >= b && k < b + HH) {
            assert_true(std::fabs(m->params[k] - p1[k] * f) <= 1e-7 * std::fabs(p1[k]) + 1e-12);
            assert_true(m->params[k] != p1[k] || p1[k] == 0.0f);
          } else {
            assert_true(m->params[k] == p1[k]);
          }
        }
        rnnlab_destroy(m);
      }
    }
  }
}

// The guard through a real pass: a dL/dy so large the gradient overflows float.
void test_guard_from_pass(void **) {
  rnnlab_model *m = make(base_config(RNNLAB_CELL_RNN_TANH, 2, 4, RNNLAB_HEAD_NONE, 0));
  rnnlab_optimizer_config oc = RNNLAB_OPTIMIZER_CONFIG_INIT;
  oc.clip = RNNLAB_CLIP_RESCALE;
  OK(rnnlab_set_optimizer(m, &oc));
  const int T = 5, B = 3;
  std::vector<float> x(T * B * 2, 0.7f), dy(T * B * 4, 3e38f);
  OK(rnnlab_step(nullptr, 0, m, x.data(), x.size(), T, B));
  rnnlab_targets tg = RNNLAB_TARGETS_INIT;
  tg.dy = dy.data();
  tg.count = dy.size();
  OK(rnnlab_backward(m, &tg));
  rnnlab_diag d = RNNLAB_DIAG_INIT;
  OK(rnnlab_diagnostics(&d, m));
  assert_false(std::isfinite(d.grad_norm));
  const std::vector<float> p0 = m->params;
  OK(rnnlab_update(m));
  OK(rnnlab_diagnostics(&d, m));
  assert_false(std::isfinite(d.grad_norm));
  assert_true(d.grad_norm_post_clip == 0.0);
  for (size_t k = 0; k < p0.size(); ++k) {
    assert_true(std::isfinite(m->params[k]));
    const bool whh = k >= m->layout.w_hh && k < m->layout.w_hh + 16;
    if (!whh) assert_true(m->params[k] == p0[k]);
  }
  // With clipping `nothing` there is no guard: the update goes through (and poisons the model).
  rnnlab_optimizer_config none = RNNLAB_OPTIMIZER_CONFIG_INIT;
  OK(rnnlab_set_optimizer(m, &none));
  OK(rnnlab_step(nullptr, 0, m, x.data(), x.size(), T, B));
  OK(rnnlab_backward(m, &tg));
  OK(rnnlab_update(m));
  rnnlab_optimizer_state st = RNNLAB_OPTIMIZER_STATE_INIT;
  OK(rnnlab_get_optimizer_state(&st, m));
  assert_int_equal(st.last_guard, 0);
  assert_int_equal(st.guard_count, 1);
  rnnlab_destroy(m);
}

// ---- frozen entries -----------------------------------------------------------------------------

void test_frozen_adamw_1000(void **) {
  rnnlab_config c = base_config(RNNLAB_CELL_GRU, 2, 6, RNNLAB_HEAD_LAST_SOFTMAX, 3);
  c.frozen_bias_mask = RNNLAB_GATE_Z | RNNLAB_GATE_R;
  c.frozen_bias_value[RNNLAB_GATE_INDEX_Z] = 0.75f;
  c.frozen_bias_value[RNNLAB_GATE_INDEX_R] = -0.3f;
  rnnlab_model *m = make(c);
  rnnlab_optimizer_config oc = RNNLAB_OPTIMIZER_CONFIG_INIT;
  oc.kind = RNNLAB_OPTIMIZER_ADAMW;
  oc.lr = 1e-2;
  oc.weight_decay = 0.01;
  oc.clip = RNNLAB_CLIP_RESCALE;
  oc.schedule = RNNLAB_SCHEDULE_COSINE;
  oc.lr_min = 1e-4;
  oc.schedule_steps = 1000;
  OK(rnnlab_set_optimizer(m, &oc));
  const std::vector<float> start = m->params;
  Rng rng(1000);
  for (int k = 0; k < 1000; ++k) {
    random_pass(m, rng, 4, 3);
    OK(rnnlab_update(m));
  }
  size_t held = 0, moved = 0;
  for (size_t i = 0; i < m->layout.total; ++i) {
    if (m->layout.trainable[i]) {
      moved += m->params[i] != start[i];
      continue;
    }
    ++held;
    assert_memory_equal(&m->params[i], &start[i], sizeof(float));
    assert_memory_equal(&m->params[i], &m->layout.held[i], sizeof(float));
    assert_true(m->opt.m1[i] == 0.0f && m->opt.m2[i] == 0.0f);
  }
  assert_int_equal(held, 4 * 6);  // b_ir, b_iz, b_hr, b_hz
  assert_true(moved > m->layout.trainable_total / 2);
  rnnlab_destroy(m);
}

// ---- Omega --------------------------------------------------------------------------------------

// A vanilla tanh RNN, computed here from scratch in double: forward h, then the total
// delta_t = dL/dh_t for a given dL/dh (no head).
struct OmegaCase {
  int I = 2, H = 4, B = 3, T = 7;
  std::vector<double> params;  // the engine's flat layout
  std::vector<double> x, dy;
  std::vector<std::vector<double>> h, delta;  // [t][b*H + j]
};

double whh(const OmegaCase &c, const Layout &L, int i, int j) { return c.params[L.w_hh + static_cast<size_t>(i) * c.H + j]; }

void omega_forward_backward(OmegaCase &c, const Layout &L) {
  const int I = c.I, H = c.H, B = c.B, T = c.T;
  c.h.assign(T, std::vector<double>(static_cast<size_t>(B) * H));
  for (int t = 0; t < T; ++t)
    for (int b = 0; b < B; ++b)
      for (int j = 0; j < H; ++j) {
        double a = c.params[L.b_ih + j] + c.params[L.b_hh + j];
        for (int i = 0; i < I; ++i) a += c.params[L.w_ih + static_cast<size_t>(j) * I + i] * c.x[(static_cast<size_t>(t) * B + b) * I + i];
        if (t > 0)
          for (int k = 0; k < H; ++k) a += whh(c, L, j, k) * c.h[t - 1][static_cast<size_t>(b) * H + k];
        c.h[t][static_cast<size_t>(b) * H + j] = std::tanh(a);
      }
  c.delta.assign(T, std::vector<double>(static_cast<size_t>(B) * H));
  for (int t = T - 1; t >= 0; --t)
    for (int b = 0; b < B; ++b)
      for (int j = 0; j < H; ++j) {
        double d = c.dy[(static_cast<size_t>(t) * B + b) * H + j];
        if (t + 1 < T)
          for (int i = 0; i < H; ++i) {
            const double hi = c.h[t + 1][static_cast<size_t>(b) * H + i];
            d += whh(c, L, i, j) * c.delta[t + 1][static_cast<size_t>(b) * H + i] * (1 - hi * hi);
          }
        c.delta[t][static_cast<size_t>(b) * H + j] = d;
      }
}

// Omega with delta and h frozen, as a function of W_hh only (tasks.md): the immediate partial's
// primitive.
double omega_frozen(const OmegaCase &c, const std::vector<double> &W, double bound) {
  const int H = c.H;
  double sum = 0;
  int valid = 0;
  for (int t = 0; t < c.T; ++t)
    for (int b = 0; b < c.B; ++b) {
      const double *d = &c.delta[t][static_cast<size_t>(b) * H];
      const double *h = &c.h[t][static_cast<size_t>(b) * H];
      double y = 0;
      for (int j = 0; j < H; ++j) y += d[j] * d[j];
      if (!(y >= bound)) continue;
      double x = 0;
      for (int j = 0; j < H; ++j) {
        double v = 0;
        for (int i = 0; i < H; ++i) v += W[static_cast<size_t>(i) * H + j] * d[i] * (1 - h[i] * h[i]);
        x += v * v;
      }
      sum += (x / y - 1) * (x / y - 1);
      ++valid;
    }
  return sum / valid;
}

void test_omega_double(void **) {
  OmegaCase c;
  ModelSpec s;
  s.cell = RNNLAB_CELL_RNN_TANH;
  s.I = c.I;
  s.H = c.H;
  RefEngine<double> e(s);
  const Layout &L = e.layout();
  Rng rng(77);
  c.params.resize(L.total);
  for (double &p : c.params) p = rng.normal(0.0, 0.6);
  c.x.resize(static_cast<size_t>(c.T) * c.B * c.I);
  for (double &v : c.x) v = rng.normal();
  // TargetsView::dy is float: draw values float can hold exactly.
  c.dy.resize(static_cast<size_t>(c.T) * c.B * c.H);
  for (double &v : c.dy) v = static_cast<float>(rng.normal());
  // One (t, b) with dL/dh = 0 (the last step, so nothing flows into it): left out by the bound,
  // as Omega leaves it out.
  for (int j = 0; j < c.H; ++j) c.dy[(static_cast<size_t>(c.T - 1) * c.B + 1) * c.H + j] = 0;
  omega_forward_backward(c, L);

  e.reset(c.B, nullptr);
  e.step(c.params.data(), c.x.data(), c.T, nullptr, true);
  std::vector<double> g(L.total, 0.0);
  TargetsView tv;
  const std::vector<float> dyf(c.dy.begin(), c.dy.end());
  tv.dy = dyf.data();
  DiagSettings ds;
  ds.level = RNNLAB_DIAG_OFF;  // omega must come anyway
  ds.omega_grad = true;
  PassStats st;
  e.backward(c.params.data(), g.data(), tv, ds, &st);

  std::vector<double> W(c.params.begin() + L.w_hh, c.params.begin() + L.w_hh + c.H * c.H);
  const double direct = omega_frozen(c, W, ds.bound);
  assert_true(std::isfinite(st.omega));
  if (std::fabs(st.omega - direct) > 1e-12 * std::max(1.0, std::fabs(direct))) {
    print_error("omega %.17g, direct %.17g\n", st.omega, direct);
    fail();
  }
  assert_true(std::fabs(st.steps_in_past - (c.T * c.B - 1.0) / (c.T * c.B)) < 1e-15);
  assert_int_equal(st.omega_grad.size(), static_cast<size_t>(c.H * c.H));
  double worst = 0;
  for (size_t k = 0; k < W.size(); ++k) {
    const double eps = 1e-6;
    std::vector<double> Wp = W, Wm = W;
    Wp[k] += eps;
    Wm[k] -= eps;
    const double fd = (omega_frozen(c, Wp, ds.bound) - omega_frozen(c, Wm, ds.bound)) / (2 * eps);
    const double err = std::fabs(fd - st.omega_grad[k]) / std::max(1e-3, std::fabs(fd));
    worst = std::max(worst, err);
  }
  if (worst > 1e-7) {
    print_error("dOmega/dW_hh vs central differences: worst relative error %g\n", worst);
    fail();
  }
  // Not asked for: no gradient, and no omega at level off.
  PassStats st2;
  e.step(c.params.data(), c.x.data(), c.T, nullptr, true);
  ds.omega_grad = false;
  e.backward(c.params.data(), g.data(), tv, ds, &st2);
  assert_true(st2.omega_grad.empty());
  assert_true(std::isnan(st2.omega));

  // A GRU engine declines the request before it changes anything.
  ModelSpec gs;
  gs.cell = RNNLAB_CELL_GRU;
  gs.I = 2;
  gs.H = 3;
  RefEngine<double> ge(gs);
  ge.reset(1, nullptr);
  std::vector<double> gp(ge.layout().total, 0.1), gx(2, 0.5), gg(ge.layout().total, 0.0);
  std::vector<float> gdy(3, 1.0f);
  ge.step(gp.data(), gx.data(), 1, nullptr, true);
  TargetsView gtv;
  gtv.dy = gdy.data();
  ds.omega_grad = true;
  bool threw = false;
  try {
    ge.backward(gp.data(), gg.data(), gtv, ds, &st2);
  } catch (const Error &err) {
    threw = err.status == RNNLAB_E_UNSUPPORTED;
  }
  assert_true(threw);
  assert_int_equal(ge.tape_steps(), 1);
}

// Through the C API: alpha * dOmega/dW_hh lands in weight_hh's gradient before grad_norm; the loss
// excludes it; omega is reported at level off.
void test_omega_api(void **) {
  rnnlab_config c = base_config(RNNLAB_CELL_RNN_TANH, 3, 5, RNNLAB_HEAD_LAST_SOFTMAX, 4);
  c.init = RNNLAB_INIT_TEST;
  rnnlab_model *a = make(c), *z = make(c);
  rnnlab_optimizer_config oc = RNNLAB_OPTIMIZER_CONFIG_INIT;
  oc.alpha = 0.5;
  OK(rnnlab_set_optimizer(a, &oc));
  oc.alpha = 0.0;
  OK(rnnlab_set_optimizer(z, &oc));
  const int T = 6, B = 4;
  Rng rng(21);
  std::vector<float> x(T * B * 3);
  for (float &v : x) v = static_cast<float>(rng.normal());
  std::vector<int32_t> cls = {0, 1, 2, 3};
  rnnlab_targets tg = RNNLAB_TARGETS_INIT;
  tg.classes = cls.data();
  tg.count = cls.size();
  for (rnnlab_model *m : {a, z}) {
    OK(rnnlab_step(nullptr, 0, m, x.data(), x.size(), T, B));
    OK(rnnlab_backward(m, &tg));
  }
  rnnlab_diag da = RNNLAB_DIAG_INIT, dz = RNNLAB_DIAG_INIT;
  OK(rnnlab_diagnostics(&da, a));
  OK(rnnlab_diagnostics(&dz, z));
  assert_true(da.loss == dz.loss);
  assert_true(std::isfinite(da.omega) && da.omega > 0);
  assert_true(std::isnan(dz.omega));  // alpha = 0 at level off: not computed
  // The same pass in double through the engine: its dOmega/dW_hh.
  ModelSpec s = a->spec;
  RefEngine<double> e(s);
  std::vector<double> p(a->params.begin(), a->params.end()), xd(x.begin(), x.end()), g(a->layout.total, 0.0);
  e.reset(B, nullptr);
  e.step(p.data(), xd.data(), T, nullptr, true);
  TargetsView tv;
  tv.classes = cls.data();
  DiagSettings ds;
  ds.omega_grad = true;
  PassStats st;
  e.backward(p.data(), g.data(), tv, ds, &st);
  assert_true(std::fabs(st.omega - da.omega) < 1e-4 * st.omega);
  const size_t H = 5;
  double worst = 0, scale = 0;
  for (size_t k = 0; k < H * H; ++k) {
    const size_t i = a->layout.w_hh + k;
    const double diff = static_cast<double>(a->grads[i]) - z->grads[i];
    worst = std::max(worst, std::fabs(diff - 0.5 * st.omega_grad[k]));
    scale = std::max(scale, std::fabs(0.5 * st.omega_grad[k]));
  }
  assert_true(scale > 0);
  if (worst > 1e-3 * scale + 1e-6) {
    print_error("alpha * dOmega/dW_hh through the API: worst error %g (scale %g)\n", worst, scale);
    fail();
  }
  for (size_t i = 0; i < a->layout.total; ++i) {
    const bool in_whh = i >= a->layout.w_hh && i < a->layout.w_hh + H * H;
    if (!in_whh) assert_true(a->grads[i] == z->grads[i]);
  }
  // grad_norm is the norm of the gradient that includes the Omega term.
  std::vector<float> ga(a->layout.total);
  OK(rnnlab_get_grads(ga.data(), ga.size(), a));
  assert_true(da.grad_norm == trainable_norm(a->layout, ga.data(), 0, ga.size()));
  rnnlab_destroy(a);
  rnnlab_destroy(z);
}

// ---- determinism --------------------------------------------------------------------------------

std::vector<float> train(rnnlab_backend backend, int updates, int threads = 1) {
  rnnlab_config c = base_config(RNNLAB_CELL_GRU, 2, 5, RNNLAB_HEAD_LAST_SOFTMAX, 3);
  c.backend = backend;
  c.threads = threads;
  rnnlab_model *m = make(c);
  rnnlab_optimizer_config oc = RNNLAB_OPTIMIZER_CONFIG_INIT;
  oc.kind = RNNLAB_OPTIMIZER_ADAMW;
  oc.lr = 5e-3;
  oc.weight_decay = 0.01;
  oc.clip = RNNLAB_CLIP_RESCALE;
  oc.schedule = RNNLAB_SCHEDULE_COSINE;
  oc.schedule_steps = updates;
  OK(rnnlab_set_optimizer(m, &oc));
  Rng rng(314);
  for (int k = 0; k < updates; ++k) {
    random_pass(m, rng, 6, 4);
    OK(rnnlab_update(m));
  }
  std::vector<float> p = m->params;
  rnnlab_destroy(m);
  return p;
}

void test_determinism(void **) {
  const std::vector<float> a = train(RNNLAB_BACKEND_REFERENCE, 25), b = train(RNNLAB_BACKEND_REFERENCE, 25);
  assert_int_equal(a.size(), b.size());
  assert_memory_equal(a.data(), b.data(), a.size() * sizeof(float));
  // CPU BACKEND: the same, per thread count, when it is built in.
  if (!rnnlab_backend_available(RNNLAB_BACKEND_CPU)) {
    print_message("determinism on the CPU backend: skipped, this build has no CPU backend\n");
    return;
  }
  for (int threads : {1, 2}) {
    const std::vector<float> c = train(RNNLAB_BACKEND_CPU, 25, threads), d = train(RNNLAB_BACKEND_CPU, 25, threads);
    assert_memory_equal(c.data(), d.data(), c.size() * sizeof(float));
  }
}

}  // namespace

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_sgd_rule),        cmocka_unit_test(test_adam_rule),
      cmocka_unit_test(test_adamw_rule),      cmocka_unit_test(test_schedule),
      cmocka_unit_test(test_config_validation), cmocka_unit_test(test_reconfigure),
      cmocka_unit_test(test_clip_cutoff),     cmocka_unit_test(test_value_clip),
      cmocka_unit_test(test_guard),           cmocka_unit_test(test_guard_from_pass),
      cmocka_unit_test(test_frozen_adamw_1000), cmocka_unit_test(test_omega_double),
      cmocka_unit_test(test_omega_api),       cmocka_unit_test(test_determinism),
  };
  return cmocka_run_group_tests(tests, nullptr, nullptr);
}
