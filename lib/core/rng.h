// rnnlab's own random numbers: xoshiro256** seeded through splitmix64, with uniform and normal draws
// defined here (std:: distributions are implementation-defined, so they would not reproduce a seed
// across standard libraries).
#ifndef RNNLAB_CORE_RNG_H
#define RNNLAB_CORE_RNG_H

#include <cmath>
#include <cstdint>

namespace rnnlab {

class Rng {
 public:
  explicit Rng(uint64_t seed = 0) { seed_with(seed); }
  void seed_with(uint64_t seed) {
    uint64_t x = seed;
    for (auto &w : s_) w = splitmix64(x);
    has_spare_ = false;
  }
  uint64_t next_u64() {
    const uint64_t result = rotl(s_[1] * 5, 7) * 9;
    const uint64_t t = s_[1] << 17;
    s_[2] ^= s_[0];
    s_[3] ^= s_[1];
    s_[1] ^= s_[2];
    s_[0] ^= s_[3];
    s_[2] ^= t;
    s_[3] = rotl(s_[3], 45);
    return result;
  }
  // Uniform in [0, 1) with 53 random bits.
  double uniform() { return static_cast<double>(next_u64() >> 11) * 0x1.0p-53; }
  double uniform(double lo, double hi) { return lo + (hi - lo) * uniform(); }
  // Uniform integer in [0, n) for n >= 1 (Lemire's multiply-shift with rejection).
  uint64_t below(uint64_t n) {
    if (n <= 1) return 0;
    const uint64_t limit = (0 - n) % n;
    for (;;) {
      const uint64_t x = next_u64();
      const unsigned __int128 m = static_cast<unsigned __int128>(x) * n;
      if (static_cast<uint64_t>(m) >= limit) return static_cast<uint64_t>(m >> 64);
    }
  }
  // Standard normal (Marsaglia's polar method; the spare value is kept).
  double normal() {
    if (has_spare_) {
      has_spare_ = false;
      return spare_;
    }
    double u, v, q;
    do {
      u = 2.0 * uniform() - 1.0;
      v = 2.0 * uniform() - 1.0;
      q = u * u + v * v;
    } while (q >= 1.0 || q == 0.0);
    const double f = std::sqrt(-2.0 * std::log(q) / q);
    spare_ = v * f;
    has_spare_ = true;
    return u * f;
  }
  double normal(double mean, double stddev) { return mean + stddev * normal(); }

  // The whole state, for checkpoints.
  struct State {
    uint64_t s[4];
    double spare;
    uint8_t has_spare;
  };
  State state() const { return State{{s_[0], s_[1], s_[2], s_[3]}, spare_, static_cast<uint8_t>(has_spare_)}; }
  void set_state(const State &st) {
    for (int i = 0; i < 4; ++i) s_[i] = st.s[i];
    spare_ = st.spare;
    has_spare_ = st.has_spare != 0;
  }

 private:
  static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
  static uint64_t splitmix64(uint64_t &x) {
    uint64_t z = (x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }
  uint64_t s_[4];
  double spare_ = 0;
  bool has_spare_ = false;
};

}  // namespace rnnlab

#endif
