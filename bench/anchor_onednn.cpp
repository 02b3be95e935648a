// anchor_onednn.cpp — the oneDNN fused-RNN anchor for rnnlab's benchmarks.
//
// rnnlab's own backends are judged against what oneDNN 2.6's fused GRU primitive does on the shapes of
// spec/performance.md (P1 s-CIFAR, P2 CS728 training iteration, P3 CS728 validation chunk). This program
// drives that primitive directly — no rnnlab code, no readout head, no loss, no diagnostics — so the
// numbers are "what a well-tuned library does for the recurrence alone" and can be re-measured side by
// side with rnnlab on the same noisy machine.
//
// Rows (every one at 1 and 2 OpenMP threads):
//   <shape>/<cell>/<pass>/threads:N
//   shape: P1 (I=1, H=181, T=1024, B=64), P2 (I=7, H=50, T=220, B=20), P3 (I=7, H=50, T=220, B=1000)
//   cell:  lbr_gru      — linear-before-reset, PyTorch nn.GRU / cuDNN (the variant the goals refer to)
//          gru          — oneDNN's vanilla_gru, the reset-before variant (CS728), as extra rows
//   pass:  fwd_train    — forward_training (writes the workspace backward needs)
//          fwd_bwd      — forward_training + backward (P1, P2): what one training step costs
//          fwd_infer    — forward_inference (P3 only, extra row)
//
// Counters: ws_MiB (training workspace), scratch_MiB (library-managed scratchpad of the primitives the
// row runs, summed — an upper bound if the library shares one scratchpad), GFLOP/s (GEMM work of the row
// divided by wall time; forward 2·T·B·(G·H·I + G·H·H), backward twice that).
//
// Extra mode: `anchor --check` runs each shape/cell once and compares against a naive double-precision
// reference (forward on a few batch columns of every shape; forward + all gradients by finite
// differences on a tiny shape) and exits — a debug run outside the timed benchmarks.
//
// Build (standalone):  g++ -O2 -march=native -std=c++17 bench/anchor_onednn.cpp
//                          -ldnnl -lbenchmark -lpthread -fopenmp -o /tmp/anchor
// Run:                 OMP_NUM_THREADS=1 /tmp/anchor            (thread counts are set per row)
//                      OMP_NUM_THREADS=1 /tmp/anchor --check

#include <benchmark/benchmark.h>
#include <omp.h>
#include <unistd.h>

#include <oneapi/dnnl/dnnl.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <ostream>
#include <random>
#include <string>
#include <unordered_map>
#include <vector>

