// The IDX reader (MNIST / Fashion-MNIST images + labels, plain or gzip). The input is split in two
// files at a position its first two bytes give. Invariants: never crash; an accepted set holds
// count x height x width pixels and count labels, each below the class count.
#include "data/image_files.h"
#include "fuzz_common.h"

#include "core/error.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 2) return 0;
  const size_t split = 2 + ((static_cast<size_t>(data[0]) << 8 | data[1]) % (size - 1));
  static const std::string images = fuzz::scratch("idx_images"), labels = fuzz::scratch("idx_labels");
  fuzz::write_all(images, data + 2, split - 2);
  fuzz::write_all(labels, data + split, size - split);
  for (int32_t limit : {0, 3}) {
    try {
      rnnlab::data::ImageSet s = rnnlab::data::load_idx(images, labels, limit, 10);
      const size_t n = static_cast<size_t>(s.count);
      if (s.pixels.size() != n * s.height * s.width || s.labels.size() != n) std::abort();
      for (uint8_t l : s.labels)
        if (l >= 10) std::abort();
    } catch (const rnnlab::Error &e) {
      if (e.message.empty()) std::abort();
    }
  }
  return 0;
}
