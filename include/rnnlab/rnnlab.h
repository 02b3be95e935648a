/*
 * rnnlab: train recurrent networks (GRU, vanilla RNN) and see inside them while they train.
 *
 * This header is the whole public C surface of the library (with rnnlab_data.h, which it includes).
 * It compiles as C99 and C++.
 *
 * Conventions
 *   - Every fallible call returns rnnlab_status: RNNLAB_OK (0) or a negative, pinned error value.
 *     Results go to out-parameters, which come first.
 *   - On error, rnnlab_last_error() gives a message naming the argument and the value that was wrong,
 *     and the model is exactly as it was before the call (parameters, gradients, optimiser state,
 *     hidden state and recorded tape).
 *   - The library never aborts, prints or exits; no C++ exception crosses this boundary.
 *   - Configuration structs start with `uint32_t struct_size`; initialise them with their _INIT macro.
 *     New fields are only ever appended, so a caller compiled against an older header keeps working.
 *     A struct_size larger than this library knows is refused (RNNLAB_E_VERSION).
 *   - Tensors cross the boundary as float32, row-major, copied in or out of caller buffers whose
 *     element count is passed and checked. The library never hands out pointers into its own storage
 *     (so the same calls work when the parameters live on a GPU).
 *   - Sequences are time-major: x[T][B][I].
 *
 * Thread contract
 *   One model handle is used by one thread at a time. Distinct handles are independent and may be used
 *   concurrently from different threads. rnnlab_last_error() is per thread. A model's own thread count
 *   (rnnlab_config.threads, default 1) is how many threads its backend may use inside one call; the
 *   CPU backend applies it through OpenMP around its own regions and restores the calling thread's
 *   OpenMP setting (omp_get_max_threads) before returning.
 *
 * Cell conventions (see README): GRU gate order is r, z, n (PyTorch's); z = 1 keeps the past:
 *   h_t = (1 - z_t) * n_t + z_t * h_{t-1}.
 */
#ifndef RNNLAB_RNNLAB_H
#define RNNLAB_RNNLAB_H

#include <stddef.h>
#include <stdint.h>

/* ---------------------------------------------------------------------------------------------- */
/* Export macros                                                                                  */
/* ---------------------------------------------------------------------------------------------- */
#if defined(RNNLAB_STATIC_DEFINE)
#define RNNLAB_API
#elif defined(_WIN32)
#if defined(RNNLAB_BUILDING)
#define RNNLAB_API __declspec(dllexport)
#else
#define RNNLAB_API __declspec(dllimport)
#endif
#elif defined(__GNUC__) && __GNUC__ >= 4
#define RNNLAB_API __attribute__((visibility("default")))
#else
#define RNNLAB_API
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* ---------------------------------------------------------------------------------------------- */
/* Version (CMake reads these three lines; they are the one source of the version)                */
/* ---------------------------------------------------------------------------------------------- */
#define RNNLAB_VERSION_MAJOR 0
#define RNNLAB_VERSION_MINOR 2
#define RNNLAB_VERSION_PATCH 0
#define RNNLAB_VERSION_NUMBER (RNNLAB_VERSION_MAJOR * 10000 + RNNLAB_VERSION_MINOR * 100 + RNNLAB_VERSION_PATCH)

/* "MAJOR.MINOR.PATCH" of the library actually linked. Static string. */
RNNLAB_API const char *rnnlab_version(void);
/* RNNLAB_VERSION_NUMBER of the library actually linked. */
RNNLAB_API uint32_t rnnlab_version_number(void);

/* ---------------------------------------------------------------------------------------------- */
/* Status                                                                                         */
/* ---------------------------------------------------------------------------------------------- */
/* Values are pinned: never renumbered, never reused. */
typedef enum rnnlab_status {
  RNNLAB_OK = 0,
  RNNLAB_E_NULL = -1,            /* a required pointer argument was NULL */
  RNNLAB_E_INVALID_ARGUMENT = -2,/* a value out of its range (size <= 0, unknown enum, bad index) */
  RNNLAB_E_SIZE_MISMATCH = -3,   /* a buffer's element count does not match what the call needs */
  RNNLAB_E_INVALID_CONFIG = -4,  /* a configuration contradicts itself (e.g. frozen z on an RNN) */
  RNNLAB_E_VERSION = -5,         /* a struct_size this library does not know */
  RNNLAB_E_UNSUPPORTED = -6,     /* the backend declines this configuration or request */
  RNNLAB_E_NO_DEVICE = -7,       /* the requested backend is not built in or has no device here */
  RNNLAB_E_STATE = -8,           /* wrong call order: backward with no recorded forward, B changed */
  RNNLAB_E_NONFINITE = -9,       /* NaN or Inf in an input, target, dL/dy or tensor value */
  RNNLAB_E_NOT_FOUND = -10,      /* unknown tensor name, or a trace this cell does not have */
  RNNLAB_E_NO_MEMORY = -11,      /* an allocation failed */
  RNNLAB_E_IO = -12,             /* a file could not be opened, read, written or renamed */
  RNNLAB_E_CORRUPT = -13,        /* a file is truncated, fails its checksum or has a bad magic */
  RNNLAB_E_FORMAT = -14,         /* a file of another format version, endianness or model shape */
  RNNLAB_E_INTERNAL = -15,       /* a bug in rnnlab; the message says where */
  RNNLAB_E_UNAVAILABLE = -16,    /* the diagnostic was not computed at the current level */
  RNNLAB_E_FROZEN = -17          /* a value for a frozen entry differs from its frozen value */
} rnnlab_status;

/* A static, never-NULL description of a status value. */
RNNLAB_API const char *rnnlab_status_string(rnnlab_status status);
/* The message of the last failed call on this thread ("" if none yet). Never NULL; valid until the
 * next rnnlab call on this thread. */
RNNLAB_API const char *rnnlab_last_error(void);

