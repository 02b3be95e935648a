// rnnlab-train images / ablation: sequential-image classification with a GRU (seed 000).
//
// `images` trains one model; `ablation` trains seed 000's baseline (b_z, b_r initialised to +1.0,
// learnable) and its ablated twin (b_z, b_r frozen at 0.0) on the same batches in lock step, and prints
// one side-by-side row per epoch. Everything goes through the public C API (rnnlab.h, rnnlab_data.h,
// rnnlab_io.h), as any embedding program would use it.
//
// Per-epoch measurements: the training side (loss, accuracy, gradient norms before and after clipping,
// how often clipping fired) is accumulated over every update of the epoch at diag level `off`, so it
// costs nothing extra. The inside view (gate means, z pre-activation, g_t = ||dL/dh_t||, saturation)
// comes from one *fixed* batch of training images run at diag level `full` after every epoch (and
// once at initialisation): the same images every time, so the rows are comparable across epochs and
// across the two models, and the cost is one extra forward/backward per epoch (about 1/nb of an epoch;
// see diag_cost_note()). Sampling every k-th training batch at `full` instead would mix the
// effect of training with the effect of different images, for no saving.
#include "images.h"

#include <rnnlab/rnnlab.h>
#include <rnnlab/rnnlab_io.h>

#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdarg>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <limits>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace {

const double kNaN = std::numeric_limits<double>::quiet_NaN();

// A bad command line (exit 2) and a failed run (exit 1) are told apart for scripts.
struct UsageError : std::runtime_error {
  using std::runtime_error::runtime_error;
};
struct RunError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

std::string strf(const char *f, ...) __attribute__((format(printf, 1, 2)));
std::string strf(const char *f, ...) {
  va_list ap;
  va_start(ap, f);
  char buf[1024];
  std::vsnprintf(buf, sizeof buf, f, ap);
  va_end(ap);
  return buf;
}

void check(rnnlab_status s, const std::string &what) {
  if (s != RNNLAB_OK) throw RunError(what + ": " + rnnlab_last_error());
}

// ------------------------------------------------------------------------------------------------
// Options and presets
// ------------------------------------------------------------------------------------------------
enum class Dataset { FashionMnist, Mnist, Cifar10 };
enum class BiasInit { Constant, Scheme, Chrono };

const char *dataset_name(Dataset d) {
  switch (d) {
    case Dataset::FashionMnist: return "fashion-mnist";
    case Dataset::Mnist: return "mnist";
    case Dataset::Cifar10: return "cifar10";
  }
  return "?";
}
const char *dataset_title(Dataset d) {
  switch (d) {
    case Dataset::FashionMnist: return "Fashion-MNIST";
    case Dataset::Mnist: return "MNIST";
    case Dataset::Cifar10: return "CIFAR-10 (grayscale)";
  }
  return "?";
}
std::string default_data_dir(Dataset d) {
  switch (d) {
    case Dataset::FashionMnist: return "/usr/share/datasets/fashion-mnist";  // Debian dataset-fashion-mnist
    case Dataset::Mnist: return "/usr/share/datasets/mnist";
    case Dataset::Cifar10: return "cifar-10-batches-bin";  // what the CIFAR-10 binary tarball unpacks to
  }
  return ".";
}

struct Options {
  std::string command;  // "images" or "ablation"
  bool ablation = false;
  std::string preset;   // "" when none
  std::vector<std::string> given;  // flags set on the command line (they override the preset)

  Dataset dataset = Dataset::FashionMnist;
  std::string data_dir;  // "" = the data set's default
  rnnlab_dataset_mode mode = RNNLAB_DATASET_PIXELS;
  bool permute = false;
  uint64_t permute_seed = 0;
  bool normalize = false;
  float norm_mean = 0.0f, norm_std = 1.0f;
  int32_t train_limit = 0, test_limit = 0;

  int32_t hidden = 181;
  rnnlab_cell cell = RNNLAB_CELL_GRU;
  rnnlab_init init = RNNLAB_INIT_ORTHOGONAL;
  BiasInit bias_init = BiasInit::Constant;
  uint32_t bias_mask = RNNLAB_GATE_Z | RNNLAB_GATE_R;  // tasks.md: both, +1.0
  float bias_value[3] = {1.0f, 1.0f, 0.0f};
  int32_t chrono_tmax = 0;  // 0 = the sequence length
  uint32_t freeze_mask = 0;
  bool freeze_given = false;
  float freeze_explicit[3] = {NAN, NAN, NAN};  // "z=0.5" form; NaN = take --freeze-value
  float freeze_value = 0.0f;

  int32_t epochs = 40, batch = 128, eval_batch = 500, diag_batch = -1;  // -1: = batch
  rnnlab_optimizer_kind optimizer = RNNLAB_OPTIMIZER_ADAMW;
  double lr = 5e-4, lr_min = 1e-5, weight_decay = 0.01, clip = 1.0;
  uint64_t seed = 0;
  int32_t threads = 2;
  bool concurrent = true;  // ablation: the two models on their own threads (threads / 2 each)
  rnnlab_backend backend = RNNLAB_BACKEND_AUTO;
  std::string out_dir = ".", name;
  bool progress = true;
  bool help = false;

  bool was_given(const char *flag) const { return std::find(given.begin(), given.end(), flag) != given.end(); }
};

// The main job's preset. Measured on this project's 2-core machine (README, "The seed-000 ablation"):
// a pixel-by-pixel GRU update costs ~1.2 ms per image at H = 64 on one thread (batch 64 or 128
// alike; batch 32 is ~20% dearer per image) and ~6x that at H = 181, so the seed's H = 181 on all
// 60000 images would take ~8-14 minutes per epoch per model. H = 64 on a subset keeps the 784-step sequences
// (the long-memory problem the ablation is about) and the seed's optimiser, and still shows its
// dynamics (E[z] 0.73 vs 0.50, the ablated model's slow start, ||W_hz|| growing) in minutes.
const char *kMainWhy =
    "pixel by pixel (784 steps: the long-memory regime seed 000 is about) with the seed's init, optimiser "
    "and clipping, but H = 64 (~6x cheaper per image than 181), the first 8000 / 1000 Fashion-MNIST images, "
    "batch 64 (the same cost per image as 128, twice the updates) and 8 epochs (1000 updates per model); "
    "measured ~9-10 s per epoch for both models (side by side, one thread each) on the 2-core machine, "
    "~1.3 minutes in all";

void apply_preset(Options &o, const std::string &p) {
  if (p == "main") {
    o.dataset = Dataset::FashionMnist;
    o.mode = RNNLAB_DATASET_PIXELS;
    o.hidden = 64;
    o.train_limit = 8000;
    o.test_limit = 1000;
    o.epochs = 8;
    o.batch = 64;
  } else if (p == "seed000") {
    // Seed 000 exactly: s-CIFAR-10 in grayscale, 1024 steps of 1 input, H = 181, 40 epochs, AdamW
    // 5e-4 cosine-annealed to 1e-5, clipping 1.0; batch size and weight decay are tasks.md's defaults.
    o.dataset = Dataset::Cifar10;
    o.mode = RNNLAB_DATASET_PIXELS;
    o.hidden = 181;
    o.train_limit = 0;
    o.test_limit = 0;
    o.epochs = 40;
    o.batch = 128;
  } else {
    throw UsageError("unknown --preset '" + p + "' (main, seed000)");
  }
  o.cell = RNNLAB_CELL_GRU;
  o.init = RNNLAB_INIT_ORTHOGONAL;
  o.optimizer = RNNLAB_OPTIMIZER_ADAMW;
  o.lr = 5e-4;
  o.lr_min = 1e-5;
  o.weight_decay = 0.01;
  o.clip = 1.0;
}