namespace {

using dnnl::memory;
using dim = memory::dim;
using tag = memory::format_tag;
using dt = memory::data_type;

// ---- shapes and variants ------------------------------------------------------------------------

struct Shape {
  const char* id;
  dim I, H, T, B;
};
constexpr Shape kP1{"P1", 1, 181, 1024, 64};
constexpr Shape kP2{"P2", 7, 50, 220, 20};
constexpr Shape kP3{"P3", 7, 50, 220, 1000};

enum class Pass { fwd_train, fwd_infer, fwd_bwd };

const char* pass_name(Pass p) {
  switch (p) {
    case Pass::fwd_train: return "fwd_train";
    case Pass::fwd_infer: return "fwd_infer";
    case Pass::fwd_bwd: return "fwd_bwd";
  }
  return "?";
}

// The two GRU flavours differ only in the primitive classes and the number of bias rows: LBR-GRU keeps
// b_hn apart from b_in because it sits inside r ⊙ (W_hn h + b_hn), so it has 4 bias "gates".
struct LbrGru {
  using Fwd = dnnl::lbr_gru_forward;
  using Bwd = dnnl::lbr_gru_backward;
  static constexpr dim kBiasGates = 4;
  static constexpr bool kLinearBeforeReset = true;
  static constexpr const char* kName = "lbr_gru";
};
struct ResetBeforeGru {
  using Fwd = dnnl::gru_forward;
  using Bwd = dnnl::gru_backward;
  static constexpr dim kBiasGates = 3;
  static constexpr bool kLinearBeforeReset = false;
  static constexpr const char* kName = "gru";
};
constexpr dim kGates = 3;  // weight gates of either GRU, oneDNN order u (≡ z), r, o (≡ n)

double gemm_flops_forward(const Shape& s) {
  return 2.0 * double(s.T) * double(s.B) * double(kGates * s.H) * double(s.I + s.H);
}

// One engine and stream for the whole process: creating a CPU engine is cheap but not free, and rnnlab
// will likewise hold one per context.
dnnl::engine& cpu_engine() {
  static dnnl::engine eng(dnnl::engine::kind::cpu, 0);
  return eng;
}
dnnl::stream& cpu_stream() {
  static dnnl::stream strm(cpu_engine());
  return strm;
}

float* fptr(const memory& m) { return static_cast<float*>(m.get_data_handle()); }
size_t nfloats(const memory& m) { return m.get_desc().get_size() / sizeof(float); }

// Fixed-seed uniform fill so every run (and every thread count) sees the same numbers.
void fill_uniform(const memory& m, float lo, float hi, std::mt19937& rng) {
  std::uniform_real_distribution<float> u(lo, hi);
  float* p = fptr(m);
  for (size_t i = 0, n = nfloats(m); i < n; ++i) p[i] = u(rng);
}

void zero(const memory& m) { std::memset(m.get_data_handle(), 0, m.get_desc().get_size()); }

// Copies `src` into a fresh memory of layout `want`; used once per problem (weights to whatever layout
// the primitive asked for, and diff weights back to ldigo for --check).
memory reordered(memory src, const memory::desc& want) {  // memory is a handle: copies are cheap
  memory dst(want, cpu_engine());
  dnnl::reorder(src, dst).execute(cpu_stream(), src, dst);
  cpu_stream().wait();
  return dst;
}

// ---- one problem: all primitives and memories for (cell, shape, pass) ------------------------------

class Problem {
 public:
  virtual ~Problem() = default;
  virtual void forward() = 0;
  virtual void backward() = 0;  // only when built with Pass::fwd_bwd
  size_t workspace_bytes = 0;
  size_t scratch_bytes = 0;
};

template <class Cell>
class GruProblem final : public Problem {
 public:
  GruProblem(const Shape& s, Pass pass, unsigned seed) : s_(s) {
    auto& eng = cpu_engine();
    const dim I = s.I, H = s.H, T = s.T, B = s.B, G = kGates, GB = Cell::kBiasGates;

    // User-side ("rnnlab-side") layouts: time-major activations, ldigo weights, ldgo bias.
    const memory::desc x_md({T, B, I}, dt::f32, tag::tnc);
    const memory::desc y_md({T, B, H}, dt::f32, tag::tnc);
    const memory::desc wl_user_md({1, 1, I, G, H}, dt::f32, tag::ldigo);
    const memory::desc wi_user_md({1, 1, H, G, H}, dt::f32, tag::ldigo);
    const memory::desc bias_md({1, 1, GB, H}, dt::f32, tag::ldgo);
    // Weights with format `any`: the primitive picks its preferred (possibly blocked/packed) layout and
    // we pay the reorder once, outside the timed loop — as a trainer would once per weight update.
    const memory::desc wl_any({1, 1, I, G, H}, dt::f32, tag::any);
    const memory::desc wi_any({1, 1, H, G, H}, dt::f32, tag::any);
    // A zero descriptor for src_iter / dst_iter means h_0 = 0 and no separate final state: h_T is
    // dst_layer[T-1] anyway, and every rnnlab shape starts from zero state (as nn.GRU with h0 = None).
    const memory::desc none;

    std::mt19937 rng(seed);
    const float k = 1.0f / std::sqrt(float(H));  // PyTorch's GRU init range, keeps gates unsaturated
    x_ = memory(x_md, eng);
    fill_uniform(x_, -1.f, 1.f, rng);
    wl_user_ = memory(wl_user_md, eng);
    fill_uniform(wl_user_, -k, k, rng);
    wi_user_ = memory(wi_user_md, eng);
    fill_uniform(wi_user_, -k, k, rng);
    bias_ = memory(bias_md, eng);
    fill_uniform(bias_, -k, k, rng);
    y_ = memory(y_md, eng);

    const bool training = pass != Pass::fwd_infer;
    const auto prop = training ? dnnl::prop_kind::forward_training : dnnl::prop_kind::forward_inference;
    typename Cell::Fwd::desc fd(prop, dnnl::rnn_direction::unidirectional_left2right, x_md, none,
                                wl_any, wi_any, bias_md, y_md, none);
    typename Cell::Fwd::primitive_desc fpd(fd, eng);
    fwd_ = typename Cell::Fwd(fpd);
    wl_fwd_ = reordered(wl_user_, fpd.weights_layer_desc());
    wi_fwd_ = reordered(wi_user_, fpd.weights_iter_desc());
    scratch_bytes += size_t(fpd.query_s64(dnnl::query::memory_consumption_s64));
    if (training) {
      ws_ = memory(fpd.workspace_desc(), eng);
      workspace_bytes = fpd.workspace_desc().get_size();
    }
    fwd_args_ = {{DNNL_ARG_SRC_LAYER, x_},          {DNNL_ARG_WEIGHTS_LAYER, wl_fwd_},
                 {DNNL_ARG_WEIGHTS_ITER, wi_fwd_}, {DNNL_ARG_BIAS, bias_},
                 {DNNL_ARG_DST_LAYER, y_}};
    if (training) fwd_args_[DNNL_ARG_WORKSPACE] = ws_;

    if (pass == Pass::fwd_bwd) {
      // Backward in oneDNN 2.6 only takes weights in ldgoi (transposed per gate); `any` lets the pd say
      // so, and we keep a second, backward-layout copy of the weights.
      typename Cell::Bwd::desc bd(dnnl::prop_kind::backward, dnnl::rnn_direction::unidirectional_left2right,
                                  x_md, none, wl_any, wi_any, bias_md, y_md, none,
                                  /*diff_src_layer*/ x_md, none, /*diff_weights*/ wl_any, wi_any,
                                  /*diff_bias*/ bias_md, /*diff_dst_layer*/ y_md, none);
      typename Cell::Bwd::primitive_desc bpd(bd, eng, fpd);
      bwd_ = typename Cell::Bwd(bpd);
      wl_bwd_ = reordered(wl_user_, bpd.weights_layer_desc());
      wi_bwd_ = reordered(wi_user_, bpd.weights_iter_desc());
      dx_ = memory(bpd.diff_src_layer_desc(), eng);
      dwl_ = memory(bpd.diff_weights_layer_desc(), eng);
      dwi_ = memory(bpd.diff_weights_iter_desc(), eng);
      dbias_ = memory(bpd.diff_bias_desc(), eng);
      dy_ = memory(bpd.diff_dst_layer_desc(), eng);
      // A random upstream gradient at every step. P1's real head only feeds the last step, but the
      // primitive does the same work either way, and a dense dy exercises every path for --check.
      fill_uniform(dy_, -1.f, 1.f, rng);
      scratch_bytes += size_t(bpd.query_s64(dnnl::query::memory_consumption_s64));
      bwd_args_ = {{DNNL_ARG_SRC_LAYER, x_},        {DNNL_ARG_WEIGHTS_LAYER, wl_bwd_},
                   {DNNL_ARG_WEIGHTS_ITER, wi_bwd_}, {DNNL_ARG_BIAS, bias_},
                   {DNNL_ARG_DST_LAYER, y_},         {DNNL_ARG_WORKSPACE, ws_},
                   {DNNL_ARG_DIFF_DST_LAYER, dy_},   {DNNL_ARG_DIFF_SRC_LAYER, dx_},
                   {DNNL_ARG_DIFF_WEIGHTS_LAYER, dwl_}, {DNNL_ARG_DIFF_WEIGHTS_ITER, dwi_},
                   {DNNL_ARG_DIFF_BIAS, dbias_}};
    }
  }

