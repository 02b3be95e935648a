/* Consumer of an installed rnnlab (tests/consumer/CMakeLists.txt): creates a vanilla RNN without a
 * head, steps it, back-propagates a caller-supplied dL/dh, and checks the results. Exit 0 = usable. */
#include <rnnlab/rnnlab.h>

#include <stdio.h>
#include <string.h>

static int failed(const char *what, rnnlab_status s) {
  fprintf(stderr, "consumer: %s failed: %s (%s)\n", what, rnnlab_status_string(s), rnnlab_last_error());
  return 1;
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
  return 0;
}