const char *kHelp =
    "usage: rnnlab-train images   [flags]   train one model on sequential images\n"
    "       rnnlab-train ablation [flags]   seed 000's baseline vs ablated GRU, same data, seed and batches\n"
    "\n"
    "  --preset P          main: the main job's budget (Fashion-MNIST pixels, H=64, 8000/1000 images,\n"
    "                      batch 64, 8 epochs, ~1.3 min on 2 cores); seed000: seed 000 exactly (CIFAR-10\n"
    "                      grayscale pixels, H=181, 40 epochs). Later flags override a preset.\n"
    "  --dataset D         fashion-mnist (default), mnist, cifar10\n"
    "  --data-dir DIR      fashion-mnist: /usr/share/datasets/fashion-mnist; mnist: /usr/share/datasets/mnist;\n"
    "                      cifar10: ./cifar-10-batches-bin (data_batch_1..5.bin, test_batch.bin)\n"
    "  --mode M            pixels (default: one pixel per step) or rows (one image row per step)\n"
    "  --permute           fixed pixel permutation (psMNIST); --permute-seed N (default 0)\n"
    "  --normalize M,S     (x - M) / S after scaling to [0, 1] (default: off, pixels in [0, 1])\n"
    "  --train-limit N     use the first N training images (0 = all); --test-limit N likewise\n"
    "  --hidden H          hidden size (181)\n"
    "  --cell C            gru (PyTorch's, default), gru_reset_before, rnn_tanh, rnn_sigmoid, rnn_relu,\n"
    "                      rnn_linear\n"
    "  --init I            orthogonal (default: each H x H block of weight_hh), orthogonal_stacked,\n"
    "                      pytorch, sigmoid, basic_tanh, smart_tanh, test, cs728_gru\n"
    "  --bias-init B       z=1.0,r=1.0 (default: effective biases), none (as the init sets them),\n"
    "                      chrono or chrono=TMAX (b_z ~ log U[1, TMAX-1]; TMAX defaults to T)\n"
    "  --freeze-bias G     gates whose biases are held: z,r or z=0.0,r=0.0 or none. images: none by\n"
    "                      default; ablation: what the ablated model freezes (z,r)\n"
    "  --freeze-value V    value of the frozen gates given without '=' (0.0)\n"
    "  --epochs N          40\n"
    "  --batch N           128 (seed 000 gives none)\n"
    "  --optimizer O       adamw (default), adam, sgd\n"
    "  --lr X, --lr-min X  5e-4 cosine-annealed per epoch to 1e-5 (CosineAnnealingLR(T_max=epochs))\n"
    "  --weight-decay X    0.01 (seed 000 gives no value; PyTorch's AdamW default)\n"
    "  --clip X            global gradient-norm cutoff, 0 = none (1.0)\n"
    "  --seed N            initialisation and shuffling seed (0); both models of an ablation share it\n"
    "  --threads N         threads in all (2). ablation: each model trains on its own thread with N/2\n"
    "                      backend threads (1.6-2.2x faster than taking turns on 2 cores, measured);\n"
    "                      --sequential makes them take turns with N threads each\n"
    "  --backend B         auto (default), cpu, reference, cuda\n"
    "  --eval-batch N      test-set chunk size (500)\n"
    "  --diag-batch N      size of the fixed diagnostic batch run at diag level full after each epoch\n"
    "                      (default: the batch size; 0 = none)\n"
    "  --out DIR           output directory (.); --name NAME: file stem (default from the command)\n"
    "  --no-progress       no progress bar (it is only drawn when stdout is a terminal anyway)\n"
    "\n"
    "Writes DIR/NAME.npz at the end (atomically; nothing on failure): per-epoch arrays (row 0 = at\n"
    "initialisation, row e = after epoch e), per-update arrays, the fixed batch's per-step traces for\n"
    "every epoch, and the parameters. With ablation every key is prefixed baseline_ or ablated_.\n"
    "Plot it with: python3 tools/rnnlab_plot.py DIR/NAME.npz\n";

// ---- value parsers (each names the flag and what it wanted) ------------------------------------
long long parse_int(const std::string &flag, const std::string &v, long long lo, long long hi) {
  char *end = nullptr;
  errno = 0;
  long long x = std::strtoll(v.c_str(), &end, 10);
  if (v.empty() || *end != '\0' || errno != 0 || x < lo || x > hi)
    throw UsageError(strf("bad value '%s' for %s: expected an integer in [%lld, %lld]", v.c_str(), flag.c_str(), lo, hi));
  return x;
}
double parse_double(const std::string &flag, const std::string &v, double lo, double hi) {
  char *end = nullptr;
  errno = 0;
  double x = std::strtod(v.c_str(), &end);
  if (v.empty() || *end != '\0' || errno != 0 || !std::isfinite(x) || x < lo || x > hi)
    throw UsageError(strf("bad value '%s' for %s: expected a number in [%g, %g]", v.c_str(), flag.c_str(), lo, hi));
  return x;
}
template <class E>
E parse_choice(const std::string &flag, const std::string &v, const std::vector<std::pair<const char *, E>> &choices) {
  std::string names;
  for (const auto &c : choices) {
    if (v == c.first) return c.second;
    names += (names.empty() ? "" : ", ") + std::string(c.first);
  }
  throw UsageError("bad value '" + v + "' for " + flag + ": expected one of " + names);
}
std::vector<std::string> split(const std::string &s, char sep) {
  std::vector<std::string> out;
  size_t a = 0;
  for (;;) {
    size_t b = s.find(sep, a);
    out.push_back(s.substr(a, b == std::string::npos ? std::string::npos : b - a));
    if (b == std::string::npos) break;
    a = b + 1;
  }
  return out;
}
int gate_index(const std::string &flag, const std::string &g) {
  if (g == "r") return RNNLAB_GATE_INDEX_R;
  if (g == "z") return RNNLAB_GATE_INDEX_Z;
  if (g == "n") return RNNLAB_GATE_INDEX_N;
  throw UsageError("bad gate '" + g + "' in " + flag + ": expected r, z or n");
}
// "z,r" / "z=1.0,r=0.5" / "none" -> mask and per-gate values (NaN where no '=' was given).
uint32_t parse_gates(const std::string &flag, const std::string &v, float values[3]) {
  for (int g = 0; g < 3; ++g) values[g] = NAN;
  if (v == "none" || v.empty()) return 0;
  uint32_t mask = 0;
  for (const std::string &item : split(v, ',')) {
    size_t eq = item.find('=');
    int g = gate_index(flag, item.substr(0, eq));
    if (mask & (1u << g)) throw UsageError("gate '" + item.substr(0, eq) + "' given twice in " + flag);
    mask |= 1u << g;
    if (eq != std::string::npos) values[g] = static_cast<float>(parse_double(flag, item.substr(eq + 1), -1e6, 1e6));
  }
  return mask;
}

