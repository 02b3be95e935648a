/*
 * rnnlab io: writing NumPy .npz archives of any arrays (training logs, diagnostic traces, a model's
 * parameters) through the same libzip writer the library uses for rnnlab_export_npz.
 *
 * Included by rnnlab.h; it can also be included on its own. Compiles as C99 and C++.
 * The conventions of rnnlab.h hold here: every fallible call returns rnnlab_status, out-parameters
 * come first, every buffer comes with its element count (checked against the shape), a refused call
 * leaves the writer exactly as it was, and nothing here prints, aborts or exits.
 *
 * A writer collects named arrays in memory (each is copied when added, so the caller's buffer may be
 * reused at once) and writes them as one archive with rnnlab_npz_save; the same writer can be saved
 * any number of times, to the same path or others. Arrays are C-order (row-major), little-endian;
 * numpy.load reads them back with exactly the dtype and shape given. NaN and Inf are ordinary values
 * here (NaN padding of traces is how the CS728 files mark "not run").
 *
 * Threads: a writer is used by one thread at a time; distinct writers are independent.
 *
 * Example:
 *   rnnlab_npz *z;
 *   int64_t shape[2] = {S, D};
 *   rnnlab_npz_create(&z, 0);
 *   rnnlab_npz_add_float32(z, "grad_time", grad_time, (size_t)(S * D), 2, shape);
 *   rnnlab_npz_add_int64(z, "checkFreq", &check_freq, 1, 0, NULL);   (a 0-d scalar)
 *   rnnlab_npz_add_params(z, model, NULL, 0);
 *   rnnlab_npz_save(z, "run_final_state.npz");
 *   rnnlab_npz_destroy(z);
 */
#ifndef RNNLAB_RNNLAB_IO_H
#define RNNLAB_RNNLAB_IO_H

#include <stddef.h>
#include <stdint.h>

#include "rnnlab.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Flag of rnnlab_npz_create (a bit of its own, apart from RNNLAB_NPZ_L0 and RNNLAB_NPZ_FLOAT64, so
 * that the three never mean two things): deflate every member (numpy.savez_compressed) instead of
 * storing it (numpy.savez, the default). Smaller files, slower saves. */
#define RNNLAB_NPZ_DEFLATE 4u

/* The largest ndim an array may have (numpy's own limit). */
#define RNNLAB_NPZ_MAX_DIMS 64

typedef struct rnnlab_npz rnnlab_npz;

/* A new, empty writer. flags: 0 or RNNLAB_NPZ_DEFLATE. *out is set only on success.
 * Errors: NULL, INVALID_ARGUMENT (unknown flag bits), NO_MEMORY. */
RNNLAB_API rnnlab_status rnnlab_npz_create(rnnlab_npz **out, uint32_t flags);
/* Frees the writer (nothing is written). NULL is accepted and ignored. */
RNNLAB_API void rnnlab_npz_destroy(rnnlab_npz *npz);

/* Adds one array under `key` (the archive member is key + ".npy"; numpy.load(f)[key] reads it).
 *   key:    non-empty, not yet in this writer.
 *   ndim:   0 .. RNNLAB_NPZ_MAX_DIMS; 0 is a 0-d scalar (shape may then be NULL, count must be 1).
 *   shape:  ndim dimensions, each >= 0 (a 0 makes an empty array; count must then be 0).
 *   values: count elements, the product of the dimensions; may be NULL only when count is 0.
 * Errors: NULL, INVALID_ARGUMENT (empty or duplicate key, ndim out of range, a negative dimension,
 *         a shape too large to address), SIZE_MISMATCH (count differs from the shape's product),
 *         NO_MEMORY. */
RNNLAB_API rnnlab_status rnnlab_npz_add_float32(rnnlab_npz *npz, const char *key, const float *values, size_t count,
                                                int32_t ndim, const int64_t *shape);
RNNLAB_API rnnlab_status rnnlab_npz_add_float64(rnnlab_npz *npz, const char *key, const double *values, size_t count,
                                                int32_t ndim, const int64_t *shape);
RNNLAB_API rnnlab_status rnnlab_npz_add_int32(rnnlab_npz *npz, const char *key, const int32_t *values, size_t count,
                                              int32_t ndim, const int64_t *shape);
RNNLAB_API rnnlab_status rnnlab_npz_add_int64(rnnlab_npz *npz, const char *key, const int64_t *values, size_t count,
                                              int32_t ndim, const int64_t *shape);

/* Adds every parameter tensor of the model, as it is now, under its rnnlab (PyTorch nn.GRUCell /
 * nn.RNNCell / nn.Linear) name with `prefix` in front (NULL means ""): prefix + "weight_ih",
 * "weight_hh", "bias_ih", "bias_hh", and with a head prefix + "head.weight", prefix + "head.bias".
 * Shapes are PyTorch's: weights (rows, cols), biases (rows,). flags: RNNLAB_NPZ_L0 (cell tensors get
 * nn.GRU's "_l0" suffix), RNNLAB_NPZ_FLOAT64 (float64 arrays; default float32). Files written this
 * way are read back by rnnlab_import_npz. All or nothing: when one of the names is already taken,
 * none is added. Errors: NULL, INVALID_ARGUMENT (flags; a name already in the writer), NO_MEMORY. */
RNNLAB_API rnnlab_status rnnlab_npz_add_params(rnnlab_npz *npz, const rnnlab_model *model, const char *prefix,
                                               uint32_t flags);

/* How many arrays the writer holds. Errors: NULL. */
RNNLAB_API rnnlab_status rnnlab_npz_count(size_t *count, const rnnlab_npz *npz);
/* 1 if `key` is in the writer, 0 if not (or npz or key is NULL). */
RNNLAB_API int rnnlab_npz_contains(const rnnlab_npz *npz, const char *key);

/* Writes the archive atomically, as rnnlab_save does: a temporary file in the target's directory,
 * synced, renamed over `path`, then the directory synced; `path` holds the old file or the new one,
 * never a part (a crash may leave a ".<name>.tmp.*" file behind). The writer is unchanged and can be
 * saved again. Errors: NULL, INVALID_ARGUMENT (the writer is empty: a zip with no members is no
 * archive libzip will write), IO (the message names the file and the failing operation). */
RNNLAB_API rnnlab_status rnnlab_npz_save(const rnnlab_npz *npz, const char *path);

#ifdef __cplusplus
}
#endif

#endif /* RNNLAB_RNNLAB_IO_H */
