// The CUDA backend against the reference backend, as test_cpu_parity checks the CPU backend: the
// full matrix (cell x head x diag level x frozen biases x bias mode) at small sizes including
// H = I = B = T = 1, split and T = 1 streaming calls, sequences longer than one internal chunk
// (64 steps), the Omega gradient, non-finite counts, eval mode, an odd H (181), and a checkpoint
// saved by a CUDA model loaded by a reference model. Tolerances are the CPU parity test's.
//
// Needs a usable CUDA device: without one it prints why and exits 77 (CTest: skipped).
#include "cmocka_cpp.h"

#include <rnnlab/rnnlab.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "core/backend.h"
#include "parity.h"

namespace {

using namespace parity;

// The backend under test. RNNLAB_CUDA_PARITY_ON_CPU=1 runs this same test on the CPU backend instead:
// a check of the test itself (targets, optimiser, checkpoint flow) on a machine without a GPU.
rnnlab_backend kCuda = RNNLAB_BACKEND_CUDA;

void full_matrix(void **) {
  const Shape small = {3, 5, 7, 4, 3};
  const Shape ones = {1, 1, 1, 1, 1};
  int cases = 0;
  for (rnnlab_cell cell : kCells)
    for (rnnlab_head head : kHeads)
      for (rnnlab_diag_level lvl : {RNNLAB_DIAG_OFF, RNNLAB_DIAG_SUMMARY, RNNLAB_DIAG_FULL})
        for (bool frozen : {false, true})
          for (rnnlab_bias_mode bm : {RNNLAB_BIAS_DOUBLE, RNNLAB_BIAS_SINGLE}) {
            matrix_case(small, cell, head, lvl, frozen, bm, {small.T}, 1, kCuda);
            ++cases;
          }
  for (rnnlab_cell cell : kCells)
    for (rnnlab_head head : kHeads) {
      matrix_case(ones, cell, head, RNNLAB_DIAG_FULL, false, RNNLAB_BIAS_DOUBLE, {1}, 1, kCuda);
      ++cases;
    }
  std::printf("compared %d configurations\n", cases);
}

void split_streaming_long(void **) {
  const Shape s = {2, 6, 9, 3, 4};
  for (rnnlab_cell cell : kCells) {
    matrix_case(s, cell, RNNLAB_HEAD_EVERY_SOFTMAX, RNNLAB_DIAG_FULL, false, RNNLAB_BIAS_DOUBLE, {5, 3, 1}, 1, kCuda);
    matrix_case(s, cell, RNNLAB_HEAD_LAST_SOFTMAX, RNNLAB_DIAG_FULL, true, RNNLAB_BIAS_DOUBLE,
                {1, 1, 1, 1, 1, 1, 1, 1, 1}, 1, kCuda);
  }
  // Longer than one chunk of steps (64), split across the chunk boundary, and an odd H.
  const Shape longer = {1, 4, 150, 2, 3};
  for (rnnlab_cell cell : kCells)
    matrix_case(longer, cell, RNNLAB_HEAD_EVERY_SOFTMAX, RNNLAB_DIAG_FULL, false, RNNLAB_BIAS_DOUBLE, {63, 2, 85}, 1,
                kCuda);
  const Shape odd = {3, 181, 5, 3, 10};
  matrix_case(odd, RNNLAB_CELL_GRU, RNNLAB_HEAD_LAST_SOFTMAX, RNNLAB_DIAG_FULL, true, RNNLAB_BIAS_DOUBLE, {5}, 1, kCuda);
  matrix_case(odd, RNNLAB_CELL_GRU_RESET_BEFORE, RNNLAB_HEAD_EVERY_SOFTMAX, RNNLAB_DIAG_SUMMARY, false,
              RNNLAB_BIAS_SINGLE, {2, 3}, 1, kCuda);
}

// P1's shape (I = 1, H = 181, B = 128) on a few steps: the sizes the benchmark runs.
void p1_shape(void **) {
  const Shape p1 = {1, 181, 12, 128, 10};
  matrix_case(p1, RNNLAB_CELL_GRU, RNNLAB_HEAD_LAST_SOFTMAX, RNNLAB_DIAG_FULL, true, RNNLAB_BIAS_DOUBLE, {12}, 1, kCuda);
  matrix_case(p1, RNNLAB_CELL_GRU, RNNLAB_HEAD_LAST_SOFTMAX, RNNLAB_DIAG_OFF, true, RNNLAB_BIAS_DOUBLE, {4, 8}, 1, kCuda);
  matrix_case(p1, RNNLAB_CELL_RNN_TANH, RNNLAB_HEAD_EVERY_SOFTMAX, RNNLAB_DIAG_FULL, false, RNNLAB_BIAS_SINGLE, {12}, 1,
              kCuda);
}

void omega_gradient(void **) {
  const Shape s = {3, 6, 9, 4, 3};
  for (rnnlab_cell cell : {RNNLAB_CELL_RNN_TANH, RNNLAB_CELL_RNN_SIGMOID, RNNLAB_CELL_RNN_RELU, RNNLAB_CELL_RNN_LINEAR}) {
    std::vector<float> w[2];
    for (int k = 0; k < 2; ++k) {
      rnnlab_model *m = make(k ? RNNLAB_BACKEND_REFERENCE : kCuda, cell, RNNLAB_HEAD_LAST_SOFTMAX, s, RNNLAB_DIAG_OFF,
                             false, RNNLAB_BIAS_SINGLE, 1);
      assert_non_null(m);
      rnnlab_optimizer_config oc = RNNLAB_OPTIMIZER_CONFIG_INIT;
      oc.alpha = 2.0;
      assert_int_equal(rnnlab_set_optimizer(m, &oc), RNNLAB_OK);
      rnnlab::Rng rng(7);
      std::vector<float> x(static_cast<size_t>(s.T) * s.B * s.I);
      for (auto &v : x) v = static_cast<float>(rng.normal());
      std::vector<int32_t> cls(s.B);
      for (auto &c : cls) c = static_cast<int32_t>(rng.below(s.O));
      rnnlab_targets tg = RNNLAB_TARGETS_INIT;
      tg.classes = cls.data();
      tg.count = cls.size();
      assert_int_equal(rnnlab_step(nullptr, 0, m, x.data(), x.size(), s.T, s.B), RNNLAB_OK);
      assert_int_equal(rnnlab_backward(m, &tg), RNNLAB_OK);
      size_t total = 0;
      assert_int_equal(rnnlab_param_count(&total, nullptr, m), RNNLAB_OK);
      w[k].resize(total);
      assert_int_equal(rnnlab_get_grads(w[k].data(), total, m), RNNLAB_OK);
      rnnlab_destroy(m);
    }
    near("grads with the Omega term", "omega cell " + std::to_string(cell), dvec(w[0]), dvec(w[1]), 1e-3);
  }
}

void nonfinite_inside(void **) {
  const Shape s = {2, 5, 12, 3, 2};
  for (rnnlab_cell cell : {RNNLAB_CELL_RNN_RELU, RNNLAB_CELL_RNN_LINEAR, RNNLAB_CELL_GRU}) {
    rnnlab_diag d[2];
    for (int k = 0; k < 2; ++k) {
      rnnlab_model *m =
          make(k ? RNNLAB_BACKEND_REFERENCE : kCuda, cell, RNNLAB_HEAD_LAST_LINEAR, s, RNNLAB_DIAG_OFF, false,
               RNNLAB_BIAS_DOUBLE, 1);
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
    if (cell != RNNLAB_CELL_GRU) assert_true(d[1].nonfinite > 0);
    assert_int_equal(d[0].nonfinite, d[1].nonfinite);
    assert_int_equal(d[0].nonfinite_first_t, d[1].nonfinite_first_t);
  }
}

// Eval mode in two pieces (the second longer than a chunk) against the reference, and the carried h.
void eval_mode(void **) {
  const Shape s = {3, 7, 100, 5, 4};
  for (rnnlab_cell cell : kCells)
    for (rnnlab_head head : kHeads) {
      const std::string ctx = "eval cell " + std::to_string(cell) + " head " + std::to_string(head);
      rnnlab_model *ref = make(RNNLAB_BACKEND_REFERENCE, cell, head, s, RNNLAB_DIAG_OFF, false, RNNLAB_BIAS_DOUBLE, 1);
      rnnlab_model *gpu = make(kCuda, cell, head, s, RNNLAB_DIAG_OFF, false, RNNLAB_BIAS_DOUBLE, 1);
      assert_non_null(ref);
      assert_non_null(gpu);
      rnnlab::Rng rng(31);
      const int W = head == RNNLAB_HEAD_NONE ? s.H : s.O;
      std::vector<float> x(static_cast<size_t>(s.T) * s.B * s.I), h0(static_cast<size_t>(s.B) * s.H);
      for (auto &v : x) v = static_cast<float>(rng.normal());
      for (auto &v : h0) v = static_cast<float>(rng.uniform(-0.5, 0.5));
      std::vector<float> y[2];
      rnnlab_model *ms[2] = {gpu, ref};
      for (int k = 0; k < 2; ++k) {
        assert_int_equal(rnnlab_set_training(ms[k], 0), RNNLAB_OK);
        assert_int_equal(rnnlab_set_h0(ms[k], h0.data(), h0.size(), s.B), RNNLAB_OK);
        y[k].assign(static_cast<size_t>(s.T) * s.B * W, -7.0f);
      }
      const int t1 = 7;
      const size_t yo = static_cast<size_t>(t1) * s.B * W, xo = static_cast<size_t>(t1) * s.B * s.I;
      assert_int_equal(rnnlab_step(y[0].data(), yo, gpu, x.data(), xo, t1, s.B), RNNLAB_OK);
      assert_int_equal(rnnlab_step(y[0].data() + yo, y[0].size() - yo, gpu, x.data() + xo, x.size() - xo, s.T - t1, s.B),
                       RNNLAB_OK);
      assert_int_equal(rnnlab_step(y[1].data(), y[1].size(), ref, x.data(), x.size(), s.T, s.B), RNNLAB_OK);
      near("eval y", ctx, dvec(y[0]), dvec(y[1]));
      std::vector<float> hc(h0.size()), hr(h0.size());
      assert_int_equal(rnnlab_get_hidden(hc.data(), hc.size(), gpu), RNNLAB_OK);
      assert_int_equal(rnnlab_get_hidden(hr.data(), hr.size(), ref), RNNLAB_OK);
      near("eval carried h", ctx, dvec(hc), dvec(hr));
      rnnlab_destroy(ref);
      rnnlab_destroy(gpu);
    }
}

// Two updates on the GPU, saved; a reference model loads the file and gives the same outputs and
// the same parameters; the GPU model continues as the loaded one does.
void checkpoint_to_cpu(void **) {
  const Shape s = {2, 8, 6, 3, 4};
  const std::string path = std::string(RNNLAB_TEST_TMPDIR) + "/cuda_checkpoint.rnnlab";
  rnnlab_model *gpu = make(kCuda, RNNLAB_CELL_GRU, RNNLAB_HEAD_LAST_SOFTMAX, s, RNNLAB_DIAG_FULL, true,
                           RNNLAB_BIAS_DOUBLE, 1);
  rnnlab_model *ref = make(RNNLAB_BACKEND_REFERENCE, RNNLAB_CELL_GRU, RNNLAB_HEAD_LAST_SOFTMAX, s, RNNLAB_DIAG_FULL,
                           true, RNNLAB_BIAS_DOUBLE, 1);
  assert_non_null(gpu);
  assert_non_null(ref);
  const rnnlab_optimizer_config oc = RNNLAB_OPTIMIZER_CONFIG_INIT;
  assert_int_equal(rnnlab_set_optimizer(gpu, &oc), RNNLAB_OK);
  assert_int_equal(rnnlab_set_optimizer(ref, &oc), RNNLAB_OK);
  rnnlab::Rng rng(3);
  std::vector<float> x(static_cast<size_t>(s.T) * s.B * s.I);
  for (auto &v : x) v = static_cast<float>(rng.normal());
  std::vector<int32_t> cls(s.B);
  for (auto &c : cls) c = static_cast<int32_t>(rng.below(s.O));
  rnnlab_targets tg = RNNLAB_TARGETS_INIT;
  tg.classes = cls.data();
  tg.count = cls.size();
  for (int u = 0; u < 2; ++u) {
    assert_int_equal(rnnlab_reset(gpu), RNNLAB_OK);
    assert_int_equal(rnnlab_step(nullptr, 0, gpu, x.data(), x.size(), s.T, s.B), RNNLAB_OK);
    assert_int_equal(rnnlab_backward(gpu, &tg), RNNLAB_OK);
    assert_int_equal(rnnlab_update(gpu), RNNLAB_OK);
  }
  assert_int_equal(rnnlab_save(gpu, path.c_str()), RNNLAB_OK);
  assert_int_equal(rnnlab_load(ref, path.c_str()), RNNLAB_OK);
  size_t total = 0;
  assert_int_equal(rnnlab_param_count(&total, nullptr, gpu), RNNLAB_OK);
  std::vector<float> pa(total), pb(total);
  assert_int_equal(rnnlab_get_params(pa.data(), total, gpu), RNNLAB_OK);
  assert_int_equal(rnnlab_get_params(pb.data(), total, ref), RNNLAB_OK);
  near("params after load", "checkpoint", dvec(pa), dvec(pb), 0);
  std::vector<float> ya(static_cast<size_t>(s.T) * s.B * s.O), yb(ya.size());
  assert_int_equal(rnnlab_reset(gpu), RNNLAB_OK);
  assert_int_equal(rnnlab_reset(ref), RNNLAB_OK);
  assert_int_equal(rnnlab_step(ya.data(), ya.size(), gpu, x.data(), x.size(), s.T, s.B), RNNLAB_OK);
  assert_int_equal(rnnlab_step(yb.data(), yb.size(), ref, x.data(), x.size(), s.T, s.B), RNNLAB_OK);
  near("y after load", "checkpoint", dvec(ya), dvec(yb));
  rnnlab_destroy(gpu);
  rnnlab_destroy(ref);
}

}  // namespace

int main(void) {
  std::string why;
  const char *on_cpu = std::getenv("RNNLAB_CUDA_PARITY_ON_CPU");
  if (on_cpu && std::string(on_cpu) == "1") {
    kCuda = RNNLAB_BACKEND_CPU;
    std::printf("RNNLAB_CUDA_PARITY_ON_CPU=1: checking this test on the CPU backend, not the GPU\n");
  } else if (!rnnlab::cuda_device_usable(&why)) {
    std::printf("SKIP: no usable CUDA device: %s\n", why.c_str());
    return 77;
  }
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(full_matrix),      cmocka_unit_test(split_streaming_long), cmocka_unit_test(p1_shape),
      cmocka_unit_test(omega_gradient),   cmocka_unit_test(nonfinite_inside),     cmocka_unit_test(eval_mode),
      cmocka_unit_test(checkpoint_to_cpu),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
