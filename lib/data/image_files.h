// Readers of the image files behind rnnlab_dataset: IDX (MNIST, Fashion-MNIST) and CIFAR-10 binary
// batches, plain or gzip. They keep the bytes as stored; conversion to inputs happens per batch.
#ifndef RNNLAB_DATA_IMAGE_FILES_H
#define RNNLAB_DATA_IMAGE_FILES_H

#include <cstdint>
#include <string>
#include <vector>

namespace rnnlab {
namespace data {

struct ImageSet {
  int32_t count = 0;
  int32_t height = 0;
  int32_t width = 0;
  int32_t channels = 0;  // as stored: 1 (IDX) or 3 (CIFAR)
  // Per image, height * width * channels bytes: channel-planar (CIFAR's R plane, G plane, B plane;
  // a single plane for IDX), each plane row-major.
  std::vector<uint8_t> pixels;
  std::vector<uint8_t> labels;
};

// Both throw rnnlab::Error naming the file: RNNLAB_E_IO (cannot open or read), RNNLAB_E_CORRUPT
// (bad magic, truncated, trailing bytes, damaged gzip stream, label >= num_classes), RNNLAB_E_FORMAT
// (other IDX data type or rank, count mismatch, image sizes that differ, empty set).
// limit > 0 keeps only the first `limit` examples and reads no further.
ImageSet load_idx(const std::string &images_path, const std::string &labels_path, int32_t limit,
                  int32_t num_classes);
ImageSet load_cifar10(const std::vector<std::string> &paths, int32_t limit, int32_t num_classes);

}  // namespace data
}  // namespace rnnlab

#endif
