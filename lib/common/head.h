// Readout losses (math.md): the loss of a pass and dL/dy, shared by every backend on the host.
#ifndef RNNLAB_COMMON_HEAD_H
#define RNNLAB_COMMON_HEAD_H

#include <rnnlab/rnnlab.h>

#include <cmath>
#include <cstddef>
#include <cstdint>

#include "common/cell_math.h"

namespace rnnlab {

// Cross-entropy of one row of logits against class c; writes softmax - onehot, scaled, into d
// when d is not null. Returns -log p_c (double accumulation whatever T is).
// exp in T's precision (cell::exp_: libm in double, the vectorisable polynomial in float), sums in
// double.
template <class T>
double softmax_xent_row(const T *logits, int O, int c, T scale, T *d) {
  T m = logits[0];
  for (int o = 1; o < O; ++o) m = logits[o] > m ? logits[o] : m;
  double sum = 0;
  for (int o = 0; o < O; ++o) sum += static_cast<double>(cell::exp_(logits[o] - m));
  const double lse = static_cast<double>(m) + std::log(sum);
  if (d) {
    const T inv = static_cast<T>(1.0 / sum);
    for (int o = 0; o < O; ++o) {
      const T p = cell::exp_(logits[o] - m) * inv;
      d[o] = (p - (o == c ? T(1) : T(0))) * scale;
    }
  }
  return lse - static_cast<double>(logits[c]);
}

// The first largest value's index; -1 (never a class, so the row counts as wrong) when a value is
// NaN, as rnnlab_task_count_wrong does.
template <class T>
int argmax_row(const T *v, int O) {
  int best = 0;
  for (int o = 0; o < O; ++o) {
    if (v[o] != v[o]) return -1;
    if (v[o] > v[best]) best = o;
  }
  return best;
}

// The loss over `steps` output rows y(t) (each B x O, time-major; the last-* heads score only the
// last one) against classes / values. Writes dL/dy into dy(t) when dy is not null (rows of the
// steps a last-* head does not score are left untouched: the caller zeroes them).
// ys and dys are arrays of `steps` pointers. n_wrong (optional) counts wrong sequences.
template <class T, class V = float>
double head_loss(rnnlab_head head, int O, int B, int steps, const T *const *ys, const int32_t *classes,
                 const V *values, T *const *dys, int32_t *n_wrong, double err_abs) {
  double loss = 0;
  int32_t wrong = 0;
  if (head == RNNLAB_HEAD_LAST_SOFTMAX) {
    const T *y = ys[steps - 1];
    T *d = dys ? dys[steps - 1] : nullptr;
    for (int b = 0; b < B; ++b) {
      loss += softmax_xent_row(y + static_cast<size_t>(b) * O, O, classes[b], T(1) / T(B),
                               d ? d + static_cast<size_t>(b) * O : nullptr);
      wrong += argmax_row(y + static_cast<size_t>(b) * O, O) != classes[b];
    }
    loss /= B;
  } else if (head == RNNLAB_HEAD_EVERY_SOFTMAX) {
    const T scale = T(1) / (T(steps) * T(B));
    for (int b = 0; b < B; ++b) {
      bool seq_wrong = false;
      for (int t = 0; t < steps; ++t) {
        const T *row = ys[t] + static_cast<size_t>(b) * O;
        const int c = classes[static_cast<size_t>(t) * B + b];
        loss += softmax_xent_row(row, O, c, scale, dys ? dys[t] + static_cast<size_t>(b) * O : nullptr);
        seq_wrong = seq_wrong || argmax_row(row, O) != c;
      }
      wrong += seq_wrong;
    }
    loss /= static_cast<double>(steps) * B;
  } else if (head == RNNLAB_HEAD_LAST_LINEAR) {
    const T *y = ys[steps - 1];
    T *d = dys ? dys[steps - 1] : nullptr;
    for (int b = 0; b < B; ++b) {
      bool seq_wrong = false;
      for (int o = 0; o < O; ++o) {
        const size_t k = static_cast<size_t>(b) * O + o;
        const double e = static_cast<double>(y[k]) - static_cast<double>(values[k]);
        loss += e * e;
        if (d) d[k] = static_cast<T>(2.0 * e / B);
        seq_wrong = seq_wrong || !(std::fabs(e) <= err_abs);  // NaN counts as wrong
      }
      wrong += seq_wrong;
    }
    loss /= B;
  }
  if (n_wrong) *n_wrong = wrong;
  return loss;
}

}  // namespace rnnlab

#endif
