// Readout losses (math.md): the loss of a pass and dL/dy, shared by every backend on the host.
#ifndef RNNLAB_COMMON_HEAD_H
#define RNNLAB_COMMON_HEAD_H

#include <rnnlab/rnnlab.h>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <type_traits>

#include "common/cell_math.h"
#include "common/isa_ns.h"

namespace rnnlab {
RNNLAB_ISA_NS_BEGIN

// Sum of logarithms taken as the logarithm of a running product: one log per many rows (a log per
// row costs more than the rest of a small row's softmax). Every factor is a softmax denominator in
// [1, O], so the product is flushed long before it could overflow.
class LogSum {
 public:
  void add(double v) {
    prod_ *= v;
    if (prod_ > 1e150) flush();
  }
  double total() {
    flush();
    return acc_;
  }

 private:
  void flush() {
    acc_ += std::log(prod_);
    prod_ = 1.0;
  }
  double prod_ = 1.0, acc_ = 0.0;
};

// Cross-entropy of one row of logits against class c: adds the row's softmax denominator
// sum exp(l - max) to *logs and returns max - l_c (so the row's loss is that plus log(sum)); writes
// softmax - onehot, scaled, into d when d is not null. exp in T's precision (cell::exp_: libm in
// double, the vectorisable polynomial in float), sums in double.
template <class T>
double softmax_xent_row(const T *logits, int O, int c, T scale, T *d, LogSum *logs) {
  T m = logits[0];
  for (int o = 1; o < O; ++o) m = logits[o] > m ? logits[o] : m;
  double sum = 0;
  for (int o = 0; o < O; ++o) sum += static_cast<double>(cell::exp_(logits[o] - m));
  logs->add(sum);
  if (d) {
    const T inv = static_cast<T>(1.0 / sum);
    for (int o = 0; o < O; ++o) {
      const T p = cell::exp_(logits[o] - m) * inv;
      d[o] = (p - (o == c ? T(1) : T(0))) * scale;
    }
  }
  return static_cast<double>(m) - static_cast<double>(logits[c]);
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

// Loss only (no dL/dy), float, a block of nb contiguous rows of O <= 16 logits all within
// [-80, 80] (the usual case): exp needs no shift by the row maximum there, so all nb * O exps are
// one flat vectorised loop. Adds the rows' -logit_c to *loss and their denominators to *logs, marks
// wrong rows; returns false (having done nothing) when the block does not qualify.
template <class T>
bool softmax_block_fast(const T *rows, int nb, int O, const int32_t *cls, double *loss, LogSum *logs, bool *wrong) {
  constexpr int kMaxO = 16, kMaxRows = 256;
  if constexpr (!std::is_same<T, float>::value) {
    return false;
  } else {
    if (O > kMaxO || nb > kMaxRows) return false;
    const int n = nb * O;
    int out = 0;
    for (int k = 0; k < n; ++k) out += !(rows[k] >= -80.0f && rows[k] <= 80.0f);  // NaN is out too
    if (out) return false;
    float e[kMaxO * kMaxRows];
    for (int k = 0; k < n; ++k) e[k] = cell::exp_(rows[k]);
    double minus_c = 0;
    for (int b = 0; b < nb; ++b) {
      const float *eb = e + static_cast<size_t>(b) * O, *yb = rows + static_cast<size_t>(b) * O;
      double sum = 0;
      for (int o = 0; o < O; ++o) sum += static_cast<double>(eb[o]);
      logs->add(sum);
      minus_c -= static_cast<double>(yb[cls[b]]);
      wrong[b] = wrong[b] || argmax_row(yb, O) != cls[b];
    }
    *loss += minus_c;
    return true;
  }
}

// Every-step softmax over sequences [b0, b1): the summed loss (not yet divided), wrong sequences into
// *n_wrong. Step-major over blocks of sequences, so each step's rows of a block are contiguous.
template <class T>
double every_softmax_range(int O, int B, int steps, const T *const *ys, const int32_t *classes, T *const *dys, int b0,
                           int b1, int32_t *n_wrong) {
  const T scale = T(1) / (T(steps) * T(B));
  double loss = 0;
  int32_t wrong = 0;
  LogSum logs;
  constexpr int kBlock = 256;
  bool seq_wrong[kBlock];
  for (int c0 = b0; c0 < b1; c0 += kBlock) {
    const int nb = b1 - c0 < kBlock ? b1 - c0 : kBlock;
    for (int b = 0; b < nb; ++b) seq_wrong[b] = false;
    for (int t = 0; t < steps; ++t) {
      const int32_t *ct = classes + static_cast<size_t>(t) * B + c0;
      if (!dys && softmax_block_fast(ys[t] + static_cast<size_t>(c0) * O, nb, O, ct, &loss, &logs, seq_wrong)) continue;
      for (int b = 0; b < nb; ++b) {
        const size_t o = static_cast<size_t>(c0 + b) * O;
        const T *row = ys[t] + o;
        loss += softmax_xent_row(row, O, ct[b], scale, dys ? dys[t] + o : nullptr, &logs);
        seq_wrong[b] = seq_wrong[b] || argmax_row(row, O) != ct[b];
      }
    }
    for (int b = 0; b < nb; ++b) wrong += seq_wrong[b];
  }
  *n_wrong = wrong;
  return loss + logs.total();
}

// The loss over `steps` output rows y(t) (each B x O, time-major; the last-* heads score only the
// last one) against classes / values. Writes dL/dy into dy(t) when dy is not null (rows of the
// steps a last-* head does not score are left untouched: the caller zeroes them).
// ys and dys are arrays of `steps` pointers. n_wrong (optional) counts wrong sequences. threads: how
// many OpenMP threads the every-step softmax may use (the result is the same for any count).
template <class T, class V = float>
double head_loss(rnnlab_head head, int O, int B, int steps, const T *const *ys, const int32_t *classes,
                 const V *values, T *const *dys, int32_t *n_wrong, double err_abs, int threads = 1) {
  double loss = 0;
  int32_t wrong = 0;
  if (head == RNNLAB_HEAD_LAST_SOFTMAX) {
    const T *y = ys[steps - 1];
    T *d = dys ? dys[steps - 1] : nullptr;
    LogSum logs;
    for (int b = 0; b < B; ++b) {
      loss += softmax_xent_row(y + static_cast<size_t>(b) * O, O, classes[b], T(1) / T(B),
                               d ? d + static_cast<size_t>(b) * O : nullptr, &logs);
      wrong += argmax_row(y + static_cast<size_t>(b) * O, O) != classes[b];
    }
    loss = (loss + logs.total()) / B;
  } else if (head == RNNLAB_HEAD_EVERY_SOFTMAX) {
    // Ranges of sequences spread over the threads; each range's sums are kept apart and added in
    // range order, so the result does not depend on the thread count.
    constexpr int kRanges = 64;
    const int per = std::max(64, (B + kRanges - 1) / kRanges);  // sequences per range
    const int nr = (B + per - 1) / per;
    double part[kRanges];
    int32_t part_wrong[kRanges];
#ifdef _OPENMP
#pragma omp parallel for num_threads(threads) schedule(static) if (threads > 1 && nr > 1)
#endif
    for (int k = 0; k < nr; ++k) {
      const int b1 = (k + 1) * per < B ? (k + 1) * per : B;
      part[k] = every_softmax_range(O, B, steps, ys, classes, dys, k * per, b1, &part_wrong[k]);
    }
    for (int k = 0; k < nr; ++k) {
      loss += part[k];
      wrong += part_wrong[k];
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

RNNLAB_ISA_NS_END
}  // namespace rnnlab

#endif