/* ---------------------------------------------------------------------------------------------- */
/* Enumerations                                                                                   */
/* ---------------------------------------------------------------------------------------------- */
typedef enum rnnlab_cell {
  RNNLAB_CELL_GRU = 0,             /* linear-before-reset: PyTorch nn.GRU, cuDNN CUDNN_GRU, oneDNN lbr_gru */
  RNNLAB_CELL_GRU_RESET_BEFORE = 1,/* Cho et al. 2014 / CS728: n = tanh(W_in x + b_in + W_hn (r*h) + b_hn) */
  RNNLAB_CELL_RNN_TANH = 2,
  RNNLAB_CELL_RNN_SIGMOID = 3,
  RNNLAB_CELL_RNN_RELU = 4,
  RNNLAB_CELL_RNN_LINEAR = 5
} rnnlab_cell;

typedef enum rnnlab_head {
  RNNLAB_HEAD_NONE = 0,          /* outputs are h; backward takes a caller-supplied dL/dh */
  RNNLAB_HEAD_LAST_SOFTMAX = 1,  /* logits = W_y h_T + b_y; cross-entropy, mean over the batch */
  RNNLAB_HEAD_EVERY_SOFTMAX = 2, /* logits_t for every t; cross-entropy, mean over T*B positions */
  RNNLAB_HEAD_LAST_LINEAR = 3    /* y = W_y h_T + b_y; mean over batch of sum over outputs (y-t)^2 */
} rnnlab_head;

typedef enum rnnlab_backend {
  RNNLAB_BACKEND_AUTO = 0,       /* the fastest available: CUDA (a usable GPU), else CPU (oneDNN), else reference */
  RNNLAB_BACKEND_REFERENCE = 1,  /* plain C++; the ground truth */
  RNNLAB_BACKEND_CPU = 2,        /* oneDNN GEMMs + rnnlab's own fused cell kernels */
  RNNLAB_BACKEND_CUDA = 3        /* cuDNN + rnnlab's CUDA kernels */
} rnnlab_backend;

typedef enum rnnlab_bias_mode {
  RNNLAB_BIAS_DOUBLE = 0,        /* bias_ih and bias_hh both trainable (PyTorch, cuDNN) */
  RNNLAB_BIAS_SINGLE = 1         /* bias_hh held at 0, not trainable (Pascanu, CS728 starter) */
} rnnlab_bias_mode;

/* Gate bits, for frozen-bias masks and per-gate bias initialisation. A vanilla RNN has one gate,
 * which is RNNLAB_GATE_N (its bias_ih/bias_hh). */
#define RNNLAB_GATE_R 1u
#define RNNLAB_GATE_Z 2u
#define RNNLAB_GATE_N 4u

typedef enum rnnlab_gate_index { RNNLAB_GATE_INDEX_R = 0, RNNLAB_GATE_INDEX_Z = 1, RNNLAB_GATE_INDEX_N = 2 } rnnlab_gate_index;

typedef enum rnnlab_init {
  RNNLAB_INIT_PYTORCH = 0,            /* every tensor U(-1/sqrt(H), 1/sqrt(H)) */
  RNNLAB_INIT_ORTHOGONAL = 1,         /* as PYTORCH, but each H x H block of weight_hh orthogonal */
  RNNLAB_INIT_ORTHOGONAL_STACKED = 2, /* as PYTORCH, weight_hh (3H x H) with orthonormal columns */
  RNNLAB_INIT_SIGMOID = 3,            /* Pascanu: N(0, 0.01^2) weights, biases 0 */
  RNNLAB_INIT_BASIC_TANH = 4,         /* Pascanu/CS728 default: N(0, 0.1^2), biases 0 */
  RNNLAB_INIT_SMART_TANH = 5,         /* N(0, 0.01^2); weight_hh sparse (15 per row), rho = 0.95 */
  RNNLAB_INIT_TEST = 6,               /* N(0, 0.8^2), biases 0 */
  RNNLAB_INIT_CS728_GRU = 7           /* CS728 starter GRU: N(0,.01^2), W_hz/W_hr N(0,.005^2), b_z = +2 */
} rnnlab_init;

typedef enum rnnlab_bias_init {
  RNNLAB_BIAS_INIT_SCHEME = 0,   /* biases as the weight scheme sets them */
  RNNLAB_BIAS_INIT_CONSTANT = 1, /* gates in bias_init_mask: effective bias = bias_init_value[gate] */
  RNNLAB_BIAS_INIT_CHRONO = 2    /* effective b_z ~ log(U[1, chrono_tmax - 1]) per unit, b_r = 0 */
} rnnlab_bias_init;

/* What the CPU backend does with float values below FLT_MIN (denormals) inside a pass. */
typedef enum rnnlab_denormals {
  RNNLAB_DENORMALS_FLUSH = 0,    /* default: FTZ + DAZ set for the pass on every thread it uses, and the
                                    caller's MXCSR restored before returning. Values below FLT_MIN
                                    read and write as 0. Some processors take a slow path on every
                                    denormal operation, and a vanishing gradient runs dL/dh_t through
                                    that range for most of a long sequence. */
  RNNLAB_DENORMALS_KEEP = 1      /* IEEE behaviour (gradual underflow), at whatever speed the CPU has */
} rnnlab_denormals;

/* Instruction-set levels of the CPU backend's kernels. The library holds all three and chooses
 * once, at run time, the best one this processor has (cpuid). */
typedef enum rnnlab_cpu_isa {
  RNNLAB_ISA_AUTO = 0,           /* the best this processor supports (capped by RNNLAB_CPU_ISA, below) */
  RNNLAB_ISA_BASELINE = 1,       /* x86-64 baseline (SSE2): runs everywhere */
  RNNLAB_ISA_AVX2 = 2,           /* AVX2 + FMA (AMD Zen, Intel Haswell and later) */
  RNNLAB_ISA_AVX512 = 3          /* AVX-512 F/BW/DQ/VL (Intel Skylake-SP and later, AMD Zen 4) */
} rnnlab_cpu_isa;

