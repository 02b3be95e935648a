/*
 * rnnlab data: the synthetic tasks of Pascanu, Mikolov & Bengio (2013) and readers for real
 * sequential-image data sets (IDX: MNIST / Fashion-MNIST; CIFAR-10 binary batches).
 *
 * Included by rnnlab.h; it can also be included on its own. Compiles as C99 and C++.
 * The conventions of rnnlab.h hold here: every fallible call returns rnnlab_status, out-parameters
 * come first, every buffer comes with its element count (checked), configuration and info structs
 * start with `uint32_t struct_size` and have an _INIT macro, a refused call leaves its handle exactly
 * as it was, and nothing here prints, aborts or exits.
 *
 * Layouts: inputs are time-major, x[T][B][I] (element (t, b, i) at (t * B + b) * I + i), as
 * rnnlab_step takes them. Targets are shaped for rnnlab_targets: int32 classes (B of them for a
 * last-softmax head, T * B time-major for an every-softmax head) or float values (B * O).
 *
 * Reproducibility: the tasks and the pixel permutation use rnnlab's own random generator
 * (xoshiro256** seeded through splitmix64, integers by rejection sampling, floats from the top 24
 * bits), so a seed gives the same batches on every platform and compiler. They do not reproduce
 * numpy's RandomState streams.
 *
 * Threads: a task handle is used by one thread at a time (a draw advances its generator).
 * A data-set handle is read-only once created: any number of threads may call rnnlab_dataset_*
 * on the same handle concurrently.
 */
#ifndef RNNLAB_RNNLAB_DATA_H
#define RNNLAB_RNNLAB_DATA_H

#include <stddef.h>
#include <stdint.h>

#include "rnnlab.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---------------------------------------------------------------------------------------------- */
/* Synthetic tasks (spec: tasks.md, "Synthetic tasks")                                             */
/* ---------------------------------------------------------------------------------------------- */
/*
 *  kind     I                 O                 head           T of a batch of length L
 *  add      2                 1                 last-linear    L + randint(int(0.1 L))
 *  mul      2                 1                 last-linear    L + randint(int(0.1 L))
 *  mem      memvalues + 2     memvalues + 1     every-softmax  L + 2 mempos
 *  torder   6                 4                 last-softmax   L
 *  torder3  6                 8                 last-softmax   L
 *  perm     100               100               last-softmax   L
 *
 * randint(n) is uniform on {0, ..., n - 1}. A batch's L is min_length + randint(max_length -
 * min_length), i.e. uniform on [min_length, max_length - 1], or min_length when max_length <=
 * min_length; all sequences of a batch share it. Marker positions, marker values, symbols and
 * patterns are drawn per sequence. Within one draw the generator is consumed in a fixed order:
 * L, then (add, mul) the extra steps, then sequence 0's draws, sequence 1's, and so on.
 */
typedef enum rnnlab_task_kind {
  RNNLAB_TASK_ADD = 0,     /* target (x[p0] + x[p1]) / 2 of the two marked values */
  RNNLAB_TASK_MUL = 1,     /* target x[p0] * x[p1] */
  RNNLAB_TASK_MEM = 2,     /* recall mempos symbols after L blank steps (the CS728 default task) */
  RNNLAB_TASK_TORDER = 3,  /* order of two A/B markers among distractors: 4 classes */
  RNNLAB_TASK_TORDER3 = 4, /* order of three A/B markers: 8 classes */
  RNNLAB_TASK_PERM = 5     /* recall the first of L symbols (random permutation task) */
} rnnlab_task_kind;

/* The task's name as the CS728 trainer spells it ("add", "mul", "mem", "torder", "torder3",
 * "perm"), or NULL for an unknown value. Static string. */
RNNLAB_API const char *rnnlab_task_kind_name(rnnlab_task_kind kind);
/* Looks a kind up by that name (exact, lower case). Errors: NULL, NOT_FOUND. */
RNNLAB_API rnnlab_status rnnlab_task_kind_from_name(rnnlab_task_kind *out, const char *name);

