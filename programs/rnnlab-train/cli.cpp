#include "cli.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdarg>
#include <cstdlib>
#include <cstring>
#include <fstream>

namespace rnnlab_train {

std::string strf(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  va_list ap2;
  va_copy(ap2, ap);
  const int n = std::vsnprintf(nullptr, 0, fmt, ap);
  va_end(ap);
  std::string out(n > 0 ? static_cast<size_t>(n) : 0, '\0');
  if (n > 0) std::vsnprintf(&out[0], out.size() + 1, fmt, ap2);
  va_end(ap2);
  return out;
}

void print_error(const std::string &message) {
  std::string one = message;
  std::replace(one.begin(), one.end(), '\n', ' ');
  std::fflush(stdout);  // keep the order of stdout and stderr when both go to one terminal or file
  std::fprintf(stderr, "rnnlab-train: error: %s\n", one.c_str());
  std::fflush(stderr);
}

void print_note(const std::string &message) { std::printf("note: %s\n", message.c_str()); }

// ---- flags ---------------------------------------------------------------------------------------

void Flags::add_int(const std::string &name, int64_t *dst, int64_t min, int64_t max) {
  Flag f{name, Kind::Int, dst};
  f.imin = min;
  f.imax = max;
  flags_.push_back(f);
}

void Flags::add_double(const std::string &name, double *dst, double min, double max) {
  Flag f{name, Kind::Double, dst};
  f.dmin = min;
  f.dmax = max;
  flags_.push_back(f);
}

void Flags::add_string(const std::string &name, std::string *dst) { flags_.push_back(Flag{name, Kind::String, dst}); }

void Flags::add_choice(const std::string &name, std::string *dst, std::vector<std::string> choices) {
  Flag f{name, Kind::Choice, dst};
  f.choices = std::move(choices);
  flags_.push_back(f);
}

void Flags::add_switch(const std::string &name, bool *dst) { flags_.push_back(Flag{name, Kind::Switch, dst}); }

void Flags::add_alias(const std::string &alias, const std::string &name) { aliases_.emplace_back(alias, name); }

Flags::Flag *Flags::find(const std::string &name) {
  std::string target = name;
  for (const auto &a : aliases_)
    if (a.first == name) target = a.second;
  for (Flag &f : flags_)
    if (f.name == target) return &f;
  return nullptr;
}

bool Flags::given(const std::string &name) const {
  for (const Flag &f : flags_)
    if (f.name == name) return f.given;
  return false;
}

// The known flag closest to a mistyped one (case-insensitive edit distance), if it is close enough
// to be a plausible typo.
std::string Flags::suggestion(const std::string &name) const {
  auto lower = [](std::string s) {
    for (char &c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return s;
  };
  const std::string a = lower(name);
  std::string best;
  size_t best_d = std::max<size_t>(3, a.size() / 3) + 1;
  auto consider = [&](const std::string &cand) {
    const std::string b = lower(cand);
    // A prefix of a flag is how argparse users abbreviate: always worth naming.
    if (b.compare(0, a.size(), a) == 0 && best.empty()) {
      best = cand;
      best_d = 0;
      return;
    }
    std::vector<size_t> prev(b.size() + 1), cur(b.size() + 1);
    for (size_t j = 0; j <= b.size(); ++j) prev[j] = j;
    for (size_t i = 1; i <= a.size(); ++i) {
      cur[0] = i;
      for (size_t j = 1; j <= b.size(); ++j)
        cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1)});
      std::swap(prev, cur);
    }
    if (prev[b.size()] < best_d) {
      best_d = prev[b.size()];
      best = cand;
    }
  };
  for (const Flag &f : flags_) consider(f.name);
  for (const auto &al : aliases_) consider(al.first);
  return best;
}

void Flags::set(Flag &f, const std::string &value) {
  const std::string flag = "--" + f.name;
  switch (f.kind) {
    case Kind::Int: {
      errno = 0;
      char *end = nullptr;
      const long long v = std::strtoll(value.c_str(), &end, 10);
      if (value.empty() || *end != '\0' || errno == ERANGE)
        throw UsageError(strf("%s: invalid int value '%s'", flag.c_str(), value.c_str()));
      if (v < f.imin || v > f.imax)
        throw UsageError(strf("%s: %lld is outside [%lld, %lld]", flag.c_str(), v, static_cast<long long>(f.imin),
                              static_cast<long long>(f.imax)));
      *static_cast<int64_t *>(f.dst) = v;
      break;
    }
    case Kind::Double: {
      errno = 0;
      char *end = nullptr;
      const double v = std::strtod(value.c_str(), &end);
      if (value.empty() || *end != '\0' || !std::isfinite(v))
        throw UsageError(strf("%s: invalid float value '%s'", flag.c_str(), value.c_str()));
      if (v < f.dmin || v > f.dmax)
        throw UsageError(strf("%s: %s is outside [%g, %g]", flag.c_str(), value.c_str(), f.dmin, f.dmax));
      *static_cast<double *>(f.dst) = v;
      break;
    }
    case Kind::String:
      *static_cast<std::string *>(f.dst) = value;
      break;
    case Kind::Choice: {
      if (std::find(f.choices.begin(), f.choices.end(), value) == f.choices.end()) {
        std::string list;
        for (const std::string &c : f.choices) list += (list.empty() ? "" : ", ") + c;
        throw UsageError(strf("%s: invalid choice '%s' (choose from %s)", flag.c_str(), value.c_str(), list.c_str()));
      }
      *static_cast<std::string *>(f.dst) = value;
      break;
    }
    case Kind::Switch:
      *static_cast<bool *>(f.dst) = true;
      break;
  }
  f.given = true;
}

