/* Bad input through the public C ABI (api.md, "Bad input: a clear error and nothing lost").
 *
 * A table of bad calls: every entry point of rnnlab.h, each pointer argument NULL in turn, sizes
 * zero / negative / over the configured maxima, element counts off by one, unknown names and enum
 * values, contradictory configurations, calls in the wrong state, NaN/Inf in every input. For every
 * row the test checks
 *   - the exact status value;
 *   - that rnnlab_last_error() is a new, non-empty message that names the entry point and the
 *     problem (the argument, the index, ...);
 *   - that output buffers were not written;
 *   - that the model is exactly as it was: parameters, gradients, hidden state, configuration,
 *     diagnostics, dL/dx, dL/dh0, the Jacobian of the tape and the last outputs' loss bit-identical;
 *   - that the recorded tape is intact: afterwards one more step and a backward on the model give
 *     bit-identical results to the same calls on a twin model that never saw the bad call.
 * Also: pinned status numbers, status strings, rnnlab_destroy(NULL), queries that answer NULL / 0 for
 * unknown values, and the per-thread last error. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <rnnlab/rnnlab.h>

/* ---------------------------------------------------------------------------------------------- */
/* Models the rows run on                                                                         */
/* ---------------------------------------------------------------------------------------------- */
enum {
  K_GRU,   /* GRU, last-softmax head O=3, frozen z bias at 1.5, diag full */
  K_RNN,   /* tanh RNN, no head (outputs h), single bias mode (bias_hh held at 0), diag full */
  K_LIN,   /* reset-before GRU, last-linear head O=2, diag off */
  K_EVERY, /* GRU, every-softmax head O=3, diag summary */
  K_COUNT
};

#define IN 3       /* I */
#define HID 4      /* H */
#define BATCH 2    /* B of every sequence the fixtures run */
#define MAXB 4     /* config.max_batch */
#define MAXTAPE 6  /* config.max_tape */
#define FROZEN_Z 1.5f

static rnnlab_config config_of(int kind) {
  rnnlab_config c = RNNLAB_CONFIG_INIT;
  c.input_size = IN;
  c.hidden_size = HID;
  c.backend = RNNLAB_BACKEND_REFERENCE;
  c.max_batch = MAXB;
  c.max_tape = MAXTAPE;
  c.seed = 1234u + (uint64_t)kind;
  switch (kind) {
    case K_GRU:
      c.cell = RNNLAB_CELL_GRU;
      c.head = RNNLAB_HEAD_LAST_SOFTMAX;
      c.output_size = 3;
      c.frozen_bias_mask = RNNLAB_GATE_Z;
      c.frozen_bias_value[RNNLAB_GATE_INDEX_Z] = FROZEN_Z;
      c.diag_level = RNNLAB_DIAG_FULL;
      break;
    case K_RNN:
      c.cell = RNNLAB_CELL_RNN_TANH;
      c.head = RNNLAB_HEAD_NONE;
      c.output_size = 0;
      c.bias_mode = RNNLAB_BIAS_SINGLE;
      c.diag_level = RNNLAB_DIAG_FULL;
      break;
    case K_LIN:
      c.cell = RNNLAB_CELL_GRU_RESET_BEFORE;
      c.head = RNNLAB_HEAD_LAST_LINEAR;
      c.output_size = 2;
      c.diag_level = RNNLAB_DIAG_OFF;
      break;
    default:
      c.cell = RNNLAB_CELL_GRU;
      c.head = RNNLAB_HEAD_EVERY_SOFTMAX;
      c.output_size = 3;
      c.diag_level = RNNLAB_DIAG_SUMMARY;
      break;
  }
  return c;
}

/* Output width of a step: O with a head, H without. */
static int width_of(int kind) {
  rnnlab_config c = config_of(kind);
  return c.head == RNNLAB_HEAD_NONE ? c.hidden_size : c.output_size;
}

/* Deterministic, finite inputs; `seq` picks a different stretch. */
static float input_value(int seq, int k) { return 0.8f * sinf(0.37f * (float)k + 1.3f * (float)seq + 0.2f); }

static void fill_x(float *x, int n, int seq) {
  for (int k = 0; k < n; ++k) x[k] = input_value(seq, k);
}

/* ---------------------------------------------------------------------------------------------- */
/* Targets that fit a kind and a tape length                                                      */
/* ---------------------------------------------------------------------------------------------- */
typedef struct target_store {
  int32_t classes[64];
  float values[64];
  float dy[256];
} target_store;

static rnnlab_targets good_targets(int kind, int steps, target_store *s) {
  rnnlab_targets tg = RNNLAB_TARGETS_INIT;
  const rnnlab_config c = config_of(kind);
  switch (c.head) {
    case RNNLAB_HEAD_LAST_SOFTMAX:
      for (int b = 0; b < BATCH; ++b) s->classes[b] = (b + 1) % c.output_size;
      tg.classes = s->classes;
      tg.count = BATCH;
      break;
    case RNNLAB_HEAD_EVERY_SOFTMAX:
      for (int k = 0; k < steps * BATCH; ++k) s->classes[k] = (k * 2 + 1) % c.output_size;
      tg.classes = s->classes;
      tg.count = (size_t)(steps * BATCH);
      break;
    case RNNLAB_HEAD_LAST_LINEAR:
      for (int k = 0; k < BATCH * c.output_size; ++k) s->values[k] = 0.25f * (float)(k + 1);
      tg.values = s->values;
      tg.count = (size_t)(BATCH * c.output_size);
      break;
    default:
      for (int k = 0; k < steps * BATCH * c.hidden_size; ++k) s->dy[k] = 0.1f * cosf((float)k);
      tg.dy = s->dy;
      tg.count = (size_t)(steps * BATCH * c.hidden_size);
      break;
  }
  return tg;
}

/* ---------------------------------------------------------------------------------------------- */
/* Fixture states                                                                                 */
/* ---------------------------------------------------------------------------------------------- */
enum {
  S_FULL,       /* step T=3, backward, step T=2: a pass done and a tape of 2 recorded */
  S_FRESH,      /* just created: nothing recorded, B not fixed */
  S_STEPPED,    /* step T=3: a tape of 3, no backward yet */
  S_BACKWARDED, /* step T=3, backward: the tape consumed */
  S_EVAL,       /* step T=3, backward, eval mode, step T=2 (nothing recorded) */
  S_OPT         /* step T=3, backward, Adam set, update, step T=2: moments and counters non-zero */
};

static rnnlab_optimizer_config adam_config(void) {
  rnnlab_optimizer_config o = RNNLAB_OPTIMIZER_CONFIG_INIT;
  o.kind = RNNLAB_OPTIMIZER_ADAM;
  o.lr = 0.05;
  o.weight_decay = 0.01;
  return o;
}

typedef struct state_info {
  int tape;   /* recorded steps after the setup */
  int last_T; /* T of the last rnnlab_step (0 if none) */
} state_info;

static rnnlab_status must(rnnlab_status s, const char *what) {
  if (s != RNNLAB_OK) fail_msg("setup call %s failed: %d %s", what, (int)s, rnnlab_last_error());
  return s;
}

static void do_step(rnnlab_model *m, int kind, int T, int seq, float *y_out) {
  float x[64], y[64];
  fill_x(x, T * BATCH * IN, seq);
  const size_t yn = (size_t)(T * BATCH * width_of(kind));
  must(rnnlab_step(y, yn, m, x, (size_t)(T * BATCH * IN), T, BATCH), "rnnlab_step");
  if (y_out) memcpy(y_out, y, yn * sizeof(float));
}

static void do_backward(rnnlab_model *m, int kind, int steps) {
  target_store s;
  rnnlab_targets tg = good_targets(kind, steps, &s);
  must(rnnlab_backward(m, &tg), "rnnlab_backward");
}

static state_info setup_state(rnnlab_model *m, int kind, int setup) {
  state_info si = {0, 0};
  if (setup == S_FRESH) return si;
  do_step(m, kind, 3, 0, NULL);
  si.tape = 3;
  si.last_T = 3;
  if (setup == S_STEPPED) return si;
  do_backward(m, kind, 3);
  si.tape = 0;
  if (setup == S_BACKWARDED) return si;
  if (setup == S_EVAL) must(rnnlab_set_training(m, 0), "rnnlab_set_training");
  if (setup == S_OPT) {
    const rnnlab_optimizer_config o = adam_config();
    must(rnnlab_set_optimizer(m, &o), "rnnlab_set_optimizer");
    must(rnnlab_update(m), "rnnlab_update");
  }
  do_step(m, kind, 2, 1, NULL);
  si.last_T = 2;
  si.tape = setup == S_EVAL ? 0 : 2;
  return si;
}

/* ---------------------------------------------------------------------------------------------- */
/* Snapshots: everything observable about a model, compared bit for bit                          */
/* ---------------------------------------------------------------------------------------------- */
#define MAXP 256

typedef struct snapshot {
  size_t total, trainable;
  float params[MAXP], grads[MAXP];
  uint8_t mask[MAXP];
  rnnlab_status hidden_st;
  float hidden[BATCH * HID];
  rnnlab_config cfg;
  rnnlab_status diag_st;
  rnnlab_diag diag;
  rnnlab_status dx_st, dh0_st, jac_st, trace_st, loss_st;
  float dx[MAXTAPE * 2 * BATCH * IN], dh0[BATCH * HID], jac[HID * HID];
  double trace[2 * MAXTAPE];
  int32_t trace_len;
  double loss;
  int32_t n_wrong;
  rnnlab_status opt_st, opt_state_st;
  rnnlab_optimizer_config opt;
  rnnlab_optimizer_state opt_state;
} snapshot;

static void take_snapshot(snapshot *s, const rnnlab_model *m, int kind, int last_T) {
  memset(s, 0, sizeof *s);
  must(rnnlab_param_count(&s->total, &s->trainable, m), "rnnlab_param_count");
  assert_true(s->total <= MAXP);
  must(rnnlab_get_params(s->params, s->total, m), "rnnlab_get_params");
  must(rnnlab_get_grads(s->grads, s->total, m), "rnnlab_get_grads");
  must(rnnlab_get_trainable_mask(s->mask, s->total, m), "rnnlab_get_trainable_mask");
  s->hidden_st = rnnlab_get_hidden(s->hidden, BATCH * HID, m);
  rnnlab_config cfg = RNNLAB_CONFIG_INIT;
  must(rnnlab_get_config(&cfg, m), "rnnlab_get_config");
  s->cfg = cfg;
  rnnlab_diag d = RNNLAB_DIAG_INIT;
  s->diag_st = rnnlab_diagnostics(&d, m);
  s->diag = d;
  if (s->diag_st == RNNLAB_OK) {
    s->dx_st = rnnlab_get_input_grad(s->dx, (size_t)(d.steps * d.batch * IN), m);
    s->dh0_st = rnnlab_get_h0_grad(s->dh0, (size_t)(d.batch * HID), m);
  }
  s->jac_st = rnnlab_jacobian(s->jac, HID * HID, m, 0, 0);
  s->trace_st = rnnlab_get_trace(s->trace, 2 * MAXTAPE, &s->trace_len, m, RNNLAB_TRACE_GRAD_TIME);
  if (config_of(kind).head != RNNLAB_HEAD_NONE && last_T > 0) {
    target_store ts;
    rnnlab_targets tg = good_targets(kind, last_T, &ts);
    s->loss_st = rnnlab_loss(&s->loss, &s->n_wrong, m, &tg, 0.2f);
  }
  rnnlab_optimizer_config o = RNNLAB_OPTIMIZER_CONFIG_INIT;
  rnnlab_optimizer_state os = RNNLAB_OPTIMIZER_STATE_INIT;
  s->opt_st = rnnlab_get_optimizer(&o, m);
  s->opt_state_st = rnnlab_get_optimizer_state(&os, m);
  s->opt = o;
  s->opt_state = os;
}

static int bits_equal(const void *a, const void *b, size_t n) { return memcmp(a, b, n) == 0; }

/* Compares two snapshots; returns the name of the first thing that differs, or NULL. */
static const char *snapshot_diff(const snapshot *a, const snapshot *b) {
  if (a->total != b->total || a->trainable != b->trainable) return "parameter counts";
  if (!bits_equal(a->params, b->params, a->total * sizeof(float))) return "parameters";
  if (!bits_equal(a->grads, b->grads, a->total * sizeof(float))) return "gradients";
  if (!bits_equal(a->mask, b->mask, a->total)) return "trainable mask";
  if (a->hidden_st != b->hidden_st) return "hidden state availability";
  if (a->hidden_st == RNNLAB_OK && !bits_equal(a->hidden, b->hidden, sizeof a->hidden)) return "hidden state";
  const rnnlab_config *x = &a->cfg, *y = &b->cfg;
  if (x->struct_size != y->struct_size || x->cell != y->cell || x->input_size != y->input_size ||
      x->hidden_size != y->hidden_size || x->head != y->head || x->output_size != y->output_size ||
      x->backend != y->backend || x->bias_mode != y->bias_mode || x->frozen_bias_mask != y->frozen_bias_mask ||
      !bits_equal(x->frozen_bias_value, y->frozen_bias_value, sizeof x->frozen_bias_value) ||
      x->init != y->init || x->bias_init != y->bias_init || x->bias_init_mask != y->bias_init_mask ||
      !bits_equal(x->bias_init_value, y->bias_init_value, sizeof x->bias_init_value) ||
      x->chrono_tmax != y->chrono_tmax || x->seed != y->seed || x->threads != y->threads ||
      x->diag_level != y->diag_level || !bits_equal(&x->sat_thresh, &y->sat_thresh, sizeof x->sat_thresh) ||
      !bits_equal(&x->bound, &y->bound, sizeof x->bound) || x->max_batch != y->max_batch ||
      x->max_tape != y->max_tape)
    return "configuration (rnnlab_get_config)";
  if (a->diag_st != b->diag_st) return "diagnostics availability";
  if (a->diag_st == RNNLAB_OK) {
    const rnnlab_diag *p = &a->diag, *q = &b->diag;
    if (p->steps != q->steps || p->batch != q->batch || p->level != q->level ||
        !bits_equal(&p->loss, &q->loss, sizeof p->loss) ||
        !bits_equal(&p->grad_norm, &q->grad_norm, sizeof p->grad_norm) ||
        !bits_equal(&p->grad_norm_post_clip, &q->grad_norm_post_clip, sizeof p->grad_norm_post_clip) ||
        !bits_equal(&p->omega, &q->omega, sizeof p->omega) ||
        !bits_equal(&p->steps_in_past, &q->steps_in_past, sizeof p->steps_in_past) ||
        p->nonfinite != q->nonfinite || p->nonfinite_first_t != q->nonfinite_first_t)
      return "diagnostics";
  }
  if (a->dx_st != b->dx_st || !bits_equal(a->dx, b->dx, sizeof a->dx)) return "dL/dx";
  if (a->dh0_st != b->dh0_st || !bits_equal(a->dh0, b->dh0, sizeof a->dh0)) return "dL/dh0";
  if (a->jac_st != b->jac_st || !bits_equal(a->jac, b->jac, sizeof a->jac)) return "Jacobian of the tape";
  if (a->trace_st != b->trace_st || a->trace_len != b->trace_len || !bits_equal(a->trace, b->trace, sizeof a->trace))
    return "grad_time trace";
  if (a->loss_st != b->loss_st || !bits_equal(&a->loss, &b->loss, sizeof a->loss) || a->n_wrong != b->n_wrong)
    return "loss of the last outputs";
  if (a->opt_st != b->opt_st || a->opt_state_st != b->opt_state_st) return "optimiser presence";
  if (a->opt_st == RNNLAB_OK) {
    const rnnlab_optimizer_config *p = &a->opt, *q = &b->opt;
#define SAME(f) bits_equal(&p->f, &q->f, sizeof p->f)
    if (!SAME(kind) || !SAME(lr) || !SAME(momentum) || !SAME(beta1) || !SAME(beta2) || !SAME(eps) ||
        !SAME(weight_decay) || !SAME(schedule) || !SAME(lr_min) || !SAME(schedule_steps) || !SAME(warmup_steps) ||
        !SAME(schedule_period) || !SAME(clip) || !SAME(cutoff) || !SAME(clip_value) || !SAME(alpha))
      return "optimiser configuration";
#undef SAME
  }
  if (a->opt_state_st == RNNLAB_OK) {
    const rnnlab_optimizer_state *p = &a->opt_state, *q = &b->opt_state;
#define SAME(f) bits_equal(&p->f, &q->f, sizeof p->f)
    if (!SAME(step) || !SAME(moment_step) || !SAME(schedule_pos) || !SAME(guard_count) || !SAME(lr) ||
        !SAME(last_lr) || !SAME(last_clipped) || !SAME(last_guard))
      return "optimiser state";
#undef SAME
  }
  return NULL;
}

/* ---------------------------------------------------------------------------------------------- */
/* The row context: the model under test and output buffers that must stay untouched             */
/* ---------------------------------------------------------------------------------------------- */
typedef struct outputs {
  float f[512];
  double d[64];
  int32_t i[64];
  uint8_t u[512];
  int64_t hist[16];
  const char *names[64];
  double d1, d2;
  int32_t n;
  size_t s1, s2;
  rnnlab_trace trace;
  rnnlab_tensor_info info;
  rnnlab_diag diag;        /* struct_size: the caller's, set valid before every row */
  rnnlab_summary summary;  /* likewise */
  rnnlab_config cfg;       /* likewise */
  rnnlab_optimizer_config opt;    /* likewise */
  rnnlab_optimizer_state opt_state; /* likewise */
} outputs;

