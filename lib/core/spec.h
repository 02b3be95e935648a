// What a model is, reduced from rnnlab_config to what the engines need, and the flat parameter
// layout every backend shares.
#ifndef RNNLAB_CORE_SPEC_H
#define RNNLAB_CORE_SPEC_H

#include <rnnlab/rnnlab.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "common/cell_math.h"

namespace rnnlab {

struct ModelSpec {
  rnnlab_cell cell = RNNLAB_CELL_GRU;
  int I = 0, H = 0, O = 0;
  rnnlab_head head = RNNLAB_HEAD_NONE;
  rnnlab_bias_mode bias_mode = RNNLAB_BIAS_DOUBLE;
  uint32_t frozen_mask = 0;
  float frozen_value[3] = {0, 0, 0};

  bool is_gru() const { return cell == RNNLAB_CELL_GRU || cell == RNNLAB_CELL_GRU_RESET_BEFORE; }
  bool lbr() const { return cell == RNNLAB_CELL_GRU; }
  int gates() const { return is_gru() ? 3 : 1; }
  // The activation of h: GRUs count as tanh (h is a blend of tanh values).
  cell::Act act() const {
    return is_gru() ? cell::Act::Tanh : static_cast<cell::Act>(static_cast<int>(cell) - 2);
  }
  bool has_head() const { return head != RNNLAB_HEAD_NONE; }
  // Width of a step's output: O with a head, H without.
  int out_width() const { return has_head() ? O : H; }
};

// Diagnostic settings a pass runs with.
struct DiagSettings {
  rnnlab_diag_level level = RNNLAB_DIAG_OFF;
  double sat_thresh = 0.05;
  double bound = 1e-20;
  // Training (core/optim.h): the optimiser's alpha > 0 asks backward for dOmega/dW_hh in
  // PassStats::omega_grad (vanilla RNNs), and for omega / steps_in_past at every level.
  bool omega_grad = false;
};

struct TensorDesc {
  std::string name;
  int rows = 0, cols = 0;
  size_t offset = 0, count = 0, trainable = 0;
};

// Flat order: weight_ih, weight_hh, bias_ih, bias_hh, [head.weight, head.bias].
struct Layout {
  std::vector<TensorDesc> tensors;
  size_t total = 0, trainable_total = 0;
  size_t w_ih = 0, w_hh = 0, b_ih = 0, b_hh = 0, head_w = 0, head_b = 0;
  std::vector<uint8_t> trainable;  // per flat entry
  std::vector<float> held;         // value of each non-trainable entry (0 where trainable)
  struct Block {                   // a gate block of a tensor, for grad_norm_blocks
    std::string name;
    size_t offset, count;
  };
  std::vector<Block> blocks;
};

Layout make_layout(const ModelSpec &spec);
const TensorDesc *find_tensor(const Layout &layout, const char *name);

// Zeroes the entries that are not trainable (frozen or held biases).
template <class T>
void zero_held(const Layout &layout, T *grads) {
  for (size_t i = 0; i < layout.total; ++i)
    if (!layout.trainable[i]) grads[i] = T(0);
}

}  // namespace rnnlab

#endif
