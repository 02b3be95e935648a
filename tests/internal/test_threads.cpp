// Concurrency: four threads, each driving a model of its own through the whole API (create, step,
// backward, update, diagnostics, traces, spectral, save, load, export/import npz) at the same time,
// and rnnlab_last_error checked to be per thread. Run in every pass, and in .ci/run's
// ThreadSanitizer build (RNNLAB_SANITIZE=thread), where it is the point: distinct handles must share
// no unsynchronised state (caches, counters, the error message, the I/O layer's temporaries).
// Each model runs with threads = 1: the CPU backend's OpenMP runtime (libgomp) is not built with
// TSan, so the synchronisation inside a parallel region would be invisible to it and reported as
// races; a single-thread team never leaves the calling thread.
//
// Every other header comes before cmocka.h (its fail() macro).
#include <rnnlab/rnnlab.h>

#include <atomic>
#include <cmath>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "cmocka_cpp.h"

#ifndef RNNLAB_TEST_TMPDIR
#define RNNLAB_TEST_TMPDIR "/tmp"
#endif

namespace {

constexpr int kThreads = 4;
constexpr int kIters = 20;

// A reusable barrier (C++17 has none).
class Barrier {
 public:
  explicit Barrier(int n) : n_(n) {}
  void wait() {
    std::unique_lock<std::mutex> lk(mu_);
    const long gen = gen_;
    if (++count_ == n_) {
      count_ = 0;
      ++gen_;
      cv_.notify_all();
    } else {
      cv_.wait(lk, [&] { return gen_ != gen; });
    }
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  int n_, count_ = 0;
  long gen_ = 0;
};

struct Result {
  std::string failure;  // empty: all good
  long ops = 0;
};

#define T_OK(call)                                                                                      \
  do {                                                                                                  \
    const rnnlab_status s_ = (call);                                                                    \
    ++r->ops;                                                                                           \
    if (s_ != RNNLAB_OK) {                                                                              \
      r->failure = std::string(#call) + ": " + rnnlab_status_string(s_) + " (" + rnnlab_last_error() + ")"; \
      return;                                                                                           \
    }                                                                                                   \
  } while (0)

#define T_CHECK(cond, what)  \
  do {                       \
    if (!(cond)) {           \
      r->failure = (what);   \
      return;                \
    }                        \
  } while (0)

void worker(int id, Barrier *barrier, Result *r) {
  const bool cpu = id % 2 == 1 && rnnlab_has_feature(RNNLAB_FEATURE_ONEDNN);
  rnnlab_config c = RNNLAB_CONFIG_INIT;
  c.cell = id < 2 ? RNNLAB_CELL_GRU : RNNLAB_CELL_RNN_TANH;
  c.input_size = 2 + id;
  c.hidden_size = 8 + id;
  c.head = RNNLAB_HEAD_LAST_SOFTMAX;
  c.output_size = 3;
  c.backend = cpu ? RNNLAB_BACKEND_CPU : RNNLAB_BACKEND_REFERENCE;
  c.threads = 1;
  c.diag_level = RNNLAB_DIAG_FULL;
  c.seed = 100 + static_cast<uint64_t>(id);
  rnnlab_model *m = nullptr;
  T_OK(rnnlab_create(&m, &c));
  rnnlab_optimizer_config o = RNNLAB_OPTIMIZER_CONFIG_INIT;
  o.kind = RNNLAB_OPTIMIZER_ADAM;
  o.lr = 1e-2;
  o.clip = RNNLAB_CLIP_RESCALE;
  o.cutoff = 1.0;
  T_OK(rnnlab_set_optimizer(m, &o));

  const int T = 5, B = 3;
  std::vector<float> x(static_cast<size_t>(T) * B * c.input_size), y(static_cast<size_t>(T) * B * c.output_size);
  std::vector<int32_t> labels(B);
  std::vector<double> trace(T);
  for (int it = 0; it < kIters; ++it) {
    for (size_t k = 0; k < x.size(); ++k) x[k] = std::sin(0.37f * static_cast<float>(k + it * 11 + id));
    for (int b = 0; b < B; ++b) labels[b] = (b + it + id) % 3;
    T_OK(rnnlab_reset(m));
    T_OK(rnnlab_step(y.data(), y.size(), m, x.data(), x.size(), T, B));
    rnnlab_targets tg = RNNLAB_TARGETS_INIT;
    tg.classes = labels.data();
    tg.count = B;
    T_OK(rnnlab_backward(m, &tg));
    rnnlab_diag d = RNNLAB_DIAG_INIT;
    T_OK(rnnlab_diagnostics(&d, m));
    T_CHECK(std::isfinite(d.loss) && d.grad_norm > 0, "diagnostics: loss or grad_norm not sane");
    int32_t len = 0;
    T_OK(rnnlab_get_trace(trace.data(), trace.size(), &len, m, RNNLAB_TRACE_GRAD_TIME));
    T_CHECK(len == T, "grad_time trace of the wrong length");
    T_OK(rnnlab_update(m));
  }
  double rho = 0, smax = 0;
  T_OK(rnnlab_spectral(&rho, &smax, m, RNNLAB_BLOCK_HN));

  // Save, export and load back into a fresh model: the same parameters.
  const std::string base = std::string(RNNLAB_TEST_TMPDIR) + "/threads_" + std::to_string(id);
  T_OK(rnnlab_save(m, (base + ".ckpt").c_str()));
  T_OK(rnnlab_export_npz(m, (base + ".npz").c_str(), nullptr, nullptr, 0));
  size_t n = 0, tr = 0;
  T_OK(rnnlab_param_count(&n, &tr, m));
  std::vector<float> p(n), q(n);
  T_OK(rnnlab_get_params(p.data(), n, m));
  rnnlab_model *back = nullptr;
  c.seed = 7;
  T_OK(rnnlab_create(&back, &c));
  T_OK(rnnlab_load(back, (base + ".ckpt").c_str()));
  T_OK(rnnlab_get_params(q.data(), n, back));
  T_CHECK(p == q, "checkpoint round trip changed the parameters");
  T_OK(rnnlab_reset_optimizer(back));
  T_OK(rnnlab_import_npz(back, (base + ".npz").c_str()));
  T_OK(rnnlab_get_params(q.data(), n, back));
  T_CHECK(p == q, "npz round trip changed the parameters");
  rnnlab_destroy(back);

  // rnnlab_last_error is per thread: each thread makes its own mistake, waits until every thread
  // has made one, and must still read its own message.
  rnnlab_config bad = c;
  bad.hidden_size = -(1000 + id);
  rnnlab_model *none = nullptr;
  const rnnlab_status st = rnnlab_create(&none, &bad);
  ++r->ops;
  T_CHECK(st != RNNLAB_OK && none == nullptr, "a bad config was accepted");
  barrier->wait();
  const std::string mine = rnnlab_last_error();
  barrier->wait();
  T_CHECK(mine.find(std::to_string(-(1000 + id))) != std::string::npos,
          "thread " + std::to_string(id) + " read another thread's message: " + mine);
  rnnlab_destroy(m);
}

void test_four_models_at_once(void **) {
  Barrier barrier(kThreads);
  std::vector<Result> results(kThreads);
  std::vector<std::thread> threads;
  for (int i = 0; i < kThreads; ++i) threads.emplace_back(worker, i, &barrier, &results[i]);
  for (std::thread &t : threads) t.join();
  long ops = 0;
  for (int i = 0; i < kThreads; ++i) {
    if (!results[i].failure.empty()) {
      print_error("thread %d: %s\n", i, results[i].failure.c_str());
      fail();
    }
    ops += results[i].ops;
  }
  std::printf("%d threads, %ld API calls in all\n", kThreads, ops);
}

}  // namespace

int main(void) {
  const struct CMUnitTest tests[] = {cmocka_unit_test(test_four_models_at_once)};
  return cmocka_run_group_tests(tests, nullptr, nullptr);
}
