#include "core/pass_stats.h"

#include "common/cell_math.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <utility>
#include <vector>

namespace rnnlab {

void finish_pass_stats(const ModelSpec &spec, int n, int B, double loss, int64_t nonfinite, int first_bad,
                       const DiagSettings &ds, const double *dn2, const double *pn2, const double *fwd, int fwd_slots,
                       PassStats *st) {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  st->steps = n;
  st->batch = B;
  st->level = ds.level;
  st->loss = loss;
  st->nonfinite = nonfinite;
  st->nonfinite_first_t = first_bad;
  st->omega = nan;
  st->steps_in_past = nan;
  for (auto &tr : st->traces) tr.clear();
  st->omega_grad.clear();
  if (ds.level >= RNNLAB_DIAG_SUMMARY || ds.omega_grad) {
    double sum = 0;
    int64_t valid = 0;
    for (size_t k = 0; k < static_cast<size_t>(n) * B; ++k) {
      if (!(dn2[k] >= ds.bound)) continue;
      const double r = pn2[k] / dn2[k] - 1.0;
      sum += r * r;
      ++valid;
    }
    st->omega = valid ? sum / static_cast<double>(valid) : nan;
    st->steps_in_past = static_cast<double>(valid) / (static_cast<double>(n) * B);
  }
  if (ds.level < RNNLAB_DIAG_FULL) return;
  auto put = [&](rnnlab_trace k) -> std::vector<double> * {
    if (!cell_has_trace(spec, k)) return nullptr;
    st->traces[k].assign(n, nan);
    return &st->traces[k];
  };
  std::vector<double> *grad = put(RNNLAB_TRACE_GRAD_TIME), *transfer = put(RNNLAB_TRACE_TRANSFER_TIME);
  for (int t = 0; t < n; ++t) {
    double gsum = 0, tr = 0;
    int tn = 0;
    for (int b = 0; b < B; ++b) {
      const double dn = std::sqrt(dn2[static_cast<size_t>(t) * B + b]);
      gsum += dn;
      if (dn >= 1e-10) {
        tr += std::sqrt(pn2[static_cast<size_t>(t) * B + b]) / dn;
        ++tn;
      }
    }
    (*grad)[t] = gsum / B;
    (*transfer)[t] = tn ? tr / tn : nan;
  }
  if (!fwd) return;
  const double cnt = static_cast<double>(B) * spec.H;
  const std::pair<rnnlab_trace, int> fwd_map[] = {
      {RNNLAB_TRACE_SAT_TIME, kSat},           {RNNLAB_TRACE_SAT_FRAC_TIME, kSatFrac},
      {RNNLAB_TRACE_ACT_TIME, kAct},           {RNNLAB_TRACE_CAND_ACT_TIME, kCand},
      {RNNLAB_TRACE_GATE_Z_SAT_TIME, kZSat},   {RNNLAB_TRACE_GATE_R_SAT_TIME, kRSat},
      {RNNLAB_TRACE_GATE_Z_SAT_FRAC_TIME, kZSatFrac}, {RNNLAB_TRACE_GATE_R_SAT_FRAC_TIME, kRSatFrac},
      {RNNLAB_TRACE_GATE_Z_MEAN_TIME, kZMean}, {RNNLAB_TRACE_GATE_R_MEAN_TIME, kRMean},
      {RNNLAB_TRACE_GATE_Z_PREACT_TIME, kZPre}};
  for (const auto &m : fwd_map) {
    std::vector<double> *v = put(m.first);
    if (!v) continue;
    for (int t = 0; t < n; ++t) {
      double sum = 0;
      for (int k = 0; k < fwd_slots; ++k) sum += fwd[(static_cast<size_t>(t) * fwd_slots + k) * kNumFwd + m.second];
      (*v)[t] = sum / cnt;
    }
  }
}

void step_jacobian(const ModelSpec &spec, const float *w_hh, const float *hp, const float *ht, const float *r,
                   const float *z, const float *n, const float *hn, float *J) {
  const int H = spec.H;
  std::vector<double> row(H), da(static_cast<size_t>(spec.gates()) * H);
  for (int i = 0; i < H; ++i) {
    std::fill(row.begin(), row.end(), 0.0);
    std::fill(da.begin(), da.end(), 0.0);
    if (!spec.is_gru()) {
      da[i] = cell::act_derivative_from_output<double>(spec.act(), ht[i]);
    } else if (spec.lbr()) {
      const cell::GruGrad<double> gg = cell::gru_lbr_backward<double>(1.0, r[i], z[i], n[i], hn[i], hp[i]);
      da[i] = gg.da_r;
      da[H + i] = gg.da_z;
      da[2 * H + i] = gg.dhn;
      row[i] = gg.dh_prev;
    } else {
      const cell::GruGrad<double> gg = cell::gru_rb_backward_candidate<double>(1.0, z[i], n[i], hp[i]);
      da[H + i] = gg.da_z;
      row[i] = gg.dh_prev;
      for (int k = 0; k < H; ++k) {  // d(r*h)_k = W_hn[i][k] da_n
        const double d_rh = static_cast<double>(w_hh[(2 * static_cast<size_t>(H) + i) * H + k]) * gg.da_n;
        double dp = 0;
        da[k] += cell::gru_rb_backward_reset<double>(d_rh, r[k], hp[k], &dp);
        row[k] += dp;
      }
    }
    const int rows = spec.is_gru() && !spec.lbr() ? 2 * H : spec.gates() * H;
    for (int q = 0; q < rows; ++q) {
      if (da[q] == 0.0) continue;
      const float *wr = w_hh + static_cast<size_t>(q) * H;
      for (int k = 0; k < H; ++k) row[k] += wr[k] * da[q];
    }
    for (int k = 0; k < H; ++k) J[static_cast<size_t>(i) * H + k] = static_cast<float>(row[k]);
  }
}

}  // namespace rnnlab
