// rnnlab-train sweep's grid: a grid file ('--flag v1 v2 ...' per line) and --axis FLAG=V1,V2,...
// turned into axes, and item i's flags. Kept apart from sweep.cpp (which runs items) so that
// tests/fuzz/fuzz_grid.cpp can parse grids without starting anything.
#ifndef RNNLAB_TRAIN_GRID_H
#define RNNLAB_TRAIN_GRID_H

#include <istream>
#include <string>
#include <vector>

namespace rnnlab_train {

struct SweepAxis {
  std::string flag;  // with its leading "--"
  std::vector<std::string> values;
};

// Appends `a` to `axes`. Throws UsageError (prefixed with `where`) when the flag is not a
// '--flag', holds '=', is --out or --help, repeats an earlier axis, or has no or an empty value.
void sweep_add_axis(std::vector<SweepAxis> &axes, SweepAxis a, const std::string &where);
// Reads a grid file's text: one axis per line, '#' starts a comment, words split at white space;
// errors name `path`:LINE.
void sweep_read_grid(std::vector<SweepAxis> &axes, std::istream &in, const std::string &path);
// --axis NAME=VALUES: the axis --NAME with VALUES split at every ',' (empty pieces kept, so that
// sweep_add_axis refuses them).
SweepAxis sweep_cli_axis(const std::string &name, const std::string &values);
// The number of items (the product of the axes' sizes); throws UsageError above a million.
long long sweep_grid_size(const std::vector<SweepAxis> &axes);
// Item i's flags (0 <= i < total = sweep_grid_size): '--flag value' per axis, first axis slowest.
std::vector<std::string> sweep_item_flags(const std::vector<SweepAxis> &axes, long long total, long long i);

}  // namespace rnnlab_train

#endif
