// The synthetic tasks of Pascanu, Mikolov & Bengio (2013), as restated in spec/tasks.md.
//
// Every entry point validates everything, including the buffer sizes of the draw it is about to
// make, before it writes a byte or moves the task's generator: the draw runs on a copy of the
// generator that is committed only at the end, and nothing after the checks can fail.
#include <rnnlab/rnnlab.h>
#include <rnnlab/rnnlab_data.h>

#include "core/error.h"
#include "data/random.h"
#include "data/structs.h"

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>

namespace {

using rnnlab::raise;
using rnnlab::data::Rng;

// Lengths are capped well inside int32 so that T (+ the add/mul extra, + 2 mempos) and every index
// computed from it stay exact.
constexpr int32_t kMaxLength = 1 << 24;
constexpr int32_t kMaxMemValues = 1000;
constexpr int32_t kMaxMemPos = 100000;
constexpr size_t kTaskConfigV1Size = sizeof(rnnlab_task_config);
constexpr size_t kTaskInfoV1Size = sizeof(rnnlab_task_info);

struct TaskSpec {
  rnnlab_task_kind kind;
  int32_t min_length;
  int32_t max_length;
  int32_t memvalues;
  int32_t mempos;
  int32_t mem_all;
  int32_t all_patterns;  // memvalues^mempos under mem_all, else 0
  int32_t input_size;
  int32_t output_size;
  rnnlab_head head;
};

const char *kind_name(int kind) {
  switch (kind) {
    case RNNLAB_TASK_ADD: return "add";
    case RNNLAB_TASK_MUL: return "mul";
    case RNNLAB_TASK_MEM: return "mem";
    case RNNLAB_TASK_TORDER: return "torder";
    case RNNLAB_TASK_TORDER3: return "torder3";
    case RNNLAB_TASK_PERM: return "perm";
    default: return nullptr;
  }
}

// Below L = 10 the marker windows int(0.1 L) of these tasks are empty.
int32_t shortest_length(rnnlab_task_kind kind) {
  switch (kind) {
    case RNNLAB_TASK_ADD:
    case RNNLAB_TASK_MUL:
    case RNNLAB_TASK_TORDER:
    case RNNLAB_TASK_TORDER3: return 10;
    default: return 1;
  }
}

bool is_regression(rnnlab_task_kind kind) { return kind == RNNLAB_TASK_ADD || kind == RNNLAB_TASK_MUL; }

// a * b, or false when it does not fit in size_t.
bool mul_size(size_t a, size_t b, size_t *out) {
  if (a != 0 && b > std::numeric_limits<size_t>::max() / a) return false;
  *out = a * b;
  return true;
}

size_t product3(size_t a, size_t b, size_t c, const char *what) {
  size_t ab = 0, abc = 0;
  if (!mul_size(a, b, &ab) || !mul_size(ab, c, &abc))
    raise(RNNLAB_E_INVALID_ARGUMENT, "%s = %zu * %zu * %zu does not fit in size_t", what, a, b, c);
  return abc;
}

TaskSpec make_spec(const rnnlab_task_config &c) {
  const int kind = rnnlab::data::enum_value(c.kind);
  if (!kind_name(kind))
    raise(RNNLAB_E_INVALID_ARGUMENT, "cfg->kind = %d is not a task kind (RNNLAB_TASK_ADD .. RNNLAB_TASK_PERM)", kind);
  TaskSpec s{};
  s.kind = c.kind;
  const int32_t shortest = shortest_length(c.kind);
  if (c.min_length < shortest || c.min_length > kMaxLength)
    raise(RNNLAB_E_INVALID_ARGUMENT, "cfg->min_length = %d is out of range [%d, %d] for task %s", c.min_length,
          shortest, kMaxLength, kind_name(kind));
  if (c.max_length < 1 || c.max_length > kMaxLength)
    raise(RNNLAB_E_INVALID_ARGUMENT, "cfg->max_length = %d is out of range [1, %d]", c.max_length, kMaxLength);
  // Checked for every kind so that a typo is caught even where the value is not used yet.
  if (c.memvalues < 1 || c.memvalues > kMaxMemValues)
    raise(RNNLAB_E_INVALID_ARGUMENT, "cfg->memvalues = %d is out of range [1, %d]", c.memvalues, kMaxMemValues);
  if (c.mempos < 1 || c.mempos > kMaxMemPos)
    raise(RNNLAB_E_INVALID_ARGUMENT, "cfg->mempos = %d is out of range [1, %d]", c.mempos, kMaxMemPos);
  if (c.mem_all != 0 && c.mem_all != 1)
    raise(RNNLAB_E_INVALID_ARGUMENT, "cfg->mem_all = %d must be 0 or 1", c.mem_all);
  s.min_length = c.min_length;
  s.max_length = c.max_length;
  s.memvalues = c.memvalues;
  s.mempos = c.mempos;
  s.mem_all = c.mem_all;
  if (c.mem_all) {
    if (c.kind != RNNLAB_TASK_MEM)
      raise(RNNLAB_E_INVALID_CONFIG, "cfg->mem_all = 1 applies to the mem task only, not to %s", kind_name(kind));
    int64_t n = 1;
    for (int32_t k = 0; k < c.mempos; ++k) {
      n *= c.memvalues;
      if (n > std::numeric_limits<int32_t>::max())
        raise(RNNLAB_E_INVALID_CONFIG,
              "cfg->mem_all = 1: the batch of all memvalues^mempos = %d^%d patterns has more than %d sequences",
              c.memvalues, c.mempos, std::numeric_limits<int32_t>::max());
    }
    s.all_patterns = static_cast<int32_t>(n);
  }
  switch (c.kind) {
    case RNNLAB_TASK_ADD:
    case RNNLAB_TASK_MUL: s.input_size = 2; s.output_size = 1; s.head = RNNLAB_HEAD_LAST_LINEAR; break;
    case RNNLAB_TASK_MEM:
      s.input_size = c.memvalues + 2;
      s.output_size = c.memvalues + 1;
      s.head = RNNLAB_HEAD_EVERY_SOFTMAX;
      break;
    case RNNLAB_TASK_TORDER: s.input_size = 6; s.output_size = 4; s.head = RNNLAB_HEAD_LAST_SOFTMAX; break;
    case RNNLAB_TASK_TORDER3: s.input_size = 6; s.output_size = 8; s.head = RNNLAB_HEAD_LAST_SOFTMAX; break;
    case RNNLAB_TASK_PERM: s.input_size = 100; s.output_size = 100; s.head = RNNLAB_HEAD_LAST_SOFTMAX; break;
  }
  return s;
}

void check_length_arg(const TaskSpec &s, int32_t length) {
  if (length == 0) return;
  const int32_t shortest = shortest_length(s.kind);
  if (length < shortest || length > kMaxLength)
    raise(RNNLAB_E_INVALID_ARGUMENT, "length = %d is out of range: 0 (the per-batch rule) or [%d, %d] for task %s",
          length, shortest, kMaxLength, kind_name(s.kind));
}

// T for a batch of length L with `extra` add/mul steps. int(0.1 L) and friends in tasks.md are
// Python float products; for the integer L of this range they equal the integer quotients used here.
int32_t steps_for(const TaskSpec &s, int32_t L, int32_t extra) {
  switch (s.kind) {
    case RNNLAB_TASK_ADD:
    case RNNLAB_TASK_MUL: return L + extra;
    case RNNLAB_TASK_MEM: return L + 2 * s.mempos;
    default: return L;
  }
}

void steps_range(const TaskSpec &s, int32_t length, int32_t *lo, int32_t *hi) {
  int32_t Lmin = length, Lmax = length;
  if (length == 0) {
    Lmin = s.min_length;
    Lmax = s.max_length > s.min_length ? s.max_length - 1 : s.min_length;
  }
  *lo = steps_for(s, Lmin, 0);
  *hi = steps_for(s, Lmax, is_regression(s.kind) ? Lmax / 10 - 1 : 0);
}

float *cell(float *x, int32_t t, int32_t b, int32_t B, int32_t I) {
  return x + (static_cast<size_t>(t) * static_cast<size_t>(B) + static_cast<size_t>(b)) * static_cast<size_t>(I);
}

// Writes one batch; the caller has checked every size for this T. Uses (and advances) rng.
void generate(const TaskSpec &s, Rng &rng, int32_t L, int32_t T, int32_t B, float *x, int32_t *classes,
              float *values) {
  const int32_t I = s.input_size;
  std::memset(x, 0, static_cast<size_t>(T) * static_cast<size_t>(B) * static_cast<size_t>(I) * sizeof(float));
  const int32_t tenth = L / 10;
  switch (s.kind) {
    case RNNLAB_TASK_ADD:
    case RNNLAB_TASK_MUL: {
      // The marker windows are taken of the actual T, not of L (as the original generator does).
      const int32_t t10 = T / 10, t40 = (4 * T) / 10;
      for (int32_t b = 0; b < B; ++b) {
        const int32_t p0 = static_cast<int32_t>(rng.below(static_cast<uint64_t>(t10)));
        const int32_t p1 = t10 + static_cast<int32_t>(rng.below(static_cast<uint64_t>(t40)));
        for (int32_t t = 0; t < T; ++t) cell(x, t, b, B, I)[1] = rng.unit_float();
        cell(x, p0, b, B, I)[0] = 1.0f;
        cell(x, p1, b, B, I)[0] = 1.0f;
        const float a = cell(x, p0, b, B, I)[1], c = cell(x, p1, b, B, I)[1];
        values[b] = s.kind == RNNLAB_TASK_ADD ? (a + c) * 0.5f : a * c;
      }
      break;
    }
    case RNNLAB_TASK_TORDER:
    case RNNLAB_TASK_TORDER3: {
      const int n_markers = s.kind == RNNLAB_TASK_TORDER ? 2 : 3;
      const int32_t base2[2] = {tenth, L / 2};
      const int32_t base3[3] = {tenth, (3 * L) / 10, (6 * L) / 10};
      const int32_t *base = n_markers == 2 ? base2 : base3;
      for (int32_t b = 0; b < B; ++b) {
        int32_t pos[3] = {0, 0, 0}, val[3] = {0, 0, 0};
        int32_t target = 0;
        for (int m = 0; m < n_markers; ++m) {
          pos[m] = base[m] + static_cast<int32_t>(rng.below(static_cast<uint64_t>(tenth)));
          val[m] = static_cast<int32_t>(rng.below(2));
          target += val[m] << m;
        }
        for (int32_t t = 0; t < T; ++t) {
          int32_t sym = 2 + static_cast<int32_t>(rng.below(4));
          for (int m = 0; m < n_markers; ++m)
            if (t == pos[m]) sym = val[m];
          cell(x, t, b, B, I)[sym] = 1.0f;
        }
        classes[b] = target;
      }
      break;
    }
    case RNNLAB_TASK_PERM: {
      // tasks.md draws L + 1 symbols and then overwrites positions 0 and L with v; drawing only the
      // symbols that survive gives the same distribution with fewer draws.
      for (int32_t b = 0; b < B; ++b) {
        const int32_t v = static_cast<int32_t>(rng.below(2));
        cell(x, 0, b, B, I)[v] = 1.0f;
        for (int32_t t = 1; t < T; ++t) cell(x, t, b, B, I)[2 + static_cast<int32_t>(rng.below(98))] = 1.0f;
        classes[b] = v;  // symbol L, set equal to symbol 0
      }
      break;
    }
    case RNNLAB_TASK_MEM: {
      const int32_t blank = s.memvalues, cue = s.memvalues + 1, P = s.mempos;
      const int32_t cue_t = L + P;
      for (int32_t b = 0; b < B; ++b) {
        // Independent uniform digits are the same distribution as one uniform integer in
        // [0, memvalues^mempos) written in base memvalues, and never overflow.
        int64_t rest = b;
        for (int32_t k = 0; k < P; ++k) {
          int32_t digit;
          if (s.mem_all) {
            digit = static_cast<int32_t>(rest % s.memvalues);
            rest /= s.memvalues;
          } else {
            digit = static_cast<int32_t>(rng.below(static_cast<uint64_t>(s.memvalues)));
          }
          cell(x, k, b, B, I)[digit] = 1.0f;
          classes[static_cast<size_t>(cue_t + k) * static_cast<size_t>(B) + static_cast<size_t>(b)] = digit;
        }
        for (int32_t t = P; t < T; ++t) cell(x, t, b, B, I)[t == cue_t ? cue : blank] = 1.0f;
        for (int32_t t = 0; t < cue_t; ++t)
          classes[static_cast<size_t>(t) * static_cast<size_t>(B) + static_cast<size_t>(b)] = blank;
      }
      break;
    }
  }
}

// Index of the first largest entry, or -1 if any entry is NaN.
int32_t argmax(const float *v, int32_t n) {
  int32_t best = 0;
  for (int32_t i = 0; i < n; ++i) {
    if (std::isnan(v[i])) return -1;
    if (v[i] > v[best]) best = i;
  }
  return best;
}

}  // namespace