typedef enum rnnlab_diag_level {
  RNNLAB_DIAG_OFF = 0,     /* loss, grad_norm, grad_norm_post_clip, nonfinite only */
  RNNLAB_DIAG_SUMMARY = 1, /* + omega, steps_in_past, grad_norm_blocks */
  RNNLAB_DIAG_FULL = 2     /* + every per-step trace */
} rnnlab_diag_level;

/* ---------------------------------------------------------------------------------------------- */
/* Model configuration                                                                            */
/* ---------------------------------------------------------------------------------------------- */
typedef struct rnnlab_config {
  uint32_t struct_size;        /* sizeof(rnnlab_config); set by RNNLAB_CONFIG_INIT */
  rnnlab_cell cell;            /* default RNNLAB_CELL_GRU */
  int32_t input_size;          /* I >= 1 (no default) */
  int32_t hidden_size;         /* H >= 1 (no default) */
  rnnlab_head head;            /* default RNNLAB_HEAD_NONE */
  int32_t output_size;         /* O >= 1 with a head, 0 without */
  rnnlab_backend backend;      /* default RNNLAB_BACKEND_AUTO */
  rnnlab_bias_mode bias_mode;  /* default RNNLAB_BIAS_DOUBLE */
  uint32_t frozen_bias_mask;   /* RNNLAB_GATE_* bits: held at frozen_bias_value[gate] (b_i = v, b_h = 0) */
  float frozen_bias_value[3];  /* per gate r, z, n; default 0 */
  rnnlab_init init;            /* default RNNLAB_INIT_PYTORCH */
  rnnlab_bias_init bias_init;  /* default RNNLAB_BIAS_INIT_SCHEME */
  uint32_t bias_init_mask;     /* gates set by RNNLAB_BIAS_INIT_CONSTANT */
  float bias_init_value[3];    /* per gate r, z, n: effective bias (b_i = v, b_h = 0) */
  int32_t chrono_tmax;         /* T_max of chrono init (>= 3 when used) */
  uint64_t seed;               /* initialisation seed; default 0 */
  int32_t threads;             /* backend threads; default 1 */
  rnnlab_diag_level diag_level;/* default RNNLAB_DIAG_OFF */
  float sat_thresh;            /* saturation threshold of the *_sat_frac_time traces; default 0.05 */
  double bound;                /* validity bound of omega / steps_in_past on ||dL/dh||^2; default 1e-20 */
  int32_t max_batch;           /* largest B accepted by rnnlab_step; 0 = no limit */
  int32_t max_tape;            /* largest number of recorded steps; 0 = no limit */
  /* --- appended in 0.2 ------------------------------------------------------------------------ */
  rnnlab_denormals denormals;  /* CPU backend; default RNNLAB_DENORMALS_FLUSH (the reference keeps IEEE) */
  rnnlab_cpu_isa cpu_isa;      /* highest ISA the CPU backend may use; default AUTO. A level this
                                  processor lacks is refused (RNNLAB_E_UNSUPPORTED). rnnlab_get_config
                                  reports the level in use. */
} rnnlab_config;

#define RNNLAB_CONFIG_INIT                                                                       \
  {                                                                                              \
    (uint32_t)sizeof(rnnlab_config), RNNLAB_CELL_GRU, 0, 0, RNNLAB_HEAD_NONE, 0,                  \
        RNNLAB_BACKEND_AUTO, RNNLAB_BIAS_DOUBLE, 0u, {0.0f, 0.0f, 0.0f}, RNNLAB_INIT_PYTORCH,     \
        RNNLAB_BIAS_INIT_SCHEME, 0u, {0.0f, 0.0f, 0.0f}, 0, 0u, 1, RNNLAB_DIAG_OFF, 0.05f, 1e-20, \
        0, 0, RNNLAB_DENORMALS_FLUSH, RNNLAB_ISA_AUTO                                             \
  }

typedef struct rnnlab_model rnnlab_model;

/* Builds a model (parameters initialised from cfg->seed). *out is set only on success.
 * A model whose memory (computed in 64 bits before anything is allocated) exceeds the smallest of
 * physical memory, RLIMIT_AS / RLIMIT_DATA, the cgroup's limit and the environment variable
 * RNNLAB_MEMORY_LIMIT (bytes, optional K/M/G/T suffix) is refused with NO_MEMORY up front.
 * Errors: NULL, VERSION, INVALID_ARGUMENT, INVALID_CONFIG, NO_DEVICE, UNSUPPORTED, NO_MEMORY. */
RNNLAB_API rnnlab_status rnnlab_create(rnnlab_model **out, const rnnlab_config *cfg);
/* Frees the model. NULL is accepted and ignored. */
RNNLAB_API void rnnlab_destroy(rnnlab_model *model);
/* Copies the model's configuration into *out. out->struct_size must be set (RNNLAB_CONFIG_INIT);
 * fields beyond an older caller's struct_size are not written. backend is the resolved backend
 * (never AUTO); diag_level is the current level. */
RNNLAB_API rnnlab_status rnnlab_get_config(rnnlab_config *out, const rnnlab_model *model);

/* ---------------------------------------------------------------------------------------------- */
/* State, mode                                                                                    */
/* ---------------------------------------------------------------------------------------------- */
/* Clears the tape and sets the hidden state back to h0 (zero unless set). The batch size becomes
 * free again. */
RNNLAB_API rnnlab_status rnnlab_reset(rnnlab_model *model);
/* Sets h0 for the next sequence (count == batch * H), then resets as rnnlab_reset does; the next
 * rnnlab_step must use this batch size. h0 == NULL with count 0 goes back to a zero h0. */
RNNLAB_API rnnlab_status rnnlab_set_h0(rnnlab_model *model, const float *h0, size_t count, int32_t batch);
/* Copies the current hidden state (B x H, B of the current sequence) into h. */
RNNLAB_API rnnlab_status rnnlab_get_hidden(float *h, size_t count, const rnnlab_model *model);
/* training != 0: steps are recorded for backward (the default); 0: eval mode, nothing is recorded
 * (the tape is cleared, the hidden state kept). */
RNNLAB_API rnnlab_status rnnlab_set_training(rnnlab_model *model, int training);

