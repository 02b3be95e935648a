/* A fixed, small amount of work for instruction counting (bench/kernel_count.sh runs it under
 * valgrind --tool=callgrind): one P2 training iteration (GRU I = 7, H = 50, T = 220, B = 20,
 * every-softmax, forward + backward + clipped SGD update) and a P1-shaped pass cut to T = 64
 * (I = 1, H = 181, B = 64, last-softmax, full diagnostics). Instruction counts are repeatable on a
 * busy machine where times are not: two versions of a kernel, or two ISA levels of the same build
 * (RNNLAB_CPU_ISA=baseline|avx2|avx512), compare exactly. Uses the 0.1 API only, so it also builds
 * against older versions of the library. */
#include <rnnlab/rnnlab.h>
#include <stdio.h>
#include <stdlib.h>

static int run(int I, int H, int T, int B, int O, rnnlab_head head, rnnlab_diag_level lvl, int update) {
  rnnlab_config c = RNNLAB_CONFIG_INIT;
  c.cell = RNNLAB_CELL_GRU;
  c.input_size = I;
  c.hidden_size = H;
  c.head = head;
  c.output_size = O;
  c.backend = RNNLAB_BACKEND_CPU;
  c.diag_level = lvl;
  c.seed = 1;
  rnnlab_model *m = NULL;
  if (rnnlab_create(&m, &c) != RNNLAB_OK) {
    fprintf(stderr, "create: %s\n", rnnlab_last_error());
    return 1;
  }
  size_t nx = (size_t)T * B * I, ny = (size_t)T * B * O, nc = head == RNNLAB_HEAD_EVERY_SOFTMAX ? (size_t)T * B : (size_t)B;
  float *x = malloc(nx * sizeof *x), *y = malloc(ny * sizeof *y);
  int32_t *cls = malloc(nc * sizeof *cls);
  unsigned s = 12345u;
  for (size_t i = 0; i < nx; ++i) {
    s = s * 1664525u + 1013904223u;
    x[i] = (float)((s >> 8) & 0xffff) / 65536.0f - 0.5f;
  }
  for (size_t i = 0; i < nc; ++i) cls[i] = (int32_t)(i % (size_t)O);
  rnnlab_targets tg = RNNLAB_TARGETS_INIT;
  tg.classes = cls;
  tg.count = nc;
  int rc = rnnlab_reset(m) || rnnlab_step(y, ny, m, x, nx, T, B) || rnnlab_backward(m, &tg);
  if (!rc && update) {
    rnnlab_optimizer_config oc = RNNLAB_OPTIMIZER_CONFIG_INIT;
    oc.lr = 0.01;
    oc.clip = RNNLAB_CLIP_RESCALE;
    oc.cutoff = 1.0;
    rc = rnnlab_set_optimizer(m, &oc) || rnnlab_update(m);
  }
  if (rc) fprintf(stderr, "pass: %s\n", rnnlab_last_error());
  free(x);
  free(y);
  free(cls);
  rnnlab_destroy(m);
  return rc;
}

int main(void) {
  if (run(7, 50, 220, 20, 6, RNNLAB_HEAD_EVERY_SOFTMAX, RNNLAB_DIAG_OFF, 1)) return 1;
  if (run(1, 181, 64, 64, 10, RNNLAB_HEAD_LAST_SOFTMAX, RNNLAB_DIAG_FULL, 0)) return 1;
  return 0;
}
