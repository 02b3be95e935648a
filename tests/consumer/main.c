/* Consumer of an installed rnnlab (tests/consumer/CMakeLists.txt): creates a vanilla RNN without a
 * head, steps it, back-propagates a caller-supplied dL/dh, and checks the results. Exit 0 = usable. */
#include <rnnlab/rnnlab.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int failed(const char *what, rnnlab_status s) {
  fprintf(stderr, "consumer: %s failed: %s (%s)\n", what, rnnlab_status_string(s), rnnlab_last_error());
  return 1;
}

/* The CUDA backend is a module loaded on demand (librnnlab_cuda.so, installed beside the library).
 * With RNNLAB_EXPECT_CUDA_MODULE=1 (tests/install_check.sh, for a CUDA build) the installed module
 * must be found without RNNLAB_CUDA_PLUGIN, and a CUDA model that cannot be made must say why in
 * terms of the GPU (driver, device), not of a missing module. */
static int cuda_module_check(void) {
  const char *expect = getenv("RNNLAB_EXPECT_CUDA_MODULE");
  rnnlab_config cfg = RNNLAB_CONFIG_INIT;
  rnnlab_model *m = NULL;
  rnnlab_status s;
  const char *msg;
  if (!expect || strcmp(expect, "1") != 0) return 0;
  if (getenv("RNNLAB_CUDA_PLUGIN")) {
    fprintf(stderr, "consumer: RNNLAB_CUDA_PLUGIN is set; the check is about finding the module without it\n");
    return 1;
  }
  if (!rnnlab_has_feature(RNNLAB_FEATURE_CUDA)) {
    fprintf(stderr, "consumer: the installed CUDA module was not found beside the library\n");
    return 1;
  }
  cfg.cell = RNNLAB_CELL_GRU;
  cfg.input_size = 2;
  cfg.hidden_size = 3;
  cfg.backend = RNNLAB_BACKEND_CUDA;
  s = rnnlab_create(&m, &cfg);
  if (s == RNNLAB_OK) {
    printf("consumer: CUDA module found and a CUDA model created\n");
    rnnlab_destroy(m);
    return 0;
  }
  msg = rnnlab_last_error();
  if (s != RNNLAB_E_NO_DEVICE || strstr(msg, "module") || !(strstr(msg, "driver") || strstr(msg, "device"))) {
    fprintf(stderr, "consumer: a CUDA model failed for a reason other than the GPU: %s (%s)\n",
            rnnlab_status_string(s), msg);
    return 1;
  }
  printf("consumer: CUDA module found; no GPU here: %s\n", msg);
  return 0;
}

int main(void) {
  enum { T = 4, B = 2, I = 3, H = 5 };
  rnnlab_config cfg = RNNLAB_CONFIG_INIT;
  rnnlab_model *m = NULL;
  rnnlab_status s;
  float x[T * B * I], h[T * B * H], dy[T * B * H], dx[T * B * I];
  int k, nonzero = 0;

  cfg.cell = RNNLAB_CELL_RNN_TANH;
  cfg.input_size = I;
  cfg.hidden_size = H;
  cfg.seed = 3;
  if ((s = rnnlab_create(&m, &cfg)) != RNNLAB_OK) return failed("rnnlab_create", s);
  for (k = 0; k < T * B * I; ++k) x[k] = (float)(k % 7) * 0.1f - 0.3f;
  for (k = 0; k < T * B * H; ++k) dy[k] = (k % 2) ? 0.5f : -0.25f;
  if ((s = rnnlab_step(h, T * B * H, m, x, T * B * I, T, B)) != RNNLAB_OK) return failed("rnnlab_step", s);
  {
    rnnlab_targets tg = RNNLAB_TARGETS_INIT;
    tg.dy = dy;
    tg.count = T * B * H;
    if ((s = rnnlab_backward(m, &tg)) != RNNLAB_OK) return failed("rnnlab_backward", s);
  }
  if ((s = rnnlab_get_input_grad(dx, T * B * I, m)) != RNNLAB_OK) return failed("rnnlab_get_input_grad", s);
  for (k = 0; k < T * B * I; ++k) nonzero += dx[k] != 0.0f;
  /* A refused call reports itself. */
  if (rnnlab_step(h, 1, m, x, T * B * I, T, B) != RNNLAB_E_SIZE_MISMATCH || strlen(rnnlab_last_error()) == 0) {
    fprintf(stderr, "consumer: a wrong y_count was not refused with a message\n");
    rnnlab_destroy(m);
    return 1;
  }
  rnnlab_destroy(m);
  if (!nonzero) {
    fprintf(stderr, "consumer: dL/dx is all zero\n");
    return 1;
  }
  printf("consumer: rnnlab %s linked and working (%d of %d dL/dx entries non-zero)\n", rnnlab_version(), nonzero,
         T * B * I);
  return cuda_module_check();
}