/* ---------------------------------------------------------------------------------------------- */
/* Forward, backward                                                                              */
/* ---------------------------------------------------------------------------------------------- */
/* Runs T >= 1 steps of B sequences from x[T][B][I] (x_count == T*B*I), carrying the hidden state.
 * Writes the output of every step it ran into y[T][B][O] (logits or y), or y[T][B][H] (h) without a
 * head; y may be NULL with y_count 0. In training mode the steps are appended to the tape.
 * B is fixed from the first step after a reset until the next reset.
 * Errors: NULL, INVALID_ARGUMENT (T, B <= 0 or over max_batch / max_tape), SIZE_MISMATCH,
 *         STATE (B differs from the tape's), NONFINITE (message names the first (t, b, i)),
 *         NO_MEMORY (the tape would exceed the memory limit of rnnlab_create; checked before x is
 *         read or anything is allocated). */
RNNLAB_API rnnlab_status rnnlab_step(float *y, size_t y_count, rnnlab_model *model, const float *x,
                                     size_t x_count, int32_t T, int32_t B);

/* What backward starts from; exactly one of classes, values, dy is set.
 *   classes: int32 class indices in [0, O) for softmax heads: B of them (last-softmax) or
 *            T_tape * B (every-softmax, time-major).
 *   values:  float targets for the last-linear head, B * O.
 *   dy:      a caller-supplied dL/dy shaped like the tape's outputs (T_tape * B * O, or * H without
 *            a head); the loss is then reported as NaN. */
typedef struct rnnlab_targets {
  uint32_t struct_size;
  const int32_t *classes;
  const float *values;
  const float *dy;
  size_t count;
} rnnlab_targets;
#define RNNLAB_TARGETS_INIT { (uint32_t)sizeof(rnnlab_targets), NULL, NULL, NULL, 0 }

/* Back-propagates through the whole tape, adds the parameter gradients to the gradient buffers
 * (they accumulate until rnnlab_zero_grad or an update), computes the diagnostics of the model's
 * level, then clears the tape and keeps the hidden state: repeated step/backward without a reset is
 * truncated BPTT. Afterwards dL/dx and dL/dh0 of this pass can be read.
 * Errors: NULL, VERSION, STATE (no recorded step, eval mode), INVALID_ARGUMENT (more than one or
 *         none of classes/values/dy; a class out of range; targets that do not fit the head),
 *         SIZE_MISMATCH, NONFINITE. */
RNNLAB_API rnnlab_status rnnlab_backward(rnnlab_model *model, const rnnlab_targets *targets);

/* The loss of the outputs of the last rnnlab_step call (eval or training mode) against targets,
 * without recording or changing anything. With an every-softmax head the targets cover the steps
 * of that call. Optionally counts wrong sequences (argmax != class at the scored steps; for
 * every-softmax a sequence is wrong if any step is; for last-linear |y - t| > err_abs in any output):
 * n_wrong may be NULL. A NaN output counts as wrong (as rnnlab_task_count_wrong does). */
RNNLAB_API rnnlab_status rnnlab_loss(double *loss, int32_t *n_wrong, const rnnlab_model *model,
                                     const rnnlab_targets *targets, float err_abs);

/* dL/dx of the last backward: T_tape * B * I values. */
RNNLAB_API rnnlab_status rnnlab_get_input_grad(float *dx, size_t count, const rnnlab_model *model);
/* dL/dh0 of the last backward (the gradient with respect to the hidden state the tape started
 * from): B * H values. */
RNNLAB_API rnnlab_status rnnlab_get_h0_grad(float *dh0, size_t count, const rnnlab_model *model);

/* ---------------------------------------------------------------------------------------------- */
/* Parameters and gradients                                                                       */
/* ---------------------------------------------------------------------------------------------- */
/* Tensors, in flat order: weight_ih, weight_hh, bias_ih, bias_hh, then head.weight, head.bias when a
 * head is configured. Shapes are PyTorch's nn.GRUCell / nn.RNNCell / nn.Linear (math.md). */
typedef struct rnnlab_tensor_info {
  const char *name;   /* static for the model's lifetime: "weight_ih", ..., "head.bias" */
  int32_t rows;       /* e.g. 3H for a GRU's weight_ih */
  int32_t cols;       /* 1 for a bias */
  size_t offset;      /* first element in the flat buffer */
  size_t count;       /* rows * cols */
  size_t trainable;   /* how many of its entries are trainable (frozen/held entries are not) */
} rnnlab_tensor_info;

/* Total and trainable parameter counts (either pointer may be NULL, not both). */
RNNLAB_API rnnlab_status rnnlab_param_count(size_t *total, size_t *trainable, const rnnlab_model *model);
RNNLAB_API rnnlab_status rnnlab_tensor_count(int32_t *n, const rnnlab_model *model);
RNNLAB_API rnnlab_status rnnlab_tensor_info_at(rnnlab_tensor_info *out, const rnnlab_model *model, int32_t index);
/* name: "weight_ih" ... "head.bias"; PyTorch's "_l0" suffix and a module prefix ("rnn.", "gru.")
 * are accepted, as are "weight"/"bias" for the head ("fc.weight" with prefix). */
