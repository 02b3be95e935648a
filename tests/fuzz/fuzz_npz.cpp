// .npz archives (zip + .npy members), from memory through io::NpzReader, and, when that accepts
// them, from a file through rnnlab_import_npz into a model. Invariants: never crash; every array
// the reader returns holds exactly shape x dtype bytes; a refused import leaves the model as it was.
#include <cstring>
#include <vector>

#include "fuzz_common.h"
#include "io/npz.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  bool parsed = false;
  try {
    rnnlab::io::NpzReader r("fuzz.npz", data, size);
    for (const std::string &k : r.keys()) {
      const rnnlab::io::NpyArray &a = r.get(k);
      if (a.data.size() != a.element_count() * rnnlab::io::dtype_size(a.dtype)) std::abort();
    }
    parsed = true;
  } catch (const rnnlab::Error &e) {
    if (e.message.empty()) std::abort();
  }
  if (!parsed) return 0;
  static rnnlab_model *m = [] {
    rnnlab_config c = fuzz::model_config();
    rnnlab_model *p = nullptr;
    if (rnnlab_create(&p, &c) != RNNLAB_OK) std::abort();
    return p;
  }();
  static const std::string path = fuzz::scratch("npz");
  size_t n = 0, t = 0;
  rnnlab_param_count(&n, &t, m);
  std::vector<float> before(n), after(n);
  rnnlab_get_params(before.data(), n, m);
  fuzz::write_all(path, data, size);
  const rnnlab_status st = rnnlab_import_npz(m, path.c_str());
  fuzz::expect_message(st);
  rnnlab_get_params(after.data(), n, m);
  if (st != RNNLAB_OK && std::memcmp(before.data(), after.data(), n * sizeof(float)) != 0) std::abort();
  return 0;
}
