// CPU backend against the reference at the large shapes of the seeds (H = 181, T = 1024, as P1 but
// with a small batch): outputs, loss, every gradient, every trace and scalar, the Jacobian.
// Labelled heavy (the file name): the sanitizer pass of .ci/run leaves it out, and says so.
// Tolerances as test_cpu_parity (float32 against float32 over 1024 steps).
#include "cmocka_cpp.h"

#include "parity.h"

#ifndef RNNLAB_HAVE_ONEDNN
int main(void) {
  std::printf("SKIP: rnnlab was built without oneDNN, so there is no CPU backend to compare\n");
  return 77;
}
#else
using namespace parity;

static void seed000_shapes(void **) {
  const Shape s = {1, 181, 1024, 2, 10};
  matrix_case(s, RNNLAB_CELL_GRU, RNNLAB_HEAD_LAST_SOFTMAX, RNNLAB_DIAG_FULL, true, RNNLAB_BIAS_DOUBLE, {1024}, 1);
  matrix_case(s, RNNLAB_CELL_GRU, RNNLAB_HEAD_LAST_SOFTMAX, RNNLAB_DIAG_FULL, false, RNNLAB_BIAS_DOUBLE, {500, 524}, 2);
  matrix_case(s, RNNLAB_CELL_GRU_RESET_BEFORE, RNNLAB_HEAD_EVERY_SOFTMAX, RNNLAB_DIAG_FULL, false, RNNLAB_BIAS_SINGLE,
              {1024}, 1);
  matrix_case(s, RNNLAB_CELL_RNN_TANH, RNNLAB_HEAD_LAST_LINEAR, RNNLAB_DIAG_SUMMARY, false, RNNLAB_BIAS_SINGLE, {1024}, 1);
}

int main(void) {
  const struct CMUnitTest tests[] = {cmocka_unit_test(seed000_shapes)};
  return cmocka_run_group_tests(tests, NULL, NULL);
}
#endif
