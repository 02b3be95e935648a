// The readout losses' error counting (common/head.h): argmax rules, and NaN outputs counted as wrong
// in every head, as rnnlab_task_count_wrong counts them.
#include "cmocka_cpp.h"

#include <cmath>
#include <vector>

#include "common/head.h"

using namespace rnnlab;

static void argmax_rules(void **) {
  const float a[] = {0.5f, 2.0f, 2.0f, -1.0f};
  assert_int_equal(argmax_row(a, 4), 1);  // the first largest
  const float b[] = {0.5f, NAN, 2.0f};
  assert_int_equal(argmax_row(b, 3), -1);
  const float c[] = {NAN, 0.0f};
  assert_int_equal(argmax_row(c, 2), -1);
}

static void nan_outputs_are_wrong(void **) {
  // Two sequences, O = 3, two steps; sequence 1's outputs go NaN at the last step.
  std::vector<float> y0 = {1, 0, 0, 0, 1, 0}, y1 = {1, 0, 0, NAN, NAN, NAN};
  const float *ys[2] = {y0.data(), y1.data()};
  int32_t wrong = -1;
  const int32_t last[] = {0, 1};
  head_loss<float, float>(RNNLAB_HEAD_LAST_SOFTMAX, 3, 2, 2, ys, last, nullptr, nullptr, &wrong, 0.2);
  assert_int_equal(wrong, 1);
  const int32_t every[] = {0, 1, 0, 1};
  head_loss<float, float>(RNNLAB_HEAD_EVERY_SOFTMAX, 3, 2, 2, ys, every, nullptr, nullptr, &wrong, 0.2);
  assert_int_equal(wrong, 1);
  std::vector<float> l0 = {0.1f, 0.2f}, l1 = {0.1f, NAN};
  const float *ls[2] = {l0.data(), l1.data()};
  const float vals[] = {0.1f, 0.9f};
  head_loss<float>(RNNLAB_HEAD_LAST_LINEAR, 1, 2, 2, ls, nullptr, vals, nullptr, &wrong, 0.2);
  assert_int_equal(wrong, 1);  // sequence 1 is NaN; sequence 0 is within err_abs
}

// The every-step softmax loss in float (blocks of rows whose logits all lie in [-80, 80] take a
// path without the max shift) against the double path, which always shifts; a block with a logit
// outside the range (and one with a NaN) takes the shifted path. Also: the result is the same for
// one and for three threads, bit for bit.
static void every_softmax_paths(void **) {
  const int O = 6, B = 300, T = 5;
  std::vector<std::vector<float>> yf(T, std::vector<float>(static_cast<size_t>(B) * O));
  std::vector<std::vector<double>> yd(T, std::vector<double>(static_cast<size_t>(B) * O));
  std::vector<int32_t> cls(static_cast<size_t>(T) * B);
  uint32_t st = 12345;
  auto next = [&st] {
    st = st * 1664525u + 1013904223u;
    return static_cast<double>(st >> 8) / 16777216.0;
  };
  for (int t = 0; t < T; ++t)
    for (size_t k = 0; k < yf[t].size(); ++k) {
      yf[t][k] = static_cast<float>(next() * 20.0 - 10.0);
      yd[t][k] = yf[t][k];
    }
  // Mostly the row's own argmax, so that some sequences are right and some wrong.
  for (int t = 0; t < T; ++t)
    for (int b = 0; b < B; ++b) {
      const float *row = yf[t].data() + static_cast<size_t>(b) * O;
      int32_t c = argmax_row(row, O);
      if (next() < 0.03) c = static_cast<int32_t>(next() * O);
      cls[static_cast<size_t>(t) * B + b] = c;
    }
  // Step 3: a large logit in sequence 270 (second block of 256): that block is done the shifted way.
  yf[3][270 * O + 2] = 120.0f;
  yd[3][270 * O + 2] = 120.0;
  std::vector<const float *> pf(T);
  std::vector<const double *> pd(T);
  for (int t = 0; t < T; ++t) {
    pf[t] = yf[t].data();
    pd[t] = yd[t].data();
  }
  int32_t wf = -1, wd = -2, w3 = -3;
  const double lf = head_loss<float, float>(RNNLAB_HEAD_EVERY_SOFTMAX, O, B, T, pf.data(), cls.data(), nullptr, nullptr, &wf, 0.2);
  const double ld = head_loss<double, double>(RNNLAB_HEAD_EVERY_SOFTMAX, O, B, T, pd.data(), cls.data(), nullptr, nullptr,
                                              &wd, 0.2);
  const double l3 =
      head_loss<float, float>(RNNLAB_HEAD_EVERY_SOFTMAX, O, B, T, pf.data(), cls.data(), nullptr, nullptr, &w3, 0.2, 3);
  assert_true(std::fabs(lf - ld) <= 1e-6 * std::fabs(ld));
  assert_int_equal(wf, wd);
  assert_true(wf > 0 && wf < B);
  assert_true(l3 == lf);
  assert_int_equal(w3, wf);
  // A NaN logit: the loss is NaN, the sequence is wrong.
  yf[1][5 * O] = NAN;
  head_loss<float, float>(RNNLAB_HEAD_EVERY_SOFTMAX, O, B, T, pf.data(), cls.data(), nullptr, nullptr, &wf, 0.2);
  assert_true(std::isnan(head_loss<float, float>(RNNLAB_HEAD_EVERY_SOFTMAX, O, B, T, pf.data(), cls.data(), nullptr, nullptr,
                                          &wf, 0.2)));
}

int main(void) {
  const struct CMUnitTest tests[] = {cmocka_unit_test(argmax_rules), cmocka_unit_test(nan_outputs_are_wrong),
                                     cmocka_unit_test(every_softmax_paths)};
  return cmocka_run_group_tests(tests, NULL, NULL);
}
