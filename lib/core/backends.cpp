// Backends that are not built in answer their factory with null (the core turns that into
// RNNLAB_E_NO_DEVICE, or AUTO falls back to the reference backend).
#include "core/backend.h"

namespace rnnlab {

#ifndef RNNLAB_HAVE_ONEDNN
std::unique_ptr<Backend> make_cpu_backend(const ModelSpec &, const CpuOptions &) { return nullptr; }
#endif

}  // namespace rnnlab
