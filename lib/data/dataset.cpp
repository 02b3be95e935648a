// rnnlab_dataset: images held as stored bytes, turned into sequences batch by batch.
//
// Keeping bytes (not floats) costs a quarter of the memory (Fashion-MNIST's training set is 47 MB
// as bytes) and lets every option (grayscale, normalisation, mode, permutation) apply at batch time.
// The handle is immutable after creation, so concurrent batch calls are safe.
#include <rnnlab/rnnlab.h>
#include <rnnlab/rnnlab_data.h>

#include "core/error.h"
#include "data/image_files.h"
#include "data/random.h"
#include "data/structs.h"

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace {

using rnnlab::raise;

constexpr size_t kDatasetConfigV1Size = sizeof(rnnlab_dataset_config);
constexpr size_t kDatasetInfoV1Size = sizeof(rnnlab_dataset_info);

void check_flag(int32_t v, const char *name) {
  if (v != 0 && v != 1) raise(RNNLAB_E_INVALID_ARGUMENT, "cfg->%s = %d must be 0 or 1", name, v);
}

}  // namespace

struct rnnlab_dataset {
  rnnlab::data::ImageSet set;
  rnnlab_dataset_mode mode;
  bool gray_from_rgb;   // 3 stored channels folded into one
  int32_t channels;     // channels of the inputs (1 or 3)
  int32_t steps;
  int32_t input_size;
  int32_t num_classes;
  bool normalize;
  float mean[3];
  float std[3];
  std::vector<int32_t> permutation;  // step -> pixel, pixels mode; identity otherwise
};

namespace {

void validate_config(const rnnlab_dataset_config &c) {
  const int format = rnnlab::data::enum_value(c.format);
  if (format != RNNLAB_DATASET_IDX && format != RNNLAB_DATASET_CIFAR10)
    raise(RNNLAB_E_INVALID_ARGUMENT, "cfg->format = %d is not RNNLAB_DATASET_IDX (0) or RNNLAB_DATASET_CIFAR10 (1)",
          format);
  const int mode = rnnlab::data::enum_value(c.mode);
  if (mode != RNNLAB_DATASET_PIXELS && mode != RNNLAB_DATASET_ROWS)
    raise(RNNLAB_E_INVALID_ARGUMENT, "cfg->mode = %d is not RNNLAB_DATASET_PIXELS (0) or RNNLAB_DATASET_ROWS (1)",
          mode);
  if (c.num_classes < 1 || c.num_classes > 256)
    raise(RNNLAB_E_INVALID_ARGUMENT, "cfg->num_classes = %d is out of range [1, 256]", c.num_classes);
  if (c.limit < 0) raise(RNNLAB_E_INVALID_ARGUMENT, "cfg->limit = %d must be >= 0 (0 = all)", c.limit);
  check_flag(c.grayscale, "grayscale");
  check_flag(c.normalize, "normalize");
  check_flag(c.permute, "permute");
  if (format == RNNLAB_DATASET_IDX) {
    if (!c.images_path) raise(RNNLAB_E_NULL, "cfg->images_path is NULL (the IDX format needs an images file)");
    if (!c.labels_path) raise(RNNLAB_E_NULL, "cfg->labels_path is NULL (the IDX format needs a labels file)");
    if (c.cifar_paths || c.cifar_count != 0)
      raise(RNNLAB_E_INVALID_CONFIG, "cfg->cifar_paths / cifar_count (= %d) are set, but the format is IDX",
            c.cifar_count);
  } else {
    if (c.images_path || c.labels_path)
      raise(RNNLAB_E_INVALID_CONFIG,
            "cfg->images_path / labels_path are set, but the format is CIFAR-10 (use cifar_paths)");
    if (!c.cifar_paths) raise(RNNLAB_E_NULL, "cfg->cifar_paths is NULL (the CIFAR-10 format needs its batch files)");
    if (c.cifar_count < 1) raise(RNNLAB_E_INVALID_ARGUMENT, "cfg->cifar_count = %d must be >= 1", c.cifar_count);
    for (int32_t i = 0; i < c.cifar_count; ++i)
      if (!c.cifar_paths[i]) raise(RNNLAB_E_NULL, "cfg->cifar_paths[%d] is NULL", i);
  }
  if (c.permute && c.mode == RNNLAB_DATASET_ROWS)
    raise(RNNLAB_E_INVALID_CONFIG, "cfg->permute = 1 permutes pixels and needs the pixels mode, not rows");
  if (c.normalize) {
    const int used = (format == RNNLAB_DATASET_CIFAR10 && !c.grayscale) ? 3 : 1;
    for (int k = 0; k < used; ++k) {
      if (!std::isfinite(c.mean[k]))
        raise(RNNLAB_E_INVALID_CONFIG, "cfg->mean[%d] = %g must be finite", k, static_cast<double>(c.mean[k]));
      if (!std::isfinite(c.std[k]) || !(c.std[k] > 0.0f))
        raise(RNNLAB_E_INVALID_CONFIG, "cfg->std[%d] = %g must be finite and > 0", k, static_cast<double>(c.std[k]));
    }
  }
}

// Fisher-Yates from the seed: the same permutation for the same seed everywhere.
std::vector<int32_t> make_permutation(int32_t n, bool shuffle, uint64_t seed) {
  std::vector<int32_t> p(static_cast<size_t>(n));
  for (int32_t i = 0; i < n; ++i) p[static_cast<size_t>(i)] = i;
  if (shuffle) {
    rnnlab::data::Rng rng(seed);
    for (int32_t i = n - 1; i > 0; --i) {
      const auto j = static_cast<size_t>(rng.below(static_cast<uint64_t>(i) + 1));
      std::swap(p[static_cast<size_t>(i)], p[j]);
    }
  }
  return p;
}

// Inputs of one image as [pixel][channel] floats, after scaling, grayscale and normalisation.
void image_values(const rnnlab_dataset &ds, int32_t index, float *out) {
  const auto &s = ds.set;
  const size_t plane = static_cast<size_t>(s.height) * static_cast<size_t>(s.width);
  const uint8_t *img = s.pixels.data() + static_cast<size_t>(index) * plane * static_cast<size_t>(s.channels);
  const size_t C = static_cast<size_t>(ds.channels);
  for (size_t p = 0; p < plane; ++p) {
    for (size_t c = 0; c < C; ++c) {
      float v;
      if (ds.gray_from_rgb)
        v = (0.299f * img[p] + 0.587f * img[plane + p] + 0.114f * img[2 * plane + p]) / 255.0f;
      else
        v = static_cast<float>(img[c * plane + p]) / 255.0f;
      if (ds.normalize) v = (v - ds.mean[c]) / ds.std[c];
      out[p * C + c] = v;
    }
  }
}

}  // namespace