Options parse_options(int argc, char **argv) {
  Options o;
  o.command = argv[0];
  o.ablation = o.command == "ablation";
  if (o.ablation) o.freeze_mask = RNNLAB_GATE_Z | RNNLAB_GATE_R;

  // Split "--flag=value" and "--flag value" once, so that the preset can be applied first.
  std::vector<std::pair<std::string, std::string>> flags;
  const std::vector<std::string> booleans = {"--permute", "--no-progress", "--sequential", "--help", "-h"};
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a.rfind("-", 0) != 0) throw UsageError("unexpected argument '" + a + "' (flags start with --)");
    std::string value;
    size_t eq = a.find('=');
    bool has_value = false;
    if (eq != std::string::npos) {
      value = a.substr(eq + 1);
      a = a.substr(0, eq);
      has_value = true;
    }
    if (std::find(booleans.begin(), booleans.end(), a) != booleans.end()) {
      if (has_value) throw UsageError(a + " takes no value");
    } else if (!has_value) {
      if (i + 1 >= argc || std::strncmp(argv[i + 1], "--", 2) == 0) throw UsageError(a + " needs a value");
      value = argv[++i];
    }
    flags.emplace_back(a, value);
  }
  for (const auto &f : flags)
    if (f.first == "--help" || f.first == "-h") {
      o.help = true;
      return o;
    }
  for (const auto &f : flags)
    if (f.first == "--preset") {
      o.preset = f.second;
      apply_preset(o, f.second);
    }

  for (const auto &f : flags) {
    const std::string &k = f.first, &v = f.second;
    if (k != "--preset") o.given.push_back(k);
    if (k == "--preset") {
    } else if (k == "--dataset") {
      o.dataset = parse_choice<Dataset>(k, v, {{"fashion-mnist", Dataset::FashionMnist}, {"mnist", Dataset::Mnist},
                                               {"cifar10", Dataset::Cifar10}});
    } else if (k == "--data-dir") {
      if (v.empty()) throw UsageError("--data-dir needs a directory");
      o.data_dir = v;
    } else if (k == "--mode") {
      o.mode = parse_choice<rnnlab_dataset_mode>(k, v, {{"pixels", RNNLAB_DATASET_PIXELS}, {"rows", RNNLAB_DATASET_ROWS}});
    } else if (k == "--permute") {
      o.permute = true;
    } else if (k == "--permute-seed") {
      o.permute_seed = static_cast<uint64_t>(parse_int(k, v, 0, std::numeric_limits<long long>::max()));
    } else if (k == "--normalize") {
      auto p = split(v, ',');
      if (p.size() != 2) throw UsageError("bad value '" + v + "' for --normalize: expected MEAN,STD");
      o.normalize = true;
      o.norm_mean = static_cast<float>(parse_double(k, p[0], -1e6, 1e6));
      o.norm_std = static_cast<float>(parse_double(k, p[1], 1e-12, 1e6));
    } else if (k == "--train-limit") {
      o.train_limit = static_cast<int32_t>(parse_int(k, v, 0, INT32_MAX));
    } else if (k == "--test-limit") {
      o.test_limit = static_cast<int32_t>(parse_int(k, v, 0, INT32_MAX));
    } else if (k == "--hidden") {
      o.hidden = static_cast<int32_t>(parse_int(k, v, 1, 1 << 16));
    } else if (k == "--cell") {
      o.cell = parse_choice<rnnlab_cell>(k, v, {{"gru", RNNLAB_CELL_GRU}, {"gru_reset_before", RNNLAB_CELL_GRU_RESET_BEFORE},
                                                {"rnn_tanh", RNNLAB_CELL_RNN_TANH}, {"rnn_sigmoid", RNNLAB_CELL_RNN_SIGMOID},
                                                {"rnn_relu", RNNLAB_CELL_RNN_RELU}, {"rnn_linear", RNNLAB_CELL_RNN_LINEAR}});
    } else if (k == "--init") {
      o.init = parse_choice<rnnlab_init>(
          k, v, {{"orthogonal", RNNLAB_INIT_ORTHOGONAL}, {"orthogonal_stacked", RNNLAB_INIT_ORTHOGONAL_STACKED},
                 {"pytorch", RNNLAB_INIT_PYTORCH}, {"sigmoid", RNNLAB_INIT_SIGMOID}, {"basic_tanh", RNNLAB_INIT_BASIC_TANH},
                 {"smart_tanh", RNNLAB_INIT_SMART_TANH}, {"test", RNNLAB_INIT_TEST}, {"cs728_gru", RNNLAB_INIT_CS728_GRU}});
    } else if (k == "--bias-init") {
      if (v == "none" || v == "scheme") {
        o.bias_init = BiasInit::Scheme;
        o.bias_mask = 0;
      } else if (v == "chrono" || v.rfind("chrono=", 0) == 0) {
        o.bias_init = BiasInit::Chrono;
        o.bias_mask = 0;
        o.chrono_tmax = v == "chrono" ? 0 : static_cast<int32_t>(parse_int(k, v.substr(7), 3, INT32_MAX));
      } else {
        float vals[3];
        uint32_t mask = parse_gates(k, v, vals);
        for (int g = 0; g < 3; ++g)
          if ((mask >> g) & 1u) {
            if (std::isnan(vals[g])) throw UsageError("bad value '" + v + "' for --bias-init: give each gate a value (z=1.0,r=1.0)");
            o.bias_value[g] = vals[g];
          }
        o.bias_init = mask ? BiasInit::Constant : BiasInit::Scheme;
        o.bias_mask = mask;
      }
    } else if (k == "--freeze-bias") {
      o.freeze_mask = parse_gates(k, v, o.freeze_explicit);
      o.freeze_given = true;
    } else if (k == "--freeze-value") {
      o.freeze_value = static_cast<float>(parse_double(k, v, -1e6, 1e6));
    } else if (k == "--epochs") {
      o.epochs = static_cast<int32_t>(parse_int(k, v, 1, 1000000));
    } else if (k == "--batch") {
      o.batch = static_cast<int32_t>(parse_int(k, v, 1, 1 << 20));
    } else if (k == "--eval-batch") {
      o.eval_batch = static_cast<int32_t>(parse_int(k, v, 1, 1 << 20));
    } else if (k == "--diag-batch") {
      o.diag_batch = static_cast<int32_t>(parse_int(k, v, 0, 1 << 20));
    } else if (k == "--optimizer") {
      o.optimizer = parse_choice<rnnlab_optimizer_kind>(
          k, v, {{"adamw", RNNLAB_OPTIMIZER_ADAMW}, {"adam", RNNLAB_OPTIMIZER_ADAM}, {"sgd", RNNLAB_OPTIMIZER_SGD}});
    } else if (k == "--lr") {
      o.lr = parse_double(k, v, 1e-300, 1e6);
    } else if (k == "--lr-min") {
      o.lr_min = parse_double(k, v, 0.0, 1e6);
    } else if (k == "--weight-decay") {
      o.weight_decay = parse_double(k, v, 0.0, 1e6);
    } else if (k == "--clip") {
      o.clip = parse_double(k, v, 0.0, 1e30);
    } else if (k == "--seed") {
      o.seed = static_cast<uint64_t>(parse_int(k, v, 0, std::numeric_limits<long long>::max()));
    } else if (k == "--threads") {
      o.threads = static_cast<int32_t>(parse_int(k, v, 1, 4096));
    } else if (k == "--backend") {
      o.backend = parse_choice<rnnlab_backend>(k, v, {{"auto", RNNLAB_BACKEND_AUTO}, {"cpu", RNNLAB_BACKEND_CPU},
                                                      {"reference", RNNLAB_BACKEND_REFERENCE}, {"cuda", RNNLAB_BACKEND_CUDA}});
    } else if (k == "--out") {
      if (v.empty()) throw UsageError("--out needs a directory");
      o.out_dir = v;
    } else if (k == "--name") {
      if (v.empty() || v.find('/') != std::string::npos) throw UsageError("bad value '" + v + "' for --name: a file stem without '/'");
      o.name = v;
    } else if (k == "--sequential") {
      o.concurrent = false;
    } else if (k == "--no-progress") {
      o.progress = false;
    } else {
      throw UsageError("unknown flag " + k + " (rnnlab-train " + o.command + " --help lists them)");
    }
  }

  for (int g = 0; g < 3; ++g)
    if (std::isnan(o.freeze_explicit[g])) o.freeze_explicit[g] = o.freeze_value;
  if (o.ablation && o.freeze_mask == 0)
    throw UsageError("--freeze-bias none leaves nothing to ablate: the ablated model must freeze a gate (z,r)");
  if (o.lr_min > o.lr) throw UsageError(strf("--lr-min %g is above --lr %g", o.lr_min, o.lr));
  if (o.permute && o.mode == RNNLAB_DATASET_ROWS) throw UsageError("--permute needs --mode pixels");
  if (o.data_dir.empty()) o.data_dir = default_data_dir(o.dataset);
  if (o.diag_batch < 0) o.diag_batch = o.batch;
  if (!o.ablation || o.threads < 2) o.concurrent = false;
  if (o.name.empty()) {
    o.name = o.command + "_" + dataset_name(o.dataset);
    if (!o.preset.empty()) o.name = o.command + "_" + o.preset;
  }
  return o;
}