typedef struct rnnlab_task_config {
  uint32_t struct_size; /* sizeof(rnnlab_task_config); set by RNNLAB_TASK_CONFIG_INIT */
  rnnlab_task_kind kind;/* default RNNLAB_TASK_MEM */
  int32_t min_length;   /* >= 1; >= 10 for add, mul, torder, torder3; default 50 */
  int32_t max_length;   /* <= 2^24; L < max_length unless max_length <= min_length; default 200 */
  int32_t memvalues;    /* mem: symbols, 1..1000; default 5 (ignored by other kinds, still checked) */
  int32_t mempos;       /* mem: pattern length, 1..100000; default 10 (likewise) */
  uint64_t seed;        /* generator seed; default 0 */
  int32_t mem_all;      /* mem only: 1 = every draw is the batch of all memvalues^mempos patterns,
                           sequence b holding pattern b (digits of b, least significant first);
                           that batch size must fit in int32. Default 0 (patterns drawn at random). */
} rnnlab_task_config;

#define RNNLAB_TASK_CONFIG_INIT \
  { (uint32_t)sizeof(rnnlab_task_config), RNNLAB_TASK_MEM, 50, 200, 5, 10, 0u, 0 }

typedef struct rnnlab_task rnnlab_task;

/* Builds a task generator seeded with cfg->seed. *out is set only on success.
 * Errors: NULL, VERSION (struct_size), INVALID_ARGUMENT (unknown kind, a size out of its range),
 *         INVALID_CONFIG (mem_all with another kind, or with more than INT32_MAX patterns),
 *         NO_MEMORY. */
RNNLAB_API rnnlab_status rnnlab_task_create(rnnlab_task **out, const rnnlab_task_config *cfg);
/* Frees the task. NULL is accepted and ignored. */
RNNLAB_API void rnnlab_task_destroy(rnnlab_task *task);
/* Restarts the generator from `seed`, as if the task had just been created with it.
 * Errors: NULL. */
RNNLAB_API rnnlab_status rnnlab_task_reseed(rnnlab_task *task, uint64_t seed);

typedef struct rnnlab_task_info {
  uint32_t struct_size;   /* set by the caller (RNNLAB_TASK_INFO_INIT) */
  rnnlab_task_kind kind;
  int32_t input_size;     /* I */
  int32_t output_size;    /* O: classes of a softmax head, values of the linear head */
  rnnlab_head head;       /* RNNLAB_HEAD_LAST_SOFTMAX, _EVERY_SOFTMAX (mem) or _LAST_LINEAR */
  int32_t min_steps;      /* smallest T a draw with length 0 (the per-batch rule) can give */
  int32_t max_steps;      /* largest such T: size buffers with it once */
  int32_t fixed_batch;    /* mem_all: the B every draw must use; 0 when any B >= 1 is accepted */
} rnnlab_task_info;
#define RNNLAB_TASK_INFO_INIT \
  { (uint32_t)sizeof(rnnlab_task_info), RNNLAB_TASK_ADD, 0, 0, RNNLAB_HEAD_NONE, 0, 0, 0 }

/* Describes the task. out->struct_size must be set; fields beyond it are not written.
 * Errors: NULL, VERSION. */
RNNLAB_API rnnlab_status rnnlab_task_get_info(rnnlab_task_info *out, const rnnlab_task *task);

/* The range [*min_steps, *max_steps] of T that rnnlab_task_draw with this `length` argument can
 * return (length 0: the per-batch rule, as in rnnlab_task_info; length > 0: that L). Either out may
 * be NULL, not both. Errors: NULL, INVALID_ARGUMENT (length < 0, too short for the kind, > 2^24). */
RNNLAB_API rnnlab_status rnnlab_task_steps(int32_t *min_steps, int32_t *max_steps, const rnnlab_task *task,
                                           int32_t length);

/* Draws one batch of `batch` sequences and advances the task's generator.
 *   length:  0 draws L by the per-batch rule; > 0 uses L = length (e.g. the CS728 diagnostic batch,
 *            drawn with length max_length); add and mul still add their randint(int(0.1 L)) steps.
 *   *steps:  receives the batch's T.
 *   x:       x[T][B][I]; x_count >= T * B * I (size it with max_steps); entries past T * B * I are
 *            not written. Inputs are exact: one-hot rows, or (add, mul) a 0/1 marker channel 0 and
 *            values in [0, 1) in channel 1.
 *   classes: softmax tasks: B classes (last-softmax) or T * B, time-major (mem); classes_count
 *            must be at least that. Ignored (may be NULL, count 0) for add and mul.
 *   values:  add, mul: B * O targets; values_count must be at least that. Ignored (may be NULL)
 *            for softmax tasks.
 * The check of every argument and buffer size happens before anything is written or the generator
 * moves: a refused draw leaves the task as it was, so the same call with larger buffers draws the
 * batch the refused one would have drawn.
 * Errors: NULL, INVALID_ARGUMENT (batch < 1, length as in rnnlab_task_steps, batch != fixed_batch
 *         under mem_all), SIZE_MISMATCH (a buffer too small for this draw's T), NO_MEMORY. */
