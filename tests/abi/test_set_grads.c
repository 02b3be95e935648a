/* rnnlab_set_grads, the entry point a data-parallel caller uses (README, "Beyond one machine"):
 * writing back the gradient a backward produced changes nothing; writing back the sum of two
 * half-batch gradients, each weighted by its share, gives the same update (to float rounding) as one
 * backward over the whole batch; grad_norm follows the written gradient; a NaN reaches the update's
 * guard; a refused call leaves the gradient as it was. Bad arguments are in test_bad_input.c. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <rnnlab/rnnlab.h>

enum { I_ = 2, H_ = 5, O_ = 3, T_ = 4, B_ = 4 };

static rnnlab_model *make_model(void) {
  rnnlab_config c = RNNLAB_CONFIG_INIT;
  c.cell = RNNLAB_CELL_GRU;
  c.input_size = I_;
  c.hidden_size = H_;
  c.head = RNNLAB_HEAD_LAST_SOFTMAX;
  c.output_size = O_;
  c.backend = RNNLAB_BACKEND_REFERENCE;
  c.frozen_bias_mask = RNNLAB_GATE_Z;
  c.seed = 7;
  rnnlab_model *m = NULL;
  assert_int_equal(rnnlab_create(&m, &c), RNNLAB_OK);
  rnnlab_optimizer_config oc = RNNLAB_OPTIMIZER_CONFIG_INIT;
  oc.kind = RNNLAB_OPTIMIZER_SGD;
  oc.lr = 0.1;
  oc.clip = RNNLAB_CLIP_RESCALE;
  oc.cutoff = 100.0;
  assert_int_equal(rnnlab_set_optimizer(m, &oc), RNNLAB_OK);
  return m;
}

static float g_x[T_ * B_ * I_];
static int32_t g_y[B_] = {0, 2, 1, 2};

/* Backward over sequences [b0, b0 + nb) of the batch (mean loss over those nb). */
static void backward_part(rnnlab_model *m, int b0, int nb) {
  float x[T_ * B_ * I_];
  for (int t = 0; t < T_; ++t)
    for (int b = 0; b < nb; ++b)
      for (int i = 0; i < I_; ++i) x[(t * nb + b) * I_ + i] = g_x[(t * B_ + b0 + b) * I_ + i];
  rnnlab_targets tg = RNNLAB_TARGETS_INIT;
  tg.classes = g_y + b0;
  tg.count = (size_t)nb;
  assert_int_equal(rnnlab_reset(m), RNNLAB_OK);
  assert_int_equal(rnnlab_step(NULL, 0, m, x, (size_t)(T_ * nb * I_), T_, nb), RNNLAB_OK);
  assert_int_equal(rnnlab_backward(m, &tg), RNNLAB_OK);
}

static size_t total_of(rnnlab_model *m) {
  size_t n = 0;
  assert_int_equal(rnnlab_param_count(&n, NULL, m), RNNLAB_OK);
  return n;
}

