// The model behind the opaque rnnlab_model handle.
#ifndef RNNLAB_CORE_MODEL_H
#define RNNLAB_CORE_MODEL_H

#include <memory>
#include <vector>

#include "core/backend.h"
#include "core/optim.h"
#include "core/spec.h"

struct rnnlab_model {
  rnnlab_config cfg;  // as given (normalised); backend and diag_level kept current
  rnnlab::ModelSpec spec;
  rnnlab::Layout layout;
  std::unique_ptr<rnnlab::Backend> backend;

  std::vector<float> params, grads;
  std::vector<float> scratch_grads;  // one pass's gradient, added to grads only when the pass succeeded

  bool training = true;
  int batch = 0;           // B of the current sequence; 0 = not fixed yet
  std::vector<float> h0;   // B*H when set, else empty (zeros)
  int h0_batch = 0;

  rnnlab::DiagSettings diag;       // settings for the next tape
  rnnlab::DiagSettings tape_diag;  // settings captured when the current tape started

  // Outputs of the last rnnlab_step call (heads only), for rnnlab_loss.
  std::vector<float> last_y;
  std::vector<float> y_scratch;  // where rnnlab_step writes; swaps with last_y
  int last_T = 0, last_B = 0;

  // Results of the last backward.
  bool have_pass = false;
  rnnlab::PassStats stats;
  rnnlab::PassStats spare_stats;  // the next pass writes here, then swaps with stats
  double grad_norm = 0, grad_norm_post_clip = 0;
  std::vector<double> block_norms;  // summary+: one per layout.blocks entry

  rnnlab::OptimState opt;  // rnnlab_set_optimizer / rnnlab_update (core/optim.cpp)
};

namespace rnnlab {
// sqrt(sum of squares) of the trainable entries of g in [offset, offset + count).
double trainable_norm(const Layout &L, const float *g, size_t offset, size_t count);
}  // namespace rnnlab

#endif
