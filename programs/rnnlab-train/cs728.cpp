// rnnlab-train (no sub-command): the CS728 PA2 drop-in (spec: tasks.md, "The CS728 trainer contract").
//
// The handout's commands run with only the program name swapped: the same flags, defaults and
// meanings as the starter's train.py, the same per-check `Iter` line, `[diag]` lines and final
// `Done.` line, and a `{name}_final_state.npz` with the starter's keys, dtypes, shapes, -1 / NaN
// padding and row indexing, plus rnnlab's extra traces and the trained parameters. Everything goes
// through the public C API (rnnlab.h, rnnlab_data.h, rnnlab_io.h).
//
// Where the starter has a quirk that users' logs show, the drop-in keeps it (and --help says so):
// "best valid error" on an Iter line is the best of the *earlier* checks; `Done. steps=N` gives the
// index of the last iteration run; the validation set is max(1, ebs // cbs) chunks of cbs sequences;
// a check at row n // checkFreq >= S is printed but has no row in the npz. Where tasks.md asks for
// something else, tasks.md wins: Omega and steps-in-the-past are the computed values even at α = 0,
// the post-clip norm equals the pre-clip norm when nothing was clipped, and the [diag] lines follow
// the Iter line of their check.
#include <rnnlab/rnnlab.h>
#include <rnnlab/rnnlab_io.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <memory>
#include <new>
#include <string>
#include <thread>
#include <vector>

#include "cli.h"

namespace {

using namespace rnnlab_train;

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// ---- options ---------------------------------------------------------------------------------------

struct Options {
  // The starter's flags, with its defaults.
  std::string task = "mem", model = "rnn", init = "basic_tanh";
  int64_t nhid = 50, seed = 52;
  double alpha = 2.0, lr = 0.01;
  int64_t min_length = 50, max_length = 200, bs = 20;
  double bound = 1e-20;
  std::string clipstyle = "rescale";
  double cutoff = 1.0;
  int64_t maxiters = 20000, ebs = 10000, cbs = 1000, checkFreq = 20;
  double err_abs = 0.2;
  int64_t valid_seed = 12345;
  bool collectDiags = false;
  int64_t diagBins = 50;
  double satThresh = 0.05;
  bool diagGates = false;
  double saveFreq = 5.0;
  std::string name = "test_torch";
  int64_t memvalues = 5, mempos = 10;
  bool memall = false;
  std::string device = "cpu";
  // rnnlab's own.
  std::string gru_variant = "reset_before", backend;
  int64_t threads = 1, train_threads = 1;
  std::string out_dir;
  bool timing = false;
};

const char *kHelp =
    R"(usage: rnnlab-train [flags]                (the CS728 PA2 trainer, a drop-in for the starter)
       rnnlab-train images|ablation [flags] (sequential images, seed 000; see rnnlab-train images --help)
       rnnlab-train run|sweep [flags]       (one resumable run per directory, MPI data parallel; grids for
                                            GNU parallel and Slurm arrays; see rnnlab-train run --help)

Trains a vanilla RNN or a GRU on one of Pascanu et al.'s synthetic tasks with plain SGD and prints,
every --checkFreq iterations, the starter's `Iter` line (and `[diag]` lines); writes
{name}_final_state.npz at the end. The handout's commands run unchanged with the program name swapped:

