// The CPU backend against the reference backend on the same parameters and batches: outputs, loss,
// every gradient (parameters, x, h0), every diagnostic trace and scalar, the Jacobian, and the
// tape contract (split steps, T = 1 streaming, truncated BPTT). Full matrix at small sizes:
// cell x head x diag level x frozen biases x bias mode, including H = I = B = T = 1.
//
// Tolerances (float32 against float32, different summation orders): values are compared with
// |a - b| <= 1e-4 * max|b| + 1e-4 * |b| per array; counts (steps_in_past, nonfinite) exactly.
#include "cmocka_cpp.h"

#include <rnnlab/rnnlab.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "parity.h"

#ifdef RNNLAB_HAVE_XSMM
#include "cpu/xsmm.h"
#endif

#ifndef RNNLAB_HAVE_ONEDNN
int main(void) {
  std::printf("SKIP: rnnlab was built without oneDNN, so there is no CPU backend to compare\n");
  return 77;
}
#else

namespace {

using namespace parity;

void full_matrix(void **) {
  const Shape small = {3, 5, 7, 4, 3};
  const Shape ones = {1, 1, 1, 1, 1};
  int cases = 0;
  for (rnnlab_cell cell : kCells)
    for (rnnlab_head head : kHeads)
      for (rnnlab_diag_level lvl : {RNNLAB_DIAG_OFF, RNNLAB_DIAG_SUMMARY, RNNLAB_DIAG_FULL})
        for (bool frozen : {false, true})
          for (rnnlab_bias_mode bm : {RNNLAB_BIAS_DOUBLE, RNNLAB_BIAS_SINGLE}) {
            matrix_case(small, cell, head, lvl, frozen, bm, {small.T}, 1);
            ++cases;
          }
  for (rnnlab_cell cell : kCells)
    for (rnnlab_head head : kHeads) {
      matrix_case(ones, cell, head, RNNLAB_DIAG_FULL, false, RNNLAB_BIAS_DOUBLE, {1}, 1);
      ++cases;
    }
  std::printf("compared %d configurations\n", cases);
}

// Split steps, T = 1 streaming, and two threads.
void split_and_threads(void **) {
  const Shape s = {2, 6, 9, 3, 4};
  for (rnnlab_cell cell : kCells) {
    matrix_case(s, cell, RNNLAB_HEAD_EVERY_SOFTMAX, RNNLAB_DIAG_FULL, false, RNNLAB_BIAS_DOUBLE, {5, 3, 1}, 1);
    matrix_case(s, cell, RNNLAB_HEAD_LAST_SOFTMAX, RNNLAB_DIAG_FULL, true, RNNLAB_BIAS_DOUBLE,
                {1, 1, 1, 1, 1, 1, 1, 1, 1}, 2);
  }
  // Longer than one internal chunk of steps (chunks are 32 steps).
  // Each thread of the team runs its own rows through every step (forward_rows, backward_rows):
  // uneven row counts (5 sequences over 2 and 3 threads), every head, every cell.
  const Shape five = {2, 5, 9, 5, 3};
  for (rnnlab_cell cell : kCells)
    for (rnnlab_head head : kHeads)
      matrix_case(five, cell, head, RNNLAB_DIAG_FULL, false, RNNLAB_BIAS_DOUBLE, {4, 5}, cell % 2 ? 2 : 3);
  const Shape longer = {1, 4, 70, 2, 3};
  matrix_case(longer, RNNLAB_CELL_GRU, RNNLAB_HEAD_LAST_SOFTMAX, RNNLAB_DIAG_FULL, false, RNNLAB_BIAS_DOUBLE, {33, 37}, 2);
  matrix_case(longer, RNNLAB_CELL_GRU_RESET_BEFORE, RNNLAB_HEAD_EVERY_SOFTMAX, RNNLAB_DIAG_FULL, false,
              RNNLAB_BIAS_SINGLE, {70}, 1);
}

// Pascanu's Omega term (alpha > 0, vanilla RNNs): its gradient is added to weight_hh's before the
// clipping norm; the CPU backend computes it with its own GEMMs.
// Shapes whose per-step GEMMs go to libxsmm where it is built in and runs at this ISA level
// (cpu/xsmm.h): the forward h W_hh^T (N = 3H, 2H or H), dL/dh_{t-1} += dG W_hh (N = H), and, in
// eval_mode's last case, the eval GEMMs (N = 70 sequences). Against the reference like the matrix.
void small_gemm_paths(void **) {
  const Shape s = {3, 64, 4, 70, 4};
#ifdef RNNLAB_HAVE_XSMM
  if (rnnlab::xsmm_usable(rnnlab_cpu_isa_best())) {
    // Make sure these shapes really take the libxsmm path (one thread: 70 rows; two: 35).
    for (int nb : {70, 35}) {
      assert_true(rnnlab::xsmm_prefer(nb, 3 * s.H, s.H));  // LBR forward
      assert_true(rnnlab::xsmm_prefer(nb, 2 * s.H, s.H));  // reset-before forward
      assert_true(rnnlab::xsmm_prefer(nb, s.H, s.H));      // vanilla forward, reset-before's candidate
      assert_true(rnnlab::xsmm_prefer(nb, s.H, 3 * s.H));  // backward
    }
    assert_true(rnnlab::xsmm_prefer(3 * s.H, 70, s.H + s.I));  // eval
    std::printf("libxsmm kernels (%s) on these shapes\n", rnnlab::xsmm_target_name());
  } else {
    std::printf("libxsmm not used at this ISA level (%s): dnnl_sgemm on these shapes\n", rnnlab::xsmm_target_name());
  }
#else
  std::printf("built without libxsmm: dnnl_sgemm on these shapes\n");
#endif
  for (rnnlab_cell cell : kCells)
    for (int threads : {1, 2})
      matrix_case(s, cell, threads == 1 ? RNNLAB_HEAD_EVERY_SOFTMAX : RNNLAB_HEAD_LAST_SOFTMAX, RNNLAB_DIAG_FULL,
                  false, RNNLAB_BIAS_DOUBLE, threads == 1 ? std::vector<int>{4} : std::vector<int>{1, 3}, threads);
  // Steps large enough (B * G*H * H > 2 Mi multiply-adds) for the other arrangement of a training
  // pass: one team-wide GEMM per step, the row loops in parallel (CpuBackend::teams).
  const Shape gru_wide = {2, 128, 3, 48, 3}, rnn_wide = {2, 256, 3, 40, 3};
  for (rnnlab_cell cell : kCells)
    matrix_case(cell == RNNLAB_CELL_GRU || cell == RNNLAB_CELL_GRU_RESET_BEFORE ? gru_wide : rnn_wide, cell,
                RNNLAB_HEAD_EVERY_SOFTMAX, RNNLAB_DIAG_FULL, false, RNNLAB_BIAS_DOUBLE, {2, 1}, 2);
}

void omega_gradient(void **) {
  const Shape s = {3, 6, 9, 4, 3};
  // Two threads too: with Omega the backward's team is one thread and its row loops run in parallel.
  for (int threads : {1, 2})
  for (rnnlab_cell cell : {RNNLAB_CELL_RNN_TANH, RNNLAB_CELL_RNN_SIGMOID, RNNLAB_CELL_RNN_RELU, RNNLAB_CELL_RNN_LINEAR})
    for (rnnlab_head head : {RNNLAB_HEAD_LAST_SOFTMAX, RNNLAB_HEAD_EVERY_SOFTMAX}) {
      Pass p[2];
      for (int k = 0; k < 2; ++k) {
        rnnlab_model *m = make(k ? RNNLAB_BACKEND_REFERENCE : RNNLAB_BACKEND_CPU, cell, head, s, RNNLAB_DIAG_OFF, false,
                               RNNLAB_BIAS_SINGLE, k ? 1 : threads);
        assert_non_null(m);
        rnnlab_optimizer_config oc = RNNLAB_OPTIMIZER_CONFIG_INIT;
        oc.alpha = 2.0;
        assert_int_equal(rnnlab_set_optimizer(m, &oc), RNNLAB_OK);
        rnnlab::Rng rng(7);
        std::vector<float> x(static_cast<size_t>(s.T) * s.B * s.I), h0(static_cast<size_t>(s.B) * s.H);
        for (auto &v : x) v = static_cast<float>(rng.normal());
        for (auto &v : h0) v = static_cast<float>(rng.uniform(-0.5, 0.5));
        p[k] = run(m, head, s, x, h0, {s.T}, 3);
        rnnlab_destroy(m);
      }
      char ctx[64];
      std::snprintf(ctx, sizeof ctx, "omega cell %d head %d", cell, head);
      near("grads with alpha * dOmega", ctx, dvec(p[0].grads), dvec(p[1].grads), 2e-4);
      near("omega at level off", ctx, {p[0].d.omega}, {p[1].d.omega}, 1e-3);
      assert_true(std::isfinite(p[0].d.omega));
    }
}

// Values that overflow inside the pass (a relu RNN with huge recurrent weights): both backends
// complete the pass and count the same non-finite entries from the same first step.
void nonfinite_inside(void **) {
  const Shape s = {2, 5, 12, 3, 2};
  // Two threads as well: the first non-finite step is found across the team's rows.
  for (int threads : {1, 2})
  for (rnnlab_cell cell : {RNNLAB_CELL_RNN_RELU, RNNLAB_CELL_RNN_LINEAR, RNNLAB_CELL_GRU}) {
    rnnlab_diag d[2];
    for (int k = 0; k < 2; ++k) {
      rnnlab_model *m = make(k ? RNNLAB_BACKEND_REFERENCE : RNNLAB_BACKEND_CPU, cell, RNNLAB_HEAD_LAST_LINEAR, s,
                             RNNLAB_DIAG_OFF, false, RNNLAB_BIAS_DOUBLE, k ? 1 : threads);
      assert_non_null(m);
      rnnlab_tensor_info ti;
      assert_int_equal(rnnlab_tensor_info_by_name(&ti, m, "weight_hh"), RNNLAB_OK);
      std::vector<float> w(ti.count, 3e7f), x(static_cast<size_t>(s.T) * s.B * s.I, 1.0f);
      assert_int_equal(rnnlab_set_tensor(m, "weight_hh", w.data(), w.size()), RNNLAB_OK);
      assert_int_equal(rnnlab_step(nullptr, 0, m, x.data(), x.size(), s.T, s.B), RNNLAB_OK);
      std::vector<float> v(static_cast<size_t>(s.B) * s.O, 0.5f);
      rnnlab_targets tg = RNNLAB_TARGETS_INIT;
      tg.values = v.data();
      tg.count = v.size();
      assert_int_equal(rnnlab_backward(m, &tg), RNNLAB_OK);
      d[k] = RNNLAB_DIAG_INIT;
      assert_int_equal(rnnlab_diagnostics(&d[k], m), RNNLAB_OK);
      rnnlab_destroy(m);
    }
    if (cell != RNNLAB_CELL_GRU) assert_true(d[1].nonfinite > 0);  // the case really overflows
    assert_int_equal(d[0].nonfinite, d[1].nonfinite);
    assert_int_equal(d[0].nonfinite_first_t, d[1].nonfinite_first_t);
  }
}

// Eval mode (nothing recorded) runs a separate path on the CPU backend: blocks of sequences, each
// through all its steps on one thread, in a unit-major layout. Against the reference in eval mode:
// outputs of every piece of a split sequence, the carried hidden state, rnnlab_loss and its wrong
// count; and against the CPU backend's own training-mode outputs. Batches that give one block, a
// block per thread with a short last one, and several blocks on one thread.
void eval_mode(void **) {
  struct Case {
    Shape s;
    int threads;
  };
  // The last case is wide enough for libxsmm's kernels (small_gemm_paths).
  const Case cases[] = {{{3, 5, 7, 1, 4}, 1},  {{2, 9, 6, 70, 3}, 2}, {{4, 5, 5, 300, 3}, 1},
                        {{1, 1, 3, 17, 2}, 2}, {{3, 64, 3, 70, 4}, 1}};
  int compared = 0;
  for (const Case &c : cases)
    for (rnnlab_cell cell : kCells)
      for (rnnlab_head head : kHeads)
        for (bool frozen : {false, true}) {
          const Shape &s = c.s;
          char ctx[160];
          std::snprintf(ctx, sizeof ctx, "eval cell %d head %d frozen %d I%d H%d T%d B%d threads %d", cell, head, frozen,
                        s.I, s.H, s.T, s.B, c.threads);
          const rnnlab_bias_mode bm = frozen ? RNNLAB_BIAS_SINGLE : RNNLAB_BIAS_DOUBLE;
          rnnlab_model *ref = make(RNNLAB_BACKEND_REFERENCE, cell, head, s, RNNLAB_DIAG_OFF, frozen, bm, 1);
          rnnlab_model *cpu = make(RNNLAB_BACKEND_CPU, cell, head, s, RNNLAB_DIAG_OFF, frozen, bm, c.threads);
          rnnlab_model *trn = make(RNNLAB_BACKEND_CPU, cell, head, s, RNNLAB_DIAG_FULL, frozen, bm, c.threads);
          assert_non_null(ref);
          assert_non_null(cpu);
          assert_non_null(trn);
          rnnlab::Rng rng(31);
          const int W = head == RNNLAB_HEAD_NONE ? s.H : s.O;
          std::vector<float> x(static_cast<size_t>(s.T) * s.B * s.I), h0(static_cast<size_t>(s.B) * s.H);
          for (auto &v : x) v = static_cast<float>(rng.normal());
          for (auto &v : h0) v = static_cast<float>(rng.uniform(-0.5, 0.5));
          assert_int_equal(rnnlab_set_training(ref, 0), RNNLAB_OK);
          assert_int_equal(rnnlab_set_training(cpu, 0), RNNLAB_OK);
          // Non-zero biases (the init leaves them at 0), the same in the three models; frozen models
          // keep their cell biases (setting a frozen gate's bias to another value is refused).
          for (const char *name : {"bias_ih", "bias_hh", "head.bias"}) {
            rnnlab_tensor_info ti;
            if (frozen && std::strncmp(name, "bias_", 5) == 0) continue;
            if (rnnlab_tensor_info_by_name(&ti, cpu, name) != RNNLAB_OK) continue;  // no head, or single bias
            std::vector<float> v(ti.count);
            for (auto &e : v) e = static_cast<float>(rng.uniform(-0.5, 0.5));
            for (rnnlab_model *m : {cpu, ref, trn}) assert_int_equal(rnnlab_set_tensor(m, name, v.data(), v.size()), RNNLAB_OK);
          }
          std::vector<float> y[3];
          rnnlab_model *ms[3] = {cpu, ref, trn};
          for (int k = 0; k < 3; ++k) {
            assert_int_equal(rnnlab_set_h0(ms[k], h0.data(), h0.size(), s.B), RNNLAB_OK);
            y[k].assign(static_cast<size_t>(s.T) * s.B * W, -7.0f);
          }
          // The CPU eval model in two pieces (the hidden state carried between them), the others whole.
          const int t1 = s.T / 2;
          const size_t yo = static_cast<size_t>(t1) * s.B * W, xo = static_cast<size_t>(t1) * s.B * s.I;
          assert_int_equal(rnnlab_step(y[0].data(), yo, cpu, x.data(), xo, t1, s.B), RNNLAB_OK);
          assert_int_equal(rnnlab_step(y[0].data() + yo, y[0].size() - yo, cpu, x.data() + xo, x.size() - xo, s.T - t1, s.B),
                           RNNLAB_OK);
          for (int k = 1; k < 3; ++k)
            assert_int_equal(rnnlab_step(y[k].data(), y[k].size(), ms[k], x.data(), x.size(), s.T, s.B), RNNLAB_OK);
          near("eval y vs reference", ctx, dvec(y[0]), dvec(y[1]));
          near("eval y vs training mode", ctx, dvec(y[0]), dvec(y[2]));
          std::vector<float> hc(h0.size()), hr(h0.size());
          assert_int_equal(rnnlab_get_hidden(hc.data(), hc.size(), cpu), RNNLAB_OK);
          assert_int_equal(rnnlab_get_hidden(hr.data(), hr.size(), ref), RNNLAB_OK);
          near("eval carried h", ctx, dvec(hc), dvec(hr));
          if (head != RNNLAB_HEAD_NONE) {
            // rnnlab_loss scores the last call's outputs: give both models the same last piece.
            const int tl = s.T - t1;
            assert_int_equal(rnnlab_set_h0(ref, hr.data(), hr.size(), s.B), RNNLAB_OK);
            assert_int_equal(rnnlab_set_h0(cpu, hr.data(), hr.size(), s.B), RNNLAB_OK);
            std::vector<float> ya(static_cast<size_t>(tl) * s.B * W), yb(ya.size());
            assert_int_equal(rnnlab_step(ya.data(), ya.size(), cpu, x.data() + xo, x.size() - xo, tl, s.B), RNNLAB_OK);
            assert_int_equal(rnnlab_step(yb.data(), yb.size(), ref, x.data() + xo, x.size() - xo, tl, s.B), RNNLAB_OK);
            std::vector<int32_t> cls(static_cast<size_t>(head == RNNLAB_HEAD_EVERY_SOFTMAX ? tl : 1) * s.B);
            std::vector<float> vals(static_cast<size_t>(s.B) * s.O);
            // Targets from the reference's own argmax on most rows, so that the wrong count is not trivial.
            for (size_t k = 0; k < cls.size(); ++k) {
              const float *row = yb.data() + (head == RNNLAB_HEAD_EVERY_SOFTMAX ? k : (static_cast<size_t>(tl) - 1) * s.B + k) * W;
              cls[k] = static_cast<int32_t>(std::max_element(row, row + W) - row);
              if (rng.below(4) == 0) cls[k] = static_cast<int32_t>(rng.below(s.O));
            }
            for (auto &v : vals) v = static_cast<float>(rng.uniform());
            rnnlab_targets tg = RNNLAB_TARGETS_INIT;
            if (head == RNNLAB_HEAD_LAST_LINEAR) {
              tg.values = vals.data();
              tg.count = vals.size();
            } else {
              tg.classes = cls.data();
              tg.count = cls.size();
            }
            double la = 0, lb = 0;
            int32_t wa = -1, wb = -2;
            assert_int_equal(rnnlab_loss(&la, &wa, cpu, &tg, 0.3f), RNNLAB_OK);
            assert_int_equal(rnnlab_loss(&lb, &wb, ref, &tg, 0.3f), RNNLAB_OK);
            near("eval loss", ctx, {la}, {lb});
            assert_int_equal(wa, wb);
          }
          rnnlab_destroy(ref);
          rnnlab_destroy(cpu);
          rnnlab_destroy(trn);
          ++compared;
        }
  std::printf("compared %d eval-mode configurations\n", compared);
}

}  // namespace

int main(void) {
  // CTest runs this suite once per ISA level (tests/CMakeLists.txt: RNNLAB_CPU_ISA caps the level,
  // RNNLAB_TEST_REQUIRE_ISA says which one this run is for). A level the processor lacks is a skip.
  const rnnlab_cpu_isa best = rnnlab_cpu_isa_best();
  if (const char *want = std::getenv("RNNLAB_TEST_REQUIRE_ISA")) {
    if (std::strcmp(want, rnnlab_cpu_isa_name(best)) != 0) {
      std::printf("SKIP: this run is for the %s kernels, but this processor's best level is %s\n", want,
                  rnnlab_cpu_isa_name(best));
      return 77;
    }
  }
  std::printf("CPU backend kernels: %s\n", rnnlab_cpu_isa_name(best));
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(full_matrix),
      cmocka_unit_test(split_and_threads),
      cmocka_unit_test(small_gemm_paths),
      cmocka_unit_test(omega_gradient),
      cmocka_unit_test(nonfinite_inside),
      cmocka_unit_test(eval_mode),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
#endif
