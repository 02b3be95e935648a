// The CPU backend's floating-point mode and instruction-set choice:
//   - denormals are flushed inside a pass by default and the result still matches the reference
//     (which keeps IEEE gradual underflow) on a case whose dL/dh_t decays through the denormal range;
//     RNNLAB_DENORMALS_KEEP gives the IEEE values there;
//   - the caller's MXCSR, and that of the OpenMP workers the call used, are what they were before
//     every entry point that computes;
//   - config.cpu_isa: AUTO resolves to rnnlab_cpu_isa_best(), every level up to it is accepted and
//     reported back, a level above it is refused.
#include "cmocka_cpp.h"

#include <rnnlab/rnnlab.h>

#include <cfloat>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "parity.h"

#if !defined(RNNLAB_HAVE_ONEDNN)
int main(void) {
  std::printf("SKIP: rnnlab was built without oneDNN, so there is no CPU backend\n");
  return 77;
}
#elif !(defined(__x86_64__) || defined(__i386__))
int main(void) {
  std::printf("SKIP: MXCSR (FTZ/DAZ) exists on x86 only\n");
  return 77;
}
#else
#include <omp.h>
#include <xmmintrin.h>

namespace {

using namespace parity;

constexpr unsigned kControl = 0xffc0u;  // MXCSR mode bits (exception flags 0-5 are sticky status)

rnnlab_model *make_decaying(rnnlab_backend be, rnnlab_denormals dn, int threads, const Shape &s) {
  rnnlab_config c = RNNLAB_CONFIG_INIT;
  c.cell = RNNLAB_CELL_RNN_TANH;
  c.input_size = s.I;
  c.hidden_size = s.H;
  c.head = RNNLAB_HEAD_LAST_LINEAR;
  c.output_size = s.O;
  c.backend = be;
  c.diag_level = RNNLAB_DIAG_FULL;
  c.threads = threads;
  c.denormals = dn;
  c.seed = 7;
  // Pascanu's sigmoid init: N(0, 0.01^2) weights, so ||dL/dh_t|| shrinks ~50x a step back and
  // crosses FLT_MIN (1.2e-38) some 20 steps before the end, then the denormal range, then 0.
  c.init = RNNLAB_INIT_SIGMOID;
  rnnlab_model *m = nullptr;
  if (rnnlab_create(&m, &c) != RNNLAB_OK) print_error("create: %s\n", rnnlab_last_error());
  return m;
}

// The first model of the process runs with flushing on two threads: the OpenMP workers are born
// inside its first call, and must not keep its mode (the IEEE model after it shares them).
void denormal_decay(void **) {
  const Shape s = {2, 6, 40, 3, 2};
  rnnlab_model *ref = make_decaying(RNNLAB_BACKEND_REFERENCE, RNNLAB_DENORMALS_KEEP, 1, s);
  rnnlab_model *flush = make_decaying(RNNLAB_BACKEND_CPU, RNNLAB_DENORMALS_FLUSH, 2, s);
  rnnlab_model *keep = make_decaying(RNNLAB_BACKEND_CPU, RNNLAB_DENORMALS_KEEP, 2, s);
  assert_non_null(ref);
  assert_non_null(flush);
  assert_non_null(keep);
  rnnlab_config got = RNNLAB_CONFIG_INIT;
  assert_int_equal(rnnlab_get_config(&got, flush), RNNLAB_OK);
  assert_int_equal(got.denormals, RNNLAB_DENORMALS_FLUSH);
  rnnlab::Rng rng(3);
  std::vector<float> x(static_cast<size_t>(s.T) * s.B * s.I), h0(static_cast<size_t>(s.B) * s.H);
  for (auto &v : x) v = static_cast<float>(rng.normal());
  for (auto &v : h0) v = static_cast<float>(rng.uniform(-0.5, 0.5));
  const Pass r = run(ref, RNNLAB_HEAD_LAST_LINEAR, s, x, h0, {s.T}, 5);
  const Pass f = run(flush, RNNLAB_HEAD_LAST_LINEAR, s, x, h0, {s.T}, 5);
  const Pass k = run(keep, RNNLAB_HEAD_LAST_LINEAR, s, x, h0, {s.T}, 5);
  // Everything the parity suite compares, at its tolerances, in both modes.
  compare(f, r, "flush vs reference");
  compare(k, r, "keep vs reference");
  const std::vector<double> &gr = r.traces[RNNLAB_TRACE_GRAD_TIME], &gf = f.traces[RNNLAB_TRACE_GRAD_TIME],
                            &gk = k.traces[RNNLAB_TRACE_GRAD_TIME];
  int in_denormal = 0, flushed = 0;
  if (std::getenv("RNNLAB_TEST_VERBOSE"))
    for (int t = 0; t < s.T; ++t) std::printf("t %2d  reference %-12g flush %-12g keep %-12g\n", t, gr[t], gf[t], gk[t]);
  for (int t = 0; t < s.T; ++t) {
    // ||dL/dh_t|| (mean over B = 3) below 1e-39: every entry of every row is below FLT_MIN.
    if (gr[t] > 0 && gr[t] < 1e-39) {
      ++in_denormal;
      if (gf[t] != 0.0) {
        print_error("t = %d: reference %g (denormal range), flushed CPU pass %g, expected 0\n", t, gr[t], gf[t]);
        fail();
      }
      ++flushed;
    }
    // IEEE mode follows the reference into the denormal range (a denormal near 1e-41 still has
    // 13 significant bits).
    if (gr[t] >= 1e-41 && gr[t] < FLT_MIN) {
      if (!(std::fabs(gk[t] - gr[t]) <= 1e-2 * gr[t])) {
        print_error("t = %d: reference %g, CPU pass with denormals kept %g\n", t, gr[t], gk[t]);
        fail();
      }
    }
    if (gr[t] >= 1e-30) {  // far above the denormal range: both modes agree with the reference
      assert_true(std::fabs(gf[t] - gr[t]) <= 1e-3 * gr[t]);
      assert_true(std::fabs(gk[t] - gr[t]) <= 1e-3 * gr[t]);
    }
  }
  std::printf("steps whose dL/dh_t lies in the denormal range: %d (flushed to 0: %d)\n", in_denormal, flushed);
  assert_true(in_denormal >= 1);  // the case does pass through the range
  rnnlab_destroy(ref);
  rnnlab_destroy(flush);
  rnnlab_destroy(keep);
}

// Reads MXCSR's mode bits on the caller and on each worker of a 2-thread OpenMP team.
void expect_mode(unsigned want, const char *after) {
  const unsigned mine = _mm_getcsr() & kControl;
  if (mine != (want & kControl)) {
    print_error("after %s: caller MXCSR mode 0x%04x, was 0x%04x\n", after, mine, want & kControl);
    fail();
  }
  unsigned workers[2] = {0, 0};
#pragma omp parallel num_threads(2)
  workers[omp_get_thread_num() & 1] = _mm_getcsr() & kControl;
  for (unsigned w : workers)
    if (w != (want & kControl)) {
      print_error("after %s: an OpenMP worker's MXCSR mode 0x%04x, was 0x%04x\n", after, w, want & kControl);
      fail();
    }
}

void caller_mode_for(unsigned mode, rnnlab_denormals dn) {
  const unsigned saved = _mm_getcsr();
  _mm_setcsr(mode);
  // Put the same mode on the pool's workers, as a caller with its own OpenMP code would have.
#pragma omp parallel num_threads(2)
  _mm_setcsr(mode);
  const Shape s = {3, 9, 12, 5, 4};
  rnnlab_config c = RNNLAB_CONFIG_INIT;
  c.cell = RNNLAB_CELL_GRU;
  c.input_size = s.I;
  c.hidden_size = s.H;
  c.head = RNNLAB_HEAD_EVERY_SOFTMAX;
  c.output_size = s.O;
  c.backend = RNNLAB_BACKEND_CPU;
  c.diag_level = RNNLAB_DIAG_FULL;
  c.threads = 2;
  c.denormals = dn;
  rnnlab_model *m = nullptr;
  assert_int_equal(rnnlab_create(&m, &c), RNNLAB_OK);
  expect_mode(mode, "rnnlab_create");
  std::vector<float> x(static_cast<size_t>(s.T) * s.B * s.I, 0.25f), y(static_cast<size_t>(s.T) * s.B * s.O);
  std::vector<int32_t> cls(static_cast<size_t>(s.T) * s.B, 1);
  assert_int_equal(rnnlab_reset(m), RNNLAB_OK);
  assert_int_equal(rnnlab_step(y.data(), y.size(), m, x.data(), x.size(), s.T, s.B), RNNLAB_OK);
  expect_mode(mode, "rnnlab_step");
  std::vector<float> J(static_cast<size_t>(s.H) * s.H);
  assert_int_equal(rnnlab_jacobian(J.data(), J.size(), m, 3, 1), RNNLAB_OK);
  expect_mode(mode, "rnnlab_jacobian");
  rnnlab_targets tg = RNNLAB_TARGETS_INIT;
  tg.classes = cls.data();
  tg.count = cls.size();
  assert_int_equal(rnnlab_backward(m, &tg), RNNLAB_OK);
  expect_mode(mode, "rnnlab_backward");
  rnnlab_diag d = RNNLAB_DIAG_INIT;
  assert_int_equal(rnnlab_diagnostics(&d, m), RNNLAB_OK);
  expect_mode(mode, "rnnlab_diagnostics");
  // Eval mode: the blocked path (B * T large enough) and the streaming path (T = 1, B = 1).
  assert_int_equal(rnnlab_set_training(m, 0), RNNLAB_OK);
  assert_int_equal(rnnlab_reset(m), RNNLAB_OK);
  assert_int_equal(rnnlab_step(y.data(), y.size(), m, x.data(), x.size(), s.T, s.B), RNNLAB_OK);
  expect_mode(mode, "rnnlab_step (eval, blocked)");
  double loss = 0;
  int32_t wrong = 0;
  assert_int_equal(rnnlab_loss(&loss, &wrong, m, &tg, 0.0f), RNNLAB_OK);
  expect_mode(mode, "rnnlab_loss");
  assert_int_equal(rnnlab_reset(m), RNNLAB_OK);
  assert_int_equal(rnnlab_step(y.data(), s.O, m, x.data(), s.I, 1, 1), RNNLAB_OK);
  expect_mode(mode, "rnnlab_step (eval, T = B = 1)");
  rnnlab_destroy(m);
  _mm_setcsr(saved);
#pragma omp parallel num_threads(2)
  _mm_setcsr(saved);
}

void caller_mode_unchanged(void **) {
  caller_mode_for(0x1f80u, RNNLAB_DENORMALS_FLUSH);  // the x86-64 default
  caller_mode_for(0x1f80u, RNNLAB_DENORMALS_KEEP);
  caller_mode_for(0x1f80u | 0x8040u, RNNLAB_DENORMALS_FLUSH);  // a caller that flushes already
  caller_mode_for(0x1f80u | 0x6000u, RNNLAB_DENORMALS_FLUSH);  // round toward zero
}

void isa_levels(void **) {
  const rnnlab_cpu_isa best = rnnlab_cpu_isa_best();
  std::printf("best ISA here: %s\n", rnnlab_cpu_isa_name(best));
  assert_true(best >= RNNLAB_ISA_BASELINE && best <= RNNLAB_ISA_AVX512);
  for (int lvl = RNNLAB_ISA_AUTO; lvl <= RNNLAB_ISA_AVX512; ++lvl) {
    rnnlab_config c = RNNLAB_CONFIG_INIT;
    c.input_size = 2;
    c.hidden_size = 3;
    c.backend = RNNLAB_BACKEND_CPU;
    c.cpu_isa = static_cast<rnnlab_cpu_isa>(lvl);
    rnnlab_model *m = nullptr;
    const rnnlab_status st = rnnlab_create(&m, &c);
    if (lvl <= best) {
      assert_int_equal(st, RNNLAB_OK);
      rnnlab_config got = RNNLAB_CONFIG_INIT;
      assert_int_equal(rnnlab_get_config(&got, m), RNNLAB_OK);
      assert_int_equal(got.cpu_isa, lvl == RNNLAB_ISA_AUTO ? best : lvl);
      rnnlab_destroy(m);
    } else {
      assert_int_equal(st, RNNLAB_E_UNSUPPORTED);
      assert_null(m);
      assert_non_null(std::strstr(rnnlab_last_error(), "config.cpu_isa"));
      assert_non_null(std::strstr(rnnlab_last_error(), rnnlab_cpu_isa_name(best)));
    }
  }
}

}  // namespace

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(denormal_decay),
      cmocka_unit_test(caller_mode_unchanged),
      cmocka_unit_test(isa_levels),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
#endif
