/* diag_toy: what the diagnostics show while a GRU learns a long-memory task.
 *
 * The task is the CS728 "mem" task (rnnlab_data.h): 10 symbols, then a long blank stretch, then a cue
 * after which the model must replay the symbols. Before and after some AdamW training (with norm
 * clipping), it prints the profile of g_t = mean_b ||dL/dh_t|| (as log10), where in time the gradient
 * lives, and how saturated the update and reset gates are.
 *
 *   diag_toy [updates] [min_length]      (defaults 300 and 20)
 */
#include <rnnlab/rnnlab.h>

#include <stdio.h>
#include <stdlib.h>

#define CHECK(call)                                                                                    \
  do {                                                                                                 \
    rnnlab_status s_ = (call);                                                                         \
    if (s_ != RNNLAB_OK) {                                                                             \
      fprintf(stderr, "%s failed: %s (%s)\n", #call, rnnlab_status_string(s_), rnnlab_last_error()); \
      exit(1);                                                                                         \
    }                                                                                                  \
  } while (0)

static void show(rnnlab_model *m, const char *when) {
  rnnlab_diag d = RNNLAB_DIAG_INIT;
  rnnlab_summary g = RNNLAB_SUMMARY_INIT, zs = RNNLAB_SUMMARY_INIT, rs = RNNLAB_SUMMARY_INIT,
                 zm = RNNLAB_SUMMARY_INIT, zp = RNNLAB_SUMMARY_INIT;
  int64_t hist[10];
  CHECK(rnnlab_diagnostics(&d, m));
  CHECK(rnnlab_trace_summary(&g, hist, 10, 0, 0, m, RNNLAB_TRACE_GRAD_TIME));
  CHECK(rnnlab_trace_summary(&zs, NULL, 1, 0, 1, m, RNNLAB_TRACE_GATE_Z_SAT_TIME));
  CHECK(rnnlab_trace_summary(&rs, NULL, 1, 0, 1, m, RNNLAB_TRACE_GATE_R_SAT_TIME));
  CHECK(rnnlab_trace_summary(&zm, NULL, 1, 0, 1, m, RNNLAB_TRACE_GATE_Z_MEAN_TIME));
  CHECK(rnnlab_trace_summary(&zp, NULL, 1, 0, 0, m, RNNLAB_TRACE_GATE_Z_PREACT_TIME));
  double rho = 0;
  CHECK(rnnlab_spectral(&rho, NULL, m, RNNLAB_BLOCK_HN));
  printf("%s: loss %.3f, grad norm %.3g, T = %d, rho(W_hn) %.2f\n", when, d.loss, d.grad_norm, d.steps, rho);
  printf("  log10 g_t over the %d steps: mean %.2f  p05 %.2f  p50 %.2f  p95 %.2f  (range %.2f .. %.2f)\n", g.count,
         g.mean, g.p05, g.p50, g.p95, g.lo, g.hi);
  printf("  histogram:");
  for (int k = 0; k < 10; ++k) printf(" %lld", (long long)hist[k]);
  printf("\n  gates: z sat-dist %.3f, r sat-dist %.3f (0 = stuck at 0/1, 0.5 = undecided); mean z %.3f, "
         "z pre-activation %.2f\n",
         zs.mean, rs.mean, zm.mean, zp.mean);
}

int main(int argc, char **argv) {
  const int updates = argc > 1 ? atoi(argv[1]) : 300;
  const int min_length = argc > 2 ? atoi(argv[2]) : 20;
  const int B = 20;

  rnnlab_task_config tc = RNNLAB_TASK_CONFIG_INIT;
  tc.kind = RNNLAB_TASK_MEM;
  tc.min_length = min_length;
  tc.max_length = min_length + 10;
  tc.seed = 1;
  rnnlab_task *task = NULL;
  CHECK(rnnlab_task_create(&task, &tc));
  rnnlab_task_info ti = RNNLAB_TASK_INFO_INIT;
  CHECK(rnnlab_task_get_info(&ti, task));

  rnnlab_config cfg = RNNLAB_CONFIG_INIT;
  cfg.cell = RNNLAB_CELL_GRU;
  cfg.input_size = ti.input_size;
  cfg.hidden_size = 32;
  cfg.head = ti.head;
  cfg.output_size = ti.output_size;
  cfg.diag_level = RNNLAB_DIAG_FULL;
  cfg.seed = 3;
  rnnlab_model *m = NULL;
  CHECK(rnnlab_create(&m, &cfg));
  rnnlab_optimizer_config oc = RNNLAB_OPTIMIZER_CONFIG_INIT;
  oc.kind = RNNLAB_OPTIMIZER_ADAMW;
  oc.lr = 3e-3;
  oc.weight_decay = 0.01;
  oc.clip = RNNLAB_CLIP_RESCALE;
  oc.cutoff = 1.0;
  CHECK(rnnlab_set_optimizer(m, &oc));

  const size_t xcap = (size_t)ti.max_steps * B * ti.input_size, ccap = (size_t)ti.max_steps * B;
  float *x = malloc(sizeof(float) * xcap);
  int32_t *cls = malloc(sizeof(int32_t) * ccap);
  if (!x || !cls) return 1;
  for (int it = 0; it <= updates; ++it) {
    int32_t T = 0;
    CHECK(rnnlab_task_draw(&T, x, xcap, cls, ccap, NULL, 0, task, B, 0));
    CHECK(rnnlab_reset(m));
    CHECK(rnnlab_step(NULL, 0, m, x, (size_t)T * B * ti.input_size, T, B));
    rnnlab_targets tg = RNNLAB_TARGETS_INIT;
    tg.classes = cls;
    tg.count = (size_t)T * B;
    CHECK(rnnlab_backward(m, &tg));
    if (it == 0) show(m, "before training");
    if (it == updates) {
      char when[64];
      snprintf(when, sizeof when, "after %d AdamW updates", updates);
      show(m, when);
      break;
    }
    CHECK(rnnlab_update(m));
  }
  free(x);
  free(cls);
  rnnlab_destroy(m);
  rnnlab_task_destroy(task);
  return 0;
}
