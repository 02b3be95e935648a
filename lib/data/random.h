// The generator behind the synthetic tasks and the pixel permutation.
//
// The bits come from rnnlab's own generator (core/rng.h: xoshiro256** seeded through splitmix64,
// fully specified, unlike std:: distributions). The two draws the tasks use are defined here, because
// their streams are pinned by test_tasks: integers by rejection then modulo (no modulo bias), floats
// from the top 24 bits (exactly representable, so never rounded up to 1).
#ifndef RNNLAB_DATA_RANDOM_H
#define RNNLAB_DATA_RANDOM_H

#include <cstdint>

#include "core/rng.h"

namespace rnnlab {
namespace data {

class Rng {
 public:
  explicit Rng(uint64_t seed = 0) : bits_(seed) {}

  void reseed(uint64_t seed) { bits_.seed_with(seed); }

  uint64_t next() { return bits_.next_u64(); }

  // Uniform on {0, ..., n - 1}; n >= 1. Draws below 2^64 mod n are rejected so that every residue
  // is equally likely.
  uint64_t below(uint64_t n) {
    const uint64_t reject_under = (0u - n) % n;
    for (;;) {
      const uint64_t r = next();
      if (r >= reject_under) return r % n;
    }
  }

  // Uniform on [0, 1) with 24 random bits.
  float unit_float() { return static_cast<float>(next() >> 40) * (1.0f / 16777216.0f); }

 private:
  rnnlab::Rng bits_;
};

}  // namespace data
}  // namespace rnnlab

#endif
