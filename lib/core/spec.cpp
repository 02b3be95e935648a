#include "core/spec.h"

#include <cstring>

namespace rnnlab {

Layout make_layout(const ModelSpec &s) {
  Layout L;
  const int G = s.gates();
  const char *gate_names[3] = {"r", "z", "n"};
  auto add = [&](const char *name, int rows, int cols) {
    TensorDesc t;
    t.name = name;
    t.rows = rows;
    t.cols = cols;
    t.offset = L.total;
    t.count = static_cast<size_t>(rows) * static_cast<size_t>(cols);
    L.total += t.count;
    L.tensors.push_back(t);
    return t.offset;
  };
  L.w_ih = add("weight_ih", G * s.H, s.I);
  L.w_hh = add("weight_hh", G * s.H, s.H);
  L.b_ih = add("bias_ih", G * s.H, 1);
  L.b_hh = add("bias_hh", G * s.H, 1);
  if (s.has_head()) {
    L.head_w = add("head.weight", s.O, s.H);
    L.head_b = add("head.bias", s.O, 1);
  }
  L.trainable.assign(L.total, 1);
  L.held.assign(L.total, 0.0f);
  const size_t H = static_cast<size_t>(s.H);
  for (int g = 0; g < G; ++g) {
    // A vanilla RNN's single gate answers to the N bit.
    const int gate = s.is_gru() ? g : 2;
    const bool frozen = (s.frozen_mask >> gate) & 1u;
    for (size_t j = 0; j < H; ++j) {
      const size_t ih = L.b_ih + g * H + j, hh = L.b_hh + g * H + j;
      if (frozen) {
        L.trainable[ih] = 0;
        L.held[ih] = s.frozen_value[gate];
      }
      if (frozen || s.bias_mode == RNNLAB_BIAS_SINGLE) {
        L.trainable[hh] = 0;
        L.held[hh] = 0.0f;
      }
    }
  }
  for (auto &t : L.tensors) {
    for (size_t i = 0; i < t.count; ++i) t.trainable += L.trainable[t.offset + i];
    L.trainable_total += t.trainable;
  }
  // Blocks: each tensor, then (GRU, cell tensors) its r, z, n row blocks.
  for (size_t k = 0; k < L.tensors.size(); ++k) {
    const auto &t = L.tensors[k];
    L.blocks.push_back({t.name, t.offset, t.count});
    if (s.is_gru() && k < 4) {
      const size_t per = t.count / 3;
      for (int g = 0; g < 3; ++g) L.blocks.push_back({t.name + "." + gate_names[g], t.offset + g * per, per});
    }
  }
  return L;
}

const TensorDesc *find_tensor(const Layout &L, const char *name) {
  if (!name) return nullptr;
  std::string n(name);
  // Accept PyTorch's spellings: a module prefix ("rnn.", "model.gru."), the "_l0" suffix, and a
  // bare "weight"/"bias" (or "<prefix>.weight") for the head when the prefix is not a cell tensor.
  auto strip_suffix = [&](std::string &s) {
    if (s.size() > 3 && s.compare(s.size() - 3, 3, "_l0") == 0) s.resize(s.size() - 3);
  };
  for (const auto &t : L.tensors)
    if (t.name == n) return &t;
  std::string base = n;
  strip_suffix(base);
  const size_t dot = base.rfind('.');
  std::string last = dot == std::string::npos ? base : base.substr(dot + 1);
  for (const auto &t : L.tensors) {
    if (t.name == last) return &t;
    if (t.name.rfind("head.", 0) == 0 && base.size() > t.name.size() &&
        base.compare(base.size() - t.name.size(), t.name.size(), t.name) == 0 &&
        base[base.size() - t.name.size() - 1] == '.')
      return &t;
  }
  if (last == "weight" || last == "bias") {
    for (const auto &t : L.tensors)
      if (t.name == "head." + last) return &t;
  }
  return nullptr;
}

}  // namespace rnnlab
