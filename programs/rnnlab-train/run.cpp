// rnnlab-train run: one model on sequential images, made for schedulers (README, "Beyond one
// machine"). One run is one process (or one MPI job) writing one output directory:
//
//   OUT/checkpoint.rnlab   periodic atomic checkpoints; the caller bytes hold the data position
//   OUT/model.npz          the trained parameters (PyTorch names), written at the end
//   OUT/summary.json       config, its hash, seed, version, status, final metrics, a parameter
//                          digest; written atomically and last, so its presence means "finished"
//
// A run whose OUT already holds a summary with the same config hash exits 0 at once; a checkpoint
// with the same hash is resumed (--resume auto, the default). SIGTERM or SIGUSR1 stops the run at
// the next update boundary after a checkpoint, with exit status 75 (EX_TEMPFAIL) for a requeue.
//
// Data parallel (under mpirun / srun --mpi=pmix): every rank holds the model. The global batch of an
// update is cut into micro-batches of --micro-batch sequences (a function of the step only), and
// rank r of W computes the gradients of micro-batches [r K / W, (r + 1) K / W). Each micro-batch's
// gradient, weighted by its share of the batch, is converted to 64-bit fixed point with one scale
// 2^s for the whole update (s from an MPI_MAX of the largest magnitude), summed as integers, and
// written back with rnnlab_set_grads; every rank then applies the same rnnlab_update. Integer sums
// are exact and associative, so the parameters are bit-identical for any W (and equal to one process
// running the same micro-batches), and a checkpoint resumes on another W.
#include "run.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <rnnlab/rnnlab.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <limits>
#include <map>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "cli.h"
#include "dist/dist.h"

namespace {

using rnnlab_train::Flags;
using rnnlab_train::RunError;
using rnnlab_train::strf;
using rnnlab_train::UsageError;

// ---- signals ---------------------------------------------------------------------------------
volatile std::sig_atomic_t g_stop_signal = 0;
extern "C" void on_stop_signal(int sig) { g_stop_signal = sig; }

void install_stop_handlers() {
  struct sigaction sa;
  std::memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_stop_signal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGTERM, &sa, nullptr);
  sigaction(SIGUSR1, &sa, nullptr);
}

// ---- options ---------------------------------------------------------------------------------
struct RunOptions {
  std::string preset = "none";
  std::string cell = "gru";          // gru (PyTorch's, linear before reset) or gru_reset_before (CS728)
  std::string variant = "baseline";  // baseline: b_z, b_r start at --bias, learnable; ablated: frozen
  double bias = 1.0, freeze_value = 0.0;
  std::string dataset = "fashion-mnist", data_dir, mode = "pixels";
  int64_t train_limit = 0, test_limit = 0;
  int64_t hidden = 181, epochs = 40, max_updates = 0, batch = 128, micro_batch = 32, eval_batch = 500;
  double lr = 5e-4, lr_min = 1e-5, weight_decay = 0.01, clip = 1.0;
  int64_t seed = 0, threads = 1, checkpoint_every = 100, check_every = 0, stop_after = 0;
  std::string backend = "auto", reduce = "fixed", resume = "auto", out;
};

void apply_preset(RunOptions &o, const std::string &p) {
  if (p == "main") {  // images.cpp's main preset, one model
    o.dataset = "fashion-mnist";
    o.mode = "pixels";
    o.hidden = 64;
    o.train_limit = 8000;
    o.test_limit = 1000;
    o.epochs = 8;
    o.batch = 64;
  } else if (p == "seed000") {  // seed 000 at full size: s-CIFAR-10 grayscale, H = 181, 40 epochs
    o.dataset = "cifar10";
    o.mode = "pixels";
    o.hidden = 181;
    o.epochs = 40;
    o.batch = 128;
  }
}

const char *kRunHelp =
    "usage: rnnlab-train run --out DIR [flags]\n"
    "One GRU on sequential images (seed 000's baseline or ablated model), made for schedulers and MPI.\n"
    "\n"
    "  --out DIR             the run's directory (created with its parents). Holds\n"
    "                        checkpoint.rnlab, model.npz and, written last, summary.json\n"
    "  --preset P            none (default), main (Fashion-MNIST, H=64, 8000/1000 images, batch 64,\n"
    "                        8 epochs), seed000 (CIFAR-10 grayscale pixels, H=181, 40 epochs)\n"
    "  --cell C              gru (PyTorch's, linear before reset; default) or gru_reset_before (Cho/CS728)\n"
    "  --variant V           baseline (b_z, b_r start at --bias, learnable) or ablated (held at\n"
    "                        --freeze-value); --bias 1.0, --freeze-value 0.0\n"
    "  --dataset D           fashion-mnist, mnist, cifar10; --data-dir DIR; --mode pixels|rows\n"
    "  --train-limit N, --test-limit N   the first N images (0 = all)\n"
    "  --hidden H (181), --epochs N (40), --batch N (128), --eval-batch N (500)\n"
    "  --max-updates N       stop after N updates in all (0 = run every epoch)\n"
    "  --micro-batch N       sequences per gradient slice (32): the unit of work handed to MPI ranks;\n"
    "                        results depend on it, not on the number of ranks\n"
    "  --lr X (5e-4), --lr-min X (1e-5, cosine per epoch), --weight-decay X (0.01), --clip X (1.0)\n"
    "  --seed N (0), --backend auto|cpu|reference\n"
    "  --threads N           backend threads per process (default: SLURM_CPUS_PER_TASK, else 1)\n"
    "  --reduce fixed|float  fixed (default): exact 64-bit fixed-point sum across ranks, bit-identical\n"
    "                        for any rank count; float: MPI_SUM on float32 (faster, not reproducible)\n"
    "  --checkpoint-every N  updates between checkpoints (100; 0 = only when stopped by a signal)\n"
    "  --stop-after N        checkpoint and exit 75 after N updates of this process, as a signal would\n"
    "                        (time-sliced schedulers; tests)\n"
    "  --check-every N       compare the parameter digest across ranks every N updates (0 = at the end)\n"
    "  --resume auto|never   auto (default): continue from OUT/checkpoint.rnlab when it belongs to this\n"
    "                        configuration\n"
    "\n"
    "Exit status: 0 finished (also when OUT already holds this configuration's summary, and when the\n"
    "run diverged: see status in summary.json), 2 usage or configuration error, 75 stopped by\n"
    "SIGTERM/SIGUSR1 after writing a checkpoint (requeue it), 1 any other failure.\n";

