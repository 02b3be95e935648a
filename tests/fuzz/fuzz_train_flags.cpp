// The flag parsers of rnnlab-train images / ablation (programs/rnnlab-train/images.cpp) and run
// (run.cpp, whose flags `sweep` items also go through): the first byte picks the sub-command, the
// rest is split at NUL bytes into its arguments. Invariants: never crash; a refusal has a message;
// accepted settings lie in their documented ranges and agree with each other (lr_min <= lr, the
// ablation freezes a gate, a micro-batch no larger than the batch, ...); and `--flag=value` means
// exactly `--flag value` (the same command line written the other way parses to the same settings).
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "images.h"
#include "run.h"

namespace {

using Settings = std::vector<std::pair<std::string, std::string>>;

struct Outcome {
  int code = -1;
  Settings settings;
  std::string error;
};

Outcome parse(int command, const std::vector<std::string> &args) {
  Outcome r;
  if (command == 2) {
    r.code = rnnlab_train_run_parse(args, &r.settings, &r.error);
  } else {
    std::vector<std::string> copy = args;
    std::vector<char *> argv;
    for (std::string &a : copy) argv.push_back(&a[0]);
    argv.push_back(nullptr);
    r.code = rnnlab_train_images_parse(static_cast<int>(copy.size()), argv.data(), &r.settings, &r.error);
  }
  if (r.code < 0 || r.code > 2) std::abort();
  if (r.code == 2 && r.error.empty()) std::abort();
  if (r.code == 0 && r.settings.empty()) std::abort();
  return r;
}

// The same arguments with every '--flag=value' that may be written '--flag value' split in two.
// A switch takes no value, a value starting with "--" cannot stand alone, and "-h" alone asks
// run's parser for help: those stay as they are.
std::vector<std::string> split_form(int command, const std::vector<std::string> &args) {
  const std::vector<std::string> switches = {"--permute", "--no-progress", "--sequential", "--help", "-h"};
  std::vector<std::string> out{args[0]};
  for (size_t i = 1; i < args.size(); ++i) {
    const std::string &a = args[i];
    const size_t eq = a.find('=');
    if (eq == std::string::npos) {
      out.push_back(a);
      bool is_switch = false;
      for (const std::string &s : switches) is_switch = is_switch || (command != 2 && a == s);
      if (!is_switch && i + 1 < args.size() && args[i + 1].compare(0, 2, "--") != 0) out.push_back(args[++i]);
      continue;
    }
    const std::string k = a.substr(0, eq), v = a.substr(eq + 1);
    bool keep = v.compare(0, 2, "--") == 0 || v == "-h";
    for (const std::string &s : switches) keep = keep || k == s;
    if (keep) {
      out.push_back(a);
    } else {
      out.push_back(k);
      out.push_back(v);
    }
  }
  return out;
}

double num(const std::map<std::string, std::string> &m, const char *key) {
  auto it = m.find(key);
  if (it == m.end()) std::abort();
  char *end = nullptr;
  const double x = std::strtod(it->second.c_str(), &end);
  if (it->second.empty() || *end != '\0') std::abort();
  return x;
}

void check_images(const Settings &s) {
  const std::map<std::string, std::string> m(s.begin(), s.end());
  auto in = [&](const char *k, double lo, double hi) {
    const double x = num(m, k);
    if (!(x >= lo && x <= hi)) std::abort();
    return x;
  };
  in("hidden", 1, 1 << 16);
  in("epochs", 1, 1e6);
  in("batch", 1, 1 << 20);
  in("eval_batch", 1, 1 << 20);
  in("diag_batch", 0, 1 << 20);
  const double threads = in("threads", 1, 4096);
  const double lr = in("lr", 1e-300, 1e6);
  if (in("lr_min", 0, 1e6) > lr) std::abort();
  in("weight_decay", 0, 1e6);
  in("clip", 0, 1e30);
  in("train_limit", 0, INT32_MAX);
  in("test_limit", 0, INT32_MAX);
  const double freeze = in("freeze_mask", 0, 7);
  in("bias_mask", 0, 7);
  for (const char *k : {"freeze_r", "freeze_z", "freeze_n", "bias_r", "bias_z", "bias_n", "norm_mean"}) in(k, -1e6, 1e6);
  if (num(m, "normalize") != 0) in("norm_std", 1e-12, 1e6);
  const bool ablation = num(m, "ablation") != 0;
  if (ablation != (m.at("command") == "ablation")) std::abort();
  if (ablation && freeze == 0) std::abort();
  if (num(m, "concurrent") != 0 && !(ablation && threads >= 2)) std::abort();
  const std::string &name = m.at("name");
  if (name.empty() || name.find('/') != std::string::npos) std::abort();
  if (m.at("out").empty() || m.at("data_dir").empty()) std::abort();
}

void check_run(const Settings &s) {
  const std::map<std::string, std::string> m(s.begin(), s.end());
  auto in = [&](const char *k, double lo, double hi) {
    const double x = num(m, k);
    if (!(x >= lo && x <= hi)) std::abort();
    return x;
  };
  in("hidden", 1, 1 << 16);
  in("epochs", 1, 1e6);
  const double batch = in("batch", 1, 1 << 20);
  if (in("micro_batch", 1, 1 << 20) > batch) std::abort();
  in("eval_batch", 1, 1 << 20);
  const double lr = in("lr", 1e-300, 1e6);
  if (in("lr_min", 0, 1e6) > lr) std::abort();
  in("weight_decay", 0, 1e6);
  in("clip", 0, 1e30);
  in("bias", -1e3, 1e3);
  in("freeze_value", -1e3, 1e3);
  in("threads", 1, 4096);
  in("train_limit", 0, INT32_MAX);
  in("test_limit", 0, INT32_MAX);
  const std::string &cell = m.at("cell"), &variant = m.at("variant");
  if (cell != "gru" && cell != "gru_reset_before") std::abort();
  if (variant != "baseline" && variant != "ablated") std::abort();
  if (m.at("out").empty() || m.at("data_dir").empty()) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size == 0) return 0;
  const int command = data[0] % 3;
  std::vector<std::string> args{command == 0 ? "images" : command == 1 ? "ablation" : "run"};
  if (size > 1) {
    args.emplace_back();
    for (size_t i = 1; i < size; ++i) {
      if (data[i] == 0)
        args.emplace_back();
      else
        args.back() += static_cast<char>(data[i]);
    }
  }
  if (args.size() > 64) return 0;

  const Outcome first = parse(command, args);
  if (first.code == 0) {
    if (command == 2)
      check_run(first.settings);
    else
      check_images(first.settings);
  }
  const Outcome split = parse(command, split_form(command, args));
  if (split.code != first.code || split.settings != first.settings) std::abort();
  return 0;
}
