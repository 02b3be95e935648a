#include "core/isa.h"

#include <cstdlib>
#include <cstring>

namespace rnnlab {
namespace {

struct IsaChoice {
  rnnlab_cpu_isa hardware = RNNLAB_ISA_BASELINE;
  rnnlab_cpu_isa best = RNNLAB_ISA_BASELINE;
  bool capped = false;
};

rnnlab_cpu_isa detect_hardware() {
#if defined(__x86_64__) || defined(__i386__)
  // libgcc's cpuid reader also checks XCR0, so a feature whose registers the OS does not save
  // (AVX-512 state disabled in a VM, say) reads as absent.
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
      __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl") &&
      __builtin_cpu_supports("fma"))
    return RNNLAB_ISA_AVX512;
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return RNNLAB_ISA_AVX2;
#endif
  return RNNLAB_ISA_BASELINE;
}

IsaChoice choose() {
  IsaChoice c;
  c.hardware = detect_hardware();
  c.best = c.hardware;
  // Only ever lowers: asking for more than the processor has would mean SIGILL.
  if (const char *env = std::getenv("RNNLAB_CPU_ISA")) {
    rnnlab_cpu_isa want = c.hardware;
    if (std::strcmp(env, "baseline") == 0 || std::strcmp(env, "sse2") == 0)
      want = RNNLAB_ISA_BASELINE;
    else if (std::strcmp(env, "avx2") == 0)
      want = RNNLAB_ISA_AVX2;
    else if (std::strcmp(env, "avx512") == 0)
      want = RNNLAB_ISA_AVX512;
    if (want < c.best) {
      c.best = want;
      c.capped = true;
    }
  }
  return c;
}

const IsaChoice &choice() {
  static const IsaChoice c = choose();  // thread-safe, once per process
  return c;
}

}  // namespace

bool cpu_isa_capped_by_env() { return choice().capped; }
rnnlab_cpu_isa cpu_isa_hardware() { return choice().hardware; }

}  // namespace rnnlab

extern "C" {

RNNLAB_API rnnlab_cpu_isa rnnlab_cpu_isa_best(void) { return rnnlab::choice().best; }

RNNLAB_API const char *rnnlab_cpu_isa_name(rnnlab_cpu_isa isa) {
  switch (static_cast<int>(isa)) {
    case RNNLAB_ISA_AUTO: return "auto";
    case RNNLAB_ISA_BASELINE: return "baseline";
    case RNNLAB_ISA_AVX2: return "avx2";
    case RNNLAB_ISA_AVX512: return "avx512";
  }
  return nullptr;
}

}  // extern "C"
