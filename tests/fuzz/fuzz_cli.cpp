// rnnlab-train's command-line parser (programs/rnnlab-train/cli.cpp, Flags), with the CS728
// trainer's own flag table: the input is split at NUL bytes into argv. Invariants: never crash; a
// refusal is a UsageError with a non-empty one-line-able message; an accepted int or double lies in
// its declared range.
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <limits>
#include <string>
#include <vector>

#include "cli.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  using namespace rnnlab_train;
  std::vector<std::string> args{"rnnlab-train"};
  std::string cur;
  for (size_t i = 0; i < size; ++i) {
    if (data[i] == 0) {
      args.push_back(cur);
      cur.clear();
    } else {
      cur += static_cast<char>(data[i]);
    }
  }
  if (!cur.empty()) args.push_back(cur);
  if (args.size() > 64) return 0;
  std::vector<char *> argv;
  for (std::string &a : args) argv.push_back(&a[0]);
  argv.push_back(nullptr);

  std::string task = "torder", model = "rnn", name = "x", out_dir;
  int64_t nhid = 50, seed = 1234, maxiters = 20000, min_length = 50;
  double lr = 0.01, sat = 0.05, save_freq = 5.0;
  bool collect = false;
  Flags f("rnnlab-train");
  f.add_choice("task", &task, {"torder", "torder3", "add", "mul", "mem", "perm"});
  f.add_choice("model", &model, {"rnn", "gru"});
  f.add_int("nhid", &nhid, 1, 1 << 20);
  f.add_int("seed", &seed, 0, int64_t(1) << 60);
  f.add_int("maxiters", &maxiters, 1, int64_t(1) << 40);
  f.add_int("min_length", &min_length, 1, 1 << 24);
  f.add_double("lr", &lr, std::numeric_limits<double>::min(), 1e300);
  f.add_double("satThresh", &sat, 0.0, 1.0);
  f.add_double("saveFreq", &save_freq, 0.0, 1e300);
  f.add_switch("collectDiags", &collect);
  f.add_string("name", &name);
  f.add_string("out_dir", &out_dir);
  f.add_alias("out-dir", "out_dir");
  try {
    f.parse(static_cast<int>(args.size()), argv.data(), 1);
  } catch (const UsageError &e) {
    if (std::string(e.what()).empty()) std::abort();
    return 0;
  }
  if (nhid < 1 || nhid > (1 << 20) || seed < 0 || maxiters < 1 || min_length < 1) std::abort();
  if (!(lr > 0) || !std::isfinite(lr) || !(sat >= 0 && sat <= 1) || !(save_freq >= 0) || !std::isfinite(save_freq))
    std::abort();
  if (task.empty() || model.empty()) std::abort();
  return 0;
}
