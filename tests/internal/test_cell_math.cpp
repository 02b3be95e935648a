// The float exp / tanh / sigmoid of common/cell_math.h (what every float backend's gate math calls)
// against libm in double, over a strided sweep of every finite float, and their special values.
//
// Bounds, in units in the last place of the float nearest the true value (a full sweep of all 2^32
// patterns, run once when they were written, gave exp 1.01, tanh 2.50, sigmoid 2.48):
//   exp 1.5 ulp where the result is a normal float, tanh 3 ulp, sigmoid 3 ulp where it is normal.
// This file is compiled with the library's flags (-fno-trapping-math, -march=native when the
// library has it), and the sweep runs through array loops, so it checks the vectorised code the
// fused kernels get as well as the scalar calls of the special-value checks.
#include "cmocka_cpp.h"

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <limits>
#include <vector>

#include "common/cell_math.h"

using namespace rnnlab;

namespace {

const double kMinNormal = static_cast<double>(std::numeric_limits<float>::min());

double ulp_at(double t) {
  const float f = static_cast<float>(t);
  return std::fabs(static_cast<double>(std::nextafter(f, std::numeric_limits<float>::infinity())) - f);
}

float from_bits(uint32_t u) {
  float f;
  std::memcpy(&f, &u, sizeof f);
  return f;
}

__attribute__((noinline)) void eval_all(const float *x, float *e, float *t, float *s, size_t n) {
  for (size_t k = 0; k < n; ++k) e[k] = cell::exp_(x[k]);
  for (size_t k = 0; k < n; ++k) t[k] = cell::tanh_(x[k]);
  for (size_t k = 0; k < n; ++k) s[k] = cell::sigmoid(x[k]);
}

void sweep(void **) {
  const uint64_t stride = 61;  // a prime: every exponent and many mantissa patterns are visited
  const size_t chunk = 1 << 16;
  std::vector<float> x(chunk), e(chunk), t(chunk), s(chunk);
  double worst[3] = {0, 0, 0};
  float at[3] = {0, 0, 0};
  size_t checked = 0;
  uint64_t u = 0;
  while (u <= 0xFFFFFFFFull) {
    size_t n = 0;
    for (; n < chunk && u <= 0xFFFFFFFFull; u += stride) {
      const float v = from_bits(static_cast<uint32_t>(u));
      if (std::isfinite(v)) x[n++] = v;
    }
    eval_all(x.data(), e.data(), t.data(), s.data(), n);
    for (size_t k = 0; k < n; ++k) {
      const double xd = x[k];
      double err[3] = {0, 0, 0};
      if (xd >= -87.0 && xd <= 88.0) {
        const double ref = std::exp(xd);
        if (ref >= kMinNormal) err[0] = std::fabs(e[k] - ref) / ulp_at(ref);
      }
      const double tr = std::tanh(xd);
      err[1] = tr == 0.0 ? (t[k] == 0.0f ? 0.0 : 1e9) : std::fabs(t[k] - tr) / ulp_at(tr);
      if (!(std::fabs(t[k]) <= 1.0f)) err[1] = 1e9;
      const double sr = 1.0 / (1.0 + std::exp(-xd));
      if (sr >= kMinNormal) err[2] = std::fabs(s[k] - sr) / ulp_at(sr);
      if (!(s[k] >= 0.0f && s[k] <= 1.0f)) err[2] = 1e9;
      for (int f = 0; f < 3; ++f)
        if (err[f] > worst[f]) {
          worst[f] = err[f];
          at[f] = x[k];
        }
    }
    checked += n;
  }
  std::printf("%zu floats: exp %.3f ulp (at %.9g), tanh %.3f ulp (at %.9g), sigmoid %.3f ulp (at %.9g)\n", checked,
              worst[0], static_cast<double>(at[0]), worst[1], static_cast<double>(at[1]), worst[2],
              static_cast<double>(at[2]));
  assert_true(worst[0] <= 1.5);
  assert_true(worst[1] <= 3.0);
  assert_true(worst[2] <= 3.0);
}

void special_values(void **) {
  const float inf = std::numeric_limits<float>::infinity(), nan = std::numeric_limits<float>::quiet_NaN();
  assert_true(std::isnan(cell::exp_(nan)));
  assert_true(std::isnan(cell::tanh_(nan)));
  assert_true(std::isnan(cell::sigmoid(nan)));
  assert_true(std::isnan(cell::exp_(-nan)));
  // Overflow saturates to a huge finite value; underflow to (almost) zero.
  const float big = cell::exp_(inf);
  assert_true(std::isfinite(big) && big > 1e38f);
  const float tiny = cell::exp_(-inf);
  assert_true(tiny >= 0.0f && tiny < 1e-37f);
  assert_true(cell::exp_(0.0f) == 1.0f);
  assert_true(cell::tanh_(inf) == 1.0f);
  assert_true(cell::tanh_(-inf) == -1.0f);
  assert_true(cell::tanh_(20.0f) == 1.0f);
  assert_true(cell::tanh_(0.0f) == 0.0f && !std::signbit(cell::tanh_(0.0f)));
  assert_true(cell::tanh_(-0.0f) == 0.0f && std::signbit(cell::tanh_(-0.0f)));
  assert_true(cell::tanh_(1e-30f) == 1e-30f);  // tanh x = x below sqrt(ulp)
  assert_true(cell::sigmoid(inf) == 1.0f);
  assert_true(cell::sigmoid(-inf) >= 0.0f && cell::sigmoid(-inf) < 1e-37f);
  assert_true(cell::sigmoid(0.0f) == 0.5f);
  // Odd symmetry, bit for bit.
  for (float v : {1e-6f, 0.1f, 0.5f, 0.7f, 1.0f, 3.3f, 9.99f, 15.0f})
    assert_true(cell::tanh_(-v) == -cell::tanh_(v));
}

}  // namespace

int main(void) {
  const struct CMUnitTest tests[] = {cmocka_unit_test(special_values), cmocka_unit_test(sweep)};
  return cmocka_run_group_tests(tests, nullptr, nullptr);
}