RNNLAB_API rnnlab_status rnnlab_tensor_info_by_name(rnnlab_tensor_info *out, const rnnlab_model *model, const char *name);
RNNLAB_API rnnlab_status rnnlab_get_tensor(float *out, size_t count, const rnnlab_model *model, const char *name);
/* Errors also: NONFINITE, FROZEN (a frozen or held entry differs from its value). */
RNNLAB_API rnnlab_status rnnlab_set_tensor(rnnlab_model *model, const char *name, const float *values, size_t count);
RNNLAB_API rnnlab_status rnnlab_get_grad(float *out, size_t count, const rnnlab_model *model, const char *name);
/* The whole flat parameter / gradient buffer (count == total). */
RNNLAB_API rnnlab_status rnnlab_get_params(float *out, size_t count, const rnnlab_model *model);
RNNLAB_API rnnlab_status rnnlab_set_params(rnnlab_model *model, const float *values, size_t count);
RNNLAB_API rnnlab_status rnnlab_get_grads(float *out, size_t count, const rnnlab_model *model);
/* Replaces the whole accumulated gradient with `values` (count == total), for a caller that reduces
 * gradients itself (data-parallel training: each process runs its backward, reads rnnlab_get_grads,
 * sums across processes, writes the sum back here, then calls rnnlab_update, which clips and steps
 * from it). Held entries (frozen biases, a single-mode bias_hh) must be exactly 0. NaN and Inf are
 * accepted: they are what a backward can produce, and rnnlab_update's guard is where they are dealt
 * with. grad_norm (and grad_norm_blocks, when the last pass computed them) of rnnlab_diagnostics are
 * recomputed from the new gradient; the other diagnostics stay those of the last pass.
 * Errors: NULL, SIZE_MISMATCH, FROZEN (a held entry is not 0). */
RNNLAB_API rnnlab_status rnnlab_set_grads(rnnlab_model *model, const float *values, size_t count);
/* 1 where the flat entry is trainable, 0 where frozen or held (count == total). */
RNNLAB_API rnnlab_status rnnlab_get_trainable_mask(uint8_t *out, size_t count, const rnnlab_model *model);
RNNLAB_API rnnlab_status rnnlab_zero_grad(rnnlab_model *model);

/* ---------------------------------------------------------------------------------------------- */
/* Diagnostics (spec: diagnostics.md; README, "Diagnostics")                                      */
/* ---------------------------------------------------------------------------------------------- */
/* Level, sat_thresh and bound can be changed between passes. */
RNNLAB_API rnnlab_status rnnlab_set_diag_level(rnnlab_model *model, rnnlab_diag_level level);
RNNLAB_API rnnlab_status rnnlab_set_sat_thresh(rnnlab_model *model, float sat_thresh);
RNNLAB_API rnnlab_status rnnlab_set_bound(rnnlab_model *model, double bound);

/* Per-pass scalars of the last backward. */
typedef struct rnnlab_diag {
  uint32_t struct_size;
  int32_t steps;               /* T of the pass (the tape length) */
  int32_t batch;               /* B of the pass */
  rnnlab_diag_level level;     /* the level the pass ran at */
  double loss;                 /* NaN when backward started from dy */
  double grad_norm;            /* of the accumulated gradient, trainable entries, before clipping */
  double grad_norm_post_clip;  /* after the last update's clipping; = grad_norm until then */
  double omega;                /* summary+; NaN when no (t, b) is valid or below summary */
  double steps_in_past;        /* summary+; fraction of (t, b) with ||dL/dh||^2 >= bound */
  int64_t nonfinite;           /* NaN/Inf entries in loss, activations, dL/dh and gradients */
  int32_t nonfinite_first_t;   /* first step index (0-based) with a non-finite activation or dL/dh; -1 if none */
} rnnlab_diag;
#define RNNLAB_DIAG_INIT { (uint32_t)sizeof(rnnlab_diag), 0, 0, RNNLAB_DIAG_OFF, 0, 0, 0, 0, 0, 0, -1 }

/* Errors: NULL, VERSION, STATE (no backward yet). */
RNNLAB_API rnnlab_status rnnlab_diagnostics(rnnlab_diag *out, const rnnlab_model *model);

typedef enum rnnlab_trace {
  RNNLAB_TRACE_GRAD_TIME = 0,           /* mean_b ||dL/dh_t|| (total derivative) */
  RNNLAB_TRACE_SAT_TIME = 1,            /* hidden distance to saturation */
  RNNLAB_TRACE_ACT_TIME = 2,            /* activation derivative read from h_t */
  RNNLAB_TRACE_CAND_ACT_TIME = 3,       /* GRU: E[1 - n_t^2] */
  RNNLAB_TRACE_GATE_Z_SAT_TIME = 4,     /* GRU: E[min(z, 1 - z)] */
  RNNLAB_TRACE_GATE_R_SAT_TIME = 5,
  RNNLAB_TRACE_GATE_Z_MEAN_TIME = 6,    /* GRU: E[z_t] */
  RNNLAB_TRACE_GATE_R_MEAN_TIME = 7,
  RNNLAB_TRACE_GATE_Z_PREACT_TIME = 8,  /* GRU: E[W_iz x + b_iz + W_hz h + b_hz] */
  RNNLAB_TRACE_SAT_FRAC_TIME = 9,       /* fraction with distance < sat_thresh */
  RNNLAB_TRACE_GATE_Z_SAT_FRAC_TIME = 10,
  RNNLAB_TRACE_GATE_R_SAT_FRAC_TIME = 11,
  RNNLAB_TRACE_TRANSFER_TIME = 12,      /* mean_b ||J_t^T d_t|| / ||d_t|| */
  RNNLAB_TRACE_COUNT = 13
} rnnlab_trace;

/* The trace's key as in diagnostics.md ("grad_time", ...), or NULL for an unknown value. */
RNNLAB_API const char *rnnlab_trace_name(rnnlab_trace trace);
/* Looks a trace up by its key. Errors: NULL, NOT_FOUND. */
RNNLAB_API rnnlab_status rnnlab_trace_from_name(rnnlab_trace *out, const char *name);
/* 1 if this model's cell has the trace, 0 if not (e.g. gate traces of a vanilla RNN). */
RNNLAB_API int rnnlab_has_trace(const rnnlab_model *model, rnnlab_trace trace);

/* Copies a per-step trace of the last backward (one value per step, index t - 1) into out.
 * Ownership: the values are copied; nothing the library owns is handed out.
 * *len (may be NULL) receives the trace length T; with out == NULL and count == 0 only *len is set.
 * Errors: NOT_FOUND (the cell has no such trace), UNAVAILABLE (level below full),
 *         STATE (no backward yet), SIZE_MISMATCH (count < T). */
RNNLAB_API rnnlab_status rnnlab_get_trace(double *out, size_t count, int32_t *len, const rnnlab_model *model,
                                          rnnlab_trace trace);

