// The C entry points of the model: validate everything, then act. A call that fails leaves the
// model exactly as it was.
#include <rnnlab/rnnlab.h>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstring>
#include <limits>

#include "common/head.h"
#include "core/cuda_plugin.h"
#include "core/error.h"
#include "core/init.h"
#include "core/isa.h"
#include "core/memory.h"
#include "core/model.h"

using namespace rnnlab;

namespace {

// The smallest struct_size each versioned struct has ever had (fields are only appended).
// rnnlab_config: 0.1 ended at max_tape; 0.2 appended denormals and cpu_isa.
constexpr uint32_t kConfigMinSize = offsetof(rnnlab_config, denormals);
constexpr uint32_t kTargetsMinSize = sizeof(rnnlab_targets);

// The message names the argument as the header does: the handle is `model` there, `m` here.
constexpr const char *public_arg_name(const char *p) { return p[0] == 'm' && p[1] == '\0' ? "model" : p; }
#define CHECK_NULL(p)                                                             \
  do {                                                                                \
    if (!(p)) raise(RNNLAB_E_NULL, "argument '%s' is NULL", public_arg_name(#p));    \
  } while (0)

// Enumerations arrive from C, where any int value fits. Reading one that is outside the enum's range
// as the C++ enum type is undefined behaviour (UBSan: -fsanitize=enum), so enum arguments and fields
// are range-checked through their int representation before they are used as enums.
template <class E>
int raw_enum(const E &e) {
  static_assert(sizeof(E) == sizeof(int), "C enums are int-sized");
  int v;
  std::memcpy(&v, &e, sizeof v);
  return v;
}

// n = a * b * c with overflow checks (sizes are validated positive first).
size_t product(int64_t a, int64_t b, int64_t c = 1) {
  const long double p = static_cast<long double>(a) * b * c;
  if (p > static_cast<long double>(std::numeric_limits<size_t>::max() / 8))
    raise(RNNLAB_E_INVALID_ARGUMENT, "size %lld x %lld x %lld is too large", static_cast<long long>(a),
          static_cast<long long>(b), static_cast<long long>(c));
  return static_cast<size_t>(a) * static_cast<size_t>(b) * static_cast<size_t>(c);
}

void check_count(const char *what, size_t got, size_t want) {
  if (got != want)
    raise(RNNLAB_E_SIZE_MISMATCH, "%s has %zu elements, expected %zu", what, got, want);
}

// x is time-major [T][B][inner]: the first non-finite value's index.
void check_finite(const char *what, const float *v, size_t n, int B, int inner) {
  for (size_t k = 0; k < n; ++k) {
    if (!std::isfinite(v[k])) {
      const size_t per_t = static_cast<size_t>(B) * inner;
      raise(RNNLAB_E_NONFINITE, "%s[t=%zu][b=%zu][%zu] is %s", what, k / per_t, (k % per_t) / inner, k % inner,
            std::isnan(v[k]) ? "NaN" : "Inf");
    }
  }
}

const char *cell_name(rnnlab_cell c) {
  switch (c) {
    case RNNLAB_CELL_GRU: return "gru";
    case RNNLAB_CELL_GRU_RESET_BEFORE: return "gru_reset_before";
    case RNNLAB_CELL_RNN_TANH: return "rnn_tanh";
    case RNNLAB_CELL_RNN_SIGMOID: return "rnn_sigmoid";
    case RNNLAB_CELL_RNN_RELU: return "rnn_relu";
    case RNNLAB_CELL_RNN_LINEAR: return "rnn_linear";
  }
  return "?";
}

// Reads a caller's config of any known size into a full one (missing trailing fields: defaults).
rnnlab_config read_config(const rnnlab_config *cfg) {
  if (cfg->struct_size < kConfigMinSize || cfg->struct_size > sizeof(rnnlab_config) || cfg->struct_size % 4 != 0)
    raise(RNNLAB_E_VERSION, "config.struct_size is %u; this library knows %u (set it with RNNLAB_CONFIG_INIT)",
          cfg->struct_size, static_cast<unsigned>(sizeof(rnnlab_config)));
  rnnlab_config c = RNNLAB_CONFIG_INIT;
  std::memcpy(&c, cfg, cfg->struct_size);
  c.struct_size = sizeof(rnnlab_config);
  return c;
}

void validate_config(const rnnlab_config &c) {
  if (raw_enum(c.cell) < RNNLAB_CELL_GRU || raw_enum(c.cell) > RNNLAB_CELL_RNN_LINEAR)
    raise(RNNLAB_E_INVALID_ARGUMENT, "config.cell = %d is not a known rnnlab_cell", raw_enum(c.cell));
  if (c.input_size < 1) raise(RNNLAB_E_INVALID_ARGUMENT, "config.input_size = %d; must be >= 1", c.input_size);
  if (c.hidden_size < 1) raise(RNNLAB_E_INVALID_ARGUMENT, "config.hidden_size = %d; must be >= 1", c.hidden_size);
  if (raw_enum(c.head) < RNNLAB_HEAD_NONE || raw_enum(c.head) > RNNLAB_HEAD_LAST_LINEAR)
    raise(RNNLAB_E_INVALID_ARGUMENT, "config.head = %d is not a known rnnlab_head", raw_enum(c.head));
  if (c.head != RNNLAB_HEAD_NONE && c.output_size < 1)
    raise(RNNLAB_E_INVALID_CONFIG, "config.output_size = %d; a head needs output_size >= 1", c.output_size);
  if (c.head == RNNLAB_HEAD_NONE && c.output_size != 0)
    raise(RNNLAB_E_INVALID_CONFIG, "config.output_size = %d but head is none (outputs are h); set it to 0",
          c.output_size);
  if (raw_enum(c.backend) < RNNLAB_BACKEND_AUTO || raw_enum(c.backend) > RNNLAB_BACKEND_CUDA)
    raise(RNNLAB_E_INVALID_ARGUMENT, "config.backend = %d is not a known rnnlab_backend", raw_enum(c.backend));
  if (raw_enum(c.bias_mode) != RNNLAB_BIAS_DOUBLE && raw_enum(c.bias_mode) != RNNLAB_BIAS_SINGLE)
    raise(RNNLAB_E_INVALID_ARGUMENT, "config.bias_mode = %d is not a known rnnlab_bias_mode", raw_enum(c.bias_mode));
  const bool gru = c.cell == RNNLAB_CELL_GRU || c.cell == RNNLAB_CELL_GRU_RESET_BEFORE;
  const uint32_t all = RNNLAB_GATE_R | RNNLAB_GATE_Z | RNNLAB_GATE_N;
  const uint32_t allowed = gru ? all : RNNLAB_GATE_N;
  auto check_mask = [&](const char *field, uint32_t mask) {
    if (mask & ~all) raise(RNNLAB_E_INVALID_ARGUMENT, "config.%s = 0x%x has bits beyond RNNLAB_GATE_R|Z|N", field, mask);
    if (mask & ~allowed)
      raise(RNNLAB_E_INVALID_CONFIG, "config.%s = 0x%x names the %s gate, which a %s cell does not have (its one gate is RNNLAB_GATE_N)",
            field, mask, (mask & RNNLAB_GATE_Z) ? "z" : "r", cell_name(c.cell));
  };
  check_mask("frozen_bias_mask", c.frozen_bias_mask);
  for (int g = 0; g < 3; ++g)
    if (!std::isfinite(c.frozen_bias_value[g]))
      raise(RNNLAB_E_NONFINITE, "config.frozen_bias_value[%d] is not finite", g);
  if (raw_enum(c.init) < RNNLAB_INIT_PYTORCH || raw_enum(c.init) > RNNLAB_INIT_CS728_GRU)
    raise(RNNLAB_E_INVALID_ARGUMENT, "config.init = %d is not a known rnnlab_init", raw_enum(c.init));
  if (c.init == RNNLAB_INIT_CS728_GRU && !gru)
    raise(RNNLAB_E_INVALID_CONFIG, "config.init = cs728_gru needs a GRU cell, not %s", cell_name(c.cell));
  if (raw_enum(c.bias_init) < RNNLAB_BIAS_INIT_SCHEME || raw_enum(c.bias_init) > RNNLAB_BIAS_INIT_CHRONO)
    raise(RNNLAB_E_INVALID_ARGUMENT, "config.bias_init = %d is not a known rnnlab_bias_init", raw_enum(c.bias_init));
  if (c.bias_init == RNNLAB_BIAS_INIT_CONSTANT) {
    check_mask("bias_init_mask", c.bias_init_mask);
    for (int g = 0; g < 3; ++g)
      if (!std::isfinite(c.bias_init_value[g]))
        raise(RNNLAB_E_NONFINITE, "config.bias_init_value[%d] is not finite", g);
    if (c.bias_init_mask & c.frozen_bias_mask)
      raise(RNNLAB_E_INVALID_CONFIG,
            "config.bias_init_mask 0x%x and frozen_bias_mask 0x%x share a gate: a frozen bias is held at "
            "frozen_bias_value and cannot also be initialised",
            c.bias_init_mask, c.frozen_bias_mask);
  } else if (c.bias_init_mask != 0) {
    raise(RNNLAB_E_INVALID_CONFIG, "config.bias_init_mask = 0x%x but bias_init is not RNNLAB_BIAS_INIT_CONSTANT",
          c.bias_init_mask);
  }
  if (c.bias_init == RNNLAB_BIAS_INIT_CHRONO) {
    if (!gru) raise(RNNLAB_E_INVALID_CONFIG, "config.bias_init = chrono needs a GRU cell, not %s", cell_name(c.cell));
    if (c.chrono_tmax < 3) raise(RNNLAB_E_INVALID_ARGUMENT, "config.chrono_tmax = %d; chrono needs >= 3", c.chrono_tmax);
    if (c.frozen_bias_mask & (RNNLAB_GATE_Z | RNNLAB_GATE_R))
      raise(RNNLAB_E_INVALID_CONFIG, "config.bias_init = chrono sets b_z and b_r, but frozen_bias_mask 0x%x freezes one",
            c.frozen_bias_mask);
  }
  if (c.threads < 1) raise(RNNLAB_E_INVALID_ARGUMENT, "config.threads = %d; must be >= 1", c.threads);
  if (raw_enum(c.diag_level) < RNNLAB_DIAG_OFF || raw_enum(c.diag_level) > RNNLAB_DIAG_FULL)
    raise(RNNLAB_E_INVALID_ARGUMENT, "config.diag_level = %d is not a known rnnlab_diag_level", raw_enum(c.diag_level));
  if (!(c.sat_thresh > 0.0f && c.sat_thresh <= 0.5f))
    raise(RNNLAB_E_INVALID_ARGUMENT, "config.sat_thresh = %g; must be in (0, 0.5]", static_cast<double>(c.sat_thresh));
  if (!(c.bound >= 0.0 && std::isfinite(c.bound)))
    raise(RNNLAB_E_INVALID_ARGUMENT, "config.bound = %g; must be finite and >= 0", c.bound);
  if (c.max_batch < 0) raise(RNNLAB_E_INVALID_ARGUMENT, "config.max_batch = %d; must be >= 0", c.max_batch);
  if (c.max_tape < 0) raise(RNNLAB_E_INVALID_ARGUMENT, "config.max_tape = %d; must be >= 0", c.max_tape);
  if (raw_enum(c.denormals) < RNNLAB_DENORMALS_FLUSH || raw_enum(c.denormals) > RNNLAB_DENORMALS_KEEP)
    raise(RNNLAB_E_INVALID_ARGUMENT, "config.denormals = %d is not a known rnnlab_denormals", raw_enum(c.denormals));
  if (raw_enum(c.cpu_isa) < RNNLAB_ISA_AUTO || raw_enum(c.cpu_isa) > RNNLAB_ISA_AVX512)
    raise(RNNLAB_E_INVALID_ARGUMENT, "config.cpu_isa = %d is not a known rnnlab_cpu_isa", raw_enum(c.cpu_isa));
  const rnnlab_cpu_isa best = rnnlab_cpu_isa_best();
  if (c.cpu_isa > best)
    raise(RNNLAB_E_UNSUPPORTED, "config.cpu_isa = %s, but the best this processor allows is %s%s",
          rnnlab_cpu_isa_name(c.cpu_isa), rnnlab_cpu_isa_name(best),
          cpu_isa_capped_by_env() ? " (capped by the environment variable RNNLAB_CPU_ISA)" : "");
}

ModelSpec spec_of(const rnnlab_config &c) {
  ModelSpec s;
  s.cell = c.cell;
  s.I = c.input_size;
  s.H = c.hidden_size;
  s.O = c.output_size;
  s.head = c.head;
  s.bias_mode = c.bias_mode;
  s.frozen_mask = c.frozen_bias_mask;
  for (int g = 0; g < 3; ++g) s.frozen_value[g] = c.frozen_bias_value[g];
  return s;
}

CpuOptions cpu_options(const rnnlab_config &c) {
  CpuOptions o;
  o.threads = c.threads;
  o.denormals = c.denormals;
  o.isa = c.cpu_isa == RNNLAB_ISA_AUTO ? rnnlab_cpu_isa_best() : c.cpu_isa;
  return o;
}

std::unique_ptr<Backend> make_backend(const rnnlab_config &c, const ModelSpec &s, rnnlab_backend *resolved) {
  switch (c.backend) {
    case RNNLAB_BACKEND_REFERENCE:
      *resolved = RNNLAB_BACKEND_REFERENCE;
      return make_reference_backend(s);
    case RNNLAB_BACKEND_CPU: {
      auto b = make_cpu_backend(s, cpu_options(c));
      if (!b) raise(RNNLAB_E_NO_DEVICE, "config.backend = cpu, but this rnnlab was built without oneDNN");
      *resolved = RNNLAB_BACKEND_CPU;
      return b;
    }
    case RNNLAB_BACKEND_CUDA: {
      std::string why;
      auto b = make_cuda_backend(s, &why);
      if (!b) raise(RNNLAB_E_NO_DEVICE, "config.backend = cuda, but %s", why.c_str());
      *resolved = RNNLAB_BACKEND_CUDA;
      return b;
    }
    case RNNLAB_BACKEND_AUTO:
    default: {
      // A usable GPU first; asking the driver first keeps the CUDA module unloaded without one.
      if (cuda_device_usable(nullptr)) {
        if (auto g = make_cuda_backend(s, nullptr)) {
          *resolved = RNNLAB_BACKEND_CUDA;
          return g;
        }
      }
      auto b = make_cpu_backend(s, cpu_options(c));
      if (b) {
        *resolved = RNNLAB_BACKEND_CPU;
        return b;
      }
      *resolved = RNNLAB_BACKEND_REFERENCE;
      return make_reference_backend(s);
    }
  }
}

// Clears the recorded tape and the fixed batch; h goes back to h0 at the next step.
void restart_sequence(rnnlab_model *m) {
  m->batch = m->h0_batch;
  if (m->batch > 0) m->backend->reset(m->batch, m->h0.data());
  else m->backend->reset(1, nullptr);
}

void check_targets(const rnnlab_model *m, const rnnlab_targets *tg, int steps, int B, TargetsView *view) {
  if (tg->struct_size < kTargetsMinSize || tg->struct_size > sizeof(rnnlab_targets))
    raise(RNNLAB_E_VERSION, "targets.struct_size is %u; this library knows %u (use RNNLAB_TARGETS_INIT)",
          tg->struct_size, static_cast<unsigned>(sizeof(rnnlab_targets)));
  const int set = (tg->classes != nullptr) + (tg->values != nullptr) + (tg->dy != nullptr);
  if (set != 1)
    raise(RNNLAB_E_INVALID_ARGUMENT, "targets: exactly one of classes, values, dy must be set (%d are)", set);
  const ModelSpec &s = m->spec;
  const int W = s.out_width();
  if (tg->dy) {
    check_count("targets.dy", tg->count, product(steps, B, W));
    check_finite("targets.dy", tg->dy, tg->count, B, W);
  } else if (tg->classes) {
    if (s.head != RNNLAB_HEAD_LAST_SOFTMAX && s.head != RNNLAB_HEAD_EVERY_SOFTMAX)
      raise(RNNLAB_E_INVALID_ARGUMENT, "targets.classes given, but the head is not a softmax head (use %s)",
            s.head == RNNLAB_HEAD_NONE ? "dy" : "values or dy");
    const size_t want = s.head == RNNLAB_HEAD_EVERY_SOFTMAX ? product(steps, B) : static_cast<size_t>(B);
    check_count("targets.classes", tg->count, want);
    for (size_t k = 0; k < tg->count; ++k)
      if (tg->classes[k] < 0 || tg->classes[k] >= s.O)
        raise(RNNLAB_E_INVALID_ARGUMENT, "targets.classes[%zu] = %d is outside [0, %d)", k, tg->classes[k], s.O);
  } else {
    if (s.head != RNNLAB_HEAD_LAST_LINEAR)
      raise(RNNLAB_E_INVALID_ARGUMENT, "targets.values given, but the head is not last-linear (use %s)",
            s.head == RNNLAB_HEAD_NONE ? "dy" : "classes or dy");
    check_count("targets.values", tg->count, product(B, s.O));
    for (size_t k = 0; k < tg->count; ++k)
      if (!std::isfinite(tg->values[k]))
        raise(RNNLAB_E_NONFINITE, "targets.values[b=%zu][%zu] is not finite", k / s.O, k % s.O);
  }
  view->classes = tg->classes;
  view->values = tg->values;
  view->dy = tg->dy;
}

}  // namespace

namespace rnnlab {
double trainable_norm(const Layout &L, const float *g, size_t offset, size_t count) {
  double s = 0;
  for (size_t i = offset; i < offset + count; ++i)
    if (L.trainable[i]) s += static_cast<double>(g[i]) * g[i];
  return std::sqrt(s);
}
}  // namespace rnnlab

extern "C" {

RNNLAB_API const char *rnnlab_version(void) {
#define RNNLAB_STR2(x) #x
#define RNNLAB_STR(x) RNNLAB_STR2(x)
  return RNNLAB_STR(RNNLAB_VERSION_MAJOR) "." RNNLAB_STR(RNNLAB_VERSION_MINOR) "." RNNLAB_STR(RNNLAB_VERSION_PATCH);
}
RNNLAB_API uint32_t rnnlab_version_number(void) { return RNNLAB_VERSION_NUMBER; }

RNNLAB_API const char *rnnlab_status_string(rnnlab_status s) {
  switch (raw_enum(s)) {
    case RNNLAB_OK: return "ok";
    case RNNLAB_E_NULL: return "a required pointer argument was NULL";
    case RNNLAB_E_INVALID_ARGUMENT: return "an argument is out of its range";
    case RNNLAB_E_SIZE_MISMATCH: return "a buffer's element count does not match";
    case RNNLAB_E_INVALID_CONFIG: return "the configuration contradicts itself";
    case RNNLAB_E_VERSION: return "unknown struct_size (header and library versions differ)";
    case RNNLAB_E_UNSUPPORTED: return "not supported by this backend or build";
    case RNNLAB_E_NO_DEVICE: return "the requested backend or device is not available";
    case RNNLAB_E_STATE: return "the call is not valid in the model's current state";
    case RNNLAB_E_NONFINITE: return "a NaN or Inf value was given";
    case RNNLAB_E_NOT_FOUND: return "no such tensor or diagnostic";
    case RNNLAB_E_NO_MEMORY: return "out of memory";
    case RNNLAB_E_IO: return "a file operation failed";
    case RNNLAB_E_CORRUPT: return "the file is truncated or corrupt";
    case RNNLAB_E_FORMAT: return "the file has another format version, endianness or shape";
    case RNNLAB_E_INTERNAL: return "internal error";
    case RNNLAB_E_UNAVAILABLE: return "the diagnostic was not computed at the current level";
    case RNNLAB_E_FROZEN: return "a frozen or held entry was given another value";
  }
  return "unknown status";
}

RNNLAB_API rnnlab_status rnnlab_create(rnnlab_model **out, const rnnlab_config *cfg) {
  return guarded("rnnlab_create", [&] {
    CHECK_NULL(out);
    CHECK_NULL(cfg);
    rnnlab_config c = read_config(cfg);
    validate_config(c);
    if (c.cpu_isa == RNNLAB_ISA_AUTO) c.cpu_isa = rnnlab_cpu_isa_best();
    // Refuse a model the machine cannot hold before a byte of it is allocated (core/memory.h).
    const ModelSpec want = spec_of(c);
    check_memory(create_bytes(want), "a model of hidden_size %d, input_size %d (%llu parameters)", c.hidden_size,
                 c.input_size, static_cast<unsigned long long>(param_count(want)));
    auto m = std::make_unique<rnnlab_model>();
    m->spec = want;
    m->layout = make_layout(m->spec);
    rnnlab_backend resolved = RNNLAB_BACKEND_REFERENCE;
    m->backend = make_backend(c, m->spec, &resolved);
    c.backend = resolved;
    m->cfg = c;
    InitSpec in;
    in.init = c.init;
    in.bias_init = c.bias_init;
    in.bias_init_mask = c.bias_init_mask;
    for (int g = 0; g < 3; ++g) in.bias_init_value[g] = c.bias_init_value[g];
    in.chrono_tmax = c.chrono_tmax;
    in.seed = c.seed;
    const std::vector<double> p = initialize(m->spec, m->layout, in);
    m->params.assign(p.begin(), p.end());
    m->grads.assign(m->layout.total, 0.0f);
    m->diag.level = c.diag_level;
    m->diag.sat_thresh = c.sat_thresh;
    m->diag.bound = c.bound;
    m->tape_diag = m->diag;
    restart_sequence(m.get());
    *out = m.release();
    return RNNLAB_OK;
  });
}

RNNLAB_API void rnnlab_destroy(rnnlab_model *model) { delete model; }

RNNLAB_API rnnlab_status rnnlab_get_config(rnnlab_config *out, const rnnlab_model *m) {
  return guarded("rnnlab_get_config", [&] {
    CHECK_NULL(out);
    CHECK_NULL(m);
    if (out->struct_size < kConfigMinSize || out->struct_size > sizeof(rnnlab_config) || out->struct_size % 4 != 0)
      raise(RNNLAB_E_VERSION, "out->struct_size is %u; this library knows %u", out->struct_size,
            static_cast<unsigned>(sizeof(rnnlab_config)));
    rnnlab_config c = m->cfg;
    c.diag_level = m->diag.level;
    c.sat_thresh = static_cast<float>(m->diag.sat_thresh);
    c.bound = m->diag.bound;
    const uint32_t n = out->struct_size;
    std::memcpy(out, &c, n);
    out->struct_size = n;
    return RNNLAB_OK;
  });
}

RNNLAB_API rnnlab_status rnnlab_reset(rnnlab_model *m) {
  return guarded("rnnlab_reset", [&] {
    CHECK_NULL(m);
    restart_sequence(m);
    return RNNLAB_OK;
  });
}

RNNLAB_API rnnlab_status rnnlab_set_h0(rnnlab_model *m, const float *h0, size_t count, int32_t batch) {
  return guarded("rnnlab_set_h0", [&] {
    CHECK_NULL(m);
    if (!h0) {
      if (count != 0) raise(RNNLAB_E_NULL, "argument 'h0' is NULL but count is %zu", count);
      std::vector<float>().swap(m->h0);
      m->h0_batch = 0;
      restart_sequence(m);
      return RNNLAB_OK;
    }
    if (batch < 1) raise(RNNLAB_E_INVALID_ARGUMENT, "batch = %d; must be >= 1", batch);
    if (m->cfg.max_batch > 0 && batch > m->cfg.max_batch)
      raise(RNNLAB_E_INVALID_ARGUMENT, "batch = %d exceeds config.max_batch = %d", batch, m->cfg.max_batch);
    check_count("h0", count, product(batch, m->spec.H));
    check_finite("h0", h0, count, batch, m->spec.H);
    std::vector<float> copy(h0, h0 + count);
    m->h0.swap(copy);
    m->h0_batch = batch;
    restart_sequence(m);
    return RNNLAB_OK;
  });
}

RNNLAB_API rnnlab_status rnnlab_get_hidden(float *h, size_t count, const rnnlab_model *m) {
  return guarded("rnnlab_get_hidden", [&] {
    CHECK_NULL(h);
    CHECK_NULL(m);
    if (m->batch == 0) raise(RNNLAB_E_STATE, "no sequence has started (no step since create/reset, no h0 set)");
    check_count("h", count, product(m->batch, m->spec.H));
    m->backend->hidden(h);
    return RNNLAB_OK;
  });
}

RNNLAB_API rnnlab_status rnnlab_set_training(rnnlab_model *m, int training) {
  return guarded("rnnlab_set_training", [&] {
    CHECK_NULL(m);
    m->training = training != 0;
    if (!m->training) m->backend->clear_tape();
    return RNNLAB_OK;
  });
}

RNNLAB_API rnnlab_status rnnlab_step(float *y, size_t y_count, rnnlab_model *m, const float *x, size_t x_count,
                                     int32_t T, int32_t B) {
  return guarded("rnnlab_step", [&] {
    CHECK_NULL(m);
    CHECK_NULL(x);
    if (T < 1) raise(RNNLAB_E_INVALID_ARGUMENT, "T = %d; must be >= 1", T);
    if (B < 1) raise(RNNLAB_E_INVALID_ARGUMENT, "B = %d; must be >= 1", B);
    if (m->cfg.max_batch > 0 && B > m->cfg.max_batch)
      raise(RNNLAB_E_INVALID_ARGUMENT, "B = %d exceeds config.max_batch = %d", B, m->cfg.max_batch);
    const int tape = m->training ? m->backend->tape_steps() : 0;
    if (m->training && m->cfg.max_tape > 0 && static_cast<int64_t>(tape) + T > m->cfg.max_tape)
      raise(RNNLAB_E_INVALID_ARGUMENT, "T = %d would make the tape %lld steps, over config.max_tape = %d", T,
            static_cast<long long>(tape) + T, m->cfg.max_tape);
    if (m->batch != 0 && B != m->batch)
      raise(RNNLAB_E_STATE, "B = %d, but the current sequence has B = %d (B is fixed until rnnlab_reset)", B,
            m->batch);
    const int W = m->spec.out_width();
    // The tape this call would leave (and the outputs), in 64 bits, against the memory limit, before
    // x is read or anything is reserved.
    check_memory(add_sat(tape_bytes(m->spec, static_cast<uint64_t>(tape) + static_cast<uint64_t>(T),
                                    static_cast<uint64_t>(B)),
                         mul_sat(mul_sat(static_cast<uint64_t>(T), static_cast<uint64_t>(B)), 2 * sizeof(float) * W)),
                 "a tape of %lld steps of %d sequences", static_cast<long long>(tape) + T, B);
    check_count("x", x_count, product(T, B, m->spec.I));
    const size_t y_want = product(T, B, W);
    if (y) check_count("y", y_count, y_want);
    else if (y_count != 0) raise(RNNLAB_E_NULL, "argument 'y' is NULL but y_count is %zu", y_count);
    check_finite("x", x, x_count, B, m->spec.I);

    // Reserve before changing anything. The backend's step throws (out of memory) before it changes its
    // own state; then the two fields set for it here are put back, so the sequence is as it was.
    // The outputs go to a model-owned buffer that keeps its capacity (it trades places with last_y),
    // so a steady state of calls allocates nothing.
    std::vector<float> &out = m->y_scratch;
    if (out.capacity() < y_want) out.reserve(y_want);
    out.resize(y_want);
    const int old_batch = m->batch;
    const DiagSettings old_tape_diag = m->tape_diag;
    if (m->batch == 0) {
      m->backend->reset(B, nullptr);
      m->batch = B;
    }
    if (tape == 0) m->tape_diag = m->diag;
    try {
      m->backend->step(m->params.data(), x, T, out.data(), m->training, m->tape_diag);
    } catch (...) {
      m->batch = old_batch;
      m->tape_diag = old_tape_diag;
      throw;
    }
    if (y) std::copy(out.begin(), out.begin() + static_cast<std::ptrdiff_t>(y_want), y);
    if (m->spec.has_head()) {
      m->last_y.swap(out);
      m->last_T = T;
      m->last_B = B;
    }
    return RNNLAB_OK;
  });
}

RNNLAB_API rnnlab_status rnnlab_backward(rnnlab_model *m, const rnnlab_targets *targets) {
  return guarded("rnnlab_backward", [&] {
    CHECK_NULL(m);
    CHECK_NULL(targets);
    if (!m->training) raise(RNNLAB_E_STATE, "the model is in eval mode: nothing was recorded");
    const int steps = m->backend->tape_steps();
    if (steps == 0) raise(RNNLAB_E_STATE, "no recorded step to back-propagate through (step first)");
    TargetsView view;
    check_targets(m, targets, steps, m->batch, &view);

    m->scratch_grads.assign(m->layout.total, 0.0f);
    // The pass's results go to a spare PassStats that trades places with m->stats on success, so
    // their trace vectors keep their capacity from pass to pass.
    PassStats &st = m->spare_stats;
    DiagSettings ds = m->tape_diag;
    optim_prepare_pass(m, &ds);  // alpha > 0: ask for dOmega/dW_hh (core/optim.h)
    m->backend->backward(m->params.data(), m->scratch_grads.data(), view, ds, &st);
    optim_add_pass_terms(m, st, m->scratch_grads.data());  // + alpha * dOmega/dW_hh, before grad_norm
    // Commit: nothing below can fail.
    zero_held(m->layout, m->scratch_grads.data());
    for (size_t i = 0; i < m->layout.total; ++i) m->grads[i] += m->scratch_grads[i];
    std::swap(m->stats, st);
    m->have_pass = true;
    m->grad_norm = trainable_norm(m->layout, m->grads.data(), 0, m->layout.total);
    m->grad_norm_post_clip = m->grad_norm;
    m->block_norms.clear();
    if (m->tape_diag.level >= RNNLAB_DIAG_SUMMARY)
      for (const auto &b : m->layout.blocks)
        m->block_norms.push_back(trainable_norm(m->layout, m->grads.data(), b.offset, b.count));
    return RNNLAB_OK;
  });
}

RNNLAB_API rnnlab_status rnnlab_loss(double *loss, int32_t *n_wrong, const rnnlab_model *m,
                                     const rnnlab_targets *targets, float err_abs) {
  return guarded("rnnlab_loss", [&] {
    CHECK_NULL(loss);
    CHECK_NULL(m);
    CHECK_NULL(targets);
    if (!m->spec.has_head()) raise(RNNLAB_E_UNSUPPORTED, "the model has no head, so no loss of its own");
    if (m->last_T == 0) raise(RNNLAB_E_STATE, "no rnnlab_step has run yet");
    if (!(err_abs >= 0.0f)) raise(RNNLAB_E_INVALID_ARGUMENT, "err_abs = %g; must be >= 0", static_cast<double>(err_abs));
    TargetsView view;
    check_targets(m, targets, m->last_T, m->last_B, &view);
    if (view.dy) raise(RNNLAB_E_INVALID_ARGUMENT, "targets.dy has no loss; give classes or values");
    const int O = m->spec.O, T = m->last_T, B = m->last_B;
    std::vector<const float *> ys(T);
    for (int t = 0; t < T; ++t) ys[t] = m->last_y.data() + static_cast<size_t>(t) * B * O;
    int32_t wrong = 0;
    *loss = m->backend->loss(m->spec, B, T, ys.data(), view.classes, view.values, &wrong, err_abs, m->cfg.threads);
    if (n_wrong) *n_wrong = wrong;
    return RNNLAB_OK;
  });
}

RNNLAB_API rnnlab_status rnnlab_get_input_grad(float *dx, size_t count, const rnnlab_model *m) {
  return guarded("rnnlab_get_input_grad", [&] {
    CHECK_NULL(dx);
    CHECK_NULL(m);
    if (!m->have_pass || m->backend->grad_steps() == 0) raise(RNNLAB_E_STATE, "no backward has run since the last reset");
    check_count("dx", count, product(m->backend->grad_steps(), m->batch, m->spec.I));
    m->backend->input_grad(dx);
    return RNNLAB_OK;
  });
}

RNNLAB_API rnnlab_status rnnlab_get_h0_grad(float *dh0, size_t count, const rnnlab_model *m) {
  return guarded("rnnlab_get_h0_grad", [&] {
    CHECK_NULL(dh0);
    CHECK_NULL(m);
    if (!m->have_pass || m->backend->grad_steps() == 0) raise(RNNLAB_E_STATE, "no backward has run since the last reset");
    check_count("dh0", count, product(m->batch, m->spec.H));
    m->backend->h0_grad(dh0);
    return RNNLAB_OK;
  });
}

// ---- parameters ---------------------------------------------------------------------------------

RNNLAB_API rnnlab_status rnnlab_param_count(size_t *total, size_t *trainable, const rnnlab_model *m) {
  return guarded("rnnlab_param_count", [&] {
    CHECK_NULL(m);
    if (!total && !trainable) raise(RNNLAB_E_NULL, "arguments 'total' and 'trainable' are both NULL");
    if (total) *total = m->layout.total;
    if (trainable) *trainable = m->layout.trainable_total;
    return RNNLAB_OK;
  });
}

RNNLAB_API rnnlab_status rnnlab_tensor_count(int32_t *n, const rnnlab_model *m) {
  return guarded("rnnlab_tensor_count", [&] {
    CHECK_NULL(n);
    CHECK_NULL(m);
    *n = static_cast<int32_t>(m->layout.tensors.size());
    return RNNLAB_OK;
  });
}

static void fill_info(rnnlab_tensor_info *out, const TensorDesc &t) {
  out->name = t.name.c_str();
  out->rows = t.rows;
  out->cols = t.cols;
  out->offset = t.offset;
  out->count = t.count;
  out->trainable = t.trainable;
}

static const TensorDesc &tensor_named(const rnnlab_model *m, const char *name) {
  if (!name) raise(RNNLAB_E_NULL, "argument 'name' is NULL");
  const TensorDesc *t = find_tensor(m->layout, name);
  if (!t) {
    std::string known;
    for (const auto &d : m->layout.tensors) known += (known.empty() ? "" : ", ") + d.name;
    raise(RNNLAB_E_NOT_FOUND, "no tensor named '%s' (this model has %s)", name, known.c_str());
  }
  return *t;
}

RNNLAB_API rnnlab_status rnnlab_tensor_info_at(rnnlab_tensor_info *out, const rnnlab_model *m, int32_t index) {
  return guarded("rnnlab_tensor_info_at", [&] {
    CHECK_NULL(out);
    CHECK_NULL(m);
    if (index < 0 || index >= static_cast<int32_t>(m->layout.tensors.size()))
      raise(RNNLAB_E_INVALID_ARGUMENT, "index = %d; the model has %zu tensors", index, m->layout.tensors.size());
    fill_info(out, m->layout.tensors[index]);
    return RNNLAB_OK;
  });
}

RNNLAB_API rnnlab_status rnnlab_tensor_info_by_name(rnnlab_tensor_info *out, const rnnlab_model *m, const char *name) {
  return guarded("rnnlab_tensor_info_by_name", [&] {
    CHECK_NULL(out);
    CHECK_NULL(m);
    fill_info(out, tensor_named(m, name));
    return RNNLAB_OK;
  });
}

RNNLAB_API rnnlab_status rnnlab_get_tensor(float *out, size_t count, const rnnlab_model *m, const char *name) {
  return guarded("rnnlab_get_tensor", [&] {
    CHECK_NULL(out);
    CHECK_NULL(m);
    const TensorDesc &t = tensor_named(m, name);
    check_count(t.name.c_str(), count, t.count);
    std::copy(m->params.begin() + t.offset, m->params.begin() + t.offset + t.count, out);
    return RNNLAB_OK;
  });
}

// Values for [offset, offset + count) must be finite and equal the held value where held.
static void check_param_values(const rnnlab_model *m, const char *what, const float *v, size_t offset, size_t count) {
  for (size_t k = 0; k < count; ++k) {
    if (!std::isfinite(v[k])) raise(RNNLAB_E_NONFINITE, "%s[%zu] is not finite", what, k);
    const size_t i = offset + k;
    if (!m->layout.trainable[i] && v[k] != m->layout.held[i])
      raise(RNNLAB_E_FROZEN, "%s[%zu] = %g, but that entry is held at %g (a frozen bias or a single-mode bias_hh)",
            what, k, static_cast<double>(v[k]), static_cast<double>(m->layout.held[i]));
  }
}

RNNLAB_API rnnlab_status rnnlab_set_tensor(rnnlab_model *m, const char *name, const float *values, size_t count) {
  return guarded("rnnlab_set_tensor", [&] {
    CHECK_NULL(m);
    CHECK_NULL(values);
    const TensorDesc &t = tensor_named(m, name);
    check_count(t.name.c_str(), count, t.count);
    check_param_values(m, t.name.c_str(), values, t.offset, t.count);
    std::copy(values, values + count, m->params.begin() + t.offset);
    return RNNLAB_OK;
  });
}

RNNLAB_API rnnlab_status rnnlab_get_grad(float *out, size_t count, const rnnlab_model *m, const char *name) {
  return guarded("rnnlab_get_grad", [&] {
    CHECK_NULL(out);
    CHECK_NULL(m);
    const TensorDesc &t = tensor_named(m, name);
    check_count(t.name.c_str(), count, t.count);
    std::copy(m->grads.begin() + t.offset, m->grads.begin() + t.offset + t.count, out);
    return RNNLAB_OK;
  });
}

RNNLAB_API rnnlab_status rnnlab_get_params(float *out, size_t count, const rnnlab_model *m) {
  return guarded("rnnlab_get_params", [&] {
    CHECK_NULL(out);
    CHECK_NULL(m);
    check_count("params", count, m->layout.total);
    std::copy(m->params.begin(), m->params.end(), out);
    return RNNLAB_OK;
  });
}

RNNLAB_API rnnlab_status rnnlab_set_params(rnnlab_model *m, const float *values, size_t count) {
  return guarded("rnnlab_set_params", [&] {
    CHECK_NULL(m);
    CHECK_NULL(values);
    check_count("params", count, m->layout.total);
    check_param_values(m, "params", values, 0, count);
    std::copy(values, values + count, m->params.begin());
    return RNNLAB_OK;
  });
}

RNNLAB_API rnnlab_status rnnlab_get_grads(float *out, size_t count, const rnnlab_model *m) {
  return guarded("rnnlab_get_grads", [&] {
    CHECK_NULL(out);
    CHECK_NULL(m);
    check_count("grads", count, m->layout.total);
    std::copy(m->grads.begin(), m->grads.end(), out);
    return RNNLAB_OK;
  });
}

RNNLAB_API rnnlab_status rnnlab_set_grads(rnnlab_model *m, const float *values, size_t count) {
  return guarded("rnnlab_set_grads", [&] {
    CHECK_NULL(m);
    CHECK_NULL(values);
    check_count("grads", count, m->layout.total);
    // Non-finite values pass on purpose: rnnlab_update's guard is the one place that handles them.
    for (size_t i = 0; i < count; ++i)
      if (!m->layout.trainable[i] && values[i] != 0.0f)
        raise(RNNLAB_E_FROZEN, "grads[%zu] = %g, but that entry is held (a frozen bias or a single-mode bias_hh): "
              "its gradient must be 0", i, static_cast<double>(values[i]));
    std::copy(values, values + count, m->grads.begin());
    m->grad_norm = trainable_norm(m->layout, m->grads.data(), 0, m->layout.total);
    m->grad_norm_post_clip = m->grad_norm;
    if (!m->block_norms.empty()) {
      m->block_norms.clear();
      for (const auto &b : m->layout.blocks)
        m->block_norms.push_back(trainable_norm(m->layout, m->grads.data(), b.offset, b.count));
    }
    return RNNLAB_OK;
  });
}

RNNLAB_API rnnlab_status rnnlab_get_trainable_mask(uint8_t *out, size_t count, const rnnlab_model *m) {
  return guarded("rnnlab_get_trainable_mask", [&] {
    CHECK_NULL(out);
    CHECK_NULL(m);
    check_count("mask", count, m->layout.total);
    std::copy(m->layout.trainable.begin(), m->layout.trainable.end(), out);
    return RNNLAB_OK;
  });
}

RNNLAB_API rnnlab_status rnnlab_zero_grad(rnnlab_model *m) {
  return guarded("rnnlab_zero_grad", [&] {
    CHECK_NULL(m);
    std::fill(m->grads.begin(), m->grads.end(), 0.0f);
    return RNNLAB_OK;
  });
}

// ---- features -----------------------------------------------------------------------------------

RNNLAB_API int rnnlab_has_feature(rnnlab_feature f) {
  switch (raw_enum(f)) {
#ifdef RNNLAB_HAVE_ONEDNN
    case RNNLAB_FEATURE_ONEDNN: return 1;
#endif
#ifdef RNNLAB_HAVE_CUDA
    case RNNLAB_FEATURE_CUDA: return cuda_plugin_path(nullptr).empty() ? 0 : 1;  // found, not loaded
#endif
    case RNNLAB_FEATURE_LAPACK: return 1;
    case RNNLAB_FEATURE_NPZ: return 1;
    default: return 0;
  }
}

RNNLAB_API int rnnlab_backend_available(rnnlab_backend b) {
  switch (raw_enum(b)) {
    case RNNLAB_BACKEND_AUTO:
    case RNNLAB_BACKEND_REFERENCE: return 1;
    case RNNLAB_BACKEND_CPU: return rnnlab_has_feature(RNNLAB_FEATURE_ONEDNN);
    case RNNLAB_BACKEND_CUDA: return cuda_device_usable(nullptr) ? 1 : 0;
    default: return 0;
  }
}

RNNLAB_API const char *rnnlab_backend_name(rnnlab_backend b) {
  switch (raw_enum(b)) {
    case RNNLAB_BACKEND_AUTO: return "auto";
    case RNNLAB_BACKEND_REFERENCE: return "reference";
    case RNNLAB_BACKEND_CPU: return "cpu";
    case RNNLAB_BACKEND_CUDA: return "cuda";
  }
  return nullptr;
}

}  // extern "C"
