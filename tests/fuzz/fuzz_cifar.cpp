// The CIFAR-10 binary-batch reader (plain or gzip). Invariants: never crash; an accepted set holds
// count records of 3 x 32 x 32 pixels with labels below the class count.
#include "data/image_files.h"
#include "fuzz_common.h"

#include "core/error.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static const std::string path = fuzz::scratch("cifar");
  fuzz::write_all(path, data, size);
  for (int32_t limit : {0, 2}) {
    try {
      rnnlab::data::ImageSet s = rnnlab::data::load_cifar10({path}, limit, 10);
      const size_t n = static_cast<size_t>(s.count);
      if (s.pixels.size() != n * 3 * 32 * 32 || s.labels.size() != n) std::abort();
      for (uint8_t l : s.labels)
        if (l >= 10) std::abort();
    } catch (const rnnlab::Error &e) {
      if (e.message.empty()) std::abort();
    }
  }
  return 0;
}