struct rnnlab_task {
  TaskSpec spec;
  Rng rng;
};

extern "C" {

RNNLAB_API const char *rnnlab_task_kind_name(rnnlab_task_kind kind) {
  return kind_name(rnnlab::data::enum_value(kind));
}

RNNLAB_API rnnlab_status rnnlab_task_kind_from_name(rnnlab_task_kind *out, const char *name) {
  return rnnlab::guarded("rnnlab_task_kind_from_name", [&]() -> rnnlab_status {
    if (!out) raise(RNNLAB_E_NULL, "out is NULL");
    if (!name) raise(RNNLAB_E_NULL, "name is NULL");
    for (int k = RNNLAB_TASK_ADD; k <= RNNLAB_TASK_PERM; ++k) {
      if (std::strcmp(name, kind_name(k)) == 0) {
        *out = static_cast<rnnlab_task_kind>(k);
        return RNNLAB_OK;
      }
    }
    raise(RNNLAB_E_NOT_FOUND, "name = \"%.64s\" is not a task (add, mul, mem, torder, torder3, perm)", name);
  });
}

RNNLAB_API rnnlab_status rnnlab_task_create(rnnlab_task **out, const rnnlab_task_config *cfg) {
  return rnnlab::guarded("rnnlab_task_create", [&]() -> rnnlab_status {
    if (!out) raise(RNNLAB_E_NULL, "out is NULL");
    if (!cfg) raise(RNNLAB_E_NULL, "cfg is NULL");
    const rnnlab_task_config defaults = RNNLAB_TASK_CONFIG_INIT;
    const rnnlab_task_config c = rnnlab::data::read_struct(cfg, defaults, kTaskConfigV1Size, "cfg");
    const TaskSpec spec = make_spec(c);
    *out = new rnnlab_task{spec, Rng(c.seed)};
    return RNNLAB_OK;
  });
}

RNNLAB_API void rnnlab_task_destroy(rnnlab_task *task) { delete task; }

RNNLAB_API rnnlab_status rnnlab_task_reseed(rnnlab_task *task, uint64_t seed) {
  return rnnlab::guarded("rnnlab_task_reseed", [&]() -> rnnlab_status {
    if (!task) raise(RNNLAB_E_NULL, "task is NULL");
    task->rng.reseed(seed);
    return RNNLAB_OK;
  });
}

RNNLAB_API rnnlab_status rnnlab_task_get_info(rnnlab_task_info *out, const rnnlab_task *task) {
  return rnnlab::guarded("rnnlab_task_get_info", [&]() -> rnnlab_status {
    if (!out) raise(RNNLAB_E_NULL, "out is NULL");
    if (!task) raise(RNNLAB_E_NULL, "task is NULL");
    rnnlab::data::check_struct_size(out, kTaskInfoV1Size, "out");
    const TaskSpec &s = task->spec;
    rnnlab_task_info info = RNNLAB_TASK_INFO_INIT;
    info.kind = s.kind;
    info.input_size = s.input_size;
    info.output_size = s.output_size;
    info.head = s.head;
    steps_range(s, 0, &info.min_steps, &info.max_steps);
    info.fixed_batch = s.all_patterns;
    rnnlab::data::write_struct(out, info);
    return RNNLAB_OK;
  });
}

RNNLAB_API rnnlab_status rnnlab_task_steps(int32_t *min_steps, int32_t *max_steps, const rnnlab_task *task,
                                           int32_t length) {
  return rnnlab::guarded("rnnlab_task_steps", [&]() -> rnnlab_status {
    if (!min_steps && !max_steps) raise(RNNLAB_E_NULL, "min_steps and max_steps are both NULL");
    if (!task) raise(RNNLAB_E_NULL, "task is NULL");
    check_length_arg(task->spec, length);
    int32_t lo = 0, hi = 0;
    steps_range(task->spec, length, &lo, &hi);
    if (min_steps) *min_steps = lo;
    if (max_steps) *max_steps = hi;
    return RNNLAB_OK;
  });
}

RNNLAB_API rnnlab_status rnnlab_task_draw(int32_t *steps, float *x, size_t x_count, int32_t *classes,
                                          size_t classes_count, float *values, size_t values_count,
                                          rnnlab_task *task, int32_t batch, int32_t length) {
  return rnnlab::guarded("rnnlab_task_draw", [&]() -> rnnlab_status {
    if (!steps) raise(RNNLAB_E_NULL, "steps is NULL");
    if (!x) raise(RNNLAB_E_NULL, "x is NULL");
    if (!task) raise(RNNLAB_E_NULL, "task is NULL");
    const TaskSpec &s = task->spec;
    const bool regression = is_regression(s.kind);
    if (regression && !values) raise(RNNLAB_E_NULL, "values is NULL (task %s has float targets)", kind_name(s.kind));
    if (!regression && !classes)
      raise(RNNLAB_E_NULL, "classes is NULL (task %s has class targets)", kind_name(s.kind));
    if (batch < 1) raise(RNNLAB_E_INVALID_ARGUMENT, "batch = %d must be >= 1", batch);
    if (s.mem_all && batch != s.all_patterns)
      raise(RNNLAB_E_INVALID_ARGUMENT, "batch = %d, but with mem_all every batch holds all %d patterns", batch,
            s.all_patterns);
    check_length_arg(s, length);

    // Draw on a copy: the task's generator moves only once the batch has been written.
    Rng rng = task->rng;
    int32_t L = length;
    if (L == 0)
      L = s.max_length > s.min_length
              ? s.min_length + static_cast<int32_t>(rng.below(static_cast<uint64_t>(s.max_length - s.min_length)))
              : s.min_length;
    const int32_t extra = regression ? static_cast<int32_t>(rng.below(static_cast<uint64_t>(L / 10))) : 0;
    const int32_t T = steps_for(s, L, extra);

    const size_t need_x = product3(static_cast<size_t>(T), static_cast<size_t>(batch),
                                   static_cast<size_t>(s.input_size), "T * B * I");
    if (x_count < need_x) {
      int32_t lo = 0, hi = 0;
      steps_range(s, length, &lo, &hi);
      raise(RNNLAB_E_SIZE_MISMATCH,
            "x_count = %zu is too small: this draw has T = %d, B = %d, I = %d and needs %zu (T can reach %d: "
            "size x for that)",
            x_count, T, batch, s.input_size, need_x, hi);
    }
    if (regression) {
      const size_t need = static_cast<size_t>(batch) * static_cast<size_t>(s.output_size);
      if (values_count < need)
        raise(RNNLAB_E_SIZE_MISMATCH, "values_count = %zu is too small: B * O = %zu", values_count, need);
    } else {
      const size_t need = s.head == RNNLAB_HEAD_EVERY_SOFTMAX
                              ? product3(static_cast<size_t>(T), static_cast<size_t>(batch), 1, "T * B")
                              : static_cast<size_t>(batch);
      if (classes_count < need)
        raise(RNNLAB_E_SIZE_MISMATCH, "classes_count = %zu is too small: this draw needs %zu (%s, T = %d, B = %d)",
              classes_count, need, s.head == RNNLAB_HEAD_EVERY_SOFTMAX ? "T * B" : "B", T, batch);
    }

    generate(s, rng, L, T, batch, x, classes, values);
    task->rng = rng;
    *steps = T;
    return RNNLAB_OK;
  });
}

RNNLAB_API rnnlab_status rnnlab_task_count_wrong(int32_t *n_wrong, const rnnlab_task *task, const float *y,
                                                 size_t y_count, int32_t T, int32_t B, const int32_t *classes,
                                                 size_t classes_count, const float *values, size_t values_count,
                                                 float err_abs) {
  return rnnlab::guarded("rnnlab_task_count_wrong", [&]() -> rnnlab_status {
    if (!n_wrong) raise(RNNLAB_E_NULL, "n_wrong is NULL");
    if (!task) raise(RNNLAB_E_NULL, "task is NULL");
    if (!y) raise(RNNLAB_E_NULL, "y is NULL");
    const TaskSpec &s = task->spec;
    const bool regression = is_regression(s.kind);
    if (regression && !values) raise(RNNLAB_E_NULL, "values is NULL (task %s has float targets)", kind_name(s.kind));
    if (!regression && !classes)
      raise(RNNLAB_E_NULL, "classes is NULL (task %s has class targets)", kind_name(s.kind));
    if (T < 1) raise(RNNLAB_E_INVALID_ARGUMENT, "T = %d must be >= 1", T);
    if (B < 1) raise(RNNLAB_E_INVALID_ARGUMENT, "B = %d must be >= 1", B);
    const int32_t O = s.output_size;
    const size_t need_y = product3(static_cast<size_t>(T), static_cast<size_t>(B), static_cast<size_t>(O), "T * B * O");
    if (y_count != need_y)
      raise(RNNLAB_E_SIZE_MISMATCH, "y_count = %zu, expected T * B * O = %d * %d * %d = %zu", y_count, T, B, O,
            need_y);
    const size_t last = static_cast<size_t>(T - 1) * static_cast<size_t>(B) * static_cast<size_t>(O);
    int32_t wrong = 0;
    if (regression) {
      if (!std::isfinite(err_abs) || err_abs < 0.0f)
        raise(RNNLAB_E_INVALID_ARGUMENT, "err_abs = %g must be finite and >= 0", static_cast<double>(err_abs));
      const size_t need = static_cast<size_t>(B) * static_cast<size_t>(O);
      if (values_count != need)
        raise(RNNLAB_E_SIZE_MISMATCH, "values_count = %zu, expected B * O = %zu", values_count, need);
      for (size_t i = 0; i < need; ++i)
        if (!std::isfinite(values[i]))
          raise(RNNLAB_E_NONFINITE, "values[%zu] (b = %zu, o = %zu) is %g", i, i / static_cast<size_t>(O),
                i % static_cast<size_t>(O), static_cast<double>(values[i]));
      for (int32_t b = 0; b < B; ++b) {
        const float *yb = y + last + static_cast<size_t>(b) * static_cast<size_t>(O);
        bool bad = false;
        // Written so that a NaN output counts as wrong.
        for (int32_t o = 0; o < O; ++o)
          if (!(std::fabs(yb[o] - values[static_cast<size_t>(b) * static_cast<size_t>(O) + o]) <= err_abs)) bad = true;
        wrong += bad ? 1 : 0;
      }
    } else {
      const bool every = s.head == RNNLAB_HEAD_EVERY_SOFTMAX;
      const size_t need = every ? static_cast<size_t>(T) * static_cast<size_t>(B) : static_cast<size_t>(B);
      if (classes_count != need)
        raise(RNNLAB_E_SIZE_MISMATCH, "classes_count = %zu, expected %s = %zu", classes_count, every ? "T * B" : "B",
              need);
      for (size_t i = 0; i < need; ++i)
        if (classes[i] < 0 || classes[i] >= O)
          raise(RNNLAB_E_INVALID_ARGUMENT, "classes[%zu] = %d is outside [0, %d)", i, classes[i], O);
      const int32_t t0 = every ? 0 : T - 1;
      for (int32_t b = 0; b < B; ++b) {
        bool bad = false;
        for (int32_t t = t0; t < T && !bad; ++t) {
          const size_t row = static_cast<size_t>(t) * static_cast<size_t>(B) + static_cast<size_t>(b);
          const int32_t target = every ? classes[row] : classes[b];
          bad = argmax(y + row * static_cast<size_t>(O), O) != target;
        }
        wrong += bad ? 1 : 0;
      }
    }
    *n_wrong = wrong;
    return RNNLAB_OK;
  });
}

}  // extern "C"
