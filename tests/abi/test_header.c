/* The public headers as a C or C++ user sees them.
 *
 * tests/abi_checks.cmake compiles this file as strict C99 and as C++17 (-Wall -Wextra -pedantic
 * -Werror), next to one tiny source per header; it is also built and run as a test, which checks
 * what a compiler cannot: the version macros against the library actually linked, the _INIT macros'
 * struct_size and documented defaults, and the pinned values of the enumerations (part of the ABI).
 * It is written in the common subset of C99 and C++17 and needs nothing but the headers. */
#include <rnnlab/rnnlab.h>
#include <rnnlab/rnnlab.h> /* the include guard */
#ifdef __has_include
#if __has_include("rnnlab_public_headers.h")
#include "rnnlab_public_headers.h" /* generated: every header under include/rnnlab/ */
#endif
#endif

#include <math.h>
#include <stdio.h>
#include <string.h>

static int g_failed = 0;

#define CHECK(cond)                                                     \
  do {                                                                  \
    if (!(cond)) {                                                      \
      fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
      ++g_failed;                                                       \
    }                                                                   \
  } while (0)

#define CHECK_VALUE(name, value) CHECK((long)(name) == (long)(value))

static void check_version(void) {
  char want[64];
  snprintf(want, sizeof want, "%d.%d.%d", RNNLAB_VERSION_MAJOR, RNNLAB_VERSION_MINOR, RNNLAB_VERSION_PATCH);
  CHECK(rnnlab_version() != NULL);
  CHECK(strcmp(rnnlab_version(), want) == 0);
  CHECK(rnnlab_version_number() == (uint32_t)RNNLAB_VERSION_NUMBER);
  CHECK(RNNLAB_VERSION_NUMBER ==
        RNNLAB_VERSION_MAJOR * 10000 + RNNLAB_VERSION_MINOR * 100 + RNNLAB_VERSION_PATCH);
}

static void check_inits(void) {
  const rnnlab_config cfg = RNNLAB_CONFIG_INIT;
  const rnnlab_targets tg = RNNLAB_TARGETS_INIT;
  const rnnlab_diag diag = RNNLAB_DIAG_INIT;
  const rnnlab_summary sum = RNNLAB_SUMMARY_INIT;
  CHECK(cfg.struct_size == sizeof(rnnlab_config));
  CHECK(tg.struct_size == sizeof(rnnlab_targets));
  CHECK(diag.struct_size == sizeof(rnnlab_diag));
  CHECK(sum.struct_size == sizeof(rnnlab_summary));
  /* The defaults rnnlab.h documents field by field. */
  CHECK(cfg.cell == RNNLAB_CELL_GRU);
  CHECK(cfg.input_size == 0 && cfg.hidden_size == 0);
  CHECK(cfg.head == RNNLAB_HEAD_NONE && cfg.output_size == 0);
  CHECK(cfg.backend == RNNLAB_BACKEND_AUTO);
  CHECK(cfg.bias_mode == RNNLAB_BIAS_DOUBLE);
  CHECK(cfg.frozen_bias_mask == 0u);
  CHECK(cfg.frozen_bias_value[0] == 0.0f && cfg.frozen_bias_value[1] == 0.0f && cfg.frozen_bias_value[2] == 0.0f);
  CHECK(cfg.init == RNNLAB_INIT_PYTORCH);
  CHECK(cfg.bias_init == RNNLAB_BIAS_INIT_SCHEME && cfg.bias_init_mask == 0u);
  CHECK(cfg.bias_init_value[0] == 0.0f && cfg.bias_init_value[1] == 0.0f && cfg.bias_init_value[2] == 0.0f);
  CHECK(cfg.chrono_tmax == 0);
  CHECK(cfg.seed == 0u);
  CHECK(cfg.threads == 1);
  CHECK(cfg.diag_level == RNNLAB_DIAG_OFF);
  CHECK(cfg.sat_thresh == 0.05f);
  CHECK(cfg.bound == 1e-20);
  CHECK(cfg.max_batch == 0 && cfg.max_tape == 0);
  CHECK(cfg.denormals == RNNLAB_DENORMALS_FLUSH && cfg.cpu_isa == RNNLAB_ISA_AUTO);
  CHECK(tg.classes == NULL && tg.values == NULL && tg.dy == NULL && tg.count == 0);
  CHECK(diag.nonfinite_first_t == -1);
  /* struct_size is the first member of every versioned struct. */
  CHECK(offsetof(rnnlab_config, struct_size) == 0);
  CHECK(offsetof(rnnlab_targets, struct_size) == 0);
  CHECK(offsetof(rnnlab_diag, struct_size) == 0);
  CHECK(offsetof(rnnlab_summary, struct_size) == 0);
}

