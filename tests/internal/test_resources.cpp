// Bounded resources: absurd sizes are refused with RNNLAB_E_NO_MEMORY (or INVALID_ARGUMENT for
// counts that do not even fit) before large memory is touched, and the process stays small
// (VmHWM, the peak resident size, read from /proc/self/status before and after).
//
// Every other header comes before cmocka.h (its fail() macro).
#include <rnnlab/rnnlab.h>

#include <sys/mman.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "cmocka_cpp.h"

namespace {

// kB of a /proc/self/status field (VmHWM, VmRSS); -1 when unreadable.
long status_kb(const char *field) {
  FILE *f = std::fopen("/proc/self/status", "r");
  if (!f) return -1;
  char line[256];
  long kb = -1;
  const size_t n = std::strlen(field);
  while (std::fgets(line, sizeof line, f))
    if (std::strncmp(line, field, n) == 0 && line[n] == ':') kb = std::strtol(line + n + 1, nullptr, 10);
  std::fclose(f);
  return kb;
}

// The peak may grow by this much at most over the whole test (the small models it does create,
// allocator slack; sanitizer builds included).
constexpr long kSlackKb = 64 * 1024;

rnnlab_config gru(int32_t I, int32_t H) {
  rnnlab_config c = RNNLAB_CONFIG_INIT;
  c.cell = RNNLAB_CELL_GRU;
  c.input_size = I;
  c.hidden_size = H;
  c.head = RNNLAB_HEAD_LAST_SOFTMAX;
  c.output_size = 10;
  c.backend = RNNLAB_BACKEND_REFERENCE;
  return c;
}

void expect_refused(const rnnlab_config &c, const char *needle) {
  rnnlab_model *m = nullptr;
  const rnnlab_status st = rnnlab_create(&m, &c);
  if (st != RNNLAB_E_NO_MEMORY || m != nullptr) {
    print_error("input %d hidden %d: %s (%s), expected NO_MEMORY\n", c.input_size, c.hidden_size,
                rnnlab_status_string(st), rnnlab_last_error());
    fail();
  }
  const std::string msg = rnnlab_last_error();
  std::printf("  refused: %s\n", msg.c_str());
  if (msg.find(needle) == std::string::npos || msg.find("refused before allocating") == std::string::npos) {
    print_error("message lacks '%s': %s\n", needle, msg.c_str());
    fail();
  }
}

void test_absurd_models(void **) {
  const long hwm0 = status_kb("VmHWM");
  assert_true(hwm0 > 0);
  expect_refused(gru(1, 1 << 16), "hidden_size 65536");       // 51 GB of weight_hh alone
  expect_refused(gru(1, 1 << 20), "hidden_size 1048576");     // 13 TB
  expect_refused(gru(1, 2147483647), "hidden_size 2147483647");  // 3 H^2 beyond 64 bits of bytes
  expect_refused(gru(1 << 30, 1 << 10), "input_size 1073741824");
  rnnlab_config r = gru(1, 1 << 17);
  r.cell = RNNLAB_CELL_RNN_TANH;
  expect_refused(r, "hidden_size 131072");
  const long hwm1 = status_kb("VmHWM");
  std::printf("VmHWM %ld kB -> %ld kB\n", hwm0, hwm1);
  assert_true(hwm1 - hwm0 < kSlackKb);
}

void test_absurd_tape(void **) {
  rnnlab_config c = gru(1, 8);
  rnnlab_model *m = nullptr;
  assert_int_equal(rnnlab_create(&m, &c), RNNLAB_OK);
  const long hwm0 = status_kb("VmHWM");
  // x for T * B = 2^32 sequences-steps is 16 GB; the address range is reserved but unreadable, so
  // a library that read x (or wrote a tape) before refusing would crash this test.
  const int32_t T = 1 << 20, B = 1 << 12;
  const size_t count = static_cast<size_t>(T) * B;
  void *x = mmap(nullptr, count * sizeof(float), PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  assert_true(x != MAP_FAILED);
  const rnnlab_status st = rnnlab_step(nullptr, 0, m, static_cast<float *>(x), count, T, B);
  std::printf("  refused: %s\n", rnnlab_last_error());
  assert_int_equal(st, RNNLAB_E_NO_MEMORY);
  assert_non_null(std::strstr(rnnlab_last_error(), "a tape of"));
  munmap(x, count * sizeof(float));
  // The model is as it was: a normal step still works.
  std::vector<float> ok(4 * 2, 0.5f);
  assert_int_equal(rnnlab_step(nullptr, 0, m, ok.data(), ok.size(), 4, 2), RNNLAB_OK);
  rnnlab_destroy(m);
  assert_true(status_kb("VmHWM") - hwm0 < kSlackKb);
}

// RNNLAB_MEMORY_LIMIT lowers the limit: a model that fits the machine is refused under it, and the
// message says which limit applied.
void test_limit_from_environment(void **) {
  rnnlab_config c = gru(1, 256);
  rnnlab_model *m = nullptr;
  assert_int_equal(setenv("RNNLAB_MEMORY_LIMIT", "1M", 1), 0);
  expect_refused(c, "RNNLAB_MEMORY_LIMIT");
  assert_int_equal(setenv("RNNLAB_MEMORY_LIMIT", "256M", 1), 0);
  assert_int_equal(rnnlab_create(&m, &c), RNNLAB_OK);
  // Under the same limit, a tape of 4096 steps of 1024 sequences (~35 GB) is refused; 8 x 4 is not.
  std::vector<float> x(8 * 4, 0.25f);
  assert_int_equal(rnnlab_step(nullptr, 0, m, x.data(), static_cast<size_t>(4096) * 1024, 4096, 1024),
                   RNNLAB_E_NO_MEMORY);
  assert_non_null(std::strstr(rnnlab_last_error(), "RNNLAB_MEMORY_LIMIT"));
  assert_int_equal(rnnlab_step(nullptr, 0, m, x.data(), x.size(), 8, 4), RNNLAB_OK);
  rnnlab_destroy(m);
  assert_int_equal(unsetenv("RNNLAB_MEMORY_LIMIT"), 0);
}

}  // namespace

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_absurd_models),
      cmocka_unit_test(test_absurd_tape),
      cmocka_unit_test(test_limit_from_environment),
  };
  return cmocka_run_group_tests(tests, nullptr, nullptr);
}
