/* c_api_smoke: the smallest complete use of rnnlab from C.
 *
 * Creates a GRU with a softmax head, runs one short batch forward, back-propagates from class
 * targets, reads the loss and the gradient norm, and exits 0 only if every call succeeded and the
 * numbers are finite. The install test builds it against an installed rnnlab (pkg-config, shared and
 * static) to check that what is installed is usable.
 *
 *   cc c_api_smoke.c $(pkg-config --cflags --libs rnnlab) -o c_api_smoke && ./c_api_smoke
 */
#include <rnnlab/rnnlab.h>

#include <math.h> /* isfinite (a macro: no libm needed) */
#include <stdio.h>

#define T 5
#define B 3
#define I 2
#define H 8
#define O 2

/* Prints the failed call with the library's message and leaves main with status 1. */
#define CHECK(call)                                                                                \
  do {                                                                                             \
    rnnlab_status s_ = (call);                                                                     \
    if (s_ != RNNLAB_OK) {                                                                         \
      fprintf(stderr, "c_api_smoke: %s failed: %s (%s)\n", #call, rnnlab_status_string(s_),       \
              rnnlab_last_error());                                                                \
      rnnlab_destroy(model);                                                                       \
      return 1;                                                                                    \
    }                                                                                              \
  } while (0)

int main(void) {
  rnnlab_model *model = NULL;
  float x[T * B * I], y[T * B * O];
  int32_t classes[B];
  rnnlab_diag diag = RNNLAB_DIAG_INIT;
  rnnlab_config cfg = RNNLAB_CONFIG_INIT;
  int k;

  if (rnnlab_version_number() != RNNLAB_VERSION_NUMBER) {
    fprintf(stderr, "c_api_smoke: header %d.%d.%d but library %s\n", RNNLAB_VERSION_MAJOR, RNNLAB_VERSION_MINOR,
            RNNLAB_VERSION_PATCH, rnnlab_version());
    return 1;
  }

  cfg.cell = RNNLAB_CELL_GRU;
  cfg.input_size = I;
  cfg.hidden_size = H;
  cfg.head = RNNLAB_HEAD_LAST_SOFTMAX;
  cfg.output_size = O;
  cfg.seed = 42;
  CHECK(rnnlab_create(&model, &cfg));

  for (k = 0; k < T * B * I; ++k) x[k] = (float)((k * 37) % 19 - 9) / 9.0f; /* in [-1, 1] */
  for (k = 0; k < B; ++k) classes[k] = k % O;

  CHECK(rnnlab_step(y, T * B * O, model, x, T * B * I, T, B));
  {
    rnnlab_targets targets = RNNLAB_TARGETS_INIT;
    targets.classes = classes;
    targets.count = B;
    CHECK(rnnlab_backward(model, &targets));
  }
  CHECK(rnnlab_diagnostics(&diag, model));

  printf("rnnlab %s: loss %.6f, grad_norm %.6f over T=%d, B=%d\n", rnnlab_version(), diag.loss, diag.grad_norm,
         diag.steps, diag.batch);
  if (!(diag.loss > 0.0 && isfinite(diag.loss) && isfinite(diag.grad_norm) && diag.steps == T && diag.batch == B)) {
    fprintf(stderr, "c_api_smoke: unexpected diagnostics\n");
    rnnlab_destroy(model);
    return 1;
  }
  rnnlab_destroy(model);
  return 0;
}