// --preset is applied first, so that every other flag overrides it wherever it stands.
std::string find_preset(const std::vector<std::string> &args) {
  std::string p = "none";
  for (size_t i = 1; i < args.size(); ++i) {
    if (args[i] == "--preset" && i + 1 < args.size()) p = args[i + 1];
    if (args[i].rfind("--preset=", 0) == 0) p = args[i].substr(9);
  }
  return p;
}

bool parse_run_options(RunOptions &o, const std::vector<std::string> &args) {
  o.preset = find_preset(args);
  apply_preset(o, o.preset);
  if (const char *c = std::getenv("SLURM_CPUS_PER_TASK")) {
    const long v = std::strtol(c, nullptr, 10);
    if (v >= 1 && v <= 4096) o.threads = v;
  }
  Flags f("rnnlab-train run");
  f.add_choice("preset", &o.preset, {"none", "main", "seed000"});
  f.add_choice("cell", &o.cell, {"gru", "gru_reset_before"});
  f.add_choice("variant", &o.variant, {"baseline", "ablated"});
  f.add_double("bias", &o.bias, -1e3, 1e3);
  f.add_double("freeze-value", &o.freeze_value, -1e3, 1e3);
  f.add_choice("dataset", &o.dataset, {"fashion-mnist", "mnist", "cifar10"});
  f.add_string("data-dir", &o.data_dir);
  f.add_choice("mode", &o.mode, {"pixels", "rows"});
  f.add_int("train-limit", &o.train_limit, 0, INT32_MAX);
  f.add_int("test-limit", &o.test_limit, 0, INT32_MAX);
  f.add_int("hidden", &o.hidden, 1, 1 << 16);
  f.add_int("epochs", &o.epochs, 1, 1000000);
  f.add_int("max-updates", &o.max_updates, 0, INT64_MAX / 2);
  f.add_int("batch", &o.batch, 1, 1 << 20);
  f.add_int("micro-batch", &o.micro_batch, 1, 1 << 20);
  f.add_int("eval-batch", &o.eval_batch, 1, 1 << 20);
  f.add_double("lr", &o.lr, 1e-300, 1e6);
  f.add_double("lr-min", &o.lr_min, 0.0, 1e6);
  f.add_double("weight-decay", &o.weight_decay, 0.0, 1e6);
  f.add_double("clip", &o.clip, 0.0, 1e30);
  f.add_int("seed", &o.seed, 0, INT64_MAX);
  f.add_int("threads", &o.threads, 1, 4096);
  f.add_choice("backend", &o.backend, {"auto", "cpu", "reference"});
  f.add_choice("reduce", &o.reduce, {"fixed", "float"});
  f.add_int("checkpoint-every", &o.checkpoint_every, 0, INT64_MAX / 2);
  f.add_int("check-every", &o.check_every, 0, INT64_MAX / 2);
  f.add_int("stop-after", &o.stop_after, 0, INT64_MAX / 2);
  f.add_choice("resume", &o.resume, {"auto", "never"});
  f.add_string("out", &o.out);
  std::vector<char *> argv;
  for (const std::string &a : args) argv.push_back(const_cast<char *>(a.c_str()));
  if (!f.parse(static_cast<int>(argv.size()), argv.data(), 1)) return false;
  if (o.out.empty()) throw UsageError("--out DIR is required (the run's own directory)");
  if (o.lr_min > o.lr) throw UsageError(strf("--lr-min %g is above --lr %g", o.lr_min, o.lr));
  if (o.micro_batch > o.batch) o.micro_batch = o.batch;
  if (o.data_dir.empty())
    o.data_dir = o.dataset == "fashion-mnist" ? "/usr/share/datasets/fashion-mnist"
                 : o.dataset == "mnist"       ? "/usr/share/datasets/mnist"
                                              : "cifar-10-batches-bin";
  return true;
}

// Everything that decides the result, in a fixed order: its hash names the configuration.
// Left out on purpose: the output directory, the rank count (the fixed-point sum makes it
// irrelevant), checkpoint and check intervals, --resume, the data directory's path (the same files
// can live anywhere), and --threads (a scheduler may give a requeued job another CPU count).
std::vector<std::pair<std::string, std::string>> config_items(const RunOptions &o) {
  return {
      {"cell", o.cell},              {"variant", o.variant},
      {"bias", strf("%.17g", o.bias)},
      {"freeze_value", strf("%.17g", o.freeze_value)},
      {"dataset", o.dataset},        {"mode", o.mode},
      {"train_limit", strf("%lld", static_cast<long long>(o.train_limit))},
      {"test_limit", strf("%lld", static_cast<long long>(o.test_limit))},
      {"hidden", strf("%lld", static_cast<long long>(o.hidden))},
      {"epochs", strf("%lld", static_cast<long long>(o.epochs))},
      {"max_updates", strf("%lld", static_cast<long long>(o.max_updates))},
      {"batch", strf("%lld", static_cast<long long>(o.batch))},
      {"micro_batch", strf("%lld", static_cast<long long>(o.micro_batch))},
      {"eval_batch", strf("%lld", static_cast<long long>(o.eval_batch))},
      {"lr", strf("%.17g", o.lr)},   {"lr_min", strf("%.17g", o.lr_min)},
      {"weight_decay", strf("%.17g", o.weight_decay)},
      {"clip", strf("%.17g", o.clip)},
      {"seed", strf("%lld", static_cast<long long>(o.seed))},
      {"backend", o.backend},        {"reduce", o.reduce},
  };
}

uint64_t fnv1a(const void *data, size_t n, uint64_t h = 0xcbf29ce484222325ULL) {
  const unsigned char *p = static_cast<const unsigned char *>(data);
  for (size_t i = 0; i < n; ++i) {
    h ^= p[i];
    h *= 0x100000001b3ULL;
  }
  return h;
}

