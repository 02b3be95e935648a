// What every backend's backward reports from its per-step sums (diagnostics.md), computed once.
#ifndef RNNLAB_CORE_PASS_STATS_H
#define RNNLAB_CORE_PASS_STATS_H

#include <cstdint>

#include "core/backend.h"

namespace rnnlab {

// The forward-side sums a backend records for each step at level full, in this order (the CPU and
// CUDA kernels write them; finish_pass_stats reads them).
enum FwdSum : int { kSat, kSatFrac, kAct, kCand, kZSat, kRSat, kZSatFrac, kRSatFrac, kZMean, kRMean, kZPre, kNumFwd };

// Fills *st at the end of a backward pass over n steps of B sequences: loss, the non-finite count and
// the first step holding one, then (level summary or the Omega gradient) omega and steps_in_past, then
// (level full) every trace the cell has.
//   dn2, pn2  n*B each, t-major: ||dL/dh_t||^2 and ||dL/dh_{t-1}||^2 of step t's recurrent part
//   fwd       null when the tape was recorded below level full (the forward-side traces stay empty);
//             else kNumFwd sums per (t, slot), fwd_slots slots per step, added in slot order (the CPU
//             backend has summed the batch already: one slot; the CUDA backend one per sequence)
void finish_pass_stats(const ModelSpec &spec, int n, int B, double loss, int64_t nonfinite, int first_bad,
                       const DiagSettings &ds, const double *dn2, const double *pn2, const double *fwd, int fwd_slots,
                       PassStats *st);

// The step Jacobian J = dh_t / dh_{t-1} (H x H, row-major, J[i][k] = dh_t[i] / dh_{t-1}[k]) of one
// sequence at one recorded step, from that step's rows: hp = h_{t-1}, ht = h_t, and for a GRU its
// gates r, z, n (and hn = W_hn h + b_hn for the linear-before-reset cell; else unused). Row i is one
// backward step from dL/dh_t = e_i, in double. w_hh is the model's weight_hh.
void step_jacobian(const ModelSpec &spec, const float *w_hh, const float *hp, const float *ht, const float *r,
                   const float *z, const float *n, const float *hn, float *J);

}  // namespace rnnlab

#endif
