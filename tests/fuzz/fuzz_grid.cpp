// rnnlab-train sweep's grid parser (programs/rnnlab-train/grid.cpp): the input up to the first NUL
// is a grid file's text, each later NUL-separated piece one --axis NAME=V1,V2,... (checked for its
// '=' as sweep.cpp does). Invariants: never crash; a refusal is a UsageError with a message; an
// accepted grid has unique '--flag' axes with non-empty values (file values without white space or
// '#'); its size is the product of the axes' sizes (a grid over a million items is refused); item
// i's flags are the odometer's i-th step (first axis slowest, counted here without division); and
// the grid written back out as a file parses to the same axes.
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "cli.h"
#include "grid.h"

namespace {

using rnnlab_train::SweepAxis;

bool same(const std::vector<SweepAxis> &a, const std::vector<SweepAxis> &b) {
  if (a.size() != b.size()) return false;
  for (size_t k = 0; k < a.size(); ++k)
    if (a[k].flag != b[k].flag || a[k].values != b[k].values) return false;
  return true;
}

bool writable_as_file(const std::string &w) {
  if (w.empty()) return false;
  for (char c : w)
    if (std::strchr(" \t\n\v\f\r#", c)) return false;
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  using namespace rnnlab_train;
  std::vector<std::string> pieces(1);
  for (size_t i = 0; i < size; ++i) {
    if (data[i] == 0)
      pieces.emplace_back();
    else
      pieces.back() += static_cast<char>(data[i]);
  }
  if (pieces.size() > 32) return 0;

  std::vector<SweepAxis> axes;
  size_t file_axes = 0;
  long long total = 0;
  bool sizing = false;
  try {
    std::istringstream in(pieces[0]);
    sweep_read_grid(axes, in, "fuzz.grid");
    file_axes = axes.size();
    for (size_t p = 1; p < pieces.size(); ++p) {
      const std::string &v = pieces[p];
      const size_t eq = v.find('=');
      if (eq == std::string::npos || eq == 0) continue;  // sweep.cpp refuses these before parsing
      sweep_add_axis(axes, sweep_cli_axis(v.substr(0, eq), v.substr(eq + 1)), "--axis " + v.substr(0, eq));
    }
    sizing = true;
    total = sweep_grid_size(axes);
  } catch (const UsageError &e) {
    if (!*e.what()) std::abort();
    // The only refusal of a grid whose axes were all accepted is its size: check that it is right.
    if (sizing) {
      double product = 1;
      for (const SweepAxis &a : axes) product *= static_cast<double>(a.values.size());
      if (!(product > 1e6)) std::abort();
    }
    return 0;
  }

  // Every accepted axis: a unique '--flag' without '=', not --out/--help, non-empty values.
  long long product = 1;
  for (size_t k = 0; k < axes.size(); ++k) {
    const SweepAxis &a = axes[k];
    if (a.flag.size() < 3 || a.flag.compare(0, 2, "--") != 0 || a.flag[2] == '-') std::abort();
    if (a.flag.find('=') != std::string::npos || a.flag == "--out" || a.flag == "--help") std::abort();
    if (a.values.empty()) std::abort();
    for (size_t j = 0; j < k; ++j)
      if (axes[j].flag == a.flag) std::abort();
    for (const std::string &v : a.values) {
      if (v.empty()) std::abort();
      if (k < file_axes && !writable_as_file(v)) std::abort();
    }
    if (k < file_axes && !writable_as_file(a.flag)) std::abort();
    product *= static_cast<long long>(a.values.size());
  }
  if (total != product || total < 1 || total > 1000000) std::abort();

  // Items against an odometer (last axis fastest), for the first and last few hundred items.
  std::vector<size_t> digit(axes.size(), 0);
  const long long shown = total < 512 ? total : 256;
  for (long long i = 0; i < shown; ++i) {
    const std::vector<std::string> f = sweep_item_flags(axes, total, i);
    if (f.size() != 2 * axes.size()) std::abort();
    for (size_t k = 0; k < axes.size(); ++k)
      if (f[2 * k] != axes[k].flag || f[2 * k + 1] != axes[k].values[digit[k]]) std::abort();
    for (size_t k = axes.size(); k-- > 0;) {
      if (++digit[k] < axes[k].values.size()) break;
      digit[k] = 0;
    }
  }
  const std::vector<std::string> last = sweep_item_flags(axes, total, total - 1);
  for (size_t k = 0; k < axes.size(); ++k)
    if (last[2 * k + 1] != axes[k].values.back()) std::abort();

  // Written back out as a grid file (where every word can be), it parses to the same axes.
  bool writable = true;
  std::string text;
  for (const SweepAxis &a : axes) {
    writable = writable && writable_as_file(a.flag);
    text += a.flag;
    for (const std::string &v : a.values) {
      writable = writable && writable_as_file(v);
      text += " " + v;
    }
    text += "\n";
  }
  if (writable) {
    std::vector<SweepAxis> again;
    std::istringstream in(text);
    try {
      sweep_read_grid(again, in, "again.grid");
    } catch (const UsageError &) {
      std::abort();
    }
    if (!same(axes, again)) std::abort();
  }
  return 0;
}
