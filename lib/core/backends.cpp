// Backends that are not built in answer their factory with null (the core turns that into
// RNNLAB_E_NO_DEVICE, or AUTO falls back to the reference backend).
#include "core/backend.h"

#include "common/head.h"

namespace rnnlab {

double Backend::loss(const ModelSpec &spec, int B, int T, const float *const *ys, const int32_t *classes,
                     const float *values, int32_t *n_wrong, double err_abs, int threads) const {
  return head_loss<float>(spec.head, spec.O, B, T, ys, classes, values, nullptr, n_wrong, err_abs, threads);
}

#ifndef RNNLAB_HAVE_ONEDNN
std::unique_ptr<Backend> make_cpu_backend(const ModelSpec &, const CpuOptions &) { return nullptr; }
#endif

#ifndef RNNLAB_HAVE_CUDA
bool cuda_device_usable(std::string *why) {
  if (why) *why = "this rnnlab was built without the CUDA backend";
  return false;
}
std::unique_ptr<Backend> make_cuda_backend(const ModelSpec &, std::string *why) {
  cuda_device_usable(why);
  return nullptr;
}
#endif

}  // namespace rnnlab
