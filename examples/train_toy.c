/* train_toy: a GRU learns to remember, through the C API alone.
 *
 * The task: each sequence starts with a bit (channel 0 = +1 or -1), followed by T-1 steps of noise
 * (channel 1). The model must say, at the last step, which bit it saw (2-class softmax). The
 * optimiser is plain SGD written here over the flat parameter and gradient buffers.
 *
 *   train_toy [steps] [T] [lr]      (defaults 300, 10, 2.0; longer T shows the vanishing gradient)
 */
#include <rnnlab/rnnlab.h>

#include <stdio.h>
#include <stdlib.h>

#define CHECK(call)                                                                         \
  do {                                                                                      \
    rnnlab_status s_ = (call);                                                              \
    if (s_ != RNNLAB_OK) {                                                                  \
      fprintf(stderr, "%s failed: %s (%s)\n", #call, rnnlab_status_string(s_), rnnlab_last_error()); \
      exit(1);                                                                              \
    }                                                                                       \
  } while (0)

/* A small deterministic generator (xorshift), so the example needs nothing but libc. */
static unsigned long long g_state = 88172645463325252ULL;
static double uniform01(void) {
  g_state ^= g_state << 13;
  g_state ^= g_state >> 7;
  g_state ^= g_state << 17;
  return (double)(g_state >> 11) * (1.0 / 9007199254740992.0);
}

int main(int argc, char **argv) {
  const int steps = argc > 1 ? atoi(argv[1]) : 300;
  const int T = argc > 2 ? atoi(argv[2]) : 10;
  const int B = 32, I = 2, H = 16, O = 2;
  const float lr = argc > 3 ? (float)atof(argv[3]) : 2.0f;

  rnnlab_config cfg = RNNLAB_CONFIG_INIT;
  cfg.cell = RNNLAB_CELL_GRU;
  cfg.input_size = I;
  cfg.hidden_size = H;
  cfg.head = RNNLAB_HEAD_LAST_SOFTMAX;
  cfg.output_size = O;
  cfg.seed = 7;
  cfg.bias_init = RNNLAB_BIAS_INIT_CONSTANT; /* start with long memory: effective b_z = +1 */
  cfg.bias_init_mask = RNNLAB_GATE_Z;
  cfg.bias_init_value[RNNLAB_GATE_INDEX_Z] = 1.0f;

  rnnlab_model *model = NULL;
  CHECK(rnnlab_create(&model, &cfg));
  rnnlab_config got = RNNLAB_CONFIG_INIT;
  CHECK(rnnlab_get_config(&got, model));
  size_t total = 0, trainable = 0;
  CHECK(rnnlab_param_count(&total, &trainable, model));
  printf("rnnlab %s, backend %s: GRU I=%d H=%d, %zu parameters (%zu trainable), T=%d, B=%d\n", rnnlab_version(),
         rnnlab_backend_name(got.backend), I, H, total, trainable, T, B);

  float *x = malloc(sizeof(float) * (size_t)T * B * I);
  float *params = malloc(sizeof(float) * total);
  float *grads = malloc(sizeof(float) * total);
  int32_t *labels = malloc(sizeof(int32_t) * B);
  if (!x || !params || !grads || !labels) return 1;

  double first = 0, avg = 0;
  for (int it = 1; it <= steps; ++it) {
    for (int b = 0; b < B; ++b) labels[b] = uniform01() < 0.5 ? 0 : 1;
    for (int t = 0; t < T; ++t)
      for (int b = 0; b < B; ++b) {
        float *xi = x + ((size_t)t * B + b) * I;
        xi[0] = t == 0 ? (labels[b] ? 1.0f : -1.0f) : 0.0f;
        xi[1] = t == 0 ? 0.0f : (float)(uniform01() * 2.0 - 1.0);
      }
    CHECK(rnnlab_reset(model));
    CHECK(rnnlab_step(NULL, 0, model, x, (size_t)T * B * I, T, B));
    rnnlab_targets tg = RNNLAB_TARGETS_INIT;
    tg.classes = labels;
    tg.count = (size_t)B;
    CHECK(rnnlab_backward(model, &tg));
    rnnlab_diag d = RNNLAB_DIAG_INIT;
    CHECK(rnnlab_diagnostics(&d, model));

    /* Plain SGD over the flat buffers, with the gradient rescaled to norm <= 1 (d.grad_norm is the
     * norm over trainable entries; frozen and held entries have gradient exactly 0). */
    const double scale = d.grad_norm > 1.0 ? 1.0 / d.grad_norm : 1.0;
    CHECK(rnnlab_get_params(params, total, model));
    CHECK(rnnlab_get_grads(grads, total, model));
    for (size_t k = 0; k < total; ++k) params[k] -= (float)(lr * scale) * grads[k];
    CHECK(rnnlab_set_params(model, params, total));
    CHECK(rnnlab_zero_grad(model));

    if (it == 1) first = d.loss;
    avg += d.loss;
    if (it % 50 == 0) {
      printf("step %4d  loss %.4f  grad_norm %.4f\n", it, avg / 50.0, d.grad_norm);
      avg = 0;
    }
    if (it == steps) printf("loss went from %.4f to %.4f\n", first, d.loss);
  }
  free(x);
  free(params);
  free(grads);
  free(labels);
  rnnlab_destroy(model);
  return 0;
}
