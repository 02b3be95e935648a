// The optimiser a model carries (rnnlab_set_optimizer / rnnlab_update), and the two hooks through
// which rnnlab_backward adds the Omega term (tasks.md, "Training tricks").
//
// All of it lives on the host next to the flat parameter buffer, so every backend shares it.
#ifndef RNNLAB_CORE_OPTIM_H
#define RNNLAB_CORE_OPTIM_H

#include <rnnlab/rnnlab.h>

#include <cstdint>
#include <limits>
#include <vector>

#include "core/backend.h"
#include "core/spec.h"

namespace rnnlab {

struct OptimState {
  bool configured = false;
  rnnlab_optimizer_config cfg = RNNLAB_OPTIMIZER_CONFIG_INIT;  // validated, struct_size current
  // Per flat entry. m1: SGD's momentum buffer or Adam's first moment; m2: Adam's second moment.
  // Empty when the optimiser does not use them (plain SGD: both; SGD with momentum: m2). Entries
  // that are not trainable stay exactly 0 (they are never read or written by an update).
  std::vector<float> m1, m2;
  int64_t step = 0;         // updates applied (guard-dropped ones included)
  int64_t moment_step = 0;  // updates whose gradient entered the moments: k of Adam's bias correction
  int64_t sched_pos = 0;    // schedule steps taken
  int64_t sched_sub = 0;    // updates since the last automatic schedule step (< schedule_period)
  int64_t guard_count = 0;  // updates dropped by the guard
  double last_lr = std::numeric_limits<double>::quiet_NaN();
  bool last_clipped = false, last_guard = false;
};

// Throws Error (INVALID_ARGUMENT / INVALID_CONFIG / UNSUPPORTED) unless c is a valid configuration
// for a model of this spec; messages name the field as "cfg.<field>".
void validate_optimizer_config(const rnnlab_optimizer_config &c, const ModelSpec &spec);
// Throws UNSUPPORTED when the model's backend cannot serve c (alpha > 0 needs a backend whose
// backward computes dOmega/dW_hh).
void check_optimizer_backend(const rnnlab_optimizer_config &c, const rnnlab_model *m);
// Which moment buffers a configuration uses.
bool uses_m1(const rnnlab_optimizer_config &c);
bool uses_m2(const rnnlab_optimizer_config &c);
// The learning rate at schedule position `pos`.
double scheduled_lr(const rnnlab_optimizer_config &c, int64_t pos);

// Hooks for rnnlab_backward (core/api.cpp):
//   before the backend's backward: sets ds->omega_grad when the optimiser's alpha > 0;
//   after it, before the pass's gradient is committed: adds alpha * dOmega/dW_hh (from
//   st.omega_grad) into weight_hh's block of `grads` (the pass's gradient buffer). Never throws
//   when prepare_pass set the flag and the backend honoured it.
void optim_prepare_pass(const rnnlab_model *m, DiagSettings *ds);
void optim_add_pass_terms(const rnnlab_model *m, const PassStats &st, float *grads);

}  // namespace rnnlab

#endif
