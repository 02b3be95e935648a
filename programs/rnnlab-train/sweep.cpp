// rnnlab-train sweep: a grid of `run`s in a fixed order, for any scheduler (GNU parallel, a Slurm
// job array, a shell loop). The sweep never schedules anything itself: it counts, lists, or runs the
// one item it is given.
//
// The grid: a small file, one axis per line, `--flag v1 v2 ...` (a line with one value is a
// setting every item shares; # starts a comment), and/or repeated `--axis flag=v1,v2,...` on the
// command line (after the file's lines). The first axis varies slowest. Item i runs
//   rnnlab-train run --out ROOT/NNNN <the grid's flags for i> <flags after -->
// so every item has its own directory, and re-running an item that finished does nothing.
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "cli.h"
#include "grid.h"
#include "run.h"

namespace {

using rnnlab_train::strf;
using rnnlab_train::UsageError;

using Axis = rnnlab_train::SweepAxis;

const char *kSweepHelp =
    "usage: rnnlab-train sweep [GRID] [--axis FLAG=V1,V2,...]... --out ROOT\n"
    "                          (--count | --list | --index I) [-- RUN FLAGS...]\n"
    "Expands a grid of 'rnnlab-train run' items in a fixed order (first axis slowest).\n"
    "\n"
    "  GRID            a file: one axis per line, '--flag v1 v2 ...' (one value = shared by all\n"
    "                  items); '#' starts a comment; values contain no spaces\n"
    "  --axis F=V,...  one more axis (after the file's), e.g. --axis seed=0,1,2\n"
    "  --out ROOT      item i writes ROOT/NNNN (i zero-padded to 4 digits)\n"
    "  --count         print the number of items\n"
    "  --list          print every item's command line, one per line (for GNU parallel)\n"
    "  --index I       run item I (0-based); without --count/--list/--index, SLURM_ARRAY_TASK_ID\n"
    "  -- FLAGS        flags appended to every item's run (e.g. --threads 2)\n"
    "\n"
    "Exit status: that of the item's run (0 done or finished already, 2 usage/config error,\n"
    "75 stopped after a checkpoint: requeue, 1 other failure); 2 for a malformed grid.\n";

void read_grid(std::vector<Axis> &axes, const std::string &path) {
  std::ifstream in(path);
  if (!in) throw UsageError(strf("cannot read the grid file %s: %s", path.c_str(), std::strerror(errno)));
  rnnlab_train::sweep_read_grid(axes, in, path);
}

std::string shell_quote(const std::string &s) {
  bool plain = !s.empty();
  for (char c : s)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || std::strchr("-_./=,:+@%", c))) plain = false;
  if (plain) return s;
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

std::string self_path() {
  char buf[PATH_MAX];
  const ssize_t n = ::readlink("/proc/self/exe", buf, sizeof buf - 1);
  if (n <= 0) return "rnnlab-train";
  buf[n] = '\0';
  return buf;
}

}  // namespace

int rnnlab_train_sweep(int argc, char **argv) {
  try {
    std::string grid, root, index_text;
    bool count = false, list = false, help = false;
    std::vector<Axis> axes;
    std::vector<std::pair<std::string, std::string>> cli_axes;
    std::vector<std::string> tail;
    for (int i = 1; i < argc; ++i) {
      const std::string a = argv[i];
      auto value = [&](const char *flag) -> std::string {
        const std::string f = flag;
        if (a.size() > f.size() && a.compare(0, f.size() + 1, f + "=") == 0) return a.substr(f.size() + 1);
        if (i + 1 >= argc) throw UsageError(f + " expects a value");
        return argv[++i];
      };
      auto is = [&](const char *flag) { return a == flag || a.rfind(std::string(flag) + "=", 0) == 0; };
      if (a == "--") {
        for (++i; i < argc; ++i) tail.emplace_back(argv[i]);
      } else if (a == "-h" || a == "--help") {
        help = true;
      } else if (a == "--count") {
        count = true;
      } else if (a == "--list") {
        list = true;
      } else if (is("--index")) {
        index_text = value("--index");
        if (index_text.empty()) throw UsageError("--index expects a value");
      } else if (is("--out")) {
        root = value("--out");
      } else if (is("--axis")) {
        const std::string v = value("--axis");
        const size_t eq = v.find('=');
        if (eq == std::string::npos || eq == 0)
          throw UsageError("--axis '" + v + "': expected FLAG=V1,V2,... (e.g. seed=0,1,2)");
        cli_axes.emplace_back(v.substr(0, eq), v.substr(eq + 1));
      } else if (a.rfind("-", 0) != 0 && grid.empty()) {
        grid = a;
      } else {
        throw UsageError("unexpected argument '" + a + "' (see rnnlab-train sweep --help)");
      }
    }
    if (help) {
      std::fputs(kSweepHelp, stdout);
      return kRunExitDone;
    }
    if (!grid.empty()) read_grid(axes, grid);
    for (const auto &ca : cli_axes) {
      rnnlab_train::sweep_add_axis(axes, rnnlab_train::sweep_cli_axis(ca.first, ca.second), "--axis " + ca.first);
    }
    if (grid.empty() && cli_axes.empty()) throw UsageError("no grid: give a grid file and/or --axis FLAG=V1,V2");
    if (count + list + !index_text.empty() > 1) throw UsageError("give one of --count, --list, --index");

    const long long total = rnnlab_train::sweep_grid_size(axes);
    if (count) {
      std::printf("%lld\n", total);
      return kRunExitDone;
    }
    if (root.empty()) throw UsageError("--out ROOT is required (item i writes ROOT/NNNN)");
    while (root.size() > 1 && root.back() == '/') root.pop_back();

    auto item_args = [&](long long i) {
      std::vector<std::string> args = {"run", "--out", root + "/" + strf("%04lld", i)};
      const std::vector<std::string> flags = rnnlab_train::sweep_item_flags(axes, total, i);
      args.insert(args.end(), flags.begin(), flags.end());
      args.insert(args.end(), tail.begin(), tail.end());
      return args;
    };
    if (list) {
      const std::string self = shell_quote(self_path());
      for (long long i = 0; i < total; ++i) {
        std::string line = self;
        for (const std::string &a : item_args(i)) line += " " + shell_quote(a);
        std::printf("%s\n", line.c_str());
      }
      return kRunExitDone;
    }
    const char *array_id = std::getenv("SLURM_ARRAY_TASK_ID");
    if (index_text.empty() && array_id && *array_id) index_text = array_id;
    if (index_text.empty())
      throw UsageError("which item? give --index I (or run as a Slurm array task), or --count / --list");
    char *end = nullptr;
    errno = 0;
    const long long index = std::strtoll(index_text.c_str(), &end, 10);
    if (*end != '\0' || errno != 0 || index < 0 || index >= total)
      throw UsageError(strf("item index '%s' is outside the grid's 0..%lld", index_text.c_str(), total - 1));
    return rnnlab_train_run_args(item_args(index));
  } catch (const UsageError &e) {
    rnnlab_train::print_error(std::string("sweep: ") + e.what());
    return kRunExitUsage;
  } catch (const std::exception &e) {
    rnnlab_train::print_error(std::string("sweep: ") + e.what());
    return kRunExitFailure;
  }
}
