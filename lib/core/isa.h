// Which instruction-set level this processor offers the CPU backend's kernels (runtime dispatch).
#ifndef RNNLAB_CORE_ISA_H
#define RNNLAB_CORE_ISA_H

#include <rnnlab/rnnlab.h>

namespace rnnlab {

// Whether RNNLAB_CPU_ISA lowered rnnlab_cpu_isa_best() below what the processor has.
bool cpu_isa_capped_by_env();
// What the processor itself supports (cpuid + the OS saving the wider registers), ignoring the
// environment variable.
rnnlab_cpu_isa cpu_isa_hardware();

}  // namespace rnnlab

#endif