std::string config_hash(const RunOptions &o) {
  std::string s = strf("rnnlab %s\n", rnnlab_version());
  for (const auto &kv : config_items(o)) s += kv.first + "=" + kv.second + "\n";
  return strf("%016llx", static_cast<unsigned long long>(fnv1a(s.data(), s.size())));
}

// ---- small file helpers ------------------------------------------------------------------------
bool is_dir(const std::string &p) {
  struct stat st;
  return ::stat(p.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}
bool is_file(const std::string &p) {
  struct stat st;
  return ::stat(p.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}
std::string read_file(const std::string &p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}
std::string parent_of(const std::string &p) {
  std::string s = p;
  while (s.size() > 1 && s.back() == '/') s.pop_back();
  const size_t slash = s.rfind('/');
  return slash == std::string::npos ? "." : slash == 0 ? "/" : s.substr(0, slash);
}

// Writes `text` to `path` atomically: a temporary file in the same directory, synced, renamed over
// the target, and the directory synced (a reader sees the old file or the whole new one).
void write_atomic(const std::string &path, const std::string &text) {
  const std::string dir = parent_of(path);
  const std::string tmp = strf("%s/.%s.tmp.%ld", dir.c_str(), path.substr(path.rfind('/') + 1).c_str(),
                               static_cast<long>(::getpid()));
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) throw RunError(strf("cannot write %s: %s", tmp.c_str(), std::strerror(errno)));
  size_t done = 0;
  while (done < text.size()) {
    const ssize_t w = ::write(fd, text.data() + done, text.size() - done);
    if (w < 0 && errno == EINTR) continue;  // a stop signal must not lose the summary
    if (w <= 0) {
      const int err = errno;
      ::close(fd);
      ::unlink(tmp.c_str());
      throw RunError(strf("cannot write %s: %s", tmp.c_str(), std::strerror(err)));
    }
    done += static_cast<size_t>(w);
  }
  if (::fsync(fd) != 0 || ::close(fd) != 0 || ::rename(tmp.c_str(), path.c_str()) != 0) {
    const int err = errno;
    ::unlink(tmp.c_str());
    throw RunError(strf("cannot write %s: %s", path.c_str(), std::strerror(err)));
  }
  const int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
}

// mkdir -p. A path that cannot be a directory (a file in the way, no permission) is the caller's
// mistake: a usage error, never worth retrying.
void make_dirs(const std::string &dir) {
  std::string cur;
  size_t i = 0;
  while (i <= dir.size()) {
    const size_t slash = dir.find('/', i);
    cur = dir.substr(0, slash == std::string::npos ? dir.size() : slash);
    if (!cur.empty() && !is_dir(cur) && ::mkdir(cur.c_str(), 0777) != 0 && errno != EEXIST)
      throw UsageError(strf("cannot create the output directory %s: %s", cur.c_str(), std::strerror(errno)));
    if (slash == std::string::npos) break;
    i = slash + 1;
  }
  if (!is_dir(dir)) throw UsageError("the output directory " + dir + " is not a directory");
}

// The value of "key": "..." in a summary this program wrote ("" when absent).
std::string json_string_field(const std::string &json, const std::string &key) {
  const std::string k = "\"" + key + "\": \"";
  const size_t a = json.find(k);
  if (a == std::string::npos) return "";
  const size_t b = json.find('"', a + k.size());
  return b == std::string::npos ? "" : json.substr(a + k.size(), b - a - k.size());
}

std::string json_escape(const std::string &s) {
  std::string out;
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\', out += c;
    else if (static_cast<unsigned char>(c) < 0x20) out += strf("\\u%04x", c);
    else out += c;
  }
  return out;
}
std::string json_num(double v) { return std::isfinite(v) ? strf("%.17g", v) : "null"; }

void check(rnnlab_status s, const std::string &what) {
  if (s != RNNLAB_OK) throw RunError(what + ": " + rnnlab_last_error());
}