typedef struct ctx {
  rnnlab_model *m; /* the model under test */
  int kind;
  int O, W;        /* output size, step output width */
  int tape;        /* recorded steps after the setup */
  int last_T;      /* T of the last step */
  size_t total;    /* parameter count */
  outputs o;
  /* inputs the rows build */
  float x[512];
  float v[512];
  int32_t cls[64];
  target_store ts;
} ctx;

/* Builds a valid input for step T (B = BATCH). */
static float *xin(ctx *c, int T) {
  fill_x(c->x, T * BATCH * IN, 7);
  return c->x;
}

/* The model's current parameter tensor (valid values to start a set_tensor row from). */
static float *tensor_now(ctx *c, const char *name, size_t *count) {
  rnnlab_tensor_info info;
  must(rnnlab_tensor_info_by_name(&info, c->m, name), "rnnlab_tensor_info_by_name");
  must(rnnlab_get_tensor(c->v, info.count, c->m, name), "rnnlab_get_tensor");
  *count = info.count;
  return c->v;
}

static float *params_now(ctx *c) {
  must(rnnlab_get_params(c->v, c->total, c->m), "rnnlab_get_params");
  return c->v;
}

static rnnlab_targets tg_good(ctx *c) { return good_targets(c->kind, c->tape, &c->ts); }

#define M (c->m)
/* A bad call; rows that need no context leave c unused. */
#define BAD(name) static rnnlab_status name(ctx *c)
#if defined(__GNUC__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-parameter"
#endif

/* ---- get_config / reset / set_training / zero_grad ---------------------------------------------- */
BAD(get_config_null_out) { return rnnlab_get_config(NULL, M); }
BAD(get_config_null_model) { return rnnlab_get_config(&c->o.cfg, NULL); }
BAD(get_config_size_zero) { c->o.cfg.struct_size = 0; return rnnlab_get_config(&c->o.cfg, M); }
BAD(get_config_size_small) {
  /* Smaller than the oldest rnnlab_config (0.1's, which ended at max_tape). */
  c->o.cfg.struct_size = (uint32_t)offsetof(rnnlab_config, denormals) - 8;
  return rnnlab_get_config(&c->o.cfg, M);
}
BAD(get_config_size_future) {
  /* A struct from a future header: larger than this library knows (the storage behind it is big
   * enough; the call must refuse before writing). */
  c->o.cfg.struct_size = (uint32_t)sizeof(rnnlab_config) + 8;
  return rnnlab_get_config(&c->o.cfg, M);
}
BAD(reset_null) { return rnnlab_reset(NULL); }
BAD(set_training_null) { return rnnlab_set_training(NULL, 1); }
BAD(zero_grad_null) { return rnnlab_zero_grad(NULL); }

/* ---- set_h0 ---------------------------------------------------------------------------------- */
static float *h0_values(ctx *c) {
  for (int k = 0; k < BATCH * HID; ++k) c->v[k] = 0.1f * (float)(k - 3);
  return c->v;
}
BAD(set_h0_null_model) { return rnnlab_set_h0(NULL, h0_values(c), BATCH * HID, BATCH); }
BAD(set_h0_null_h0) { return rnnlab_set_h0(M, NULL, BATCH * HID, BATCH); }
BAD(set_h0_batch_zero) { return rnnlab_set_h0(M, h0_values(c), BATCH * HID, 0); }
BAD(set_h0_batch_negative) { return rnnlab_set_h0(M, h0_values(c), BATCH * HID, -2); }
BAD(set_h0_batch_over_max) { return rnnlab_set_h0(M, h0_values(c), (MAXB + 1) * HID, MAXB + 1); }
BAD(set_h0_count) { return rnnlab_set_h0(M, h0_values(c), BATCH * HID - 1, BATCH); }
BAD(set_h0_nan) {
  float *h = h0_values(c);
  h[1 * HID + 2] = NAN; /* b=1, i=2 */
  h[1 * HID + 3] = NAN;
  return rnnlab_set_h0(M, h, BATCH * HID, BATCH);
}
BAD(set_h0_inf) {
  float *h = h0_values(c);
  h[0 * HID + 3] = -INFINITY; /* b=0, i=3 */
  return rnnlab_set_h0(M, h, BATCH * HID, BATCH);
}

/* ---- get_hidden -------------------------------------------------------------------------------- */
BAD(get_hidden_null_h) { return rnnlab_get_hidden(NULL, BATCH * HID, M); }
BAD(get_hidden_null_model) { return rnnlab_get_hidden(c->o.f, BATCH * HID, NULL); }
BAD(get_hidden_count) { return rnnlab_get_hidden(c->o.f, BATCH * HID + 1, M); }
BAD(get_hidden_no_sequence) { return rnnlab_get_hidden(c->o.f, BATCH * HID, M); }

/* ---- step -------------------------------------------------------------------------------------- */
#define YN(T) ((size_t)((T) * BATCH * c->W))
#define XN(T) ((size_t)((T) * BATCH * IN))
BAD(step_null_model) { return rnnlab_step(c->o.f, YN(1), NULL, xin(c, 1), XN(1), 1, BATCH); }
BAD(step_null_x) { return rnnlab_step(c->o.f, YN(1), M, NULL, XN(1), 1, BATCH); }
BAD(step_null_y_with_count) { return rnnlab_step(NULL, YN(1), M, xin(c, 1), XN(1), 1, BATCH); }
BAD(step_T_zero) { return rnnlab_step(c->o.f, 0, M, xin(c, 1), 0, 0, BATCH); }
BAD(step_T_negative) { return rnnlab_step(c->o.f, YN(1), M, xin(c, 1), XN(1), -1, BATCH); }
BAD(step_B_zero) { return rnnlab_step(c->o.f, 0, M, xin(c, 1), 0, 1, 0); }
BAD(step_B_negative) { return rnnlab_step(c->o.f, YN(1), M, xin(c, 1), XN(1), 1, -3); }
BAD(step_B_over_max) {
  fill_x(c->x, (MAXB + 1) * IN, 3);
  return rnnlab_step(c->o.f, (size_t)((MAXB + 1) * c->W), M, c->x, (size_t)((MAXB + 1) * IN), 1, MAXB + 1);
}
BAD(step_T_over_max_tape) { /* one step more than the tape has room for */
  const int T = MAXTAPE - c->tape + 1;
  return rnnlab_step(c->o.f, YN(T), M, xin(c, T), XN(T), T, BATCH);
}
BAD(step_B_changed) {
  fill_x(c->x, 3 * IN, 3);
  return rnnlab_step(c->o.f, (size_t)(3 * c->W), M, c->x, (size_t)(3 * IN), 1, 3);
}
BAD(step_x_count) { return rnnlab_step(c->o.f, YN(2), M, xin(c, 2), XN(2) - 1, 2, BATCH); }
BAD(step_y_count) { return rnnlab_step(c->o.f, YN(2) + 1, M, xin(c, 2), XN(2), 2, BATCH); }
BAD(step_x_nan) {
  float *x = xin(c, 3);
  x[(1 * BATCH + 1) * IN + 0] = NAN; /* t=1, b=1, i=0: the first one */
  x[(2 * BATCH + 0) * IN + 2] = NAN;
  return rnnlab_step(c->o.f, YN(3), M, x, XN(3), 3, BATCH);
}
BAD(step_x_inf) {
  float *x = xin(c, 3);
  x[(2 * BATCH + 0) * IN + 1] = INFINITY; /* t=2, b=0, i=1 */
  return rnnlab_step(c->o.f, YN(3), M, x, XN(3), 3, BATCH);
}
BAD(step_fresh_nan_other_B) { /* must not fix B = 3 for the sequence while refusing */
  fill_x(c->x, 3 * IN, 3);
  c->x[2 * IN + 1] = NAN; /* t=0, b=2, i=1 */
  return rnnlab_step(c->o.f, (size_t)(3 * c->W), M, c->x, (size_t)(3 * IN), 1, 3);
}
BAD(step_fresh_tape_over_other_B) {
  const int T = MAXTAPE + 1, B = 3;
  fill_x(c->x, T * B * IN, 3);
  return rnnlab_step(c->o.f, (size_t)(T * B * c->W), M, c->x, (size_t)(T * B * IN), T, B);
}

/* ---- backward ---------------------------------------------------------------------------------- */
BAD(backward_null_model) { rnnlab_targets tg = tg_good(c); return rnnlab_backward(NULL, &tg); }
BAD(backward_null_targets) { return rnnlab_backward(M, NULL); }
BAD(backward_nothing_recorded) { /* what a pass over 3 steps would take */
  rnnlab_targets tg = good_targets(c->kind, 3, &c->ts);
  return rnnlab_backward(M, &tg);
}
BAD(backward_none_set) {
  rnnlab_targets tg = tg_good(c);
  tg.classes = NULL;
  tg.values = NULL;
  tg.dy = NULL;
  return rnnlab_backward(M, &tg);
}
BAD(backward_two_set) {
  rnnlab_targets tg = tg_good(c);
  for (int k = 0; k < 64; ++k) c->v[k] = 0.0f;
  tg.dy = c->v;
  return rnnlab_backward(M, &tg);
}
BAD(backward_class_too_large) {
  rnnlab_targets tg = tg_good(c);
  c->ts.classes[1] = c->O;
  return rnnlab_backward(M, &tg);
}
BAD(backward_class_negative) {
  rnnlab_targets tg = tg_good(c);
  c->ts.classes[0] = -1;
  return rnnlab_backward(M, &tg);
}
BAD(backward_classes_count) {
  rnnlab_targets tg = tg_good(c);
  tg.count += 1;
  return rnnlab_backward(M, &tg);
}
BAD(backward_every_classes_B_only) { /* every-softmax wants T_tape * B classes */
  rnnlab_targets tg = tg_good(c);
  tg.count = BATCH;
  return rnnlab_backward(M, &tg);
}
BAD(backward_values_on_softmax) {
  rnnlab_targets tg = RNNLAB_TARGETS_INIT;
  for (int k = 0; k < 64; ++k) c->v[k] = 0.5f;
  tg.values = c->v;
  tg.count = (size_t)(BATCH * c->O);
  return rnnlab_backward(M, &tg);
}
BAD(backward_classes_on_linear) {
  rnnlab_targets tg = RNNLAB_TARGETS_INIT;
  for (int k = 0; k < 64; ++k) c->cls[k] = 0;
  tg.classes = c->cls;
  tg.count = BATCH;
  return rnnlab_backward(M, &tg);
}
BAD(backward_values_nan) {
  rnnlab_targets tg = tg_good(c);
  c->ts.values[1 * c->O + 1] = NAN; /* b=1, output 1 */
  return rnnlab_backward(M, &tg);
}
BAD(backward_values_count) {
  rnnlab_targets tg = tg_good(c);
  tg.count -= 1;
  return rnnlab_backward(M, &tg);
}
BAD(backward_dy_nan) {
  rnnlab_targets tg = RNNLAB_TARGETS_INIT;
  const int n = c->tape * BATCH * c->W;
  for (int k = 0; k < n; ++k) c->v[k] = 0.01f * (float)k;
  c->v[(1 * BATCH + 0) * c->W + 3 % c->W] = NAN; /* t=1, b=0, i=3 % W */
  c->v[(1 * BATCH + 1) * c->W] = NAN;
  tg.dy = c->v;
  tg.count = (size_t)n;
  return rnnlab_backward(M, &tg);
}
BAD(backward_dy_inf) {
  rnnlab_targets tg = RNNLAB_TARGETS_INIT;
  const int n = c->tape * BATCH * c->W;
  for (int k = 0; k < n; ++k) c->v[k] = 0.01f * (float)k;
  c->v[(0 * BATCH + 1) * c->W + 2] = -INFINITY; /* t=0, b=1, i=2 */
  tg.dy = c->v;
  tg.count = (size_t)n;
  return rnnlab_backward(M, &tg);
}
BAD(backward_dy_count) {
  rnnlab_targets tg = RNNLAB_TARGETS_INIT;
  for (int k = 0; k < 256; ++k) c->v[k] = 0.0f;
  tg.dy = c->v;
  tg.count = (size_t)((c->tape + 1) * BATCH * c->W);
  return rnnlab_backward(M, &tg);
}
BAD(backward_targets_size_zero) {
  rnnlab_targets tg = tg_good(c);
  tg.struct_size = 0;
  return rnnlab_backward(M, &tg);
}
BAD(backward_targets_size_future) {
  struct {
    rnnlab_targets t;
    char more[32];
  } big;
  memset(&big, 0, sizeof big);
  big.t = tg_good(c);
  big.t.struct_size = (uint32_t)sizeof big;
  return rnnlab_backward(M, &big.t);
}

/* ---- loss -------------------------------------------------------------------------------------- */
static rnnlab_targets tg_last(ctx *c) { return good_targets(c->kind, c->last_T, &c->ts); }
BAD(loss_null_loss) { rnnlab_targets tg = tg_last(c); return rnnlab_loss(NULL, &c->o.n, M, &tg, 0.2f); }
BAD(loss_null_model) { rnnlab_targets tg = tg_last(c); return rnnlab_loss(&c->o.d1, &c->o.n, NULL, &tg, 0.2f); }
BAD(loss_null_targets) { return rnnlab_loss(&c->o.d1, &c->o.n, M, NULL, 0.2f); }
BAD(loss_no_head) {
  rnnlab_targets tg = tg_last(c);
  return rnnlab_loss(&c->o.d1, &c->o.n, M, &tg, 0.2f);
}
BAD(loss_no_step) { rnnlab_targets tg = good_targets(c->kind, 1, &c->ts); return rnnlab_loss(&c->o.d1, &c->o.n, M, &tg, 0.2f); }
BAD(loss_err_abs_negative) { rnnlab_targets tg = tg_last(c); return rnnlab_loss(&c->o.d1, &c->o.n, M, &tg, -0.5f); }
BAD(loss_err_abs_nan) { rnnlab_targets tg = tg_last(c); return rnnlab_loss(&c->o.d1, &c->o.n, M, &tg, NAN); }
BAD(loss_dy) {
  rnnlab_targets tg = RNNLAB_TARGETS_INIT;
  for (int k = 0; k < 64; ++k) c->v[k] = 0.0f;
  tg.dy = c->v;
  tg.count = (size_t)(c->last_T * BATCH * c->W);
  return rnnlab_loss(&c->o.d1, &c->o.n, M, &tg, 0.2f);
}
BAD(loss_class_out_of_range) {
  rnnlab_targets tg = tg_last(c);
  c->ts.classes[1] = c->O + 4;
  return rnnlab_loss(&c->o.d1, &c->o.n, M, &tg, 0.2f);
}
BAD(loss_targets_size_zero) {
  rnnlab_targets tg = tg_last(c);
  tg.struct_size = 0;
  return rnnlab_loss(&c->o.d1, &c->o.n, M, &tg, 0.2f);
}

/* ---- input / h0 gradients ----------------------------------------------------------------------- */
/* S_FULL: the last pass ran over 3 steps. */
BAD(input_grad_null_dx) { return rnnlab_get_input_grad(NULL, 3 * BATCH * IN, M); }
BAD(input_grad_null_model) { return rnnlab_get_input_grad(c->o.f, 3 * BATCH * IN, NULL); }
BAD(input_grad_count) { return rnnlab_get_input_grad(c->o.f, 3 * BATCH * IN - 1, M); }
BAD(input_grad_no_pass) { return rnnlab_get_input_grad(c->o.f, 3 * BATCH * IN, M); }
BAD(h0_grad_null_dh0) { return rnnlab_get_h0_grad(NULL, BATCH * HID, M); }
BAD(h0_grad_null_model) { return rnnlab_get_h0_grad(c->o.f, BATCH * HID, NULL); }
BAD(h0_grad_count) { return rnnlab_get_h0_grad(c->o.f, BATCH * HID + 1, M); }
BAD(h0_grad_no_pass) { return rnnlab_get_h0_grad(c->o.f, BATCH * HID, M); }

/* ---- counts and tensor info -------------------------------------------------------------------- */
BAD(param_count_null_model) { return rnnlab_param_count(&c->o.s1, &c->o.s2, NULL); }
BAD(param_count_both_null) { return rnnlab_param_count(NULL, NULL, M); }
BAD(tensor_count_null_n) { return rnnlab_tensor_count(NULL, M); }
BAD(tensor_count_null_model) { return rnnlab_tensor_count(&c->o.n, NULL); }
BAD(info_at_null_out) { return rnnlab_tensor_info_at(NULL, M, 0); }
BAD(info_at_null_model) { return rnnlab_tensor_info_at(&c->o.info, NULL, 0); }
BAD(info_at_negative) { return rnnlab_tensor_info_at(&c->o.info, M, -1); }
BAD(info_at_past_end) { /* 6 tensors with a head, 4 without */
  return rnnlab_tensor_info_at(&c->o.info, M, c->O ? 6 : 4);
}
BAD(info_by_name_null_out) { return rnnlab_tensor_info_by_name(NULL, M, "weight_hh"); }
BAD(info_by_name_null_model) { return rnnlab_tensor_info_by_name(&c->o.info, NULL, "weight_hh"); }
BAD(info_by_name_null_name) { return rnnlab_tensor_info_by_name(&c->o.info, M, NULL); }
BAD(info_by_name_unknown) { return rnnlab_tensor_info_by_name(&c->o.info, M, "weight_hx"); }
BAD(info_by_name_empty) { return rnnlab_tensor_info_by_name(&c->o.info, M, ""); }
BAD(info_by_name_head_without_head) { return rnnlab_tensor_info_by_name(&c->o.info, M, "head.weight"); }

