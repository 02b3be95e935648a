// Bounded resources: how much memory a request may take, decided before any of it is allocated.
//
// A model or a tape larger than the machine can hold is refused with RNNLAB_E_NO_MEMORY up front,
// rather than discovered by the allocator after gigabytes have been touched (or by the OOM killer).
// The limit is the smallest of: physical memory, RLIMIT_AS / RLIMIT_DATA, the cgroup's memory.max
// (v2) or memory.limit_in_bytes (v1), and the environment variable RNNLAB_MEMORY_LIMIT (bytes, with
// an optional K, M, G or T suffix, powers of 1024; read at each check, so a test can set it).
#ifndef RNNLAB_CORE_MEMORY_H
#define RNNLAB_CORE_MEMORY_H

#include <cstdint>
#include <string>

#include "core/spec.h"

namespace rnnlab {

// a * b into *out; false (and *out untouched) when the product does not fit in 64 bits.
bool mul_u64(uint64_t a, uint64_t b, uint64_t *out);
// a + b, saturating at UINT64_MAX.
uint64_t add_sat(uint64_t a, uint64_t b);
// The product of the factors, saturating at UINT64_MAX (a request that large is refused anyway).
uint64_t mul_sat(uint64_t a, uint64_t b);

// The limit described above; *source (may be null) names where it came from.
uint64_t memory_limit(std::string *source);

// Throws Error(RNNLAB_E_NO_MEMORY) when `need` bytes exceed memory_limit() or size_t; the
// printf-style rest names the request in the message.
void check_memory(uint64_t need, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

// Parameter count of a model of this spec, in 64 bits (saturating), computed before any layout.
uint64_t param_count(const ModelSpec &s);
// Bytes rnnlab_create holds at its peak for this spec: the layout's per-entry tables (5 bytes), the
// double-precision initial values (8), parameters and gradients (4 + 4), a backward's scratch
// gradients (4), and the H x H double work matrices of the orthogonal initialisations.
uint64_t create_bytes(const ModelSpec &s);
// Bytes the tape and outputs of `steps` recorded steps of B sequences take (both backends keep
// about h, the gates and the candidate per (t, b) unit, plus x and y).
uint64_t tape_bytes(const ModelSpec &s, uint64_t steps, uint64_t B);

}  // namespace rnnlab

#endif
