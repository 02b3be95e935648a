// Helpers shared by the internal tests: the golden-file reader and tolerance checks.
#ifndef RNNLAB_TEST_SUPPORT_H
#define RNNLAB_TEST_SUPPORT_H

#include <rnnlab/rnnlab.h>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace rnnlab_test {

// One PyTorch float64 reference pass (tests/golden/README.md).
struct Golden {
  std::string header;  // the first comment line
  std::map<std::string, std::string> attrs;  // cell=gru head=last-softmax I=3 ... nonlinearity=relu
  std::map<std::string, std::vector<double>> t;  // tensor name -> values
  std::map<std::string, std::vector<int>> shape;
  int I = 0, H = 0, T = 0, B = 0, O = 0;
  bool has(const std::string &k) const { return t.count(k) != 0; }
  const std::vector<double> &at(const std::string &k) const;
};

// Reads `dir`/`name`.txt; returns false (with a reason in *why) when the file is missing.
bool load_golden(const std::string &dir, const std::string &name, Golden *g, std::string *why);

// Largest violation of |a - b| <= atol + rtol * |b| over the arrays (NaN must meet NaN);
// returns true when all pass. *report describes the worst entry.
bool close_enough(const double *a, const double *b, size_t n, double rtol, double atol, std::string *report);

// The loss of outputs y (T x B x W, time-major), written from math.md in double, independently of
// common/head.h: head none -> sum(dy * y); last-softmax / every-softmax -> mean cross-entropy;
// last-linear -> squared error summed over O, averaged over B.
double independent_loss(rnnlab_head head, int O, int W, int T, int B, const std::vector<double> &y,
                        const int32_t *classes, const double *values, const float *dy);

// Files for the tests that write them: a fresh, empty directory RNNLAB_TEST_TMPDIR/<leaf>; the names in
// a directory (without . and ..); a file's bytes (empty if it cannot be opened).
std::string fresh_tmp_dir(const std::string &leaf);
std::vector<std::string> list_dir(const std::string &dir);
std::vector<unsigned char> read_bytes(const std::string &path);

}  // namespace rnnlab_test

// A C API call that must succeed; on failure the status and rnnlab_last_error() are printed and the
// test fails (cmocka's print_error / fail: include cmocka_cpp.h first).
#define OK(call)                                                                          \
  do {                                                                                    \
    const rnnlab_status s_ = (call);                                                      \
    if (s_ != RNNLAB_OK) {                                                                \
      print_error("%s: %s (%s)\n", #call, rnnlab_status_string(s_), rnnlab_last_error()); \
      fail();                                                                             \
    }                                                                                     \
  } while (0)

#endif