/* ---- get_tensor / set_tensor / get_grad ------------------------------------------------------- */
#define NHH ((size_t)(3 * HID * HID)) /* a GRU's weight_hh */
BAD(get_tensor_null_out) { return rnnlab_get_tensor(NULL, NHH, M, "weight_hh"); }
BAD(get_tensor_null_model) { return rnnlab_get_tensor(c->o.f, NHH, NULL, "weight_hh"); }
BAD(get_tensor_null_name) { return rnnlab_get_tensor(c->o.f, NHH, M, NULL); }
BAD(get_tensor_unknown) { return rnnlab_get_tensor(c->o.f, NHH, M, "wieght_hh"); }
BAD(get_tensor_count) { return rnnlab_get_tensor(c->o.f, NHH - 1, M, "weight_hh"); }
BAD(get_grad_null_out) { return rnnlab_get_grad(NULL, NHH, M, "weight_hh"); }
BAD(get_grad_null_model) { return rnnlab_get_grad(c->o.f, NHH, NULL, "weight_hh"); }
BAD(get_grad_null_name) { return rnnlab_get_grad(c->o.f, NHH, M, NULL); }
BAD(get_grad_unknown) { return rnnlab_get_grad(c->o.f, NHH, M, "grad_hh"); }
BAD(get_grad_count) { return rnnlab_get_grad(c->o.f, NHH + 1, M, "weight_hh"); }

/* Valid new values for weight_hh (different from the current ones), to be spoiled by the row. */
static float *new_weight_hh(ctx *c, size_t *n) {
  float *v = tensor_now(c, "weight_hh", n);
  for (size_t k = 0; k < *n; ++k) v[k] = 0.5f * v[k] + 0.01f;
  return v;
}
BAD(set_tensor_null_model) { size_t n; float *v = new_weight_hh(c, &n); return rnnlab_set_tensor(NULL, "weight_hh", v, n); }
BAD(set_tensor_null_name) { size_t n; float *v = new_weight_hh(c, &n); return rnnlab_set_tensor(M, NULL, v, n); }
BAD(set_tensor_null_values) { return rnnlab_set_tensor(M, "weight_hh", NULL, NHH); }
BAD(set_tensor_unknown) { size_t n; float *v = new_weight_hh(c, &n); return rnnlab_set_tensor(M, "weight_hz", v, n); }
BAD(set_tensor_count) { size_t n; float *v = new_weight_hh(c, &n); return rnnlab_set_tensor(M, "weight_hh", v, n - 1); }
BAD(set_tensor_nan) {
  size_t n;
  float *v = new_weight_hh(c, &n);
  v[5] = NAN;
  v[9] = NAN;
  return rnnlab_set_tensor(M, "weight_hh", v, n);
}
BAD(set_tensor_inf) {
  size_t n;
  float *v = new_weight_hh(c, &n);
  v[n - 1] = INFINITY; /* the last entry: all others would already have been copied */
  return rnnlab_set_tensor(M, "weight_hh", v, n);
}
BAD(set_tensor_frozen_ih) { /* GRU, z frozen at 1.5: bias_ih z block = entries H..2H-1 */
  size_t n;
  float *v = tensor_now(c, "bias_ih", &n);
  for (int j = 0; j < HID; ++j) v[j] += 0.25f; /* r: trainable, changed */
  v[HID + HID - 1] = 0.75f;                   /* z, last unit: frozen */
  return rnnlab_set_tensor(M, "bias_ih", v, n);
}
BAD(set_tensor_frozen_hh) { /* the held b_hz = 0 of a frozen z gate */
  size_t n;
  float *v = tensor_now(c, "bias_hh", &n);
  v[0] += 0.5f;
  v[HID + 1] = 0.125f;
  return rnnlab_set_tensor(M, "bias_hh", v, n);
}
BAD(set_tensor_single_bias_hh) { /* RNN in single bias mode: bias_hh held at 0 */
  size_t n;
  float *v = tensor_now(c, "bias_hh", &n);
  v[2] = -0.5f;
  return rnnlab_set_tensor(M, "bias_hh", v, n);
}

/* ---- get_params / set_params / get_grads / get_trainable_mask --------------------------------- */
BAD(get_params_null_out) { return rnnlab_get_params(NULL, c->total, M); }
BAD(get_params_null_model) { return rnnlab_get_params(c->o.f, c->total, NULL); }
BAD(get_params_count_small) { return rnnlab_get_params(c->o.f, c->total - 1, M); }
BAD(get_params_count_large) { return rnnlab_get_params(c->o.f, c->total + 1, M); }
BAD(get_params_count_zero) { return rnnlab_get_params(c->o.f, 0, M); }
static float *new_params(ctx *c) {
  float *v = params_now(c);
  uint8_t mask[MAXP];
  must(rnnlab_get_trainable_mask(mask, c->total, M), "rnnlab_get_trainable_mask");
  for (size_t k = 0; k < c->total; ++k)
    if (mask[k]) v[k] = 0.75f * v[k] - 0.01f;
  return v;
}
BAD(set_params_null_model) { return rnnlab_set_params(NULL, new_params(c), c->total); }
BAD(set_params_null_values) { return rnnlab_set_params(M, NULL, c->total); }
BAD(set_params_count) { return rnnlab_set_params(M, new_params(c), c->total - 1); }
BAD(set_params_nan_last) {
  float *v = new_params(c);
  v[c->total - 1] = NAN;
  return rnnlab_set_params(M, v, c->total);
}
BAD(set_params_inf) {
  float *v = new_params(c);
  v[17] = -INFINITY;
  return rnnlab_set_params(M, v, c->total);
}
BAD(set_params_frozen) { /* GRU: bias_ih starts at 3H*I + 3H*H; its z block is frozen */
  float *v = new_params(c);
  v[3 * HID * IN + 3 * HID * HID + HID + 2] = 0.0f;
  return rnnlab_set_params(M, v, c->total);
}
BAD(get_grads_null_out) { return rnnlab_get_grads(NULL, c->total, M); }
BAD(get_grads_null_model) { return rnnlab_get_grads(c->o.f, c->total, NULL); }
BAD(get_grads_count) { return rnnlab_get_grads(c->o.f, c->total + 3, M); }
static float *new_grads(ctx *c) { /* a valid gradient: trainable entries non-zero, held ones 0 */
  float *v = params_now(c);
  uint8_t mask[MAXP];
  must(rnnlab_get_trainable_mask(mask, c->total, M), "rnnlab_get_trainable_mask");
  for (size_t k = 0; k < c->total; ++k) v[k] = mask[k] ? 0.5f - 0.01f * (float)k : 0.0f;
  return v;
}
BAD(set_grads_null_model) { return rnnlab_set_grads(NULL, new_grads(c), c->total); }
BAD(set_grads_null_values) { return rnnlab_set_grads(M, NULL, c->total); }
BAD(set_grads_count_small) { return rnnlab_set_grads(M, new_grads(c), c->total - 1); }
BAD(set_grads_count_large) { return rnnlab_set_grads(M, new_grads(c), c->total + 1); }
BAD(set_grads_frozen) { /* GRU: bias_ih starts at 3H*I + 3H*H; its z block is frozen */
  float *v = new_grads(c);
  v[3 * HID * IN + 3 * HID * HID + HID + 2] = 0.25f;
  return rnnlab_set_grads(M, v, c->total);
}
BAD(set_grads_single_bias_hh) { /* vanilla RNN in single bias mode: bias_hh is held */
  float *v = new_grads(c);
  rnnlab_tensor_info ti;
  must(rnnlab_tensor_info_by_name(&ti, M, "bias_hh"), "rnnlab_tensor_info_by_name");
  v[ti.offset + 1] = -2.0f;
  return rnnlab_set_grads(M, v, c->total);
}
BAD(mask_null_out) { return rnnlab_get_trainable_mask(NULL, c->total, M); }
BAD(mask_null_model) { return rnnlab_get_trainable_mask(c->o.u, c->total, NULL); }
BAD(mask_count) { return rnnlab_get_trainable_mask(c->o.u, c->total - 1, M); }

/* ---- diag settings ---------------------------------------------------------------------------- */
BAD(diag_level_null) { return rnnlab_set_diag_level(NULL, RNNLAB_DIAG_FULL); }
BAD(diag_level_unknown) { return rnnlab_set_diag_level(M, (rnnlab_diag_level)3); }
BAD(diag_level_negative) { return rnnlab_set_diag_level(M, (rnnlab_diag_level)-1); }
BAD(sat_thresh_null) { return rnnlab_set_sat_thresh(NULL, 0.1f); }
BAD(sat_thresh_zero) { return rnnlab_set_sat_thresh(M, 0.0f); }
BAD(sat_thresh_large) { return rnnlab_set_sat_thresh(M, 0.51f); }
BAD(sat_thresh_nan) { return rnnlab_set_sat_thresh(M, NAN); }
BAD(bound_null) { return rnnlab_set_bound(NULL, 1e-10); }
BAD(bound_negative) { return rnnlab_set_bound(M, -1e-10); }
BAD(bound_inf) { return rnnlab_set_bound(M, INFINITY); }
BAD(bound_nan) { return rnnlab_set_bound(M, NAN); }

/* ---- diagnostics, traces, summaries ------------------------------------------------------------ */
BAD(diagnostics_null_out) { return rnnlab_diagnostics(NULL, M); }
BAD(diagnostics_null_model) { return rnnlab_diagnostics(&c->o.diag, NULL); }
BAD(diagnostics_size_zero) { c->o.diag.struct_size = 0; return rnnlab_diagnostics(&c->o.diag, M); }
BAD(diagnostics_size_small) { c->o.diag.struct_size = (uint32_t)sizeof(rnnlab_diag) - 4; return rnnlab_diagnostics(&c->o.diag, M); }
BAD(diagnostics_size_future) {
  struct {
    rnnlab_diag d;
    char more[32];
  } big;
  memset(&big, 0x5a, sizeof big);
  big.d.struct_size = (uint32_t)sizeof big;
  rnnlab_status s = rnnlab_diagnostics(&big.d, M);
  for (size_t k = sizeof(uint32_t); k < sizeof big; ++k)
    if (((const unsigned char *)&big)[k] != 0x5a) fail_msg("rnnlab_diagnostics wrote into a refused struct");
  return s;
}
BAD(diagnostics_no_pass) { return rnnlab_diagnostics(&c->o.diag, M); }
BAD(trace_from_name_null_out) { return rnnlab_trace_from_name(NULL, "grad_time"); }
BAD(trace_from_name_null_name) { return rnnlab_trace_from_name(&c->o.trace, NULL); }
BAD(trace_from_name_unknown) { return rnnlab_trace_from_name(&c->o.trace, "grad_tim"); }
BAD(trace_from_name_empty) { return rnnlab_trace_from_name(&c->o.trace, ""); }
BAD(get_trace_null_model) { return rnnlab_get_trace(c->o.d, 64, &c->o.n, NULL, RNNLAB_TRACE_GRAD_TIME); }
BAD(get_trace_unknown) { return rnnlab_get_trace(c->o.d, 64, &c->o.n, M, RNNLAB_TRACE_COUNT); }
BAD(get_trace_negative) { return rnnlab_get_trace(c->o.d, 64, &c->o.n, M, (rnnlab_trace)-1); }
BAD(get_trace_gate_on_rnn) { return rnnlab_get_trace(c->o.d, 64, &c->o.n, M, RNNLAB_TRACE_GATE_Z_MEAN_TIME); }
BAD(get_trace_cand_on_rnn) { return rnnlab_get_trace(c->o.d, 64, &c->o.n, M, RNNLAB_TRACE_CAND_ACT_TIME); }
BAD(get_trace_below_full) { return rnnlab_get_trace(c->o.d, 64, &c->o.n, M, RNNLAB_TRACE_GRAD_TIME); }
BAD(get_trace_no_pass) { return rnnlab_get_trace(c->o.d, 64, &c->o.n, M, RNNLAB_TRACE_SAT_TIME); }
BAD(get_trace_count) { /* the last pass ran over 3 steps */
  return rnnlab_get_trace(c->o.d, 2, &c->o.n, M, RNNLAB_TRACE_GRAD_TIME);
}
BAD(get_trace_null_out_count) { return rnnlab_get_trace(NULL, 3, &c->o.n, M, RNNLAB_TRACE_GRAD_TIME); }
BAD(get_trace_null_out_len) { return rnnlab_get_trace(NULL, 0, NULL, M, RNNLAB_TRACE_GRAD_TIME); }
BAD(blocks_null_model) { return rnnlab_grad_norm_blocks(c->o.d, c->o.names, 64, &c->o.n, NULL); }
BAD(blocks_null_n) { return rnnlab_grad_norm_blocks(c->o.d, c->o.names, 64, NULL, M); }
BAD(blocks_no_pass) { return rnnlab_grad_norm_blocks(c->o.d, c->o.names, 64, &c->o.n, M); }
BAD(blocks_level_off) { return rnnlab_grad_norm_blocks(c->o.d, c->o.names, 64, &c->o.n, M); }
BAD(blocks_count) { return rnnlab_grad_norm_blocks(c->o.d, c->o.names, 3, &c->o.n, M); }
BAD(blocks_null_norms_count) { return rnnlab_grad_norm_blocks(NULL, NULL, 5, &c->o.n, M); }
BAD(trace_summary_null_out) { return rnnlab_trace_summary(NULL, c->o.hist, 4, 0, 0, M, RNNLAB_TRACE_GRAD_TIME); }
BAD(trace_summary_null_model) { return rnnlab_trace_summary(&c->o.summary, c->o.hist, 4, 0, 0, NULL, RNNLAB_TRACE_GRAD_TIME); }
BAD(trace_summary_bins_zero) { return rnnlab_trace_summary(&c->o.summary, c->o.hist, 0, 0, 0, M, RNNLAB_TRACE_GRAD_TIME); }
BAD(trace_summary_bins_negative) { return rnnlab_trace_summary(&c->o.summary, c->o.hist, -4, 0, 0, M, RNNLAB_TRACE_GRAD_TIME); }
BAD(trace_summary_range) { return rnnlab_trace_summary(&c->o.summary, c->o.hist, 4, 1.0, -1.0, M, RNNLAB_TRACE_GRAD_TIME); }
BAD(trace_summary_range_nan) { return rnnlab_trace_summary(&c->o.summary, c->o.hist, 4, NAN, 1.0, M, RNNLAB_TRACE_GRAD_TIME); }
BAD(trace_summary_size) { c->o.summary.struct_size = 0; return rnnlab_trace_summary(&c->o.summary, c->o.hist, 4, 0, 0, M, RNNLAB_TRACE_GRAD_TIME); }
BAD(trace_summary_unknown) { return rnnlab_trace_summary(&c->o.summary, c->o.hist, 4, 0, 0, M, (rnnlab_trace)99); }
BAD(trace_summary_gate_on_rnn) { return rnnlab_trace_summary(&c->o.summary, c->o.hist, 4, 0, 0, M, RNNLAB_TRACE_GATE_R_SAT_TIME); }
BAD(trace_summary_no_pass) { return rnnlab_trace_summary(&c->o.summary, c->o.hist, 4, 0, 0, M, RNNLAB_TRACE_GRAD_TIME); }
BAD(trace_summary_below_full) { return rnnlab_trace_summary(&c->o.summary, c->o.hist, 4, 0, 0, M, RNNLAB_TRACE_ACT_TIME); }
static const double kValues[5] = {1.0, 2.0, 3.0, 4.0, 5.0};
BAD(summarize_null_out) { return rnnlab_summarize(NULL, c->o.hist, 4, 0, 0, kValues, 5); }
BAD(summarize_null_values) { return rnnlab_summarize(&c->o.summary, c->o.hist, 4, 0, 0, NULL, 5); }
BAD(summarize_bins_zero) { return rnnlab_summarize(&c->o.summary, c->o.hist, 0, 0, 0, kValues, 5); }
BAD(summarize_range) { return rnnlab_summarize(&c->o.summary, c->o.hist, 4, 2.0, 1.0, kValues, 5); }
BAD(summarize_range_inf) { return rnnlab_summarize(&c->o.summary, c->o.hist, 4, 0.0, INFINITY, kValues, 5); }
BAD(summarize_size_small) { c->o.summary.struct_size = 8; return rnnlab_summarize(&c->o.summary, c->o.hist, 4, 0, 0, kValues, 5); }
BAD(summarize_size_future) {
  struct {
    rnnlab_summary s;
    char more[32];
  } big;
  memset(&big, 0x5a, sizeof big);
  big.s.struct_size = (uint32_t)sizeof big;
  rnnlab_status st = rnnlab_summarize(&big.s, c->o.hist, 4, 0, 0, kValues, 5);
  for (size_t k = sizeof(uint32_t); k < sizeof big; ++k)
    if (((const unsigned char *)&big)[k] != 0x5a) fail_msg("rnnlab_summarize wrote into a refused struct");
  return st;
}

/* ---- spectral, jacobian ------------------------------------------------------------------------ */
BAD(spectral_null_model) { return rnnlab_spectral(&c->o.d1, &c->o.d2, NULL, RNNLAB_BLOCK_HN); }
BAD(spectral_both_null) { return rnnlab_spectral(NULL, NULL, M, RNNLAB_BLOCK_HN); }
BAD(spectral_unknown_block) { return rnnlab_spectral(&c->o.d1, &c->o.d2, M, (rnnlab_block)3); }
BAD(spectral_hz_on_rnn) { return rnnlab_spectral(&c->o.d1, &c->o.d2, M, RNNLAB_BLOCK_HZ); }
BAD(spectral_hr_on_rnn) { return rnnlab_spectral(&c->o.d1, NULL, M, RNNLAB_BLOCK_HR); }
/* S_FULL: the tape holds 2 steps of B = 2. */
BAD(jacobian_null_J) { return rnnlab_jacobian(NULL, HID * HID, M, 0, 0); }
BAD(jacobian_null_model) { return rnnlab_jacobian(c->o.f, HID * HID, NULL, 0, 0); }
BAD(jacobian_t_negative) { return rnnlab_jacobian(c->o.f, HID * HID, M, -1, 0); }
BAD(jacobian_t_past) { return rnnlab_jacobian(c->o.f, HID * HID, M, 2, 0); }
BAD(jacobian_b_negative) { return rnnlab_jacobian(c->o.f, HID * HID, M, 0, -1); }
BAD(jacobian_b_past) { return rnnlab_jacobian(c->o.f, HID * HID, M, 0, BATCH); }
BAD(jacobian_count) { return rnnlab_jacobian(c->o.f, HID * HID - 1, M, 1, 1); }
BAD(jacobian_nothing) { return rnnlab_jacobian(c->o.f, HID * HID, M, 0, 0); }