RNNLAB_API rnnlab_status rnnlab_task_draw(int32_t *steps, float *x, size_t x_count, int32_t *classes,
                                          size_t classes_count, float *values, size_t values_count,
                                          rnnlab_task *task, int32_t batch, int32_t length);

/* The default regression tolerance of rnnlab_task_count_wrong (CS728's --err_abs; the original code
 * tests squared error > 0.04). */
#define RNNLAB_TASK_ERR_ABS_DEFAULT 0.2f

/* Counts the sequences of a batch that the model got wrong (the tasks' "valid error" is
 * 100 * n_wrong / B percent).
 *   y:       the model's outputs y[T][B][O], every step, as rnnlab_step writes them with the task's
 *            head (logits for softmax heads); y_count == T * B * O exactly.
 *   targets: as rnnlab_task_draw wrote them for this T and B: classes (classes_count == B, or T * B
 *            for mem) or values (values_count == B * O); the one the task does not use is ignored.
 * Rules: last-softmax: wrong when the argmax of step T - 1 differs from the class; mem: wrong when
 * the argmax differs at any of the T steps (blank steps included); add, mul: wrong when
 * |y - target| > err_abs at step T - 1. The argmax is the first largest value; a NaN output counts
 * as wrong. err_abs (>= 0, finite) is only read for add and mul.
 * Errors: NULL, INVALID_ARGUMENT (T, B < 1; a class outside [0, O); err_abs), SIZE_MISMATCH,
 *         NONFINITE (a target value is NaN or Inf; the message names its index). */
RNNLAB_API rnnlab_status rnnlab_task_count_wrong(int32_t *n_wrong, const rnnlab_task *task, const float *y,
                                                 size_t y_count, int32_t T, int32_t B, const int32_t *classes,
                                                 size_t classes_count, const float *values, size_t values_count,
                                                 float err_abs);

/* ---------------------------------------------------------------------------------------------- */
/* Data sets: sequential images (spec: tasks.md, "Real data")                                      */
/* ---------------------------------------------------------------------------------------------- */
typedef enum rnnlab_dataset_format {
  RNNLAB_DATASET_IDX = 0,     /* MNIST / Fashion-MNIST: an idx3 images file + an idx1 labels file */
  RNNLAB_DATASET_CIFAR10 = 1  /* CIFAR-10 binary batches: records of 1 label byte + R, G, B planes */
} rnnlab_dataset_format;

typedef enum rnnlab_dataset_mode {
  RNNLAB_DATASET_PIXELS = 0,  /* one step per pixel: T = H * W, I = channels (row-major order) */
  RNNLAB_DATASET_ROWS = 1     /* one step per image row: T = H, I = W * channels */
} rnnlab_dataset_mode;

/* Input values: each byte v becomes v / 255 (grayscale CIFAR: (0.299 R + 0.587 G + 0.114 B) / 255),
 * then, with normalize, (value - mean[c]) / std[c] for channel c. Colour CIFAR has 3 channels, given
 * per pixel as R, G, B: in rows mode step t is the 32 pixels of row t, each R, G, B (I = 96). With
 * permute (pixels mode only), step t reads pixel permutation[t] of a fixed permutation drawn from
 * permutation_seed (psMNIST), the same for every image. */
typedef struct rnnlab_dataset_config {
  uint32_t struct_size;          /* sizeof(rnnlab_dataset_config); set by RNNLAB_DATASET_CONFIG_INIT */
  rnnlab_dataset_format format;  /* default RNNLAB_DATASET_IDX */
  const char *images_path;       /* IDX: the idx3 images file, plain or gzip; NULL for CIFAR */
  const char *labels_path;       /* IDX: the idx1 labels file, plain or gzip; NULL for CIFAR */
  const char *const *cifar_paths;/* CIFAR: cifar_count batch files, loaded in order as one set */
  int32_t cifar_count;           /* CIFAR: >= 1; 0 for IDX */
  int32_t num_classes;           /* labels must lie in [0, num_classes); 1..256, default 10 */
  int32_t grayscale;             /* CIFAR: 1 = convert to one luma channel; default 0 (IDX: no-op) */
  rnnlab_dataset_mode mode;      /* default RNNLAB_DATASET_PIXELS */
  int32_t normalize;             /* 1 = apply mean / std; default 0 */
  float mean[3];                 /* per channel (only the first `channels` are read); default 0 */
  float std[3];                  /* per channel, > 0; default 1 */
  int32_t permute;               /* 1 = fixed pixel permutation (pixels mode only); default 0 */
  uint64_t permutation_seed;     /* default 0 */
  int32_t limit;                 /* load only the first `limit` examples (0 = all); default 0 */
} rnnlab_dataset_config;