// ------------------------------------------------------------------------------------------------
// Data
// ------------------------------------------------------------------------------------------------
bool is_file(const std::string &p) {
  struct stat st;
  return ::stat(p.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}
bool is_dir(const std::string &p) {
  struct stat st;
  return ::stat(p.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

std::string data_hint(Dataset d) {
  switch (d) {
    case Dataset::FashionMnist: return " (Debian's dataset-fashion-mnist installs it; scripts/setup.sh does)";
    case Dataset::Mnist: return " (give --data-dir with MNIST's IDX files)";
    case Dataset::Cifar10: return " (give --data-dir with CIFAR-10's binary batches)";
  }
  return "";
}

// IDX files may be plain or gzip, named with or without ".gz" (the reader looks at the content).
std::string find_idx(const Options &o, const std::string &base) {
  if (is_file(o.data_dir + "/" + base)) return o.data_dir + "/" + base;
  if (is_file(o.data_dir + "/" + base + ".gz")) return o.data_dir + "/" + base + ".gz";
  throw RunError("missing data file: no " + base + "[.gz] in " + o.data_dir + data_hint(o.dataset));
}

struct Dataset_ {
  rnnlab_dataset *ds = nullptr;
  rnnlab_dataset_info info = RNNLAB_DATASET_INFO_INIT;
  ~Dataset_() { rnnlab_dataset_destroy(ds); }
};

void load_split(Dataset_ &out, const Options &o, bool train) {
  rnnlab_dataset_config c = RNNLAB_DATASET_CONFIG_INIT;
  c.mode = o.mode;
  c.num_classes = 10;
  c.permute = o.permute ? 1 : 0;
  c.permutation_seed = o.permute_seed;
  c.limit = train ? o.train_limit : o.test_limit;
  if (o.normalize) {
    c.normalize = 1;
    for (int i = 0; i < 3; ++i) {
      c.mean[i] = o.norm_mean;
      c.std[i] = o.norm_std;
    }
  }
  std::string images, labels;
  std::vector<std::string> cifar;
  std::vector<const char *> cifar_ptrs;
  if (o.dataset == Dataset::Cifar10) {
    c.format = RNNLAB_DATASET_CIFAR10;
    c.grayscale = 1;  // seed 000: grayscale, 1 input per step
    if (train)
      for (int i = 1; i <= 5; ++i) cifar.push_back(strf("data_batch_%d.bin", i));
    else
      cifar.push_back("test_batch.bin");
    for (auto &f : cifar) {
      if (!is_file(o.data_dir + "/" + f))
        throw RunError("missing data file: no " + f + " in " + o.data_dir + data_hint(o.dataset));
      f = o.data_dir + "/" + f;
    }
    for (auto &f : cifar) cifar_ptrs.push_back(f.c_str());
    c.cifar_paths = cifar_ptrs.data();
    c.cifar_count = static_cast<int32_t>(cifar_ptrs.size());
  } else {
    c.format = RNNLAB_DATASET_IDX;
    images = find_idx(o, train ? "train-images-idx3-ubyte" : "t10k-images-idx3-ubyte");
    labels = find_idx(o, train ? "train-labels-idx1-ubyte" : "t10k-labels-idx1-ubyte");
    c.images_path = images.c_str();
    c.labels_path = labels.c_str();
  }
  check(rnnlab_dataset_create(&out.ds, &c), std::string("loading the ") + (train ? "training" : "test") + " set");
  check(rnnlab_dataset_get_info(&out.info, out.ds), "rnnlab_dataset_get_info");
}

// The program's own shuffling generator (splitmix64; bounded draws by rejection), so a seed gives
// the same batch order on every platform, independent of the standard library.
struct Shuffler {
  uint64_t s;
  explicit Shuffler(uint64_t seed) : s(seed ^ 0x5eed000da7a5eedULL) {}
  uint64_t next() {
    uint64_t z = (s += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
  }
  uint64_t below(uint64_t n) {  // uniform on [0, n)
    const uint64_t limit = UINT64_MAX - UINT64_MAX % n;
    uint64_t x;
    do x = next();
    while (x >= limit);
    return x % n;
  }
  void shuffle(std::vector<int32_t> &v) {
    for (size_t i = v.size(); i > 1; --i) std::swap(v[i - 1], v[below(i)]);
  }
};

// ------------------------------------------------------------------------------------------------
// One model under training, and what is recorded about it
// ------------------------------------------------------------------------------------------------
// Per-epoch columns (row 0 = at initialisation, row e = after epoch e; training-side values are NaN
// in row 0). The order is the order they are written in.
const char *const kEpochKeys[] = {
    "lr",              // the rate the epoch's updates used
    "train_loss",      // mean cross-entropy over the epoch's training images (as they were seen)
    "train_acc",       // % of the epoch's training images classified right (as they were seen)
    "test_loss", "test_acc",
    "grad_norm_mean",  // ||grad|| over trainable entries before clipping, mean over the epoch's updates
    "grad_norm_max",
    "grad_norm_post_clip_mean",
    "clip_frac",       // fraction of the epoch's updates that clipping rescaled
    "guard_count",     // updates whose non-finite / huge gradient the guard dropped
    "nonfinite",       // NaN/Inf entries seen by the epoch's backward passes
    "z_mean",          // fixed batch: mean over t of gate_z_mean_time (E[z]: 0.73 at b_z = 1, 0.5 at 0)
    "z_preact",        // fixed batch: mean over t of gate_z_preact_time (the effective update bias)
    "r_mean",          // fixed batch: mean over t of gate_r_mean_time
    "z_sat_frac",      // fixed batch: mean over t of gate_z_sat_frac_time
    "diag_loss", "diag_grad_norm",  // the fixed batch's loss and gradient norm
    "W_hz_norm",       // Frobenius norm of the z block of weight_hh
    "W_hr_norm", "W_hn_norm",
    "b_z_mean",        // effective b_z = bias_ih_z + bias_hh_z, mean over units
    "b_r_mean",
    "rho_Whn", "rho_Whz",  // spectral radius of the candidate and update blocks (rnnlab_spectral)
    "train_seconds",   // wall time of this model's updates in the epoch
    "eval_seconds",    // wall time of its test pass and diagnostic pass
};
const char *const kStepKeys[] = {"step_loss", "step_grad_norm", "step_grad_norm_post_clip", "step_lr"};

struct Trainee {
  std::string label;  // "baseline" / "ablated" / "" (images)
  std::string prefix; // npz key prefix
  rnnlab_config cfg = RNNLAB_CONFIG_INIT;
  rnnlab_model *m = nullptr;
  bool gru = false;
  int H = 0;
  size_t total_params = 0, trainable_params = 0;
  std::map<std::string, std::vector<double>> ep;    // kEpochKeys -> (E + 1)
  std::map<std::string, std::vector<double>> step;  // kStepKeys -> (updates)
  std::vector<std::vector<float>> traces;           // per rnnlab_trace: (E + 1) * T, NaN where absent
  // accumulators of the current epoch
  double a_loss = 0, a_n = 0, a_wrong = 0, a_g = 0, a_gmax = 0, a_gp = 0, a_upd = 0, a_clip = 0, a_guard = 0,
         a_nonfinite = 0, a_train_s = 0, a_lr = kNaN;

  Trainee() = default;
  Trainee(const Trainee &) = delete;
  Trainee &operator=(const Trainee &) = delete;
  ~Trainee() { rnnlab_destroy(m); }
  double &at(const char *key, int row) { return ep.at(key).at(static_cast<size_t>(row)); }
};

const char *cell_title(rnnlab_cell c) {
  switch (c) {
    case RNNLAB_CELL_GRU: return "GRU (PyTorch variant, linear before reset, double biases)";
    case RNNLAB_CELL_GRU_RESET_BEFORE: return "GRU (reset before, Cho et al.; double biases)";
    case RNNLAB_CELL_RNN_TANH: return "vanilla RNN (tanh)";
    case RNNLAB_CELL_RNN_SIGMOID: return "vanilla RNN (logistic)";
    case RNNLAB_CELL_RNN_RELU: return "vanilla RNN (relu)";
    case RNNLAB_CELL_RNN_LINEAR: return "vanilla RNN (linear)";
  }
  return "?";
}
const char *init_name(rnnlab_init i) {
  switch (i) {
    case RNNLAB_INIT_PYTORCH: return "pytorch (U(+-1/sqrt(H)))";
    case RNNLAB_INIT_ORTHOGONAL: return "orthogonal (each H x H block of weight_hh; the rest U(+-1/sqrt(H)))";
    case RNNLAB_INIT_ORTHOGONAL_STACKED: return "orthogonal_stacked";
    case RNNLAB_INIT_SIGMOID: return "sigmoid";
    case RNNLAB_INIT_BASIC_TANH: return "basic_tanh";
    case RNNLAB_INIT_SMART_TANH: return "smart_tanh";
    case RNNLAB_INIT_TEST: return "test";
    case RNNLAB_INIT_CS728_GRU: return "cs728_gru";
  }
  return "?";
}
std::string gates_text(uint32_t mask, const float values[3]) {
  std::string s;
  const char *names[3] = {"b_r", "b_z", "b_n"};
  for (int g : {1, 0, 2})
    if ((mask >> g) & 1u) s += (s.empty() ? "" : ", ") + strf("%s = %+.2f", names[g], static_cast<double>(values[g]));
  return s.empty() ? "none" : s;
}

// The model configuration of one trainee. `frozen` is the mask this model holds (0 for the baseline).
rnnlab_config make_config(const Options &o, const rnnlab_dataset_info &info, uint32_t frozen, std::string *note) {
  rnnlab_config c = RNNLAB_CONFIG_INIT;
  c.cell = o.cell;
  c.input_size = info.input_size;
  c.hidden_size = o.hidden;
  c.head = RNNLAB_HEAD_LAST_SOFTMAX;
  c.output_size = info.num_classes;
  c.backend = o.backend;
  c.init = o.init;
  c.seed = o.seed;
  c.threads = o.concurrent ? std::max(1, o.threads / 2) : o.threads;
  c.frozen_bias_mask = frozen;
  for (int g = 0; g < 3; ++g) c.frozen_bias_value[g] = (frozen >> g) & 1u ? o.freeze_explicit[g] : 0.0f;
  if (o.bias_init == BiasInit::Constant) {
    // A frozen gate is held at its frozen value; an initial value for it would be a contradiction
    // (the library refuses it), so the frozen model takes the constants only for its free gates.
    c.bias_init_mask = o.bias_mask & ~frozen;
    if (c.bias_init_mask) c.bias_init = RNNLAB_BIAS_INIT_CONSTANT;
    for (int g = 0; g < 3; ++g) c.bias_init_value[g] = (c.bias_init_mask >> g) & 1u ? o.bias_value[g] : 0.0f;
    if ((o.bias_mask & frozen) && note && !o.ablation) *note = "the frozen gates take their frozen value, not --bias-init's";
  } else if (o.bias_init == BiasInit::Chrono) {
    if (frozen & (RNNLAB_GATE_Z | RNNLAB_GATE_R)) {
      if (note) *note = "chrono init sets b_z and b_r, which this model freezes: its biases are left as the init sets them";
    } else {
      c.bias_init = RNNLAB_BIAS_INIT_CHRONO;
      c.chrono_tmax = o.chrono_tmax > 0 ? o.chrono_tmax : info.steps;
    }
  }
  return c;
}

void create_trainee(Trainee &t, const Options &o, const rnnlab_dataset_info &info, uint32_t frozen, int epochs,
                    size_t updates, std::string *note) {
  t.cfg = make_config(o, info, frozen, note);
  check(rnnlab_create(&t.m, &t.cfg), t.label.empty() ? std::string("creating the model") : "creating the " + t.label + " model");
  rnnlab_config got = RNNLAB_CONFIG_INIT;
  check(rnnlab_get_config(&got, t.m), "rnnlab_get_config");
  t.cfg.backend = got.backend;  // the resolved backend, for the printout
  check(rnnlab_param_count(&t.total_params, &t.trainable_params, t.m), "rnnlab_param_count");
  t.gru = o.cell == RNNLAB_CELL_GRU || o.cell == RNNLAB_CELL_GRU_RESET_BEFORE;
  t.H = o.hidden;

  rnnlab_optimizer_config oc = RNNLAB_OPTIMIZER_CONFIG_INIT;
  oc.kind = o.optimizer;
  oc.lr = o.lr;
  oc.weight_decay = o.weight_decay;
  // Stepped once per epoch by rnnlab_schedule_step, as torch's CosineAnnealingLR(T_max = epochs) is
  // stepped at the end of each epoch: epoch e (0-based) runs at lr_min + (lr - lr_min)(1 + cos(pi e/E))/2.
  oc.schedule = RNNLAB_SCHEDULE_COSINE;
  oc.lr_min = o.lr_min;
  oc.schedule_steps = epochs;
  oc.schedule_period = 0;
  oc.clip = o.clip > 0 ? RNNLAB_CLIP_RESCALE : RNNLAB_CLIP_NOTHING;
  oc.cutoff = o.clip > 0 ? o.clip : 1.0;
  check(rnnlab_set_optimizer(t.m, &oc), "setting the optimiser");

  for (const char *k : kEpochKeys) t.ep[k].assign(static_cast<size_t>(epochs) + 1, kNaN);
  for (const char *k : kStepKeys) t.step[k].reserve(updates);
  t.traces.assign(RNNLAB_TRACE_COUNT, std::vector<float>(static_cast<size_t>(epochs + 1) * info.steps, NAN));
}

void begin_epoch(Trainee &t) {
  t.a_loss = t.a_n = t.a_wrong = t.a_g = t.a_gmax = t.a_gp = t.a_upd = t.a_clip = t.a_guard = t.a_nonfinite = 0;
  t.a_train_s = 0;
  t.a_lr = kNaN;
}

// One update on one batch (diag level off: only what training needs is computed).
void train_batch(Trainee &t, const float *x, size_t x_count, const int32_t *labels, int T, int B) {
  auto t0 = std::chrono::steady_clock::now();
  rnnlab_targets tg = RNNLAB_TARGETS_INIT;
  tg.classes = labels;
  tg.count = static_cast<size_t>(B);
  check(rnnlab_reset(t.m), "rnnlab_reset");
  check(rnnlab_step(nullptr, 0, t.m, x, x_count, T, B), "rnnlab_step");
  double loss = 0;
  int32_t wrong = 0;
  check(rnnlab_loss(&loss, &wrong, t.m, &tg, 0.0f), "rnnlab_loss");  // reads the outputs; records nothing
  check(rnnlab_backward(t.m, &tg), "rnnlab_backward");
  rnnlab_diag pre = RNNLAB_DIAG_INIT;
  check(rnnlab_diagnostics(&pre, t.m), "rnnlab_diagnostics");
  check(rnnlab_update(t.m), "rnnlab_update");
  rnnlab_diag d = RNNLAB_DIAG_INIT;
  check(rnnlab_diagnostics(&d, t.m), "rnnlab_diagnostics");
  rnnlab_optimizer_state st = RNNLAB_OPTIMIZER_STATE_INIT;
  check(rnnlab_get_optimizer_state(&st, t.m), "rnnlab_get_optimizer_state");
  t.a_train_s += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();

  t.a_loss += d.loss * B;
  t.a_n += B;
  t.a_wrong += wrong;
  t.a_g += d.grad_norm;
  t.a_gmax = std::max(t.a_gmax, std::isfinite(d.grad_norm) ? d.grad_norm : HUGE_VAL);
  t.a_gp += d.grad_norm_post_clip;
  t.a_upd += 1;
  t.a_clip += st.last_clipped;
  t.a_guard += st.last_guard;
  t.a_nonfinite += static_cast<double>(pre.nonfinite);
  t.a_lr = st.last_lr;
  t.step["step_loss"].push_back(d.loss);
  t.step["step_grad_norm"].push_back(d.grad_norm);
  t.step["step_grad_norm_post_clip"].push_back(d.grad_norm_post_clip);
  t.step["step_lr"].push_back(st.last_lr);
}

void end_epoch(Trainee &t, int e) {
  t.at("lr", e) = t.a_lr;
  t.at("train_loss", e) = t.a_loss / t.a_n;
  t.at("train_acc", e) = 100.0 * (1.0 - t.a_wrong / t.a_n);
  t.at("grad_norm_mean", e) = t.a_g / t.a_upd;
  t.at("grad_norm_max", e) = t.a_gmax;
  t.at("grad_norm_post_clip_mean", e) = t.a_gp / t.a_upd;
  t.at("clip_frac", e) = t.a_clip / t.a_upd;
  t.at("guard_count", e) = t.a_guard;
  t.at("nonfinite", e) = t.a_nonfinite;
  t.at("train_seconds", e) = t.a_train_s;
  check(rnnlab_schedule_step(t.m), "rnnlab_schedule_step");  // CosineAnnealingLR's scheduler.step()
}

// Test loss and accuracy over the whole (limited) test set, in eval mode (nothing recorded).
void evaluate(Trainee &t, int e, const Dataset_ &test, std::vector<float> &x, std::vector<int32_t> &labels,
              std::vector<int32_t> &idx, int eval_batch) {
  const int T = test.info.steps, I = test.info.input_size, N = test.info.count;
  check(rnnlab_set_training(t.m, 0), "rnnlab_set_training");
  double sum = 0, wrong = 0;
  for (int start = 0; start < N; start += eval_batch) {
    const int B = std::min(eval_batch, N - start);
    for (int b = 0; b < B; ++b) idx[static_cast<size_t>(b)] = start + b;
    const size_t xc = static_cast<size_t>(T) * B * I;
    check(rnnlab_dataset_batch(x.data(), xc, labels.data(), static_cast<size_t>(B), test.ds, idx.data(), static_cast<size_t>(B)),
          "rnnlab_dataset_batch");
    check(rnnlab_reset(t.m), "rnnlab_reset");
    check(rnnlab_step(nullptr, 0, t.m, x.data(), xc, T, B), "rnnlab_step (test)");
    rnnlab_targets tg = RNNLAB_TARGETS_INIT;
    tg.classes = labels.data();
    tg.count = static_cast<size_t>(B);
    double loss = 0;
    int32_t w = 0;
    check(rnnlab_loss(&loss, &w, t.m, &tg, 0.0f), "rnnlab_loss (test)");
    sum += loss * B;
    wrong += w;
  }
  check(rnnlab_set_training(t.m, 1), "rnnlab_set_training");
  t.at("test_loss", e) = sum / N;
  t.at("test_acc", e) = 100.0 * (1.0 - wrong / N);
}

double mean_finite(const double *v, int n) {
  double s = 0;
  int c = 0;
  for (int i = 0; i < n; ++i)
    if (std::isfinite(v[i])) {
      s += v[i];
      ++c;
    }
  return c ? s / c : kNaN;
}

// The fixed batch at diag level full: every per-step trace, and their time means. The gradient it
// accumulates is zeroed again, so it never enters an update.
void diag_pass(Trainee &t, int e, const float *x, size_t x_count, const int32_t *labels, int T, int B) {
  if (B <= 0) return;
  check(rnnlab_set_diag_level(t.m, RNNLAB_DIAG_FULL), "rnnlab_set_diag_level");
  check(rnnlab_reset(t.m), "rnnlab_reset");
  check(rnnlab_step(nullptr, 0, t.m, x, x_count, T, B), "rnnlab_step (diagnostic batch)");
  rnnlab_targets tg = RNNLAB_TARGETS_INIT;
  tg.classes = labels;
  tg.count = static_cast<size_t>(B);
  check(rnnlab_backward(t.m, &tg), "rnnlab_backward (diagnostic batch)");
  rnnlab_diag d = RNNLAB_DIAG_INIT;
  check(rnnlab_diagnostics(&d, t.m), "rnnlab_diagnostics");
  t.at("diag_loss", e) = d.loss;
  t.at("diag_grad_norm", e) = d.grad_norm;
  std::vector<double> buf(static_cast<size_t>(T));
  std::map<int, double> means;
  for (int k = 0; k < RNNLAB_TRACE_COUNT; ++k) {
    const auto tr = static_cast<rnnlab_trace>(k);
    if (!rnnlab_has_trace(t.m, tr)) continue;
    int32_t len = 0;
    check(rnnlab_get_trace(buf.data(), buf.size(), &len, t.m, tr), std::string("rnnlab_get_trace ") + rnnlab_trace_name(tr));
    float *row = t.traces[static_cast<size_t>(k)].data() + static_cast<size_t>(e) * T;
    for (int i = 0; i < len && i < T; ++i) row[i] = static_cast<float>(buf[static_cast<size_t>(i)]);
    means[k] = mean_finite(buf.data(), len);
  }
  check(rnnlab_zero_grad(t.m), "rnnlab_zero_grad");
  check(rnnlab_set_diag_level(t.m, RNNLAB_DIAG_OFF), "rnnlab_set_diag_level");
  auto get = [&](rnnlab_trace k) { return means.count(k) ? means[k] : kNaN; };
  t.at("z_mean", e) = get(RNNLAB_TRACE_GATE_Z_MEAN_TIME);
  t.at("z_preact", e) = get(RNNLAB_TRACE_GATE_Z_PREACT_TIME);
  t.at("r_mean", e) = get(RNNLAB_TRACE_GATE_R_MEAN_TIME);
  t.at("z_sat_frac", e) = get(RNNLAB_TRACE_GATE_Z_SAT_FRAC_TIME);
}

// Norms of the recurrent blocks and the effective gate biases: what seed 000 says the ablated model
// does instead of learning b_z (inflate W_hz).
void weight_stats(Trainee &t, int e) {
  const int H = t.H;
  const size_t G = t.gru ? 3 : 1;
  std::vector<float> w(G * H * H), bi(G * H), bh(G * H);
  check(rnnlab_get_tensor(w.data(), w.size(), t.m, "weight_hh"), "rnnlab_get_tensor weight_hh");
  check(rnnlab_get_tensor(bi.data(), bi.size(), t.m, "bias_ih"), "rnnlab_get_tensor bias_ih");
  check(rnnlab_get_tensor(bh.data(), bh.size(), t.m, "bias_hh"), "rnnlab_get_tensor bias_hh");
  auto block_norm = [&](size_t g) {
    double s = 0;
    for (size_t i = g * H * H; i < (g + 1) * H * H; ++i) s += static_cast<double>(w[i]) * w[i];
    return std::sqrt(s);
  };
  auto bias_mean = [&](size_t g) {
    double s = 0;
    for (size_t i = g * H; i < (g + 1) * H; ++i) s += static_cast<double>(bi[i]) + bh[i];
    return s / H;
  };
  if (t.gru) {
    t.at("W_hr_norm", e) = block_norm(RNNLAB_GATE_INDEX_R);
    t.at("W_hz_norm", e) = block_norm(RNNLAB_GATE_INDEX_Z);
    t.at("W_hn_norm", e) = block_norm(RNNLAB_GATE_INDEX_N);
    t.at("b_r_mean", e) = bias_mean(RNNLAB_GATE_INDEX_R);
    t.at("b_z_mean", e) = bias_mean(RNNLAB_GATE_INDEX_Z);
  } else {
    t.at("W_hn_norm", e) = block_norm(0);
  }
  if (rnnlab_has_feature(RNNLAB_FEATURE_LAPACK)) {
    double rho = kNaN;
    if (rnnlab_spectral(&rho, nullptr, t.m, RNNLAB_BLOCK_HN) == RNNLAB_OK) t.at("rho_Whn", e) = rho;
    if (t.gru && rnnlab_spectral(&rho, nullptr, t.m, RNNLAB_BLOCK_HZ) == RNNLAB_OK) t.at("rho_Whz", e) = rho;
  }
}

// ------------------------------------------------------------------------------------------------
// Output: table, progress bar, npz
// ------------------------------------------------------------------------------------------------
std::string cell(double v, const char *f, int width) {
  if (!std::isfinite(v)) return strf("%*s", width, std::isnan(v) ? "-" : "inf");
  return strf("%*s", width, strf(f, v).c_str());
}

// One value per model in the same column pair: "base  abl".
struct Col {
  const char *title;
  const char *key;
  const char *fmt;
};
const Col kCols[] = {
    {"train loss", "train_loss", "%.3f"}, {"test acc %", "test_acc", "%.2f"},
    {"grad norm", "grad_norm_mean", "%.3f"}, {"mean z", "z_mean", "%.3f"},
    {"z pre-act", "z_preact", "%+.3f"}, {"||W_hz||", "W_hz_norm", "%.2f"},
};

// Width of one model's cell in a column group: 7, or wider so that a lone model's cell fits the title.
int cell_width(const Col &c, size_t models) {
  const int title = static_cast<int>(std::strlen(c.title)) + 1;
  const int n = static_cast<int>(models);
  return std::max(7, (title + n - 1) / n - 1);
}

void print_table_header(const std::vector<Trainee *> &ts) {
  std::string l1 = strf("%5s %9s", "epoch", "lr"), l2 = strf("%5s %9s", "", "");
  for (const Col &c : kCols) {
    const int w = cell_width(c, ts.size());
    const int span = static_cast<int>(ts.size()) * (w + 1);
    std::string title = c.title;
    int pad = span - static_cast<int>(title.size());
    l1 += " |" + std::string(static_cast<size_t>(std::max(0, pad - pad / 2)), ' ') + title +
          std::string(static_cast<size_t>(std::max(0, pad / 2)), ' ');
    l2 += " |";
    for (const Trainee *t : ts) l2 += strf(" %*s", w, t->label == "baseline" ? "base" : t->label == "ablated" ? "abl" : "");
  }
  l1 += strf(" | %6s", "sec");
  l2 += strf(" | %6s", "");
  std::printf("%s\n", l1.c_str());
  if (ts.size() > 1) std::printf("%s\n", l2.c_str());
}

void print_table_row(const std::vector<Trainee *> &ts, int e, double seconds) {
  std::string l = strf("%5d %9s", e, cell(ts[0]->at("lr", e), "%.2e", 9).c_str());
  for (const Col &c : kCols) {
    l += " |";
    for (Trainee *t : ts) l += " " + cell(t->at(c.key, e), c.fmt, cell_width(c, ts.size()));
  }
  l += " | " + cell(seconds, "%.1f", 6);
  std::printf("%s\n", l.c_str());
  std::fflush(stdout);
}

struct Progress {
  bool on = false;
  std::chrono::steady_clock::time_point start, last;
  void begin() { start = last = std::chrono::steady_clock::now(); }
  void draw(int epoch, int epochs, int done, int total, double loss) {
    if (!on) return;
    const auto now = std::chrono::steady_clock::now();
    // At most ten redraws a second: small models run hundreds of batches a second.
    if (done < total && std::chrono::duration<double>(now - last).count() < 0.1) return;
    last = now;
    const double el = std::chrono::duration<double>(now - start).count();
    const double left = done > 0 ? el / done * (total - done) : 0.0;
    const int width = 30, fill = total > 0 ? width * done / total : 0;
    std::printf("\r  epoch %d/%d [%s%s] %d/%d batches  loss %.3f  %.0f s left \033[K", epoch, epochs,
                std::string(static_cast<size_t>(fill), '#').c_str(), std::string(static_cast<size_t>(width - fill), '.').c_str(),
                done, total, loss, left);
    std::fflush(stdout);
  }
  void clear() {
    if (!on) return;
    std::printf("\r\033[K");
    std::fflush(stdout);
  }
};

void make_dirs(const std::string &dir) {
  std::string cur;
  for (const std::string &part : split(dir, '/')) {
    cur += part;
    if (!cur.empty() && !is_dir(cur) && ::mkdir(cur.c_str(), 0777) != 0 && errno != EEXIST)
      throw RunError("cannot create output directory " + cur + ": " + std::strerror(errno));
    cur += "/";
  }
  if (!is_dir(dir)) throw RunError("output directory " + dir + " is not a directory");
}

// Collects the arrays of the run and writes them in one atomic save at the very end, so a run that
// fails leaves no npz behind (and an earlier file of the same name untouched).
class NpzOut {
 public:
  NpzOut() { check(rnnlab_npz_create(&npz_, 0), "rnnlab_npz_create"); }
  ~NpzOut() { rnnlab_npz_destroy(npz_); }
  NpzOut(const NpzOut &) = delete;
  NpzOut &operator=(const NpzOut &) = delete;

  void f64(const std::string &key, const std::vector<double> &v) {
    const int64_t shape[1] = {static_cast<int64_t>(v.size())};
    check(rnnlab_npz_add_float64(npz_, key.c_str(), v.data(), v.size(), 1, shape), "npz " + key);
  }
  void f32(const std::string &key, const std::vector<float> &v, int64_t rows, int64_t cols) {
    const int64_t shape[2] = {rows, cols};
    check(rnnlab_npz_add_float32(npz_, key.c_str(), v.data(), v.size(), 2, shape), "npz " + key);
  }
  void f32_vec(const std::string &key, const float *v, size_t n) {
    const int64_t shape[1] = {static_cast<int64_t>(n)};
    check(rnnlab_npz_add_float32(npz_, key.c_str(), v, n, 1, shape), "npz " + key);
  }
  void i32_vec(const std::string &key, const std::vector<int32_t> &v) {
    const int64_t shape[1] = {static_cast<int64_t>(v.size())};
    check(rnnlab_npz_add_int32(npz_, key.c_str(), v.data(), v.size(), 1, shape), "npz " + key);
  }
  void i64(const std::string &key, int64_t v) { check(rnnlab_npz_add_int64(npz_, key.c_str(), &v, 1, 0, nullptr), "npz " + key); }
  void d(const std::string &key, double v) { check(rnnlab_npz_add_float64(npz_, key.c_str(), &v, 1, 0, nullptr), "npz " + key); }
  void model(const rnnlab_model *m, const std::string &prefix) {
    check(rnnlab_npz_add_params(npz_, m, prefix.c_str(), 0), "npz parameters");
  }
  void save(const std::string &path) { check(rnnlab_npz_save(npz_, path.c_str()), "writing " + path); }

 private:
  rnnlab_npz *npz_ = nullptr;
};

void add_trainee(NpzOut &z, const Trainee &t, int T) {
  const std::string &p = t.prefix;
  for (const char *k : kEpochKeys) z.f64(p + k, t.ep.at(k));
  for (const char *k : kStepKeys) z.f64(p + k, t.step.at(k));
  const int64_t rows = static_cast<int64_t>(t.traces[0].size() / static_cast<size_t>(T));
  for (int k = 0; k < RNNLAB_TRACE_COUNT; ++k)
    if (rnnlab_has_trace(t.m, static_cast<rnnlab_trace>(k)))
      z.f32(p + rnnlab_trace_name(static_cast<rnnlab_trace>(k)), t.traces[static_cast<size_t>(k)], rows, T);
  z.i64(p + "frozen_bias_mask", t.cfg.frozen_bias_mask);
  z.f32_vec(p + "frozen_bias_value", t.cfg.frozen_bias_value, 3);
  z.i64(p + "bias_init_mask", t.cfg.bias_init_mask);
  z.f32_vec(p + "bias_init_value", t.cfg.bias_init_value, 3);
  z.i64(p + "trainable_params", static_cast<int64_t>(t.trainable_params));
  z.model(t.m, p);
}

std::string diag_cost_note(int diag_batch, int train_count) {
  if (diag_batch <= 0) return "off (--diag-batch 0)";
  return strf("one fixed batch of %d training images at diag level full after every epoch and at init "
              "(~%.1f%% of an epoch's training cost)",
              diag_batch, 100.0 * diag_batch / std::max(1, train_count));
}

// Runs fn on every model: in turn, or (concurrent) every model but the first on a thread of its own
// while the calling thread does the first. Distinct model handles are independent (rnnlab.h's thread
// contract), and they only read the shared batch. On two cores, two models with one backend thread
// each beat taking turns with two threads each: a 784-step pass is a chain of small GEMMs whose
// per-step thread synchronisation costs more than the second thread gains (measured: 1.6-2.2x).
template <class F>
void for_each_model(const std::vector<Trainee *> &ts, bool concurrent, F fn) {
  if (!concurrent || ts.size() < 2) {
    for (Trainee *t : ts) fn(*t);
    return;
  }
  std::vector<std::exception_ptr> errors(ts.size());
  std::vector<std::thread> workers;
  for (size_t i = 1; i < ts.size(); ++i)
    workers.emplace_back([&, i] {
      try {
        fn(*ts[i]);
      } catch (...) {
        errors[i] = std::current_exception();
      }
    });
  try {
    fn(*ts[0]);
  } catch (...) {
    errors[0] = std::current_exception();
  }
  for (auto &w : workers) w.join();
  for (auto &err : errors)
    if (err) std::rethrow_exception(err);
}

// ------------------------------------------------------------------------------------------------
// The run
// ------------------------------------------------------------------------------------------------
int run(const Options &o) {
  const auto t_start = std::chrono::steady_clock::now();
  if (!is_dir(o.data_dir)) throw RunError("missing data directory " + o.data_dir + data_hint(o.dataset));
  Dataset_ train, test;
  load_split(train, o, true);
  load_split(test, o, false);
  const rnnlab_dataset_info &info = train.info;
  const int T = info.steps, I = info.input_size, N = info.count;
  const int batches = (N + o.batch - 1) / o.batch;
  const int diag_n = std::min(o.diag_batch, N);
  const std::string out_path = o.out_dir + "/" + o.name + ".npz";

  std::vector<std::unique_ptr<Trainee>> owned;
  std::string note_b, note_a;
  if (o.ablation) {
    owned.emplace_back(new Trainee());
    owned.back()->label = "baseline";
    owned.back()->prefix = "baseline_";
    create_trainee(*owned.back(), o, info, 0, o.epochs, static_cast<size_t>(o.epochs) * batches, &note_b);
    owned.emplace_back(new Trainee());
    owned.back()->label = "ablated";
    owned.back()->prefix = "ablated_";
    create_trainee(*owned.back(), o, info, o.freeze_mask, o.epochs, static_cast<size_t>(o.epochs) * batches, &note_a);
  } else {
    owned.emplace_back(new Trainee());
    create_trainee(*owned.back(), o, info, o.freeze_mask, o.epochs, static_cast<size_t>(o.epochs) * batches, &note_b);
  }
  std::vector<Trainee *> ts;
  for (auto &p : owned) ts.push_back(p.get());

  // ---- configuration, with the choices the paper leaves open said out loud -----------------------
  const Trainee &t0 = *ts[0];
  std::printf("rnnlab-train %s: rnnlab %s, backend %s%s, %d thread%s%s\n", o.command.c_str(), rnnlab_version(),
              rnnlab_backend_name(t0.cfg.backend),
              t0.cfg.backend == RNNLAB_BACKEND_CPU ? strf(" (%s kernels)", rnnlab_cpu_isa_name(t0.cfg.cpu_isa == RNNLAB_ISA_AUTO ? rnnlab_cpu_isa_best() : t0.cfg.cpu_isa)).c_str() : "",
              o.threads, o.threads == 1 ? "" : "s",
              o.concurrent ? strf(": the two models train side by side, %d backend thread%s each", t0.cfg.threads,
                                  t0.cfg.threads == 1 ? "" : "s").c_str()
                           : (o.ablation ? ": the two models take turns" : ""));
  if (o.preset == "main") std::printf("preset main: %s\n", kMainWhy);
  if (o.preset == "seed000") std::printf("preset seed000: seed 000's exact configuration (s-CIFAR-10 grayscale, H = 181, 40 epochs)\n");
  if (!o.preset.empty() && !o.given.empty()) {
    std::string g;
    for (const auto &f : o.given) g += " " + f;
    std::printf("  overridden on the command line:%s\n", g.c_str());
  }
  std::printf("data: %s from %s, %s: T = %d steps of %d input%s; %d training / %d test images%s%s\n",
              dataset_title(o.dataset), o.data_dir.c_str(), o.mode == RNNLAB_DATASET_PIXELS ? "pixel by pixel" : "row by row",
              T, I, I == 1 ? "" : "s", N, test.info.count,
              (o.train_limit || o.test_limit) ? " (the first ones of each file)" : "", o.permute ? ", fixed pixel permutation" : "");
  if (o.normalize)
    std::printf("  pixels scaled to [0, 1], then (x - %g) / %g\n", static_cast<double>(o.norm_mean), static_cast<double>(o.norm_std));
  else
    std::printf("  pixels scaled to [0, 1] (seed 000)\n");
  std::printf("model: %s, H = %d, %d input%s, last-step softmax over %d classes, %zu parameters\n", cell_title(o.cell),
              o.hidden, I, I == 1 ? "" : "s", info.num_classes, t0.total_params);
  std::printf("  init %s\n", init_name(o.init));
  for (const Trainee *t : ts) {
    const char *who = t->label.empty() ? "" : (t->label == "baseline" ? "baseline: " : "ablated:  ");
    std::string init_txt = o.bias_init == BiasInit::Chrono ? "chrono b_z" : gates_text(t->cfg.bias_init_mask, t->cfg.bias_init_value);
    if (t->cfg.bias_init_mask) init_txt += " (effective: b_i = v, b_h = 0)";
    std::printf("  %sbias init %s; frozen: %s; %zu trainable\n", who, init_txt.c_str(),
                gates_text(t->cfg.frozen_bias_mask, t->cfg.frozen_bias_value).c_str(), t->trainable_params);
  }
  if ((o.bias_mask & (RNNLAB_GATE_Z | RNNLAB_GATE_R)) == (RNNLAB_GATE_Z | RNNLAB_GATE_R) && o.bias_init == BiasInit::Constant &&
      !o.was_given("--bias-init"))
    std::printf("  b_z and b_r both start at +1.0: seed 000 sec. II.C names only the update gate, its conclusion both;"
                " tasks.md: both (--bias-init z=1.0 for b_z alone)\n");
  if (!note_b.empty()) std::printf("  note: %s\n", note_b.c_str());
  if (!note_a.empty()) std::printf("  note (ablated): %s\n", note_a.c_str());
  const char *opt = o.optimizer == RNNLAB_OPTIMIZER_ADAMW ? "AdamW" : o.optimizer == RNNLAB_OPTIMIZER_ADAM ? "Adam" : "SGD";
  std::printf("optimiser: %s, lr %g cosine-annealed per epoch to %g over %d epochs (CosineAnnealingLR(T_max=%d)),"
              " weight decay %g%s\n",
              opt, o.lr, o.lr_min, o.epochs, o.epochs, o.weight_decay,
              o.weight_decay == 0.01 ? " (seed 000 gives no value: PyTorch's AdamW default)"
                                     : " (seed 000 gives no value; PyTorch's AdamW default is 0.01)");
  if (o.optimizer != RNNLAB_OPTIMIZER_SGD) std::printf("  betas 0.9, 0.999, eps 1e-8 (PyTorch's defaults)\n");
  if (o.clip > 0)
    std::printf("clipping: global L2 gradient norm %g (the guard drops a non-finite or > 1e10 gradient)\n", o.clip);
  else
    std::printf("clipping: none\n");
  std::printf("batch size %d%s; %d updates per epoch; order reshuffled every epoch from seed %llu%s\n", o.batch,
              o.batch == 128 ? " (seed 000 gives none: tasks.md's default)" : " (seed 000 gives none; tasks.md's default is 128)", batches,
              static_cast<unsigned long long>(o.seed), o.ablation ? "; both models see the same batches and start from the same weights" : "");
  std::printf("diagnostics: %s\n", diag_cost_note(diag_n, N).c_str());
  std::printf("output: %s\n\n", out_path.c_str());
  std::fflush(stdout);
  make_dirs(o.out_dir);

  // ---- buffers --------------------------------------------------------------------------------
  const int eval_b = std::min(o.eval_batch, test.info.count);
  std::vector<float> x(static_cast<size_t>(T) * o.batch * I);
  std::vector<int32_t> labels(static_cast<size_t>(o.batch));
  std::vector<float> xd(static_cast<size_t>(T) * std::max(diag_n, 1) * I);
  std::vector<int32_t> ld(static_cast<size_t>(std::max(diag_n, 1))), id(static_cast<size_t>(std::max(diag_n, 1)));
  for (int i = 0; i < diag_n; ++i) id[static_cast<size_t>(i)] = i;
  if (diag_n > 0)
    check(rnnlab_dataset_batch(xd.data(), static_cast<size_t>(T) * diag_n * I, ld.data(), static_cast<size_t>(diag_n), train.ds,
                               id.data(), static_cast<size_t>(diag_n)),
          "rnnlab_dataset_batch (diagnostic batch)");
  const size_t xd_count = static_cast<size_t>(T) * diag_n * I;

  // Each call has its own test-batch buffers: with concurrent models two of them run at once.
  auto measure = [&](Trainee &t, int e) {
    auto a = std::chrono::steady_clock::now();
    std::vector<float> xe(static_cast<size_t>(T) * eval_b * I);
    std::vector<int32_t> le(static_cast<size_t>(eval_b)), ie(static_cast<size_t>(eval_b));
    evaluate(t, e, test, xe, le, ie, eval_b);
    diag_pass(t, e, xd.data(), xd_count, ld.data(), T, diag_n);
    weight_stats(t, e);
    t.at("eval_seconds", e) = std::chrono::duration<double>(std::chrono::steady_clock::now() - a).count();
  };

  print_table_header(ts);
  {
    auto a = std::chrono::steady_clock::now();
    for_each_model(ts, o.concurrent, [&](Trainee &t) { measure(t, 0); });
    print_table_row(ts, 0, std::chrono::duration<double>(std::chrono::steady_clock::now() - a).count());
  }

  Progress bar;
  bar.on = o.progress && ::isatty(STDOUT_FILENO);
  Shuffler rng(o.seed);
  std::vector<int32_t> order(static_cast<size_t>(N));
  for (int i = 0; i < N; ++i) order[static_cast<size_t>(i)] = i;
  for (int e = 1; e <= o.epochs; ++e) {
    auto a = std::chrono::steady_clock::now();
    rng.shuffle(order);
    for (Trainee *t : ts) begin_epoch(*t);
    bar.begin();
    for (int k = 0; k < batches; ++k) {
      const int start = k * o.batch, B = std::min(o.batch, N - start);
      const size_t xc = static_cast<size_t>(T) * B * I;
      check(rnnlab_dataset_batch(x.data(), xc, labels.data(), static_cast<size_t>(B), train.ds, order.data() + start,
                                 static_cast<size_t>(B)),
            "rnnlab_dataset_batch");
      for_each_model(ts, o.concurrent, [&](Trainee &t) { train_batch(t, x.data(), xc, labels.data(), T, B); });
      bar.draw(e, o.epochs, k + 1, batches, ts[0]->step["step_loss"].back());
    }
    bar.clear();
    for_each_model(ts, o.concurrent, [&](Trainee &t) {
      end_epoch(t, e);
      measure(t, e);
    });
    print_table_row(ts, e, std::chrono::duration<double>(std::chrono::steady_clock::now() - a).count());
  }

  // ---- summary --------------------------------------------------------------------------------
  std::printf("\n");
  for (Trainee *t : ts) {
    // The largest rise of the per-update loss over its running minimum: seed 000's "BPTT cliff".
    const auto &sl = t->step["step_loss"];
    double lo = HUGE_VAL, rise = 0;
    size_t at = 0;
    for (size_t i = 0; i < sl.size(); ++i) {
      if (std::isfinite(sl[i]) && sl[i] - lo > rise) {
        rise = sl[i] - lo;
        at = i;
      }
      if (std::isfinite(sl[i])) lo = std::min(lo, sl[i]);
    }
    std::string who = t->label.empty() ? "model" : t->label;
    std::string gates;
    if (t->gru)
      gates = strf(" mean z %.3f -> %.3f; z pre-act %+.3f -> %+.3f; ||W_hz|| %.2f -> %.2f;", t->at("z_mean", 0),
                   t->at("z_mean", o.epochs), t->at("z_preact", 0), t->at("z_preact", o.epochs), t->at("W_hz_norm", 0),
                   t->at("W_hz_norm", o.epochs));
    std::printf("%-8s test acc %.2f%% -> %.2f%%;%s largest loss rise above its running minimum %.3f (update %zu, epoch %zu)\n",
                who.c_str(), t->at("test_acc", 0), t->at("test_acc", o.epochs), gates.c_str(), rise, at + 1,
                at / static_cast<size_t>(batches) + 1);
  }

  NpzOut z;
  std::vector<int32_t> epochs(static_cast<size_t>(o.epochs) + 1);
  for (int e = 0; e <= o.epochs; ++e) epochs[static_cast<size_t>(e)] = e;
  z.i64("rnnlab_images_format", 1);  // lets tools tell this file from a CS728 one
  z.i64(o.ablation ? "ablation" : "single_model", 1);
  z.i32_vec("epoch", epochs);
  z.i64("hidden_size", o.hidden);
  z.i64("input_size", I);
  z.i64("steps", T);
  z.i64("num_classes", info.num_classes);
  z.i64("train_count", N);
  z.i64("test_count", test.info.count);
  z.i64("epochs", o.epochs);
  z.i64("batch_size", o.batch);
  z.i64("updates_per_epoch", batches);
  z.i64("diag_batch", diag_n);
  z.i64("seed", static_cast<int64_t>(o.seed));
  z.i64("threads", o.threads);
  z.i64("cell", o.cell);
  z.i64("init", o.init);
  z.i64("pixels_mode", o.mode == RNNLAB_DATASET_PIXELS);
  z.i64("permute", o.permute);
  z.d("lr_max", o.lr);
  z.d("lr_min", o.lr_min);
  z.d("weight_decay", o.weight_decay);
  z.d("clip", o.clip);
  z.d("wall_seconds", std::chrono::duration<double>(std::chrono::steady_clock::now() - t_start).count());
  for (Trainee *t : ts) add_trainee(z, *t, T);
  z.save(out_path);
  std::printf("\nwrote %s (%.0f s in all)\n", out_path.c_str(),
              std::chrono::duration<double>(std::chrono::steady_clock::now() - t_start).count());
  return 0;
}

}  // namespace

int rnnlab_train_images_parse(int argc, char **argv, std::vector<std::pair<std::string, std::string>> *settings,
                              std::string *error) {
  try {
    const std::string cmd = argc > 0 && argv[0] ? argv[0] : "images";
    if (cmd != "images" && cmd != "ablation") throw UsageError("unknown sub-command '" + cmd + "' (images, ablation)");
    const Options o = parse_options(argc, argv);
    if (o.help) return 1;
    auto i = [](long long v) { return strf("%lld", v); };
    auto d = [](double v) { return strf("%.17g", v); };
    *settings = {{"command", o.command}, {"ablation", i(o.ablation)}, {"preset", o.preset},
                 {"dataset", dataset_name(o.dataset)}, {"data_dir", o.data_dir}, {"mode", i(o.mode)},
                 {"permute", i(o.permute)}, {"permute_seed", i(static_cast<long long>(o.permute_seed))},
                 {"normalize", i(o.normalize)}, {"norm_mean", d(o.norm_mean)}, {"norm_std", d(o.norm_std)},
                 {"train_limit", i(o.train_limit)}, {"test_limit", i(o.test_limit)}, {"hidden", i(o.hidden)},
                 {"cell", i(o.cell)}, {"init", i(o.init)}, {"bias_init", i(static_cast<int>(o.bias_init))},
                 {"bias_mask", i(o.bias_mask)}, {"bias_r", d(o.bias_value[0])}, {"bias_z", d(o.bias_value[1])},
                 {"bias_n", d(o.bias_value[2])}, {"chrono_tmax", i(o.chrono_tmax)}, {"freeze_mask", i(o.freeze_mask)},
                 {"freeze_r", d(o.freeze_explicit[0])}, {"freeze_z", d(o.freeze_explicit[1])},
                 {"freeze_n", d(o.freeze_explicit[2])}, {"epochs", i(o.epochs)}, {"batch", i(o.batch)},
                 {"eval_batch", i(o.eval_batch)}, {"diag_batch", i(o.diag_batch)}, {"optimizer", i(o.optimizer)},
                 {"lr", d(o.lr)}, {"lr_min", d(o.lr_min)}, {"weight_decay", d(o.weight_decay)}, {"clip", d(o.clip)},
                 {"seed", i(static_cast<long long>(o.seed))}, {"threads", i(o.threads)},
                 {"concurrent", i(o.concurrent)}, {"backend", i(o.backend)}, {"out", o.out_dir}, {"name", o.name},
                 {"progress", i(o.progress)}};
    return 0;
  } catch (const UsageError &e) {
    *error = e.what();
    return 2;
  }
}

int rnnlab_train_images(int argc, char **argv) {
  const std::string cmd = argc > 0 && argv[0] ? argv[0] : "images";
  try {
    if (cmd != "images" && cmd != "ablation") throw UsageError("unknown sub-command '" + cmd + "' (images, ablation)");
    Options o = parse_options(argc, argv);
    if (o.help) {
      std::fputs(kHelp, stdout);
      return 0;
    }
    return run(o);
  } catch (const UsageError &e) {
    std::fflush(stdout);
    std::fprintf(stderr, "rnnlab-train %s: %s\n", cmd.c_str(), e.what());
    return 2;
  } catch (const std::exception &e) {
    std::fflush(stdout);
    std::fprintf(stderr, "rnnlab-train %s: error: %s\n", cmd.c_str(), e.what());
    return 1;
  }
}