static void test_round_trip_and_split_batch(void **state) {
  (void)state;
  for (int k = 0; k < T_ * B_ * I_; ++k) g_x[k] = (float)sin(0.7 * k + 0.3);
  rnnlab_model *whole = make_model(), *split = make_model();
  const size_t n = total_of(whole);
  float *g = calloc(n, sizeof *g), *g2 = calloc(n, sizeof *g2), *sum = calloc(n, sizeof *sum);
  float *p1 = calloc(n, sizeof *p1), *p2 = calloc(n, sizeof *p2);

  /* Round trip: get, set back, same gradient and norm. */
  backward_part(whole, 0, B_);
  rnnlab_diag d0 = RNNLAB_DIAG_INIT, d1 = RNNLAB_DIAG_INIT;
  assert_int_equal(rnnlab_diagnostics(&d0, whole), RNNLAB_OK);
  assert_int_equal(rnnlab_get_grads(g, n, whole), RNNLAB_OK);
  assert_int_equal(rnnlab_set_grads(whole, g, n), RNNLAB_OK);
  assert_int_equal(rnnlab_get_grads(g2, n, whole), RNNLAB_OK);
  assert_memory_equal(g, g2, n * sizeof *g);
  assert_int_equal(rnnlab_diagnostics(&d1, whole), RNNLAB_OK);
  assert_true(d0.grad_norm == d1.grad_norm && d0.grad_norm > 0);

  /* Twice the gradient: twice the norm. */
  for (size_t i = 0; i < n; ++i) g2[i] = 2.0f * g[i];
  assert_int_equal(rnnlab_set_grads(whole, g2, n), RNNLAB_OK);
  assert_int_equal(rnnlab_diagnostics(&d1, whole), RNNLAB_OK);
  assert_true(fabs(d1.grad_norm - 2.0 * d0.grad_norm) <= 1e-6 * d0.grad_norm);
  assert_int_equal(rnnlab_set_grads(whole, g, n), RNNLAB_OK);
  assert_int_equal(rnnlab_update(whole), RNNLAB_OK);
  assert_int_equal(rnnlab_get_params(p1, n, whole), RNNLAB_OK);

  /* Two halves, each a mean over 2 sequences, weighted 1/2 and summed: the whole batch's gradient. */
  backward_part(split, 0, 2);
  assert_int_equal(rnnlab_get_grads(g, n, split), RNNLAB_OK);
  assert_int_equal(rnnlab_zero_grad(split), RNNLAB_OK);
  backward_part(split, 2, 2);
  assert_int_equal(rnnlab_get_grads(g2, n, split), RNNLAB_OK);
  for (size_t i = 0; i < n; ++i) sum[i] = 0.5f * g[i] + 0.5f * g2[i];
  assert_int_equal(rnnlab_set_grads(split, sum, n), RNNLAB_OK);
  assert_int_equal(rnnlab_update(split), RNNLAB_OK);
  assert_int_equal(rnnlab_get_params(p2, n, split), RNNLAB_OK);
  double worst = 0;
  for (size_t i = 0; i < n; ++i) worst = fmax(worst, fabs((double)p1[i] - (double)p2[i]));
  assert_true(worst < 1e-6);

  free(g);
  free(g2);
  free(sum);
  free(p1);
  free(p2);
  rnnlab_destroy(whole);
  rnnlab_destroy(split);
}

static void test_nan_reaches_the_guard_and_refusal_changes_nothing(void **state) {
  (void)state;
  rnnlab_model *m = make_model();
  const size_t n = total_of(m);
  float *g = calloc(n, sizeof *g), *after = calloc(n, sizeof *after), *bad = calloc(n, sizeof *bad);
  uint8_t *mask = calloc(n, 1);
  assert_int_equal(rnnlab_get_trainable_mask(mask, n, m), RNNLAB_OK);
  backward_part(m, 0, B_);
  assert_int_equal(rnnlab_get_grads(g, n, m), RNNLAB_OK);

  /* A non-zero value on a held entry is refused; the gradient stays as it was. */
  size_t held = n;
  for (size_t i = 0; i < n && held == n; ++i)
    if (!mask[i]) held = i;
  assert_true(held < n);
  memcpy(bad, g, n * sizeof *g);
  bad[held] = 1.0f;
  assert_int_equal(rnnlab_set_grads(m, bad, n), RNNLAB_E_FROZEN);
  assert_non_null(strstr(rnnlab_last_error(), "held"));
  assert_int_equal(rnnlab_get_grads(after, n, m), RNNLAB_OK);
  assert_memory_equal(g, after, n * sizeof *g);

  /* NaN is accepted and the update's guard drops it. */
  size_t free_i = 0;
  while (!mask[free_i]) ++free_i;
  memcpy(bad, g, n * sizeof *g);
  bad[free_i] = NAN;
  assert_int_equal(rnnlab_set_grads(m, bad, n), RNNLAB_OK);
  assert_int_equal(rnnlab_update(m), RNNLAB_OK);
  rnnlab_optimizer_state st = RNNLAB_OPTIMIZER_STATE_INIT;
  assert_int_equal(rnnlab_get_optimizer_state(&st, m), RNNLAB_OK);
  assert_int_equal(st.last_guard, 1);
  free(g);
  free(after);
  free(bad);
  free(mask);
  rnnlab_destroy(m);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_round_trip_and_split_batch),
      cmocka_unit_test(test_nan_reaches_the_guard_and_refusal_changes_nothing),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