/* grad_norm per tensor and per gate block of the accumulated gradient (summary+): entries are
 * "weight_ih", "weight_ih.r", "weight_ih.z", "weight_ih.n", ... for a GRU (tensor, then its gates),
 * tensors only for a vanilla RNN. *n receives the number of entries; with norms == NULL, count 0 only
 * *n is set. names[i] (optional, may be NULL) are static strings. */
RNNLAB_API rnnlab_status rnnlab_grad_norm_blocks(double *norms, const char **names, size_t count, int32_t *n,
                                                 const rnnlab_model *model);

/* Mean, percentiles and histogram of a set of values (numpy's linear-interpolation percentiles).
 * Values that are NaN are left out (count says how many were used). */
typedef struct rnnlab_summary {
  uint32_t struct_size;
  int32_t count;
  double mean, min, max;
  double p05, p10, p25, p50, p75, p90, p95;
  double lo, hi;  /* the histogram's range actually used */
} rnnlab_summary;
#define RNNLAB_SUMMARY_INIT { (uint32_t)sizeof(rnnlab_summary), 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0 }

/* Summary and histogram of a trace of the last backward. grad_time is taken as log10(g + 1e-12).
 * Histogram: `bins` equal bins over [lo, hi] (numpy.histogram's rule: the last bin is closed);
 * lo == hi asks for the data's own min..max. hist (may be NULL with bins >= 1) receives bins counts. */
RNNLAB_API rnnlab_status rnnlab_trace_summary(rnnlab_summary *out, int64_t *hist, int32_t bins, double lo, double hi,
                                              const rnnlab_model *model, rnnlab_trace trace);
/* The same over any caller array. */
RNNLAB_API rnnlab_status rnnlab_summarize(rnnlab_summary *out, int64_t *hist, int32_t bins, double lo, double hi,
                                          const double *values, size_t count);

/* On demand (cost grows as H^3). Which recurrent block: W_hn (W_hh of a vanilla RNN), W_hz, W_hr. */
typedef enum rnnlab_block { RNNLAB_BLOCK_HN = 0, RNNLAB_BLOCK_HZ = 1, RNNLAB_BLOCK_HR = 2 } rnnlab_block;
/* Spectral radius max|eig| and largest singular value of a recurrent block (either out may be NULL).
 * Errors: NOT_FOUND (gate block of a vanilla RNN), UNSUPPORTED (built without LAPACKE). */
RNNLAB_API rnnlab_status rnnlab_spectral(double *rho, double *sigma_max, const rnnlab_model *model, rnnlab_block block);
/* The full H x H Jacobian J[i][j] = d h_t[i] / d h_{t-1}[j] of step t (0-based index into the last
 * forward's tape) and sequence b, row-major, H*H values. Available after rnnlab_step in training
 * mode, and after the backward that consumed that tape until the next rnnlab_step.
 * Errors: STATE (nothing recorded), INVALID_ARGUMENT (t or b out of range), SIZE_MISMATCH. */
RNNLAB_API rnnlab_status rnnlab_jacobian(float *J, size_t count, const rnnlab_model *model, int32_t t, int32_t b);

/* ---------------------------------------------------------------------------------------------- */
/* Training: optimiser, clipping, schedule, the Omega term (README, "Training")                   */
/* ---------------------------------------------------------------------------------------------- */
/* One rnnlab_update applies, in this order: the clipping (or the guard), the optimiser step with the
 * scheduled rate lr_t, then zeroes the gradients. Per trainable entry, with g its gradient and p its
 * value (frozen and held entries are never touched: no step, no weight decay, moments kept at 0):
 *   SGD    d = g + wd*p; v = momentum*v + d (momentum > 0); p -= lr_t * (v or d)   (torch.optim.SGD)
 *   Adam   d = g + wd*p; m = b1*m + (1-b1)*d; s = b2*s + (1-b2)*d^2;
 *          p -= lr_t * (m / (1-b1^k)) / (sqrt(s / (1-b2^k)) + eps)              (torch.optim.Adam)
 *   AdamW  p *= 1 - lr_t*wd; then Adam's step with d = g                           (torch.optim.AdamW)
 * k counts the updates whose gradient entered the moments (an update dropped by the guard does not). */
typedef enum rnnlab_optimizer_kind {
  RNNLAB_OPTIMIZER_SGD = 0,   /* plain SGD, or SGD with momentum (dampening 0, not Nesterov) */
  RNNLAB_OPTIMIZER_ADAM = 1,  /* weight_decay is an L2 term added to the gradient */
  RNNLAB_OPTIMIZER_ADAMW = 2  /* weight_decay is decoupled (torch's AdamW default is 0.01: set it) */
} rnnlab_optimizer_kind;

typedef enum rnnlab_schedule {
  RNNLAB_SCHEDULE_CONSTANT = 0, /* lr_t = lr (after the warm-up) */
  RNNLAB_SCHEDULE_COSINE = 1    /* u = schedule position - warmup_steps: lr_min + (lr - lr_min) *
                                 * (1 + cos(pi * u / schedule_steps)) / 2 for u < schedule_steps, then
                                 * lr_min (torch's CosineAnnealingLR(T_max = schedule_steps, eta_min =
                                 * lr_min) until T_max; torch goes on along the cosine, rnnlab stays) */
} rnnlab_schedule;

typedef enum rnnlab_clip {
  RNNLAB_CLIP_NOTHING = 0, /* no norm clipping and no guard */
  RNNLAB_CLIP_RESCALE = 1  /* ||g|| > cutoff (strict): g *= cutoff / ||g||. Guard: ||g|| NaN, Inf or
                            * > 1e10: the gradient is dropped and the recurrent matrix shrunk instead,
                            * W <- (1 - 0.02 * lr_t) * W for weight_hh (vanilla RNN) or its W_hn block
                            * (GRU); moments untouched; the step counter and the schedule advance */
} rnnlab_clip;