#define RNNLAB_DATASET_CONFIG_INIT                                                               \
  {                                                                                              \
    (uint32_t)sizeof(rnnlab_dataset_config), RNNLAB_DATASET_IDX, NULL, NULL, NULL, 0, 10, 0,      \
        RNNLAB_DATASET_PIXELS, 0, {0.0f, 0.0f, 0.0f}, {1.0f, 1.0f, 1.0f}, 0, 0u, 0                \
  }

typedef struct rnnlab_dataset rnnlab_dataset;

/* Opens the files and loads every example (up to cfg->limit) into memory; the files are not kept
 * open, and the path strings need to live only during the call. gzip files are recognised by their content, not their name. Only the
 * bytes of the examples kept are read, so with a limit a file may be longer than needed.
 * *out is set only on success. Errors (the message names the file and the problem):
 *   NULL, VERSION, INVALID_ARGUMENT (unknown format or mode, num_classes, limit < 0),
 *   INVALID_CONFIG (paths that do not fit the format, permute in rows mode, std <= 0 or
 *   non-finite mean/std with normalize),
 *   IO (a file missing or unreadable),
 *   CORRUPT (bad magic, a file shorter than its header or a record says, trailing bytes after the
 *   data of an IDX file read to its end, an empty CIFAR file, a damaged gzip stream, a label >=
 *   num_classes: the message gives the example's index),
 *   FORMAT (an IDX file of another data type or rank, images and labels counts that differ, an IDX
 *   header announcing 0 images or 0-sized images), NO_MEMORY. */
RNNLAB_API rnnlab_status rnnlab_dataset_create(rnnlab_dataset **out, const rnnlab_dataset_config *cfg);
/* Frees the data set. NULL is accepted and ignored. */
RNNLAB_API void rnnlab_dataset_destroy(rnnlab_dataset *ds);

typedef struct rnnlab_dataset_info {
  uint32_t struct_size; /* set by the caller (RNNLAB_DATASET_INFO_INIT) */
  int32_t count;        /* examples loaded */
  int32_t steps;        /* T */
  int32_t input_size;   /* I */
  int32_t num_classes;  /* as configured */
  int32_t height;       /* image rows (28 for MNIST, 32 for CIFAR) */
  int32_t width;        /* image columns */
  int32_t channels;     /* 1, or 3 for colour CIFAR */
} rnnlab_dataset_info;
#define RNNLAB_DATASET_INFO_INIT { (uint32_t)sizeof(rnnlab_dataset_info), 0, 0, 0, 0, 0, 0, 0 }

/* Describes the loaded set. out->struct_size must be set; fields beyond it are not written.
 * Errors: NULL, VERSION. */
RNNLAB_API rnnlab_status rnnlab_dataset_get_info(rnnlab_dataset_info *out, const rnnlab_dataset *ds);

/* Fills x[T][B][I] (x_count == T * B * I) and labels (labels_count == B; labels may be NULL with
 * labels_count 0) with the examples indices[0 .. B - 1]; indices holds B = batch >= 1 entries
 * (repeats allowed). Every index is checked before anything is written.
 * Errors: NULL, INVALID_ARGUMENT (batch < 1 or > INT32_MAX, an index outside [0, count): the message
 *         names its position and value), SIZE_MISMATCH, NO_MEMORY. */
RNNLAB_API rnnlab_status rnnlab_dataset_batch(float *x, size_t x_count, int32_t *labels, size_t labels_count,
                                              const rnnlab_dataset *ds, const int32_t *indices, size_t batch);

/* Copies the pixel permutation (count == H * W): step t reads pixel out[t] (row-major index).
 * Without permute it is the identity. Errors: NULL, SIZE_MISMATCH. */
RNNLAB_API rnnlab_status rnnlab_dataset_permutation(int32_t *out, size_t count, const rnnlab_dataset *ds);

#ifdef __cplusplus
}
#endif

#endif /* RNNLAB_RNNLAB_DATA_H */