bool Flags::parse(int argc, char **argv, int first) {
  // Help wins over everything else on the line, as with argparse.
  for (int i = first; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "-h" || a == "--help") return false;
  }
  for (int i = first; i < argc; ++i) {
    const std::string a = argv[i];
    if (a.size() < 3 || a.compare(0, 2, "--") != 0)
      throw UsageError(strf("unexpected argument '%s' (flags start with --; see %s --help)", a.c_str(),
                            program_.c_str()));
    std::string name = a.substr(2), value;
    bool has_value = false;
    const size_t eq = name.find('=');
    if (eq != std::string::npos) {
      value = name.substr(eq + 1);
      name = name.substr(0, eq);
      has_value = true;
    }
    Flag *f = find(name);
    if (!f) {
      const std::string s = suggestion(name);
      throw UsageError(strf("unknown flag '--%s'%s (see %s --help)", name.c_str(),
                            s.empty() ? "" : strf("; did you mean '--%s'?", s.c_str()).c_str(), program_.c_str()));
    }
    if (f->kind == Kind::Switch) {
      if (has_value) throw UsageError(strf("--%s takes no value (got '%s')", name.c_str(), value.c_str()));
      set(*f, "");
      continue;
    }
    if (!has_value) {
      // argparse would take "-5" as a value only if it looks like a number; "--x" never.
      if (i + 1 >= argc || (std::strncmp(argv[i + 1], "--", 2) == 0))
        throw UsageError(strf("--%s expects a value", name.c_str()));
      value = argv[++i];
    }
    set(*f, value);
  }
  return true;
}

// ---- progress bar --------------------------------------------------------------------------------

Progress::Progress(int64_t total, std::string unit)
    : enabled_(::isatty(STDOUT_FILENO) == 1), total_(total), unit_(std::move(unit)) {}

void Progress::update(int64_t done, const std::string &status) {
  if (!enabled_) return;
  const double now = sw_.seconds();
  if (drawn_ && now - last_draw_ < 0.125 && done < total_) return;
  last_draw_ = now;
  const double frac = total_ > 0 ? std::min(1.0, static_cast<double>(done) / static_cast<double>(total_)) : 1.0;
  constexpr int kWidth = 24;
  const int fill = static_cast<int>(frac * kWidth + 0.5);
  std::string bar(static_cast<size_t>(fill), '#');
  bar.append(static_cast<size_t>(kWidth - fill), '.');
  const double rate = now > 0 ? static_cast<double>(done) / now : 0.0;
  std::string eta = "?";
  if (rate > 0 && done < total_) eta = format_duration(static_cast<double>(total_ - done) / rate);
  else if (done >= total_) eta = "0s";
  // \r + clear-to-end-of-line: redraw in place; the bar never scrolls the terminal.
  std::fprintf(stderr, "\r\033[K[%s] %lld/%lld %s %5.1f%% %.1f %s/s ETA %s%s%s", bar.c_str(),
               static_cast<long long>(done), static_cast<long long>(total_), unit_.c_str(), 100.0 * frac, rate,
               unit_.c_str(), eta.c_str(), status.empty() ? "" : "  ", status.c_str());
  std::fflush(stderr);
  drawn_ = true;
}

void Progress::clear() {
  if (!enabled_ || !drawn_) return;
  std::fprintf(stderr, "\r\033[K");
  std::fflush(stderr);
  drawn_ = false;
}

std::string format_duration(double s) {
  if (!(s >= 0) || !std::isfinite(s)) return "?";
  if (s < 60) return strf("%.1fs", s);
  const long long t = static_cast<long long>(s + 0.5);
  if (t < 3600) return strf("%lldm%02llds", t / 60, t % 60);
  return strf("%lldh%02lldm%02llds", t / 3600, (t / 60) % 60, t % 60);
}

uint64_t available_memory_bytes() {
  std::ifstream in("/proc/meminfo");
  std::string key;
  uint64_t kb = 0;
  std::string unit;
  while (in >> key >> kb >> unit) {
    if (key == "MemAvailable:") return kb * 1024;
  }
  const long pages = ::sysconf(_SC_PHYS_PAGES), page = ::sysconf(_SC_PAGESIZE);
  if (pages > 0 && page > 0) return static_cast<uint64_t>(pages) * static_cast<uint64_t>(page);
  return 0;
}

void check_writable_dir_of(const std::string &path) {
  const size_t slash = path.rfind('/');
  const std::string dir = slash == std::string::npos ? "." : slash == 0 ? "/" : path.substr(0, slash);
  const std::string probe = strf("%s/.rnnlab-train-probe.%ld", dir.c_str(), static_cast<long>(::getpid()));
  const int fd = ::open(probe.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) {
    const int err = errno;
    throw RunError(strf("cannot write '%s': directory '%s': %s", path.c_str(), dir.c_str(), std::strerror(err)));
  }
  ::close(fd);
  ::unlink(probe.c_str());
}

}  // namespace rnnlab_train
