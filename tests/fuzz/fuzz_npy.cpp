// One .npy image (magic, version, the header's Python literal, data) through io::parse_npy.
// Invariants: never crash; an accepted array holds exactly shape x dtype bytes, and writing its
// header back gives a header parse_npy accepts as the same array.
#include <cstring>
#include <vector>

#include "fuzz_common.h"
#include "io/npz.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  using namespace rnnlab::io;
  NpyArray a;
  try {
    a = parse_npy(data, size, "fuzz.npy");
  } catch (const rnnlab::Error &e) {
    if (e.message.empty()) std::abort();
    return 0;
  }
  if (a.data.size() != a.element_count() * dtype_size(a.dtype)) std::abort();
  std::string h = npy_header(a.dtype, a.shape);
  std::vector<unsigned char> again(h.begin(), h.end());
  again.insert(again.end(), a.data.begin(), a.data.end());
  NpyArray b = parse_npy(again.data(), again.size(), "again.npy");
  if (b.dtype != a.dtype || b.shape != a.shape || b.data != a.data) std::abort();
  return 0;
}
