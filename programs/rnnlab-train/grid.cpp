// rnnlab-train sweep's grid parser (grid.h).
#include "grid.h"

#include <sstream>
#include <utility>

#include "cli.h"

namespace rnnlab_train {

namespace {
std::vector<std::string> words(const std::string &line) {
  std::istringstream in(line);
  std::vector<std::string> out;
  std::string w;
  while (in >> w) out.push_back(w);
  return out;
}
}  // namespace

void sweep_add_axis(std::vector<SweepAxis> &axes, SweepAxis a, const std::string &where) {
  if (a.flag.size() < 3 || a.flag.compare(0, 2, "--") != 0 || a.flag[2] == '-')
    throw UsageError(strf("%s: '%s' is not a flag (axes are '--flag v1 v2 ...')", where.c_str(), a.flag.c_str()));
  if (a.flag.find('=') != std::string::npos)
    throw UsageError(strf("%s: '%s': write the values after the flag, separated by spaces", where.c_str(), a.flag.c_str()));
  if (a.flag == "--out" || a.flag == "--help")
    throw UsageError(strf("%s: %s cannot be an axis (the sweep gives each item its own --out)", where.c_str(), a.flag.c_str()));
  if (a.values.empty()) throw UsageError(strf("%s: %s has no values", where.c_str(), a.flag.c_str()));
  for (const SweepAxis &b : axes)
    if (b.flag == a.flag) throw UsageError(strf("%s: %s is given twice in the grid", where.c_str(), a.flag.c_str()));
  for (const std::string &v : a.values)
    if (v.empty()) throw UsageError(strf("%s: %s has an empty value", where.c_str(), a.flag.c_str()));
  axes.push_back(std::move(a));
}

void sweep_read_grid(std::vector<SweepAxis> &axes, std::istream &in, const std::string &path) {
  std::string line;
  int n = 0;
  while (std::getline(in, line)) {
    ++n;
    const size_t hash = line.find('#');
    if (hash != std::string::npos) line.erase(hash);
    std::vector<std::string> w = words(line);
    if (w.empty()) continue;
    SweepAxis a;
    a.flag = w[0];
    a.values.assign(w.begin() + 1, w.end());
    sweep_add_axis(axes, std::move(a), strf("%s:%d", path.c_str(), n));
  }
}

SweepAxis sweep_cli_axis(const std::string &name, const std::string &vs) {
  SweepAxis ax;
  ax.flag = "--" + name;
  size_t a0 = 0;
  for (;;) {
    const size_t c = vs.find(',', a0);
    ax.values.push_back(vs.substr(a0, c == std::string::npos ? std::string::npos : c - a0));
    if (c == std::string::npos) break;
    a0 = c + 1;
  }
  return ax;
}

long long sweep_grid_size(const std::vector<SweepAxis> &axes) {
  long long total = 1;
  for (const SweepAxis &a : axes) {
    total *= static_cast<long long>(a.values.size());
    if (total > 1000000) throw UsageError("the grid has more than a million items");
  }
  return total;
}

std::vector<std::string> sweep_item_flags(const std::vector<SweepAxis> &axes, long long total, long long i) {
  std::vector<std::string> args;
  long long rest = i, stride = total;
  for (const SweepAxis &a : axes) {
    stride /= static_cast<long long>(a.values.size());
    const long long k = rest / stride;
    rest %= stride;
    args.push_back(a.flag);
    args.push_back(a.values[static_cast<size_t>(k)]);
  }
  return args;
}

}  // namespace rnnlab_train
