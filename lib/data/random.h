// The generator behind the synthetic tasks and the pixel permutation.
//
// std:: distributions are implementation-defined, so a seed would give different batches under
// libstdc++, libc++ and MSVC; this one is fully specified: xoshiro256** (Blackman & Vigna) whose state
// is filled by splitmix64 from the seed, integers by rejection (no modulo bias), floats from the top
// 24 bits (exactly representable, so never rounded up to 1).
#ifndef RNNLAB_DATA_RANDOM_H
#define RNNLAB_DATA_RANDOM_H

#include <cstdint>

namespace rnnlab {
namespace data {

class Rng {
 public:
  explicit Rng(uint64_t seed = 0) { reseed(seed); }

  void reseed(uint64_t seed) {
    uint64_t x = seed;
    for (uint64_t &s : s_) s = splitmix64(x);
  }

  uint64_t next() {
    const uint64_t out = rotl(s_[1] * 5u, 7) * 9u;
    const uint64_t t = s_[1] << 17;
    s_[2] ^= s_[0];
    s_[3] ^= s_[1];
    s_[1] ^= s_[2];
    s_[0] ^= s_[3];
    s_[2] ^= t;
    s_[3] = rotl(s_[3], 45);
    return out;
  }

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
  static uint64_t rotl(uint64_t v, int k) { return (v << k) | (v >> (64 - k)); }
  static uint64_t splitmix64(uint64_t &x) {
    uint64_t z = (x += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  }

  uint64_t s_[4];
};

}  // namespace data
}  // namespace rnnlab

#endif
