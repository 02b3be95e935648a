/* The C baseline of bindings/python/bench/overhead.py: the same two loops, timed from C.
 *   step: a T = 1, B = 1 eval step of a GRU (I = 1, H = 181, last-softmax O = 10), streaming
 *   p2:   the P2 iteration: GRU I = 7, H = 50, T = 220, B = 20, every-softmax O = 6,
 *         forward + backward + norm clipping + SGD update
 * Prints CPU microseconds per call (the fastest of 5 repeats). Run with OMP_NUM_THREADS=1. */
#include <rnnlab/rnnlab.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double now_us(void) {
  struct timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);  /* CPU time: waiting for a busy CPU is not counted */
  return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}
static int cmp(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}
static uint64_t st = 12345;
static float unif(void) {
  st = st * 6364136223846793005ull + 1442695040888963407ull;
  return (float)((st >> 40) / 16777216.0);
}
#define CHECK(c) do { if ((c) != RNNLAB_OK) { fprintf(stderr, "%s: %s\n", #c, rnnlab_last_error()); return 1; } } while (0)

int main(void) {
  double rep[5];
  /* step */
  rnnlab_config c = RNNLAB_CONFIG_INIT;
  c.input_size = 1; c.hidden_size = 181; c.head = RNNLAB_HEAD_LAST_SOFTMAX; c.output_size = 10;
  rnnlab_model *m;
  CHECK(rnnlab_create(&m, &c));
  CHECK(rnnlab_set_training(m, 0));
  float x1 = 0.5f, y1[10];
  int n = 20000;
  for (int r = 0; r < 5; ++r) {
    double t0 = now_us();
    for (int i = 0; i < n; ++i) CHECK(rnnlab_step(y1, 10, m, &x1, 1, 1, 1));
    rep[r] = (now_us() - t0) / n;
  }
  qsort(rep, 5, sizeof(double), cmp);
  printf("step_us %.3f\n", rep[0]);
  rnnlab_destroy(m);

  /* P2 */
  enum { T = 220, B = 20, I = 7, H = 50, O = 6 };
  rnnlab_config p = RNNLAB_CONFIG_INIT;
  p.input_size = I; p.hidden_size = H; p.head = RNNLAB_HEAD_EVERY_SOFTMAX; p.output_size = O;
  CHECK(rnnlab_create(&m, &p));
  rnnlab_optimizer_config oc = RNNLAB_OPTIMIZER_CONFIG_INIT;
  oc.lr = 0.01; oc.clip = RNNLAB_CLIP_RESCALE; oc.cutoff = 1.0;
  CHECK(rnnlab_set_optimizer(m, &oc));
  float *x = malloc(sizeof(float) * T * B * I), *y = malloc(sizeof(float) * T * B * O);
  int32_t *cl = malloc(sizeof(int32_t) * T * B);
  for (int i = 0; i < T * B * I; ++i) x[i] = unif();
  for (int i = 0; i < T * B; ++i) cl[i] = (int32_t)(unif() * O) % O;
  rnnlab_targets tg = RNNLAB_TARGETS_INIT;
  tg.classes = cl; tg.count = T * B;
  n = 200;
  for (int r = 0; r < 5; ++r) {
    double t0 = now_us();
    for (int i = 0; i < n; ++i) {
      CHECK(rnnlab_reset(m));
      CHECK(rnnlab_step(y, T * B * O, m, x, T * B * I, T, B));
      CHECK(rnnlab_backward(m, &tg));
      CHECK(rnnlab_update(m));
    }
    rep[r] = (now_us() - t0) / n;
  }
  qsort(rep, 5, sizeof(double), cmp);
  printf("p2_us %.3f\n", rep[0]);
  rnnlab_destroy(m);
  free(x); free(y); free(cl);
  return 0;
}