typedef struct rnnlab_optimizer_config {
  uint32_t struct_size;        /* sizeof(rnnlab_optimizer_config); set by RNNLAB_OPTIMIZER_CONFIG_INIT */
  rnnlab_optimizer_kind kind;  /* default RNNLAB_OPTIMIZER_SGD */
  double lr;                   /* > 0; default 0.01 */
  double momentum;             /* SGD only, [0, 1); default 0 */
  double beta1, beta2;         /* Adam/AdamW, each in [0, 1); default 0.9, 0.999 (SGD ignores them) */
  double eps;                  /* Adam/AdamW, > 0; default 1e-8 (SGD ignores it) */
  double weight_decay;         /* >= 0; default 0 */
  rnnlab_schedule schedule;    /* default RNNLAB_SCHEDULE_CONSTANT */
  double lr_min;               /* cosine: the final rate, in [0, lr]; 0 with a constant schedule */
  int64_t schedule_steps;      /* cosine: schedule steps from lr to lr_min (>= 1); 0 when constant */
  int64_t warmup_steps;        /* >= 0: the first W schedule steps use lr * (position + 1) / W */
  int64_t schedule_period;     /* updates per schedule step: 1 (default) = every update; N = e.g. the
                                * updates of an epoch; 0 = only rnnlab_schedule_step advances it */
  rnnlab_clip clip;            /* default RNNLAB_CLIP_NOTHING */
  double cutoff;               /* rescale: > 0; default 1.0 */
  double clip_value;           /* > 0: then clamp every gradient entry to [-clip_value, clip_value]
                                * (after the norm clipping); 0 (default) = off */
  double alpha;                /* >= 0: adds alpha * dOmega/dW_hh to weight_hh's gradient at every
                                * backward, before grad_norm is taken (Pascanu's Omega, its immediate
                                * partial; tasks.md). Vanilla RNNs only: > 0 on a GRU is UNSUPPORTED,
                                * as on a backend whose backward does not compute it.
                                * omega and steps_in_past are then computed at every diag level. */
} rnnlab_optimizer_config;

#define RNNLAB_OPTIMIZER_CONFIG_INIT                                                              \
  {                                                                                               \
    (uint32_t)sizeof(rnnlab_optimizer_config), RNNLAB_OPTIMIZER_SGD, 0.01, 0.0, 0.9, 0.999, 1e-8, \
        0.0, RNNLAB_SCHEDULE_CONSTANT, 0.0, 0, 0, 1, RNNLAB_CLIP_NOTHING, 1.0, 0.0, 0.0             \
  }

/* Where the optimiser is. */
typedef struct rnnlab_optimizer_state {
  uint32_t struct_size;
  int64_t step;           /* updates applied since the optimiser was set (guard-dropped ones included) */
  int64_t moment_step;    /* updates whose gradient entered the moments (k of the bias correction) */
  int64_t schedule_pos;   /* schedule steps taken */
  int64_t guard_count;    /* updates whose gradient the guard dropped */
  double lr;              /* the rate the next update will use */
  double last_lr;         /* the rate the last update used; NaN before the first */
  int32_t last_clipped;   /* 1 if the last update rescaled or value-clipped the gradient */
  int32_t last_guard;     /* 1 if the guard dropped the last update's gradient */
} rnnlab_optimizer_state;
#define RNNLAB_OPTIMIZER_STATE_INIT { (uint32_t)sizeof(rnnlab_optimizer_state), 0, 0, 0, 0, 0, 0, 0, 0 }

/* Sets the optimiser. The first call starts it fresh (moments 0, counters 0). A later call with the
 * same kind only changes hyper-parameters and keeps the moments, counters and schedule position; a
 * different kind (or SGD momentum switched on or off) starts fresh moments and moment_step, keeping
 * step and schedule position.
 * Errors: NULL, VERSION, INVALID_ARGUMENT (a value out of its range), INVALID_CONFIG (a field that
 *         contradicts the kind, schedule or clip), UNSUPPORTED (alpha > 0 on a GRU, or on a backend
 *         that cannot compute the Omega gradient), NO_MEMORY. */
RNNLAB_API rnnlab_status rnnlab_set_optimizer(rnnlab_model *model, const rnnlab_optimizer_config *cfg);
/* Copies the optimiser's configuration into *out (struct_size must be set). Errors: STATE (none set). */
RNNLAB_API rnnlab_status rnnlab_get_optimizer(rnnlab_optimizer_config *out, const rnnlab_model *model);
/* Copies the optimiser's counters and rates into *out. Errors: NULL, VERSION, STATE (none set). */
RNNLAB_API rnnlab_status rnnlab_get_optimizer_state(rnnlab_optimizer_state *out, const rnnlab_model *model);
/* Zeroes the moments and every counter (step, moment_step, schedule position, guard_count). */
RNNLAB_API rnnlab_status rnnlab_reset_optimizer(rnnlab_model *model);
/* Advances the schedule by one step (what torch's scheduler.step() does; for schedule_period 0). */
RNNLAB_API rnnlab_status rnnlab_schedule_step(rnnlab_model *model);
/* Clips the accumulated gradient, applies one optimiser step, zeroes the gradients and advances the
 * step counter (and the schedule). Sets grad_norm (pre-clip; the raw value, NaN/Inf included, when
 * the guard fires) and grad_norm_post_clip (0 when the guard dropped the gradient) of rnnlab_diagnostics.
 * Errors: NULL, STATE (no optimiser set). */
RNNLAB_API rnnlab_status rnnlab_update(rnnlab_model *model);

/* ---------------------------------------------------------------------------------------------- */
/* Checkpoints and parameter files                                                                */
/* ---------------------------------------------------------------------------------------------- */
/* A checkpoint holds the configuration, the parameters, the optimiser (configuration, moments, step
 * counters, schedule position) and optional caller bytes, in a versioned binary format (README,
 * "Checkpoints"): every section carries its length and CRC32, the file a CRC32 of everything.
 * Gradients, the hidden state, h0 and the tape are not saved.
 * Saving writes a temporary file in the target's directory, syncs it, renames it over `path` and
 * syncs the directory: `path` holds the old checkpoint or the new one, never a mix (a crash may leave
 * a ".<name>.tmp.*" file behind). Errors: NULL, IO. */
