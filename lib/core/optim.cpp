// Optimisers, clipping with its guard, the learning-rate schedule, and the Omega term
// (tasks.md, "Training tricks"; the update rules are written out above rnnlab_optimizer_kind in
// rnnlab.h).
//
// Everything runs on the host over the flat float32 buffers, element by element in index order,
// with double arithmetic per element: the same inputs give bit-identical parameters on every run.
// Entries that are not trainable (frozen biases, single-mode bias_hh) are skipped by every loop
// that writes: no step, no weight decay, no moment, no guard shrink.
#include "core/optim.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "core/error.h"
#include "core/model.h"

namespace rnnlab {

namespace {

// The smallest struct_size each versioned struct has ever had (fields are only appended).
constexpr uint32_t kOptConfigMinSize = sizeof(rnnlab_optimizer_config);
constexpr uint32_t kOptStateMinSize = sizeof(rnnlab_optimizer_state);

// Above this the rescale guard drops the gradient (tasks.md).
constexpr double kGuardNorm = 1e10;
// The guard's shrink: W <- (1 - kGuardShrink * lr_t) W.
constexpr double kGuardShrink = 0.02;

// An enum field as the integer the caller stored: C callers may store any int, and loading an
// out-of-range value as the enum type is undefined in C++.
template <class E>
int32_t raw_enum(const E &e) {
  static_assert(sizeof(E) == sizeof(int32_t), "rnnlab enums are 32-bit");
  int32_t v;
  std::memcpy(&v, &e, sizeof v);
  return v;
}

const char *kind_name(rnnlab_optimizer_kind k) {
  switch (k) {
    case RNNLAB_OPTIMIZER_SGD: return "sgd";
    case RNNLAB_OPTIMIZER_ADAM: return "adam";
    case RNNLAB_OPTIMIZER_ADAMW: return "adamw";
  }
  return "?";
}

rnnlab_optimizer_config read_opt_config(const rnnlab_optimizer_config *cfg) {
  if (cfg->struct_size < kOptConfigMinSize || cfg->struct_size > sizeof(rnnlab_optimizer_config))
    raise(RNNLAB_E_VERSION,
          "cfg->struct_size is %u; this library knows %u (set it with RNNLAB_OPTIMIZER_CONFIG_INIT)",
          cfg->struct_size, static_cast<unsigned>(sizeof(rnnlab_optimizer_config)));
  rnnlab_optimizer_config c = RNNLAB_OPTIMIZER_CONFIG_INIT;
  std::memcpy(&c, cfg, cfg->struct_size);
  c.struct_size = sizeof(rnnlab_optimizer_config);
  return c;
}

void require_finite(const char *field, double v) {
  if (!std::isfinite(v)) raise(RNNLAB_E_INVALID_ARGUMENT, "cfg.%s = %g; must be finite", field, v);
}

// The flat range the guard shrinks: all of weight_hh for a vanilla RNN, its W_hn rows for a GRU.
void guard_block(const rnnlab_model *m, size_t *begin, size_t *end) {
  const size_t HH = static_cast<size_t>(m->spec.H) * static_cast<size_t>(m->spec.H);
  *begin = m->layout.w_hh + (m->spec.is_gru() ? 2 * HH : 0);
  *end = *begin + HH;
}

}  // namespace

bool uses_m1(const rnnlab_optimizer_config &c) {
  return c.kind != RNNLAB_OPTIMIZER_SGD || c.momentum > 0.0;
}
bool uses_m2(const rnnlab_optimizer_config &c) { return c.kind != RNNLAB_OPTIMIZER_SGD; }

void validate_optimizer_config(const rnnlab_optimizer_config &c, const ModelSpec &spec) {
  const int32_t kind = raw_enum(c.kind), schedule = raw_enum(c.schedule), clip = raw_enum(c.clip);
  if (kind < RNNLAB_OPTIMIZER_SGD || kind > RNNLAB_OPTIMIZER_ADAMW)
    raise(RNNLAB_E_INVALID_ARGUMENT, "cfg.kind = %d is not a known rnnlab_optimizer_kind", kind);
  if (schedule < RNNLAB_SCHEDULE_CONSTANT || schedule > RNNLAB_SCHEDULE_COSINE)
    raise(RNNLAB_E_INVALID_ARGUMENT, "cfg.schedule = %d is not a known rnnlab_schedule", schedule);
  if (clip < RNNLAB_CLIP_NOTHING || clip > RNNLAB_CLIP_RESCALE)
    raise(RNNLAB_E_INVALID_ARGUMENT, "cfg.clip = %d is not a known rnnlab_clip", clip);
  require_finite("lr", c.lr);
  require_finite("momentum", c.momentum);
  require_finite("beta1", c.beta1);
  require_finite("beta2", c.beta2);
  require_finite("eps", c.eps);
  require_finite("weight_decay", c.weight_decay);
  require_finite("lr_min", c.lr_min);
  require_finite("cutoff", c.cutoff);
  require_finite("clip_value", c.clip_value);
  require_finite("alpha", c.alpha);
  if (!(c.lr > 0)) raise(RNNLAB_E_INVALID_ARGUMENT, "cfg.lr = %g; must be > 0", c.lr);
  if (!(c.momentum >= 0 && c.momentum < 1))
    raise(RNNLAB_E_INVALID_ARGUMENT, "cfg.momentum = %g; must be in [0, 1)", c.momentum);
  if (c.kind != RNNLAB_OPTIMIZER_SGD) {
    if (c.momentum != 0)
      raise(RNNLAB_E_INVALID_CONFIG, "cfg.momentum = %g, but momentum is an SGD setting (kind is %s; use beta1)",
            c.momentum, kind_name(c.kind));
    if (!(c.beta1 >= 0 && c.beta1 < 1)) raise(RNNLAB_E_INVALID_ARGUMENT, "cfg.beta1 = %g; must be in [0, 1)", c.beta1);
    if (!(c.beta2 >= 0 && c.beta2 < 1)) raise(RNNLAB_E_INVALID_ARGUMENT, "cfg.beta2 = %g; must be in [0, 1)", c.beta2);
    if (!(c.eps > 0)) raise(RNNLAB_E_INVALID_ARGUMENT, "cfg.eps = %g; must be > 0", c.eps);
  }
  if (!(c.weight_decay >= 0))
    raise(RNNLAB_E_INVALID_ARGUMENT, "cfg.weight_decay = %g; must be >= 0", c.weight_decay);
  switch (c.schedule) {
    case RNNLAB_SCHEDULE_CONSTANT:
      if (c.lr_min != 0)
        raise(RNNLAB_E_INVALID_CONFIG, "cfg.lr_min = %g, but the schedule is constant (lr_min is for cosine)", c.lr_min);
      if (c.schedule_steps != 0)
        raise(RNNLAB_E_INVALID_CONFIG, "cfg.schedule_steps = %lld, but the schedule is constant (it is for cosine)",
              static_cast<long long>(c.schedule_steps));
      break;
    case RNNLAB_SCHEDULE_COSINE:
      if (c.schedule_steps < 1)
        raise(RNNLAB_E_INVALID_ARGUMENT, "cfg.schedule_steps = %lld; a cosine schedule needs >= 1",
              static_cast<long long>(c.schedule_steps));
      if (!(c.lr_min >= 0 && c.lr_min <= c.lr))
        raise(RNNLAB_E_INVALID_ARGUMENT, "cfg.lr_min = %g; must be in [0, lr = %g]", c.lr_min, c.lr);
      break;
    default: break;
  }
  if (c.warmup_steps < 0)
    raise(RNNLAB_E_INVALID_ARGUMENT, "cfg.warmup_steps = %lld; must be >= 0", static_cast<long long>(c.warmup_steps));
  if (c.schedule_period < 0)
    raise(RNNLAB_E_INVALID_ARGUMENT, "cfg.schedule_period = %lld; must be >= 0 (0 = only rnnlab_schedule_step)",
          static_cast<long long>(c.schedule_period));
  switch (c.clip) {
    case RNNLAB_CLIP_NOTHING: break;
    case RNNLAB_CLIP_RESCALE:
      if (!(c.cutoff > 0)) raise(RNNLAB_E_INVALID_ARGUMENT, "cfg.cutoff = %g; must be > 0", c.cutoff);
      break;
    default: break;
  }
  if (!(c.clip_value >= 0))
    raise(RNNLAB_E_INVALID_ARGUMENT, "cfg.clip_value = %g; must be >= 0 (0 = off)", c.clip_value);
  if (!(c.alpha >= 0)) raise(RNNLAB_E_INVALID_ARGUMENT, "cfg.alpha = %g; must be >= 0", c.alpha);
  if (c.alpha > 0 && spec.is_gru())
    raise(RNNLAB_E_UNSUPPORTED,
          "cfg.alpha = %g: the Omega regulariser is defined for vanilla RNNs only; this model is a GRU "
          "(set alpha to 0)",
          c.alpha);
}

void check_optimizer_backend(const rnnlab_optimizer_config &c, const rnnlab_model *m) {
  if (c.alpha > 0 && !m->backend->omega_grad_supported())
    raise(RNNLAB_E_UNSUPPORTED, "alpha = %g: the %s backend does not compute the Omega gradient (the reference "
          "backend does)", c.alpha, rnnlab_backend_name(m->backend->kind()));
}

double scheduled_lr(const rnnlab_optimizer_config &c, int64_t pos) {
  if (c.warmup_steps > 0 && pos < c.warmup_steps)
    return c.lr * static_cast<double>(pos + 1) / static_cast<double>(c.warmup_steps);
  const int64_t u = pos - c.warmup_steps;
  if (c.schedule != RNNLAB_SCHEDULE_COSINE) return c.lr;
  if (u >= c.schedule_steps) return c.lr_min;
  const double pi = 3.14159265358979323846;
  return c.lr_min + (c.lr - c.lr_min) * (1.0 + std::cos(pi * static_cast<double>(u) / static_cast<double>(c.schedule_steps))) / 2.0;
}

void optim_prepare_pass(const rnnlab_model *m, DiagSettings *ds) {
  ds->omega_grad = m->opt.configured && m->opt.cfg.alpha > 0 && !m->spec.is_gru();
}

void optim_add_pass_terms(const rnnlab_model *m, const PassStats &st, float *grads) {
  if (!(m->opt.configured && m->opt.cfg.alpha > 0) || m->spec.is_gru()) return;
  const size_t HH = static_cast<size_t>(m->spec.H) * static_cast<size_t>(m->spec.H);
  if (st.omega_grad.size() != HH)
    raise(RNNLAB_E_INTERNAL, "the %s backend did not return the Omega gradient it was asked for (%zu values, want %zu)",
          rnnlab_backend_name(m->backend->kind()), st.omega_grad.size(), HH);
  const double alpha = m->opt.cfg.alpha;
  float *g = grads + m->layout.w_hh;
  for (size_t k = 0; k < HH; ++k) g[k] = static_cast<float>(static_cast<double>(g[k]) + alpha * st.omega_grad[k]);
}

}  // namespace rnnlab

