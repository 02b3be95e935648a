// rnnlab's own benchmarks (public C API only), for the shapes of spec/performance.md:
//   P1 scifar       GRU I=1 H=181 T=1024 B=64, last-softmax over 10: forward + backward
//   P2 cs728-train  GRU I=7 H=50 T=220 B=20, every-softmax over 6: forward + backward
//                   (P2iter adds clipping and the SGD update when the training API is built in)
//   P3 cs728-eval   GRU I=7 H=50 T=220 B=1000: eval-mode forward + loss + error count
//   scaling         time per step over T = 128..1024 (B = 64) and B = 16..256 (T = 256), H = 181
// Names: <shape>/<backend>/<cell>/<level>/threads:<n>. bench/run.sh runs them beside the oneDNN
// fused anchor and PyTorch and prints one table with ratios.
#include <benchmark/benchmark.h>
#include <rnnlab/rnnlab.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

namespace {

struct Shape {
  const char *name;
  int I, H, T, B, O;
  rnnlab_head head;
};
const Shape kP1 = {"P1", 1, 181, 1024, 64, 10, RNNLAB_HEAD_LAST_SOFTMAX};
const Shape kP2 = {"P2", 7, 50, 220, 20, 6, RNNLAB_HEAD_EVERY_SOFTMAX};
const Shape kP3 = {"P3", 7, 50, 220, 1000, 6, RNNLAB_HEAD_EVERY_SOFTMAX};

void die(const char *what) {
  std::fprintf(stderr, "%s: %s\n", what, rnnlab_last_error());
  std::exit(1);
}

struct Fixture {
  rnnlab_model *m = nullptr;
  std::vector<float> x;
  std::vector<int32_t> cls;
  rnnlab_targets tg = RNNLAB_TARGETS_INIT;
  Fixture(const Shape &s, rnnlab_backend be, rnnlab_cell cell, rnnlab_diag_level lvl, int threads, int T, int B) {
    rnnlab_config c = RNNLAB_CONFIG_INIT;
    c.cell = cell;
    c.input_size = s.I;
    c.hidden_size = s.H;
    c.head = s.head;
    c.output_size = s.O;
    c.backend = be;
    c.diag_level = lvl;
    c.threads = threads;
    c.seed = 42;
    if (rnnlab_create(&m, &c) != RNNLAB_OK) die("rnnlab_create");
    x.resize(static_cast<size_t>(T) * B * s.I);
    unsigned st = 12345;
    for (auto &v : x) {
      st = st * 1103515245u + 12345u;
      v = static_cast<float>((st >> 8) & 0xffff) / 65536.0f;
    }
    cls.resize(s.head == RNNLAB_HEAD_EVERY_SOFTMAX ? static_cast<size_t>(T) * B : static_cast<size_t>(B));
    for (size_t k = 0; k < cls.size(); ++k) cls[k] = static_cast<int32_t>(k % s.O);
    tg.classes = cls.data();
    tg.count = cls.size();
  }
  ~Fixture() { rnnlab_destroy(m); }
};

rnnlab_backend backend_arg(int v) { return v == 0 ? RNNLAB_BACKEND_REFERENCE : RNNLAB_BACKEND_CPU; }

// args: backend (0 ref, 1 cpu), cell (0 LBR GRU, 1 reset-before), diag level, threads
void train_pass(benchmark::State &state, const Shape &s, bool update) {
  const rnnlab_backend be = backend_arg(static_cast<int>(state.range(0)));
  const rnnlab_cell cell = static_cast<rnnlab_cell>(state.range(1));
  const rnnlab_diag_level lvl = static_cast<rnnlab_diag_level>(state.range(2));
  const int threads = static_cast<int>(state.range(3));
  Fixture f(s, be, cell, lvl, threads, s.T, s.B);
  std::vector<float> params, grads;
  size_t total = 0;
  rnnlab_param_count(&total, nullptr, f.m);
  params.resize(total);
  grads.resize(total);
  // One untimed pass: the first call allocates the workspace (steady-state calls allocate nothing).
  rnnlab_reset(f.m);
  rnnlab_step(nullptr, 0, f.m, f.x.data(), f.x.size(), s.T, s.B);
  rnnlab_backward(f.m, &f.tg);
  rnnlab_zero_grad(f.m);
  for (auto _ : state) {
    if (rnnlab_reset(f.m) != RNNLAB_OK) die("reset");
    if (rnnlab_step(nullptr, 0, f.m, f.x.data(), f.x.size(), s.T, s.B) != RNNLAB_OK) die("step");
    if (rnnlab_backward(f.m, &f.tg) != RNNLAB_OK) die("backward");
    if (update) {
      // Clip by global norm 1 and a plain SGD step through the flat buffers: what a CS728 iteration
      // does (the library's own update call replaces this once the training API lands).
      rnnlab_diag d = RNNLAB_DIAG_INIT;
      rnnlab_diagnostics(&d, f.m);
      const float scale = d.grad_norm > 1.0 ? static_cast<float>(1.0 / d.grad_norm) : 1.0f;
      rnnlab_get_params(params.data(), total, f.m);
      rnnlab_get_grads(grads.data(), total, f.m);
      for (size_t k = 0; k < total; ++k) params[k] -= 0.01f * scale * grads[k];
      rnnlab_set_params(f.m, params.data(), total);
    }
    rnnlab_zero_grad(f.m);
  }
  state.counters["threads"] = threads;
}

void BM_P1(benchmark::State &state) { train_pass(state, kP1, false); }
void BM_P2(benchmark::State &state) { train_pass(state, kP2, false); }
void BM_P2iter(benchmark::State &state) { train_pass(state, kP2, true); }

void BM_P3(benchmark::State &state) {
  const rnnlab_backend be = backend_arg(static_cast<int>(state.range(0)));
  const rnnlab_cell cell = static_cast<rnnlab_cell>(state.range(1));
  const int threads = static_cast<int>(state.range(3));
  Fixture f(kP3, be, cell, RNNLAB_DIAG_OFF, threads, kP3.T, kP3.B);
  rnnlab_set_training(f.m, 0);
  rnnlab_reset(f.m);  // one untimed pass allocates the workspace
  rnnlab_step(nullptr, 0, f.m, f.x.data(), f.x.size(), kP3.T, kP3.B);
  for (auto _ : state) {
    double loss = 0;
    int32_t wrong = 0;
    if (rnnlab_reset(f.m) != RNNLAB_OK) die("reset");
    if (rnnlab_step(nullptr, 0, f.m, f.x.data(), f.x.size(), kP3.T, kP3.B) != RNNLAB_OK) die("step");
    if (rnnlab_loss(&loss, &wrong, f.m, &f.tg, 0.2f) != RNNLAB_OK) die("loss");
    benchmark::DoNotOptimize(loss);
  }
  state.counters["threads"] = threads;
}

// Time per step: args T, B (CPU backend, LBR GRU, H = 181, full diagnostics, 1 thread).
void BM_Scaling(benchmark::State &state) {
  const int T = static_cast<int>(state.range(0)), B = static_cast<int>(state.range(1));
  Shape s = kP1;
  s.T = T;
  s.B = B;
  Fixture f(s, RNNLAB_BACKEND_CPU, RNNLAB_CELL_GRU, RNNLAB_DIAG_FULL, 1, T, B);
  rnnlab_step(nullptr, 0, f.m, f.x.data(), f.x.size(), T, B);  // untimed: allocates the workspace
  rnnlab_backward(f.m, &f.tg);
  rnnlab_zero_grad(f.m);
  for (auto _ : state) {
    rnnlab_reset(f.m);
    rnnlab_step(nullptr, 0, f.m, f.x.data(), f.x.size(), T, B);
    rnnlab_backward(f.m, &f.tg);
    rnnlab_zero_grad(f.m);
  }
  // seconds / (iterations * T / 1e6) = microseconds per step
  state.counters["us_per_step"] =
      benchmark::Counter(T / 1e6, benchmark::Counter::kIsIterationInvariantRate | benchmark::Counter::kInvert);
}

void args_all(benchmark::internal::Benchmark *b, bool with_reference, bool levels) {
  for (int threads : {1, 2})
    for (int cell : {0, 1}) {
      if (with_reference) b->Args({0, cell, 2, 1});
      if (levels)
        for (int lvl : {0, 1, 2}) b->Args({1, cell, lvl, threads});
      else
        b->Args({1, cell, 0, threads});
    }
  b->ArgNames({"backend", "cell", "level", "threads"});
  b->Unit(benchmark::kMillisecond)->UseRealTime();
}

}  // namespace

BENCHMARK(BM_P1)->Apply([](benchmark::internal::Benchmark *b) { args_all(b, false, true); })->Iterations(3);
// The reference backend is plain loops: one iteration of P1 takes tens of seconds.
BENCHMARK(BM_P1)
    ->Name("BM_P1_reference")
    ->Args({0, 0, 2, 1})
    ->Args({0, 1, 2, 1})
    ->ArgNames({"backend", "cell", "level", "threads"})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime()
    ->Iterations(1);
BENCHMARK(BM_P2)->Apply([](benchmark::internal::Benchmark *b) { args_all(b, true, true); })->MinTime(1.0);
BENCHMARK(BM_P2iter)->Apply([](benchmark::internal::Benchmark *b) { args_all(b, false, false); })->MinTime(1.0);
BENCHMARK(BM_P3)->Apply([](benchmark::internal::Benchmark *b) { args_all(b, true, false); })->MinTime(1.0);
BENCHMARK(BM_Scaling)
    ->ArgsProduct({{128, 256, 512, 1024}, {64}})
    ->ArgsProduct({{256}, {16, 64, 256}})
    ->ArgNames({"T", "B"})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime()
    ->Iterations(2);

BENCHMARK_MAIN();