// The epoch's order of the training set: a fixed function of (seed, epoch), so a resumed run
// rebuilds it without replaying earlier epochs (splitmix64; bounded draws by rejection).
std::vector<int32_t> epoch_order(uint64_t seed, int64_t epoch, int32_t n) {
  uint64_t s = seed * 0x9E3779B97F4A7C15ULL ^ (static_cast<uint64_t>(epoch) + 0x5eed0f0e0c4ULL);
  auto next = [&s] {
    uint64_t z = (s += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
  };
  std::vector<int32_t> v(static_cast<size_t>(n));
  for (int32_t i = 0; i < n; ++i) v[static_cast<size_t>(i)] = i;
  for (size_t i = v.size(); i > 1; --i) {
    const uint64_t limit = UINT64_MAX - UINT64_MAX % i;
    uint64_t x;
    do x = next();
    while (x >= limit);
    std::swap(v[i - 1], v[x % i]);
  }
  return v;
}

// ---- the training state a checkpoint carries besides the model ---------------------------------
struct Position {
  std::string hash;
  int64_t epoch = 1, batch = 0, updates = 0;  // next batch to run: (epoch, batch); updates done
  // accumulators of the current epoch
  double loss_sum = 0, wrong = 0, seen = 0, gnorm_sum = 0, clipped = 0, guarded = 0;
  std::map<std::string, std::vector<double>> history;  // per finished epoch

  std::string encode() const {
    std::string s = "rnnlab-run-position 1\n";
    s += "hash " + hash + "\n";
    s += strf("at %lld %lld %lld\n", static_cast<long long>(epoch), static_cast<long long>(batch),
              static_cast<long long>(updates));
    s += strf("acc %.17g %.17g %.17g %.17g %.17g %.17g\n", loss_sum, wrong, seen, gnorm_sum, clipped, guarded);
    for (const auto &kv : history) {
      s += "hist " + kv.first;
      for (double v : kv.second) s += strf(" %.17g", v);
      s += "\n";
    }
    return s;
  }
  static Position decode(const std::string &text) {
    Position p;
    std::istringstream in(text);
    std::string line;
    if (!std::getline(in, line) || line != "rnnlab-run-position 1")
      throw RunError("the checkpoint's data position is not one this version writes");
    while (std::getline(in, line)) {
      std::istringstream ls(line);
      std::string key;
      ls >> key;
      if (key == "hash") ls >> p.hash;
      else if (key == "at") ls >> p.epoch >> p.batch >> p.updates;
      else if (key == "acc") {
        std::string a[6];
        for (auto &x : a) ls >> x;
        double *dst[6] = {&p.loss_sum, &p.wrong, &p.seen, &p.gnorm_sum, &p.clipped, &p.guarded};
        for (int i = 0; i < 6; ++i) *dst[i] = std::strtod(a[i].c_str(), nullptr);  // "nan" too
      } else if (key == "hist") {
        std::string name, v;
        ls >> name;
        auto &vec = p.history[name];
        while (ls >> v) vec.push_back(std::strtod(v.c_str(), nullptr));
      }
    }
    return p;
  }
};

struct Dataset {
  rnnlab_dataset *ds = nullptr;
  rnnlab_dataset_info info = RNNLAB_DATASET_INFO_INIT;
  Dataset() = default;
  Dataset(const Dataset &) = delete;
  Dataset &operator=(const Dataset &) = delete;
  ~Dataset() { rnnlab_dataset_destroy(ds); }
};

void load_split(Dataset &out, const RunOptions &o, bool train) {
  if (!is_dir(o.data_dir)) throw UsageError("missing data directory " + o.data_dir);
  rnnlab_dataset_config c = RNNLAB_DATASET_CONFIG_INIT;
  c.mode = o.mode == "rows" ? RNNLAB_DATASET_ROWS : RNNLAB_DATASET_PIXELS;
  c.num_classes = 10;
  c.limit = static_cast<int32_t>(train ? o.train_limit : o.test_limit);
  std::string images, labels;
  std::vector<std::string> cifar;
  std::vector<const char *> ptrs;
  if (o.dataset == "cifar10") {
    c.format = RNNLAB_DATASET_CIFAR10;
    c.grayscale = 1;
    if (train)
      for (int i = 1; i <= 5; ++i) cifar.push_back(strf("%s/data_batch_%d.bin", o.data_dir.c_str(), i));
    else
      cifar.push_back(o.data_dir + "/test_batch.bin");
    for (const auto &p : cifar) ptrs.push_back(p.c_str());
    c.cifar_paths = ptrs.data();
    c.cifar_count = static_cast<int32_t>(ptrs.size());
  } else {
    c.format = RNNLAB_DATASET_IDX;
    auto find = [&](const std::string &base) {
      for (const std::string &p : {o.data_dir + "/" + base, o.data_dir + "/" + base + ".gz"})
        if (is_file(p)) return p;
      throw UsageError("missing data file: no " + base + "[.gz] in " + o.data_dir);
    };
    images = find(train ? "train-images-idx3-ubyte" : "t10k-images-idx3-ubyte");
    labels = find(train ? "train-labels-idx1-ubyte" : "t10k-labels-idx1-ubyte");
    c.images_path = images.c_str();
    c.labels_path = labels.c_str();
  }
  check(rnnlab_dataset_create(&out.ds, &c), std::string("loading the ") + (train ? "training" : "test") + " set");
  check(rnnlab_dataset_get_info(&out.info, out.ds), "rnnlab_dataset_get_info");
}

struct Model {
  rnnlab_model *m = nullptr;
  Model() = default;
  Model(const Model &) = delete;
  Model &operator=(const Model &) = delete;
  ~Model() { rnnlab_destroy(m); }
};

void create_model(Model &mod, const RunOptions &o, const rnnlab_dataset_info &info) {
  rnnlab_config c = RNNLAB_CONFIG_INIT;
  c.cell = o.cell == "gru_reset_before" ? RNNLAB_CELL_GRU_RESET_BEFORE : RNNLAB_CELL_GRU;
  c.input_size = info.input_size;
  c.hidden_size = static_cast<int32_t>(o.hidden);
  c.head = RNNLAB_HEAD_LAST_SOFTMAX;
  c.output_size = info.num_classes;
  c.backend = o.backend == "cpu" ? RNNLAB_BACKEND_CPU : o.backend == "reference" ? RNNLAB_BACKEND_REFERENCE
                                                                                : RNNLAB_BACKEND_AUTO;
  c.init = RNNLAB_INIT_ORTHOGONAL;
  c.seed = static_cast<uint64_t>(o.seed);
  c.threads = static_cast<int32_t>(o.threads);
  if (o.variant == "ablated") {
    c.frozen_bias_mask = RNNLAB_GATE_Z | RNNLAB_GATE_R;
    c.frozen_bias_value[RNNLAB_GATE_INDEX_Z] = c.frozen_bias_value[RNNLAB_GATE_INDEX_R] = static_cast<float>(o.freeze_value);
  } else {
    c.bias_init = RNNLAB_BIAS_INIT_CONSTANT;
    c.bias_init_mask = RNNLAB_GATE_Z | RNNLAB_GATE_R;
    c.bias_init_value[RNNLAB_GATE_INDEX_Z] = c.bias_init_value[RNNLAB_GATE_INDEX_R] = static_cast<float>(o.bias);
  }
  check(rnnlab_create(&mod.m, &c), "creating the model");
  rnnlab_optimizer_config oc = RNNLAB_OPTIMIZER_CONFIG_INIT;
  oc.kind = RNNLAB_OPTIMIZER_ADAMW;
  oc.lr = o.lr;
  oc.weight_decay = o.weight_decay;
  oc.schedule = RNNLAB_SCHEDULE_COSINE;  // stepped once per epoch (CosineAnnealingLR(T_max = epochs))
  oc.lr_min = o.lr_min;
  oc.schedule_steps = o.epochs;
  oc.schedule_period = 0;
  oc.clip = o.clip > 0 ? RNNLAB_CLIP_RESCALE : RNNLAB_CLIP_NOTHING;
  oc.cutoff = o.clip > 0 ? o.clip : 1.0;
  check(rnnlab_set_optimizer(mod.m, &oc), "setting the optimiser");
}

uint64_t param_digest(const rnnlab_model *m, size_t total) {
  std::vector<float> p(total);
  check(rnnlab_get_params(p.data(), total, m), "rnnlab_get_params");
  return fnv1a(p.data(), p.size() * sizeof(float));
}

// Every rank holds the same parameters, or the run has gone wrong (a rank with other data, another
// library build, a bit flip): compared through two exact maxima.
void check_same_digest(uint64_t d) {
  double v[4] = {static_cast<double>(d >> 32), static_cast<double>(d & 0xffffffffu),
                 -static_cast<double>(d >> 32), -static_cast<double>(d & 0xffffffffu)};
  rnnlab_dist::allreduce_max_f64(v, 4);
  if (v[0] != -v[2] || v[1] != -v[3])
    throw RunError("the ranks' parameters differ (parameter digests disagree): the run diverged across ranks");
}

// ---- one run -----------------------------------------------------------------------------------
struct Stopped {
  int sig;
};

int run_one(const RunOptions &o, const rnnlab_dist::World &world) {
  const bool root = world.rank == 0;
  const auto t_start = std::chrono::steady_clock::now();
  const std::string hash = config_hash(o);
  const std::string summary_path = o.out + "/summary.json", ckpt_path = o.out + "/checkpoint.rnlab",
                    model_path = o.out + "/model.npz";

  // A finished run of this configuration: nothing to do (a resubmitted array redoes only the rest).
  if (is_file(summary_path)) {
    const std::string s = read_file(summary_path);
    const std::string h = json_string_field(s, "config_hash");
    if (h == hash) {
      if (root) std::printf("%s: finished already (status %s); nothing to do\n", o.out.c_str(), json_string_field(s, "status").c_str());
      return kRunExitDone;
    }
    throw UsageError(strf("%s holds a finished run of another configuration (config_hash %s, this one %s): "
                          "give this run its own --out", o.out.c_str(), h.c_str(), hash.c_str()));
  }
  // Every rank creates it (mkdir -p), so that none depends on another having done so first.
  make_dirs(o.out);

  Dataset train, test;
  load_split(train, o, true);
  load_split(test, o, false);
  const rnnlab_dataset_info &info = train.info;
  const int T = info.steps, I = info.input_size;
  const int32_t N = info.count, NT = test.info.count;
  const int64_t B = std::min<int64_t>(o.batch, N), mb = std::min<int64_t>(o.micro_batch, B);
  const int64_t batches = (N + B - 1) / B;

  Model mod;
  create_model(mod, o, info);
  rnnlab_model *m = mod.m;
  size_t P = 0;
  check(rnnlab_param_count(&P, nullptr, m), "rnnlab_param_count");
  std::vector<uint8_t> trainable(P);
  check(rnnlab_get_trainable_mask(trainable.data(), P, m), "rnnlab_get_trainable_mask");

  Position pos;
  pos.hash = hash;
  bool resumed = false;
  if (o.resume == "auto" && is_file(ckpt_path)) {
    size_t len = 0;
    rnnlab_status st = rnnlab_load_ex(nullptr, 0, &len, m, ckpt_path.c_str());
    if (st != RNNLAB_OK && st != RNNLAB_E_SIZE_MISMATCH) check(st, "loading " + ckpt_path);
    std::string bytes(len, '\0');
    check(rnnlab_load_ex(&bytes[0], len, &len, m, ckpt_path.c_str()), "loading " + ckpt_path);
    Position p = Position::decode(bytes);
    if (p.hash != hash)
      throw UsageError(strf("%s belongs to another configuration (config_hash %s, this one %s): "
                            "--resume never starts afresh", ckpt_path.c_str(), p.hash.c_str(), hash.c_str()));
    pos = p;
    resumed = true;
  }

  if (root) {
    std::printf("rnnlab-train run: rnnlab %s, %s %s model, %s %s (T = %d x %d), %d train / %d test images, H = %lld\n",
                rnnlab_version(), o.variant.c_str(), o.cell.c_str(), o.dataset.c_str(), o.mode.c_str(), T, I, N, NT,
                static_cast<long long>(o.hidden));
    std::printf("  batch %lld in micro-batches of %lld over %d rank%s (%s reduction), %lld thread%s per rank; config_hash %s\n",
                static_cast<long long>(B), static_cast<long long>(mb), world.size, world.size == 1 ? "" : "s",
                o.reduce == "fixed" ? "exact fixed-point" : "float MPI_SUM", static_cast<long long>(o.threads),
                o.threads == 1 ? "" : "s", hash.c_str());
    if (resumed)
      std::printf("  resumed from %s at epoch %lld, batch %lld (%lld updates done)\n", ckpt_path.c_str(),
                  static_cast<long long>(pos.epoch), static_cast<long long>(pos.batch), static_cast<long long>(pos.updates));
    std::fflush(stdout);
  }

  auto save_checkpoint = [&] {
    if (!root) return;
    const std::string bytes = pos.encode();
    check(rnnlab_save_ex(m, ckpt_path.c_str(), bytes.data(), bytes.size()), "writing " + ckpt_path);
  };

  // n sequences of ds (indices idx) through m from a zero state, scored against their labels (into
  // yb): the targets for a backward pass, the mean loss and the wrong count. `what` tags the errors.
  auto forward_scored = [&](const rnnlab_dataset *ds, const int32_t *idx, int64_t n, std::vector<float> &xb,
                            std::vector<int32_t> &yb, const std::string &what, double *l, int32_t *w) {
    const size_t xc = static_cast<size_t>(T * n * I);
    check(rnnlab_dataset_batch(xb.data(), xc, yb.data(), static_cast<size_t>(n), ds, idx, static_cast<size_t>(n)),
          "rnnlab_dataset_batch" + what);
    check(rnnlab_reset(m), "rnnlab_reset");
    check(rnnlab_step(nullptr, 0, m, xb.data(), xc, T, static_cast<int32_t>(n)), "rnnlab_step" + what);
    rnnlab_targets tg = RNNLAB_TARGETS_INIT;
    tg.classes = yb.data();
    tg.count = static_cast<size_t>(n);
    check(rnnlab_loss(l, w, m, &tg, 0.0f), "rnnlab_loss" + what);
    return tg;
  };

  // Test loss and accuracy; chunks dealt round-robin to ranks, each chunk's result in a slot of its
  // own (every other rank adds 0 there, exactly), summed in chunk order.
  auto evaluate = [&](double *loss, double *acc) {
    const int64_t eb = std::min<int64_t>(o.eval_batch, NT), chunks = (NT + eb - 1) / eb;
    std::vector<double> slots(static_cast<size_t>(2 * chunks), 0.0);
    std::vector<float> x(static_cast<size_t>(T * eb * I));
    std::vector<int32_t> y(static_cast<size_t>(eb)), idx(static_cast<size_t>(eb));
    check(rnnlab_set_training(m, 0), "rnnlab_set_training");
    for (int64_t c = world.rank; c < chunks; c += world.size) {
      const int64_t b0 = c * eb, nb = std::min<int64_t>(eb, NT - b0);
      for (int64_t b = 0; b < nb; ++b) idx[static_cast<size_t>(b)] = static_cast<int32_t>(b0 + b);
      double l = 0;
      int32_t w = 0;
      forward_scored(test.ds, idx.data(), nb, x, y, " (test)", &l, &w);
      slots[static_cast<size_t>(2 * c)] = l * static_cast<double>(nb);
      slots[static_cast<size_t>(2 * c + 1)] = w;
    }
    check(rnnlab_set_training(m, 1), "rnnlab_set_training");
    rnnlab_dist::allreduce_sum_f64(slots.data(), slots.size());
    double ls = 0, ws = 0;
    for (int64_t c = 0; c < chunks; ++c) {
      ls += slots[static_cast<size_t>(2 * c)];
      ws += slots[static_cast<size_t>(2 * c + 1)];
    }
    *loss = ls / NT;
    *acc = 100.0 * (1.0 - ws / NT);
  };

  std::vector<float> x(static_cast<size_t>(T * mb * I)), grad(P);
  std::vector<int32_t> y(static_cast<size_t>(mb));
  std::vector<std::vector<float>> slice_grads;
  std::vector<int64_t> q(P);
  // reduce: converting, summing and converting back; wait: for the slowest rank (load imbalance).
  double train_seconds = 0, reduce_seconds = 0, wait_seconds = 0;
  int64_t updates_here = 0;
  double last_loss = NAN;

  // One update on batch k of the current epoch's order.
  auto update = [&](const std::vector<int32_t> &order, int64_t k) {
    const auto t0 = std::chrono::steady_clock::now();
    const int64_t b0 = k * B, nb = std::min<int64_t>(B, N - b0);
    const int64_t K = (nb + mb - 1) / mb;
    const int64_t j0 = world.rank * K / world.size, j1 = (world.rank + 1) * K / world.size;
    std::vector<double> slots(static_cast<size_t>(2 * K), 0.0);
    slice_grads.resize(static_cast<size_t>(std::max<int64_t>(j1 - j0, 0)));
    std::vector<double> weight(static_cast<size_t>(K));
    for (int64_t j = j0; j < j1; ++j) {
      const int64_t s0 = b0 + j * mb, ns = std::min<int64_t>(mb, b0 + nb - s0);
      double l = 0;
      int32_t w = 0;
      const rnnlab_targets tg = forward_scored(train.ds, order.data() + s0, ns, x, y, "", &l, &w);
      check(rnnlab_backward(m, &tg), "rnnlab_backward");
      auto &g = slice_grads[static_cast<size_t>(j - j0)];
      g.resize(P);
      check(rnnlab_get_grads(g.data(), P, m), "rnnlab_get_grads");
      check(rnnlab_zero_grad(m), "rnnlab_zero_grad");
      // The head's loss is a mean over the slice; its share of the batch's mean is ns / nb.
      weight[static_cast<size_t>(j)] = static_cast<double>(ns) / static_cast<double>(nb);
      slots[static_cast<size_t>(2 * j)] = l * static_cast<double>(ns);
      slots[static_cast<size_t>(2 * j + 1)] = w;
    }
    const auto t1 = std::chrono::steady_clock::now();
    // One scale for the whole update: 2^s with K * max|w g| * 2^s below 2^62, so no sum of K terms
    // can overflow. A non-finite value anywhere makes every rank hand NaN to the update, whose guard
    // then drops the step on all of them alike. This maximum is also where the ranks meet (the
    // float reduction takes it too, so that the timings below compare the sums alone).
    double mx[2] = {0.0, 0.0};
    if (o.reduce == "fixed")
      for (int64_t j = j0; j < j1; ++j) {
        const double w = weight[static_cast<size_t>(j)];
        for (float v : slice_grads[static_cast<size_t>(j - j0)]) {
          const double a = std::fabs(w * static_cast<double>(v));
          if (!std::isfinite(a)) mx[1] = 1.0;
          else if (a > mx[0]) mx[0] = a;
        }
      }
    const auto t_scan = std::chrono::steady_clock::now();
    rnnlab_dist::allreduce_max_f64(mx, 2);
    const auto t_met = std::chrono::steady_clock::now();
    if (o.reduce == "fixed") {
      if (mx[1] > 0) {
        for (size_t i = 0; i < P; ++i) grad[i] = trainable[i] ? NAN : 0.0f;
      } else {
        int ex = 0;
        std::frexp(mx[0], &ex);  // mx < 2^ex
        int logk = 0;
        while ((int64_t{1} << logk) < K) ++logk;
        const int s = mx[0] > 0 ? 62 - ex - logk : 0;
        // Multiplying by a power of two is exact, so w * g * 2^s is ldexp(w * g, s); llrint rounds
        // in the current (default: to nearest even) mode with one instruction.
        const double up = std::ldexp(1.0, s), down = std::ldexp(1.0, -s);
        std::fill(q.begin(), q.end(), 0);
        for (int64_t j = j0; j < j1; ++j) {
          const double w = weight[static_cast<size_t>(j)];
          const float *g = slice_grads[static_cast<size_t>(j - j0)].data();
          for (size_t i = 0; i < P; ++i) q[i] += std::llrint(w * static_cast<double>(g[i]) * up);
        }
        rnnlab_dist::allreduce_sum_i64(q.data(), P);
        for (size_t i = 0; i < P; ++i) grad[i] = static_cast<float>(static_cast<double>(q[i]) * down);
      }
    } else {
      std::fill(grad.begin(), grad.end(), 0.0f);
      for (int64_t j = j0; j < j1; ++j) {
        const float w = static_cast<float>(weight[static_cast<size_t>(j)]);
        const float *g = slice_grads[static_cast<size_t>(j - j0)].data();
        for (size_t i = 0; i < P; ++i) grad[i] += w * g[i];
      }
      rnnlab_dist::allreduce_sum_f32(grad.data(), P);
    }
    rnnlab_dist::allreduce_sum_f64(slots.data(), slots.size());
    const auto t2 = std::chrono::steady_clock::now();
    // The reduced gradient's norm, taken here: a rank with no slice of this batch (more ranks than
    // micro-batches) has run no backward, so rnnlab_diagnostics has no pass to report on.
    double gnorm = 0;
    for (size_t i = 0; i < P; ++i)
      if (trainable[i]) gnorm += static_cast<double>(grad[i]) * static_cast<double>(grad[i]);
    gnorm = std::sqrt(gnorm);
    check(rnnlab_set_grads(m, grad.data(), P), "rnnlab_set_grads");
    check(rnnlab_update(m), "rnnlab_update");
    rnnlab_optimizer_state st = RNNLAB_OPTIMIZER_STATE_INIT;
    check(rnnlab_get_optimizer_state(&st, m), "rnnlab_get_optimizer_state");
    double ls = 0, ws = 0;
    for (int64_t j = 0; j < K; ++j) {
      ls += slots[static_cast<size_t>(2 * j)];
      ws += slots[static_cast<size_t>(2 * j + 1)];
    }
    last_loss = ls / static_cast<double>(nb);
    pos.loss_sum += ls;
    pos.wrong += ws;
    pos.seen += static_cast<double>(nb);
    pos.gnorm_sum += gnorm;
    pos.clipped += st.last_clipped;
    pos.guarded += st.last_guard;
    ++pos.updates;
    ++updates_here;
    train_seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    reduce_seconds += std::chrono::duration<double>((t_scan - t1) + (t2 - t_met)).count();
    wait_seconds += std::chrono::duration<double>(t_met - t_scan).count();
  };

  auto stop_requested = [&] {
    double f = g_stop_signal;
    rnnlab_dist::allreduce_max_f64(&f, 1);  // every rank stops at the same update
    return static_cast<int>(f);
  };

  const int64_t limit = o.max_updates > 0 ? o.max_updates : INT64_MAX;
  int stopped_by = 0;
  while (pos.epoch <= o.epochs && pos.updates < limit) {
    const std::vector<int32_t> order = epoch_order(static_cast<uint64_t>(o.seed), pos.epoch, N);
    while (pos.batch < batches && pos.updates < limit) {
      update(order, pos.batch);
      ++pos.batch;
      if (pos.batch == batches) {  // end of the epoch: schedule step, test pass, one history row
        check(rnnlab_schedule_step(m), "rnnlab_schedule_step");
        double tl = NAN, ta = NAN;
        evaluate(&tl, &ta);
        auto row = [&](const char *k, double v) { pos.history[k].push_back(v); };
        row("train_loss", pos.loss_sum / pos.seen);
        row("train_acc", 100.0 * (1.0 - pos.wrong / pos.seen));
        row("test_loss", tl);
        row("test_acc", ta);
        row("grad_norm_mean", pos.gnorm_sum / static_cast<double>(batches));
        row("clip_frac", pos.clipped / static_cast<double>(batches));
        row("guard_count", pos.guarded);
        if (root) {
          std::printf("epoch %lld: train loss %.4f acc %.2f%%, test loss %.4f acc %.2f%% (%lld updates)\n",
                      static_cast<long long>(pos.epoch), pos.loss_sum / pos.seen, 100.0 * (1.0 - pos.wrong / pos.seen), tl,
                      ta, static_cast<long long>(pos.updates));
          std::fflush(stdout);
        }
        pos.loss_sum = pos.wrong = pos.seen = pos.gnorm_sum = pos.clipped = pos.guarded = 0;
        pos.batch = 0;
        ++pos.epoch;
      }
      if (o.check_every > 0 && pos.updates % o.check_every == 0) check_same_digest(param_digest(m, P));
      int sig = stop_requested();
      if (!sig && o.stop_after > 0 && updates_here >= o.stop_after) sig = -1;
      const bool due = o.checkpoint_every > 0 && pos.updates % o.checkpoint_every == 0;
      if (due || sig) save_checkpoint();
      if (sig) {
        stopped_by = sig;
        break;
      }
      if (pos.batch == 0) break;  // a new epoch: rebuild the order
    }
    if (stopped_by) break;
  }
  if (stopped_by) {
    if (root) {
      std::printf("stopped by %s after %lld updates: checkpoint %s written; rerun the same command to continue\n",
                  stopped_by == SIGTERM ? "SIGTERM" : stopped_by == SIGUSR1 ? "SIGUSR1" : stopped_by < 0 ? "--stop-after" : "a signal",
                  static_cast<long long>(pos.updates), ckpt_path.c_str());
      std::fflush(stdout);
    }
    throw Stopped{stopped_by};
  }

  // ---- the end: digest check, model, summary (last) ------------------------------------------
  const uint64_t digest = param_digest(m, P);
  check_same_digest(digest);
  double tl = NAN, ta = NAN;
  evaluate(&tl, &ta);
  std::vector<float> params(P);
  check(rnnlab_get_params(params.data(), P, m), "rnnlab_get_params");
  bool finite = std::isfinite(tl);
  for (float v : params) finite = finite && std::isfinite(v);
  const std::string status = finite ? "done" : "diverged";
  if (root) {
    check(rnnlab_export_npz(m, model_path.c_str(), "rnn.", "fc.", RNNLAB_NPZ_L0), "writing " + model_path);
    std::string j = "{\n  \"rnnlab_run_summary\": 1,\n";
    j += "  \"status\": \"" + status + "\",\n";
    j += "  \"version\": \"" + std::string(rnnlab_version()) + "\",\n";
    j += "  \"config_hash\": \"" + hash + "\",\n";
    j += strf("  \"seed\": %lld,\n", static_cast<long long>(o.seed));
    j += "  \"param_digest\": \"" + strf("fnv1a64:%016llx", static_cast<unsigned long long>(digest)) + "\",\n";
    j += "  \"config\": {";
    bool first = true;
    for (const auto &kv : config_items(o)) {
      j += strf("%s\n    \"%s\": \"%s\"", first ? "" : ",", kv.first.c_str(), json_escape(kv.second).c_str());
      first = false;
    }
    j += "\n  },\n";
    j += strf("  \"world_size\": %d,\n  \"threads\": %lld,\n  \"updates\": %lld,\n  \"epochs_done\": %lld,\n", world.size,
              static_cast<long long>(o.threads), static_cast<long long>(pos.updates),
              static_cast<long long>(pos.history.count("test_acc") ? pos.history["test_acc"].size() : 0));
    j += "  \"final\": {\"test_loss\": " + json_num(tl) + ", \"test_acc\": " + json_num(ta) +
         ", \"last_update_loss\": " + json_num(last_loss) + "},\n";
    j += "  \"history\": {";
    first = true;
    for (const auto &kv : pos.history) {
      j += strf("%s\n    \"%s\": [", first ? "" : ",", kv.first.c_str());
      for (size_t i = 0; i < kv.second.size(); ++i) j += (i ? ", " : "") + json_num(kv.second[i]);
      j += "]";
      first = false;
    }
    j += "\n  },\n";
    j += "  \"this_process\": {\"updates\": " + strf("%lld", static_cast<long long>(updates_here)) +
         ", \"seconds_per_update\": " + json_num(updates_here ? train_seconds / static_cast<double>(updates_here) : NAN) +
         ", \"reduce_seconds_per_update\": " +
         json_num(updates_here ? reduce_seconds / static_cast<double>(updates_here) : NAN) +
         ", \"wait_seconds_per_update\": " + json_num(updates_here ? wait_seconds / static_cast<double>(updates_here) : NAN) +
         ", \"wall_seconds\": " +
         json_num(std::chrono::duration<double>(std::chrono::steady_clock::now() - t_start).count()) + "}\n}\n";
    write_atomic(summary_path, j);
    const double per = updates_here ? 1.0 / static_cast<double>(updates_here) : 0.0;
    std::printf("%s: %s after %lld updates; test acc %.2f%%; parameters fnv1a64:%016llx; %.4f s per update "
                "(%.4f s summing gradients across ranks, %.4f s waiting for the slowest)\n",
                o.out.c_str(), status.c_str(), static_cast<long long>(pos.updates), ta, static_cast<unsigned long long>(digest),
                train_seconds * per, reduce_seconds * per, wait_seconds * per);
    std::fflush(stdout);
  }
  return kRunExitDone;
}

// Test hook for the failure path of a multi-rank job: RNNLAB_TEST_FAIL_RANK=r makes rank r fail
// before its first update (documented in README's "Beyond one machine"; never set in production).
void maybe_injected_failure(const rnnlab_dist::World &w) {
  const char *f = std::getenv("RNNLAB_TEST_FAIL_RANK");
  if (f && *f && std::atoi(f) == w.rank && w.size > 1)
    throw RunError(strf("rank %d failing on purpose (RNNLAB_TEST_FAIL_RANK)", w.rank));
}

}  // namespace

