/* The C side of tests/test_c_parity.py: one fixed sequence of C API calls on a fixed model, its
 * inputs and every output written to an .npz (through rnnlab's own writer). The Python test reads
 * the inputs back, makes the same calls through the binding, and requires bit-identical outputs.
 * Usage: py_c_reference OUT.npz */
#include <rnnlab/rnnlab.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#define CHECK(call)                                                     \
  do {                                                                  \
    rnnlab_status s_ = (call);                                          \
    if (s_ != RNNLAB_OK) {                                              \
      fprintf(stderr, "%s failed: %s\n", #call, rnnlab_last_error());   \
      return 1;                                                         \
    }                                                                   \
  } while (0)

enum { T = 7, B = 5, I = 3, H = 16, O = 4 };

static uint64_t state = 0x9E3779B97F4A7C15ull;
static double uniform(void) { /* xorshift64: any fixed stream will do, the inputs travel in the file */
  state ^= state << 13;
  state ^= state >> 7;
  state ^= state << 17;
  return (double)(state >> 11) / 9007199254740992.0;
}

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: %s OUT.npz\n", argv[0]);
    return 2;
  }
  static float x[T * B * I], y1[T * B * O], y2[T * B * O], dx[T * B * I];
  static int32_t classes[T * B];
  for (int i = 0; i < T * B * I; ++i) x[i] = (float)(2.0 * uniform() - 1.0);
  for (int i = 0; i < T * B; ++i) classes[i] = (int32_t)(uniform() * O) % O;

  rnnlab_config cfg = RNNLAB_CONFIG_INIT;
  cfg.cell = RNNLAB_CELL_GRU;
  cfg.input_size = I;
  cfg.hidden_size = H;
  cfg.head = RNNLAB_HEAD_EVERY_SOFTMAX;
  cfg.output_size = O;
  cfg.frozen_bias_mask = RNNLAB_GATE_Z;
  cfg.frozen_bias_value[1] = 0.5f;
  cfg.seed = 11;
  cfg.diag_level = RNNLAB_DIAG_FULL;
  rnnlab_model *m;
  CHECK(rnnlab_create(&m, &cfg));
  size_t total;
  CHECK(rnnlab_param_count(&total, NULL, m));
  float *grads = (float *)calloc(total, sizeof(float)), *params = (float *)calloc(total, sizeof(float));
  if (!grads || !params) return 1;

  CHECK(rnnlab_step(y1, T * B * O, m, x, T * B * I, T, B));
  rnnlab_targets tg = RNNLAB_TARGETS_INIT;
  tg.classes = classes;
  tg.count = T * B;
  CHECK(rnnlab_backward(m, &tg));
  rnnlab_diag d = RNNLAB_DIAG_INIT;
  CHECK(rnnlab_diagnostics(&d, m));
  double grad_time[T], zmean[T];
  CHECK(rnnlab_get_trace(grad_time, T, NULL, m, RNNLAB_TRACE_GRAD_TIME));
  CHECK(rnnlab_get_trace(zmean, T, NULL, m, RNNLAB_TRACE_GATE_Z_MEAN_TIME));
  CHECK(rnnlab_get_grads(grads, total, m));
  CHECK(rnnlab_get_input_grad(dx, T * B * I, m));

  rnnlab_optimizer_config oc = RNNLAB_OPTIMIZER_CONFIG_INIT;
  oc.kind = RNNLAB_OPTIMIZER_ADAM;
  oc.lr = 0.01;
  oc.clip = RNNLAB_CLIP_RESCALE;
  oc.cutoff = 0.5;
  CHECK(rnnlab_set_optimizer(m, &oc));
  CHECK(rnnlab_update(m));
  CHECK(rnnlab_get_params(params, total, m));
  CHECK(rnnlab_reset(m));
  CHECK(rnnlab_step(y2, T * B * O, m, x, T * B * I, T, B));

  rnnlab_npz *z;
  CHECK(rnnlab_npz_create(&z, 0));
  int64_t s_x[3] = {T, B, I}, s_y[3] = {T, B, O}, s_c[2] = {T, B}, s_t[1] = {T}, s_p[1] = {(int64_t)total};
  CHECK(rnnlab_npz_add_float32(z, "x", x, T * B * I, 3, s_x));
  CHECK(rnnlab_npz_add_int32(z, "classes", classes, T * B, 2, s_c));
  CHECK(rnnlab_npz_add_float32(z, "y1", y1, T * B * O, 3, s_y));
  CHECK(rnnlab_npz_add_float64(z, "loss", &d.loss, 1, 0, NULL));
  CHECK(rnnlab_npz_add_float64(z, "grad_norm", &d.grad_norm, 1, 0, NULL));
  CHECK(rnnlab_npz_add_float64(z, "omega", &d.omega, 1, 0, NULL));
  CHECK(rnnlab_npz_add_float64(z, "grad_time", grad_time, T, 1, s_t));
  CHECK(rnnlab_npz_add_float64(z, "gate_z_mean_time", zmean, T, 1, s_t));
  CHECK(rnnlab_npz_add_float32(z, "grads", grads, total, 1, s_p));
  CHECK(rnnlab_npz_add_float32(z, "dx", dx, T * B * I, 3, s_x));
  CHECK(rnnlab_npz_add_float32(z, "params", params, total, 1, s_p));
  CHECK(rnnlab_npz_add_float32(z, "y2", y2, T * B * O, 3, s_y));
  CHECK(rnnlab_npz_save(z, argv[1]));
  rnnlab_npz_destroy(z);
  rnnlab_destroy(m);
  free(grads);
  free(params);
  return 0;
}