using namespace rnnlab;

#define CHECK_NULL(p)                                                 \
  do {                                                                \
    if (!(p)) raise(RNNLAB_E_NULL, "argument '%s' is NULL", #p);      \
  } while (0)

extern "C" {

RNNLAB_API rnnlab_status rnnlab_set_optimizer(rnnlab_model *model, const rnnlab_optimizer_config *cfg) {
  return guarded("rnnlab_set_optimizer", [&] {
    CHECK_NULL(model);
    CHECK_NULL(cfg);
    const rnnlab_optimizer_config c = read_opt_config(cfg);
    validate_optimizer_config(c, model->spec);
    check_optimizer_backend(c, model);
    OptimState &o = model->opt;
    const size_t n = model->layout.total;
    const bool keep_moments = o.configured && o.cfg.kind == c.kind && uses_m1(o.cfg) == uses_m1(c) &&
                              uses_m2(o.cfg) == uses_m2(c);
    // Allocate first; commit below cannot fail.
    std::vector<float> m1, m2;
    if (!keep_moments) {
      if (uses_m1(c)) m1.assign(n, 0.0f);
      if (uses_m2(c)) m2.assign(n, 0.0f);
    }
    if (!o.configured) {
      OptimState fresh;
      o = fresh;
    }
    if (!keep_moments) {
      o.m1.swap(m1);
      o.m2.swap(m2);
      o.moment_step = 0;
    }
    if (c.schedule_period != o.cfg.schedule_period) o.sched_sub = 0;
    o.cfg = c;
    o.configured = true;
    return RNNLAB_OK;
  });
}

RNNLAB_API rnnlab_status rnnlab_get_optimizer(rnnlab_optimizer_config *out, const rnnlab_model *model) {
  return guarded("rnnlab_get_optimizer", [&] {
    CHECK_NULL(out);
    CHECK_NULL(model);
    if (out->struct_size < kOptConfigMinSize || out->struct_size > sizeof(rnnlab_optimizer_config))
      raise(RNNLAB_E_VERSION, "out->struct_size is %u; this library knows %u (use RNNLAB_OPTIMIZER_CONFIG_INIT)",
            out->struct_size, static_cast<unsigned>(sizeof(rnnlab_optimizer_config)));
    if (!model->opt.configured) raise(RNNLAB_E_STATE, "no optimiser has been set (rnnlab_set_optimizer)");
    const uint32_t size = out->struct_size;
    std::memcpy(out, &model->opt.cfg, size);
    out->struct_size = size;
    return RNNLAB_OK;
  });
}

RNNLAB_API rnnlab_status rnnlab_get_optimizer_state(rnnlab_optimizer_state *out, const rnnlab_model *model) {
  return guarded("rnnlab_get_optimizer_state", [&] {
    CHECK_NULL(out);
    CHECK_NULL(model);
    if (out->struct_size < kOptStateMinSize || out->struct_size > sizeof(rnnlab_optimizer_state))
      raise(RNNLAB_E_VERSION, "out->struct_size is %u; this library knows %u (use RNNLAB_OPTIMIZER_STATE_INIT)",
            out->struct_size, static_cast<unsigned>(sizeof(rnnlab_optimizer_state)));
    const OptimState &o = model->opt;
    if (!o.configured) raise(RNNLAB_E_STATE, "no optimiser has been set (rnnlab_set_optimizer)");
    rnnlab_optimizer_state s = RNNLAB_OPTIMIZER_STATE_INIT;
    s.step = o.step;
    s.moment_step = o.moment_step;
    s.schedule_pos = o.sched_pos;
    s.guard_count = o.guard_count;
    s.lr = scheduled_lr(o.cfg, o.sched_pos);
    s.last_lr = o.last_lr;
    s.last_clipped = o.last_clipped ? 1 : 0;
    s.last_guard = o.last_guard ? 1 : 0;
    const uint32_t size = out->struct_size;
    std::memcpy(out, &s, size);
    out->struct_size = size;
    return RNNLAB_OK;
  });
}

RNNLAB_API rnnlab_status rnnlab_reset_optimizer(rnnlab_model *model) {
  return guarded("rnnlab_reset_optimizer", [&] {
    CHECK_NULL(model);
    OptimState &o = model->opt;
    if (!o.configured) raise(RNNLAB_E_STATE, "no optimiser has been set (rnnlab_set_optimizer)");
    std::fill(o.m1.begin(), o.m1.end(), 0.0f);
    std::fill(o.m2.begin(), o.m2.end(), 0.0f);
    o.step = o.moment_step = o.sched_pos = o.sched_sub = o.guard_count = 0;
    o.last_lr = std::numeric_limits<double>::quiet_NaN();
    o.last_clipped = o.last_guard = false;
    return RNNLAB_OK;
  });
}

RNNLAB_API rnnlab_status rnnlab_schedule_step(rnnlab_model *model) {
  return guarded("rnnlab_schedule_step", [&] {
    CHECK_NULL(model);
    if (!model->opt.configured) raise(RNNLAB_E_STATE, "no optimiser has been set (rnnlab_set_optimizer)");
    ++model->opt.sched_pos;
    return RNNLAB_OK;
  });
}

RNNLAB_API rnnlab_status rnnlab_update(rnnlab_model *model) {
  return guarded("rnnlab_update", [&] {
    CHECK_NULL(model);
    OptimState &o = model->opt;
    if (!o.configured) raise(RNNLAB_E_STATE, "no optimiser has been set (rnnlab_set_optimizer)");
    // Nothing below allocates or throws.
    const rnnlab_optimizer_config &c = o.cfg;
    const Layout &L = model->layout;
    const uint8_t *tr = L.trainable.data();
    const size_t n = L.total;
    float *p = model->params.data();
    float *g = model->grads.data();
    const double lr = scheduled_lr(c, o.sched_pos);

    // 1. Clipping, or the guard.
    const double norm = trainable_norm(L, g, 0, n);
    bool guard = false, clipped = false;
    if (c.clip == RNNLAB_CLIP_RESCALE) {
      if (!std::isfinite(norm) || norm > kGuardNorm) {
        guard = true;
      } else if (norm > c.cutoff) {
        const double scale = c.cutoff / norm;
        for (size_t i = 0; i < n; ++i)
          if (tr[i]) g[i] = static_cast<float>(static_cast<double>(g[i]) * scale);
        clipped = true;
      }
    }
    if (!guard && c.clip_value > 0) {
      const float hi = static_cast<float>(c.clip_value), lo = -hi;
      for (size_t i = 0; i < n; ++i) {
        if (!tr[i]) continue;
        if (g[i] > hi) {
          g[i] = hi;
          clipped = true;
        } else if (g[i] < lo) {
          g[i] = lo;
          clipped = true;
        }
      }
    }
    const double post = guard ? 0.0 : clipped ? trainable_norm(L, g, 0, n) : norm;

    // 2. The step.
    if (guard) {
      size_t b, e;
      guard_block(model, &b, &e);
      const double shrink = 1.0 - kGuardShrink * lr;
      for (size_t i = b; i < e; ++i)
        if (tr[i]) p[i] = static_cast<float>(static_cast<double>(p[i]) * shrink);
      ++o.guard_count;
    } else if (c.kind == RNNLAB_OPTIMIZER_SGD) {
      const double wd = c.weight_decay, mu = c.momentum;
      float *v = o.m1.empty() ? nullptr : o.m1.data();
      for (size_t i = 0; i < n; ++i) {
        if (!tr[i]) continue;
        double d = static_cast<double>(g[i]);
        if (wd != 0) d += wd * static_cast<double>(p[i]);
        if (v) {
          v[i] = static_cast<float>(mu * static_cast<double>(v[i]) + d);
          d = v[i];
        }
        p[i] = static_cast<float>(static_cast<double>(p[i]) - lr * d);
      }
      ++o.moment_step;
    } else {
      const bool decoupled = c.kind == RNNLAB_OPTIMIZER_ADAMW;
      const double b1 = c.beta1, b2 = c.beta2, wd = c.weight_decay, eps = c.eps;
      const double k = static_cast<double>(o.moment_step + 1);
      const double bc1 = 1.0 - std::pow(b1, k), bc2 = 1.0 - std::pow(b2, k);
      const double step_size = lr / bc1, bc2_sqrt = std::sqrt(bc2);
      const double decay = 1.0 - lr * wd;
      float *m1 = o.m1.data(), *m2 = o.m2.data();
      for (size_t i = 0; i < n; ++i) {
        if (!tr[i]) continue;
        double pi = static_cast<double>(p[i]);
        double gi = static_cast<double>(g[i]);
        if (decoupled) pi *= decay;
        else if (wd != 0) gi += wd * pi;
        m1[i] = static_cast<float>(b1 * static_cast<double>(m1[i]) + (1.0 - b1) * gi);
        m2[i] = static_cast<float>(b2 * static_cast<double>(m2[i]) + (1.0 - b2) * gi * gi);
        const double denom = std::sqrt(static_cast<double>(m2[i])) / bc2_sqrt + eps;
        pi -= step_size * static_cast<double>(m1[i]) / denom;
        p[i] = static_cast<float>(pi);
      }
      ++o.moment_step;
    }

    // 3. Zero the gradients, advance the counters and the schedule.
    std::fill(model->grads.begin(), model->grads.end(), 0.0f);
    ++o.step;
    o.last_lr = lr;
    o.last_clipped = clipped;
    o.last_guard = guard;
    if (c.schedule_period > 0 && ++o.sched_sub >= c.schedule_period) {
      o.sched_sub = 0;
      ++o.sched_pos;
    }
    model->grad_norm = norm;
    model->grad_norm_post_clip = post;
    return RNNLAB_OK;
  });
}

}  // extern "C"
