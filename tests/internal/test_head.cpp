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

int main(void) {
  const struct CMUnitTest tests[] = {cmocka_unit_test(argmax_rules), cmocka_unit_test(nan_outputs_are_wrong)};
  return cmocka_run_group_tests(tests, NULL, NULL);
}