  void forward() override {
    fwd_.execute(cpu_stream(), fwd_args_);
    cpu_stream().wait();
  }

  void backward() override {
    // oneDNN adds into diff weights / diff bias (so several calls can accumulate over chunks); a
    // training step wants fresh gradients, so clearing them is part of the step's cost.
    zero(dwl_);
    zero(dwi_);
    zero(dbias_);
    bwd_.execute(cpu_stream(), bwd_args_);
    cpu_stream().wait();
  }

  // ---- accessors for --check (all in user layouts) ----
  const Shape& shape() const { return s_; }
  const memory& x() const { return x_; }
  const memory& y() const { return y_; }
  const memory& dy() const { return dy_; }
  const memory& dx() const { return dx_; }
  const memory& wl_user() const { return wl_user_; }
  const memory& wi_user() const { return wi_user_; }
  const memory& bias() const { return bias_; }
  memory dwl_user() const { return reordered(dwl_, wl_user_.get_desc()); }
  memory dwi_user() const { return reordered(dwi_, wi_user_.get_desc()); }
  memory dbias_user() const { return reordered(dbias_, bias_.get_desc()); }

 private:
  Shape s_;
  memory x_, y_, wl_user_, wi_user_, bias_, wl_fwd_, wi_fwd_, ws_;
  memory wl_bwd_, wi_bwd_, dx_, dy_, dwl_, dwi_, dbias_;
  dnnl::primitive fwd_, bwd_;
  std::unordered_map<int, memory> fwd_args_, bwd_args_;
};

std::unique_ptr<Problem> make_problem(bool lbr, const Shape& s, Pass pass) {
  constexpr unsigned kSeed = 20240601u;
  if (lbr) return std::make_unique<GruProblem<LbrGru>>(s, pass, kSeed);
  return std::make_unique<GruProblem<ResetBeforeGru>>(s, pass, kSeed);
}

// ---- the benchmark body -----------------------------------------------------------------------------

// Google Benchmark calls the body once per trial iteration count and once per repetition. Building P1
// (845 MiB workspace, weight reorders, warm-up) each time would double the run, so the last problem is
// kept and reused while the row (cell, shape, pass, threads) stays the same. Only one is kept, so peak
// memory stays that of the largest single row.
struct Cache {
  std::string key;
  std::unique_ptr<Problem> problem;
};
Cache& cache() {
  static Cache c;
  return c;
}

void BM_onednn(benchmark::State& state, bool lbr, Shape s, Pass pass) {
  const int nthr = int(state.range(0));
  // oneDNN (OpenMP build) sizes its parallel regions from omp_get_max_threads() — and some kernels
  // decide their blocking at primitive creation — so the thread count is set before anything is built.
  omp_set_num_threads(nthr);

  const std::string key = std::string(lbr ? "lbr/" : "gru/") + s.id + "/" + pass_name(pass) + "/" +
                          std::to_string(nthr);
  Cache& c = cache();
  if (c.key != key) {
    c.problem.reset();  // free the previous row's workspace before allocating this one
    c.problem = make_problem(lbr, s, pass);
    c.key = key;
    // Untimed warm-up: first touch of the workspace pages, oneDNN's JIT kernel generation, thread pool
    // start-up. None of that belongs in a steady-state training step.
    c.problem->forward();
    if (pass == Pass::fwd_bwd) c.problem->backward();
  }
  Problem& p = *c.problem;

  for (auto _ : state) {
    p.forward();
    if (pass == Pass::fwd_bwd) p.backward();
  }

  const double flops = gemm_flops_forward(s) * (pass == Pass::fwd_bwd ? 3.0 : 1.0);
  state.counters["GFLOP"] =
      benchmark::Counter(flops * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
  state.counters["ws_MiB"] = double(p.workspace_bytes) / (1024.0 * 1024.0);
  state.counters["scratch_MiB"] = double(p.scratch_bytes) / (1024.0 * 1024.0);
  state.counters["threads"] = nthr;
}

void register_all() {
  struct Row {
    Shape s;
    Pass pass;
  };
  // P1, P2: what a training step needs (forward alone is there to split fwd from bwd by subtraction);
  // P3: validation is forward only — forward_training is the anchor figure (it is what the spec quotes),
  // forward_inference shows what skipping the workspace buys.
  const Row rows[] = {{kP1, Pass::fwd_train}, {kP1, Pass::fwd_bwd},   {kP2, Pass::fwd_train},
                      {kP2, Pass::fwd_bwd},   {kP3, Pass::fwd_train}, {kP3, Pass::fwd_infer}};
  for (bool lbr : {true, false}) {
    for (const Row& r : rows) {
      const std::string name = std::string(r.s.id) + "/" + (lbr ? LbrGru::kName : ResetBeforeGru::kName) +
                               "/" + pass_name(r.pass);
      benchmark::RegisterBenchmark(name.c_str(), BM_onednn, lbr, r.s, r.pass)
          ->ArgName("threads")
          ->Arg(1)
          ->Arg(2)
          ->UseRealTime()  // OpenMP workers' CPU time is not the caller's; wall time is what matters
          ->Unit(benchmark::kMillisecond)
          // On a shared 2-vCPU machine a busy neighbour only ever adds time, so the fastest repetition
          // is a useful second figure beside the median.
          ->ComputeStatistics("min", [](const std::vector<double>& v) {
            return *std::min_element(v.begin(), v.end());
          });
    }
  }
}

// ---- --check: naive reference in oneDNN's own conventions ------------------------------------------
//
// ldigo weights: W[i][g][h] at (i·G + g)·H + h, gates g = 0 u, 1 r, 2 o; bias ldgo [g][h].
//   u = σ(Wx_u + Uh_u + b_u), r = σ(Wx_r + Uh_r + b_r)
//   LBR:   o = tanh(Wx_o + b_o + r ⊙ (Uh_o + b_4th))
//   plain: o = tanh(Wx_o + U (r ⊙ h) _o + b_o)
//   h' = u ⊙ h + (1 − u) ⊙ o
// Batch columns are independent, so the forward check of the big shapes only computes a few of them.

struct RefWeights {
  std::vector<double> wl, wi, bias;
};

RefWeights ref_weights(const memory& wl, const memory& wi, const memory& bias) {
  RefWeights r;
  r.wl.assign(fptr(wl), fptr(wl) + nfloats(wl));
  r.wi.assign(fptr(wi), fptr(wi) + nfloats(wi));
  r.bias.assign(fptr(bias), fptr(bias) + nfloats(bias));
  return r;
}

double sigm(double v) { return 1.0 / (1.0 + std::exp(-v)); }

// Returns h_t for t = 0..T-1, batch columns `cols`, as out[(t·ncols + c)·H + h]; x is tnc in double.
std::vector<double> ref_forward(bool lbr, const Shape& s, const std::vector<double>& x, const RefWeights& w,
                                const std::vector<dim>& cols) {
  const size_t I = size_t(s.I), H = size_t(s.H), T = size_t(s.T), B = size_t(s.B), G = size_t(kGates);
  const size_t nc = cols.size();
  std::vector<double> out(T * nc * H);
  std::vector<double> h(H), rh(H), u(H), r(H), gx(G * H), gh(G * H);
  for (size_t c = 0; c < nc; ++c) {
    const size_t b = size_t(cols[c]);
    std::fill(h.begin(), h.end(), 0.0);
    for (size_t t = 0; t < T; ++t) {
      std::fill(gx.begin(), gx.end(), 0.0);
      std::fill(gh.begin(), gh.end(), 0.0);
      for (size_t i = 0; i < I; ++i) {
        const double xv = x[(t * B + b) * I + i];
        for (size_t q = 0; q < G * H; ++q) gx[q] += xv * w.wl[i * G * H + q];
      }
      // u and r (and, for LBR, the candidate's recurrent product) see h_{t-1} directly
      const size_t direct = (lbr ? G : 2) * H;
      for (size_t j = 0; j < H; ++j)
        for (size_t q = 0; q < direct; ++q) gh[q] += h[j] * w.wi[j * G * H + q];
      for (size_t k = 0; k < H; ++k) {
        u[k] = sigm(gx[k] + gh[k] + w.bias[k]);
        r[k] = sigm(gx[H + k] + gh[H + k] + w.bias[H + k]);
      }
      if (!lbr) {  // reset-before: the candidate's recurrent product sees r ⊙ h_{t-1}
        for (size_t j = 0; j < H; ++j) rh[j] = r[j] * h[j];
        for (size_t j = 0; j < H; ++j)
          for (size_t k = 0; k < H; ++k) gh[2 * H + k] += rh[j] * w.wi[j * G * H + 2 * H + k];
      }
      for (size_t k = 0; k < H; ++k) {
        const double o = lbr ? std::tanh(gx[2 * H + k] + w.bias[2 * H + k] + r[k] * (gh[2 * H + k] + w.bias[3 * H + k]))
                             : std::tanh(gx[2 * H + k] + gh[2 * H + k] + w.bias[2 * H + k]);
        h[k] = u[k] * h[k] + (1.0 - u[k]) * o;
        out[(t * nc + c) * H + k] = h[k];
      }
    }
  }
  return out;
}

int g_failures = 0;

void report(const char* what, double err, double tol) {
  const bool ok = std::isfinite(err) && err <= tol;
  std::printf("  %-60s max err %.3g (tol %.1g)  %s\n", what, err, tol, ok ? "ok" : "FAIL");
  if (!ok) ++g_failures;
}

std::vector<double> to_double(const memory& m) { return std::vector<double>(fptr(m), fptr(m) + nfloats(m)); }

// Forward of every shape on a few batch columns; backward runs and gives finite numbers.
template <class Cell>
void check_shape(const Shape& s, Pass pass) {
  constexpr bool lbr = Cell::kLinearBeforeReset;
  GruProblem<Cell> p(s, pass, 7u);
  p.forward();
  const std::vector<dim> cols = {0, s.B / 2, s.B - 1};
  const auto ref = ref_forward(lbr, s, to_double(p.x()), ref_weights(p.wl_user(), p.wi_user(), p.bias()), cols);
  const float* y = fptr(p.y());
  double err = 0;
  for (dim t = 0; t < s.T; ++t)
    for (size_t c = 0; c < cols.size(); ++c)
      for (dim k = 0; k < s.H; ++k)
        err = std::max(err, std::fabs(double(y[(t * s.B + cols[c]) * s.H + k]) -
                                      ref[size_t((t * dim(cols.size()) + dim(c)) * s.H + k)]));
  char label[128];
  std::snprintf(label, sizeof label, "%s %s %s: h vs reference", s.id, Cell::kName, pass_name(pass));
  report(label, err, 1e-4);
  if (pass == Pass::fwd_bwd) {
    p.backward();
    double worst = 0;  // 0 if all finite, inf otherwise; magnitude printed for eyeballing
    double norm = 0;
    for (const memory& m : {p.dx(), p.dwl_user(), p.dwi_user(), p.dbias_user()})
      for (size_t i = 0, n = nfloats(m); i < n; ++i) {
        if (!std::isfinite(fptr(m)[i])) worst = INFINITY;
        norm += double(fptr(m)[i]) * fptr(m)[i];
      }
    std::snprintf(label, sizeof label, "%s %s backward: all gradients finite (|g|=%.3g)", s.id, Cell::kName,
                  std::sqrt(norm));
    report(label, worst, 0.0);
  }
}

// All gradients of L = Σ y ⊙ dy on a tiny shape against central finite differences of the reference:
// this pins down gate order, bias layout and which weights backward reads, not just "it ran".
template <class Cell>
void check_gradients() {
  constexpr bool lbr = Cell::kLinearBeforeReset;
  const Shape tiny{"tiny", 3, 5, 6, 4};
  GruProblem<Cell> p(tiny, Pass::fwd_bwd, 11u);
  p.forward();
  p.backward();
  std::vector<dim> cols(size_t(tiny.B));
  for (dim b = 0; b < tiny.B; ++b) cols[size_t(b)] = b;
  const std::vector<double> dy = to_double(p.dy());  // tnc; ref output is [t][c][h] with c = b: same
  std::vector<double> x = to_double(p.x());
  RefWeights w = ref_weights(p.wl_user(), p.wi_user(), p.bias());
  auto loss = [&]() {
    const auto h = ref_forward(lbr, tiny, x, w, cols);
    double l = 0;
    for (size_t i = 0; i < h.size(); ++i) l += h[i] * dy[i];
    return l;
  };
  auto fd_err = [&](std::vector<double>& v, const memory& grad) {
    const float* g = fptr(grad);
    double err = 0;
    for (size_t i = 0; i < v.size(); ++i) {
      const double keep = v[i], e = 1e-6;
      v[i] = keep + e;
      const double lp = loss();
      v[i] = keep - e;
      const double lm = loss();
      v[i] = keep;
      err = std::max(err, std::fabs((lp - lm) / (2 * e) - double(g[i])) / std::max(1.0, std::fabs(double(g[i]))));
    }
    return err;
  };
  char label[128];
  std::snprintf(label, sizeof label, "tiny %s: forward vs reference", Cell::kName);
  {
    const auto h = ref_forward(lbr, tiny, x, w, cols);
    double err = 0;
    for (size_t i = 0; i < h.size(); ++i) err = std::max(err, std::fabs(h[i] - double(fptr(p.y())[i])));
    report(label, err, 1e-5);
  }
  std::snprintf(label, sizeof label, "tiny %s: d/dx vs finite differences", Cell::kName);
  report(label, fd_err(x, p.dx()), 1e-4);
  std::snprintf(label, sizeof label, "tiny %s: d/dW_layer (ldigo) vs finite differences", Cell::kName);
  report(label, fd_err(w.wl, p.dwl_user()), 1e-4);
  std::snprintf(label, sizeof label, "tiny %s: d/dW_iter (ldigo) vs finite differences", Cell::kName);
  report(label, fd_err(w.wi, p.dwi_user()), 1e-4);
  std::snprintf(label, sizeof label, "tiny %s: d/dbias (ldgo) vs finite differences", Cell::kName);
  report(label, fd_err(w.bias, p.dbias_user()), 1e-4);
  // Accumulation: a second backward must give the same numbers, i.e. the zeroing in backward() works.
  const std::vector<double> first = to_double(p.dwi_user());
  p.backward();
  const std::vector<double> second = to_double(p.dwi_user());
  double err = 0;
  for (size_t i = 0; i < first.size(); ++i) err = std::max(err, std::fabs(first[i] - second[i]));
  std::snprintf(label, sizeof label, "tiny %s: repeated backward gives same dW_iter", Cell::kName);
  report(label, err, 0.0);
}

int run_checks() {
  omp_set_num_threads(1);
  std::printf("oneDNN anchor self-check (1 thread)\n");
  check_gradients<LbrGru>();
  check_gradients<ResetBeforeGru>();
  for (const Shape& s : {kP1, kP2, kP3}) {
    const bool p3 = std::strcmp(s.id, "P3") == 0;
    for (Pass pass : {p3 ? Pass::fwd_infer : Pass::fwd_bwd, Pass::fwd_train}) {
      check_shape<LbrGru>(s, pass);
      check_shape<ResetBeforeGru>(s, pass);
    }
  }
  std::printf("%s (%d failure%s)\n", g_failures ? "FAILED" : "all checks passed", g_failures,
              g_failures == 1 ? "" : "s");
  return g_failures ? 1 : 0;
}

// ---- summary table ----------------------------------------------------------------------------------
//
// Google Benchmark prints one block per row and statistic; the comparison the project needs is "median ms
// per row at 1 and 2 threads", so the console reporter also collects medians (and the fastest
// repetition) and prints that table at the end (with one repetition, the single run stands in for both).
class SummaryReporter : public benchmark::ConsoleReporter {
 public:
  using ConsoleReporter::ConsoleReporter;

  void ReportRuns(const std::vector<Run>& runs) override {
    for (const Run& r : runs) {
      if (r.error_occurred) continue;
      const bool median = r.run_type == Run::RT_Aggregate && r.aggregate_name == "median";
      const bool fastest = r.run_type == Run::RT_Aggregate && r.aggregate_name == "min";
      const bool single = r.run_type == Run::RT_Iteration && r.repetitions <= 1;
      if (!median && !fastest && !single) continue;
      // run_name.function_name is "P1/lbr_gru/fwd_bwd"; args is "threads:N"
      Entry& e = rows_[r.run_name.function_name];
      if (e.order < 0) e.order = int(rows_.size());
      const int nthr = int(r.counters.count("threads") ? double(r.counters.at("threads")) : 0.0);
      const double ms = r.GetAdjustedRealTime();  // rows use kMillisecond
      if (nthr < 1 || nthr > 2) continue;  // the table has columns for the two registered counts
      (fastest ? e.min : e.med)[nthr - 1] = ms;
      if (single) e.min[nthr - 1] = ms;
      if (r.counters.count("ws_MiB")) e.ws = r.counters.at("ws_MiB");
    }
    ConsoleReporter::ReportRuns(runs);
  }

  void Finalize() override {
    ConsoleReporter::Finalize();
    std::vector<std::pair<int, std::string>> order;
    for (const auto& kv : rows_) order.emplace_back(kv.second.order, kv.first);
    std::sort(order.begin(), order.end());
    auto& out = GetOutputStream();
    char line[200];
    std::snprintf(line, sizeof line, "\n%-22s %11s %11s %11s %11s %7s %9s\n", "oneDNN anchor (ms)", "1t median",
                  "1t min", "2t median", "2t min", "1t/2t", "ws MiB");
    out << line;
    for (const auto& o : order) {
      const Entry& e = rows_.at(o.second);
      std::snprintf(line, sizeof line, "%-22s %11.3f %11.3f %11.3f %11.3f %7.2f %9.1f\n", o.second.c_str(),
                    e.med[0], e.min[0], e.med[1], e.min[1], (e.med[0] > 0 && e.med[1] > 0) ? e.med[0] / e.med[1] : 0.0,
                    e.ws);
      out << line;
    }
    out << "(1t/2t: ratio of medians; 0 = not measured)\n";
    out.flush();
  }

 private:
  struct Entry {
    int order = -1;
    double med[2] = {0, 0}, min[2] = {0, 0}, ws = 0;  // index: threads - 1
  };
  std::unordered_map<std::string, Entry> rows_;
};

}  // namespace

int main(int argc, char** argv) {
  for (int i = 1; i < argc; ++i)
    if (std::strcmp(argv[i], "--check") == 0) return run_checks();

  // Defaults sized for a 2-vCPU shared machine: 5 repetitions (so the median means something) of at
  // least 0.3 s each; the whole program then takes about a minute. They are put *before* the user's
  // arguments, and Google Benchmark lets the last occurrence of a flag win, so any of them can be
  // overridden on the command line.
  std::vector<char*> args;
  args.push_back(argv[0]);
  static char rep[] = "--benchmark_repetitions=5";
  static char mt[] = "--benchmark_min_time=0.3";
  static char agg[] = "--benchmark_display_aggregates_only=true";
  args.push_back(rep);
  args.push_back(mt);
  args.push_back(agg);
  for (int i = 1; i < argc; ++i) args.push_back(argv[i]);
  int nargs = int(args.size());
  args.push_back(nullptr);

  const dnnl_version_t* v = dnnl::version();
  benchmark::AddCustomContext("onednn", std::to_string(v->major) + "." + std::to_string(v->minor) + "." +
                                            std::to_string(v->patch) + " (cpu_runtime " +
                                            (v->cpu_runtime == DNNL_RUNTIME_OMP ? "OpenMP" : "other") + ")");
  const char* wait = std::getenv("OMP_WAIT_POLICY");
  benchmark::AddCustomContext("OMP_WAIT_POLICY", wait ? wait : "(unset)");
  const char* spin = std::getenv("GOMP_SPINCOUNT");
  benchmark::AddCustomContext("GOMP_SPINCOUNT", spin ? spin : "(unset)");

  register_all();
  benchmark::Initialize(&nargs, args.data());
  if (benchmark::ReportUnrecognizedArguments(nargs, args.data())) return 1;
  SummaryReporter reporter(isatty(fileno(stdout)) ? benchmark::ConsoleReporter::OO_ColorTabular
                                                 : benchmark::ConsoleReporter::OO_Tabular);
  benchmark::RunSpecifiedBenchmarks(&reporter);
  benchmark::Shutdown();
  return 0;
}