  rnnlab-train --task mem --model gru --alpha 0.0 --clipstyle nothing --diagGates \
    --nhid 50 --lr 0.01 --bs 20 --min_length 50 --max_length 200 --maxiters 50000 --ebs 10000 \
    --cbs 1000 --checkFreq 20 --seed 52 --valid_seed 12345 --collectDiags --diagBins 60 \
    --satThresh 0.05 --name A4_mem_gru_noclip

Same semantics, not the same random numbers: a seed makes an rnnlab run reproducible (same seed,
backend and --train_threads: the same run, whatever --threads), but numpy's RandomState stream is
not reproduced.

The starter's flags (default in brackets)
  --task {torder,torder3,add,mul,mem,perm}   [mem]
  --model {rnn,gru}           [rnn]  gru = the handout's reset-before GRU (h~ uses W_hh (r * h)),
                                     rnnlab's GRU_RESET_BEFORE, with the starter's init (cs728_gru:
                                     N(0,.01^2), W_hz, W_hr N(0,.005^2), update-gate bias as the
                                     starter's -2, see below); --init does not apply to it
  --init {sigmoid,basic_tanh,smart_tanh,test}  [basic_tanh]  rnn only: the init and the activation
                                     (sigmoid: logistic units; basic_tanh, smart_tanh: tanh; test: linear)
  --nhid N                    [50]   hidden units
  --seed N                    [52]   model init and training batches
  --alpha A                   [2.0]  Omega regulariser strength (vanilla RNN only; ignored with a
                                     one-line note for a GRU)
  --lr LR                     [0.01] plain SGD learning rate
  --min_length N, --max_length N  [50, 200]  per batch L = min_length + randint(max_length - min_length)
  --bs N                      [20]   training batch size (a fresh batch every iteration)
  --bound B                   [1e-20] validity threshold of Omega and steps-in-the-past on ||dL/dh_t||^2
  --clipstyle {rescale,nothing}  [rescale]  rescale: ||g|| > cutoff -> g *= cutoff/||g||; a NaN/Inf or
                                     > 1e10 norm drops the step and shrinks W_hh (W_hn) by (1 - 0.02 lr)
  --cutoff C                  [1.0]
  --maxiters N                [20000] iterations n = 0 .. N-1
  --ebs N, --cbs N            [10000, 1000] validation: max(1, ebs // cbs) chunks of cbs sequences,
                                     each chunk its own length, drawn once from seed + valid_seed
  --checkFreq N               [20]   validate (and run diagnostics) at n % N == 0, n > 0
  --err_abs E                 [0.2]  add/mul: a sequence is wrong when |y - target| > E
  --valid_seed N              [12345]
  --collectDiags                     diagnostics of one fixed batch of min(bs, cbs) sequences of length
                                     max_length (seed + valid_seed + 999) at every check
  --diagBins N                [50]   bins of the [diag] histograms
  --satThresh S               [0.05] the sat<S figure of the [diag] line
  --diagGates                        GRU: gate traces and the z-gate / r-gate [diag] lines
  --saveFreq M                [5]    write {name}_state.npz every M minutes (atomically)
  --name NAME                 [test_torch]  output files are NAME_final_state.npz, NAME_state.npz
  --memvalues N, --mempos N   [5, 10]  mem: symbols, pattern length
  --memall                           mem: every batch is all memvalues^mempos patterns (refused when
                                     that batch would not fit in memory)
  --device {cpu,cuda}         [cpu]  cpu: the fastest CPU backend; cuda: rnnlab's CUDA backend (falls
                                     back to the CPU with a note when none is available, as the starter)

rnnlab's flags
  --gru_variant {reset_before,linear_before_reset}  [reset_before]  linear_before_reset = PyTorch /
                                     cuDNN nn.GRU's cell (n = tanh(W_in x + r * (W_hn h))), same init
  --backend {auto,reference,cpu,cuda}  overrides --device (reference: plain C++, the ground truth)
  --threads N                 [$OMP_NUM_THREADS, else 1]  validation chunks evaluated at once, one per
                                     thread, each on a model of its own (results do not depend on N)
  --train_threads N           [1]    library threads (OpenMP inside rnnlab) of the training and
                                     diagnostics passes; at bs = 20, 2 pays only when OpenMP may spin
                                     briefly (GOMP_SPINCOUNT=20000), else it is ~3x slower than 1
  --out_dir DIR               [.]    directory of the npz files (NAME may itself hold a path)
  --timing                           print a [time] line before Done.: wall time per phase
  -h, --help

Output (stdout; one Iter line per check, then its [diag] lines)
  Iter 0000020: train nll 1.808, valid error 100.000%, best valid error 100.000%, avg grad norm ...
  train nll, the grad norms, Omega and steps in the past average the last checkFreq iterations;
  "best valid error" is the best of the *earlier* checks (as the starter prints it); regression tasks
  add valid mae, err@0.05, err@0.10, err@<err_abs>, maxae. sat<S in the [diag] line is the share of
  time steps whose mean distance to saturation is below S (as the starter); the npz key sat_frac_time
  has the share of *units* per step. The run stops when the valid error reaches 0%, and ends with:
    Done. solved=0|1 steps=N best_valid_error=E%   (N: the index of the last iteration run)
  A progress bar is drawn on stderr when stdout is a terminal.

NAME_final_state.npz (S = max(1, maxiters // checkFreq), D = the longest diagnostic sequence)
  train_nll, gradient_norm, Omega, steps_in_past         (maxiters,) float32, -1 where not run
  valid_error (%), rho_Whh, diag_loss, diag_err (0..1)   (S,) float32 at row n // checkFreq, -1 if none
  grad_time, act_time, sat_time, gate_z_sat_time, gate_r_sat_time   (S, D) float32, NaN-padded
  diag_len, diag_bs, checkFreq                           int64 scalars
  rnnlab adds: every other trace (cand_act_time, sat_frac_time, gate_z_mean_time, gate_r_mean_time,
  gate_z_preact_time, gate_z_sat_frac_time, gate_r_sat_frac_time, transfer_time) as (S, D);
  gradient_norm_post_clip and seq_len per iteration; valid_nll, valid_mae, valid_maxae per check;
  diag_steps, solved, steps, best_valid_error; and the parameters under rnnlab's (PyTorch) names:
  weight_ih (gates r, z, n stacked for a GRU), weight_hh, bias_ih, bias_hh (held at 0: the single bias
  mode of the starter), head.weight, head.bias.

How rnnlab's numbers relate to the starter's
  z: the handout writes h = (1 - z) h_prev + z h~; rnnlab (and PyTorch) write h = (1 - z) n + z h_prev,
     so the handout's z is rnnlab's 1 - z, and its b_z = -2 is rnnlab's +2. Saturation distances
     min(z, 1 - z) are the same either way; gate *means* (gate_z_mean_time) are mirrored.
  g_t = mean_b ||dL/dh_t|| is the *total* derivative: the readout's direct part plus everything that
     flows back from later steps. A starter completion that takes the gradient with respect to the
     stacked hidden-state output tensor measures only the readout part: flat over t for the every-step
     mem loss, exactly 0 before the last step for last-step tasks, so its histograms "show vanishing"
     as an artefact of the measurement. rnnlab's g_t is the gradient that actually reaches h_t.
  Omega: rnnlab implements Pascanu's original (the immediate partial dOmega/dW_hh, steps 1..T) where
     the CS728 port differentiates through the whole backward pass and drops step 1. Omega and steps
     in the past are reported even at alpha 0 (the starter writes 0 there).

Exit status: 0 done; 2 a bad command line (one line on stderr); 1 any other failure (one line on
stderr). On failure no npz is written or changed (a NAME_state.npz from an earlier save stays whole).
)";

// ---- small helpers ---------------------------------------------------------------------------------

void check(rnnlab_status s, const char *what) {
  if (s != RNNLAB_OK) throw RunError(strf("%s: %s", what, rnnlab_last_error()));
}

struct ModelDeleter {
  void operator()(rnnlab_model *m) const { rnnlab_destroy(m); }
};
struct TaskDeleter {
  void operator()(rnnlab_task *t) const { rnnlab_task_destroy(t); }
};
struct NpzDeleter {
  void operator()(rnnlab_npz *z) const { rnnlab_npz_destroy(z); }
};
using ModelPtr = std::unique_ptr<rnnlab_model, ModelDeleter>;
using TaskPtr = std::unique_ptr<rnnlab_task, TaskDeleter>;
using NpzPtr = std::unique_ptr<rnnlab_npz, NpzDeleter>;

// One drawn batch of a task, sized for exactly its T once drawn.
struct Batch {
  int32_t T = 0, B = 0;
  std::vector<float> x;
  std::vector<int32_t> classes;
  std::vector<float> values;
};

// Draws B sequences (length 0: the per-batch rule; > 0: that L) into `b`, reusing its buffers.
void draw(Batch &b, rnnlab_task *task, const rnnlab_task_info &info, int32_t B, int32_t length, bool shrink) {
  int32_t max_steps = info.max_steps;
  if (length > 0) check(rnnlab_task_steps(nullptr, &max_steps, task, length), "sizing a batch");
  const size_t n = static_cast<size_t>(max_steps) * static_cast<size_t>(B);
  const bool regression = info.head == RNNLAB_HEAD_LAST_LINEAR;
  const bool every = info.head == RNNLAB_HEAD_EVERY_SOFTMAX;
  if (b.x.size() < n * info.input_size) b.x.resize(n * info.input_size);
  if (!regression && b.classes.size() < (every ? n : static_cast<size_t>(B))) b.classes.resize(every ? n : B);
  if (regression && b.values.size() < static_cast<size_t>(B) * info.output_size) b.values.resize(B * info.output_size);
  check(rnnlab_task_draw(&b.T, b.x.data(), b.x.size(), b.classes.data(), b.classes.size(), b.values.data(),
                         b.values.size(), task, B, length),
        "drawing a batch");
  b.B = B;
  if (shrink) {  // a batch that is kept (validation set): give back what this T does not use
    const size_t used = static_cast<size_t>(b.T) * B;
    b.x.resize(used * info.input_size);
    b.x.shrink_to_fit();
    if (every) {
      b.classes.resize(used);
      b.classes.shrink_to_fit();
    }
  }
}

rnnlab_targets targets_of(const Batch &b, const rnnlab_task_info &info) {
  rnnlab_targets t = RNNLAB_TARGETS_INIT;
  if (info.head == RNNLAB_HEAD_LAST_LINEAR) {
    t.values = b.values.data();
    t.count = static_cast<size_t>(b.B) * info.output_size;
  } else {
    t.classes = b.classes.data();
    t.count = info.head == RNNLAB_HEAD_EVERY_SOFTMAX ? static_cast<size_t>(b.T) * b.B : static_cast<size_t>(b.B);
  }
  return t;
}

// D of tasks.md: the longest diagnostic sequence the file must hold (the starter's formula).
int64_t storage_len(const Options &o) {
  if (o.task == "mem") return o.max_length + 2 * o.mempos;
  if (o.task == "add" || o.task == "mul")
    return o.max_length + static_cast<int64_t>(std::ceil(static_cast<double>(o.max_length) * 0.1)) + 2;
  return o.max_length;
}

std::string gib(double bytes) { return strf("%.1f GiB", bytes / (1024.0 * 1024.0 * 1024.0)); }

// Mean of the finite values of v[from, to) (NaN if none): Omega is NaN for a pass where no (t, b)
// is valid, and one such pass should not hide the others.
double finite_mean(const std::vector<float> &v, int64_t from, int64_t to) {
  double s = 0;
  int64_t n = 0;
  for (int64_t k = from; k < to; ++k)
    if (std::isfinite(v[k])) {
      s += v[k];
      ++n;
    }
  return n ? s / static_cast<double>(n) : kNaN;
}

// One number as Python's format() writes it for the same spec ("%05.3f" = "{:05.3f}"): identical
// to printf for finite values, but NaN and Inf come out as Python prints them ("nan", never
// "-nan"; zero padding kept: "00nan"), so logs of diverged runs read like the starter's.
std::string pyf(const char *spec, double v) {
  if (std::isfinite(v)) return strf(spec, v);
  bool zero = false;
  int width = 0;
  const char *p = spec + 1;  // past '%'
  if (*p == '0') {
    zero = true;
    ++p;
  }
  while (*p >= '0' && *p <= '9') width = width * 10 + (*p++ - '0');
  const bool neg = !std::isnan(v) && v < 0;
  const std::string body = std::isnan(v) ? "nan" : "inf";
  const int len = static_cast<int>(body.size()) + (neg ? 1 : 0);
  const int pad = width > len ? width - len : 0;
  if (zero) return std::string(neg ? "-" : "") + std::string(static_cast<size_t>(pad), '0') + body;
  return std::string(static_cast<size_t>(pad), ' ') + (neg ? "-" : "") + body;
}

// ---- the trainer -----------------------------------------------------------------------------------

class Trainer {
 public:
  explicit Trainer(const Options &o) : o_(o) {}
  int run();

 private:
  void setup();
  void train_step(int64_t n);
  void check_point(int64_t n);
  void validate();
  void diagnostics(int64_t pos, bool store);
  void save(const std::string &path);
  int32_t count_wrong(const rnnlab_task *task, const Batch &b, const std::vector<float> &y, size_t ny) const;
  struct ChunkResult {
    double nll = 0, err = 0, mae = 0, maxae = 0, e005 = 0, e010 = 0, eabs = 0;
  };
  // The validation workers: each has its own model handle (same configuration, parameters copied in
  // before every validation), task handle (for rnnlab_task_count_wrong) and output buffer.
  struct Worker {
    ModelPtr model;
    TaskPtr task;
    std::vector<float> y;
  };
  void eval_chunks(Worker &w, std::atomic<size_t> &next, std::vector<ChunkResult> &res) const;
  std::string out_path(const char *suffix) const;

  const Options &o_;
  Stopwatch total_;
  // Phase times (seconds) for --timing.
  double t_setup_ = 0, t_draw_ = 0, t_train_ = 0, t_valid_ = 0, t_rho_ = 0, t_diag_ = 0, t_io_ = 0;
  int64_t n_checks_ = 0, n_diag_ = 0, n_saves_ = 0;

  TaskPtr train_task_, valid_task_, diag_task_;
  rnnlab_task_info info_ = RNNLAB_TASK_INFO_INIT;
  ModelPtr model_;
  // Validation runs its chunks on --threads workers at once, one chunk per worker at a time, each
  // worker a model handle of its own on one library thread: chunks are independent, so this parallel
  // split needs no synchronisation inside a pass (an OpenMP split of one chunk's small per-step GEMMs
  // synchronises at every step). Workers take the next chunk from a shared counter, longest chunks
  // first (valid_order_), so that chunks of different lengths balance. Results are reduced in chunk
  // order, so the numbers do not depend on the thread count. With --threads 1 the one worker is the
  // training model itself.
  std::vector<Worker> workers_;
  std::vector<size_t> valid_order_;
  std::vector<float> params_;
  rnnlab_task_config task_cfg_ = RNNLAB_TASK_CONFIG_INIT;
  bool gru_ = false, regression_ = false, have_lapack_ = true;
  double alpha_ = 0;  // the alpha actually applied (0 for a GRU)
  int32_t bs_ = 0, cbs_ = 0, diag_bs_ = 0;
  int64_t S_ = 1, D_ = 1;

  Batch train_batch_, diag_batch_;
  std::vector<Batch> valid_;
  std::vector<float> y_;  // outputs of the diagnostics batch

  // Per iteration (maxiters,), -1 where not run.
  std::vector<float> train_nll_, grad_norm_, grad_norm_post_, omega_, steps_past_;
  std::vector<int32_t> seq_len_;
  // Per check (S,), -1 where not run.
  std::vector<float> valid_error_, rho_, diag_loss_, diag_err_, valid_nll_, valid_mae_, valid_maxae_;
  // Per check and step (S, D), NaN where not run; one per rnnlab trace.
  std::vector<std::vector<float>> traces_;
  int64_t diag_steps_ = -1;

  // Results of the last validation.
  double v_err_ = 0, v_nll_ = 0, v_mae_ = 0, v_maxae_ = 0, v_err005_ = 0, v_err010_ = 0, v_errabs_ = 0;
  double best_ = 100.0;
  int solved_ = 0;
  int64_t last_n_ = -1;
  Stopwatch since_save_;
  std::string status_;
  std::vector<double> trace_buf_;
};

std::string Trainer::out_path(const char *suffix) const {
  std::string base = o_.name + suffix;
  if (o_.out_dir.empty() || base[0] == '/') return base;
  return o_.out_dir + (o_.out_dir.back() == '/' ? "" : "/") + base;
}

void Trainer::setup() {
  ScopedTimer timer(&t_setup_);
  // ---- tasks: training (seed), frozen validation set (seed + valid_seed), diagnostics batch
  // (seed + valid_seed + 999), as the starter seeds its three RandomStates.
  rnnlab_task_config tc = RNNLAB_TASK_CONFIG_INIT;
  if (rnnlab_task_kind_from_name(&tc.kind, o_.task.c_str()) != RNNLAB_OK)
    throw UsageError(strf("--task: unknown task '%s'", o_.task.c_str()));
  tc.min_length = static_cast<int32_t>(o_.min_length);
  tc.max_length = static_cast<int32_t>(o_.max_length);
  tc.memvalues = static_cast<int32_t>(o_.memvalues);
  tc.mempos = static_cast<int32_t>(o_.mempos);
  const bool memall = o_.memall && o_.task == "mem";
  if (o_.memall && !memall) print_note("--memall applies to --task mem only; ignored");
  tc.mem_all = memall ? 1 : 0;
  task_cfg_ = tc;
  const uint64_t seeds[3] = {static_cast<uint64_t>(o_.seed), static_cast<uint64_t>(o_.seed + o_.valid_seed),
                             static_cast<uint64_t>(o_.seed + o_.valid_seed + 999)};
  TaskPtr *tasks[3] = {&train_task_, &valid_task_, &diag_task_};
  for (int k = 0; k < 3; ++k) {
    tc.seed = seeds[k];
    rnnlab_task *t = nullptr;
    if (rnnlab_task_create(&t, &tc) != RNNLAB_OK)
      // Every task setting came from a flag, so a refused one is a bad command line.
      throw UsageError(strf("bad task settings (--task %s --min_length %lld --max_length %lld --memvalues %lld "
                            "--mempos %lld%s): %s", o_.task.c_str(), static_cast<long long>(o_.min_length),
                            static_cast<long long>(o_.max_length), static_cast<long long>(o_.memvalues),
                            static_cast<long long>(o_.mempos), memall ? " --memall" : "", rnnlab_last_error()));
    tasks[k]->reset(t);
  }
  check(rnnlab_task_get_info(&info_, train_task_.get()), "task info");
  regression_ = info_.head == RNNLAB_HEAD_LAST_LINEAR;
  bs_ = static_cast<int32_t>(o_.bs);
  cbs_ = static_cast<int32_t>(o_.cbs);
  diag_bs_ = static_cast<int32_t>(std::min(o_.bs, o_.cbs));
  int32_t diag_max_steps = 0;
  if (rnnlab_task_steps(nullptr, &diag_max_steps, diag_task_.get(), static_cast<int32_t>(o_.max_length)) != RNNLAB_OK)
    throw UsageError(strf("--max_length %lld: %s", static_cast<long long>(o_.max_length), rnnlab_last_error()));
  const int64_t n_chunks = std::max<int64_t>(1, o_.ebs / o_.cbs);

  // ---- memory: refuse up front what cannot fit, with the numbers, rather than die half way.
  {
    const double H = static_cast<double>(o_.nhid), I = info_.input_size, O = info_.output_size;
    // Per (step, sequence) of a pass: inputs, outputs, targets, and the library's tape and backward
    // buffers (a GRU keeps h, r, z, n and pre-activations, about 12 H floats with dL/dh).
    const double per_step_seq = 4.0 * (I + 2 * O + 1 + 12 * H);
    const double avail = static_cast<double>(available_memory_bytes());
    // The logs kept for the npz: 6 per-iteration arrays, 13 (S, D) traces and the rest per check.
    const double S = std::max<double>(1, static_cast<double>(o_.maxiters / o_.checkFreq));
    const double logs = static_cast<double>(o_.maxiters) * 24.0 + S * static_cast<double>(storage_len(o_)) * 52.0;
    if (memall) {
      const double patterns = std::pow(static_cast<double>(o_.memvalues), static_cast<double>(o_.mempos));
      // Training batch + validation chunks (inputs and targets) + diagnostics batch, all of B = patterns.
      const double need = patterns * info_.max_steps * (per_step_seq + 4.0 * (I + 1) * static_cast<double>(n_chunks)) +
                          patterns * diag_max_steps * per_step_seq + logs;
      if (patterns > 2147483647.0 || (avail > 0 && need > 0.8 * avail))
        throw RunError(strf("--memall: one batch of all %lld^%lld = %.0f patterns of up to %d steps would need about %s "
                            "(estimate), and this machine has %s available; lower --memvalues / --mempos or "
                            "drop --memall", static_cast<long long>(o_.memvalues), static_cast<long long>(o_.mempos),
                            patterns, info_.max_steps, gib(need).c_str(), gib(avail).c_str()));
      bs_ = cbs_ = diag_bs_ = info_.fixed_batch;
    } else {
      const double need = static_cast<double>(n_chunks) * o_.cbs * info_.max_steps * 4.0 * (I + 1) +
                          static_cast<double>(o_.cbs) * info_.max_steps * per_step_seq *
                              static_cast<double>(std::min<int64_t>(o_.threads, n_chunks)) +
                          static_cast<double>(o_.bs) * info_.max_steps * per_step_seq + logs;
      if (avail > 0 && need > 0.8 * avail)
        throw RunError(strf("--ebs %lld --cbs %lld --bs %lld --maxiters %lld: the validation set, the passes and "
                            "the logs would need about %s (estimate), and this machine has %s available",
                            static_cast<long long>(o_.ebs), static_cast<long long>(o_.cbs),
                            static_cast<long long>(o_.bs), static_cast<long long>(o_.maxiters), gib(need).c_str(),
                            gib(avail).c_str()));
    }
  }

  // ---- model
  gru_ = o_.model == "gru";
  rnnlab_config cfg = RNNLAB_CONFIG_INIT;
  std::string cell_desc;
  if (gru_) {
    const bool lbr = o_.gru_variant == "linear_before_reset";
    cfg.cell = lbr ? RNNLAB_CELL_GRU : RNNLAB_CELL_GRU_RESET_BEFORE;
    cfg.init = RNNLAB_INIT_CS728_GRU;  // the starter's GRU ignores --init
    cell_desc = lbr ? "GRU, linear-before-reset (PyTorch/cuDNN variant)" : "GRU, reset-before (the handout's)";
    cell_desc += ", init cs728_gru";
    if (o_.alpha != 0)
      print_note(strf("--alpha %g is ignored for a GRU: the Omega term applies to vanilla RNNs only (alpha 0)",
                      o_.alpha));
  } else {
    if (o_.init == "sigmoid") {
      cfg.cell = RNNLAB_CELL_RNN_SIGMOID;
      cfg.init = RNNLAB_INIT_SIGMOID;
    } else if (o_.init == "basic_tanh") {
      cfg.cell = RNNLAB_CELL_RNN_TANH;
      cfg.init = RNNLAB_INIT_BASIC_TANH;
    } else if (o_.init == "smart_tanh") {
      cfg.cell = RNNLAB_CELL_RNN_TANH;
      cfg.init = RNNLAB_INIT_SMART_TANH;
    } else {
      cfg.cell = RNNLAB_CELL_RNN_LINEAR;
      cfg.init = RNNLAB_INIT_TEST;
    }
    cell_desc = strf("RNN, %s units, init %s",
                     o_.init == "sigmoid" ? "logistic" : o_.init == "test" ? "linear" : "tanh", o_.init.c_str());
    alpha_ = o_.alpha;
  }
  cfg.input_size = info_.input_size;
  cfg.hidden_size = static_cast<int32_t>(o_.nhid);
  cfg.head = info_.head;
  cfg.output_size = info_.output_size;
  cfg.bias_mode = RNNLAB_BIAS_SINGLE;  // one bias per gate, as the starter and Pascanu's code
  cfg.seed = static_cast<uint64_t>(o_.seed);
  cfg.threads = static_cast<int32_t>(o_.train_threads);
  cfg.diag_level = RNNLAB_DIAG_SUMMARY;  // Omega and steps-in-the-past every iteration
  cfg.sat_thresh = static_cast<float>(o_.satThresh);
  cfg.bound = o_.bound;
  // Backend: --backend wins; else --device (cuda falls back to the CPU, as the starter does).
  std::string backend = o_.backend;
  if (backend.empty()) {
    backend = "auto";
    if (o_.device == "cuda") {
      if (rnnlab_backend_available(RNNLAB_BACKEND_CUDA)) backend = "cuda";
      else print_note("--device cuda: no CUDA backend or device here; running on the CPU");
    }
  }
  cfg.backend = backend == "reference" ? RNNLAB_BACKEND_REFERENCE
                : backend == "cpu"     ? RNNLAB_BACKEND_CPU
                : backend == "cuda"    ? RNNLAB_BACKEND_CUDA
                                       : RNNLAB_BACKEND_AUTO;
  if (cfg.backend != RNNLAB_BACKEND_AUTO && !rnnlab_backend_available(cfg.backend))
    throw RunError(strf("--backend %s: this build of rnnlab has no such backend, or no device for it here",
                        backend.c_str()));
  rnnlab_model *m = nullptr;
  check(rnnlab_create(&m, &cfg), "creating the model");
  model_.reset(m);
  rnnlab_config got = RNNLAB_CONFIG_INIT;
  check(rnnlab_get_config(&got, m), "reading the model's configuration");
  {
    const int64_t n_workers = std::min<int64_t>(o_.threads, n_chunks);
    workers_.resize(static_cast<size_t>(n_workers));
    for (int64_t k = 0; k < n_workers; ++k) {
      Worker &w = workers_[static_cast<size_t>(k)];
      rnnlab_task_config vc = task_cfg_;
      vc.seed = seeds[1];
      rnnlab_task *t = nullptr;
      check(rnnlab_task_create(&t, &vc), "creating a validation worker's task");
      w.task.reset(t);
      if (n_workers == 1 && o_.train_threads == 1) continue;  // the training model serves
      rnnlab_config ec = cfg;
      ec.threads = 1;
      ec.diag_level = RNNLAB_DIAG_OFF;  // forward passes only
      rnnlab_model *e = nullptr;
      check(rnnlab_create(&e, &ec), "creating a validation model");
      w.model.reset(e);
    }
    size_t total = 0;
    check(rnnlab_param_count(&total, nullptr, m), "rnnlab_param_count");
    params_.resize(total);
  }

  rnnlab_optimizer_config oc = RNNLAB_OPTIMIZER_CONFIG_INIT;
  oc.kind = RNNLAB_OPTIMIZER_SGD;
  oc.lr = o_.lr;
  oc.clip = o_.clipstyle == "rescale" ? RNNLAB_CLIP_RESCALE : RNNLAB_CLIP_NOTHING;
  oc.cutoff = o_.cutoff;
  oc.alpha = alpha_;
  check(rnnlab_set_optimizer(m, &oc), "setting the optimiser");
  have_lapack_ = rnnlab_has_feature(RNNLAB_FEATURE_LAPACK) != 0;
  if (!have_lapack_) print_note("this rnnlab was built without LAPACKE: rho_Whh is reported as NaN");

  // The files must be writable before hours of training, not after (and after every check of the
  // command line, so that a bad flag is reported as such).
  check_writable_dir_of(out_path("_final_state.npz"));

  // ---- the frozen validation set and the fixed diagnostics batch, drawn once.
  valid_.resize(static_cast<size_t>(n_chunks));
  for (Batch &b : valid_) draw(b, valid_task_.get(), info_, cbs_, 0, true);
  valid_order_.resize(valid_.size());
  for (size_t c = 0; c < valid_.size(); ++c) valid_order_[c] = c;
  std::stable_sort(valid_order_.begin(), valid_order_.end(),
                   [this](size_t a, size_t b) { return valid_[a].T > valid_[b].T; });
  if (o_.collectDiags) draw(diag_batch_, diag_task_.get(), info_, diag_bs_, static_cast<int32_t>(o_.max_length), true);
  // Outputs of every step: the valid error is counted by rnnlab_task_count_wrong from them (its rule
  // counts a NaN output as wrong, so a diverged model scores 100 %, as the starter's argmax does).
  int32_t maxT = 1;
  for (const Batch &b : valid_) maxT = std::max(maxT, b.T);
  for (Worker &w : workers_) w.y.resize(static_cast<size_t>(maxT) * cbs_ * info_.output_size);
  y_.resize(static_cast<size_t>(std::max(1, diag_batch_.T)) * diag_bs_ * info_.output_size);

  // ---- stores, as the starter sizes them.
  S_ = std::max<int64_t>(1, o_.maxiters / o_.checkFreq);
  D_ = storage_len(o_);
  const size_t iters = static_cast<size_t>(o_.maxiters);
  for (auto *v : {&train_nll_, &grad_norm_, &grad_norm_post_, &omega_, &steps_past_}) v->assign(iters, -1.0f);
  seq_len_.assign(iters, -1);
  for (auto *v : {&valid_error_, &rho_, &diag_loss_, &diag_err_, &valid_nll_, &valid_mae_, &valid_maxae_})
    v->assign(static_cast<size_t>(S_), -1.0f);
  traces_.assign(RNNLAB_TRACE_COUNT, std::vector<float>(static_cast<size_t>(S_ * D_), NAN));

  const char *head = info_.head == RNNLAB_HEAD_EVERY_SOFTMAX ? "softmax at every step"
                     : info_.head == RNNLAB_HEAD_LAST_SOFTMAX ? "softmax at the last step"
                                                              : "linear output at the last step";
  std::printf("rnnlab-train %s (CS728 drop-in, %s kernels): task %s (%d inputs, %d outputs, %s), %s, H=%lld, single bias\n",
              rnnlab_version(), rnnlab_cpu_isa_name(rnnlab_cpu_isa_best()), o_.task.c_str(), info_.input_size, info_.output_size, head, cell_desc.c_str(),
              static_cast<long long>(o_.nhid));
  std::printf("SGD lr %g, clip %s%s, alpha %g; backend %s, training on %lld thread%s; validation %lld x %d "
              "sequences on %zu thread%s; diagnostics %s\n",
              o_.lr, o_.clipstyle.c_str(), o_.clipstyle == "rescale" ? strf(" at %g", o_.cutoff).c_str() : "", alpha_,
              rnnlab_backend_name(got.backend), static_cast<long long>(o_.train_threads),
              o_.train_threads == 1 ? "" : "s",
              static_cast<long long>(n_chunks), cbs_, workers_.size(), workers_.size() == 1 ? "" : "s",
              o_.collectDiags ? strf("%d sequences, T=%d", diag_bs_, diag_batch_.T).c_str() : "off");
  std::printf("Starting to train (rnnlab).\n");
  std::fflush(stdout);
}

void Trainer::train_step(int64_t n) {
  rnnlab_model *m = model_.get();
  {
    ScopedTimer timer(&t_draw_);
    draw(train_batch_, train_task_.get(), info_, bs_, 0, false);
  }
  ScopedTimer timer(&t_train_);
  const Batch &b = train_batch_;
  check(rnnlab_reset(m), "rnnlab_reset");
  check(rnnlab_step(nullptr, 0, m, b.x.data(), static_cast<size_t>(b.T) * b.B * info_.input_size, b.T, b.B),
        "training forward (rnnlab_step)");
  const rnnlab_targets tg = targets_of(b, info_);
  check(rnnlab_backward(m, &tg), "training backward (rnnlab_backward)");
  check(rnnlab_update(m), "SGD update (rnnlab_update)");
  rnnlab_diag d = RNNLAB_DIAG_INIT;
  check(rnnlab_diagnostics(&d, m), "rnnlab_diagnostics");
  train_nll_[n] = static_cast<float>(d.loss);
  grad_norm_[n] = static_cast<float>(d.grad_norm);
  grad_norm_post_[n] = static_cast<float>(d.grad_norm_post_clip);
  omega_[n] = static_cast<float>(d.omega);
  steps_past_[n] = static_cast<float>(d.steps_in_past);
  seq_len_[n] = b.T;
}

// Wrong sequences of batch b by the task's valid-error rule, from the outputs in y.
int32_t Trainer::count_wrong(const rnnlab_task *task, const Batch &b, const std::vector<float> &y, size_t ny) const {
  const rnnlab_targets tg = targets_of(b, info_);
  int32_t wrong = 0;
  check(rnnlab_task_count_wrong(&wrong, task, y.data(), ny, b.T, b.B, tg.classes, tg.classes ? tg.count : 0,
                                tg.values, tg.values ? tg.count : 0, static_cast<float>(o_.err_abs)),
        "counting wrong sequences (rnnlab_task_count_wrong)");
  return wrong;
}

// Evaluates validation chunks on worker w into res[chunk], taking valid_order_[next++] until none is left.
void Trainer::eval_chunks(Worker &w, std::atomic<size_t> &next, std::vector<ChunkResult> &res) const {
  rnnlab_model *m = w.model ? w.model.get() : model_.get();
  check(rnnlab_set_training(m, 0), "rnnlab_set_training");
  const int32_t O = info_.output_size;
  for (size_t k = next++; k < valid_order_.size(); k = next++) {
    const size_t c = valid_order_[k];
    const Batch &b = valid_[c];
    ChunkResult &r = res[c];
    check(rnnlab_reset(m), "rnnlab_reset");
    const size_t ny = static_cast<size_t>(b.T) * b.B * O;
    check(rnnlab_step(w.y.data(), ny, m, b.x.data(), static_cast<size_t>(b.T) * b.B * info_.input_size, b.T, b.B),
          "validation forward (rnnlab_step)");
    const rnnlab_targets tg = targets_of(b, info_);
    check(rnnlab_loss(&r.nll, nullptr, m, &tg, static_cast<float>(o_.err_abs)), "validation loss (rnnlab_loss)");
    r.err = static_cast<double>(count_wrong(w.task.get(), b, w.y, ny)) / b.B;
    if (regression_) {
      // The starter's extra regression figures, per chunk over the last step's outputs.
      const float *y = w.y.data() + static_cast<size_t>(b.T - 1) * b.B * O;
      double sum = 0, mx = 0;
      bool nan_seen = false;  // a diverged model: its maxae is NaN, not the largest finite error
      int64_t c005 = 0, c010 = 0, cabs = 0;
      const size_t cnt = static_cast<size_t>(b.B) * O;
      for (size_t k = 0; k < cnt; ++k) {
        const double a = std::fabs(static_cast<double>(y[k]) - b.values[k]);
        sum += a;
        if (std::isnan(a)) nan_seen = true;
        else mx = std::max(mx, a);
        c005 += a > 0.05;
        c010 += a > 0.10;
        cabs += a > o_.err_abs;
      }
      r.mae = sum / cnt;
      r.maxae = nan_seen ? kNaN : mx;
      r.e005 = static_cast<double>(c005) / cnt;
      r.e010 = static_cast<double>(c010) / cnt;
      r.eabs = static_cast<double>(cabs) / cnt;
    }
  }
  check(rnnlab_set_training(m, 1), "rnnlab_set_training");
}

void Trainer::validate() {
  ScopedTimer timer(&t_valid_);
  const size_t W = workers_.size();
  if (workers_[0].model) {
    check(rnnlab_get_params(params_.data(), params_.size(), model_.get()), "rnnlab_get_params");
    for (Worker &w : workers_)
      check(rnnlab_set_params(w.model.get(), params_.data(), params_.size()),
            "copying the parameters to a validation model (rnnlab_set_params)");
  }
  std::vector<ChunkResult> res(valid_.size());
  // Worker 0 runs on this thread; a failure on any thread is rethrown here, with its message (the
  // library's last error is per thread, so each worker reads its own).
  std::vector<std::exception_ptr> failed(W);
  std::vector<std::thread> threads;
  std::atomic<size_t> next{0};
  for (size_t k = 1; k < W; ++k)
    threads.emplace_back([&, k] {
      try {
        eval_chunks(workers_[k], next, res);
      } catch (...) {
        failed[k] = std::current_exception();
      }
    });
  try {
    eval_chunks(workers_[0], next, res);
  } catch (...) {
    failed[0] = std::current_exception();
  }
  for (std::thread &t : threads) t.join();
  for (const std::exception_ptr &e : failed)
    if (e) std::rethrow_exception(e);

  // Mean over chunks of the chunk means, as the starter (every chunk has cbs sequences), summed in
  // chunk order whatever the number of workers.
  double err = 0, nll = 0, mae = 0, maxae = 0, e005 = 0, e010 = 0, eabs = 0;
  for (const ChunkResult &r : res) {
    err += r.err;
    nll += r.nll;
    mae += r.mae;
    maxae = std::isnan(r.maxae) || std::isnan(maxae) ? kNaN : std::max(maxae, r.maxae);
    e005 += r.e005;
    e010 += r.e010;
    eabs += r.eabs;
  }
  const double nc = static_cast<double>(valid_.size());
  v_err_ = 100.0 * err / nc;
  v_nll_ = nll / nc;
  v_mae_ = mae / nc;
  v_maxae_ = maxae;
  v_err005_ = 100.0 * e005 / nc;
  v_err010_ = 100.0 * e010 / nc;
  v_errabs_ = 100.0 * eabs / nc;
}

// Runs the fixed diagnostics batch at level full (gradients discarded, parameters untouched),
// stores its traces at row pos (when store) and prints the [diag] lines.
void Trainer::diagnostics(int64_t pos, bool store) {
  ScopedTimer timer(&t_diag_);
  ++n_diag_;
  rnnlab_model *m = model_.get();
  const Batch &b = diag_batch_;
  check(rnnlab_set_diag_level(m, RNNLAB_DIAG_FULL), "rnnlab_set_diag_level");
  check(rnnlab_reset(m), "rnnlab_reset");
  const size_t ny = static_cast<size_t>(b.T) * b.B * info_.output_size;
  check(rnnlab_step(y_.data(), ny, m, b.x.data(), static_cast<size_t>(b.T) * b.B * info_.input_size, b.T, b.B),
        "diagnostics forward (rnnlab_step)");
  const rnnlab_targets tg = targets_of(b, info_);
  double loss = 0;
  check(rnnlab_loss(&loss, nullptr, m, &tg, static_cast<float>(o_.err_abs)), "diagnostics loss (rnnlab_loss)");
  const int32_t wrong = count_wrong(diag_task_.get(), b, y_, ny);
  check(rnnlab_backward(m, &tg), "diagnostics backward (rnnlab_backward)");

  trace_buf_.resize(static_cast<size_t>(b.T));
  const bool gates = gru_ && o_.diagGates;
  std::vector<std::vector<double>> got(RNNLAB_TRACE_COUNT);
  for (int k = 0; k < RNNLAB_TRACE_COUNT; ++k) {
    const rnnlab_trace tr = static_cast<rnnlab_trace>(k);
    if (!rnnlab_has_trace(m, tr)) continue;
    const char *tname = rnnlab_trace_name(tr);
    // Gate traces only with --diagGates, as the starter's gate rows (and so all gate keys agree).
    if (!gates && std::strncmp(tname, "gate_", 5) == 0) continue;
    int32_t len = 0;
    check(rnnlab_get_trace(trace_buf_.data(), trace_buf_.size(), &len, m, tr), "rnnlab_get_trace");
    got[k].assign(trace_buf_.begin(), trace_buf_.begin() + len);
  }
  // The [diag] histograms' summaries, computed as the starter does with numpy.
  rnnlab_summary gs = RNNLAB_SUMMARY_INIT;
  check(rnnlab_trace_summary(&gs, nullptr, static_cast<int32_t>(o_.diagBins), 0, 0, m, RNNLAB_TRACE_GRAD_TIME),
        "rnnlab_trace_summary");
  check(rnnlab_zero_grad(m), "rnnlab_zero_grad");
  check(rnnlab_set_diag_level(m, RNNLAB_DIAG_SUMMARY), "rnnlab_set_diag_level");

  diag_steps_ = b.T;
  if (store) {
    const int64_t Tstore = std::min<int64_t>(b.T, D_);
    for (int k = 0; k < RNNLAB_TRACE_COUNT; ++k) {
      if (got[k].empty()) continue;
      float *row = traces_[k].data() + pos * D_;
      for (int64_t t = 0; t < Tstore && t < static_cast<int64_t>(got[k].size()); ++t) row[t] = static_cast<float>(got[k][t]);
    }
    diag_loss_[pos] = static_cast<float>(loss);
    diag_err_[pos] = static_cast<float>(static_cast<double>(wrong) / b.B);
  }

  // With no finite g_t at all (a diverged model) there is no range either.
  const double glo = gs.count ? gs.lo : kNaN, ghi = gs.count ? gs.hi : kNaN;
  std::printf("  [diag] log10|dL/dh_t| hist bins=%lld range=(%s,%s) mean=%s p50=%s p05=%s p95=%s\n",
              static_cast<long long>(o_.diagBins), pyf("%.2f", glo).c_str(), pyf("%.2f", ghi).c_str(),
              pyf("%.2f", gs.mean).c_str(), pyf("%.2f", gs.p50).c_str(), pyf("%.2f", gs.p05).c_str(),
              pyf("%.2f", gs.p95).c_str());
  // sat<S: the share of time steps whose mean distance is below S (the starter's figure).
  auto summary_of = [&](const std::vector<double> &v) {
    rnnlab_summary s = RNNLAB_SUMMARY_INIT;
    if (!v.empty())
      check(rnnlab_summarize(&s, nullptr, static_cast<int32_t>(o_.diagBins), 0.0, 1.0, v.data(), v.size()),
            "rnnlab_summarize");
    if (s.count == 0) s.mean = s.p10 = s.p90 = kNaN;  // no trace, or only NaN in it
    return s;
  };
  const std::vector<double> &sat = got[RNNLAB_TRACE_SAT_TIME];
  const rnnlab_summary ss = summary_of(sat);
  double below = kNaN;
  if (!sat.empty()) {
    int64_t c = 0;
    for (double v : sat) c += v < o_.satThresh;
    below = 100.0 * static_cast<double>(c) / static_cast<double>(sat.size());
  }
  std::printf("  [diag] sat-dist hist bins=%lld sat<%s=%s%% mean=%s p10=%s p90=%s\n",
              static_cast<long long>(o_.diagBins), pyf("%g", o_.satThresh).c_str(), pyf("%.1f", below).c_str(),
              pyf("%.3f", ss.mean).c_str(), pyf("%.3f", ss.p10).c_str(), pyf("%.3f", ss.p90).c_str());
  if (gates) {
    const char *which[2] = {"z", "r"};
    const rnnlab_trace tr[2] = {RNNLAB_TRACE_GATE_Z_SAT_TIME, RNNLAB_TRACE_GATE_R_SAT_TIME};
    for (int k = 0; k < 2; ++k) {
      const rnnlab_summary gsum = summary_of(got[tr[k]]);
      std::printf("  [diag] %s-gate sat-dist hist bins=%lld mean=%s p10=%s p90=%s\n", which[k],
                  static_cast<long long>(o_.diagBins), pyf("%.3f", gsum.mean).c_str(), pyf("%.3f", gsum.p10).c_str(),
                  pyf("%.3f", gsum.p90).c_str());
    }
  }
}

void Trainer::check_point(int64_t n) {
  ++n_checks_;
  // tasks.md: averages over the last checkFreq iterations, n - checkFreq + 1 .. n. (The starter sums
  // from its previous check, so its first average has checkFreq + 1 terms over checkFreq.)
  const int64_t from = n - o_.checkFreq + 1;
  const double cnt = static_cast<double>(o_.checkFreq);
  double avg_nll = 0, avg_norm = 0, avg_post = 0;
  for (int64_t k = from; k <= n; ++k) {
    avg_nll += train_nll_[k];
    avg_norm += grad_norm_[k];
    avg_post += grad_norm_post_[k];
  }
  avg_nll /= cnt;
  avg_norm /= cnt;
  avg_post /= cnt;
  const double avg_omega = finite_mean(omega_, from, n + 1);
  const double avg_steps = finite_mean(steps_past_, from, n + 1);

  validate();
  double rho = kNaN;
  if (have_lapack_) {
    ScopedTimer timer(&t_rho_);
    // The candidate block: W_hn of a GRU, W_hh of a vanilla RNN (the starter's recurrent_weight_for_rho).
    // A matrix gone NaN has no spectrum; that is reported as NaN, not as a failure.
    if (rnnlab_spectral(&rho, nullptr, model_.get(), RNNLAB_BLOCK_HN) != RNNLAB_OK) rho = kNaN;
  }
  const int64_t pos = n / o_.checkFreq;
  const bool store = pos < S_;
  if (store) {
    valid_error_[pos] = static_cast<float>(v_err_);
    rho_[pos] = static_cast<float>(rho);
    valid_nll_[pos] = static_cast<float>(v_nll_);
    if (regression_) {
      valid_mae_[pos] = static_cast<float>(v_mae_);
      valid_maxae_[pos] = static_cast<float>(v_maxae_);
    }
  }

  // The starter's f-string, field by field.
  std::string line = strf("Iter %07lld: ", static_cast<long long>(n));
  line += "train nll " + pyf("%05.3f", avg_nll) + ", ";
  line += "valid error " + pyf("%07.3f", v_err_) + "%, ";
  line += "best valid error " + pyf("%07.3f", best_) + "%, ";
  line += "avg grad norm " + pyf("%7.3f", avg_norm) + ", ";
  line += "avg grad norm (post clip) " + pyf("%7.3f", avg_post) + ", ";
  line += "rho_Whh " + pyf("%5.2f", rho) + ", ";
  line += "Omega " + pyf("%5.2f", avg_omega) + ", ";
  line += "alpha " + pyf("%6.3f", alpha_) + ", ";
  line += "steps in the past " + pyf("%05.3f", avg_steps);
  line += ", valid nll " + pyf("%05.3f", v_nll_);
  if (regression_) {
    line += ", valid mae " + pyf("%05.3f", v_mae_);
    line += ", err@0.05 " + pyf("%06.2f", v_err005_) + "%";
    line += ", err@0.10 " + pyf("%06.2f", v_err010_) + "%";
    line += ", err@" + pyf("%.2f", o_.err_abs) + " " + pyf("%06.2f", v_errabs_) + "%";
    line += ", maxae " + pyf("%05.3f", v_maxae_);
  }
  std::printf("%s\n", line.c_str());
  if (o_.collectDiags) diagnostics(pos, store);

  if (v_err_ < best_) best_ = v_err_;
  if (v_err_ < 0.0001 && std::isfinite(v_nll_)) {
    solved_ = 1;
    std::printf("!!!!! STOPPING - Problem solved\n");
  }
  std::fflush(stdout);
  status_ = strf("valid %.3f%% (best %.3f%%)", v_err_, best_);

  if (!solved_ && since_save_.seconds() > o_.saveFreq * 60.0) {
    save(out_path("_state.npz"));
    since_save_.reset();
  }
}

void Trainer::save(const std::string &path) {
  ScopedTimer timer(&t_io_);
  ++n_saves_;
  rnnlab_npz *raw = nullptr;
  check(rnnlab_npz_create(&raw, 0), "rnnlab_npz_create");
  NpzPtr z(raw);
  const int64_t iters[1] = {o_.maxiters}, checks[1] = {S_}, sd[2] = {S_, D_};
  auto f32 = [&](const char *key, const std::vector<float> &v, int32_t ndim, const int64_t *shape) {
    check(rnnlab_npz_add_float32(z.get(), key, v.data(), v.size(), ndim, shape), "npz");
  };
  auto i64 = [&](const char *key, int64_t v) { check(rnnlab_npz_add_int64(z.get(), key, &v, 1, 0, nullptr), "npz"); };
  // The starter's keys, in its order.
  f32("train_nll", train_nll_, 1, iters);
  f32("valid_error", valid_error_, 1, checks);
  f32("gradient_norm", grad_norm_, 1, iters);
  f32("rho_Whh", rho_, 1, checks);
  f32("Omega", omega_, 1, iters);
  f32("steps_in_past", steps_past_, 1, iters);
  for (rnnlab_trace tr : {RNNLAB_TRACE_GRAD_TIME, RNNLAB_TRACE_ACT_TIME, RNNLAB_TRACE_SAT_TIME,
                          RNNLAB_TRACE_GATE_Z_SAT_TIME, RNNLAB_TRACE_GATE_R_SAT_TIME})
    f32(rnnlab_trace_name(tr), traces_[tr], 2, sd);
  f32("diag_loss", diag_loss_, 1, checks);
  f32("diag_err", diag_err_, 1, checks);
  i64("diag_len", o_.max_length);
  i64("diag_bs", diag_bs_);
  i64("checkFreq", o_.checkFreq);
  // rnnlab's additions: every other trace, same (S, D) layout.
  for (int k = 0; k < RNNLAB_TRACE_COUNT; ++k) {
    const char *key = rnnlab_trace_name(static_cast<rnnlab_trace>(k));
    if (!rnnlab_npz_contains(z.get(), key)) f32(key, traces_[k], 2, sd);
  }
  f32("gradient_norm_post_clip", grad_norm_post_, 1, iters);
  check(rnnlab_npz_add_int32(z.get(), "seq_len", seq_len_.data(), seq_len_.size(), 1, iters), "npz");
  f32("valid_nll", valid_nll_, 1, checks);
  f32("valid_mae", valid_mae_, 1, checks);
  f32("valid_maxae", valid_maxae_, 1, checks);
  i64("diag_steps", diag_steps_);
  i64("solved", solved_);
  i64("steps", last_n_);
  const double best = best_;
  check(rnnlab_npz_add_float64(z.get(), "best_valid_error", &best, 1, 0, nullptr), "npz");
  check(rnnlab_npz_add_params(z.get(), model_.get(), nullptr, 0), "npz parameters");
  check(rnnlab_npz_save(z.get(), path.c_str()), "writing the state file");
}

int Trainer::run() {
  setup();
  Progress bar(o_.maxiters, "it");
  since_save_.reset();
  for (int64_t n = 0; n < o_.maxiters && !solved_; ++n) {
    train_step(n);
    last_n_ = n;
    if (n % o_.checkFreq == 0 && n > 0) {
      bar.clear();
      check_point(n);
    }
    bar.update(n + 1, status_);
  }
  bar.clear();
  save(out_path("_final_state.npz"));
  if (o_.timing) {
    const double total = total_.seconds();
    const double other = total - (t_setup_ + t_draw_ + t_train_ + t_valid_ + t_rho_ + t_diag_ + t_io_);
    const double iters = static_cast<double>(last_n_ + 1);
    std::printf("[time] total %.2fs: training %.2fs (%.0f iterations, %.3f ms each; batch draws %.2fs of it), "
                "validation %.2fs (%lld checks, %.1f ms each), rho %.2fs, diagnostics %.2fs (%lld passes), "
                "I/O %.2fs (%lld npz), setup %.2fs, other %.2fs\n",
                total, t_train_ + t_draw_, iters, iters > 0 ? 1000.0 * (t_train_ + t_draw_) / iters : 0.0, t_draw_,
                t_valid_, static_cast<long long>(n_checks_), n_checks_ ? 1000.0 * t_valid_ / n_checks_ : 0.0, t_rho_,
                t_diag_, static_cast<long long>(n_diag_), t_io_, static_cast<long long>(n_saves_), t_setup_, other);
  }
  std::printf("Done. solved=%d steps=%lld best_valid_error=%s%%\n", solved_, static_cast<long long>(last_n_),
              pyf("%.4f", best_).c_str());
  std::fflush(stdout);
  return 0;
}

// The --threads default: OMP_NUM_THREADS when it is a plain positive number (what a user who set it
// expects), else 1 (the library's own default; a tiny B = 20 batch gains little from more).
int64_t default_threads() {
  const char *e = std::getenv("OMP_NUM_THREADS");
  if (!e || !*e) return 1;
  char *end = nullptr;
  const long v = std::strtol(e, &end, 10);
  return (*end == '\0' && v >= 1 && v <= 1024) ? v : 1;
}

}  // namespace

int rnnlab_train_cs728(int argc, char **argv) {
  try {
    Options o;
    o.threads = default_threads();
    constexpr int64_t kI32 = 2147483647;
    constexpr double kBig = 1e300;
    Flags f("rnnlab-train");
    f.add_choice("task", &o.task, {"torder", "torder3", "add", "mul", "mem", "perm"});
    f.add_choice("model", &o.model, {"rnn", "gru"});
    f.add_choice("init", &o.init, {"sigmoid", "basic_tanh", "smart_tanh", "test"});
    f.add_int("nhid", &o.nhid, 1, 1 << 20);
    // Seeds are summed (seed + valid_seed + 999) and must stay non-negative 64-bit values.
    f.add_int("seed", &o.seed, 0, int64_t(1) << 60);
    f.add_double("alpha", &o.alpha, 0.0, kBig);
    f.add_double("lr", &o.lr, std::numeric_limits<double>::min(), kBig);
    f.add_int("min_length", &o.min_length, 1, 1 << 24);
    f.add_int("max_length", &o.max_length, 1, 1 << 24);
    f.add_int("bs", &o.bs, 1, kI32);
    f.add_double("bound", &o.bound, 0.0, kBig);
    f.add_choice("clipstyle", &o.clipstyle, {"rescale", "nothing"});
    f.add_double("cutoff", &o.cutoff, std::numeric_limits<double>::min(), kBig);
    f.add_int("maxiters", &o.maxiters, 1, int64_t(1) << 40);
    f.add_int("ebs", &o.ebs, 1, kI32);
    f.add_int("cbs", &o.cbs, 1, kI32);
    f.add_int("checkFreq", &o.checkFreq, 1, int64_t(1) << 40);
    f.add_double("err_abs", &o.err_abs, 0.0, kBig);
    f.add_int("valid_seed", &o.valid_seed, 0, int64_t(1) << 60);
    f.add_switch("collectDiags", &o.collectDiags);
    f.add_int("diagBins", &o.diagBins, 1, 1 << 20);
    f.add_double("satThresh", &o.satThresh, 0.0, 1.0);
    f.add_switch("diagGates", &o.diagGates);
    f.add_double("saveFreq", &o.saveFreq, 0.0, kBig);
    f.add_string("name", &o.name);
    f.add_int("memvalues", &o.memvalues, 1, 1000);
    f.add_int("mempos", &o.mempos, 1, 100000);
    f.add_switch("memall", &o.memall);
    f.add_choice("device", &o.device, {"cpu", "cuda"});
    f.add_choice("gru_variant", &o.gru_variant, {"reset_before", "linear_before_reset"});
    f.add_choice("backend", &o.backend, {"auto", "reference", "cpu", "cuda"});
    f.add_int("threads", &o.threads, 1, 1024);
    f.add_int("train_threads", &o.train_threads, 1, 1024);
    f.add_string("out_dir", &o.out_dir);
    f.add_alias("out-dir", "out_dir");
    f.add_switch("timing", &o.timing);
    if (!f.parse(argc, argv, 1)) {
      std::fputs(kHelp, stdout);
      return 0;
    }
    if (o.name.empty()) throw UsageError("--name: empty name");
    // Contradictions between flags are refused here, before any work (exit 2, one line).
    if (o.min_length > o.max_length)
      throw UsageError(strf("--min_length %lld is greater than --max_length %lld", static_cast<long long>(o.min_length),
                            static_cast<long long>(o.max_length)));
    if (o.cbs > o.ebs)
      throw UsageError(strf("--cbs %lld is greater than --ebs %lld: validation would run one chunk of %lld "
                            "sequences, not the %lld asked for",
                            static_cast<long long>(o.cbs), static_cast<long long>(o.ebs),
                            static_cast<long long>(o.cbs), static_cast<long long>(o.ebs)));
    {
      // The output directory must take files now, not fail after the whole run.
      const std::string base = o.name + "_final_state.npz";
      const std::string out = o.out_dir.empty() || base[0] == '/'
                                  ? base
                                  : o.out_dir + (o.out_dir.back() == '/' ? "" : "/") + base;
      try {
        check_writable_dir_of(out);
      } catch (const RunError &e) {
        throw UsageError(e.what());
      }
    }
    if (o.model == "gru" && f.given("init"))
      print_note(strf("--init %s does not apply to --model gru (its init is the starter's cs728_gru)", o.init.c_str()));
    if (o.model != "gru" && f.given("gru_variant")) print_note("--gru_variant applies to --model gru only; ignored");
    Trainer t(o);
    return t.run();
  } catch (const UsageError &e) {
    print_error(e.what());
    return kExitUsage;
  } catch (const RunError &e) {
    print_error(e.what());
    return kExitFailure;
  } catch (const std::bad_alloc &) {
    print_error("out of memory");
    return kExitFailure;
  } catch (const std::exception &e) {
    print_error(strf("internal error: %s", e.what()));
    return kExitFailure;
  }
}
