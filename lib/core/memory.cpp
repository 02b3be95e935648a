#include "core/memory.h"

#include <sys/resource.h>
#include <unistd.h>

#include <cctype>
#include <cstdarg>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>

#include "core/error.h"

namespace rnnlab {

namespace {

constexpr uint64_t kMax = std::numeric_limits<uint64_t>::max();

// A decimal byte count with an optional K/M/G/T suffix; 0 when absent or unreadable.
uint64_t parse_bytes(const char *text) {
  if (!text || !*text) return 0;
  char *end = nullptr;
  errno = 0;
  const unsigned long long v = std::strtoull(text, &end, 10);
  if (errno != 0 || end == text || v == 0) return 0;
  int shift = 0;
  switch (std::toupper(static_cast<unsigned char>(*end))) {
    case '\0': break;
    case 'K': shift = 10; break;
    case 'M': shift = 20; break;
    case 'G': shift = 30; break;
    case 'T': shift = 40; break;
    default: return 0;
  }
  if (*end && end[1] != '\0' && !(std::toupper(static_cast<unsigned char>(end[1])) == 'B' && end[2] == '\0'))
    return 0;
  uint64_t out;
  if (!mul_u64(v, uint64_t(1) << shift, &out)) return kMax;
  return out;
}

// The first number in a small file (cgroup limits); 0 when absent or "max".
uint64_t read_limit_file(const char *path) {
  FILE *f = std::fopen(path, "re");
  if (!f) return 0;
  char buf[64] = {0};
  const size_t n = std::fread(buf, 1, sizeof buf - 1, f);
  std::fclose(f);
  buf[n] = '\0';
  if (!std::isdigit(static_cast<unsigned char>(buf[0]))) return 0;
  return std::strtoull(buf, nullptr, 10);
}

void take_min(uint64_t v, const char *name, uint64_t *best, const char **best_name) {
  if (v > 0 && v < *best) {
    *best = v;
    *best_name = name;
  }
}

}  // namespace

bool mul_u64(uint64_t a, uint64_t b, uint64_t *out) {
  uint64_t r;
  if (__builtin_mul_overflow(a, b, &r)) return false;
  *out = r;
  return true;
}

uint64_t add_sat(uint64_t a, uint64_t b) { return a > kMax - b ? kMax : a + b; }

uint64_t mul_sat(uint64_t a, uint64_t b) {
  uint64_t r;
  return mul_u64(a, b, &r) ? r : kMax;
}

uint64_t memory_limit(std::string *source) {
  uint64_t best = kMax;
  const char *name = "no limit known";
  const long pages = ::sysconf(_SC_PHYS_PAGES), page = ::sysconf(_SC_PAGESIZE);
  if (pages > 0 && page > 0) take_min(mul_sat(static_cast<uint64_t>(pages), static_cast<uint64_t>(page)),
                                      "physical memory", &best, &name);
  struct rlimit rl;
  if (::getrlimit(RLIMIT_AS, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY) take_min(rl.rlim_cur, "RLIMIT_AS", &best, &name);
  if (::getrlimit(RLIMIT_DATA, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY)
    take_min(rl.rlim_cur, "RLIMIT_DATA", &best, &name);
  take_min(read_limit_file("/sys/fs/cgroup/memory.max"), "the cgroup's memory.max", &best, &name);
  take_min(read_limit_file("/sys/fs/cgroup/memory/memory.limit_in_bytes"), "the cgroup's memory limit", &best, &name);
  take_min(parse_bytes(std::getenv("RNNLAB_MEMORY_LIMIT")), "RNNLAB_MEMORY_LIMIT", &best, &name);
  if (source) *source = name;
  return best;
}

void check_memory(uint64_t need, const char *fmt, ...) {
  char what[256];
  va_list ap;
  va_start(ap, fmt);
  std::vsnprintf(what, sizeof what, fmt, ap);
  va_end(ap);
  if (need > std::numeric_limits<size_t>::max() / 2) {
    if (need == kMax)
      raise(RNNLAB_E_NO_MEMORY, "%s needs more than 2^64 bytes; refused before allocating", what);
    raise(RNNLAB_E_NO_MEMORY, "%s needs %llu bytes, more than this machine can address; refused before allocating",
          what, static_cast<unsigned long long>(need));
  }
  std::string source;
  const uint64_t limit = memory_limit(&source);
  if (need > limit)
    raise(RNNLAB_E_NO_MEMORY, "%s needs about %.3g GB, more than the %.3g GB limit (%s); refused before allocating",
          what, static_cast<double>(need) / 1e9, static_cast<double>(limit) / 1e9, source.c_str());
}

uint64_t param_count(const ModelSpec &s) {
  const uint64_t G = s.is_gru() ? 3 : 1, H = static_cast<uint64_t>(s.H), I = static_cast<uint64_t>(s.I);
  const uint64_t O = s.has_head() ? static_cast<uint64_t>(s.O) : 0;
  uint64_t n = mul_sat(mul_sat(G, H), add_sat(add_sat(I, H), 2));  // weight_ih, weight_hh, both biases
  if (s.has_head()) n = add_sat(n, mul_sat(O, add_sat(H, 1)));
  return n;
}

uint64_t create_bytes(const ModelSpec &s) {
  const uint64_t H = static_cast<uint64_t>(s.H);
  return add_sat(mul_sat(param_count(s), 1 + 4 + 8 + 4 + 4 + 4), mul_sat(mul_sat(H, H), 2 * sizeof(double)));
}

uint64_t tape_bytes(const ModelSpec &s, uint64_t steps, uint64_t B) {
  const uint64_t per_unit = s.is_gru() ? 8 : 3;
  const uint64_t per_seq =
      add_sat(add_sat(mul_sat(per_unit, static_cast<uint64_t>(s.H)), static_cast<uint64_t>(s.I)),
              static_cast<uint64_t>(s.out_width()));
  return mul_sat(mul_sat(mul_sat(steps, B), per_seq), sizeof(float));
}

}  // namespace rnnlab