RNNLAB_API rnnlab_status rnnlab_save(const rnnlab_model *model, const char *path);
/* The same, storing user_size caller bytes with it (e.g. a data generator's position); user may be
 * NULL when user_size is 0. */
RNNLAB_API rnnlab_status rnnlab_save_ex(const rnnlab_model *model, const char *path, const void *user,
                                        size_t user_size);
/* Loads a checkpoint into a model of the same shape (cell, sizes, head, bias mode, frozen biases;
 * backend, threads, seed and init may differ). The whole file is checked before anything changes.
 * Then parameters and optimiser state are replaced (or the optimiser removed when the checkpoint has
 * none), gradients zeroed, and the sequence reset as rnnlab_reset does; the diag settings stay.
 * Errors: NULL, IO, CORRUPT (truncated, a checksum fails, bad magic), FORMAT (another format version,
 *         the other endianness, another model shape), UNSUPPORTED (its optimiser has alpha > 0 and
 *         this model's backend cannot compute the Omega gradient). The model is untouched on any error. */
RNNLAB_API rnnlab_status rnnlab_load(rnnlab_model *model, const char *path);
/* rnnlab_load that also copies the caller bytes saved with rnnlab_save_ex into user (capacity bytes;
 * NULL with capacity 0 to skip them). *user_size (may be NULL) receives their length, also when the
 * call fails with SIZE_MISMATCH because capacity is too small (then nothing else changes). */
RNNLAB_API rnnlab_status rnnlab_load_ex(void *user, size_t capacity, size_t *user_size, rnnlab_model *model,
                                        const char *path);

/* The configuration stored in a checkpoint (what rnnlab_create needs to build a model that
 * rnnlab_load accepts), after the whole file is checked as rnnlab_load checks it. Fields the format
 * does not store (denormals, cpu_isa) get their RNNLAB_CONFIG_INIT defaults; backend, threads and
 * the diag settings are the saving model's. out->struct_size must be set (RNNLAB_CONFIG_INIT);
 * fields beyond it are not written. Nothing is written on error.
 * Errors: NULL, VERSION (struct_size), IO, CORRUPT, FORMAT. */
RNNLAB_API rnnlab_status rnnlab_checkpoint_config(rnnlab_config *out, const char *path);

/* Flags of rnnlab_export_npz. */
#define RNNLAB_NPZ_L0 1u      /* cell tensors get nn.GRU / nn.RNN's "_l0" suffix ("weight_ih_l0") */
#define RNNLAB_NPZ_FLOAT64 2u /* write float64 arrays (default float32) */
/* Writes the parameters as a NumPy .npz (libzip; atomic as rnnlab_save) under PyTorch's names and
 * shapes (math.md): cell_prefix + "weight_ih" [+ "_l0"], ..., and head_prefix + "weight" / "bias"
 * for the head. cell_prefix NULL means "", head_prefix NULL means "head." (e.g. "rnn." and "fc." give
 * a state_dict of Model(rnn = nn.GRU, fc = nn.Linear)). Errors: NULL, INVALID_ARGUMENT (flags), IO. */
RNNLAB_API rnnlab_status rnnlab_export_npz(const rnnlab_model *model, const char *path, const char *cell_prefix,
                                           const char *head_prefix, uint32_t flags);
/* Reads every parameter tensor from an .npz, float32 or float64, named as rnnlab_tensor_info_by_name
 * accepts (with or without "_l0", any module prefix, "<prefix>.weight" for the head); arrays whose
 * names are no tensor's are ignored. Everything is checked before anything changes; the optimiser
 * state is kept. Errors: NULL, IO, CORRUPT, NOT_FOUND (a tensor missing), FORMAT (a shape or dtype
 * that does not fit, two arrays for one tensor, an array of layer 1+ or of the reverse direction),
 * NONFINITE, FROZEN (a held entry differs). */
RNNLAB_API rnnlab_status rnnlab_import_npz(rnnlab_model *model, const char *path);

/* ---------------------------------------------------------------------------------------------- */
/* Features                                                                                       */
/* ---------------------------------------------------------------------------------------------- */
typedef enum rnnlab_feature {
  RNNLAB_FEATURE_ONEDNN = 0,  /* the CPU backend is built in */
  RNNLAB_FEATURE_CUDA = 1,    /* the CUDA backend is built and its module (librnnlab_cuda.so.<major>) is
                                 found where rnnlab loads it from; not loaded by this call, and a device may
                                 still be absent (rnnlab_backend_available says) */
  RNNLAB_FEATURE_LAPACK = 2,  /* rnnlab_spectral and the orthogonal / smart_tanh inits */
  RNNLAB_FEATURE_NPZ = 3      /* .npz import/export (libzip) */
} rnnlab_feature;
/* 1 if built with the feature, 0 if not (or unknown). */
RNNLAB_API int rnnlab_has_feature(rnnlab_feature feature);
/* 1 if a model of that backend can be created here now (CUDA: built in and a device present). */
RNNLAB_API int rnnlab_backend_available(rnnlab_backend backend);
/* "reference", "cpu", "cuda", "auto", or NULL. */
RNNLAB_API const char *rnnlab_backend_name(rnnlab_backend backend);
/* The best ISA level this processor supports and this library holds kernels for, capped by the
 * environment variable RNNLAB_CPU_ISA ("baseline", "avx2", "avx512"; read once per process) when it
 * is set. Never RNNLAB_ISA_AUTO. AUTO in a config resolves to this. */
RNNLAB_API rnnlab_cpu_isa rnnlab_cpu_isa_best(void);
/* "auto", "baseline", "avx2", "avx512", or NULL. */
RNNLAB_API const char *rnnlab_cpu_isa_name(rnnlab_cpu_isa isa);

#ifdef __cplusplus
}
#endif

/* The synthetic tasks and data-set readers. */
#include "rnnlab_data.h"
#include "rnnlab_io.h"

#endif /* RNNLAB_RNNLAB_H */
