// RNNLAB_BACKEND_CPU: one backend per instruction-set level (cpu_backend.cpp compiled three times),
// chosen per model from CpuOptions::isa, which the core resolved against rnnlab_cpu_isa_best().
#include "core/backend.h"
#include "core/error.h"

namespace rnnlab {

namespace isa_baseline {
std::unique_ptr<Backend> make_cpu_backend_isa(const ModelSpec &spec, const CpuOptions &options);
}
namespace isa_avx2 {
std::unique_ptr<Backend> make_cpu_backend_isa(const ModelSpec &spec, const CpuOptions &options);
}
namespace isa_avx512 {
std::unique_ptr<Backend> make_cpu_backend_isa(const ModelSpec &spec, const CpuOptions &options);
}

std::unique_ptr<Backend> make_cpu_backend(const ModelSpec &spec, const CpuOptions &options) {
  switch (options.isa) {
    case RNNLAB_ISA_AVX512: return isa_avx512::make_cpu_backend_isa(spec, options);
    case RNNLAB_ISA_AVX2: return isa_avx2::make_cpu_backend_isa(spec, options);
    case RNNLAB_ISA_BASELINE: return isa_baseline::make_cpu_backend_isa(spec, options);
    default: break;
  }
  raise(RNNLAB_E_INTERNAL, "make_cpu_backend: unresolved cpu_isa %d", static_cast<int>(options.isa));
}

}  // namespace rnnlab