/* ---- optimiser ------------------------------------------------------------------------------- */
static rnnlab_optimizer_config *opt_cfg(ctx *c) {
  static rnnlab_optimizer_config o;
  (void)c;
  o = adam_config();
  return &o;
}
BAD(set_opt_null_model) { return rnnlab_set_optimizer(NULL, opt_cfg(c)); }
BAD(set_opt_null_cfg) { return rnnlab_set_optimizer(M, NULL); }
BAD(set_opt_size_zero) { rnnlab_optimizer_config *o = opt_cfg(c); o->struct_size = 0; return rnnlab_set_optimizer(M, o); }
BAD(set_opt_size_future) {
  struct {
    rnnlab_optimizer_config o;
    char more[32];
  } big;
  memset(&big, 0, sizeof big);
  big.o = *opt_cfg(c);
  big.o.struct_size = (uint32_t)sizeof big;
  return rnnlab_set_optimizer(M, &big.o);
}
#define SET_OPT(name, edit)                      \
  BAD(name) {                                    \
    rnnlab_optimizer_config *o = opt_cfg(c);     \
    edit;                                        \
    return rnnlab_set_optimizer(M, o);           \
  }
SET_OPT(set_opt_kind_unknown, o->kind = (rnnlab_optimizer_kind)3)
SET_OPT(set_opt_lr_zero, o->lr = 0.0)
SET_OPT(set_opt_lr_nan, o->lr = NAN)
SET_OPT(set_opt_momentum_one, o->kind = RNNLAB_OPTIMIZER_SGD; o->momentum = 1.0)
SET_OPT(set_opt_momentum_adam, o->momentum = 0.9)
SET_OPT(set_opt_beta1_one, o->beta1 = 1.0)
SET_OPT(set_opt_beta2_negative, o->beta2 = -0.1)
SET_OPT(set_opt_eps_zero, o->eps = 0.0)
SET_OPT(set_opt_wd_negative, o->weight_decay = -0.5)
SET_OPT(set_opt_lr_min_constant, o->lr_min = 0.001)
SET_OPT(set_opt_cosine_no_steps, o->schedule = RNNLAB_SCHEDULE_COSINE; o->schedule_steps = 0)
SET_OPT(set_opt_cosine_lr_min_above, o->schedule = RNNLAB_SCHEDULE_COSINE; o->schedule_steps = 100; o->lr_min = 0.5)
SET_OPT(set_opt_schedule_unknown, o->schedule = (rnnlab_schedule)2)
SET_OPT(set_opt_warmup_negative, o->warmup_steps = -1)
SET_OPT(set_opt_period_negative, o->schedule_period = -3)
SET_OPT(set_opt_clip_unknown, o->clip = (rnnlab_clip)2)
SET_OPT(set_opt_cutoff_zero, o->clip = RNNLAB_CLIP_RESCALE; o->cutoff = 0.0)
SET_OPT(set_opt_clip_value_negative, o->clip_value = -1.0)
SET_OPT(set_opt_alpha_negative, o->alpha = -0.5)
SET_OPT(set_opt_alpha_gru, o->alpha = 0.5)
BAD(get_opt_null_out) { return rnnlab_get_optimizer(NULL, M); }
BAD(get_opt_null_model) { return rnnlab_get_optimizer(&c->o.opt, NULL); }
BAD(get_opt_size_zero) { c->o.opt.struct_size = 0; return rnnlab_get_optimizer(&c->o.opt, M); }
BAD(get_opt_none) { return rnnlab_get_optimizer(&c->o.opt, M); }
BAD(get_opt_state_null_out) { return rnnlab_get_optimizer_state(NULL, M); }
BAD(get_opt_state_null_model) { return rnnlab_get_optimizer_state(&c->o.opt_state, NULL); }
BAD(get_opt_state_size_zero) { c->o.opt_state.struct_size = 0; return rnnlab_get_optimizer_state(&c->o.opt_state, M); }
BAD(get_opt_state_none) { return rnnlab_get_optimizer_state(&c->o.opt_state, M); }
BAD(reset_opt_null) { return rnnlab_reset_optimizer(NULL); }
BAD(reset_opt_none) { return rnnlab_reset_optimizer(M); }
BAD(schedule_step_null) { return rnnlab_schedule_step(NULL); }
BAD(schedule_step_none) { return rnnlab_schedule_step(M); }
BAD(update_null) { return rnnlab_update(NULL); }
BAD(update_none) { return rnnlab_update(M); }

/* ---- checkpoints and .npz files (made by make_files) ------------------------------------------- */
static char g_dir[512];

/* g_dir/name, in one of a few rotating buffers. */
static const char *fpath(const char *name) {
  static char buf[4][1024];
  static int k;
  k = (k + 1) % 4;
  snprintf(buf[k], sizeof buf[k], "%s/%s", g_dir, name);
  return buf[k];
}

/* 1 if the directory holds a leftover temporary file of a save to `base`. */
static int leftover_tmp(const char *base) {
  char prefix[256];
  int found = 0;
  snprintf(prefix, sizeof prefix, ".%s.tmp", base);
  DIR *d = opendir(g_dir);
  if (!d) return 1;
  for (struct dirent *e = readdir(d); e; e = readdir(d))
    if (strncmp(e->d_name, prefix, strlen(prefix)) == 0) found = 1;
  closedir(d);
  return found;
}

BAD(save_null_model) { return rnnlab_save(NULL, fpath("new.ckpt")); }
BAD(save_null_path) { return rnnlab_save(M, NULL); }
BAD(save_missing_dir) {
  rnnlab_status st = rnnlab_save(M, fpath("no_such_dir/new.ckpt"));
  struct stat sb;
  if (stat(fpath("no_such_dir"), &sb) == 0) fail_msg("a failed save created a directory");
  return st;
}
BAD(save_over_directory) { /* the target is a directory: refused, and no temporary file left behind */
  rnnlab_status st = rnnlab_save(M, fpath("a_directory"));
  if (leftover_tmp("a_directory")) {
    print_error("a refused rnnlab_save left a temporary file in %s\n", g_dir);
    return (rnnlab_status)1;
  }
  return st;
}
BAD(save_ex_null_user) { return rnnlab_save_ex(M, fpath("new.ckpt"), NULL, 5); }
BAD(load_null_model) { return rnnlab_load(NULL, fpath("gru.ckpt")); }
BAD(load_null_path) { return rnnlab_load(M, NULL); }
BAD(load_missing) { return rnnlab_load(M, fpath("missing.ckpt")); }
BAD(load_directory) { return rnnlab_load(M, fpath("a_directory")); }
BAD(load_empty) { return rnnlab_load(M, fpath("empty.ckpt")); }
BAD(load_garbage) { return rnnlab_load(M, fpath("garbage.ckpt")); }
BAD(load_truncated) { return rnnlab_load(M, fpath("truncated.ckpt")); }
BAD(load_flipped) { return rnnlab_load(M, fpath("flipped.ckpt")); }
BAD(load_other_shape) { return rnnlab_load(M, fpath("rnn.ckpt")); }
BAD(load_ex_null_user) { size_t n = 0; return rnnlab_load_ex(NULL, 4, &n, M, fpath("user.ckpt")); }
BAD(load_ex_small_buffer) {
  unsigned char user[4] = {0xA5, 0xA5, 0xA5, 0xA5};
  size_t got = 0;
  const rnnlab_status st = rnnlab_load_ex(user, sizeof user, &got, M, fpath("user.ckpt"));
  if (got != 16 || user[0] != 0xA5 || user[3] != 0xA5) {
    print_error("rnnlab_load_ex with a 4-byte buffer: user_size %zu (want 16), buffer written: %d\n", got,
                user[0] != 0xA5 || user[3] != 0xA5);
    return (rnnlab_status)1;
  }
  return st;
}
BAD(load_ex_corrupt) { size_t n = 0; unsigned char u[32]; return rnnlab_load_ex(u, sizeof u, &n, M, fpath("flipped.ckpt")); }
BAD(ckpt_config_null_out) { return rnnlab_checkpoint_config(NULL, fpath("gru.ckpt")); }
BAD(ckpt_config_null_path) { return rnnlab_checkpoint_config(&c->o.cfg, NULL); }
BAD(ckpt_config_size_zero) { c->o.cfg.struct_size = 0; return rnnlab_checkpoint_config(&c->o.cfg, fpath("gru.ckpt")); }
BAD(ckpt_config_missing) { return rnnlab_checkpoint_config(&c->o.cfg, fpath("missing.ckpt")); }
BAD(ckpt_config_garbage) { return rnnlab_checkpoint_config(&c->o.cfg, fpath("garbage.ckpt")); }
BAD(ckpt_config_truncated) { return rnnlab_checkpoint_config(&c->o.cfg, fpath("truncated.ckpt")); }
BAD(ckpt_config_flipped) { return rnnlab_checkpoint_config(&c->o.cfg, fpath("flipped.ckpt")); }
BAD(export_npz_null_model) { return rnnlab_export_npz(NULL, fpath("new.npz"), NULL, NULL, 0); }
BAD(export_npz_null_path) { return rnnlab_export_npz(M, NULL, NULL, NULL, 0); }
BAD(export_npz_flags) { return rnnlab_export_npz(M, fpath("new.npz"), NULL, NULL, 4u); }
BAD(export_npz_missing_dir) { return rnnlab_export_npz(M, fpath("no_such_dir/new.npz"), NULL, NULL, 0); }
BAD(import_npz_null_model) { return rnnlab_import_npz(NULL, fpath("free.npz")); }
BAD(import_npz_null_path) { return rnnlab_import_npz(M, NULL); }
BAD(import_npz_missing) { return rnnlab_import_npz(M, fpath("missing.npz")); }
BAD(import_npz_garbage) { return rnnlab_import_npz(M, fpath("garbage.ckpt")); }
BAD(import_npz_other_shape) { return rnnlab_import_npz(M, fpath("rnn.npz")); }
BAD(import_npz_frozen) { return rnnlab_import_npz(M, fpath("free.npz")); }
BAD(import_npz_checkpoint) { return rnnlab_import_npz(M, fpath("gru.ckpt")); }

#if defined(__GNUC__)
#pragma GCC diagnostic pop
#endif

/* ---------------------------------------------------------------------------------------------- */
/* The table                                                                                      */
/* ---------------------------------------------------------------------------------------------- */
typedef struct row {
  const char *name;
  int kind, setup;
  const char *fn; /* the entry point the message must name */
  rnnlab_status (*call)(ctx *c);
  rnnlab_status want;
  const char *needle[4]; /* substrings the message must contain */
} row;

#define ROW(kind, setup, fn, call, want, ...) {#call, kind, setup, #fn, call, want, {__VA_ARGS__}}
#define E(x) RNNLAB_E_##x

