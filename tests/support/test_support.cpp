#include "test_support.h"

#include <dirent.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace rnnlab_test {

#ifdef RNNLAB_TEST_TMPDIR
std::string fresh_tmp_dir(const std::string &leaf) {
  const std::string dir = std::string(RNNLAB_TEST_TMPDIR) + "/" + leaf;
  const std::string cmd = "rm -rf '" + dir + "' && mkdir -p '" + dir + "'";
  if (std::system(cmd.c_str()) != 0) throw std::runtime_error("cannot make a fresh " + dir);
  return dir;
}
#endif

std::vector<std::string> list_dir(const std::string &dir) {
  std::vector<std::string> out;
  DIR *d = opendir(dir.c_str());
  if (!d) throw std::runtime_error("cannot list " + dir);
  while (dirent *e = readdir(d))
    if (std::strcmp(e->d_name, ".") != 0 && std::strcmp(e->d_name, "..") != 0) out.push_back(e->d_name);
  closedir(d);
  return out;
}

std::vector<unsigned char> read_bytes(const std::string &path) {
  std::ifstream in(path, std::ios::binary);
  return std::vector<unsigned char>((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

const std::vector<double> &Golden::at(const std::string &k) const {
  auto it = t.find(k);
  if (it == t.end()) throw std::runtime_error("golden has no tensor " + k);
  return it->second;
}

bool load_golden(const std::string &dir, const std::string &name, Golden *g, std::string *why) {
  const std::string path = dir + "/" + name + ".txt";
  std::ifstream in(path);
  if (!in) {
    *why = "cannot open " + path;
    return false;
  }
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    if (line[0] == '#') {
      if (g->header.empty()) {
        g->header = line;
        std::istringstream hs(line);
        std::string tok;
        while (hs >> tok) {
          const size_t eq = tok.find('=');
          if (eq != std::string::npos) g->attrs[tok.substr(0, eq)] = tok.substr(eq + 1);
        }
      }
      continue;
    }
    const size_t colon = line.find(" :");
    std::istringstream head(line.substr(0, colon));
    std::string key;
    head >> key;
    std::vector<int> dims;
    int d;
    while (head >> d) dims.push_back(d);
    std::istringstream vals(line.substr(colon + 2));
    std::vector<double> v;
    std::string tok;
    while (vals >> tok) v.push_back(tok == "nan" ? NAN : std::stod(tok));
    g->t[key] = v;
    g->shape[key] = dims;
  }
  auto num = [&](const char *k) { return g->attrs.count(k) ? std::stoi(g->attrs[k]) : 0; };
  g->I = num("I");
  g->H = num("H");
  g->T = num("T");
  g->B = num("B");
  g->O = num("O");
  return true;
}

bool close_enough(const double *a, const double *b, size_t n, double rtol, double atol, std::string *report) {
  double worst = 0;
  size_t wi = 0;
  bool ok = true;
  for (size_t i = 0; i < n; ++i) {
    if (std::isnan(b[i]) || std::isnan(a[i])) {
      if (std::isnan(a[i]) != std::isnan(b[i])) {
        ok = false;
        worst = INFINITY;
        wi = i;
      }
      continue;
    }
    const double excess = std::fabs(a[i] - b[i]) - (atol + rtol * std::fabs(b[i]));
    if (excess > 0) ok = false;
    if (excess > worst || (i == 0 && worst == 0)) {
      worst = excess;
      wi = i;
    }
  }
  char buf[256];
  std::snprintf(buf, sizeof buf, "worst at [%zu]: got %.17g, want %.17g (rtol %g, atol %g)", wi, n ? a[wi] : 0.0,
                n ? b[wi] : 0.0, rtol, atol);
  *report = buf;
  return ok;
}

double independent_loss(rnnlab_head head, int O, int W, int T, int B, const std::vector<double> &y,
                        const int32_t *classes, const double *values, const float *dy) {
  auto xent = [&](const double *row, int c) {
    double m = row[0];
    for (int o = 1; o < O; ++o) m = std::max(m, row[o]);
    double s = 0;
    for (int o = 0; o < O; ++o) s += std::exp(row[o] - m);
    return m + std::log(s) - row[c];
  };
  double L = 0;
  switch (head) {
    case RNNLAB_HEAD_NONE:
      for (size_t k = 0; k < y.size(); ++k) L += static_cast<double>(dy[k]) * y[k];
      return L;
    case RNNLAB_HEAD_LAST_SOFTMAX:
      for (int b = 0; b < B; ++b) L += xent(&y[(static_cast<size_t>(T - 1) * B + b) * W], classes[b]);
      return L / B;
    case RNNLAB_HEAD_EVERY_SOFTMAX:
      for (int t = 0; t < T; ++t)
        for (int b = 0; b < B; ++b)
          L += xent(&y[(static_cast<size_t>(t) * B + b) * W], classes[static_cast<size_t>(t) * B + b]);
      return L / (static_cast<double>(T) * B);
    case RNNLAB_HEAD_LAST_LINEAR:
      for (int b = 0; b < B; ++b)
        for (int o = 0; o < O; ++o) {
          const double e = y[(static_cast<size_t>(T - 1) * B + b) * W + o] - values[static_cast<size_t>(b) * O + o];
          L += e * e;
        }
      return L / B;
  }
  return NAN;
}

}  // namespace rnnlab_test
