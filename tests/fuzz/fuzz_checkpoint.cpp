// rnnlab_load on arbitrary bytes. A fuzzing build (FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION) lets
// checkpoints with wrong CRCs through to the section parsers, so that mutations reach them.
// Invariants: never crash; a refused file leaves the model exactly as it was; a loaded one saves
// and loads again to the same parameters.
#include <cstring>
#include <vector>

#include "fuzz_common.h"

namespace {

std::vector<float> params(const rnnlab_model *m) {
  size_t n = 0, t = 0;
  if (rnnlab_param_count(&n, &t, m) != RNNLAB_OK) std::abort();
  std::vector<float> p(n);
  if (rnnlab_get_params(p.data(), n, m) != RNNLAB_OK) std::abort();
  return p;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static rnnlab_model *m = [] {
    rnnlab_config c = fuzz::model_config();
    rnnlab_model *p = nullptr;
    if (rnnlab_create(&p, &c) != RNNLAB_OK) std::abort();
    return p;
  }();
  static const std::vector<float> initial = params(m);
  static const std::string path = fuzz::scratch("ckpt");
  if (rnnlab_set_params(m, initial.data(), initial.size()) != RNNLAB_OK) std::abort();
  fuzz::write_all(path, data, size);
  unsigned char user[64];
  size_t user_size = 0;
  const rnnlab_status st = rnnlab_load_ex(user, sizeof user, &user_size, m, path.c_str());
  fuzz::expect_message(st);
  if (st != RNNLAB_OK) {
    if (params(m) != initial) std::abort();  // a refused file changed the model
    return 0;
  }
  // Whatever loaded must survive a save and a load unchanged.
  const std::vector<float> got = params(m);
  const std::string again = path + ".again";
  if (rnnlab_save_ex(m, again.c_str(), user, user_size <= sizeof user ? user_size : 0) != RNNLAB_OK) std::abort();
  rnnlab_config c = fuzz::model_config();
  rnnlab_model *r = nullptr;
  if (rnnlab_create(&r, &c) != RNNLAB_OK) std::abort();
  if (rnnlab_load(r, again.c_str()) != RNNLAB_OK) std::abort();
  if (std::memcmp(params(r).data(), got.data(), got.size() * sizeof(float)) != 0) std::abort();
  rnnlab_destroy(r);
  return 0;
}