static const row kRows[] = {
    ROW(K_GRU, S_FULL, rnnlab_get_config, get_config_null_out, E(NULL), "'out'"),
    ROW(K_GRU, S_FULL, rnnlab_get_config, get_config_null_model, E(NULL), "'model'"),
    ROW(K_GRU, S_FULL, rnnlab_get_config, get_config_size_zero, E(VERSION), "struct_size", "0"),
    ROW(K_GRU, S_FULL, rnnlab_get_config, get_config_size_small, E(VERSION), "struct_size"),
    ROW(K_GRU, S_FULL, rnnlab_get_config, get_config_size_future, E(VERSION), "struct_size"),
    ROW(K_GRU, S_FULL, rnnlab_reset, reset_null, E(NULL), "'model'"),
    ROW(K_GRU, S_FULL, rnnlab_set_training, set_training_null, E(NULL), "'model'"),
    ROW(K_GRU, S_FULL, rnnlab_zero_grad, zero_grad_null, E(NULL), "'model'"),

    ROW(K_GRU, S_FULL, rnnlab_set_h0, set_h0_null_model, E(NULL), "'model'"),
    ROW(K_GRU, S_FULL, rnnlab_set_h0, set_h0_null_h0, E(NULL), "'h0'"),
    ROW(K_GRU, S_FULL, rnnlab_set_h0, set_h0_batch_zero, E(INVALID_ARGUMENT), "batch", "0"),
    ROW(K_GRU, S_FULL, rnnlab_set_h0, set_h0_batch_negative, E(INVALID_ARGUMENT), "batch", "-2"),
    ROW(K_GRU, S_FULL, rnnlab_set_h0, set_h0_batch_over_max, E(INVALID_ARGUMENT), "batch", "max_batch"),
    ROW(K_GRU, S_FULL, rnnlab_set_h0, set_h0_count, E(SIZE_MISMATCH), "h0", "7", "8"),
    ROW(K_GRU, S_FULL, rnnlab_set_h0, set_h0_nan, E(NONFINITE), "h0", "b=1", "[2]", "NaN"),
    ROW(K_RNN, S_STEPPED, rnnlab_set_h0, set_h0_inf, E(NONFINITE), "h0", "b=0", "[3]", "Inf"),

    ROW(K_GRU, S_FULL, rnnlab_get_hidden, get_hidden_null_h, E(NULL), "'h'"),
    ROW(K_GRU, S_FULL, rnnlab_get_hidden, get_hidden_null_model, E(NULL), "'model'"),
    ROW(K_GRU, S_FULL, rnnlab_get_hidden, get_hidden_count, E(SIZE_MISMATCH), "9", "8"),
    ROW(K_GRU, S_FRESH, rnnlab_get_hidden, get_hidden_no_sequence, E(STATE), "sequence"),

    ROW(K_GRU, S_FULL, rnnlab_step, step_null_model, E(NULL), "'model'"),
    ROW(K_GRU, S_FULL, rnnlab_step, step_null_x, E(NULL), "'x'"),
    ROW(K_GRU, S_FULL, rnnlab_step, step_null_y_with_count, E(NULL), "'y'", "y_count"),
    ROW(K_GRU, S_FULL, rnnlab_step, step_T_zero, E(INVALID_ARGUMENT), "T = 0"),
    ROW(K_GRU, S_FULL, rnnlab_step, step_T_negative, E(INVALID_ARGUMENT), "T = -1"),
    ROW(K_GRU, S_FULL, rnnlab_step, step_B_zero, E(INVALID_ARGUMENT), "B = 0"),
    ROW(K_RNN, S_FRESH, rnnlab_step, step_B_negative, E(INVALID_ARGUMENT), "B = -3"),
    ROW(K_GRU, S_FULL, rnnlab_step, step_B_over_max, E(INVALID_ARGUMENT), "B = 5", "max_batch"),
    ROW(K_GRU, S_FRESH, rnnlab_step, step_B_over_max, E(INVALID_ARGUMENT), "B = 5", "max_batch"),
    ROW(K_GRU, S_FULL, rnnlab_step, step_T_over_max_tape, E(INVALID_ARGUMENT), "max_tape"),
    ROW(K_RNN, S_FULL, rnnlab_step, step_T_over_max_tape, E(INVALID_ARGUMENT), "max_tape"),
    ROW(K_GRU, S_FULL, rnnlab_step, step_B_changed, E(STATE), "B = 3", "2"),
    ROW(K_GRU, S_BACKWARDED, rnnlab_step, step_B_changed, E(STATE), "B = 3", "2"),
    ROW(K_GRU, S_EVAL, rnnlab_step, step_B_changed, E(STATE), "B = 3", "2"),
    ROW(K_GRU, S_FULL, rnnlab_step, step_x_count, E(SIZE_MISMATCH), "x", "11", "12"),
    ROW(K_EVERY, S_EVAL, rnnlab_step, step_x_count, E(SIZE_MISMATCH), "x", "11", "12"),
    ROW(K_GRU, S_FULL, rnnlab_step, step_y_count, E(SIZE_MISMATCH), "y", "13", "12"),
    ROW(K_GRU, S_FULL, rnnlab_step, step_x_nan, E(NONFINITE), "t=1", "b=1", "[0]", "NaN"),
    ROW(K_RNN, S_STEPPED, rnnlab_step, step_x_inf, E(NONFINITE), "t=2", "b=0", "[1]", "Inf"),
    ROW(K_LIN, S_EVAL, rnnlab_step, step_x_nan, E(NONFINITE), "t=1", "b=1", "[0]", "NaN"),
    ROW(K_GRU, S_FRESH, rnnlab_step, step_fresh_nan_other_B, E(NONFINITE), "t=0", "b=2", "[1]"),
    ROW(K_GRU, S_FRESH, rnnlab_step, step_fresh_tape_over_other_B, E(INVALID_ARGUMENT), "max_tape"),

    ROW(K_GRU, S_FULL, rnnlab_backward, backward_null_model, E(NULL), "'model'"),
    ROW(K_GRU, S_FULL, rnnlab_backward, backward_null_targets, E(NULL), "'targets'"),
    ROW(K_GRU, S_FRESH, rnnlab_backward, backward_nothing_recorded, E(STATE), "no recorded step"),
    ROW(K_GRU, S_BACKWARDED, rnnlab_backward, backward_nothing_recorded, E(STATE), "no recorded step"),
    ROW(K_RNN, S_BACKWARDED, rnnlab_backward, backward_nothing_recorded, E(STATE), "no recorded step"),
    ROW(K_GRU, S_EVAL, rnnlab_backward, backward_nothing_recorded, E(STATE), "eval"),
    ROW(K_GRU, S_FULL, rnnlab_backward, backward_none_set, E(INVALID_ARGUMENT), "exactly one", "0"),
    ROW(K_GRU, S_FULL, rnnlab_backward, backward_two_set, E(INVALID_ARGUMENT), "exactly one", "2"),
    ROW(K_GRU, S_FULL, rnnlab_backward, backward_class_too_large, E(INVALID_ARGUMENT), "classes[1] = 3", "[0, 3)"),
    ROW(K_EVERY, S_FULL, rnnlab_backward, backward_class_too_large, E(INVALID_ARGUMENT), "classes[1] = 3"),
    ROW(K_GRU, S_STEPPED, rnnlab_backward, backward_class_negative, E(INVALID_ARGUMENT), "classes[0] = -1"),
    ROW(K_GRU, S_FULL, rnnlab_backward, backward_classes_count, E(SIZE_MISMATCH), "targets.classes", "3", "2"),
    ROW(K_EVERY, S_FULL, rnnlab_backward, backward_every_classes_B_only, E(SIZE_MISMATCH), "targets.classes", "4"),
    ROW(K_GRU, S_FULL, rnnlab_backward, backward_values_on_softmax, E(INVALID_ARGUMENT), "targets.values"),
    ROW(K_LIN, S_FULL, rnnlab_backward, backward_classes_on_linear, E(INVALID_ARGUMENT), "targets.classes"),
    ROW(K_RNN, S_FULL, rnnlab_backward, backward_classes_on_linear, E(INVALID_ARGUMENT), "targets.classes"),
    ROW(K_LIN, S_FULL, rnnlab_backward, backward_values_nan, E(NONFINITE), "targets.values", "b=1", "[1]"),
    ROW(K_LIN, S_FULL, rnnlab_backward, backward_values_count, E(SIZE_MISMATCH), "targets.values", "3", "4"),
    ROW(K_RNN, S_FULL, rnnlab_backward, backward_dy_nan, E(NONFINITE), "targets.dy", "t=1", "b=0", "[3]"),
    ROW(K_GRU, S_FULL, rnnlab_backward, backward_dy_inf, E(NONFINITE), "targets.dy", "t=0", "b=1", "[2]"),
    ROW(K_RNN, S_STEPPED, rnnlab_backward, backward_dy_count, E(SIZE_MISMATCH), "targets.dy", "32", "24"),
    ROW(K_GRU, S_FULL, rnnlab_backward, backward_targets_size_zero, E(VERSION), "struct_size"),
    ROW(K_GRU, S_FULL, rnnlab_backward, backward_targets_size_future, E(VERSION), "struct_size"),

    ROW(K_GRU, S_FULL, rnnlab_loss, loss_null_loss, E(NULL), "'loss'"),
    ROW(K_GRU, S_FULL, rnnlab_loss, loss_null_model, E(NULL), "'model'"),
    ROW(K_GRU, S_FULL, rnnlab_loss, loss_null_targets, E(NULL), "'targets'"),
    ROW(K_RNN, S_FULL, rnnlab_loss, loss_no_head, E(UNSUPPORTED), "head"),
    ROW(K_GRU, S_FRESH, rnnlab_loss, loss_no_step, E(STATE), "rnnlab_step"),
    ROW(K_LIN, S_FULL, rnnlab_loss, loss_err_abs_negative, E(INVALID_ARGUMENT), "err_abs", "-0.5"),
    ROW(K_LIN, S_FULL, rnnlab_loss, loss_err_abs_nan, E(INVALID_ARGUMENT), "err_abs"),
    ROW(K_GRU, S_FULL, rnnlab_loss, loss_dy, E(INVALID_ARGUMENT), "dy"),
    ROW(K_GRU, S_EVAL, rnnlab_loss, loss_class_out_of_range, E(INVALID_ARGUMENT), "classes[1] = 7"),
    ROW(K_GRU, S_FULL, rnnlab_loss, loss_targets_size_zero, E(VERSION), "struct_size"),

    ROW(K_GRU, S_FULL, rnnlab_get_input_grad, input_grad_null_dx, E(NULL), "'dx'"),
    ROW(K_GRU, S_FULL, rnnlab_get_input_grad, input_grad_null_model, E(NULL), "'model'"),
    ROW(K_GRU, S_FULL, rnnlab_get_input_grad, input_grad_count, E(SIZE_MISMATCH), "dx", "17", "18"),
    ROW(K_GRU, S_STEPPED, rnnlab_get_input_grad, input_grad_no_pass, E(STATE), "backward"),
    ROW(K_GRU, S_FULL, rnnlab_get_h0_grad, h0_grad_null_dh0, E(NULL), "'dh0'"),
    ROW(K_GRU, S_FULL, rnnlab_get_h0_grad, h0_grad_null_model, E(NULL), "'model'"),
    ROW(K_GRU, S_FULL, rnnlab_get_h0_grad, h0_grad_count, E(SIZE_MISMATCH), "dh0", "9", "8"),
    ROW(K_GRU, S_FRESH, rnnlab_get_h0_grad, h0_grad_no_pass, E(STATE), "backward"),

    ROW(K_GRU, S_FULL, rnnlab_param_count, param_count_null_model, E(NULL), "'model'"),
    ROW(K_GRU, S_FULL, rnnlab_param_count, param_count_both_null, E(NULL), "'total'", "'trainable'"),
    ROW(K_GRU, S_FULL, rnnlab_tensor_count, tensor_count_null_n, E(NULL), "'n'"),
    ROW(K_GRU, S_FULL, rnnlab_tensor_count, tensor_count_null_model, E(NULL), "'model'"),
    ROW(K_GRU, S_FULL, rnnlab_tensor_info_at, info_at_null_out, E(NULL), "'out'"),
    ROW(K_GRU, S_FULL, rnnlab_tensor_info_at, info_at_null_model, E(NULL), "'model'"),
    ROW(K_GRU, S_FULL, rnnlab_tensor_info_at, info_at_negative, E(INVALID_ARGUMENT), "index = -1"),
    ROW(K_GRU, S_FULL, rnnlab_tensor_info_at, info_at_past_end, E(INVALID_ARGUMENT), "index = 6"),
    ROW(K_RNN, S_FULL, rnnlab_tensor_info_at, info_at_past_end, E(INVALID_ARGUMENT), "index = 4"),
    ROW(K_GRU, S_FULL, rnnlab_tensor_info_by_name, info_by_name_null_out, E(NULL), "'out'"),
    ROW(K_GRU, S_FULL, rnnlab_tensor_info_by_name, info_by_name_null_model, E(NULL), "'model'"),
    ROW(K_GRU, S_FULL, rnnlab_tensor_info_by_name, info_by_name_null_name, E(NULL), "'name'"),
    ROW(K_GRU, S_FULL, rnnlab_tensor_info_by_name, info_by_name_unknown, E(NOT_FOUND), "'weight_hx'"),
    ROW(K_GRU, S_FULL, rnnlab_tensor_info_by_name, info_by_name_empty, E(NOT_FOUND), "''"),
    ROW(K_RNN, S_FULL, rnnlab_tensor_info_by_name, info_by_name_head_without_head, E(NOT_FOUND), "'head.weight'"),

    ROW(K_GRU, S_FULL, rnnlab_get_tensor, get_tensor_null_out, E(NULL), "'out'"),
    ROW(K_GRU, S_FULL, rnnlab_get_tensor, get_tensor_null_model, E(NULL), "'model'"),
    ROW(K_GRU, S_FULL, rnnlab_get_tensor, get_tensor_null_name, E(NULL), "'name'"),
    ROW(K_GRU, S_FULL, rnnlab_get_tensor, get_tensor_unknown, E(NOT_FOUND), "'wieght_hh'"),
    ROW(K_GRU, S_FULL, rnnlab_get_tensor, get_tensor_count, E(SIZE_MISMATCH), "weight_hh", "47", "48"),
    ROW(K_GRU, S_FULL, rnnlab_get_grad, get_grad_null_out, E(NULL), "'out'"),
    ROW(K_GRU, S_FULL, rnnlab_get_grad, get_grad_null_model, E(NULL), "'model'"),
    ROW(K_GRU, S_FULL, rnnlab_get_grad, get_grad_null_name, E(NULL), "'name'"),
    ROW(K_GRU, S_FULL, rnnlab_get_grad, get_grad_unknown, E(NOT_FOUND), "'grad_hh'"),
    ROW(K_GRU, S_FULL, rnnlab_get_grad, get_grad_count, E(SIZE_MISMATCH), "weight_hh", "49", "48"),
    ROW(K_GRU, S_FULL, rnnlab_set_tensor, set_tensor_null_model, E(NULL), "'model'"),
    ROW(K_GRU, S_FULL, rnnlab_set_tensor, set_tensor_null_name, E(NULL), "'name'"),
    ROW(K_GRU, S_FULL, rnnlab_set_tensor, set_tensor_null_values, E(NULL), "'values'"),
    ROW(K_GRU, S_FULL, rnnlab_set_tensor, set_tensor_unknown, E(NOT_FOUND), "'weight_hz'"),
    ROW(K_GRU, S_FULL, rnnlab_set_tensor, set_tensor_count, E(SIZE_MISMATCH), "weight_hh", "47", "48"),
    ROW(K_GRU, S_FULL, rnnlab_set_tensor, set_tensor_nan, E(NONFINITE), "weight_hh[5]"),
    ROW(K_GRU, S_FULL, rnnlab_set_tensor, set_tensor_inf, E(NONFINITE), "weight_hh[47]"),
    ROW(K_GRU, S_FULL, rnnlab_set_tensor, set_tensor_frozen_ih, E(FROZEN), "bias_ih[7]", "1.5"),
    ROW(K_GRU, S_FULL, rnnlab_set_tensor, set_tensor_frozen_hh, E(FROZEN), "bias_hh[5]"),
    ROW(K_RNN, S_FULL, rnnlab_set_tensor, set_tensor_single_bias_hh, E(FROZEN), "bias_hh[2]"),

    ROW(K_GRU, S_FULL, rnnlab_get_params, get_params_null_out, E(NULL), "'out'"),
    ROW(K_GRU, S_FULL, rnnlab_get_params, get_params_null_model, E(NULL), "'model'"),
    ROW(K_GRU, S_FULL, rnnlab_get_params, get_params_count_small, E(SIZE_MISMATCH), "params", "122", "123"),
    ROW(K_GRU, S_FULL, rnnlab_get_params, get_params_count_large, E(SIZE_MISMATCH), "params", "124", "123"),
    ROW(K_GRU, S_FULL, rnnlab_get_params, get_params_count_zero, E(SIZE_MISMATCH), "params", "0", "123"),
    ROW(K_GRU, S_FULL, rnnlab_set_params, set_params_null_model, E(NULL), "'model'"),
    ROW(K_GRU, S_FULL, rnnlab_set_params, set_params_null_values, E(NULL), "'values'"),
    ROW(K_GRU, S_FULL, rnnlab_set_params, set_params_count, E(SIZE_MISMATCH), "params", "122", "123"),
    ROW(K_GRU, S_FULL, rnnlab_set_params, set_params_nan_last, E(NONFINITE), "params[122]"),
    ROW(K_RNN, S_FULL, rnnlab_set_params, set_params_inf, E(NONFINITE), "params[17]"),
    ROW(K_GRU, S_FULL, rnnlab_set_params, set_params_frozen, E(FROZEN), "params[90]", "1.5"),
    ROW(K_GRU, S_FULL, rnnlab_get_grads, get_grads_null_out, E(NULL), "'out'"),
    ROW(K_GRU, S_FULL, rnnlab_get_grads, get_grads_null_model, E(NULL), "'model'"),
    ROW(K_GRU, S_FULL, rnnlab_get_grads, get_grads_count, E(SIZE_MISMATCH), "grads", "126", "123"),
    ROW(K_GRU, S_FULL, rnnlab_set_grads, set_grads_null_model, E(NULL), "'model'"),
    ROW(K_GRU, S_FULL, rnnlab_set_grads, set_grads_null_values, E(NULL), "'values'"),
    ROW(K_GRU, S_FULL, rnnlab_set_grads, set_grads_count_small, E(SIZE_MISMATCH), "grads", "122", "123"),
    ROW(K_GRU, S_FULL, rnnlab_set_grads, set_grads_count_large, E(SIZE_MISMATCH), "grads", "124", "123"),
    ROW(K_GRU, S_FULL, rnnlab_set_grads, set_grads_frozen, E(FROZEN), "grads[90]", "0.25"),
    ROW(K_RNN, S_FULL, rnnlab_set_grads, set_grads_single_bias_hh, E(FROZEN), "grads[", "held"),
    ROW(K_GRU, S_FULL, rnnlab_get_trainable_mask, mask_null_out, E(NULL), "'out'"),
    ROW(K_GRU, S_FULL, rnnlab_get_trainable_mask, mask_null_model, E(NULL), "'model'"),
    ROW(K_GRU, S_FULL, rnnlab_get_trainable_mask, mask_count, E(SIZE_MISMATCH), "mask", "122", "123"),

    ROW(K_GRU, S_FULL, rnnlab_set_diag_level, diag_level_null, E(NULL), "'model'"),
    ROW(K_GRU, S_FULL, rnnlab_set_diag_level, diag_level_unknown, E(INVALID_ARGUMENT), "level = 3"),
    ROW(K_GRU, S_FULL, rnnlab_set_diag_level, diag_level_negative, E(INVALID_ARGUMENT), "level = -1"),
    ROW(K_GRU, S_FULL, rnnlab_set_sat_thresh, sat_thresh_null, E(NULL), "'model'"),
    ROW(K_GRU, S_FULL, rnnlab_set_sat_thresh, sat_thresh_zero, E(INVALID_ARGUMENT), "sat_thresh = 0"),
    ROW(K_GRU, S_FULL, rnnlab_set_sat_thresh, sat_thresh_large, E(INVALID_ARGUMENT), "sat_thresh = 0.51"),
    ROW(K_GRU, S_FULL, rnnlab_set_sat_thresh, sat_thresh_nan, E(INVALID_ARGUMENT), "sat_thresh", "nan"),
    ROW(K_GRU, S_FULL, rnnlab_set_bound, bound_null, E(NULL), "'model'"),
    ROW(K_GRU, S_FULL, rnnlab_set_bound, bound_negative, E(INVALID_ARGUMENT), "bound = -1e-10"),
    ROW(K_GRU, S_FULL, rnnlab_set_bound, bound_inf, E(INVALID_ARGUMENT), "bound = inf"),
    ROW(K_GRU, S_FULL, rnnlab_set_bound, bound_nan, E(INVALID_ARGUMENT), "bound", "nan"),

    ROW(K_GRU, S_FULL, rnnlab_diagnostics, diagnostics_null_out, E(NULL), "'out'"),
    ROW(K_GRU, S_FULL, rnnlab_diagnostics, diagnostics_null_model, E(NULL), "'model'"),
    ROW(K_GRU, S_FULL, rnnlab_diagnostics, diagnostics_size_zero, E(VERSION), "struct_size is 0"),
    ROW(K_GRU, S_FULL, rnnlab_diagnostics, diagnostics_size_small, E(VERSION), "struct_size"),
    ROW(K_GRU, S_FULL, rnnlab_diagnostics, diagnostics_size_future, E(VERSION), "struct_size"),
    ROW(K_GRU, S_STEPPED, rnnlab_diagnostics, diagnostics_no_pass, E(STATE), "backward"),
    ROW(K_GRU, S_FULL, rnnlab_trace_from_name, trace_from_name_null_out, E(NULL), "'out'"),
    ROW(K_GRU, S_FULL, rnnlab_trace_from_name, trace_from_name_null_name, E(NULL), "'name'"),
    ROW(K_GRU, S_FULL, rnnlab_trace_from_name, trace_from_name_unknown, E(NOT_FOUND), "'grad_tim'"),
    ROW(K_GRU, S_FULL, rnnlab_trace_from_name, trace_from_name_empty, E(NOT_FOUND), "''"),
    ROW(K_GRU, S_FULL, rnnlab_get_trace, get_trace_null_model, E(NULL), "'model'"),
    ROW(K_GRU, S_FULL, rnnlab_get_trace, get_trace_unknown, E(INVALID_ARGUMENT), "trace = 13"),
    ROW(K_GRU, S_FULL, rnnlab_get_trace, get_trace_negative, E(INVALID_ARGUMENT), "trace = -1"),
    ROW(K_RNN, S_FULL, rnnlab_get_trace, get_trace_gate_on_rnn, E(NOT_FOUND), "gate_z_mean_time"),
    ROW(K_RNN, S_FULL, rnnlab_get_trace, get_trace_cand_on_rnn, E(NOT_FOUND), "cand_act_time"),
    ROW(K_LIN, S_FULL, rnnlab_get_trace, get_trace_below_full, E(UNAVAILABLE), "grad_time", "full", "off"),
    ROW(K_EVERY, S_FULL, rnnlab_get_trace, get_trace_below_full, E(UNAVAILABLE), "grad_time", "full", "summary"),
    ROW(K_GRU, S_STEPPED, rnnlab_get_trace, get_trace_no_pass, E(STATE), "backward"),
    ROW(K_GRU, S_FRESH, rnnlab_get_trace, get_trace_no_pass, E(STATE), "backward"),
    ROW(K_GRU, S_FULL, rnnlab_get_trace, get_trace_count, E(SIZE_MISMATCH), "2", "3"),
    ROW(K_GRU, S_FULL, rnnlab_get_trace, get_trace_null_out_count, E(NULL), "'out'"),
    ROW(K_GRU, S_FULL, rnnlab_get_trace, get_trace_null_out_len, E(NULL), "'out'", "'len'"),
    ROW(K_GRU, S_FULL, rnnlab_grad_norm_blocks, blocks_null_model, E(NULL), "'model'"),
    ROW(K_GRU, S_FULL, rnnlab_grad_norm_blocks, blocks_null_n, E(NULL), "'n'"),
    ROW(K_GRU, S_STEPPED, rnnlab_grad_norm_blocks, blocks_no_pass, E(STATE), "backward"),
    ROW(K_LIN, S_FULL, rnnlab_grad_norm_blocks, blocks_level_off, E(UNAVAILABLE), "summary"),
    ROW(K_GRU, S_FULL, rnnlab_grad_norm_blocks, blocks_count, E(SIZE_MISMATCH), "norms", "3"),
    ROW(K_GRU, S_FULL, rnnlab_grad_norm_blocks, blocks_null_norms_count, E(NULL), "'norms'"),
    ROW(K_GRU, S_FULL, rnnlab_trace_summary, trace_summary_null_out, E(NULL), "'out'"),
    ROW(K_GRU, S_FULL, rnnlab_trace_summary, trace_summary_null_model, E(NULL), "'model'"),
    ROW(K_GRU, S_FULL, rnnlab_trace_summary, trace_summary_bins_zero, E(INVALID_ARGUMENT), "bins = 0"),
    ROW(K_GRU, S_FULL, rnnlab_trace_summary, trace_summary_bins_negative, E(INVALID_ARGUMENT), "bins = -4"),
    ROW(K_GRU, S_FULL, rnnlab_trace_summary, trace_summary_range, E(INVALID_ARGUMENT), "range"),
    ROW(K_GRU, S_FULL, rnnlab_trace_summary, trace_summary_range_nan, E(INVALID_ARGUMENT), "range", "nan"),
    ROW(K_GRU, S_FULL, rnnlab_trace_summary, trace_summary_size, E(VERSION), "struct_size"),
    ROW(K_GRU, S_FULL, rnnlab_trace_summary, trace_summary_unknown, E(INVALID_ARGUMENT), "trace = 99"),
    ROW(K_RNN, S_FULL, rnnlab_trace_summary, trace_summary_gate_on_rnn, E(NOT_FOUND), "gate_r_sat_time"),
    ROW(K_GRU, S_STEPPED, rnnlab_trace_summary, trace_summary_no_pass, E(STATE), "backward"),
    ROW(K_LIN, S_FULL, rnnlab_trace_summary, trace_summary_below_full, E(UNAVAILABLE), "act_time"),
    ROW(K_GRU, S_FULL, rnnlab_summarize, summarize_null_out, E(NULL), "'out'"),
    ROW(K_GRU, S_FULL, rnnlab_summarize, summarize_null_values, E(NULL), "'values'"),
    ROW(K_GRU, S_FULL, rnnlab_summarize, summarize_bins_zero, E(INVALID_ARGUMENT), "bins = 0"),
    ROW(K_GRU, S_FULL, rnnlab_summarize, summarize_range, E(INVALID_ARGUMENT), "range", "(2, 1)"),
    ROW(K_GRU, S_FULL, rnnlab_summarize, summarize_range_inf, E(INVALID_ARGUMENT), "range", "inf"),
    ROW(K_GRU, S_FULL, rnnlab_summarize, summarize_size_small, E(VERSION), "struct_size is 8"),
    ROW(K_GRU, S_FULL, rnnlab_summarize, summarize_size_future, E(VERSION), "struct_size"),

    ROW(K_GRU, S_FULL, rnnlab_spectral, spectral_null_model, E(NULL), "'model'"),
    ROW(K_GRU, S_FULL, rnnlab_spectral, spectral_both_null, E(NULL), "'rho'", "'sigma_max'"),
    ROW(K_GRU, S_FULL, rnnlab_spectral, spectral_unknown_block, E(INVALID_ARGUMENT), "block = 3"),
    ROW(K_RNN, S_FULL, rnnlab_spectral, spectral_hz_on_rnn, E(NOT_FOUND), "W_hz"),
    ROW(K_RNN, S_FULL, rnnlab_spectral, spectral_hr_on_rnn, E(NOT_FOUND), "W_hr"),
    ROW(K_GRU, S_FULL, rnnlab_jacobian, jacobian_null_J, E(NULL), "'J'"),
    ROW(K_GRU, S_FULL, rnnlab_jacobian, jacobian_null_model, E(NULL), "'model'"),
    ROW(K_GRU, S_FULL, rnnlab_jacobian, jacobian_t_negative, E(INVALID_ARGUMENT), "t = -1"),
    ROW(K_GRU, S_FULL, rnnlab_jacobian, jacobian_t_past, E(INVALID_ARGUMENT), "t = 2"),
    ROW(K_GRU, S_FULL, rnnlab_jacobian, jacobian_b_negative, E(INVALID_ARGUMENT), "b = -1"),
    ROW(K_GRU, S_FULL, rnnlab_jacobian, jacobian_b_past, E(INVALID_ARGUMENT), "b = 2"),
    ROW(K_GRU, S_FULL, rnnlab_jacobian, jacobian_count, E(SIZE_MISMATCH), "15", "16"),
    ROW(K_GRU, S_FRESH, rnnlab_jacobian, jacobian_nothing, E(STATE), "step"),
    ROW(K_GRU, S_EVAL, rnnlab_jacobian, jacobian_nothing, E(STATE), "step"),

    ROW(K_GRU, S_OPT, rnnlab_set_optimizer, set_opt_null_model, E(NULL), "'model'"),
    ROW(K_GRU, S_OPT, rnnlab_set_optimizer, set_opt_null_cfg, E(NULL), "'cfg'"),
    ROW(K_GRU, S_OPT, rnnlab_set_optimizer, set_opt_size_zero, E(VERSION), "struct_size"),
    ROW(K_GRU, S_OPT, rnnlab_set_optimizer, set_opt_size_future, E(VERSION), "struct_size"),
    ROW(K_GRU, S_OPT, rnnlab_set_optimizer, set_opt_kind_unknown, E(INVALID_ARGUMENT), "cfg.kind", "3"),
    ROW(K_GRU, S_FULL, rnnlab_set_optimizer, set_opt_kind_unknown, E(INVALID_ARGUMENT), "cfg.kind", "3"),
    ROW(K_GRU, S_OPT, rnnlab_set_optimizer, set_opt_lr_zero, E(INVALID_ARGUMENT), "cfg.lr"),
    ROW(K_GRU, S_OPT, rnnlab_set_optimizer, set_opt_lr_nan, E(INVALID_ARGUMENT), "cfg.lr"),
    ROW(K_GRU, S_OPT, rnnlab_set_optimizer, set_opt_momentum_one, E(INVALID_ARGUMENT), "cfg.momentum"),
    ROW(K_GRU, S_OPT, rnnlab_set_optimizer, set_opt_momentum_adam, E(INVALID_CONFIG), "cfg.momentum"),
    ROW(K_GRU, S_OPT, rnnlab_set_optimizer, set_opt_beta1_one, E(INVALID_ARGUMENT), "cfg.beta1"),
    ROW(K_GRU, S_OPT, rnnlab_set_optimizer, set_opt_beta2_negative, E(INVALID_ARGUMENT), "cfg.beta2"),
    ROW(K_GRU, S_OPT, rnnlab_set_optimizer, set_opt_eps_zero, E(INVALID_ARGUMENT), "cfg.eps"),
    ROW(K_GRU, S_OPT, rnnlab_set_optimizer, set_opt_wd_negative, E(INVALID_ARGUMENT), "cfg.weight_decay"),
    ROW(K_GRU, S_OPT, rnnlab_set_optimizer, set_opt_lr_min_constant, E(INVALID_CONFIG), "cfg.lr_min"),
    ROW(K_GRU, S_OPT, rnnlab_set_optimizer, set_opt_cosine_no_steps, E(INVALID_ARGUMENT), "cfg.schedule_steps"),
    ROW(K_GRU, S_OPT, rnnlab_set_optimizer, set_opt_cosine_lr_min_above, E(INVALID_ARGUMENT), "cfg.lr_min"),
    ROW(K_GRU, S_OPT, rnnlab_set_optimizer, set_opt_schedule_unknown, E(INVALID_ARGUMENT), "cfg.schedule", "2"),
    ROW(K_GRU, S_OPT, rnnlab_set_optimizer, set_opt_warmup_negative, E(INVALID_ARGUMENT), "cfg.warmup_steps"),
    ROW(K_GRU, S_OPT, rnnlab_set_optimizer, set_opt_period_negative, E(INVALID_ARGUMENT), "cfg.schedule_period"),
    ROW(K_GRU, S_OPT, rnnlab_set_optimizer, set_opt_clip_unknown, E(INVALID_ARGUMENT), "cfg.clip", "2"),
    ROW(K_GRU, S_OPT, rnnlab_set_optimizer, set_opt_cutoff_zero, E(INVALID_ARGUMENT), "cfg.cutoff"),
    ROW(K_GRU, S_OPT, rnnlab_set_optimizer, set_opt_clip_value_negative, E(INVALID_ARGUMENT), "cfg.clip_value"),
    ROW(K_RNN, S_FULL, rnnlab_set_optimizer, set_opt_alpha_negative, E(INVALID_ARGUMENT), "cfg.alpha"),
    ROW(K_GRU, S_OPT, rnnlab_set_optimizer, set_opt_alpha_gru, E(UNSUPPORTED), "alpha"),
    ROW(K_GRU, S_OPT, rnnlab_get_optimizer, get_opt_null_out, E(NULL), "'out'"),
    ROW(K_GRU, S_OPT, rnnlab_get_optimizer, get_opt_null_model, E(NULL), "'model'"),
    ROW(K_GRU, S_OPT, rnnlab_get_optimizer, get_opt_size_zero, E(VERSION), "struct_size"),
    ROW(K_GRU, S_FULL, rnnlab_get_optimizer, get_opt_none, E(STATE), "rnnlab_set_optimizer"),
    ROW(K_GRU, S_OPT, rnnlab_get_optimizer_state, get_opt_state_null_out, E(NULL), "'out'"),
    ROW(K_GRU, S_OPT, rnnlab_get_optimizer_state, get_opt_state_null_model, E(NULL), "'model'"),
    ROW(K_GRU, S_OPT, rnnlab_get_optimizer_state, get_opt_state_size_zero, E(VERSION), "struct_size"),
    ROW(K_GRU, S_FULL, rnnlab_get_optimizer_state, get_opt_state_none, E(STATE), "rnnlab_set_optimizer"),
    ROW(K_GRU, S_OPT, rnnlab_reset_optimizer, reset_opt_null, E(NULL), "'model'"),
    ROW(K_GRU, S_FULL, rnnlab_reset_optimizer, reset_opt_none, E(STATE), "rnnlab_set_optimizer"),
    ROW(K_GRU, S_OPT, rnnlab_schedule_step, schedule_step_null, E(NULL), "'model'"),
    ROW(K_GRU, S_FULL, rnnlab_schedule_step, schedule_step_none, E(STATE), "rnnlab_set_optimizer"),
    ROW(K_GRU, S_OPT, rnnlab_update, update_null, E(NULL), "'model'"),
    ROW(K_GRU, S_FULL, rnnlab_update, update_none, E(STATE), "rnnlab_set_optimizer"),

    ROW(K_GRU, S_OPT, rnnlab_save, save_null_model, E(NULL), "'model'"),
    ROW(K_GRU, S_OPT, rnnlab_save, save_null_path, E(NULL), "'path'"),
    ROW(K_GRU, S_OPT, rnnlab_save, save_missing_dir, E(IO), "no_such_dir"),
    ROW(K_GRU, S_OPT, rnnlab_save, save_over_directory, E(IO), "a_directory"),
    ROW(K_GRU, S_OPT, rnnlab_save_ex, save_ex_null_user, E(NULL), "'user'"),
    ROW(K_GRU, S_OPT, rnnlab_load, load_null_model, E(NULL), "'model'"),
    ROW(K_GRU, S_OPT, rnnlab_load, load_null_path, E(NULL), "'path'"),
    ROW(K_GRU, S_OPT, rnnlab_load, load_missing, E(IO), "missing.ckpt"),
    ROW(K_GRU, S_OPT, rnnlab_load, load_directory, E(IO), "a_directory"),
    ROW(K_GRU, S_OPT, rnnlab_load, load_empty, E(CORRUPT), "empty.ckpt"),
    ROW(K_GRU, S_OPT, rnnlab_load, load_garbage, E(CORRUPT), "garbage.ckpt", "magic"),
    ROW(K_GRU, S_OPT, rnnlab_load, load_truncated, E(CORRUPT), "truncated.ckpt", "truncated"),
    ROW(K_GRU, S_FULL, rnnlab_load, load_truncated, E(CORRUPT), "truncated.ckpt", "truncated"),
    ROW(K_GRU, S_OPT, rnnlab_load, load_flipped, E(CORRUPT), "flipped.ckpt", "checksum"),
    ROW(K_GRU, S_OPT, rnnlab_load, load_other_shape, E(FORMAT), "rnn.ckpt"),
    ROW(K_GRU, S_OPT, rnnlab_load_ex, load_ex_null_user, E(NULL), "'user'"),
    ROW(K_GRU, S_OPT, rnnlab_load_ex, load_ex_small_buffer, E(SIZE_MISMATCH), "16", "4"),
    ROW(K_GRU, S_OPT, rnnlab_load_ex, load_ex_corrupt, E(CORRUPT), "flipped.ckpt"),
    ROW(K_GRU, S_OPT, rnnlab_checkpoint_config, ckpt_config_null_out, E(NULL), "'out'"),
    ROW(K_GRU, S_OPT, rnnlab_checkpoint_config, ckpt_config_null_path, E(NULL), "'path'"),
    ROW(K_GRU, S_OPT, rnnlab_checkpoint_config, ckpt_config_size_zero, E(VERSION), "struct_size", "0"),
    ROW(K_GRU, S_OPT, rnnlab_checkpoint_config, ckpt_config_missing, E(IO), "missing.ckpt"),
    ROW(K_GRU, S_OPT, rnnlab_checkpoint_config, ckpt_config_garbage, E(CORRUPT), "garbage.ckpt", "magic"),
    ROW(K_GRU, S_OPT, rnnlab_checkpoint_config, ckpt_config_truncated, E(CORRUPT), "truncated.ckpt", "truncated"),
    ROW(K_GRU, S_OPT, rnnlab_checkpoint_config, ckpt_config_flipped, E(CORRUPT), "flipped.ckpt", "checksum"),
    ROW(K_GRU, S_OPT, rnnlab_export_npz, export_npz_null_model, E(NULL), "'model'"),
    ROW(K_GRU, S_OPT, rnnlab_export_npz, export_npz_null_path, E(NULL), "'path'"),
    ROW(K_GRU, S_OPT, rnnlab_export_npz, export_npz_flags, E(INVALID_ARGUMENT), "flags", "0x4"),
    ROW(K_GRU, S_OPT, rnnlab_export_npz, export_npz_missing_dir, E(IO), "no_such_dir"),
    ROW(K_GRU, S_OPT, rnnlab_import_npz, import_npz_null_model, E(NULL), "'model'"),
    ROW(K_GRU, S_OPT, rnnlab_import_npz, import_npz_null_path, E(NULL), "'path'"),
    ROW(K_GRU, S_OPT, rnnlab_import_npz, import_npz_missing, E(IO), "missing.npz"),
    ROW(K_GRU, S_OPT, rnnlab_import_npz, import_npz_garbage, E(CORRUPT), "garbage.ckpt"),
    ROW(K_GRU, S_OPT, rnnlab_import_npz, import_npz_checkpoint, E(CORRUPT), "gru.ckpt"),
    ROW(K_GRU, S_OPT, rnnlab_import_npz, import_npz_other_shape, E(FORMAT), "rnn.npz", "weight_ih"),
    ROW(K_GRU, S_OPT, rnnlab_import_npz, import_npz_frozen, E(FROZEN), "free.npz", "bias_ih", "1.5"),
};

