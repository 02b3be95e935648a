/* A process that never uses a GPU never maps the CUDA libraries (the CUDA backend is a module the
 * library loads on demand, lib/core/cuda_plugin.cpp): after a CPU-side model and an AUTO model have
 * been created, stepped and back-propagated, and after rnnlab_has_feature(CUDA) and
 * rnnlab_backend_available(CUDA) have been asked, /proc/self/maps holds none of the CUDA runtime,
 * cuBLAS, cuDNN or rnnlab's CUDA module. In a CUDA build test_cuda_plugin checks the converse (the
 * module loaded shows up in the maps), so this check can see what it looks for. Where a GPU is usable
 * AUTO rightly loads the module: that half reports itself skipped. */
#include <rnnlab/rnnlab.h>

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

/* libcuda.so.1 (the driver) is left out: on a machine with a driver the cheap probe maps it; what a
   CPU-only process must not pay for is the CUDA runtime and what hangs off it. */
static const char *const kCudaLibs[] = {"libcudart", "libcublas", "libcudnn", "librnnlab_cuda"};

/* The first line of /proc/self/maps naming one of kCudaLibs (copied into line), or 0. */
static int cuda_mapped(char *line, size_t n) {
  FILE *f = fopen("/proc/self/maps", "r");
  assert_non_null(f);
  int found = 0;
  while (!found && fgets(line, (int)n, f)) {
    for (size_t k = 0; k < sizeof kCudaLibs / sizeof kCudaLibs[0]; ++k)
      if (strstr(line, kCudaLibs[k])) found = 1;
  }
  fclose(f);
  return found;
}

static void assert_nothing_cuda_mapped(const char *after) {
  char line[4096];
  if (cuda_mapped(line, sizeof line)) {
    fprintf(stderr, "after %s, /proc/self/maps has: %s", after, line);
    fail_msg("a CUDA library is mapped after %s", after);
  }
}

/* Creates a GRU with this backend, steps it, back-propagates, destroys it. */
static void run_model(rnnlab_backend backend) {
  enum { T = 3, B = 2, I = 2, H = 4 };
  rnnlab_config c = RNNLAB_CONFIG_INIT;
  c.cell = RNNLAB_CELL_GRU;
  c.input_size = I;
  c.hidden_size = H;
  c.backend = backend;
  c.seed = 5;
  rnnlab_model *m = NULL;
  assert_int_equal(rnnlab_create(&m, &c), RNNLAB_OK);
  float x[T * B * I], y[T * B * H], dy[T * B * H];
  for (int k = 0; k < T * B * I; ++k) x[k] = 0.1f * (float)(k % 5) - 0.2f;
  for (int k = 0; k < T * B * H; ++k) dy[k] = (k % 2) ? 0.5f : -0.25f;
  assert_int_equal(rnnlab_step(y, T * B * H, m, x, T * B * I, T, B), RNNLAB_OK);
  rnnlab_targets tg = RNNLAB_TARGETS_INIT;
  tg.dy = dy;
  tg.count = T * B * H;
  assert_int_equal(rnnlab_backward(m, &tg), RNNLAB_OK);
  rnnlab_destroy(m);
}

static void cpu_model_maps_no_cuda(void **state) {
  (void)state;
  assert_nothing_cuda_mapped("start-up (a library linked against the CUDA runtime?)");
  run_model(rnnlab_has_feature(RNNLAB_FEATURE_ONEDNN) ? RNNLAB_BACKEND_CPU : RNNLAB_BACKEND_REFERENCE);
  run_model(RNNLAB_BACKEND_REFERENCE);
  (void)rnnlab_has_feature(RNNLAB_FEATURE_CUDA); /* a file check, no load */
  assert_nothing_cuda_mapped("a CPU-side model and rnnlab_has_feature(CUDA)");
}

static void auto_model_maps_no_cuda_without_gpu(void **state) {
  (void)state;
  assert_nothing_cuda_mapped("rnnlab_backend_available(CUDA) without a usable GPU");
  run_model(RNNLAB_BACKEND_AUTO);
  assert_nothing_cuda_mapped("an AUTO model without a usable GPU");
}

int main(void) {
  const struct CMUnitTest cpu[] = {cmocka_unit_test(cpu_model_maps_no_cuda)};
  const struct CMUnitTest gpu_less[] = {cmocka_unit_test(auto_model_maps_no_cuda_without_gpu)};
  int failed = cmocka_run_group_tests_name("cpu_side", cpu, NULL, NULL);
  if (failed) return failed;
  /* Asked only now: on a machine with a usable GPU this loads the module. */
  if (rnnlab_backend_available(RNNLAB_BACKEND_CUDA)) {
    printf("SKIP (AUTO half): a CUDA device is usable here, so AUTO loads the CUDA module by design\n");
    return 77;
  }
  return cmocka_run_group_tests_name("auto_without_gpu", gpu_less, NULL, NULL);
}
