/* RNNLAB_BACKEND_CUDA where no GPU is usable (this build without the CUDA backend, or with it but
 * without a driver or a device): rnnlab_create answers RNNLAB_E_NO_DEVICE with a message that says
 * why, creates nothing, and rnnlab_backend_available(CUDA) is 0; AUTO still gives a CPU-side model.
 * Where a GPU is usable the test reports itself skipped (test_cuda_parity covers that machine). */
#include <rnnlab/rnnlab.h>

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

static rnnlab_config cuda_config(void) {
  rnnlab_config c = RNNLAB_CONFIG_INIT;
  c.cell = RNNLAB_CELL_GRU;
  c.input_size = 2;
  c.hidden_size = 3;
  c.backend = RNNLAB_BACKEND_CUDA;
  return c;
}

static void cuda_create_says_why(void **state) {
  (void)state;
  rnnlab_config c = cuda_config();
  rnnlab_model *m = NULL;
  assert_int_equal(rnnlab_create(&m, &c), RNNLAB_E_NO_DEVICE);
  assert_null(m);
  const char *msg = rnnlab_last_error();
  printf("message: %s\n", msg);
  assert_non_null(strstr(msg, "cuda"));
  if (rnnlab_has_feature(RNNLAB_FEATURE_CUDA)) {
    assert_true(strstr(msg, "driver") != NULL || strstr(msg, "device") != NULL ||
                strstr(msg, "cudaGetDeviceCount") != NULL);
  } else {
    assert_non_null(strstr(msg, "built without the CUDA backend"));
  }
  assert_int_equal(rnnlab_backend_available(RNNLAB_BACKEND_CUDA), 0);
}

static void auto_falls_back(void **state) {
  (void)state;
  rnnlab_config c = cuda_config();
  c.backend = RNNLAB_BACKEND_AUTO;
  rnnlab_model *m = NULL;
  assert_int_equal(rnnlab_create(&m, &c), RNNLAB_OK);
  rnnlab_config got = RNNLAB_CONFIG_INIT;
  assert_int_equal(rnnlab_get_config(&got, m), RNNLAB_OK);
  assert_true(got.backend == RNNLAB_BACKEND_CPU || got.backend == RNNLAB_BACKEND_REFERENCE);
  rnnlab_destroy(m);
}

int main(void) {
  if (rnnlab_backend_available(RNNLAB_BACKEND_CUDA)) {
    printf("SKIP: a CUDA device is usable here, so there is no NO_DEVICE path to test\n");
    return 77;
  }
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(cuda_create_says_why),
      cmocka_unit_test(auto_falls_back),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