/* ---------------------------------------------------------------------------------------------- */
/* The harness                                                                                    */
/* ---------------------------------------------------------------------------------------------- */
static int g_failures;

static void row_fail(int idx, const row *r, const char *fmt, ...) {
  va_list ap;
  char buf[512];
  va_start(ap, fmt);
  vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  print_error("row %d %s (%s): %s\n", idx, r->name, r->fn, buf);
  ++g_failures;
}

static const char *kSentinel = "sentinel_xyzzy";

/* Leaves a known message as this thread's last error, so that the row's message is new. */
static void plant_sentinel_error(void) {
  rnnlab_trace tr;
  assert_int_equal(rnnlab_trace_from_name(&tr, kSentinel), RNNLAB_E_NOT_FOUND);
  assert_non_null(strstr(rnnlab_last_error(), kSentinel));
}

static void set_valid_struct_sizes(outputs *o) {
  o->diag.struct_size = (uint32_t)sizeof(rnnlab_diag);
  o->summary.struct_size = (uint32_t)sizeof(rnnlab_summary);
  o->cfg.struct_size = (uint32_t)sizeof(rnnlab_config);
  o->opt.struct_size = (uint32_t)sizeof(rnnlab_optimizer_config);
  o->opt_state.struct_size = (uint32_t)sizeof(rnnlab_optimizer_state);
}

/* Checks the message of a refused call: new, non-empty, names the entry point and the needles. */
static void check_message(int idx, const row *r, const char *const *needles, int n) {
  const char *msg = rnnlab_last_error();
  if (!msg) {
    row_fail(idx, r, "rnnlab_last_error() is NULL");
    return;
  }
  if (!msg[0]) row_fail(idx, r, "rnnlab_last_error() is empty");
  if (strstr(msg, kSentinel)) row_fail(idx, r, "rnnlab_last_error() was not set by the call: '%s'", msg);
  if (!strstr(msg, r->fn)) row_fail(idx, r, "message does not name %s: '%s'", r->fn, msg);
  for (int k = 0; k < n; ++k)
    if (needles[k] && !strstr(msg, needles[k])) row_fail(idx, r, "message lacks \"%s\": '%s'", needles[k], msg);
}