static void check_pinned_enums(void) {
  CHECK_VALUE(RNNLAB_CELL_GRU, 0);
  CHECK_VALUE(RNNLAB_CELL_GRU_RESET_BEFORE, 1);
  CHECK_VALUE(RNNLAB_CELL_RNN_TANH, 2);
  CHECK_VALUE(RNNLAB_CELL_RNN_SIGMOID, 3);
  CHECK_VALUE(RNNLAB_CELL_RNN_RELU, 4);
  CHECK_VALUE(RNNLAB_CELL_RNN_LINEAR, 5);
  CHECK_VALUE(RNNLAB_HEAD_NONE, 0);
  CHECK_VALUE(RNNLAB_HEAD_LAST_SOFTMAX, 1);
  CHECK_VALUE(RNNLAB_HEAD_EVERY_SOFTMAX, 2);
  CHECK_VALUE(RNNLAB_HEAD_LAST_LINEAR, 3);
  CHECK_VALUE(RNNLAB_BACKEND_AUTO, 0);
  CHECK_VALUE(RNNLAB_BACKEND_REFERENCE, 1);
  CHECK_VALUE(RNNLAB_BACKEND_CPU, 2);
  CHECK_VALUE(RNNLAB_BACKEND_CUDA, 3);
  CHECK_VALUE(RNNLAB_BIAS_DOUBLE, 0);
  CHECK_VALUE(RNNLAB_BIAS_SINGLE, 1);
  CHECK_VALUE(RNNLAB_GATE_R, 1);
  CHECK_VALUE(RNNLAB_GATE_Z, 2);
  CHECK_VALUE(RNNLAB_GATE_N, 4);
  CHECK_VALUE(RNNLAB_GATE_INDEX_R, 0);
  CHECK_VALUE(RNNLAB_GATE_INDEX_Z, 1);
  CHECK_VALUE(RNNLAB_GATE_INDEX_N, 2);
  CHECK_VALUE(RNNLAB_INIT_PYTORCH, 0);
  CHECK_VALUE(RNNLAB_INIT_ORTHOGONAL, 1);
  CHECK_VALUE(RNNLAB_INIT_ORTHOGONAL_STACKED, 2);
  CHECK_VALUE(RNNLAB_INIT_SIGMOID, 3);
  CHECK_VALUE(RNNLAB_INIT_BASIC_TANH, 4);
  CHECK_VALUE(RNNLAB_INIT_SMART_TANH, 5);
  CHECK_VALUE(RNNLAB_INIT_TEST, 6);
  CHECK_VALUE(RNNLAB_INIT_CS728_GRU, 7);
  CHECK_VALUE(RNNLAB_BIAS_INIT_SCHEME, 0);
  CHECK_VALUE(RNNLAB_BIAS_INIT_CONSTANT, 1);
  CHECK_VALUE(RNNLAB_BIAS_INIT_CHRONO, 2);
  CHECK_VALUE(RNNLAB_DIAG_OFF, 0);
  CHECK_VALUE(RNNLAB_DIAG_SUMMARY, 1);
  CHECK_VALUE(RNNLAB_DIAG_FULL, 2);
  CHECK_VALUE(RNNLAB_TRACE_GRAD_TIME, 0);
  CHECK_VALUE(RNNLAB_TRACE_SAT_TIME, 1);
  CHECK_VALUE(RNNLAB_TRACE_ACT_TIME, 2);
  CHECK_VALUE(RNNLAB_TRACE_CAND_ACT_TIME, 3);
  CHECK_VALUE(RNNLAB_TRACE_GATE_Z_SAT_TIME, 4);
  CHECK_VALUE(RNNLAB_TRACE_GATE_R_SAT_TIME, 5);
  CHECK_VALUE(RNNLAB_TRACE_GATE_Z_MEAN_TIME, 6);
  CHECK_VALUE(RNNLAB_TRACE_GATE_R_MEAN_TIME, 7);
  CHECK_VALUE(RNNLAB_TRACE_GATE_Z_PREACT_TIME, 8);
  CHECK_VALUE(RNNLAB_TRACE_SAT_FRAC_TIME, 9);
  CHECK_VALUE(RNNLAB_TRACE_GATE_Z_SAT_FRAC_TIME, 10);
  CHECK_VALUE(RNNLAB_TRACE_GATE_R_SAT_FRAC_TIME, 11);
  CHECK_VALUE(RNNLAB_TRACE_TRANSFER_TIME, 12);
  CHECK_VALUE(RNNLAB_BLOCK_HN, 0);
  CHECK_VALUE(RNNLAB_BLOCK_HZ, 1);
  CHECK_VALUE(RNNLAB_BLOCK_HR, 2);
  CHECK_VALUE(RNNLAB_FEATURE_ONEDNN, 0);
  CHECK_VALUE(RNNLAB_FEATURE_CUDA, 1);
  CHECK_VALUE(RNNLAB_FEATURE_LAPACK, 2);
  CHECK_VALUE(RNNLAB_FEATURE_NPZ, 3);
  CHECK_VALUE(RNNLAB_OK, 0);
  CHECK_VALUE(RNNLAB_E_FROZEN, -17);
}

/* Every trace has a name and the name maps back. */
static void check_trace_names(void) {
  int t;
  for (t = 0; t < (int)RNNLAB_TRACE_COUNT; ++t) {
    const char *name = rnnlab_trace_name((rnnlab_trace)t);
    rnnlab_trace back = RNNLAB_TRACE_COUNT;
    CHECK(name != NULL);
    if (!name) continue;
    CHECK(rnnlab_trace_from_name(&back, name) == RNNLAB_OK);
    CHECK((int)back == t);
  }
}

int main(void) {
  check_version();
  check_inits();
  check_pinned_enums();
  check_trace_names();
  if (g_failed) fprintf(stderr, "%d check(s) failed\n", g_failed);
  else printf("public header: version %s, all checks passed\n", rnnlab_version());
  return g_failed ? 1 : 0;
}