extern "C" {

RNNLAB_API rnnlab_status rnnlab_dataset_create(rnnlab_dataset **out, const rnnlab_dataset_config *cfg) {
  return rnnlab::guarded("rnnlab_dataset_create", [&]() -> rnnlab_status {
    if (!out) raise(RNNLAB_E_NULL, "out is NULL");
    if (!cfg) raise(RNNLAB_E_NULL, "cfg is NULL");
    const rnnlab_dataset_config defaults = RNNLAB_DATASET_CONFIG_INIT;
    const rnnlab_dataset_config c = rnnlab::data::read_struct(cfg, defaults, kDatasetConfigV1Size, "cfg");
    validate_config(c);

    rnnlab::data::ImageSet set;
    if (c.format == RNNLAB_DATASET_IDX) {
      set = rnnlab::data::load_idx(c.images_path, c.labels_path, c.limit, c.num_classes);
    } else {
      std::vector<std::string> paths;
      for (int32_t i = 0; i < c.cifar_count; ++i) paths.emplace_back(c.cifar_paths[i]);
      set = rnnlab::data::load_cifar10(paths, c.limit, c.num_classes);
    }

    auto ds = std::make_unique<rnnlab_dataset>();
    ds->gray_from_rgb = c.grayscale && set.channels == 3;
    ds->channels = ds->gray_from_rgb ? 1 : set.channels;
    ds->mode = c.mode;
    ds->num_classes = c.num_classes;
    ds->normalize = c.normalize != 0;
    for (int k = 0; k < 3; ++k) {
      ds->mean[k] = c.mean[k];
      ds->std[k] = c.std[k];
    }
    const int64_t pixels = static_cast<int64_t>(set.height) * set.width;
    if (c.mode == RNNLAB_DATASET_PIXELS) {
      ds->steps = static_cast<int32_t>(pixels);
      ds->input_size = ds->channels;
    } else {
      const int64_t row_inputs = static_cast<int64_t>(set.width) * ds->channels;
      if (row_inputs > std::numeric_limits<int32_t>::max())
        raise(RNNLAB_E_FORMAT, "rows of %d pixels x %d channels are too wide", set.width, ds->channels);
      ds->steps = set.height;
      ds->input_size = static_cast<int32_t>(row_inputs);
    }
    ds->permutation = make_permutation(static_cast<int32_t>(pixels), c.permute != 0, c.permutation_seed);
    ds->set = std::move(set);
    *out = ds.release();
    return RNNLAB_OK;
  });
}

RNNLAB_API void rnnlab_dataset_destroy(rnnlab_dataset *ds) { delete ds; }

RNNLAB_API rnnlab_status rnnlab_dataset_get_info(rnnlab_dataset_info *out, const rnnlab_dataset *ds) {
  return rnnlab::guarded("rnnlab_dataset_get_info", [&]() -> rnnlab_status {
    if (!out) raise(RNNLAB_E_NULL, "out is NULL");
    if (!ds) raise(RNNLAB_E_NULL, "ds is NULL");
    rnnlab::data::check_struct_size(out, kDatasetInfoV1Size, "out");
    rnnlab_dataset_info info = RNNLAB_DATASET_INFO_INIT;
    info.count = ds->set.count;
    info.steps = ds->steps;
    info.input_size = ds->input_size;
    info.num_classes = ds->num_classes;
    info.height = ds->set.height;
    info.width = ds->set.width;
    info.channels = ds->channels;
    rnnlab::data::write_struct(out, info);
    return RNNLAB_OK;
  });
}

RNNLAB_API rnnlab_status rnnlab_dataset_batch(float *x, size_t x_count, int32_t *labels, size_t labels_count,
                                              const rnnlab_dataset *ds, const int32_t *indices, size_t batch) {
  return rnnlab::guarded("rnnlab_dataset_batch", [&]() -> rnnlab_status {
    if (!x) raise(RNNLAB_E_NULL, "x is NULL");
    if (!ds) raise(RNNLAB_E_NULL, "ds is NULL");
    if (!indices) raise(RNNLAB_E_NULL, "indices is NULL");
    if (batch < 1 || batch > static_cast<size_t>(std::numeric_limits<int32_t>::max()))
      raise(RNNLAB_E_INVALID_ARGUMENT, "batch = %zu is out of range [1, %d]", batch,
            std::numeric_limits<int32_t>::max());
    const size_t T = static_cast<size_t>(ds->steps), I = static_cast<size_t>(ds->input_size), B = batch;
    if (B > std::numeric_limits<size_t>::max() / (T * I))
      raise(RNNLAB_E_INVALID_ARGUMENT, "batch = %zu is too large: T * B * I does not fit in size_t", batch);
    if (x_count != T * B * I)
      raise(RNNLAB_E_SIZE_MISMATCH, "x_count = %zu, expected T * B * I = %zu * %zu * %zu = %zu", x_count, T, B, I,
            T * B * I);
    if (labels && labels_count != B)
      raise(RNNLAB_E_SIZE_MISMATCH, "labels_count = %zu, expected B = %zu", labels_count, B);
    if (!labels && labels_count != 0)
      raise(RNNLAB_E_NULL, "labels is NULL but labels_count = %zu (pass 0 to skip the labels)", labels_count);
    for (size_t b = 0; b < B; ++b)
      if (indices[b] < 0 || indices[b] >= ds->set.count)
        raise(RNNLAB_E_INVALID_ARGUMENT, "indices[%zu] = %d is outside [0, %d)", b, indices[b], ds->set.count);

    const size_t plane = static_cast<size_t>(ds->set.height) * static_cast<size_t>(ds->set.width);
    const size_t C = static_cast<size_t>(ds->channels);
    std::vector<float> values(plane * C);  // the only allocation, before any output is written
    for (size_t b = 0; b < B; ++b) {
      image_values(*ds, indices[b], values.data());
      if (ds->mode == RNNLAB_DATASET_PIXELS) {
        for (size_t t = 0; t < T; ++t) {
          const float *src = values.data() + static_cast<size_t>(ds->permutation[t]) * C;
          float *dst = x + (t * B + b) * I;
          for (size_t c = 0; c < C; ++c) dst[c] = src[c];
        }
      } else {
        // Row t is the pixel-mode inputs of its W pixels, concatenated.
        for (size_t t = 0; t < T; ++t) {
          const float *src = values.data() + t * I;
          float *dst = x + (t * B + b) * I;
          for (size_t i = 0; i < I; ++i) dst[i] = src[i];
        }
      }
      if (labels) labels[b] = ds->set.labels[static_cast<size_t>(indices[b])];
    }
    return RNNLAB_OK;
  });
}

RNNLAB_API rnnlab_status rnnlab_dataset_permutation(int32_t *out, size_t count, const rnnlab_dataset *ds) {
  return rnnlab::guarded("rnnlab_dataset_permutation", [&]() -> rnnlab_status {
    if (!out) raise(RNNLAB_E_NULL, "out is NULL");
    if (!ds) raise(RNNLAB_E_NULL, "ds is NULL");
    if (count != ds->permutation.size())
      raise(RNNLAB_E_SIZE_MISMATCH, "count = %zu, expected H * W = %zu", count, ds->permutation.size());
    for (size_t i = 0; i < count; ++i) out[i] = ds->permutation[i];
    return RNNLAB_OK;
  });
}

}  // extern "C"