int rnnlab_train_run_args(const std::vector<std::string> &args) {
  rnnlab_dist::World world;
  int code = kRunExitDone;
  try {
    world = rnnlab_dist::init();
    RunOptions o;
    if (!parse_run_options(o, args)) {
      if (world.rank == 0) std::fputs(kRunHelp, stdout);
      rnnlab_dist::finalize();
      return kRunExitDone;
    }
    install_stop_handlers();
    maybe_injected_failure(world);
    code = run_one(o, world);
  } catch (const Stopped &) {
    code = kRunExitRequeue;
  } catch (const UsageError &e) {
    if (world.rank == 0 || world.size == 1) rnnlab_train::print_error(std::string("run: ") + e.what());
    code = kRunExitUsage;
    // Every rank sees the same arguments and files, so every rank gets here: no one is left waiting.
  } catch (const std::exception &e) {
    rnnlab_train::print_error(world.size > 1 ? strf("run (rank %d of %d): %s", world.rank, world.size, e.what())
                                             : std::string("run: ") + e.what());
    // Another rank may be inside a collective: end the whole job rather than leave it hanging.
    rnnlab_dist::abort_all(kRunExitFailure);
    code = kRunExitFailure;
  }
  rnnlab_dist::finalize();
  return code;
}

int rnnlab_train_run_parse(const std::vector<std::string> &args, std::vector<std::pair<std::string, std::string>> *settings,
                           std::string *error) {
  try {
    RunOptions o;
    if (!parse_run_options(o, args)) return 1;
    *settings = config_items(o);
    auto i = [](int64_t v) { return strf("%lld", static_cast<long long>(v)); };
    settings->insert(settings->end(), {{"out", o.out}, {"data_dir", o.data_dir}, {"threads", i(o.threads)},
                                       {"checkpoint_every", i(o.checkpoint_every)}, {"check_every", i(o.check_every)},
                                       {"stop_after", i(o.stop_after)}, {"resume", o.resume}, {"preset", o.preset}});
    return 0;
  } catch (const UsageError &e) {
    *error = e.what();
    return 2;
  }
}

int rnnlab_train_run(int argc, char **argv) {
  std::vector<std::string> args;
  for (int i = 0; i < argc; ++i) args.emplace_back(argv[i]);
  return rnnlab_train_run_args(args);
}

std::string rnnlab_train_refuse_ranks(const char *command) {
  for (const char *v : {"OMPI_COMM_WORLD_SIZE", "PMIX_SIZE", "PMI_SIZE"}) {
    const char *s = std::getenv(v);
    if (s && std::atoi(s) > 1)
      return strf("%s is not data-parallel: started as one of %d MPI ranks it would train %d identical copies. "
                  "Use 'rnnlab-train run --variant baseline|ablated ...' under mpirun",
                  command, std::atoi(s), std::atoi(s));
  }
  return "";
}