static void finish_and_compare(int idx, const row *r, rnnlab_model *m, rnnlab_model *twin, const state_info *si) {
  /* One more step and a backward over the whole tape, on both. */
  float y_m[64], y_t[64];
  rnnlab_model *both[2] = {m, twin};
  float *ys[2] = {y_m, y_t};
  rnnlab_status st_step[2], st_back[2];
  for (int k = 0; k < 2; ++k) {
    if (r->setup == S_EVAL) must(rnnlab_set_training(both[k], 1), "rnnlab_set_training");
    float x[64];
    fill_x(x, BATCH * IN, 9);
    st_step[k] = rnnlab_step(ys[k], (size_t)(BATCH * width_of(r->kind)), both[k], x, BATCH * IN, 1, BATCH);
    target_store ts;
    rnnlab_targets tg = good_targets(r->kind, si->tape + 1, &ts);
    st_back[k] = rnnlab_backward(both[k], &tg);
  }
  if (st_step[0] != RNNLAB_OK || st_back[0] != RNNLAB_OK) {
    row_fail(idx, r, "after the refused call, step/backward on the model fail (%d, %d: %s): the sequence or tape changed",
             (int)st_step[0], (int)st_back[0], rnnlab_last_error());
    return;
  }
  if (st_step[1] != RNNLAB_OK || st_back[1] != RNNLAB_OK) {
    row_fail(idx, r, "the twin's step/backward failed (test bug)");
    return;
  }
  if (!bits_equal(y_m, y_t, (size_t)(BATCH * width_of(r->kind)) * sizeof(float)))
    row_fail(idx, r, "the next step's outputs differ from the twin's (hidden state changed)");
  /* With an optimiser: one more update on both, which reads the moments and counters. */
  rnnlab_optimizer_state os = RNNLAB_OPTIMIZER_STATE_INIT;
  if (rnnlab_get_optimizer_state(&os, twin) == RNNLAB_OK) {
    const rnnlab_status u0 = rnnlab_update(m), u1 = rnnlab_update(twin);
    if (u0 != RNNLAB_OK || u1 != RNNLAB_OK) {
      row_fail(idx, r, "rnnlab_update after the refused call fails (%d, twin %d): %s", (int)u0, (int)u1,
               rnnlab_last_error());
      return;
    }
  }
  snapshot *a = malloc(sizeof *a), *b = malloc(sizeof *b);
  assert_non_null(a);
  assert_non_null(b);
  take_snapshot(a, m, r->kind, 1);
  take_snapshot(b, twin, r->kind, 1);
  const char *d = snapshot_diff(a, b);
  if (d) row_fail(idx, r, "after step + backward, the model differs from its twin in: %s (tape or state changed)", d);
  free(a);
  free(b);
}

static void run_row(int idx, const row *r) {
  rnnlab_model *m = NULL, *twin = NULL;
  const rnnlab_config cfg = config_of(r->kind);
  assert_int_equal(rnnlab_create(&m, &cfg), RNNLAB_OK);
  assert_int_equal(rnnlab_create(&twin, &cfg), RNNLAB_OK);
  const state_info si = setup_state(m, r->kind, r->setup);
  setup_state(twin, r->kind, r->setup);

  ctx *c = calloc(1, sizeof *c);
  snapshot *before = malloc(sizeof *before), *after = malloc(sizeof *after);
  outputs *o_before = malloc(sizeof *o_before);
  assert_non_null(c);
  assert_non_null(before);
  assert_non_null(after);
  assert_non_null(o_before);
  c->m = m;
  c->kind = r->kind;
  c->O = cfg.output_size;
  c->W = width_of(r->kind);
  c->tape = si.tape;
  c->last_T = si.last_T;
  must(rnnlab_param_count(&c->total, NULL, m), "rnnlab_param_count");
  memset(&c->o, 0xA5, sizeof c->o);
  set_valid_struct_sizes(&c->o);

  take_snapshot(before, m, r->kind, si.last_T);
  plant_sentinel_error();
  memcpy(o_before, &c->o, sizeof *o_before);

  const rnnlab_status got = r->call(c);

  if (got != r->want)
    row_fail(idx, r, "status %d (%s), expected %d (%s); message '%s'", (int)got, rnnlab_status_string(got),
             (int)r->want, rnnlab_status_string(r->want), rnnlab_last_error());
  else
    check_message(idx, r, r->needle, 4);

  /* Outputs untouched (the struct_size fields are the caller's input). */
  o_before->diag.struct_size = c->o.diag.struct_size;
  o_before->summary.struct_size = c->o.summary.struct_size;
  o_before->cfg.struct_size = c->o.cfg.struct_size;
  o_before->opt.struct_size = c->o.opt.struct_size;
  o_before->opt_state.struct_size = c->o.opt_state.struct_size;
  if (!bits_equal(o_before, &c->o, sizeof c->o)) row_fail(idx, r, "the refused call wrote into an output buffer");

  take_snapshot(after, m, r->kind, si.last_T);
  const char *d = snapshot_diff(before, after);
  if (d) row_fail(idx, r, "the refused call changed the model: %s", d);

  finish_and_compare(idx, r, m, twin, &si);

  free(o_before);
  free(after);
  free(before);
  free(c);
  rnnlab_destroy(twin);
  rnnlab_destroy(m);
}


/* ---------------------------------------------------------------------------------------------- */
/* Files for the checkpoint and .npz rows                                                         */
/* ---------------------------------------------------------------------------------------------- */
static unsigned char *read_all(const char *path, size_t *n) {
  FILE *f = fopen(path, "rb");
  assert_non_null(f);
  fseek(f, 0, SEEK_END);
  const long len = ftell(f);
  fseek(f, 0, SEEK_SET);
  unsigned char *b = malloc((size_t)len + 1);
  assert_non_null(b);
  assert_int_equal(fread(b, 1, (size_t)len, f), (size_t)len);
  fclose(f);
  *n = (size_t)len;
  return b;
}

static void write_all(const char *path, const void *b, size_t n) {
  FILE *f = fopen(path, "wb");
  assert_non_null(f);
  if (n) assert_int_equal(fwrite(b, 1, n, f), n);
  assert_int_equal(fclose(f), 0);
}

/* A model of `kind`'s shape but other parameters (and, for the GRU, an optimiser with moments). */
static rnnlab_model *other_model(int kind, int frozen) {
  rnnlab_config cfg = config_of(kind);
  rnnlab_model *m = NULL;
  cfg.seed = 999;
  if (!frozen) {
    cfg.frozen_bias_mask = 0;
    cfg.frozen_bias_value[RNNLAB_GATE_INDEX_Z] = 0.0f;
  }
  assert_int_equal(rnnlab_create(&m, &cfg), RNNLAB_OK);
  do_step(m, kind, 3, 4, NULL);
  do_backward(m, kind, 3);
  const rnnlab_optimizer_config o = adam_config();
  must(rnnlab_set_optimizer(m, &o), "rnnlab_set_optimizer");
  must(rnnlab_update(m), "rnnlab_update");
  return m;
}

static void make_files(void) {
  snprintf(g_dir, sizeof g_dir, "%s/bad_input_%ld", RNNLAB_TEST_TMPDIR, (long)getpid());
  mkdir(RNNLAB_TEST_TMPDIR, 0755);
  assert_int_equal(mkdir(g_dir, 0755), 0);
  assert_int_equal(mkdir(fpath("a_directory"), 0755), 0);
  rnnlab_model *gru = other_model(K_GRU, 1), *free_gru = other_model(K_GRU, 0), *rnn = other_model(K_RNN, 1);
  const unsigned char user[16] = "0123456789abcde";
  must(rnnlab_save(gru, fpath("gru.ckpt")), "rnnlab_save");
  must(rnnlab_save_ex(gru, fpath("user.ckpt"), user, sizeof user), "rnnlab_save_ex");
  must(rnnlab_save(rnn, fpath("rnn.ckpt")), "rnnlab_save");
  must(rnnlab_export_npz(free_gru, fpath("free.npz"), NULL, NULL, 0), "rnnlab_export_npz");
  must(rnnlab_export_npz(rnn, fpath("rnn.npz"), NULL, NULL, 0), "rnnlab_export_npz");
  rnnlab_destroy(gru);
  rnnlab_destroy(free_gru);
  rnnlab_destroy(rnn);
  size_t n;
  unsigned char *b = read_all(fpath("gru.ckpt"), &n);
  assert_true(n > 64);
  write_all(fpath("truncated.ckpt"), b, n - 16);
  b[n / 2] ^= 0x40;
  write_all(fpath("flipped.ckpt"), b, n);
  free(b);
  write_all(fpath("empty.ckpt"), "", 0);
  const char garbage[] = "this is not an rnnlab checkpoint, nor a zip archive\n";
  write_all(fpath("garbage.ckpt"), garbage, sizeof garbage - 1);
}

static void remove_files(void) {
  DIR *d = opendir(g_dir);
  if (!d) return;
  for (struct dirent *e = readdir(d); e; e = readdir(d))
    if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) {
      const char *p = fpath(e->d_name);
      if (unlink(p) != 0) rmdir(p);
    }
  closedir(d);
  rmdir(g_dir);
}

static void test_bad_calls_on_a_model(void **state) {
  (void)state;
  g_failures = 0;
  make_files();
  const int n = (int)(sizeof kRows / sizeof kRows[0]);
  for (int i = 0; i < n; ++i) run_row(i, &kRows[i]);
  remove_files();
  if (g_failures) fail_msg("%d problem(s) in %d rows (listed above)", g_failures, n);
}

/* ---------------------------------------------------------------------------------------------- */
/* rnnlab_create: NULL arguments and configurations with a contradiction                          */
/* ---------------------------------------------------------------------------------------------- */
typedef struct config_row {
  const char *name;
  void (*edit)(rnnlab_config *c);
  rnnlab_status want;
  const char *needle[3];
  rnnlab_backend unless_available; /* skip the row when this backend is available (-1: never) */
} config_row;

#define CFG(name, body) \
  static void name(rnnlab_config *c) { body; }
CFG(cfg_cell_unknown, c->cell = (rnnlab_cell)6)
CFG(cfg_cell_negative, c->cell = (rnnlab_cell)-1)
CFG(cfg_input_zero, c->input_size = 0)
CFG(cfg_input_negative, c->input_size = -3)
CFG(cfg_hidden_zero, c->hidden_size = 0)
CFG(cfg_hidden_negative, c->hidden_size = -1)
CFG(cfg_head_unknown, c->head = (rnnlab_head)4)
CFG(cfg_head_without_output, c->output_size = 0)
CFG(cfg_head_negative_output, c->output_size = -2)
CFG(cfg_output_without_head, c->head = RNNLAB_HEAD_NONE; c->output_size = 3)
CFG(cfg_backend_unknown, c->backend = (rnnlab_backend)9)
CFG(cfg_backend_cuda, c->backend = RNNLAB_BACKEND_CUDA)
CFG(cfg_backend_cpu, c->backend = RNNLAB_BACKEND_CPU)
CFG(cfg_bias_mode_unknown, c->bias_mode = (rnnlab_bias_mode)2)
CFG(cfg_frozen_mask_bits, c->frozen_bias_mask = 8u)
CFG(cfg_frozen_z_on_rnn, c->cell = RNNLAB_CELL_RNN_TANH; c->frozen_bias_mask = RNNLAB_GATE_Z)
CFG(cfg_frozen_r_on_rnn, c->cell = RNNLAB_CELL_RNN_RELU; c->frozen_bias_mask = RNNLAB_GATE_R)
CFG(cfg_frozen_value_nan, c->frozen_bias_mask = RNNLAB_GATE_Z; c->frozen_bias_value[1] = NAN)
CFG(cfg_frozen_value_inf_unused, c->frozen_bias_value[2] = INFINITY)
CFG(cfg_init_unknown, c->init = (rnnlab_init)8)
CFG(cfg_cs728_on_rnn, c->cell = RNNLAB_CELL_RNN_SIGMOID; c->init = RNNLAB_INIT_CS728_GRU)
CFG(cfg_bias_init_unknown, c->bias_init = (rnnlab_bias_init)3)
CFG(cfg_bias_mask_without_constant, c->bias_init_mask = RNNLAB_GATE_Z)
CFG(cfg_bias_mask_without_constant_chrono, c->bias_init = RNNLAB_BIAS_INIT_CHRONO; c->chrono_tmax = 10;
    c->bias_init_mask = RNNLAB_GATE_N)
CFG(cfg_bias_mask_bits, c->bias_init = RNNLAB_BIAS_INIT_CONSTANT; c->bias_init_mask = 16u)
CFG(cfg_bias_mask_z_on_rnn, c->cell = RNNLAB_CELL_RNN_TANH; c->bias_init = RNNLAB_BIAS_INIT_CONSTANT;
    c->bias_init_mask = RNNLAB_GATE_Z)
CFG(cfg_bias_value_inf, c->bias_init = RNNLAB_BIAS_INIT_CONSTANT; c->bias_init_mask = RNNLAB_GATE_R;
    c->bias_init_value[0] = -INFINITY)
CFG(cfg_bias_mask_and_frozen, c->bias_init = RNNLAB_BIAS_INIT_CONSTANT; c->bias_init_mask = RNNLAB_GATE_Z;
    c->frozen_bias_mask = RNNLAB_GATE_Z | RNNLAB_GATE_N)
CFG(cfg_chrono_without_tmax, c->bias_init = RNNLAB_BIAS_INIT_CHRONO)
CFG(cfg_chrono_tmax_small, c->bias_init = RNNLAB_BIAS_INIT_CHRONO; c->chrono_tmax = 2)
CFG(cfg_chrono_on_rnn, c->cell = RNNLAB_CELL_RNN_TANH; c->bias_init = RNNLAB_BIAS_INIT_CHRONO; c->chrono_tmax = 10)
CFG(cfg_chrono_frozen_z, c->bias_init = RNNLAB_BIAS_INIT_CHRONO; c->chrono_tmax = 10;
    c->frozen_bias_mask = RNNLAB_GATE_Z)
CFG(cfg_threads_zero, c->threads = 0)
CFG(cfg_threads_negative, c->threads = -4)
CFG(cfg_diag_unknown, c->diag_level = (rnnlab_diag_level)3)
CFG(cfg_sat_zero, c->sat_thresh = 0.0f)
CFG(cfg_sat_large, c->sat_thresh = 0.75f)
CFG(cfg_sat_nan, c->sat_thresh = NAN)
CFG(cfg_bound_negative, c->bound = -1.0)
CFG(cfg_bound_inf, c->bound = INFINITY)
CFG(cfg_max_batch_negative, c->max_batch = -1)
CFG(cfg_max_tape_negative, c->max_tape = -2)
CFG(cfg_size_zero, c->struct_size = 0)
CFG(cfg_size_small, c->struct_size = (uint32_t)offsetof(rnnlab_config, max_tape))
CFG(cfg_size_future, c->struct_size = (uint32_t)sizeof(rnnlab_config) + 16)
CFG(cfg_size_odd, c->struct_size = (uint32_t)sizeof(rnnlab_config) + 1)
CFG(cfg_size_mid_field, c->struct_size = (uint32_t)offsetof(rnnlab_config, denormals) + 2)
CFG(cfg_denormals_unknown, c->denormals = (rnnlab_denormals)2)
CFG(cfg_cpu_isa_unknown, c->cpu_isa = (rnnlab_cpu_isa)4)
CFG(cfg_cpu_isa_negative, c->cpu_isa = (rnnlab_cpu_isa)-1)

