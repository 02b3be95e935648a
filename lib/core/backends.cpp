// Backends that are not built in answer their factory with null (the core turns that into
// RNNLAB_E_NO_DEVICE, or AUTO falls back to the reference backend).
#include "core/backend.h"

namespace rnnlab {

#ifndef RNNLAB_HAVE_ONEDNN
std::unique_ptr<Backend> make_cpu_backend(const ModelSpec &, int) { return nullptr; }
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
