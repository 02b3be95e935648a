// The public .npz writer (rnnlab_io.h): a thin C face over io::NpzWriter, so that programs using only
// the public API (rnnlab-train, bindings) write the same numpy-exact archives, atomically, as the
// library's own rnnlab_export_npz.
//
// The writer keeps its arrays as (key, NpyArray) in insertion order and builds an io::NpzWriter only
// when saving. Holding an NpzWriter directly would save one copy at save time, but it cannot take a
// member back, and rnnlab_npz_add_params must be all or nothing even when memory runs out half way.
#include <rnnlab/rnnlab.h>

#include <cstring>
#include <limits>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "core/error.h"
#include "core/model.h"
#include "io/npz.h"

struct rnnlab_npz {
  rnnlab::io::Compression compression = rnnlab::io::Compression::Store;
  std::vector<std::pair<std::string, rnnlab::io::NpyArray>> arrays;
  std::set<std::string> keys;
};

using namespace rnnlab;

namespace {

#define CHECK_NULL(p)                                                \
  do {                                                               \
    if (!(p)) raise(RNNLAB_E_NULL, "argument '%s' is NULL", #p);     \
  } while (0)

void check_new_key(const rnnlab_npz *z, const char *key) {
  if (key[0] == '\0') raise(RNNLAB_E_INVALID_ARGUMENT, "key is empty");
  if (z->keys.count(key)) raise(RNNLAB_E_INVALID_ARGUMENT, "key '%s' is already in this writer", key);
}

// Validates (key, values, count, ndim, shape) and builds the array; nothing in the writer changes.
io::NpyArray make_array(const rnnlab_npz *z, const char *key, io::DType dtype, const void *values, size_t count,
                        int32_t ndim, const int64_t *shape) {
  CHECK_NULL(key);
  check_new_key(z, key);
  if (ndim < 0 || ndim > RNNLAB_NPZ_MAX_DIMS)
    raise(RNNLAB_E_INVALID_ARGUMENT, "ndim = %d for '%s' is outside [0, %d]", ndim, key, RNNLAB_NPZ_MAX_DIMS);
  if (ndim > 0 && !shape) raise(RNNLAB_E_NULL, "argument 'shape' is NULL with ndim = %d for '%s'", ndim, key);
  const size_t itemsize = io::dtype_size(dtype);
  io::NpyArray a;
  a.dtype = dtype;
  // The element count must also fit in bytes (count * itemsize), so cap the product there.
  const size_t cap = std::numeric_limits<size_t>::max() / itemsize;
  size_t n = 1;
  bool empty = false;
  for (int32_t k = 0; k < ndim; ++k) {
    const int64_t d = shape[k];
    if (d < 0)
      raise(RNNLAB_E_INVALID_ARGUMENT, "shape[%d] = %lld for '%s' is negative", k, static_cast<long long>(d), key);
    if (static_cast<uint64_t>(d) > std::numeric_limits<size_t>::max())
      raise(RNNLAB_E_INVALID_ARGUMENT, "shape[%d] = %lld for '%s' is too large", k, static_cast<long long>(d), key);
    a.shape.push_back(static_cast<size_t>(d));
    if (d == 0) empty = true;
  }
  // A zero dimension empties the array whatever the others are (numpy agrees); otherwise the
  // product is taken with an overflow check.
  if (empty) {
    n = 0;
  } else {
    for (size_t d : a.shape) {
      if (n > cap / d)
        raise(RNNLAB_E_INVALID_ARGUMENT, "the shape of '%s' has more elements than can be addressed", key);
      n *= d;
    }
  }
  if (count != n)
    raise(RNNLAB_E_SIZE_MISMATCH, "count = %zu for '%s', but its shape holds %zu elements", count, key, n);
  if (n > 0 && !values) raise(RNNLAB_E_NULL, "argument 'values' is NULL with count = %zu for '%s'", count, key);
  a.data.resize(n * itemsize);
  if (n > 0) std::memcpy(a.data.data(), values, n * itemsize);
  return a;
}

rnnlab_status add_impl(const char *fn, rnnlab_npz *npz, const char *key, io::DType dtype, const void *values,
                       size_t count, int32_t ndim, const int64_t *shape) {
  return guarded(fn, [&] {
    CHECK_NULL(npz);
    io::NpyArray a = make_array(npz, key, dtype, values, count, ndim, shape);
    // Room first, so that the two insertions below cannot fail between them.
    npz->arrays.reserve(npz->arrays.size() + 1);
    auto ins = npz->keys.insert(key);
    try {
      npz->arrays.emplace_back(key, std::move(a));
    } catch (...) {
      npz->keys.erase(ins.first);
      throw;
    }
    return RNNLAB_OK;
  });
}

bool is_head_tensor(const TensorDesc &t) { return t.name.rfind("head.", 0) == 0; }
bool is_bias_tensor(const TensorDesc &t) {
  const size_t dot = t.name.rfind('.');
  return t.name.compare(dot == std::string::npos ? 0 : dot + 1, 4, "bias") == 0;
}

}  // namespace

extern "C" {

RNNLAB_API rnnlab_status rnnlab_npz_create(rnnlab_npz **out, uint32_t flags) {
  return guarded("rnnlab_npz_create", [&] {
    CHECK_NULL(out);
    if (flags & ~RNNLAB_NPZ_DEFLATE)
      raise(RNNLAB_E_INVALID_ARGUMENT, "flags = 0x%x has bits beyond RNNLAB_NPZ_DEFLATE", flags);
    rnnlab_npz *z = new rnnlab_npz;
    z->compression = (flags & RNNLAB_NPZ_DEFLATE) ? io::Compression::Deflate : io::Compression::Store;
    *out = z;
    return RNNLAB_OK;
  });
}

RNNLAB_API void rnnlab_npz_destroy(rnnlab_npz *npz) { delete npz; }

RNNLAB_API rnnlab_status rnnlab_npz_add_float32(rnnlab_npz *npz, const char *key, const float *values, size_t count,
                                                int32_t ndim, const int64_t *shape) {
  return add_impl("rnnlab_npz_add_float32", npz, key, io::DType::Float32, values, count, ndim, shape);
}

RNNLAB_API rnnlab_status rnnlab_npz_add_float64(rnnlab_npz *npz, const char *key, const double *values, size_t count,
                                                int32_t ndim, const int64_t *shape) {
  return add_impl("rnnlab_npz_add_float64", npz, key, io::DType::Float64, values, count, ndim, shape);
}

RNNLAB_API rnnlab_status rnnlab_npz_add_int32(rnnlab_npz *npz, const char *key, const int32_t *values, size_t count,
                                              int32_t ndim, const int64_t *shape) {
  return add_impl("rnnlab_npz_add_int32", npz, key, io::DType::Int32, values, count, ndim, shape);
}

RNNLAB_API rnnlab_status rnnlab_npz_add_int64(rnnlab_npz *npz, const char *key, const int64_t *values, size_t count,
                                              int32_t ndim, const int64_t *shape) {
  return add_impl("rnnlab_npz_add_int64", npz, key, io::DType::Int64, values, count, ndim, shape);
}

RNNLAB_API rnnlab_status rnnlab_npz_add_params(rnnlab_npz *npz, const rnnlab_model *model, const char *prefix,
                                               uint32_t flags) {
  return guarded("rnnlab_npz_add_params", [&] {
    CHECK_NULL(npz);
    CHECK_NULL(model);
    const uint32_t known = RNNLAB_NPZ_L0 | RNNLAB_NPZ_FLOAT64;
    if (flags & ~known)
      raise(RNNLAB_E_INVALID_ARGUMENT, "flags = 0x%x has bits beyond RNNLAB_NPZ_L0 | RNNLAB_NPZ_FLOAT64", flags);
    const std::string pre = prefix ? prefix : "";
    // Build everything aside first (names as rnnlab_export_npz gives them with cell prefix `pre` and
    // head prefix `pre` + "head."), then append in one go: all or nothing.
    std::vector<std::pair<std::string, io::NpyArray>> add;
    for (const TensorDesc &t : model->layout.tensors) {
      std::string key = pre + t.name;
      if (!is_head_tensor(t) && (flags & RNNLAB_NPZ_L0)) key += "_l0";
      if (npz->keys.count(key)) raise(RNNLAB_E_INVALID_ARGUMENT, "key '%s' is already in this writer", key.c_str());
      io::NpyArray a;
      if (is_bias_tensor(t)) a.shape = {static_cast<size_t>(t.rows)};
      else a.shape = {static_cast<size_t>(t.rows), static_cast<size_t>(t.cols)};
      const float *v = model->params.data() + t.offset;
      if (flags & RNNLAB_NPZ_FLOAT64) {
        a.dtype = io::DType::Float64;
        a.data.resize(t.count * sizeof(double));
        for (size_t k = 0; k < t.count; ++k) {
          const double d = v[k];
          std::memcpy(a.data.data() + k * sizeof(double), &d, sizeof d);
        }
      } else {
        a.dtype = io::DType::Float32;
        a.data.resize(t.count * sizeof(float));
        if (t.count) std::memcpy(a.data.data(), v, t.count * sizeof(float));
      }
      add.emplace_back(std::move(key), std::move(a));
    }
    // The set and vector are grown on copies so that a failure leaves the writer untouched.
    std::set<std::string> keys = npz->keys;
    for (const auto &kv : add) keys.insert(kv.first);
    npz->arrays.reserve(npz->arrays.size() + add.size());
    for (auto &kv : add) npz->arrays.push_back(std::move(kv));  // cannot throw: capacity reserved
    npz->keys.swap(keys);
    return RNNLAB_OK;
  });
}

RNNLAB_API rnnlab_status rnnlab_npz_count(size_t *count, const rnnlab_npz *npz) {
  return guarded("rnnlab_npz_count", [&] {
    CHECK_NULL(count);
    CHECK_NULL(npz);
    *count = npz->arrays.size();
    return RNNLAB_OK;
  });
}

RNNLAB_API int rnnlab_npz_contains(const rnnlab_npz *npz, const char *key) {
  if (!npz || !key) return 0;
  return npz->keys.count(key) ? 1 : 0;
}

RNNLAB_API rnnlab_status rnnlab_npz_save(const rnnlab_npz *npz, const char *path) {
  return guarded("rnnlab_npz_save", [&] {
    CHECK_NULL(npz);
    CHECK_NULL(path);
    if (npz->arrays.empty())
      raise(RNNLAB_E_INVALID_ARGUMENT, "'%s': the writer holds no arrays (an empty archive cannot be written)", path);
    io::NpzWriter w(npz->compression);
    for (const auto &kv : npz->arrays) w.add(kv.first, kv.second);
    w.save(path);
    return RNNLAB_OK;
  });
}

}  // extern "C"