#define NOSKIP ((rnnlab_backend)-1)
static const config_row kConfigRows[] = {
    {"cell unknown", cfg_cell_unknown, E(INVALID_ARGUMENT), {"config.cell", "6"}, NOSKIP},
    {"cell negative", cfg_cell_negative, E(INVALID_ARGUMENT), {"config.cell", "-1"}, NOSKIP},
    {"input_size 0", cfg_input_zero, E(INVALID_ARGUMENT), {"config.input_size", "0"}, NOSKIP},
    {"input_size -3", cfg_input_negative, E(INVALID_ARGUMENT), {"config.input_size", "-3"}, NOSKIP},
    {"hidden_size 0", cfg_hidden_zero, E(INVALID_ARGUMENT), {"config.hidden_size", "0"}, NOSKIP},
    {"hidden_size -1", cfg_hidden_negative, E(INVALID_ARGUMENT), {"config.hidden_size", "-1"}, NOSKIP},
    {"head unknown", cfg_head_unknown, E(INVALID_ARGUMENT), {"config.head", "4"}, NOSKIP},
    {"head without output_size", cfg_head_without_output, E(INVALID_CONFIG), {"config.output_size", "0"}, NOSKIP},
    {"head with output_size -2", cfg_head_negative_output, E(INVALID_CONFIG), {"config.output_size", "-2"}, NOSKIP},
    {"output_size with head none", cfg_output_without_head, E(INVALID_CONFIG), {"config.output_size", "3", "none"}, NOSKIP},
    {"backend unknown", cfg_backend_unknown, E(INVALID_ARGUMENT), {"config.backend", "9"}, NOSKIP},
    {"backend cuda not built", cfg_backend_cuda, E(NO_DEVICE), {"config.backend", "cuda"}, RNNLAB_BACKEND_CUDA},
    {"backend cpu not built", cfg_backend_cpu, E(NO_DEVICE), {"config.backend", "cpu"}, RNNLAB_BACKEND_CPU},
    {"bias_mode unknown", cfg_bias_mode_unknown, E(INVALID_ARGUMENT), {"config.bias_mode", "2"}, NOSKIP},
    {"frozen mask unknown bit", cfg_frozen_mask_bits, E(INVALID_ARGUMENT), {"config.frozen_bias_mask", "0x8"}, NOSKIP},
    {"frozen z on a vanilla RNN", cfg_frozen_z_on_rnn, E(INVALID_CONFIG), {"config.frozen_bias_mask", "z", "rnn_tanh"}, NOSKIP},
    {"frozen r on a vanilla RNN", cfg_frozen_r_on_rnn, E(INVALID_CONFIG), {"config.frozen_bias_mask", "r", "rnn_relu"}, NOSKIP},
    {"frozen value NaN", cfg_frozen_value_nan, E(NONFINITE), {"config.frozen_bias_value[1]"}, NOSKIP},
    {"frozen value Inf (gate not frozen)", cfg_frozen_value_inf_unused, E(NONFINITE), {"config.frozen_bias_value[2]"}, NOSKIP},
    {"init unknown", cfg_init_unknown, E(INVALID_ARGUMENT), {"config.init", "8"}, NOSKIP},
    {"cs728_gru init on a vanilla RNN", cfg_cs728_on_rnn, E(INVALID_CONFIG), {"config.init", "cs728_gru", "rnn_sigmoid"}, NOSKIP},
    {"bias_init unknown", cfg_bias_init_unknown, E(INVALID_ARGUMENT), {"config.bias_init", "3"}, NOSKIP},
    {"bias_init_mask without CONSTANT", cfg_bias_mask_without_constant, E(INVALID_CONFIG), {"config.bias_init_mask", "0x2"}, NOSKIP},
    {"bias_init_mask with CHRONO", cfg_bias_mask_without_constant_chrono, E(INVALID_CONFIG), {"config.bias_init_mask", "0x4"}, NOSKIP},
    {"bias_init_mask unknown bit", cfg_bias_mask_bits, E(INVALID_ARGUMENT), {"config.bias_init_mask", "0x10"}, NOSKIP},
    {"bias_init_mask z on a vanilla RNN", cfg_bias_mask_z_on_rnn, E(INVALID_CONFIG), {"config.bias_init_mask", "z"}, NOSKIP},
    {"bias_init_value Inf", cfg_bias_value_inf, E(NONFINITE), {"config.bias_init_value[0]"}, NOSKIP},
    {"bias_init_mask overlaps frozen mask", cfg_bias_mask_and_frozen, E(INVALID_CONFIG), {"bias_init_mask", "frozen_bias_mask"}, NOSKIP},
    {"chrono without chrono_tmax", cfg_chrono_without_tmax, E(INVALID_ARGUMENT), {"config.chrono_tmax", "0"}, NOSKIP},
    {"chrono with chrono_tmax 2", cfg_chrono_tmax_small, E(INVALID_ARGUMENT), {"config.chrono_tmax", "2"}, NOSKIP},
    {"chrono on a vanilla RNN", cfg_chrono_on_rnn, E(INVALID_CONFIG), {"chrono", "rnn_tanh"}, NOSKIP},
    {"chrono with frozen z", cfg_chrono_frozen_z, E(INVALID_CONFIG), {"chrono", "frozen_bias_mask"}, NOSKIP},
    {"threads 0", cfg_threads_zero, E(INVALID_ARGUMENT), {"config.threads", "0"}, NOSKIP},
    {"threads -4", cfg_threads_negative, E(INVALID_ARGUMENT), {"config.threads", "-4"}, NOSKIP},
    {"diag_level unknown", cfg_diag_unknown, E(INVALID_ARGUMENT), {"config.diag_level", "3"}, NOSKIP},
    {"sat_thresh 0", cfg_sat_zero, E(INVALID_ARGUMENT), {"config.sat_thresh", "0"}, NOSKIP},
    {"sat_thresh 0.75", cfg_sat_large, E(INVALID_ARGUMENT), {"config.sat_thresh", "0.75"}, NOSKIP},
    {"sat_thresh NaN", cfg_sat_nan, E(INVALID_ARGUMENT), {"config.sat_thresh", "nan"}, NOSKIP},
    {"bound -1", cfg_bound_negative, E(INVALID_ARGUMENT), {"config.bound", "-1"}, NOSKIP},
    {"bound Inf", cfg_bound_inf, E(INVALID_ARGUMENT), {"config.bound", "inf"}, NOSKIP},
    {"max_batch -1", cfg_max_batch_negative, E(INVALID_ARGUMENT), {"config.max_batch", "-1"}, NOSKIP},
    {"max_tape -2", cfg_max_tape_negative, E(INVALID_ARGUMENT), {"config.max_tape", "-2"}, NOSKIP},
    {"struct_size 0", cfg_size_zero, E(VERSION), {"config.struct_size", "0"}, NOSKIP},
    {"struct_size too small", cfg_size_small, E(VERSION), {"config.struct_size"}, NOSKIP},
    {"struct_size from the future", cfg_size_future, E(VERSION), {"config.struct_size"}, NOSKIP},
    {"struct_size from the future (+1)", cfg_size_odd, E(VERSION), {"config.struct_size"}, NOSKIP},
    {"struct_size inside a field", cfg_size_mid_field, E(VERSION), {"config.struct_size"}, NOSKIP},
    {"denormals unknown", cfg_denormals_unknown, E(INVALID_ARGUMENT), {"config.denormals", "2"}, NOSKIP},
    {"cpu_isa unknown", cfg_cpu_isa_unknown, E(INVALID_ARGUMENT), {"config.cpu_isa", "4"}, NOSKIP},
    {"cpu_isa -1", cfg_cpu_isa_negative, E(INVALID_ARGUMENT), {"config.cpu_isa", "-1"}, NOSKIP},
};

/* A GRU config that is valid, so that each row tests exactly its one edit. */
static rnnlab_config valid_config(void) {
  rnnlab_config c = config_of(K_GRU);
  c.frozen_bias_mask = 0;
  c.frozen_bias_value[RNNLAB_GATE_INDEX_Z] = 0.0f;
  return c;
}

static void check_create(const char *name, const rnnlab_config *cfg, rnnlab_model **out_arg, rnnlab_status want,
                         const char *const *needles, int n_needles, int *failures) {
  rnnlab_model *const sentinel = (rnnlab_model *)(uintptr_t)0x5a5a5a5au;
  rnnlab_model *out = sentinel;
  plant_sentinel_error();
  const rnnlab_status got = rnnlab_create(out_arg ? &out : NULL, cfg);
  const char *msg = rnnlab_last_error();
  if (got == RNNLAB_OK) rnnlab_destroy(out);
  if (got != want) {
    print_error("create row '%s': status %d (%s), expected %d (%s); message '%s'\n", name, (int)got,
                rnnlab_status_string(got), (int)want, rnnlab_status_string(want), msg ? msg : "(NULL)");
    ++*failures;
    return;
  }
  if (out != sentinel) {
    print_error("create row '%s': *out was written by a refused create\n", name);
    ++*failures;
  }
  if (!msg || !msg[0] || strstr(msg, kSentinel) || !strstr(msg, "rnnlab_create")) {
    print_error("create row '%s': message is not a new rnnlab_create message: '%s'\n", name, msg ? msg : "(NULL)");
    ++*failures;
    return;
  }
  for (int k = 0; k < n_needles; ++k)
    if (needles[k] && !strstr(msg, needles[k])) {
      print_error("create row '%s': message lacks \"%s\": '%s'\n", name, needles[k], msg);
      ++*failures;
    }
}

static void test_create_bad_configs(void **state) {
  (void)state;
  int failures = 0;
  /* Room after the struct, so that a struct_size from the future is safe to read. */
  struct {
    rnnlab_config c;
    unsigned char more[64];
  } big;

  /* The base is valid: every row below differs from a working config by its edit alone. */
  memset(&big, 0, sizeof big);
  big.c = valid_config();
  rnnlab_model *ok = NULL;
  assert_int_equal(rnnlab_create(&ok, &big.c), RNNLAB_OK);
  assert_non_null(ok);
  rnnlab_destroy(ok);

  static const char *const out_needle[] = {"'out'"};
  static const char *const cfg_needle[] = {"'cfg'"};
  check_create("out NULL", &big.c, NULL, RNNLAB_E_NULL, out_needle, 1, &failures);
  check_create("cfg NULL", NULL, &ok, RNNLAB_E_NULL, cfg_needle, 1, &failures);

  const int n = (int)(sizeof kConfigRows / sizeof kConfigRows[0]);
  for (int i = 0; i < n; ++i) {
    const config_row *r = &kConfigRows[i];
    if ((int)r->unless_available >= 0 && rnnlab_backend_available(r->unless_available)) {
      print_message("create row '%s': skipped (that backend is available here)\n", r->name);
      continue;
    }
    memset(&big, 0, sizeof big);
    big.c = valid_config();
    r->edit(&big.c);
    check_create(r->name, &big.c, &ok, r->want, r->needle, 3, &failures);
  }
  if (failures) fail_msg("%d problem(s) in the rnnlab_create rows (listed above)", failures);
}

/* ---------------------------------------------------------------------------------------------- */
/* Status values, strings, destroy(NULL), infallible queries                                      */
/* ---------------------------------------------------------------------------------------------- */
static void test_status_values_pinned(void **state) {
  (void)state;
  assert_int_equal(RNNLAB_OK, 0);
  assert_int_equal(RNNLAB_E_NULL, -1);
  assert_int_equal(RNNLAB_E_INVALID_ARGUMENT, -2);
  assert_int_equal(RNNLAB_E_SIZE_MISMATCH, -3);
  assert_int_equal(RNNLAB_E_INVALID_CONFIG, -4);
  assert_int_equal(RNNLAB_E_VERSION, -5);
  assert_int_equal(RNNLAB_E_UNSUPPORTED, -6);
  assert_int_equal(RNNLAB_E_NO_DEVICE, -7);
  assert_int_equal(RNNLAB_E_STATE, -8);
  assert_int_equal(RNNLAB_E_NONFINITE, -9);
  assert_int_equal(RNNLAB_E_NOT_FOUND, -10);
  assert_int_equal(RNNLAB_E_NO_MEMORY, -11);
  assert_int_equal(RNNLAB_E_IO, -12);
  assert_int_equal(RNNLAB_E_CORRUPT, -13);
  assert_int_equal(RNNLAB_E_FORMAT, -14);
  assert_int_equal(RNNLAB_E_INTERNAL, -15);
  assert_int_equal(RNNLAB_E_UNAVAILABLE, -16);
  assert_int_equal(RNNLAB_E_FROZEN, -17);
}

#define N_STATUS 18
static void test_status_strings(void **state) {
  (void)state;
  const char *s[N_STATUS];
  for (int k = 0; k < N_STATUS; ++k) {
    s[k] = rnnlab_status_string((rnnlab_status)-k);
    assert_non_null(s[k]);
    assert_true(s[k][0] != '\0');
    for (int j = 0; j < k; ++j)
      if (strcmp(s[j], s[k]) == 0) fail_msg("status %d and %d share the text '%s'", -j, -k, s[k]);
  }
  /* Values no status has: still a static, non-NULL text, not the text of a real status. */
  const rnnlab_status unknown[] = {(rnnlab_status)-N_STATUS, (rnnlab_status)-999, (rnnlab_status)1,
                                   (rnnlab_status)INT32_MIN};
  for (size_t u = 0; u < sizeof unknown / sizeof unknown[0]; ++u) {
    const char *t = rnnlab_status_string(unknown[u]);
    assert_non_null(t);
    for (int k = 0; k < N_STATUS; ++k) assert_string_not_equal(t, s[k]);
  }
}

static void test_destroy_null(void **state) {
  (void)state;
  rnnlab_destroy(NULL);
  rnnlab_destroy(NULL);
}

static void test_infallible_queries(void **state) {
  (void)state;
  assert_null(rnnlab_trace_name(RNNLAB_TRACE_COUNT));
  assert_null(rnnlab_trace_name((rnnlab_trace)-1));
  assert_non_null(rnnlab_trace_name(RNNLAB_TRACE_GRAD_TIME));
  assert_null(rnnlab_backend_name((rnnlab_backend)4));
  assert_null(rnnlab_backend_name((rnnlab_backend)-1));
  assert_null(rnnlab_cpu_isa_name((rnnlab_cpu_isa)4));
  assert_null(rnnlab_cpu_isa_name((rnnlab_cpu_isa)-1));
  assert_true(rnnlab_cpu_isa_best() >= RNNLAB_ISA_BASELINE && rnnlab_cpu_isa_best() <= RNNLAB_ISA_AVX512);
  assert_int_equal(rnnlab_has_feature((rnnlab_feature)99), 0);
  assert_int_equal(rnnlab_has_feature((rnnlab_feature)-1), 0);
  assert_int_equal(rnnlab_backend_available((rnnlab_backend)99), 0);
  assert_int_equal(rnnlab_backend_available((rnnlab_backend)-1), 0);
  assert_int_equal(rnnlab_has_trace(NULL, RNNLAB_TRACE_GRAD_TIME), 0);
  rnnlab_model *rnn = NULL, *gru = NULL;
  rnnlab_config c = config_of(K_RNN);
  assert_int_equal(rnnlab_create(&rnn, &c), RNNLAB_OK);
  c = config_of(K_GRU);
  assert_int_equal(rnnlab_create(&gru, &c), RNNLAB_OK);
  assert_int_equal(rnnlab_has_trace(gru, RNNLAB_TRACE_COUNT), 0);
  assert_int_equal(rnnlab_has_trace(gru, (rnnlab_trace)-1), 0);
  assert_int_equal(rnnlab_has_trace(rnn, RNNLAB_TRACE_GATE_Z_MEAN_TIME), 0);
  assert_int_equal(rnnlab_has_trace(rnn, RNNLAB_TRACE_CAND_ACT_TIME), 0);
  assert_int_equal(rnnlab_has_trace(gru, RNNLAB_TRACE_GATE_Z_MEAN_TIME), 1);
  assert_int_equal(rnnlab_has_trace(rnn, RNNLAB_TRACE_GRAD_TIME), 1);
  rnnlab_destroy(gru);
  rnnlab_destroy(rnn);
}

/* ---------------------------------------------------------------------------------------------- */
/* rnnlab_last_error is per thread                                                                */
/* ---------------------------------------------------------------------------------------------- */
typedef struct thread_result {
  char initial[256]; /* last_error at the thread's start */
  char own[256];     /* after its own failed call */
  int own_status;
  int stable;        /* 1 if its message stayed its own while the other thread failed calls */
} thread_result;

static pthread_barrier_t g_barrier;

static void *error_thread(void *arg) {
  thread_result *res = (thread_result *)arg;
  snprintf(res->initial, sizeof res->initial, "%s", rnnlab_last_error());
  res->own_status = (int)rnnlab_trace_from_name(NULL, "thread_b_marker");
  snprintf(res->own, sizeof res->own, "%s", rnnlab_last_error());
  pthread_barrier_wait(&g_barrier); /* main fails calls of its own now */
  pthread_barrier_wait(&g_barrier);
  res->stable = strcmp(res->own, rnnlab_last_error()) == 0;
  /* Interleaved failures on both threads. */
  for (int k = 0; k < 2000; ++k) {
    rnnlab_trace tr;
    if (rnnlab_trace_from_name(&tr, "thread_b_loop") != RNNLAB_E_NOT_FOUND ||
        !strstr(rnnlab_last_error(), "thread_b_loop"))
      res->stable = 0;
  }
  return NULL;
}

static void test_last_error_per_thread(void **state) {
  (void)state;
  rnnlab_trace tr;
  assert_int_equal(rnnlab_trace_from_name(&tr, "thread_a_marker"), RNNLAB_E_NOT_FOUND);
  assert_non_null(strstr(rnnlab_last_error(), "thread_a_marker"));

  thread_result res;
  memset(&res, 0, sizeof res);
  assert_int_equal(pthread_barrier_init(&g_barrier, NULL, 2), 0);
  pthread_t th;
  assert_int_equal(pthread_create(&th, NULL, error_thread, &res), 0);
  pthread_barrier_wait(&g_barrier);
  /* The other thread's failure did not touch this thread's message. */
  assert_non_null(strstr(rnnlab_last_error(), "thread_a_marker"));
  assert_int_equal(rnnlab_trace_from_name(&tr, "thread_a_second"), RNNLAB_E_NOT_FOUND);
  pthread_barrier_wait(&g_barrier);
  int stable = 1;
  for (int k = 0; k < 2000; ++k) {
    if (rnnlab_trace_from_name(&tr, "thread_a_loop") != RNNLAB_E_NOT_FOUND ||
        !strstr(rnnlab_last_error(), "thread_a_loop"))
      stable = 0;
  }
  assert_int_equal(pthread_join(th, NULL), 0);
  pthread_barrier_destroy(&g_barrier);

  assert_string_equal(res.initial, ""); /* a new thread starts with no message */
  assert_int_equal(res.own_status, RNNLAB_E_NULL);
  assert_non_null(strstr(res.own, "rnnlab_trace_from_name"));
  assert_null(strstr(res.own, "thread_a"));
  assert_true(res.stable);
  assert_true(stable);
  assert_non_null(strstr(rnnlab_last_error(), "thread_a_loop"));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_status_values_pinned),
      cmocka_unit_test(test_status_strings),
      cmocka_unit_test(test_destroy_null),
      cmocka_unit_test(test_infallible_queries),
      cmocka_unit_test(test_create_bad_configs),
      cmocka_unit_test(test_bad_calls_on_a_model),
      cmocka_unit_test(test_last_error_per_thread),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
