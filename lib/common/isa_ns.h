// Keeps the inline functions of the shared headers apart per instruction set.
//
// The CPU backend is compiled once per ISA level (lib/cpu/CMakeLists: baseline, AVX2, AVX-512) and
// the library picks one at run time. An inline function of a header that all three include would be
// one symbol with three bodies, and the linker keeps any one of them: an AVX-512 body could then run
// on a processor without AVX-512. Each ISA's translation unit defines RNNLAB_KERNEL_ISA, which puts
// these headers' functions in an inline namespace of that name (a distinct symbol per ISA); every
// other translation unit sees them where they always were.
#ifndef RNNLAB_COMMON_ISA_NS_H
#define RNNLAB_COMMON_ISA_NS_H

#if defined(RNNLAB_KERNEL_ISA)
#define RNNLAB_ISA_NS_BEGIN inline namespace RNNLAB_KERNEL_ISA {
#define RNNLAB_ISA_NS_END }
#else
#define RNNLAB_ISA_NS_BEGIN
#define RNNLAB_ISA_NS_END
#endif

#endif
