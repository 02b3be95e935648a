// Small helpers shared by rnnlab-train's sub-commands: command-line flags, one-line messages, a
// progress bar, a stopwatch. Nothing here knows about training.
//
// Flags follow the conventions of the CS728 starter (Python argparse), so that its command lines run
// unchanged: `--name value` or `--name=value`, switches (`--collectDiags`) take no value, a repeated
// flag keeps its last value, `-h` / `--help` asks for help. Unlike argparse, a flag must be spelt
// out in full (no unique-prefix abbreviations): a typo is an error with a suggestion, never a
// silent match with another flag.
#ifndef RNNLAB_TRAIN_CLI_H
#define RNNLAB_TRAIN_CLI_H

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace rnnlab_train {

// Exit statuses of every sub-command: 2 = the command line is wrong (as argparse), 1 = anything
// else went wrong (a library error, a file that cannot be written).
constexpr int kExitUsage = 2;
constexpr int kExitFailure = 1;

// A command-line mistake; what() is the one-line message (without the program name).
struct UsageError : std::runtime_error {
  using std::runtime_error::runtime_error;
};
// Any other failure that ends the run; what() is the one-line message.
struct RunError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// printf into a std::string.
std::string strf(const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 1, 2)))
#endif
    ;

// Prints "rnnlab-train: error: <message>" as one line on stderr (newlines in the message are
// replaced by spaces, so scripts always get exactly one line).
void print_error(const std::string &message);
// Prints "note: <message>" on stdout (part of the run's log, like the starter's own notices).
void print_note(const std::string &message);

// Declarative flags. Each flag writes into a variable the caller owns, which holds its default.
class Flags {
 public:
  explicit Flags(std::string program) : program_(std::move(program)) {}

  void add_int(const std::string &name, int64_t *dst, int64_t min, int64_t max);
  void add_double(const std::string &name, double *dst, double min, double max);  // finite values only
  void add_string(const std::string &name, std::string *dst);
  void add_choice(const std::string &name, std::string *dst, std::vector<std::string> choices);
  void add_switch(const std::string &name, bool *dst);  // present = true; takes no value
  // Another spelling of an existing flag (e.g. --out-dir for --out_dir).
  void add_alias(const std::string &alias, const std::string &name);

  // Parses argv[first..argc). Throws UsageError for an unknown flag, a missing or bad value, or a
  // positional argument. Returns false when help was asked for (nothing else is then checked).
  bool parse(int argc, char **argv, int first);
  // True when the flag (or an alias of it) appeared on the command line.
  bool given(const std::string &name) const;

 private:
  enum class Kind { Int, Double, String, Choice, Switch };
  struct Flag {
    Flag(std::string n, Kind k, void *d) : name(std::move(n)), kind(k), dst(d) {}
    std::string name;
    Kind kind;
    void *dst;
    int64_t imin = 0, imax = 0;
    double dmin = 0, dmax = 0;
    std::vector<std::string> choices;
    bool given = false;
  };
  Flag *find(const std::string &name);
  std::string suggestion(const std::string &name) const;
  void set(Flag &f, const std::string &value);

  std::string program_;
  std::vector<Flag> flags_;
  std::vector<std::pair<std::string, std::string>> aliases_;
};

// Seconds since construction (or the last reset), steady clock.
class Stopwatch {
 public:
  Stopwatch() : t0_(std::chrono::steady_clock::now()) {}
  void reset() { t0_ = std::chrono::steady_clock::now(); }
  double seconds() const {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0_).count();
  }

 private:
  std::chrono::steady_clock::time_point t0_;
};

// Adds the time of its own lifetime to a counter (per-phase timing).
class ScopedTimer {
 public:
  explicit ScopedTimer(double *acc) : acc_(acc) {}
  ~ScopedTimer() { *acc_ += sw_.seconds(); }
  ScopedTimer(const ScopedTimer &) = delete;
  ScopedTimer &operator=(const ScopedTimer &) = delete;

 private:
  double *acc_;
  Stopwatch sw_;
};

// A one-line progress bar on stderr, shown only when stdout is a terminal (a log piped to a file
// or to `tee` stays clean). Redrawn at most ~8 times a second. Call clear() before printing a
// line to stdout, so the line does not land in the middle of the bar.
class Progress {
 public:
  Progress(int64_t total, std::string unit);
  ~Progress() { clear(); }
  bool enabled() const { return enabled_; }
  // done: units finished; status: a short text shown after the counts (e.g. the last valid error).
  void update(int64_t done, const std::string &status);
  void clear();

 private:
  bool enabled_;
  int64_t total_;
  std::string unit_;
  Stopwatch sw_;
  double last_draw_ = -1.0;
  bool drawn_ = false;
};

// "1h02m03s", "4m05s", "12.3s".
std::string format_duration(double seconds);

// Bytes the machine can still give a process (MemAvailable, else physical memory); 0 if unknown.
uint64_t available_memory_bytes();

// Checks that files can be created in the directory that `path` would go into (so a long run does
// not fail at its very end). Throws RunError naming the directory and the reason.
void check_writable_dir_of(const std::string &path);

}  // namespace rnnlab_train

#endif
