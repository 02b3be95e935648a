// Initialisation schemes (math.md, tasks.md). Deterministic for a given seed on every platform.
#ifndef RNNLAB_CORE_INIT_H
#define RNNLAB_CORE_INIT_H

#include <vector>

#include "core/spec.h"

namespace rnnlab {

struct InitSpec {
  rnnlab_init init = RNNLAB_INIT_PYTORCH;
  rnnlab_bias_init bias_init = RNNLAB_BIAS_INIT_SCHEME;
  uint32_t bias_init_mask = 0;
  float bias_init_value[3] = {0, 0, 0};
  int chrono_tmax = 0;
  uint64_t seed = 0;
};

// Fills all parameters (layout order) in double; held entries end at their held value.
std::vector<double> initialize(const ModelSpec &spec, const Layout &layout, const InitSpec &init);

}  // namespace rnnlab

#endif
